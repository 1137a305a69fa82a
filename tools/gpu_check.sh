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
if [[ $steps == *" tests "* ]]; then
  echo "== CUDA tests"
  timeout "${TESTS_S:-180}" $py -m pytest -q -p no:cacheprovider -m cuda tests/test_freeview_*.py tests/test_sim*.py 2>&1 |
    tail -n 40 | tee "$out/tests.txt"
fi
if [[ $steps == *" bench "* ]]; then
  echo "== bench render"
  timeout "${BENCH_S:-200}" $py -m plugin.cli bench render --device cuda --seconds 2 --json "$out/bench.json" 2>&1 |
    tail -n 160 | tee "$out/bench.txt"
fi
if [[ $steps == *" stages "* ]]; then
  echo "== bench stages"
  timeout "${STAGES_S:-90}" $py -m plugin.cli bench stages --device cuda --seconds 2 --json "$out/stages.json" 2>&1 |
    tail -n 120 | tee "$out/stages.txt"
fi
if [[ $steps == *" eval "* ]]; then
  echo "== eval"
  timeout "${EVAL_S:-110}" $py -m plugin.cli eval --profile demo --device cuda --json "$out/eval.json" 2>&1 |
    tail -n 20 | tee "$out/eval.txt"
fi
