"""Torch CPU threads for the demo: 1 vs 2 threads, alone and beside a CPU-heavy process.

Runs the demo's stage-1 recipe (CoT-SFT, small-qwen2-vl, batch 16) for a few steps and then a few GRPO steps
from it, in a fresh process per measurement, with `torch.set_num_threads(n)`. The competing process is a
torch matmul loop with torch's default threads (what a second training run looks like to the scheduler).
Conditions are interleaved (A B C D, A B C D, ...) so a change in the machine's background load hits all of
them alike. Prints one JSON line per measurement and a table of medians.

Usage: python benchmarks/threads_bench.py [--sft-steps 50] [--grpo-steps 5] [--repeats 2] [--out DIR]
"""
import argparse, json, os, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HOG = """
import torch, time
a = torch.randn(384, 384)
t0 = time.time()
while time.time() - t0 < 3600: a = torch.tanh(a @ a) * 0.5
"""

RUN = """
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
from rft_nb.recipe import RFTGRPOConfig, RFTSFTConfig, parse_config
from rft_nb.train import train_grpo, train_sft
cls, fn = (RFTSFTConfig, train_sft) if sys.argv[2] == 'sft' else (RFTGRPOConfig, train_grpo)
t = time.time()
s = fn(parse_config(cls, ['--config', sys.argv[3]]))
print('RESULT', json.dumps(dict(train_seconds=s['seconds'], total_seconds=time.time() - t, torch_threads=torch.get_num_threads())))
"""


def setup(out: Path, sft_steps: int, grpo_steps: int) -> tuple[Path, Path]:
    "Demo data (seed 0) and the two recipes, shortened to the measured number of steps."
    from rft_nb.config import load_settings
    from rft_nb.demo import DemoConfig, build_demo_data, demo_recipes, write_recipe
    st = load_settings()
    cfg = DemoConfig(sft_steps=sft_steps, grpo_steps=grpo_steps, sft_warmup=min(50, sft_steps // 5))
    data = st.path('data_dir') / 'demo-counting-threads'
    if not (data / 'dataset_dict.json').exists(): build_demo_data(cfg, data)
    sft, grpo = demo_recipes(cfg, data, out)
    for r in (sft, grpo): r.update(disable_tqdm=True, logging_steps=max(1, r['max_steps']))
    return write_recipe(sft, out / 'sft.yaml'), write_recipe(grpo, out / 'grpo.yaml')


def measure(threads: int, stage: str, recipe: Path, env: dict) -> dict:
    p = subprocess.run(['nice', '-n', '15', sys.executable, '-c', RUN, str(threads), stage, str(recipe)], env=env,
                       capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0: raise RuntimeError(p.stderr[-3000:])
    return json.loads(p.stdout.split('RESULT', 1)[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--sft-steps', type=int, default=50)
    ap.add_argument('--grpo-steps', type=int, default=5)
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--out', default=str(ROOT / 'outputs' / 'threads_bench'))
    a = ap.parse_args()
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    sft_recipe, grpo_recipe = setup(out, a.sft_steps, a.grpo_steps)
    env = dict(os.environ, TOKENIZERS_PARALLELISM='false')
    env.pop('OMP_NUM_THREADS', None)
    measure(2, 'sft', sft_recipe, env)  # warm-up: builds the model cache, writes the SFT checkpoint GRPO starts from
    rows = []
    for rep in range(a.repeats):
        for competitor in (False, True):
            for threads in (1, 2):
                hog = subprocess.Popen(['nice', '-n', '15', sys.executable, '-c', HOG], env=env) if competitor else None
                try:
                    if hog: time.sleep(3)
                    load = os.getloadavg()[0]
                    for stage, recipe in (('sft', sft_recipe), ('grpo', grpo_recipe)):
                        if stage == 'grpo' and not a.grpo_steps: continue
                        r = dict(rep=rep, competitor=competitor, threads=threads, stage=stage, load1=round(load, 2),
                                 **measure(threads, stage, recipe, env))
                        print(json.dumps(r), flush=True)
                        rows.append(r)
                finally:
                    if hog: hog.kill(); hog.wait()
    (out / 'results.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
    print(f"\n{'stage':<6}{'competitor':>11}{'threads':>9}{'median s':>10}{'runs':>6}")
    for stage in ('sft', 'grpo'):
        for competitor in (False, True):
            for threads in (1, 2):
                xs = [r['train_seconds'] for r in rows if (r['stage'], r['competitor'], r['threads']) == (stage, competitor, threads)]
                if xs: print(f"{stage:<6}{str(competitor):>11}{threads:>9}{statistics.median(xs):>10.1f}{len(xs):>6}")


if __name__ == '__main__':
    main()
