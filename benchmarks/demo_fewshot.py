"""Visual-RFT's headline claim in small: few-shot adaptation to a shifted domain, SFT vs GRPO on the same N rows.

From a stage-1 CoT-SFT checkpoint of the counting demo, adapt to a target domain (default: the unseen colours,
`test_ood`'s domain) with N labelled target rows (N in `--shots`), two ways at equal CPU time:
  grpo@LR  GRPO with the demo's settings on the N rows (`--grpo-steps` steps of 4 prompts x 8 completions, rate LR);
  sft@LR   CoT-SFT on the same N rows (batch 16, constant rate LR), as many steps as the GRPO arms' mean CPU seconds pay
           for at the CoT-SFT's own CPU cost per step (`--sft-step-cpu`, measured on the demo's stage 1).
The pilot may try several rates (`--grpo-lr`, `--sft-lr`); the confirmation runs the pair the protocol names.
Scored on the target domain (adaptation) and on the in-domain set (forgetting), beside the starting checkpoint.
The N training rows are drawn from the target domain's generator at row indices no test or val row uses.

`--mode pilot` (tuning seeds): scored on 500 target rows drawn for the pilot and the in-domain `val` rows;
`--mode confirm` (the protocol's seeds): scored on the seed's `test_ood` (or `test_ood_bg`) and `test_id` sets.
One JSON line per (seed, N, arm) in `--records` (default `benchmarks/results/demo_fewshot.jsonl`, committed: the
card is rebuilt from it), resumable: a (seed, N, arm) already there is skipped. The starting checkpoint is scored
once per seed (the evaluation rows do not depend on N). `--report` writes the card
`benchmarks/results/demo_fewshot.md`: per seed and N the three arms, and per mode and N the mean paired
GRPO − SFT difference over seeds on the target domain and in-domain, with one-sided 95 % lower bounds (t and seed
bootstrap, `demo_protocol.py`'s statistics) and Holm over the shot counts; in confirm mode each claim's verdict by
the counting protocol's rule (holds / reversed / not shown).

Usage: python benchmarks/demo_fewshot.py --seed 0 --start outputs/tune/seed0/sft --mode pilot [--shots 16 64]
       python benchmarks/demo_fewshot.py --seed 206 --start outputs/protocol/seed206/demo --mode confirm
       python benchmarks/demo_fewshot.py --report
"""
import argparse, json, math, statistics
from dataclasses import fields, replace
from pathlib import Path

from demo_protocol import _cpu, holm, paired_stats, t_sf   # the counting protocol's statistics, one copy

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / 'benchmarks' / 'results' / 'demo_fewshot.jsonl'
CARD = ROOT / 'benchmarks' / 'results' / 'demo_fewshot.md'
TRAIN_START, PILOT_START = 100_000, 200_000   # row indices of the target-domain training and pilot rows (tests use 0..n_test)


def read(records: Path) -> list[dict]:
    return [json.loads(l) for l in records.read_text().splitlines() if l.strip()] if records.is_file() else []


def record(records: Path, rec: dict) -> None:
    records.parent.mkdir(parents=True, exist_ok=True)
    with open(records, 'a') as f: f.write(json.dumps(rec) + '\n')
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


