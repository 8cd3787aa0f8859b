#!/usr/bin/env bash
# The GPU check: the one command for the device machine (one H100/H200, Python 3.12, no network).
#
#   make gpu-wheels                      # here: the wheels the box lacks, packed into .whl/call1, .whl/call2
#   device run, carry [.whl/call1]:  bash benchmarks/gpu_check.sh --install-only
#   device run, carry [.whl/call2]:  bash benchmarks/gpu_check.sh            # within the 30 s warm window
#   (only one folder? one call: carry [.whl/call1], bash benchmarks/gpu_check.sh)
#
# Stages, each under its own timeout, all inside --budget-s (default 480 s = 8 min) by construction: a stage gets
# at most what is left, one that would start with too little is skipped, and the log and figures.json say so.
#   1 install   the carried wheels (.whl/call*) into /tmp/site (kept on a warm machine between calls); --install-only stops here
#   2 imports   versions of the stack, GPU name; `import unsloth` (also fills Unsloth's compile cache for the later stages)
#   3 pytest    pytest -m gpu tests/test_gpu.py (Unsloth 4-bit load, get_peft_model, a GRPO step per engine that fits,
#               adapter reload); they skip, saying why, without CUDA
#   4 notebooks the gpu-flagged notebook cells: skipped, saying why (they need hub checkpoints and vLLM)
#   5 bench     benchmarks/grpo_gpu.py (Unsloth QLoRA / Unsloth 16-bit LoRA / TRL + PEFT LoRA on Qwen2-VL-2B and
#               Qwen3-VL-2B shapes, rft-plan beside the measured peak)
# --skip STAGE (repeatable) skips a stage; --budget-s S, --imports-timeout-s S, --pytest-timeout-s S; --bench-arg ARG passes ARG to grpo_gpu.py.
# Everything goes under $OUT (the device tool's folder; --out DIR or outputs/gpu_check elsewhere), 8 files at most:
#   gpu_check.log, figures.json (stages, versions, benchmark figures), RESULTS_lines.md (ready to paste into
#   benchmarks/RESULTS.md), pytest_gpu.xml, grpo_gpu.json, grpo_gpu.md.
#
# --cpu: the same stages on this machine's venv (no install; pytest shows the gpu tests skipping; the benchmark on
# tiny models, 2 steps, TRL + PEFT only). tests/test_gpu_check.py runs it.
#
# UNTESTED WITHOUT CUDA (the CPU mode never runs them): the pip install of the wheels (stage 1), `nvidia-smi` and
# `import unsloth` (stage 2), the gpu tests' bodies (stage 3) and the benchmark's Unsloth / CUDA lines (stage 5, see
# benchmarks/grpo_gpu.py's docstring).
set -u -o pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SKIP_STAGES=""; CPU=0; INSTALL_ONLY=0; BUDGET=480; OUTDIR="${OUT:-}"; WHEELS="$ROOT/.whl"; SITE=/tmp/site; BENCH_ARGS=()
T_INSTALL=90; T_IMPORTS=150; T_PYTEST=170; T_BENCH_MIN=60
usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) CPU=1 ;;
    --install-only) INSTALL_ONLY=1 ;;
    --budget-s) BUDGET="$2"; shift ;;
    --out) OUTDIR="$2"; shift ;;
    --wheels) WHEELS="$2"; shift ;;
    --site) SITE="$2"; shift ;;
    --pytest-timeout-s) T_PYTEST="$2"; shift ;;
    --imports-timeout-s) T_IMPORTS="$2"; shift ;;
    --bench-arg) BENCH_ARGS+=("$2"); shift ;;
    --skip) SKIP_STAGES="$SKIP_STAGES $2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$BUDGET" in ''|*[!0-9]*) echo "gpu_check.sh: --budget-s must be whole seconds, not $BUDGET" >&2; exit 2 ;; esac
OUTDIR="${OUTDIR:-$ROOT/outputs/gpu_check}"
mkdir -p "$OUTDIR"
LOG="$OUTDIR/gpu_check.log"; STAGES="$OUTDIR/.stages.tsv"
: > "$LOG"; : > "$STAGES"

