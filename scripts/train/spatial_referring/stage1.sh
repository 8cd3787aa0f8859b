#!/usr/bin/env bash
# Spatial referring stage 1 (CoT-SFT on half of the data: RefSpatial built with rft-data refspatial, or the synthetic scenes).
# usage: stage1.sh [MODEL=qwen25vl_3b] [DATA=refspatial|synthetic] [HW=1gpu_qlora|8gpu_full] [--option value ...]
set -euo pipefail; cd "$(dirname "$0")/../../.."
m="${1:-qwen25vl_3b}"; d="${2:-synthetic}"; hw="${3:-1gpu_qlora}"; shift $(( $# < 3 ? $# : 3 ))
exec scripts/train/_run.sh sft "recipes/$m/spatial_referring/$hw/${d}_stage1_cot_sft.yaml" "$@"