def run(seed: int, start: Path, mode: str, target: str, shots: list[int], out: Path, records: Path, grpo_steps: int,
        grpo_lrs: list[float], sft_lrs: list[float], sft_step_cpu: float) -> None:
    "Every (N, arm) of one seed not yet in `records`: the start scored once, then GRPO at each rate, then SFT at each rate."
    from datasets import load_from_disk
    from rft_nb.demo import DemoConfig, demo_recipes, write_recipe
    from rft_nb.recipe import RFTGRPOConfig, RFTSFTConfig, parse_config
    from rft_nb.train import train_grpo, train_sft
    key = lambda r: (r['mode'], r['target'], r['seed'], r['n'], r['arm'])
    have = lambda n, arm: next((r for r in read(records) if key(r) == (mode, target, seed, n, arm)), None)
    summ = start / 'summary.json'   # a demo run names its data and settings; demo_tune keeps the data beside the seed's sft/ folder
    summary = json.loads(summ.read_text()) if summ.is_file() else {}
    known = {f.name for f in fields(DemoConfig)}
    conf = {k: tuple(v) if isinstance(v, list) else v for k, v in summary.get('config', {}).items() if k in known}
    cfg = replace(DemoConfig(), **dict(conf, seed=seed))
    data_dir = Path(summary['data']) if summary else start.parent / 'data'
    ck = start / 'cot_sft'
    rec = lambda n, arm, **kw: record(records, dict(mode=mode, target=target, seed=seed, n=n, arm=arm, **kw))
    for n in shots:
        d = out / mode / f'seed{seed}' / f'n{n}'
        ds_path = build(cfg, data_dir, target, n, mode, d / 'data')
        ds = load_from_disk(str(ds_path))
        if not have(n, 'start'):
            prev = next((have(m, 'start') for m in shots if have(m, 'start')), None)   # same evaluation rows for every N
            rec(n, 'start', acc=prev['acc'] if prev else evaluate(ck, ds, d / 'eval' / 'start', cfg))
        for lr in grpo_lrs:
            arm = f'grpo@{lr:g}'
            if have(n, arm): continue
            acfg = replace(cfg, grpo_steps=grpo_steps, grpo_lr=lr, sft_from=str(start))
            _, r = demo_recipes(acfg, ds_path, d / arm)
            r.update(disable_tqdm=True, stage_part=None, dataset_split='train', model_name_or_path=str(ck))
            c = _cpu()
            train_grpo(parse_config(RFTGRPOConfig, ['--config', str(write_recipe(r, d / arm / 'grpo.yaml'))]))
            cpu = round(_cpu() - c, 1)
            rec(n, arm, steps=grpo_steps, lr=lr, cpu=cpu, acc=evaluate(d / arm / 'grpo', ds, d / 'eval' / arm, cfg))
        grpo_cpu = statistics.mean(have(n, f'grpo@{lr:g}')['cpu'] for lr in grpo_lrs)
        for lr in sft_lrs:
            arm = f'sft@{lr:g}'
            if have(n, arm): continue
            steps = max(1, round(grpo_cpu / sft_step_cpu))   # equal compute: the GRPO stage's CPU seconds spent on SFT steps
            s, _ = demo_recipes(cfg, ds_path, d / arm)
            s.update(model_name_or_path=str(ck), stage_part=None, dataset_split='train', max_steps=steps, learning_rate=lr,
                     lr_scheduler_type='constant', warmup_steps=0, disable_tqdm=True, logging_steps=max(1, steps // 20))
            c = _cpu()
            train_sft(parse_config(RFTSFTConfig, ['--config', str(write_recipe(s, d / arm / 'cot_sft.yaml'))]))
            rec(n, arm, steps=steps, lr=lr, cpu=round(_cpu() - c, 1), acc=evaluate(d / arm / 'cot_sft', ds, d / 'eval' / arm, cfg))


def verdict(st: dict, rejected: bool, k: int) -> str:
    "The counting protocol's rule: holds if Holm rejects and the bootstrap bound is above 0; reversed if significant the other way."
    if st['n'] < 2: return 'not shown'
    if rejected and st['lower95_boot'] > 0: return 'holds'
    if st['mean'] < 0 and st['sd'] > 0 and t_sf(-st['mean'] / (st['sd'] / math.sqrt(st['n'])), st['n'] - 1) < 0.05 / k: return 'reversed'
    return 'not shown'


def report(records: Path, grpo_arm: str | None = None, sft_arm: str | None = None) -> tuple[str, dict]:
    "The card: per seed and N every arm; per mode and N the paired GRPO − SFT differences (the pair given, or each pair) over seeds."
    recs = read(records)
    f = lambda a: f"{a['acc']['target']:.1f} / {a['acc']['source']:.1f}"
    L, out = [], {}
    for mode in ('pilot', 'confirm'):
        rs = [r for r in recs if r['mode'] == mode]
        if not rs: continue
        arms = [a for a in dict.fromkeys(r['arm'] for r in rs) if a != 'start']
        L += [f'## {mode}' + (' (tuning seeds: settings may be chosen here)' if mode == 'pilot' else ' (the pre-committed seeds)'), '',
              f"accuracy % on the target domain / in-domain ({rs[0]['target']} is the target); CPU s of each arm's training in brackets", '',
              '| seed | N | start | ' + ' | '.join(arms) + ' |', '|---|---:|---|' + '---|' * len(arms)]
        cells = {}
        for s, n in sorted({(r['seed'], r['n']) for r in rs}):
            a = {r['arm']: r for r in rs if (r['seed'], r['n']) == (s, n)}
            cells[s, n] = a
            L.append(f"| {s} | {n} | {f(a['start']) if 'start' in a else '-'} | " +
                     ' | '.join(f"{f(a[x])} ({a[x]['cpu']:.0f})" if x in a else '-' for x in arms) + ' |')
        pairs = [(grpo_arm, sft_arm)] if grpo_arm and sft_arm else [(g, t) for g in arms if g.startswith('grpo') for t in arms if t.startswith('sft')]
        L += ['', '| GRPO − SFT, paired over seeds | N | measure | mean (sd) | one-sided 95 % lower bound: t / bootstrap | p (one-sided) | Holm over N | verdict |',
              '|---|---:|---|---|---|---|---|---|']
        for g, t in pairs:
            for what in ('target', 'source'):
                st = {}
                for n in sorted({n for _, n in cells}):
                    d = [c[g]['acc'][what] - c[t]['acc'][what] for (s, m), c in cells.items() if m == n and g in c and t in c]
                    if d: st[n] = paired_stats(d)
                rej = holm({n: x.get('p_one_sided', 1.0) for n, x in st.items()})
                for n, x in st.items():
                    v = verdict(x, rej[n], len(st)) if mode == 'confirm' else 'pilot: no verdict'
                    out.setdefault(mode, []).append(dict(x, grpo=g, sft=t, shots=n, seeds=x['n'], measure=what, verdict=v))
                    L.append(f"| {g} − {t} | {n} | {'target domain' if what == 'target' else 'in-domain (forgetting)'} | "
                             + (f"{x['mean']:+.2f} ({x['sd']:.2f}) | {x['lower95_t']:+.2f} / {x['lower95_boot']:+.2f} | {x['p_one_sided']:.4f} | "
                                f"{'rejects' if rej[n] else 'does not reject'} | **{v}** |" if x['n'] >= 2 else f"{x['mean']:+.2f} (1 seed) | | | | |"))
        L.append('')
    return '\n'.join(L), out


def main(argv=None):
    ap = argparse.ArgumentParser('demo_fewshot', description=__doc__.split('\n')[0])
    ap.add_argument('--seed', type=int)
    ap.add_argument('--start', help="the stage-1 demo folder holding cot_sft/ (demo_tune's seedN/sft, or a demo run's folder)")
    ap.add_argument('--mode', choices=['pilot', 'confirm'], default='pilot')
    ap.add_argument('--target', choices=['test_ood', 'test_ood_bg'], default='test_ood')
    ap.add_argument('--shots', type=int, nargs='+', default=[16, 64])
    ap.add_argument('--grpo-steps', type=int, default=50)
    ap.add_argument('--grpo-lr', type=float, nargs='+', default=[5e-6])
    ap.add_argument('--sft-lr', type=float, nargs='+', default=[1e-4])
    ap.add_argument('--sft-step-cpu', type=float, default=0.79, help='CPU seconds of one CoT-SFT step (batch 16) at one thread (demo_tune.py measured 0.79-0.80)')
    ap.add_argument('--out', default=str(ROOT / 'outputs' / 'fewshot'), help='work folder (data, checkpoints, predictions)')
    ap.add_argument('--records', default=str(RECORDS))
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--report', action='store_true', help='write the card (`--card`) from the records')
    ap.add_argument('--card', default=str(CARD))
    ap.add_argument('--pair', nargs=2, metavar=('GRPO_ARM', 'SFT_ARM'), help='the pair the card tests (e.g. grpo@5e-06 sft@0.0001)')
    a = ap.parse_args(argv)
    records = Path(a.records).resolve()
    if a.report or a.seed is None:
        text, rep = report(records, *(a.pair or (None, None)))
        head = ["# Few-shot adaptation in small: SFT vs GRPO on the same N target-domain rows at equal CPU",
                "", f"Written by `python benchmarks/demo_fewshot.py --report{' --pair ' + ' '.join(a.pair) if a.pair else ''}` "
                f"from `{records.relative_to(ROOT) if records.is_relative_to(ROOT) else records}`; the protocol is in `nbs/40_demo.ipynb`.", ""]
        card = Path(a.card)
        card.write_text('\n'.join(head) + text + '\n'); card.with_suffix('.json').write_text(json.dumps(rep, indent=1) + '\n')
        print(text); return
    if not a.start or not (Path(a.start) / 'cot_sft').is_dir(): ap.error(f"--start {a.start!r}: no cot_sft/ checkpoint there")
    import torch, transformers, datasets
    torch.set_num_threads(a.threads); transformers.logging.set_verbosity_error(); datasets.disable_progress_bars()
    run(a.seed, Path(a.start).resolve(), a.mode, a.target, a.shots, Path(a.out).resolve(), records, a.grpo_steps, a.grpo_lr, a.sft_lr, a.sft_step_cpu)


if __name__ == '__main__':
    main()
