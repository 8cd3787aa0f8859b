#!/usr/bin/env python
"""Outcome-only vs outcome + process rewards for GRPO on synthetic spatial referring, same budget, several seeds.

For each seed: synthetic tabletop pointing data (train / test_id / test_ood, depth as a second image), a small
Qwen2-VL built from that seed, CoT-SFT on part of the training rows (the chain of thought names each referenced
object with its point), then two GRPO runs from the same SFT weights on the rest, identical except for the rewards:

    outcome:            format + pointing + point_distance
    outcome + process:  format + pointing + point_distance + spatial_process

Each model is evaluated greedily on both test splits: `success` (RefSpatial-Bench's metric) and `process` (the
reasoning's intermediate points and depth order, scored by the process reward). Run it with few threads and a low
priority on a shared machine:

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/embodied_process.py --seeds 0 1 2 --out outputs/embodied_process
"""
import argparse, json, shutil, sys, time
from dataclasses import dataclass, asdict, fields, replace
from pathlib import Path

ARMS = {'outcome': ['format', 'pointing', 'point_distance'],
        'outcome+process': ['format', 'pointing', 'point_distance', 'spatial_process']}
SPLITS = ('test_id', 'test_ood')

@dataclass
class Config:
    model: str = 'small-qwen2-vl'
    size: int = 112
    n_train: int = 3000
    n_test: int = 200
    sft_fraction: float = 0.8
    sft_steps: int = 400
    sft_batch: int = 16
    sft_lr: float = 3e-4
    grpo_steps: int = 60
    grpo_batch: int = 32          # completions per step
    num_generations: int = 8
    grpo_lr: float = 5e-6
    beta: float = 0.04
    temperature: float = 0.7
    max_completion_length: int = 96
    max_new_tokens: int = 110
    eval_batch: int = 50

