#!/usr/bin/env python
"""Does a fresh tiny VLM's vision tower say where each visual token is? A linear probe for issue 23.

Builds tiny model MODEL (random weights, seed 0), runs its vision tower on 40 single-object scenes of the spatial demo,
and fits a least-squares linear read-out of each merged visual token's grid column and row from its features (70% of
the images to fit, 30% held out). Chance is about 25% for a 4 x 4 grid.

    OMP_NUM_THREADS=1 python benchmarks/pointing_token_probe.py small-qwen3-vl small-qwen2-vl
"""
import sys, tempfile
from dataclasses import replace
from pathlib import Path

import datasets, numpy as np, torch

from rft_nb.models import build_tiny
from rft_nb.spatial_demo import PRESETS, build_spatial_data


def probe(name: str, ds) -> dict:
    model, proc = build_tiny(name, None, 0)
    feats, rows, cols = [], [], []
    for r in ds:
        inp = proc.image_processor(images=[r['images'][0]], return_tensors='pt')
        with torch.no_grad():
            out = model.model.visual(inp['pixel_values'], grid_thw=inp['image_grid_thw'])
        e = out.pooler_output if getattr(out, 'pooler_output', None) is not None else out[0]
        _, h, w = inp['image_grid_thw'][0].tolist(); gh, gw = h // 2, w // 2   # 2 x 2 merge
        for i in range(gh * gw): feats.append(e[i].numpy()); rows.append(i // gw); cols.append(i % gw)
    X = np.c_[np.array(feats), np.ones(len(feats))]; fit = np.arange(len(X)) < 0.7 * len(X)
    acc = {}
    for what, y in (('column', np.array(cols)), ('row', np.array(rows))):
        W = np.linalg.lstsq(X[fit], np.eye(y.max() + 1)[y][fit], rcond=None)[0]
        acc[what] = round(100 * float((np.argmax(X[~fit] @ W, 1) == y[~fit]).mean()), 1)
    return acc


if __name__ == '__main__':
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        build_spatial_data(replace(PRESETS['tutorial'], n_train=40, n_test=20, data_max_objects=1, data_kinds='name=1'), 0, Path(d) / 'data')
        ds = datasets.load_from_disk(str(Path(d) / 'data'))['train']
        for name in sys.argv[1:] or ['small-qwen3-vl', 'small-qwen2-vl']:
            print(name, 'held-out accuracy % of a linear read-out:', probe(name, ds), flush=True)