main() {

if [ "$CPU" = 1 ]; then
  PY="${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || command -v python3)}"
else
  PY="${PYTHON:-python3}"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 UNSLOTH_DISABLE_STATISTICS=1 \
       TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
       UNSLOTH_COMPILE_LOCATION="${UNSLOTH_COMPILE_LOCATION:-/tmp/unsloth_compiled_cache}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
note() { echo "[gpu_check $(( $(date +%s) - START ))s] $*"; }
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$STAGES"; }   # stage status seconds why
# stage NAME TIMEOUT CMD...: run CMD under `timeout` (capped by what is left of the budget, minus a reserve for the report)
stage() {
  local name="$1" t="$2"; shift 2
  case " $SKIP_STAGES " in *" $name "*) skip "$name" "--skip $name"; return 0 ;; esac
  local room=$(( $(left) - 15 ))
  if [ "$room" -lt 10 ]; then note "$name: SKIPPED (budget: ${room}s left)"; record "$name" skipped 0 "budget of ${BUDGET}s used up"; return 0; fi
  [ "$t" -gt "$room" ] && t=$room
  local cmd="$*"; cmd="${cmd//$'\n'/ }"
  note "$name: start (timeout ${t}s): ${cmd:0:160}$([ ${#cmd} -gt 160 ] && echo ' ...')"
  local s=$(date +%s) rc=0
  timeout --kill-after=10 "$t" "$@" || rc=$?
  local d=$(( $(date +%s) - s ))
  if [ "$rc" = 0 ]; then note "$name: ok (${d}s)"; record "$name" ok "$d" ""
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then note "$name: TIMEOUT after ${d}s"; record "$name" timeout "$d" "killed at its ${t}s limit"
  else note "$name: FAILED rc=$rc (${d}s)"; record "$name" failed "$d" "exit $rc"; fi
  return 0
}
skip() { note "$1: SKIPPED ($2)"; record "$1" skipped 0 "$2"; }

note "mode $([ "$CPU" = 1 ] && echo cpu || echo gpu); budget ${BUDGET}s; out $OUTDIR; python $PY"

