#!/usr/bin/env bash
# CPU tiny benchmark: reference synchronous loop vs fast overlapped pipeline (ratios only count on CPU).
# Usage: bench/run_tiny.sh [extra `vstream bench` args]   (writes bench/out/tiny.json)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
mkdir -p bench/out
"$PY" -m vstream_ros.bench.cli_bench --preset tiny --frames 24 --repeats 3 --json bench/out/tiny.json "$@"
