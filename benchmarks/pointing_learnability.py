#!/usr/bin/env python
"""Can a tiny VLM learn where one object is? A stripped-down check for issue 23, outside the training pipeline.

One object on a plain table (the spatial demo's scenes, `data_max_objects=1`, "name" questions), the RGB image only, a
short question, and a plain training loop whose loss is on the answer tokens only. The answer is the object's grid cell
(`--answer cell`: "column row", 16 classes), its point in the family's convention (`--answer point`), or its name
(`--answer name`: content, not position). Chance for `cell` is a loss of about ln(4) x 2 / (tokens in the answer).
Prints the 25-step mean loss and appends one JSON line (every window's mean) to
`benchmarks/results/pointing_learnability.jsonl`. One thread; a run of 1,300 steps of 8 takes about 4 CPU minutes.

    OMP_NUM_THREADS=1 python benchmarks/pointing_learnability.py --steps 1300 --vision-pos-std 0.3
"""
import argparse, json, os, random, tempfile, time
from pathlib import Path

import datasets, torch

from rft_nb.models import build_tiny
from rft_nb.spatial_demo import PRESETS, build_spatial_data
from dataclasses import replace


def answer_text(row, answer: str) -> str:
    obj = json.loads(row['meta'])['objects'][0]
    if answer == 'cell': return f"{obj['cell'][0]} {obj['cell'][1]}"
    if answer == 'name': return obj['name']
    x, y = row['points'][0]; w, h = row['image_size']
    return f"[({round(x / w * 1000)}, {round(y / h * 1000)})]"   # norm1000, the Qwen families' point convention


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', default='small-qwen3-vl')
    p.add_argument('--seed', type=int, default=0, help='data, weights and batch order (tuning seeds: 0, 1)')
    p.add_argument('--steps', type=int, default=1300)
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--vision-pos-std', type=float, default=0.0, help="build_tiny's vision_pos_std (0: transformers' init)")
    p.add_argument('--answer', default='cell', choices=['cell', 'point', 'name'])
    p.add_argument('--log', default='benchmarks/results/pointing_learnability.jsonl')
    a = p.parse_args(argv)
    torch.set_num_threads(1); torch.manual_seed(a.seed); random.seed(a.seed)
    model, proc = build_tiny(a.model, None, a.seed, a.vision_pos_std)
    proc.tokenizer.padding_side = 'right'
    cfg = replace(PRESETS['benchmark'], data_max_objects=1, data_kinds='name=1', data_point_grid=4)
    with tempfile.TemporaryDirectory() as d:
        build_spatial_data(cfg, a.seed, Path(d) / 'data')
        ds = datasets.load_from_disk(str(Path(d) / 'data'))['train']
        rows = [dict(image=r['images'][0], answer=answer_text(r, a.answer)) for r in ds]
    eos = proc.tokenizer.eos_token or ''
    prompt = proc.apply_chat_template([{'role': 'user', 'content': [{'type': 'image'}, {'type': 'text', 'text': 'Where is the object?'}]}],
                                      add_generation_prompt=True, tokenize=False)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.0)
    windows, hist, t0 = [], [], time.time()
    for step in range(a.steps):
        batch = random.sample(rows, a.batch)
        answers = [r['answer'] + eos for r in batch]
        inp = proc(text=[prompt + s for s in answers], images=[r['image'] for r in batch], return_tensors='pt', padding=True)
        labels = torch.full_like(inp['input_ids'], -100)
        for j, s in enumerate(answers):   # right padding: the answer's tokens end where the mask does
            n, end = len(proc.tokenizer(s, add_special_tokens=False)['input_ids']), int(inp['attention_mask'][j].sum())
            labels[j, end - n:end] = inp['input_ids'][j, end - n:end]
        loss = model(**inp, labels=labels).loss
        loss.backward(); opt.step(); opt.zero_grad()
        hist.append(loss.item())
        if (step + 1) % 25 == 0:
            windows.append(round(sum(hist[-25:]) / 25, 4))
            print(f"step {step + 1}: loss {windows[-1]:.3f} ({time.time() - t0:.0f} s)", flush=True)
    line = dict(vars(a), windows=windows, final=windows[-1] if windows else None, seconds=round(time.time() - t0, 1),
                date=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
    Path(a.log).parent.mkdir(parents=True, exist_ok=True)
    with open(a.log, 'a') as f: f.write(json.dumps(line) + '\n')


if __name__ == '__main__': main()
