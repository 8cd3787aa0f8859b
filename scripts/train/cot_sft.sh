#!/usr/bin/env bash
# cot_sft (Reason-RFT paper stage). usage: cot_sft.sh [MODEL=qwen2vl_2b] [TASK=counting|structure|spatial] [HW=1gpu_qlora|8gpu_full] [--option value ...]
set -euo pipefail; cd "$(dirname "$0")/../.."
m="${1:-qwen2vl_2b}"; t="${2:-counting}"; hw="${3:-1gpu_qlora}"; shift $(( $# < 3 ? $# : 3 ))
exec scripts/train/_run.sh sft "recipes/$m/$t/$hw/cot_sft.yaml" "$@"
