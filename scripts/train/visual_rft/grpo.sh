#!/usr/bin/env bash
# Visual-RFT GRPO. usage: grpo.sh [MODEL=qwen2vl_2b] [TASK=detection|classification|grounding] [HW=1gpu_qlora|8gpu_full] [--option value ...]
set -euo pipefail; cd "$(dirname "$0")/../../.."
m="${1:-qwen2vl_2b}"; t="${2:-detection}"; hw="${3:-1gpu_qlora}"; shift $(( $# < 3 ? $# : 3 ))
exec scripts/train/_run.sh grpo "recipes/$m/$t/$hw/visual_rft.yaml" "$@"
