#!/usr/bin/env bash
# One paper-style table per task comparing every evaluated stage (Reason-RFT's calculate_score.sh).
# usage: calculate_score.sh [STAGE ...]   (default: zero_shot ans_sft cot_sft reason_rft_zero reason_rft, those that exist)
# Writes output_dir/eval/report_<task>.md and per-task bar plots in output_dir/eval/plots/.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/eval/_settings.sh
STAGES=${*:-zero_shot ans_sft cot_sft reason_rft_zero reason_rft}
for TASK in ${TASKS:-counting geometry trance classification detection grounding}; do
  RUNS=()
  for S in $STAGES; do [ -f "$OUTPUT_DIR/eval/$S/$TASK/results.json" ] && RUNS+=("$S=$OUTPUT_DIR/eval/$S/$TASK"); done
  [ ${#RUNS[@]} -eq 0 ] && continue
  echo "== $TASK"
  "$PY" -c 'import sys; from rft_nb.evaluate import report_main; report_main(sys.argv[1:])' "${RUNS[@]}" \
    --out "$OUTPUT_DIR/eval/report_$TASK.md" --plots "$OUTPUT_DIR/eval/plots/$TASK"
done