# 1 install ---------------------------------------------------------------------------------------------------------
install_wheels() {
  local any=0
  for d in "$WHEELS"/call*; do
    [ -d "$d" ] || continue
    ls "$d"/*.whl >/dev/null 2>&1 || continue
    any=1
    echo "installing $(ls "$d"/*.whl | wc -l) wheels from $d into $SITE"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$d"/*.whl || return 1
  done
  [ "$any" = 1 ] || echo "no wheels carried (.whl/call*): using what $SITE already holds"
  ls "$SITE" 2>/dev/null | grep -i 'dist-info$' | sed 's/^/  /'
}
if [ "$CPU" = 1 ]; then
  skip install "--cpu: the CPU venv already has the packages"
else
  stage install "$T_INSTALL" bash -c "$(declare -f install_wheels); WHEELS='$WHEELS' SITE='$SITE' PY='$PY' install_wheels"
fi
[ -d "$SITE" ] && [ "$CPU" = 0 ] && export PYTHONPATH="$SITE:$PYTHONPATH"
if [ "$INSTALL_ONLY" = 1 ]; then
  note "--install-only: stopping after the install; start the next call within the warm window"
  record stop skipped 0 "--install-only"
fi

# 2 imports ---------------------------------------------------------------------------------------------------------
if [ "$INSTALL_ONLY" = 0 ]; then
  [ "$CPU" = 0 ] && (command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true)
  IMPORTS='
import importlib.metadata as md, importlib.util, json, platform, sys
import torch
v = {}
for d in ("torch","transformers","trl","peft","accelerate","datasets","bitsandbytes","unsloth","unsloth_zoo","math-verify","pycocotools","xformers","vllm"):
    try: v[d] = md.version(d)
    except md.PackageNotFoundError: v[d] = None
info = dict(python=platform.python_version(), cuda=torch.cuda.is_available(),
            device=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU", versions=v)
if torch.cuda.is_available() and v["unsloth"]:
    import unsloth   # CUDA-only here: patches transformers/TRL, compiles its trainers into UNSLOTH_COMPILE_LOCATION
    info["unsloth_imported"] = True
import trl, datasets
print("STACK " + json.dumps(info))
'
  stage imports "$T_IMPORTS" "$PY" -c "$IMPORTS"
fi

# 3 pytest -m gpu ---------------------------------------------------------------------------------------------------
if [ "$INSTALL_ONLY" = 0 ]; then
  stage pytest "$T_PYTEST" "$PY" -m pytest -m gpu tests/test_gpu.py -q -rs -p no:cacheprovider --junitxml "$OUTDIR/pytest_gpu.xml"
fi

# 4 gpu-flagged notebook cells --------------------------------------------------------------------------------------
if [ "$INSTALL_ONLY" = 0 ]; then
  skip notebooks "the gpu-flagged cells (nbs/31_inference, nbs/tutorials/*) train or serve hub checkpoints (Qwen2-VL-2B, Qwen2.5-VL-3B) through vLLM: the box has no network and vLLM does not fit a call; tests/test_gpu.py covers what only a GPU shows"
fi

# 5 benchmark -------------------------------------------------------------------------------------------------------
if [ "$INSTALL_ONLY" = 0 ]; then
  room=$(( $(left) - 15 ))
  if [ "$room" -lt "$T_BENCH_MIN" ]; then
    skip bench "budget: ${room}s left, the benchmark needs ${T_BENCH_MIN}s"
  else
    bargs=(--out "$OUTDIR" --deadline-s $(( room - 10 )))
    [ "$CPU" = 1 ] && bargs+=(--cpu)
    stage bench "$room" "$PY" benchmarks/grpo_gpu.py "${bargs[@]}" "${BENCH_ARGS[@]}"
  fi
fi

# report ------------------------------------------------------------------------------------------------------------
"$PY" - "$OUTDIR" "$STAGES" "$LOG" "$CPU" "$BUDGET" "$(( $(date +%s) - START ))" <<'EOF'
import json, re, sys, time
from pathlib import Path
out, stages_f, log_f, cpu, budget, wall = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == '1', int(sys.argv[5]), int(sys.argv[6])
stages = {}
for line in stages_f.read_text().splitlines():
    name, status, secs, why = (line.split('\t') + [''] * 4)[:4]
    stages[name] = dict(status=status, seconds=int(secs or 0), why=why)
log = log_f.read_text(errors='replace')
stack = next((json.loads(l.split('STACK ', 1)[1]) for l in log.splitlines() if l.startswith('STACK ')), None)
pyt = re.findall(r'^=*\s*(\d+ (?:passed|failed|skipped|deselected|error).*?) in [\d.]+s', log, re.M)
bench = json.loads((out / 'grpo_gpu.json').read_text()) if (out / 'grpo_gpu.json').is_file() else None
fig = dict(mode='cpu' if cpu else 'gpu', date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), budget_s=budget, wall_s=wall,
           stages=stages, stack=stack, pytest_summary=pyt[-1] if pyt else None, bench=bench)
(out / 'figures.json').write_text(json.dumps(fig, indent=1, default=str))
dev = (stack or {}).get('device', 'unknown device')
vers = ', '.join(f"{k} {v}" for k, v in ((stack or {}).get('versions') or {}).items() if v)
md = [f"## GPU check, {fig['date']}: {dev} ({'--cpu plumbing run, not GPU figures' if cpu else 'device machine'})", '',
      f"`bash benchmarks/gpu_check.sh{' --cpu' if cpu else ''}`: {wall} s of a {budget} s budget. Stack: {vers or 'not read'}.", '',
      '| stage | status | s | note |', '|---|---|---|---|']
md += [f"| {n} | {s['status']} | {s['seconds']} | {s['why']} |" for n, s in stages.items()]
md += ['', f"pytest -m gpu: {fig['pytest_summary'] or 'no summary line'}", '']
if (out / 'grpo_gpu.md').is_file(): md.append((out / 'grpo_gpu.md').read_text())
(out / 'RESULTS_lines.md').write_text('\n'.join(md) + '\n')
print('\n'.join(md))
bad = [n for n, s in stages.items() if s['status'] in ('failed', 'timeout')]
print(f"[gpu_check] stages: " + ', '.join(f"{n} {s['status']}" for n, s in stages.items()))
sys.exit(1 if bad else 0)
EOF
rc=$?
rm -f "$STAGES"
note "done: files in $OUTDIR: $(ls "$OUTDIR" | tr '\n' ' ')"
return $rc
}

main 2>&1 | tee -a "$LOG"
exit "${PIPESTATUS[0]}"
