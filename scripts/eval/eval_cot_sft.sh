#!/usr/bin/env bash
# Reason-RFT evaluation of the cot_sft stage on counting, structure perception (geometry) and spatial transformation (trance).
exec "$(dirname "$0")/eval_all_tasks.sh" cot_sft "$@"
