#!/usr/bin/env python
"""Check that stored notebook outputs are calm (`make nb-calm`): each figure shown once, no known-harmless library noise.

Noise is silenced where it is emitted (logging levels, the libraries' own switches), never by editing outputs; this
check finds it when it comes back. Exits 1 naming each notebook, cell and output.

Usage: `python scripts/nb_calm.py [NOTEBOOK_OR_FOLDER ...]` (default: every notebook in nbs/ and its subfolders).
"""
import hashlib, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# known-harmless lines: what emits them, and why they say nothing to a reader of the page
NOISE = {
    'bitsandbytes CPU kernel notice': r"Failed to load CPU gemm_4bit_forward",        # optional `kernels` package absent
    'DeepSpeed accelerator warning': r"Setting accelerator to CPU\. If you have GPU",  # deepspeed/accelerator/real_accelerator.py
    'transformers weight-loading bar': r"Loading weights:|Writing model shards:",
    'tokenizer notice': r"The tokenizer has new PAD/BOS/EOS tokens",                   # Trainer aligning the tiny model's config
    'per-step log dict': r"^\{'(loss|grad_norm|learning_rate|train_runtime|train_loss|epoch|eval_[a-z_]+)': ",
    'torch profiler trace line': r"^(USDT|STAGE):\d{4}-\d\d-\d\d ",                       # kineto (KINETO_LOG_LEVEL)
}
NOISE_RE = {k: re.compile(v, re.M) for k, v in NOISE.items()}


def _text(o) -> str:
    if o.get('output_type') == 'stream':
        t = o.get('text', '')
        return ''.join(t) if isinstance(t, list) else t
    t = o.get('data', {}).get('text/plain', '')
    return ''.join(t) if isinstance(t, list) else t


def problems(nb_path) -> list[str]:
    "What in one notebook's stored outputs is noise or a figure shown twice, one line each."
    nb_path = Path(nb_path)
    out = []
    for i, cell in enumerate(json.loads(nb_path.read_text())['cells']):
        seen = {}
        for j, o in enumerate(cell.get('outputs', [])):
            where = f'{nb_path}: cell {i} (id {cell.get("id")}) output {j}'
            text = _text(o)
            for name, pat in NOISE_RE.items():
                m = pat.search(text)
                if m: out.append(f'{where}: {name}: {text[m.start():m.start() + 80].splitlines()[0]!r}')
            png = o.get('data', {}).get('image/png')
            if png:
                h = hashlib.sha1((''.join(png) if isinstance(png, list) else png).encode()).hexdigest()
                if h in seen: out.append(f'{where}: the figure of output {seen[h]} again (a function that displays and returns it?)')
                else: seen[h] = j
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    paths = [Path(p) for p in argv] or [ROOT / 'nbs']
    nbs = [p for q in paths for p in ([q] if q.suffix == '.ipynb' else sorted(q.rglob('*.ipynb')))
           if '.ipynb_checkpoints' not in p.parts]
    bad = [line for p in nbs for line in problems(p)]
    if bad: sys.exit('\n'.join(bad))
    print(f'nb-calm: {len(nbs)} notebooks: no figure shown twice, no known-harmless library noise in stored outputs')


if __name__ == '__main__':
    main()
