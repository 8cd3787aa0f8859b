"""The demo on seeds nobody tuned on, with and without dynamic sampling at an equal budget of completions.

Per seed: `plain` is `rft-demo --seed N` as it is; `ds` reuses that run's CoT-SFT (`sft_from`) and runs GRPO
with dynamic sampling under the same budget of generated completions, evaluating checkpoints every
`--curve-every` completions. Runs go one after another, each at `nice -n 15`; a run whose summary.json exists
is skipped, so the script resumes. `--report` only aggregates what exists.

Usage: python benchmarks/demo_seeds.py --seeds 101 102 103 --variants plain ds [--out outputs/seeds] [--report]
"""
import argparse, json, math, os, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPLITS = {'test_id': 'in-domain', 'test_ood': 'unseen colours', 'test_ood_bg': 'unseen background'}


def run(seed: int, variant: str, out: Path, curve_every: int, threads: int | None, log) -> dict | None:
    d = out / f'seed{seed}' / variant
    if (d / 'summary.json').is_file(): return json.loads((d / 'summary.json').read_text())
    args = ['--seed', str(seed), '--out', str(d), '--no-progress']
    if threads: args += ['--threads', str(threads)]
    if variant == 'ds':
        plain = out / f'seed{seed}' / 'plain'
        if not (plain / 'summary.json').is_file(): return None
        args += ['--cfg', f'sft_from={plain}', '--cfg', 'dynamic_sampling=true', '--cfg', f'curve_every={curve_every}']
    elif variant != 'plain': raise ValueError(variant)
    t0, load0 = time.time(), os.getloadavg()
    env = dict(os.environ, TOKENIZERS_PARALLELISM='false')
    d.parent.mkdir(parents=True, exist_ok=True)
    with open(d.parent / f'{variant}.log', 'w') as f:
        p = subprocess.run(['nice', '-n', '15', sys.executable, '-c', 'import sys; from rft_nb.demo import demo_main; sys.argv[0] = "rft-demo"; demo_main()',
                            *args], stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    load1 = os.getloadavg()
    print(json.dumps(dict(seed=seed, variant=variant, rc=p.returncode, minutes=round((time.time() - t0) / 60, 1),
                          load1_start=round(load0[0], 1), load15_end=round(load1[2], 1))), file=log, flush=True)
    if p.returncode != 0: return None
    s = json.loads((d / 'summary.json').read_text())
    s['runner'] = dict(minutes=round((time.time() - t0) / 60, 1), load1_start=round(load0[0], 1), load15_end=round(load1[2], 1))
    (d / 'summary.json').write_text(json.dumps(s, indent=1))
    return s


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs: return None
    return dict(n=len(xs), mean=round(statistics.mean(xs), 2), sd=round(statistics.stdev(xs), 2) if len(xs) > 1 else 0.0,
                min=round(min(xs), 2), max=round(max(xs), 2))


def reached(curve: list, final: dict, target: dict, budget: int) -> dict:
    "Per split: the completions the first point at or above `target` had generated (None: not reached)."
    pts = sorted(curve, key=lambda p: p['generated']) + [dict(generated=budget, accuracy=final)]
    return {k: next((p['generated'] for p in pts if p['accuracy'][k] >= target[k]), None) for k in SPLITS}


def paired_se(a_dir: Path, b_dir: Path) -> dict:
    "Per split: one standard error (points) of the accuracy difference of two evaluations of the same rows (from the discordant rows)."
    from rft_nb.inference import load_predictions
    a, b = load_predictions(a_dir / 'predictions.jsonl', repair=False), load_predictions(b_dir / 'predictions.jsonl', repair=False)
    out = {}
    for k in SPLITS:
        d = [float(b[i]['correct']) - float(r['correct']) for i, r in a.items() if r['split'] == k and i in b]
        if len(d) > 1: out[k] = round(100 * statistics.stdev(d) / math.sqrt(len(d)), 2)
    return out


def aggregate(out: Path, seeds: list[int]) -> dict:
    res = {'plain': {}, 'ds': {}}
    for seed in seeds:
        for v in res:
            f = out / f'seed{seed}' / v / 'summary.json'
            if f.is_file(): res[v][seed] = json.loads(f.read_text())
    rep = dict(seeds=seeds, per_seed=[], gain={}, ds_vs_plain={})
    for seed in seeds:
        p, d = res['plain'].get(seed), res['ds'].get(seed)
        if not p: continue
        row = dict(seed=seed, sft=p['accuracy']['cot_sft'], plain=p['accuracy']['grpo'], checks=p['checks'],
                   plain_zero_std=p.get('sampling', {}).get('zero_std_frac'), plain_minutes=p.get('runner', {}).get('minutes'))
        if d:
            budget = d['config']['grpo_steps'] * d['config']['grpo_batch']
            row.update(ds=d['accuracy']['grpo'], ds_steps=d['training']['grpo']['steps'], ds_generated=d['training']['grpo'].get('generated'),
                       ds_sampling=d.get('sampling'), ds_curve=d.get('curve'),
                       ds_reached_plain=reached(d.get('curve') or [], d['accuracy']['grpo'], p['accuracy']['grpo'], budget),
                       ds_vs_plain_se=paired_se(out / f'seed{seed}' / 'plain' / 'eval' / 'grpo', out / f'seed{seed}' / 'ds' / 'eval' / 'grpo'))
        row['plain_vs_sft_se'] = paired_se(out / f'seed{seed}' / 'plain' / 'eval' / 'cot_sft', out / f'seed{seed}' / 'plain' / 'eval' / 'grpo')
        rep['per_seed'].append(row)
    for v in ('plain', 'ds'):
        rows = [r for r in rep['per_seed'] if v in r]
        rep['gain'][v] = {k: stats([r[v][k] - r['sft'][k] for r in rows]) for k in SPLITS}
    both = [r for r in rep['per_seed'] if 'ds' in r]
    rep['ds_vs_plain'] = {k: stats([r['ds'][k] - r['plain'][k] for r in both]) for k in SPLITS}
    return rep


def markdown(rep: dict) -> str:
    L = ['| seed | CoT-SFT | + GRPO (plain) | + GRPO (dynamic sampling, same budget) | DS steps | DS: completions to reach plain |', '|---|---|---|---|---|---|']
    fmt = lambda a: ' / '.join(f"{a[k]:.1f}" for k in SPLITS) if a else '–'
    for r in rep['per_seed']:
        reach = ' / '.join('–' if (x := r.get('ds_reached_plain', {}).get(k)) is None else str(x) for k in SPLITS) if 'ds' in r else '–'
        L.append(f"| {r['seed']} | {fmt(r['sft'])} | {fmt(r['plain'])} | {fmt(r.get('ds'))} | {r.get('ds_steps', '–')} | {reach} |")
    L += ['', '| held-out set | plain GRPO gain: mean (sd) [min, max] | DS gain | DS − plain |', '|---|---|---|---|']
    f = lambda s: '–' if not s else f"{s['mean']:+.2f} ({s['sd']:.2f}) [{s['min']:+.1f}, {s['max']:+.1f}], n={s['n']}"
    for k, n in SPLITS.items():
        L.append(f"| {n} | {f(rep['gain']['plain'][k])} | {f(rep['gain']['ds'][k])} | {f(rep['ds_vs_plain'][k])} |")
    return '\n'.join(L) + '\n'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seeds', type=int, nargs='+', required=True)
    ap.add_argument('--variants', nargs='+', default=['plain', 'ds'])
    ap.add_argument('--out', default=str(ROOT / 'outputs' / 'seeds'))
    ap.add_argument('--curve-every', type=int, default=800)
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--report', action='store_true', help='only aggregate the finished runs')
    a = ap.parse_args()
    out = Path(a.out).resolve(); out.mkdir(parents=True, exist_ok=True)
    if not a.report:
        with open(out / 'runs.jsonl', 'a') as log:
            for seed in a.seeds:
                for v in a.variants: run(seed, v, out, a.curve_every, a.threads, log)
    rep = aggregate(out, a.seeds)
    (out / 'report.json').write_text(json.dumps(rep, indent=1))
    (out / 'report.md').write_text(markdown(rep))
    print(markdown(rep))


if __name__ == '__main__':
    main()
