#!/usr/bin/env bash
# Visual-RFT perception tasks: classification (accuracy), detection (COCO mAP), grounding (gIoU / cIoU / Acc@0.5).
# usage: eval_visual_rft.sh STAGE [rft-eval options, e.g. --categories bus,train for the selected COCO categories]
STAGE=${1:-zero_shot}; shift || true
TASKS=${TASKS:-classification detection grounding} PRESET=${PRESET:-greedy} exec "$(dirname "$0")/eval_all_tasks.sh" "$STAGE" "$@"
