#!/usr/bin/env bash
# Reason-RFT stage 2 (GRPO on the other 90%, from the stage-1 weights).
# usage: stage2.sh [MODEL=qwen2vl_2b] [TASK=counting|structure|spatial] [HW=1gpu_qlora|8gpu_full] [--option value ...]
set -euo pipefail; cd "$(dirname "$0")/../../.."
m="${1:-qwen2vl_2b}"; t="${2:-counting}"; hw="${3:-1gpu_qlora}"; shift $(( $# < 3 ? $# : 3 ))
exec scripts/train/_run.sh grpo "recipes/$m/$t/$hw/reason_rft_stage2_grpo.yaml" "$@"
