#!/usr/bin/env bash
# Run every fvreplay benchmark and keep the JSON (with the machine each ran on) in one folder.
#   tools/bench_all.sh [OUT_DIR]        (default: bench-results/<host>-<date>)
# NDI stays on this machine (loopback config), as in the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-results/$(hostname)-$(date +%Y%m%d-%H%M)}
mkdir -p "$out"
bin=.venv/bin
export NDI_CONFIG_DIR=$($bin/python -m io_adapters.ndi.loopback .fvreplay-cache/ndi-loopback)
for spec in "timing --seconds 60" "engine" "sim" "render" "stages" "control" "ndi --seconds 3" "rest"; do
  name=${spec%% *}
  echo "== fvreplay bench $spec"
  $bin/fvreplay bench $spec --json "$out/$name.json"
done
echo "results in $out"
