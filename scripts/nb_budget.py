#!/usr/bin/env python
"""Check that notebooks stay small enough to review in git and read on the web (`make nb-budget`, run by `make test`).

Limits come from pyproject.toml `[tool.rft_nb.notebook_budget]`: `max_notebook_kb` for a notebook's file and
`max_output_kb` for any single output (one figure, one table, one stream) as stored in the file.
Exits 1 naming each notebook, cell and output over its limit.

Usage: `python scripts/nb_budget.py [NOTEBOOK_OR_FOLDER ...]` (default: every notebook in nbs/ and its subfolders).
"""
import json, sys
from pathlib import Path

try: import tomllib
except ImportError: import tomli as tomllib  # Python 3.10

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = {'max_notebook_kb': 1500, 'max_output_kb': 300}


def budget(pyproject=ROOT / 'pyproject.toml'):
    "The limits in KB: pyproject's `[tool.rft_nb.notebook_budget]` over the defaults."
    cfg = tomllib.loads(Path(pyproject).read_text()).get('tool', {}).get('rft_nb', {}).get('notebook_budget', {})
    unknown = set(cfg) - set(DEFAULTS)
    if unknown: raise ValueError(f'{pyproject}: [tool.rft_nb.notebook_budget] unknown keys {sorted(unknown)}; known: {sorted(DEFAULTS)}')
    return {**DEFAULTS, **cfg}


def problems(nb_path, max_notebook_kb, max_output_kb):
    "What in one notebook is over budget, one line each (empty when it fits)."
    nb_path = Path(nb_path)
    size_kb = nb_path.stat().st_size / 1024
    out = []
    if size_kb > max_notebook_kb: out.append(f'{nb_path}: {size_kb:.0f} KB, over the {max_notebook_kb} KB a notebook may take')
    for i, cell in enumerate(json.loads(nb_path.read_text())['cells']):
        for j, o in enumerate(cell.get('outputs', [])):
            kb = len(json.dumps(o, indent=1)) / 1024
            if kb > max_output_kb:
                kinds = ', '.join(o.get('data', {})) or o.get('output_type', '?')
                out.append(f'{nb_path}: cell {i} (id {cell.get("id")}) output {j} ({kinds}) is {kb:.0f} KB, '
                           f'over the {max_output_kb} KB one output may take: save a smaller figure (dpi, size) or show less')
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    lim = budget()
    paths = [Path(p) for p in argv] or [ROOT / 'nbs']
    nbs = [p for q in paths for p in ([q] if q.suffix == '.ipynb' else sorted(q.rglob('*.ipynb')))
           if '.ipynb_checkpoints' not in p.parts]
    bad = [line for p in nbs for line in problems(p, **lim)]
    if bad: sys.exit('\n'.join(bad))
    largest = max(nbs, key=lambda p: p.stat().st_size)
    print(f'nb-budget: {len(nbs)} notebooks within {lim["max_notebook_kb"]} KB each and {lim["max_output_kb"]} KB an output '
          f'(largest {largest.relative_to(ROOT) if largest.is_relative_to(ROOT) else largest}, '
          f'{largest.stat().st_size / 1024:.0f} KB)')


if __name__ == '__main__':
    main()