def recipes(cfg: Config, model, data, out: Path, seed: int):
    common = dict(dataset_path=str(data), dataset_split='train', stage_sft_fraction=cfg.sft_fraction, seed=seed, use_lora=False,
                  gradient_checkpointing=False, weight_decay=0.0, report_to=[], save_strategy='no', use_system_prompt=False,
                  disable_tqdm=True)
    sft = dict(common, model_name_or_path=str(model), output_dir=str(out / 'cot_sft'), stage_part='sft', sft_mode='cot',
               finetune_vision_layers=True, max_steps=cfg.sft_steps, per_device_train_batch_size=cfg.sft_batch,
               learning_rate=cfg.sft_lr, lr_scheduler_type='cosine', warmup_steps=max(1, cfg.sft_steps // 10),
               logging_steps=max(1, cfg.sft_steps // 10))
    grpo = {arm: dict(common, model_name_or_path=str(out / 'cot_sft'), output_dir=str(out / f'grpo_{arm}'), stage_part='rl',
                      max_steps=cfg.grpo_steps, per_device_train_batch_size=cfg.grpo_batch, num_generations=cfg.num_generations,
                      max_completion_length=cfg.max_completion_length, temperature=cfg.temperature, learning_rate=cfg.grpo_lr,
                      lr_scheduler_type='constant', beta=cfg.beta, loss_type='dapo', reward_funcs=rewards,
                      logging_steps=max(1, cfg.grpo_steps // 10), rollout_log_steps=max(1, cfg.grpo_steps // 5))
            for arm, rewards in ARMS.items()}
    return sft, grpo

def evaluate(model, test, out: Path, cfg: Config, seed: int) -> dict:
    from rft_nb.inference import TransformersBackend, run_inference, sampling_settings
    from rft_nb.scoring import write_results
    if out.exists(): shutil.rmtree(out)
    backend = TransformersBackend.from_pretrained(str(model))
    sampling = sampling_settings('greedy', max_new_tokens=cfg.max_new_tokens, seed=seed)
    preds = run_inference(test, backend, out / 'predictions.jsonl', sampling, cfg.eval_batch, False, False)
    res = write_results(out, preds, dict(model=str(model), n_rows=len(test)))
    return {s: {k: res['metrics']['pointing'][s].get(k) for k in ('success', 'process', 'format')} for s in SPLITS}

def run_seed(cfg: Config, seed: int, root: Path, stages=('sft', 'grpo', 'eval')) -> dict:
    import datasets, transformers
    from rft_nb.embodied_data import build_embodied_synthetic
    from rft_nb.models import tiny_model_path
    from rft_nb.train import RFTGRPOConfig, RFTSFTConfig, parse_config, train_grpo, train_sft
    from rft_nb.demo import write_recipe
    transformers.logging.set_verbosity_error(); datasets.disable_progress_bars()
    out = root / f'seed{seed}'
    out.mkdir(parents=True, exist_ok=True)
    t0, times = time.time(), {}
    data = out / 'data'
    if not data.exists(): build_embodied_synthetic('pointing', data, cfg.n_train, cfg.n_test, seed, cfg.size)
    ds = datasets.load_from_disk(str(data))
    test = datasets.concatenate_datasets([ds[s] for s in SPLITS])
    model = tiny_model_path(cfg.model, seed=seed, cache_dir=root / 'cache')
    sft_r, grpo_r = recipes(cfg, model, data, out, seed)
    res = {}
    if 'sft' in stages:
        t = time.time()
        train_sft(parse_config(RFTSFTConfig, ['--config', str(write_recipe(sft_r, out / 'recipes' / 'cot_sft.yaml'))]))
        times['cot_sft'] = time.time() - t
    if 'eval' in stages:
        t = time.time(); res['cot_sft'] = evaluate(out / 'cot_sft', test, out / 'eval' / 'cot_sft', cfg, seed); times['eval_sft'] = time.time() - t
        print(f"[seed {seed}] CoT-SFT: {res['cot_sft']}", flush=True)
    for arm in ARMS:
        if 'grpo' in stages:
            t = time.time()
            train_grpo(parse_config(RFTGRPOConfig, ['--config', str(write_recipe(grpo_r[arm], out / 'recipes' / f'grpo_{arm}.yaml'))]))
            times[f'grpo_{arm}'] = time.time() - t
        if 'eval' in stages and (out / f'grpo_{arm}' / 'config.json').exists():
            t = time.time(); res[arm] = evaluate(out / f'grpo_{arm}', test, out / 'eval' / arm, cfg, seed); times[f'eval_{arm}'] = time.time() - t
            print(f"[seed {seed}] {arm}: {res[arm]}", flush=True)
    s = dict(seed=seed, config=asdict(cfg), results=res, seconds={k: round(v, 1) for k, v in times.items()}, wall=round(time.time() - t0, 1))
    (out / 'summary.json').write_text(json.dumps(s, indent=1))
    return s

def table(summaries: list[dict]) -> str:
    rows = ['cot_sft'] + list(ARMS)
    lines = ['| seed | model | success ID | success OOD | process ID | process OOD |', '|---|---|---:|---:|---:|---:|']
    fmt = lambda v: '–' if v is None else f"{v:.1f}"
    for s in summaries:
        for r in rows:
            m = s['results'].get(r)
            if m and m['test_id']['success'] is not None: lines.append(f"| {s['seed']} | {r} | {fmt(m['test_id']['success'])} | {fmt(m['test_ood']['success'])} | "
                               f"{fmt(m['test_id']['process'])} | {fmt(m['test_ood']['process'])} |")
    for r in rows:
        ms = [s['results'][r] for s in summaries if r in s['results']]
        if len(ms) > 1:
            mean = lambda sp, k: sum(m[sp][k] for m in ms) / len(ms)
            lines.append(f"| mean | {r} | {mean('test_id', 'success'):.1f} | {mean('test_ood', 'success'):.1f} | "
                         f"{mean('test_id', 'process'):.1f} | {mean('test_ood', 'process'):.1f} |")
    return '\n'.join(lines)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--out', default='outputs/embodied_process')
    p.add_argument('--stages', nargs='+', default=['sft', 'grpo', 'eval'])
    p.add_argument('--cfg', action='append', default=[], metavar='FIELD=VALUE')
    a = p.parse_args(argv)
    kw = {}
    for o in a.cfg:
        k, _, v = o.partition('=')
        kw[k] = type(getattr(Config, k))(v)
    cfg = replace(Config(), **kw)
    root = Path(a.out)
    summaries = [run_seed(cfg, s, root, tuple(a.stages)) for s in a.seeds]
    t = table(summaries)
    print('\n' + t)
    (root / 'results.md').write_text(t + '\n')
    (root / 'summary.json').write_text(json.dumps(summaries, indent=1))

if __name__ == '__main__': main()
