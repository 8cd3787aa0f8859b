#!/usr/bin/env python
"""Outcome-only vs outcome + process rewards for GRPO on synthetic spatial referring, same budget, several seeds.

`rft_nb.spatial_demo.run_spatial`: synthetic tabletop pointing data (train / test_id / test_ood, depth as a second
image), a small Qwen2-VL built from the seed, CoT-SFT on 80% of the training rows (the chain of thought names each
referenced object with its point, and the depth order), then, for each GRPO seed, two GRPO runs from that same SFT
checkpoint on the other 20%, identical except for the rewards:

    outcome:            format + pointing + point_distance
    outcome + process:  format + pointing + point_distance + spatial_process

Each model is evaluated greedily on both test splits: `success` (RefSpatial-Bench's metric, %) and `process` (the
reasoning's intermediate points and depth order as the process reward scores them, %). On a shared machine:

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/embodied_process.py --seeds 0 --grpo-seeds 0 1 2 --out outputs/embodied_process
"""
import argparse, json
from dataclasses import fields, replace
from pathlib import Path

from rft_nb.spatial_demo import PRESETS, SpatialConfig, run_spatial, comparison_table

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0], help='data, model and CoT-SFT seeds')
    p.add_argument('--grpo-seeds', type=int, nargs='+', default=[0, 1, 2], help='GRPO seeds, each run from every CoT-SFT checkpoint')
    p.add_argument('--out', default='outputs/embodied_process')
    p.add_argument('--preset', default='benchmark', choices=list(PRESETS))
    p.add_argument('--stages', nargs='+', default=['sft', 'grpo', 'eval'], choices=['sft', 'grpo', 'eval'])
    p.add_argument('--cfg', action='append', default=[], metavar='FIELD=VALUE', help='change one SpatialConfig field')
    a = p.parse_args(argv)
    types = {f.name: type(getattr(SpatialConfig(), f.name)) for f in fields(SpatialConfig)}
    kw = {}
    for o in a.cfg:
        k, _, v = o.partition('=')
        if k not in types: p.error(f"--cfg {o!r}: unknown field; known: {', '.join(types)}")
        kw[k] = types[k](v)
    cfg = replace(PRESETS[a.preset], **kw)
    root = Path(a.out)
    summaries = [run_spatial(cfg, s, root / f'seed{s}', tuple(a.stages), a.grpo_seeds, log=lambda m: print(m, flush=True)) for s in a.seeds]
    t = comparison_table(summaries)
    print('\n' + t)
    (root / 'results.md').write_text(t + '\n')
    (root / 'summary.json').write_text(json.dumps(summaries, indent=1))

if __name__ == '__main__': main()
