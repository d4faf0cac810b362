#!/usr/bin/env bash
# GPU benchmark (H100/H200): Llama-3-8B + SigLIP-L/16-384 shapes, random weights, bf16.
# Replay as fast as possible (P1, P2, P3, P6), then a paced 10 fps camera while talking (P5).
# Usage: bench/run_live8b.sh   (writes bench/out/live8b_replay.json and bench/out/live8b_10fps.json)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
mkdir -p bench/out
"$PY" -m vstream_ros.bench.cli_bench --preset live-8b --frames 600 --repeats 3 --json bench/out/live8b_replay.json
"$PY" -m vstream_ros.bench.cli_bench --preset live-8b --frames 300 --camera-fps 10 --repeats 3 \
    --json bench/out/live8b_10fps.json
