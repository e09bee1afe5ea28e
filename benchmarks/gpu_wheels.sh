#!/usr/bin/env bash
# Wheels for `python -m benchmarks.gpu` on a GPU machine that reaches no package registry
# (docs/benchmarks.md, "GPU"): CPython 3.12, manylinux x86-64, no dependencies resolved there.
# The project's own pins come from constraints.txt; implicit's CUDA path needs RMM for CUDA 13.
# usage: benchmarks/gpu_wheels.sh [DIR]   (default .whl; keep it out of git: .git/info/exclude)
set -euo pipefail
dir=${1:-.whl}
pin() { grep -i "^$1==" constraints.txt || { echo "no pin for $1 in constraints.txt" >&2; exit 1; }; }
wanted=(
  "$(pin implicit)" "$(pin duckdb)" "$(pin pydantic)" "$(pin pydantic_core)" "$(pin pydantic-settings)"
  "$(pin python-dotenv)" "$(pin annotated-types)" "$(pin typing-inspection)"
  "rmm-cu13==26.10.*" "librmm-cu13==26.10.*" "rapids-logger==0.3.*"
)
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
  manylinux2014_x86_64 manylinux1_x86_64; do platforms+=(--platform "$p"); done
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d "$dir" "${wanted[@]}"
du -sh "$dir"
