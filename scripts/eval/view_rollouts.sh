#!/usr/bin/env bash
# Render a rollout log (JSONL: step, id, prompt, completion, rewards, image) as a self-contained HTML viewer.
# usage: view_rollouts.sh ROLLOUTS.jsonl [OUT.html]   (a relative path is looked up under output_dir)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/eval/_settings.sh
SRC=${1:?usage: view_rollouts.sh ROLLOUTS.jsonl [OUT.html]}
[ -f "$SRC" ] || SRC="$OUTPUT_DIR/$SRC"
"$PY" -c 'import sys; from rft_nb.evaluate import report_main; report_main(sys.argv[1:])' --rollouts "$SRC" ${2:+--html "$2"}
