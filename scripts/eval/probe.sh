#!/usr/bin/env bash
# Before training or evaluating: which coordinate convention the model writes (rft-probe), against its family's assumption.
# probe.json lands in the model's folder (output_dir/probe/<name> for a hub or served model), where rft-eval and training read it.
# usage: probe.sh [MODEL] [rft-probe options]   (MODEL default: settings model.base_model; BACKEND=vllm|transformers|openai)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/eval/_settings.sh
MODEL=${1:-$BASE_MODEL}; shift || true
"$PY" -c 'import sys; from rft_nb.probe import probe_main; probe_main(sys.argv[1:])' "$MODEL" --backend "$BACKEND" "$@"
