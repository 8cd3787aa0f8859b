#!/usr/bin/env python
"""Tuning runs for issue 23 (the embodied model never learns to point): one CoT-SFT (and optionally GRPO) run per call.

Each call runs `rft_nb.spatial_demo.run_spatial` with a `SpatialConfig` preset changed by `--cfg FIELD=VALUE` options on
one seed, then appends one JSON line to `benchmarks/results/pointing_tune.jsonl`: the run's name, config, seed, CPU
seconds per stage, success per test split and the best constant point per split (the single pixel whose hit rate over a
split's masks is highest: chosen on the test split itself, so an upper bound for any constant answer). Tuning uses seeds
0 and 1 only; seeds 100 and up are kept for the confirmation protocol. On a shared machine, one run at a time:

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/pointing_tune.py --name base-short --seed 0 --cfg sft_steps=30
"""
import argparse, hashlib, json, os, time
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np

from rft_nb.spatial_demo import PRESETS, SpatialConfig, TEST_SPLITS, best_constant, build_spatial_data, run_spatial

DATA_FIELDS = ('n_train', 'n_test', 'size')   # SpatialConfig fields the data depends on (with the seed and data_* fields)

def diagnose(pred_file, ds, size: int, grid: int = 4) -> dict:
    """Where the misses go, per test split: % of answers in the target's grid row, in its grid column, in its cell, and
    success on one-step 'name' questions (the plain look-up every chain starts with)."""
    rows = {r['id']: r for s in TEST_SPLITS for r in ds[s].select_columns(['id', 'points', 'category'])}
    cell = size / grid
    acc = {}
    for line in Path(pred_file).read_text().splitlines():
        p = json.loads(line)
        r = rows[p['id']]
        tx, ty = r['points'][0]
        px, py = p['pred_points'][0] if p['pred_points'] else (-1, -1)
        a = acc.setdefault(p['split'], dict(n=0, row=0, col=0, cell=0, name_n=0, name_success=0.0))
        a['n'] += 1
        a['row'] += int(py // cell) == int(ty // cell)
        a['col'] += int(px // cell) == int(tx // cell)
        a['cell'] += int(py // cell) == int(ty // cell) and int(px // cell) == int(tx // cell)
        if r['category'] == 'name':
            a['name_n'] += 1
            a['name_success'] += p.get('success') or 0.0
    return {s: dict(row=round(100 * a['row'] / a['n'], 1), col=round(100 * a['col'] / a['n'], 1),
                    cell=round(100 * a['cell'] / a['n'], 1), name_success=round(100 * a['name_success'] / max(1, a['name_n']), 1))
            for s, a in acc.items()}

def data_key(cfg: SpatialConfig, seed: int) -> str:
    "A folder name for the data a run needs, so runs that share data build it once."
    d = {k: v for k, v in asdict(cfg).items() if k in DATA_FIELDS or k.startswith('data_')}
    return f"seed{seed}-" + hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--name', required=True, help='a short name for this run')
    p.add_argument('--seed', type=int, default=0, help='data, model and SFT seed (tuning: 0 or 1)')
    p.add_argument('--preset', default='benchmark', choices=list(PRESETS))
    p.add_argument('--cfg', action='append', default=[], metavar='FIELD=VALUE', help='change one SpatialConfig field')
    p.add_argument('--stages', nargs='+', default=['sft', 'eval'], choices=['sft', 'grpo', 'eval'])
    p.add_argument('--grpo-seeds', type=int, nargs='+', default=None)
    p.add_argument('--out', default='outputs/pointing_tune')
    p.add_argument('--log', default='benchmarks/results/pointing_tune.jsonl')
    p.add_argument('--note', default='')
    a = p.parse_args(argv)
    if a.seed >= 100: p.error('seeds 100 and up are reserved for the confirmation protocol')
    types = {f.name: type(getattr(SpatialConfig(), f.name)) for f in fields(SpatialConfig)}
    kw = {}
    for o in a.cfg:
        k, _, v = o.partition('=')
        if k not in types: p.error(f"--cfg {o!r}: unknown field; known: {', '.join(types)}")
        kw[k] = (v.lower() in ('1', 'true', 'yes')) if types[k] is bool else types[k](v)
    cfg = replace(PRESETS[a.preset], **kw)
    root = Path(a.out).resolve()
    run = root / 'runs' / a.name / f'seed{a.seed}'
    run.mkdir(parents=True, exist_ok=True)
    data = root / 'data' / data_key(cfg, a.seed)
    data.parent.mkdir(parents=True, exist_ok=True)
    if not data.exists(): build_spatial_data(cfg, a.seed, data)
    if not (run / 'data').exists(): (run / 'data').symlink_to(data)
    cpu0, t0 = time.process_time(), time.time()
    s = run_spatial(cfg, a.seed, run, tuple(a.stages), a.grpo_seeds, log=lambda m: print(m, flush=True))
    import datasets
    ds = datasets.load_from_disk(str(data))
    const = best_constant(ds)
    diag = {m: diagnose(run / 'eval' / m / 'predictions.jsonl', ds, cfg.size) for m in s['results']
            if (run / 'eval' / m / 'predictions.jsonl').is_file()}
    line = dict(name=a.name, seed=a.seed, preset=a.preset, changes=kw, note=a.note, stages=a.stages,
                cpu_s=round(time.process_time() - cpu0, 1), wall_s=round(time.time() - t0, 1), stage_wall_s=s['seconds'],
                threads=os.environ.get('OMP_NUM_THREADS'),
                results={m: {sp: r[sp]['success'] for sp in TEST_SPLITS if sp in r} for m, r in s['results'].items()},
                process={m: {sp: r[sp]['process'] for sp in TEST_SPLITS if sp in r} for m, r in s['results'].items()},
                diagnosis=diag, best_constant={sp: v[0] for sp, v in const.items()}, best_constant_point={sp: v[1] for sp, v in const.items()},
                config=asdict(cfg), date=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
    Path(a.log).parent.mkdir(parents=True, exist_ok=True)
    with open(a.log, 'a') as f: f.write(json.dumps(line) + '\n')
    print(json.dumps({k: line[k] for k in ('name', 'seed', 'cpu_s', 'results', 'best_constant', 'diagnosis')}))

if __name__ == '__main__': main()
