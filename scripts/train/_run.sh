#!/usr/bin/env bash
# Shared launcher for the stage scripts: run a recipe on one GPU (Unsloth/TRL) or on many through
# accelerate + DeepSpeed. No logic beyond picking the launcher: the recipe says everything else.
#   usage: _run.sh sft|grpo RECIPE.yaml [extra --option value ...]
#   env:   NUM_GPUS           processes in all (default: all visible GPUs, 1 if none)
#          ACCELERATE_CONFIG  default: recipes/accelerate/zero3.yaml when more than one process
#          NUM_MACHINES, MACHINE_RANK, MAIN_PROCESS_IP, MAIN_PROCESS_PORT
#                             multi-node: run the same command on every node with its own MACHINE_RANK
#                             (0..NUM_MACHINES-1); NUM_GPUS counts the processes of all nodes
#          RFT_NB_CPU=1       the processes run on CPU cores in full precision (gloo; DeepSpeed's CPU
#                             accelerator): how tests run the GPU configs on a machine without a GPU
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
kind="$1"; recipe="$2"; shift 2
gpus="${NUM_GPUS:-$(python -c 'import torch; print(max(torch.cuda.device_count(), 1))')}"
if [ "$gpus" -gt 1 ] || [ "${NUM_MACHINES:-1}" -gt 1 ]; then
  launch=(accelerate launch --config_file "${ACCELERATE_CONFIG:-$here/recipes/accelerate/zero3.yaml}" --num_processes "$gpus")
  if [ -n "${NUM_MACHINES:-}" ]; then launch+=(--num_machines "$NUM_MACHINES"); fi
  if [ -n "${MACHINE_RANK:-}" ]; then launch+=(--machine_rank "$MACHINE_RANK"); fi
  if [ -n "${MAIN_PROCESS_IP:-}" ]; then launch+=(--main_process_ip "$MAIN_PROCESS_IP"); fi
  if [ -n "${MAIN_PROCESS_PORT:-}" ]; then launch+=(--main_process_port "$MAIN_PROCESS_PORT"); fi
  if [ "${RFT_NB_CPU:-0}" = 1 ]; then launch+=(--mixed_precision no); fi
  exec "${launch[@]}" -m rft_nb.train "$kind" --config "$recipe" "$@"
else
  exec python -m rft_nb.train "$kind" --config "$recipe" "$@"
fi
