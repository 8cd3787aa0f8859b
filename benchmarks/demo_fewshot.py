"""Visual-RFT's headline claim in small: few-shot adaptation to a shifted domain, SFT vs GRPO on the same N rows.

From a stage-1 CoT-SFT checkpoint of the counting demo, adapt to a target domain (default: the unseen colours,
`test_ood`'s domain) with N labelled target rows (N in `--shots`), two ways at equal CPU time:
  grpo  GRPO with the demo's settings on the N rows (`--grpo-steps` steps; 4 prompts x 8 completions a step);
  sft   CoT-SFT on the same N rows, as many steps (batch 16, constant `--sft-lr`) as the GRPO stage's CPU seconds
        pay for at the CoT-SFT's own CPU cost per step (measured on the same checkpoint's stage 1).
Scored on the target domain (adaptation) and on the in-domain set (forgetting), beside the starting checkpoint.
The N training rows are drawn from the target domain's generator at row indices no test or val row uses.

`--mode pilot` (tuning seeds): scored on 500 target rows drawn for the pilot and the in-domain `val` rows;
`--mode confirm` (the protocol's seeds): scored on the seed's `test_ood` (or `test_ood_bg`) and `test_id` sets.
One JSON line per (seed, N, arm) in OUT/fewshot.jsonl, resumable; `--report` prints the table.

Usage: python benchmarks/demo_fewshot.py --seed 0 --start outputs/tune/seed0/sft --mode pilot [--shots 16 64]
       python benchmarks/demo_fewshot.py --report [--out outputs/fewshot]
"""
import argparse, json, os, statistics, time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN_START, PILOT_START = 100_000, 200_000   # row indices of the target-domain training and pilot rows (tests use 0..n_test)


def _cpu() -> float:
    t = os.times(); return t.user + t.system


def read(out: Path) -> list[dict]:
    f = out / 'fewshot.jsonl'
    return [json.loads(l) for l in f.read_text().splitlines() if l.strip()] if f.is_file() else []


def record(out: Path, rec: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / 'fewshot.jsonl', 'a') as f: f.write(json.dumps(rec) + '\n')
    print(json.dumps(rec), flush=True)


def build(cfg, start_data: Path, target: str, n: int, mode: str, path: Path) -> Path:
    "The adaptation dataset: `train` (n target rows), `target` and `source` evaluation rows."
    from datasets import load_from_disk
    from rft_nb.demo import demo_rows
    from rft_nb.schema import BuildReport, save_dataset
    if (path / 'dataset_dict.json').is_file(): return path
    relabel = lambda rows, split: [dict(r, split=split) for r in rows]
    src = load_from_disk(str(start_data))
    if mode == 'pilot':
        tgt_eval = relabel(demo_rows(cfg, target, 500, start=PILOT_START), 'target')
        src_eval = relabel(list(src['val']), 'source')
    else:
        tgt_eval, src_eval = relabel(list(src[target]), 'target'), relabel(list(src['test_id']), 'source')
    parts = {'train': relabel(demo_rows(cfg, target, n, start=TRAIN_START), 'train'), 'target': tgt_eval, 'source': src_eval}
    save_dataset(parts, path, overwrite=True, report=BuildReport(source=f'few-shot {target} n={n} seed={cfg.seed} mode={mode}'))
    return path


def evaluate(model, ds, out: Path, cfg) -> dict:
    import datasets
    from rft_nb.demo import evaluate_stage
    test = datasets.concatenate_datasets([ds['target'], ds['source']])
    res = evaluate_stage(model, test, out, cfg, progress=False)
    return {k: res['metrics']['counting'][k]['acc'] for k in ('target', 'source')}


