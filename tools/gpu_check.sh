#!/usr/bin/env bash
# The free-viewpoint renderer's GPU checks in one run, for a lent GPU machine whose python3 already has torch
# with CUDA, Triton, OpenCV and pytest (the renderer, its bench and eval need nothing else; nothing is
# installed, the checkout is used in place):
#   [STEPS="tests bench stages eval"] tools/gpu_check.sh [OUT_DIR]   (default: $OUT when set, else gpu-check)
# 1. tests: the CUDA tests of the renderers and the sim; 2. bench: `fvreplay bench render --device cuda` (1080p
# and 4K, fused and unfused sweep cost, peak memory, operations per frame; each row logged as it is measured,
# the targets' cases first, so a run cut short by its time limit still has them); 3. stages: `fvreplay bench
# stages --device cuda` (where a 1080p and a 4K frame's time goes, stage by stage, host and GPU, under torch's
# profiler); 4. eval: `fvreplay eval --profile demo` on CUDA. STEPS picks some of them (a second run for what
# the first had no time for). Each step has its own time limit (the four together 580 s, under one device
# call's 600), so one that hangs still leaves the others' results.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-gpu-check}}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  $py -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, 'cuda', torch.cuda.is_available())"
} 2>&1 | tee "$out/machine.txt"
steps=" ${STEPS:-tests bench stages eval} "
# step NAME TITLE LIMIT_S LINES COMMAND...: run COMMAND if STEPS names NAME, under its time limit; the last
# LINES of its output are shown and kept in $out/NAME.txt.
step() {
  local name=$1 title=$2 limit=$3 lines=$4
  shift 4
  [[ $steps == *" $name "* ]] || return 0
  echo "== $title"
  timeout "$limit" "$@" 2>&1 | tail -n "$lines" | tee "$out/$name.txt"
}
step tests "CUDA tests" "${TESTS_S:-180}" 40 \
  $py -m pytest -q -p no:cacheprovider -m cuda tests/test_freeview_*.py tests/test_sim*.py
step bench "bench render" "${BENCH_S:-200}" 160 \
  $py -m plugin.cli bench render --device cuda --seconds 2 --json "$out/bench.json"
step stages "bench stages" "${STAGES_S:-90}" 120 \
  $py -m plugin.cli bench stages --device cuda --seconds 2 --json "$out/stages.json"
step eval "eval" "${EVAL_S:-110}" 20 $py -m plugin.cli eval --profile demo --device cuda --json "$out/eval.json"
