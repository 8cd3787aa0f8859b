#!/usr/bin/env bash
# Evaluate one training stage on every task (Reason-RFT's eval_by_vllm_all_tasks_<stage>.sh, without hard-coded paths).
# usage: eval_all_tasks.sh STAGE [extra rft-eval options]
#   STAGE: zero_shot | ans_sft | cot_sft | reason_rft_zero | reason_rft | visual_rft (or any folder name under output_dir)
#   env:   TASKS (default "counting geometry trance": datasets data_dir/<task>), MODEL (checkpoint; default: base model
#          for zero_shot, else output_dir/<stage>/<task>), ADAPTER, BACKEND, PRESET (default reason_rft)
# Outputs: output_dir/eval/<stage>/<task>/{predictions.jsonl,results.json,results.md}; re-running resumes.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/eval/_settings.sh
STAGE=${1:?usage: eval_all_tasks.sh STAGE [rft-eval options]}; shift
for TASK in ${TASKS:-counting geometry trance}; do
  if [ -n "${MODEL:-}" ]; then M=$MODEL; elif [ "$STAGE" = zero_shot ]; then M=$BASE_MODEL; else M=$OUTPUT_DIR/$STAGE/$TASK; fi
  echo "== $STAGE / $TASK: model $M, backend $BACKEND"
  "$PY" -c 'import sys; from rft_nb.evaluate import cli; cli(sys.argv[1:])' \
    --model "$M" ${ADAPTER:+--adapter "$ADAPTER"} --data "$DATA_DIR/$TASK" --out "$OUTPUT_DIR/eval/$STAGE/$TASK" \
    --backend "$BACKEND" --preset "${PRESET:-reason_rft}" "$@"
done
