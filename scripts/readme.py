#!/usr/bin/env python
"""Render nbs/index.ipynb to README.md (nbdev-readme needs Quarto, which cannot be installed offline).
Markdown cells are copied; code cells are shown as ```python blocks with their text outputs, except cells
marked `#| hide`. `--check` exits 1 if README.md is out of date."""
import sys, nbformat
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def render(nb_path=ROOT / 'nbs' / 'index.ipynb') -> str:
    nb = nbformat.read(nb_path, as_version=4)
    parts = []
    for c in nb.cells:
        src = c.source.strip('\n')
        if c.cell_type == 'markdown': parts.append(src); continue
        lines = src.split('\n')
        if any(l.strip() in ('#| hide', '#|hide') for l in lines): continue
        code = '\n'.join(l for l in lines if not l.startswith('#|')).strip('\n')
        if code: parts.append(f"```python\n{code}\n```")
        outs = [o.get('text', '') for o in c.get('outputs', []) if o.get('output_type') == 'stream']
        outs += [o['data']['text/plain'] for o in c.get('outputs', []) if 'data' in o and 'text/plain' in o['data']]
        if outs: parts.append("```\n" + ''.join(outs).strip('\n') + "\n```")
    return "\n\n".join(parts) + "\n\n<!-- generated from nbs/index.ipynb by scripts/readme.py: do not edit -->\n"

if __name__ == '__main__':
    text, out = render(), ROOT / 'README.md'
    if '--check' in sys.argv:
        if not out.exists() or out.read_text() != text:
            sys.exit("README.md is out of date with nbs/index.ipynb: run `make readme` and commit")
        print("check-readme: README.md matches nbs/index.ipynb")
    else: out.write_text(text); print(f"wrote {out}")
