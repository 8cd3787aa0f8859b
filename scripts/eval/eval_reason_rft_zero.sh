#!/usr/bin/env bash
# Reason-RFT evaluation of the reason_rft_zero stage on counting, structure perception (geometry) and spatial transformation (trance).
exec "$(dirname "$0")/eval_all_tasks.sh" reason_rft_zero "$@"