def run(seed: int, start: Path, mode: str, target: str, shots: list[int], out: Path, grpo_steps: int, sft_lr: float, sft_step_cpu: float) -> None:
    from datasets import load_from_disk
    from rft_nb.demo import DemoConfig, demo_recipes, write_recipe
    from rft_nb.train import RFTGRPOConfig, RFTSFTConfig, parse_config, train_grpo, train_sft
    done = {(r['seed'], r['n'], r['arm']) for r in read(out)}
    cfg = DemoConfig(seed=seed)
    summ = start / 'summary.json'   # a demo run names its data; demo_tune keeps it beside the seed's sft/ folder
    data_dir = Path(json.loads(summ.read_text())['data']) if summ.is_file() else start.parent / 'data'
    ck = start / 'cot_sft'
    for n in shots:
        d = out / f'seed{seed}' / f'n{n}'
        ds_path = build(cfg, data_dir, target, n, mode, d / 'data')
        ds = load_from_disk(str(ds_path))
        if (seed, n, 'start') not in done:
            record(out, dict(seed=seed, n=n, arm='start', mode=mode, target=target, acc=evaluate(ck, ds, d / 'eval' / 'start', cfg)))
        grpo_cpu = next((r['cpu'] for r in read(out) if (r['seed'], r['n'], r['arm']) == (seed, n, 'grpo')), None)
        if grpo_cpu is None:
            acfg = replace(cfg, grpo_steps=grpo_steps, sft_from=str(start))
            _, r = demo_recipes(acfg, ds_path, d / 'grpo_run')
            r.update(disable_tqdm=True, stage_part=None, dataset_split='train', model_name_or_path=str(ck))
            c = _cpu()
            train_grpo(parse_config(RFTGRPOConfig, ['--config', str(write_recipe(r, d / 'grpo_run' / 'grpo.yaml'))]))
            grpo_cpu = round(_cpu() - c, 1)
            record(out, dict(seed=seed, n=n, arm='grpo', mode=mode, target=target, steps=grpo_steps, cpu=grpo_cpu,
                             acc=evaluate(d / 'grpo_run' / 'grpo', ds, d / 'eval' / 'grpo', cfg)))
        if (seed, n, 'sft') not in done:
            steps = max(1, round(grpo_cpu / sft_step_cpu))
            s, _ = demo_recipes(cfg, ds_path, d / 'sft_run')
            s.update(model_name_or_path=str(ck), stage_part=None, dataset_split='train', max_steps=steps, learning_rate=sft_lr,
                     lr_scheduler_type='constant', warmup_steps=0, disable_tqdm=True, logging_steps=max(1, steps // 20))
            c = _cpu()
            train_sft(parse_config(RFTSFTConfig, ['--config', str(write_recipe(s, d / 'sft_run' / 'cot_sft.yaml'))]))
            record(out, dict(seed=seed, n=n, arm='sft', mode=mode, target=target, steps=steps, lr=sft_lr, cpu=round(_cpu() - c, 1),
                             acc=evaluate(d / 'sft_run' / 'cot_sft', ds, d / 'eval' / 'sft', cfg)))


def report(out: Path) -> str:
    recs = read(out)
    L = ['| mode | seed | N | start: target / in-domain | + SFT on N rows | + GRPO on N rows | GRPO − SFT: target / in-domain | CPU s SFT / GRPO |',
         '|---|---|---|---|---|---|---|---|']
    keys = sorted({(r['mode'], r['seed'], r['n']) for r in recs})
    diffs = {}
    for m, s, n in keys:
        a = {r['arm']: r for r in recs if (r['mode'], r['seed'], r['n']) == (m, s, n)}
        if not {'start', 'sft', 'grpo'} <= set(a): continue
        f = lambda r: f"{r['acc']['target']:.1f} / {r['acc']['source']:.1f}"
        dt, ds = a['grpo']['acc']['target'] - a['sft']['acc']['target'], a['grpo']['acc']['source'] - a['sft']['acc']['source']
        diffs.setdefault((m, n), []).append((dt, ds))
        L.append(f"| {m} | {s} | {n} | {f(a['start'])} | {f(a['sft'])} | {f(a['grpo'])} | {dt:+.1f} / {ds:+.1f} | {a['sft']['cpu']:.0f} / {a['grpo']['cpu']:.0f} |")
    for (m, n), v in sorted(diffs.items()):
        L.append(f"\n{m}, N={n}: GRPO − SFT mean over {len(v)} seeds: target {statistics.mean(x for x, _ in v):+.2f}, in-domain {statistics.mean(y for _, y in v):+.2f}")
    return '\n'.join(L)


def main(argv=None):
    ap = argparse.ArgumentParser('demo_fewshot', description=__doc__.split('\n')[0])
    ap.add_argument('--seed', type=int)
    ap.add_argument('--start', help="the stage-1 demo folder holding cot_sft/ (demo_tune's seedN/sft, or a demo run's folder)")
    ap.add_argument('--mode', choices=['pilot', 'confirm'], default='pilot')
    ap.add_argument('--target', choices=['test_ood', 'test_ood_bg'], default='test_ood')
    ap.add_argument('--shots', type=int, nargs='+', default=[16, 64])
    ap.add_argument('--grpo-steps', type=int, default=50)
    ap.add_argument('--sft-lr', type=float, default=1e-4)
    ap.add_argument('--sft-step-cpu', type=float, default=0.79, help='CPU seconds of one CoT-SFT step (batch 16) at one thread (demo_tune.py measured 0.79-0.80)')
    ap.add_argument('--out', default=str(ROOT / 'outputs' / 'fewshot'))
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--report', action='store_true')
    a = ap.parse_args(argv)
    out = Path(a.out).resolve()
    if a.report or a.seed is None:
        print(report(out)); return
    if not a.start or not (Path(a.start) / 'cot_sft').is_dir(): ap.error(f"--start {a.start!r}: no cot_sft/ checkpoint there")
    import torch, transformers, datasets
    torch.set_num_threads(a.threads); transformers.logging.set_verbosity_error(); datasets.disable_progress_bars()
    run(a.seed, Path(a.start).resolve(), a.mode, a.target, a.shots, out, a.grpo_steps, a.sft_lr, a.sft_step_cpu)
    print(report(out))


if __name__ == '__main__':
    main()
