#!/usr/bin/env bash
# A served or hosted model as a baseline (Reason-RFT's close_source_models/evaluate_*.sh): any OpenAI-compatible endpoint.
# usage: BASE_URL=http://127.0.0.1:8000/v1 SERVED_MODEL=Qwen2-VL-7B eval_openai.sh [NAME] [rft-eval options]
#   hosted APIs: set OPENAI_API_KEY (or API_KEY_ENV=NAME_OF_VARIABLE) and pass --no-top-k
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/eval/_settings.sh
NAME=${1:-${SERVED_MODEL:?set SERVED_MODEL}}; shift || true
for TASK in ${TASKS:-counting geometry trance}; do
  "$PY" -c 'import sys; from rft_nb.evaluate import cli; cli(sys.argv[1:])' --backend openai \
    --base-url "${BASE_URL:-http://127.0.0.1:8000/v1}" --served-model "${SERVED_MODEL:?set SERVED_MODEL}" \
    --api-key-env "${API_KEY_ENV:-OPENAI_API_KEY}" --concurrency "${CONCURRENCY:-8}" \
    --data "$DATA_DIR/$TASK" --out "$OUTPUT_DIR/eval/$NAME/$TASK" --preset "${PRESET:-reason_rft}" "$@"
done
