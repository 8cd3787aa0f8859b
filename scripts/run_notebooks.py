#!/usr/bin/env python
"""Execute notebooks and keep their outputs (tables, small figures), so the rendered pages show results (`make outputs`).

Each notebook runs in its own folder in a fresh Jupyter kernel (nbclient). The cells run are exactly those
`nbdev-test` runs: nbdev's own `nb_test_cells` decides, so cells marked with a flag of `tst_flags`
(`#| gpu`, `#| slow`, `#| notest`) and `#| eval: false` cells are skipped unless `--flags` names the flag; a
skipped cell keeps whatever outputs it had, as `nbdev-test --save` leaves them. A notebook whose cell fails is
left as it was and the run exits 1. The kernel sees `IN_TEST=1`, as under `nbdev-test`. Afterwards `nbdev-clean`
strips metadata and execution counts, and `scripts/nb_budget.py` checks the sizes. Stored text outputs name no
machine: the repository's absolute path becomes relative (`.`) and temporary folders (`/tmp/tmpab12cd`) become
`<tmp>`, so a run on another machine changes only numbers that really changed.

Usage: `python scripts/run_notebooks.py [NOTEBOOK_OR_FOLDER ...] [--flags gpu] [--timeout S]`
(default: every notebook in nbs/ and its subfolders).
"""
import argparse, os, re, subprocess, sys, tempfile, time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


TMP = re.compile(r'(?:/tmp|/var/tmp|' + re.escape(tempfile.gettempdir()) + r')/tmp[\w.-]{4,}')


def scrub(text: str, root=ROOT) -> str:
    "Text of an output without this machine's paths: the repository relative, temporary folders as `<tmp>`."
    text = text.replace(f'{root}/', '').replace(str(root), '.')
    return TMP.sub('<tmp>', text)


def scrub_outputs(nb, root=ROOT):
    "Scrub every text output of notebook `nb` in place (streams, tracebacks, text/plain, text/markdown, text/html)."
    for cell in nb.cells:
        for o in cell.get('outputs', []):
            if 'text' in o: o['text'] = scrub(o['text'], root)
            if 'traceback' in o: o['traceback'] = [scrub(t, root) for t in o['traceback']]
            for k, v in o.get('data', {}).items():
                if k.startswith('text/') and isinstance(v, str): o['data'][k] = scrub(v, root)
    return nb


def notebooks(paths):
    "The notebooks named, or found under the folders named (checkpoints and `_`/`.` folders left out)."
    out = []
    for p in (Path(q).resolve() for q in paths):
        if p.suffix == '.ipynb':
            out.append(p)
            continue
        out += [f for f in sorted(p.rglob('*.ipynb')) if not any(q.startswith(('.', '_')) for q in f.relative_to(p).parts[:-1])]
    return out


def cells_to_run(nb_path, skip_flags, force_flags=()):
    "Ids of the cells `nbdev-test` would run in this notebook (nbdev's own decision: flags, `eval: false`)."
    from nbdev.test import nb_test_cells
    return {c['id'] for c in nb_test_cells(str(nb_path), list(skip_flags), list(force_flags))}


def run_notebook(nb_path, skip_flags, force_flags=(), timeout=600):
    "Execute the runnable cells of `nb_path` in its folder and save the outputs in place; returns (cells run, seconds)."
    nb_path = Path(nb_path).resolve()
    nb = nbformat.read(nb_path, as_version=4)
    ids = [c.get('id') for c in nb.cells]
    if None in ids or len(set(ids)) != len(ids):
        raise ValueError(f'{nb_path}: cells need unique ids (nbformat 4.5); open and save it, or run nbdev-clean')
    run = cells_to_run(nb_path, skip_flags, force_flags)
    env_before = {k: os.environ.get(k) for k in ('IN_TEST', 'PYTHONPATH', 'PATH')}
    os.environ['IN_TEST'] = '1'
    os.environ['PYTHONPATH'] = os.pathsep.join(filter(None, [str(ROOT), env_before['PYTHONPATH']]))
    os.environ['PATH'] = os.pathsep.join([str(BIN), env_before['PATH'] or ''])   # the kernel is this environment's python
    start = time.time()
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name='python3',   # a local kernel on the loopback address
                                resources={'metadata': {'path': str(nb_path.parent)}})
        with client.setup_kernel():
            for i, cell in enumerate(nb.cells):
                if cell.id in run: client.execute_cell(cell, i)
    finally:
        for k, v in env_before.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v
    nbformat.write(scrub_outputs(nb), nb_path)
    subprocess.run([str(BIN / 'nbdev-clean'), '--fname', str(nb_path)], check=True, cwd=ROOT)
    return len(run), time.time() - start


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('paths', nargs='*', help='notebooks or folders (default: nbs/)')
    ap.add_argument('--flags', default='', help='space-separated tst_flags to run anyway (as nbdev-test --flags)')
    ap.add_argument('--timeout', type=int, default=None, help="seconds per cell (default: nbdev's cell_timeout, 600)")
    args = ap.parse_args(argv)
    from nbdev.config import get_config
    cfg = get_config()
    skip = cfg.tst_flags.split() if isinstance(cfg.tst_flags, str) else list(cfg.tst_flags)
    timeout = args.timeout or cfg.get('cell_timeout') or 600
    failed = []
    for f in notebooks(args.paths or [cfg.nbs_path]):
        try:
            n, secs = run_notebook(f, skip, args.flags.split(), timeout=int(timeout))
            print(f'{f.relative_to(ROOT)}: {n} cells run in {secs:.1f} s, {f.stat().st_size / 1024:.0f} KB')
        except Exception as e:
            failed.append(f)
            print(f'{f.relative_to(ROOT)}: FAILED, left unchanged\n{e}', file=sys.stderr)
    if failed: sys.exit(f'{len(failed)} notebook(s) failed: ' + ', '.join(str(f.relative_to(ROOT)) for f in failed))


if __name__ == '__main__':
    main()
