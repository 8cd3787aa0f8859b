#!/usr/bin/env python
"""Does a pointing model look at the image? Greedy answers to 30 one-step 'name' questions of test_id, then the same
questions with the next row's images (another scene): the number of completions that do not change.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/pointing_scene_swap.py outputs/pointing_tune/runs/base/seed0
(the run folder of benchmarks/pointing_tune.py: its `data` and `cot_sft`). Issue 23: the benchmark's CoT-SFT model gave
30 / 30 identical completions (it ignores the image); small-qwen3-vl + reply-only loss + token-grid points 8 / 30.
"""
import json, sys, tempfile
from pathlib import Path

import datasets
from datasets import Image, Sequence

import rft_nb.models   # registers the image-only processors that AutoProcessor needs
from rft_nb.inference import TransformersBackend, run_inference, sampling_settings

def main(run, n: int = 30):
    run = Path(run)
    ds = datasets.load_from_disk(str(run / 'data'))['test_id']
    name = ds.filter(lambda c: c == 'name', input_columns=['category'])
    n = min(n, len(name))
    name = name.select(range(n))
    raw = name.cast_column('images', Sequence(Image(decode=False)))
    imgs = raw['images']
    swapped = raw.remove_columns(['images']).add_column('images', imgs[1:] + imgs[:1]).cast_column('images', name.features['images'])
    be = TransformersBackend.from_pretrained(str(run / 'cot_sft'))
    s = sampling_settings('greedy', max_new_tokens=110, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        outs = []
        for tag, d in (('own', name), ('swapped', swapped)):
            f = Path(tmp) / f'{tag}.jsonl'
            run_inference(d, be, f, s, n, False, False)
            outs.append([json.loads(l)['completion'] for l in f.read_text().splitlines()])
    same = sum(a == b for a, b in zip(*outs))
    print(f"{run}: {same} / {n} completions unchanged with another scene")
    return same

if __name__ == '__main__': main(sys.argv[1])
