# Sourced by the eval scripts: every path comes from settings.ini (or $RFT_NB_SETTINGS, or RFT_NB_PATHS_* variables).
set -euo pipefail
PY=${PYTHON:-python}
setting_path() { "$PY" -c "from rft_nb.config import load_settings; print(load_settings().path('$1'))"; }
setting() { "$PY" -c "from rft_nb.config import load_settings; print(load_settings().get('$1', '$2'))"; }
DATA_DIR=$(setting_path data_dir)
OUTPUT_DIR=$(setting_path output_dir)
BASE_MODEL=${BASE_MODEL:-$(setting model base_model)}
# vLLM when a GPU and vllm are there, transformers otherwise (override with BACKEND=...)
if [ -z "${BACKEND:-}" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && "$PY" -c "import vllm" >/dev/null 2>&1; then BACKEND=vllm; else BACKEND=transformers; fi
fi
