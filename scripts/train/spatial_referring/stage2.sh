#!/usr/bin/env bash
# Spatial referring stage 2 (GRPO on the other half, from the stage-1 weights), with outcome rewards
# (format, pointing, point_distance) or outcome + process rewards (+ spatial_process).
# usage: stage2.sh [MODEL=qwen25vl_3b] [ARM=outcome|process] [DATA=refspatial|synthetic] [HW=1gpu_qlora|8gpu_full] [--option value ...]
set -euo pipefail; cd "$(dirname "$0")/../../.."
m="${1:-qwen25vl_3b}"; arm="${2:-process}"; d="${3:-synthetic}"; hw="${4:-1gpu_qlora}"; shift $(( $# < 4 ? $# : 4 ))
exec scripts/train/_run.sh grpo "recipes/$m/spatial_referring/$hw/${d}_stage2_rft_${arm}.yaml" "$@"
