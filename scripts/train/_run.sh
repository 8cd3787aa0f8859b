#!/usr/bin/env bash
# Shared launcher for the stage scripts: run a recipe on one GPU (Unsloth/TRL) or on many through
# accelerate + DeepSpeed. No logic beyond picking the launcher: the recipe says everything else.
#   usage: _run.sh sft|grpo RECIPE.yaml [extra --option value ...]
#   env:   NUM_GPUS (default: all visible GPUs, 1 if none), ACCELERATE_CONFIG (default: zero3 for >1 GPU)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
kind="$1"; recipe="$2"; shift 2
gpus="${NUM_GPUS:-$(python -c 'import torch; print(max(torch.cuda.device_count(), 1))')}"
if [ "$gpus" -gt 1 ]; then
  exec accelerate launch --config_file "${ACCELERATE_CONFIG:-$here/recipes/accelerate/zero3.yaml}" --num_processes "$gpus" \
       -m rft_nb.train "$kind" --config "$recipe" "$@"
else
  exec python -m rft_nb.train "$kind" --config "$recipe" "$@"
fi
