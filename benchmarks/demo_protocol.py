"""The counting demo's pre-registered protocol (nbs/40_demo.ipynb, "The protocol"): per fresh seed, the demo as it ships
and a compute-matched control from the same CoT-SFT checkpoint; per tuning seed, a placebo GRPO against shuffled answers.

Per confirmation seed N (`--seeds`):
  demo      `rft-demo --seed N` exactly as it ships (CoT-SFT, its headroom, GRPO, evaluations on the three test sets);
  cont_sft  continued CoT-SFT from that run's CoT-SFT checkpoint on the rows GRPO trained on (the stage-2 rows),
            `--cont-steps` steps at `--cont-lr` (constant rate): the CPU time of the GRPO stage spent on SFT instead.
Per tuning seed (`--placebo-seeds`, whose CoT-SFT `benchmarks/demo_tune.py` trained):
  placebo   GRPO with the demo's settings whose rewards read a shuffled answer (the stage-2 rows' solutions
            permuted), and the same GRPO with the true answers, both evaluated on the test sets beside their CoT-SFT.
Every finished seed writes `benchmarks/results/demo_protocol/seedN.json` (committed: the card is rebuilt from these,
and a seed already there is skipped, so the runs resume across sessions). `--report` writes the card
`benchmarks/results/demo_protocol.md` (+ `.json`): per-seed table, pooled paired gains with one-sided 95 % lower
bounds (t over seeds, and a seed bootstrap), Holm over the three test sets, and the verdict of each claim.

Usage: python benchmarks/demo_protocol.py --seeds 201 202 ... [--placebo-seeds 0 1] [--out outputs/protocol]
       python benchmarks/demo_protocol.py --report
"""
import argparse, json, math, os, random, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'benchmarks' / 'results' / 'demo_protocol'
SPLITS = {'test_id': 'in-domain', 'test_ood': 'unseen colours', 'test_ood_bg': 'unseen background'}
PROTOCOL_SEEDS = list(range(201, 213))     # named in the protocol before any of them ran
PLACEBO_SEEDS = [0, 1]                     # the tuning seeds (benchmarks/demo_tune.py)
CONT_STEPS, CONT_LR = 250, 3e-5            # the protocol's control: GRPO's 198 CPU s / 0.79 s a CoT-SFT step; rate chosen on val


# ---------- statistics (no scipy on the CPU install) ----------
def _betacf(a, b, x, it=300, eps=3e-14):
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > 1e-300 else 1e-300); h = d
    for m in range(1, it + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d; d = 1 / (d if abs(d) > 1e-300 else 1e-300)
        c = 1 + aa / c if abs(1 + aa / c) > 1e-300 else 1e-300
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d; d = 1 / (d if abs(d) > 1e-300 else 1e-300)
        c = 1 + aa / c if abs(1 + aa / c) > 1e-300 else 1e-300
        de = d * c; h *= de
        if abs(de - 1) < eps: break
    return h


def betainc(a, b, x):
    "The regularised incomplete beta function I_x(a, b)."
    if x <= 0: return 0.0
    if x >= 1: return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x)
    if x < (a + 1) / (a + b + 2): return math.exp(lbt) * _betacf(a, b, x) / a
    return 1 - math.exp(lbt) * _betacf(b, a, 1 - x) / b


def t_sf(t, df):
    "P(T > t) for Student's t with `df` degrees of freedom."
    p = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return p if t > 0 else 1 - p


def t_ppf(q, df):
    "The q-quantile of Student's t (bisection on `t_sf`)."
    lo, hi = -50.0, 50.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 1 - t_sf(mid, df) < q: lo = mid
        else: hi = mid
    return (lo + hi) / 2


def paired_stats(d: list[float], boot: int = 10000, seed: int = 0) -> dict:
    "Mean paired gain over seeds with a one-sided 95 % lower bound (t and seed bootstrap) and the one-sided t p-value."
    n = len(d)
    if n < 2: return dict(n=n, mean=d[0] if d else None)
    m, sd = statistics.mean(d), statistics.stdev(d)
    se = sd / math.sqrt(n)
    t = m / se if se > 0 else (math.inf if m > 0 else -math.inf if m < 0 else 0.0)
    p = t_sf(t, n - 1) if math.isfinite(t) else (0.0 if t > 0 else 1.0)
    rng = random.Random(seed)
    means = sorted(statistics.mean(rng.choices(d, k=n)) for _ in range(boot))
    return dict(n=n, mean=round(m, 2), sd=round(sd, 2), lower95_t=round(m - t_ppf(0.95, n - 1) * se, 2),
                lower95_boot=round(means[int(0.05 * boot)], 2), p_one_sided=round(p, 4), min=round(min(d), 2), max=round(max(d), 2))


def holm(pvals: dict, alpha: float = 0.05) -> dict:
    "{key: rejected?} by Holm's step-down procedure."
    out, ok = {}, True
    for i, (k, p) in enumerate(sorted(pvals.items(), key=lambda kv: kv[1])):
        ok = ok and p <= alpha / (len(pvals) - i)
        out[k] = ok
    return out


# ---------- runs ----------
def _cpu() -> float:
    t = os.times(); return t.user + t.system


def acc_of(res: dict) -> dict:
    return {k: res['metrics']['counting'][k]['acc'] for k in SPLITS}


def run_demo_seed(seed: int, out: Path, threads: int) -> dict:
    d = out / f'seed{seed}' / 'demo'
    if not (d / 'summary.json').is_file():
        d.parent.mkdir(parents=True, exist_ok=True)
        cmd = [str(Path(sys.executable).parent / 'rft-demo'), '--seed', str(seed), '--out', str(d), '--no-progress', '--threads', str(threads),
               '--set', f"paths.data_dir={d.parent / 'data'}"]   # one data folder per seed: runs side by side must not share it
        with open(d.parent / 'demo.log', 'w') as f:
            p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=dict(os.environ, TOKENIZERS_PARALLELISM='false'))
        if p.returncode != 0: raise SystemExit(f"rft-demo --seed {seed} failed (exit {p.returncode}): see {d.parent / 'demo.log'}")
    return json.loads((d / 'summary.json').read_text())


def run_cont_sft(seed: int, sft_dir: Path, data: Path, out: Path, steps: int, lr: float) -> tuple[dict, dict]:
    "Continued CoT-SFT from `sft_dir` on the stage-2 rows; (its evaluation on the test sets, timing)."
    import datasets
    from datasets import load_from_disk
    from rft_nb.demo import DemoConfig, demo_recipes, evaluate_stage, write_recipe
    from rft_nb.recipe import RFTSFTConfig, parse_config
    from rft_nb.train import train_sft
    cfg = DemoConfig(seed=seed)
    sft_r, _ = demo_recipes(cfg, data, out)
    sft_r.update(model_name_or_path=str(sft_dir), stage_part='rl', max_steps=steps, learning_rate=lr, lr_scheduler_type='constant',
                 warmup_steps=0, disable_tqdm=True, logging_steps=max(1, steps // 20))
    w, c = time.time(), _cpu()
    train_sft(parse_config(RFTSFTConfig, ['--config', str(write_recipe(sft_r, out / 'recipes' / 'cont_sft.yaml'))]))
    timing = dict(wall=round(time.time() - w, 1), cpu=round(_cpu() - c, 1))
    ds = load_from_disk(str(data))
    test = datasets.concatenate_datasets([ds[k] for k in SPLITS])
    return evaluate_stage(out / 'cot_sft', test, out / 'eval', cfg, progress=False), timing


def paired(a_pred: Path, b_pred: Path) -> dict:
    "Per split: rows b got right and a wrong / the reverse, and the paired standard error of b - a."
    from rft_nb.demo import changed_rows
    from rft_nb.inference import load_predictions
    return changed_rows(load_predictions(a_pred, repair=False), load_predictions(b_pred, repair=False))


def confirm(seed: int, out: Path, threads: int, steps: int, lr: float) -> dict:
    f = RESULTS / f'seed{seed}.json'
    if f.is_file(): return json.loads(f.read_text())
    t0 = time.time()
    s = run_demo_seed(seed, out, threads)
    demo = out / f'seed{seed}' / 'demo'
    import torch; torch.set_num_threads(threads)
    res_c, timing = run_cont_sft(seed, demo / 'cot_sft', Path(s['data']), out / f'seed{seed}' / 'cont_sft', steps, lr)
    ev = lambda name: demo / 'eval' / name / 'predictions.jsonl'
    rec = dict(seed=seed, kind='confirmation', config=s['config'], cont_sft=dict(steps=steps, lr=lr, **timing),
               chance={k: s['chance'][k]['majority'] for k in SPLITS},
               accuracy=dict(cot_sft=s['accuracy']['cot_sft'], grpo=s['accuracy']['grpo'], cont_sft=acc_of(res_c)),
               grpo_vs_sft=s['changed_rows'], grpo_vs_cont_sft=paired(out / f'seed{seed}' / 'cont_sft' / 'eval' / 'predictions.jsonl', ev('grpo')),
               format_after_grpo={k: s['rewards']['after_grpo'][k].get('format') for k in SPLITS},
               rewards=s['rewards'], count_bias=dict(s['count_bias'], cont_sft=res_c['count_bias']), headroom=s.get('headroom'),
               seconds=dict(s['seconds'], cont_sft=timing['wall']), wall_minutes=round((time.time() - t0) / 60, 1),
               load15_end=round(os.getloadavg()[2], 1), torch_threads=threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(rec, indent=1))
    return rec


def shuffled_data(data: Path, out: Path, seed: int) -> Path:
    "A copy of the demo data whose train rows carry another row's answer (solution, answer, reasoning permuted together)."
    from datasets import load_from_disk
    if (out / 'dataset_dict.json').is_file(): return out
    ds = load_from_disk(str(data))
    tr = ds['train']
    perm = list(range(len(tr))); random.Random(seed + 7919).shuffle(perm)
    cols = {c: [tr[c][i] for i in perm] for c in ('solution', 'answer', 'reasoning') if c in tr.column_names}
    for c, v in cols.items(): tr = tr.remove_columns(c).add_column(c, v)
    ds['train'] = tr
    ds.save_to_disk(str(out))
    return out


def placebo(seed: int, tune: Path, out: Path, threads: int) -> dict:
    f = RESULTS / f'placebo_seed{seed}.json'
    if f.is_file(): return json.loads(f.read_text())
    import datasets, torch
    from datasets import load_from_disk
    from rft_nb.demo import DemoConfig, demo_recipes, evaluate_stage, write_recipe
    from rft_nb.recipe import RFTGRPOConfig, parse_config
    from rft_nb.train import train_grpo
    torch.set_num_threads(threads)
    sd, od = tune / f'seed{seed}', out / f'placebo{seed}'
    if not (sd / 'sft' / 'cot_sft').is_dir(): raise SystemExit(f"placebo seed {seed}: no tuning CoT-SFT in {sd / 'sft'} (run benchmarks/demo_tune.py --seed {seed})")
    cfg = DemoConfig(seed=seed, sft_from=str(sd / 'sft'))
    ds = load_from_disk(str(sd / 'data'))
    test = datasets.concatenate_datasets([ds[k] for k in SPLITS])
    res = {'cot_sft': evaluate_stage(sd / 'sft' / 'cot_sft', test, od / 'eval' / 'cot_sft', cfg, progress=False)}
    for arm, data in (('grpo', sd / 'data'), ('placebo', shuffled_data(sd / 'data', od / 'shuffled_data', seed))):
        _, r = demo_recipes(cfg, data, od / arm)
        r['disable_tqdm'] = True
        train_grpo(parse_config(RFTGRPOConfig, ['--config', str(write_recipe(r, od / arm / 'grpo.yaml'))]))
        res[arm] = evaluate_stage(od / arm / 'grpo', test, od / 'eval' / arm, cfg, progress=False)
    rec = dict(seed=seed, kind='placebo', accuracy={a: acc_of(r) for a, r in res.items()},
               placebo_vs_sft=paired(od / 'eval' / 'cot_sft' / 'predictions.jsonl', od / 'eval' / 'placebo' / 'predictions.jsonl'),
               grpo_vs_sft=paired(od / 'eval' / 'cot_sft' / 'predictions.jsonl', od / 'eval' / 'grpo' / 'predictions.jsonl'),
               rewards={a: r['rewards'] for a, r in res.items()})
    RESULTS.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(rec, indent=1))
    return rec


# ---------- the card ----------
def load(kind: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(RESULTS.glob('*.json')) if json.loads(p.read_text()).get('kind') == kind]


def card(seeds=PROTOCOL_SEEDS) -> tuple[str, dict]:
    recs = [r for r in load('confirmation') if r['seed'] in seeds]
    pl = load('placebo')
    fmt = lambda a: ' / '.join(f"{a[k]:.1f}" for k in SPLITS)
    gain = lambda r, a, b: [r['accuracy'][a][k] - r['accuracy'][b][k] for k in SPLITS]
    L = [f"# The counting demo's protocol: {len(recs)} of {len(seeds)} pre-registered seeds run", '',
         'Written by `python benchmarks/demo_protocol.py --report` from `benchmarks/results/demo_protocol/*.json`; '
         'the protocol and its claims are in `nbs/40_demo.ipynb` ("The protocol"). Accuracy % on in-domain / unseen colours / '
         'unseen background (1,000 rows each, greedy).', '',
         '| seed | CoT-SFT | + GRPO | continued CoT-SFT (same CPU) | GRPO − SFT (± se) | GRPO − cont. SFT (± se) | SFT pass@8 (200 rows) | format after GRPO |',
         '|---|---|---|---|---|---|---|---|']
    for r in recs:
        g1 = ' / '.join(f"{r['accuracy']['grpo'][k] - r['accuracy']['cot_sft'][k]:+.1f} ({r['grpo_vs_sft'][k]['se']:.1f})" for k in SPLITS)
        g2 = ' / '.join(f"{r['accuracy']['grpo'][k] - r['accuracy']['cont_sft'][k]:+.1f} ({r['grpo_vs_cont_sft'][k]['se']:.1f})" for k in SPLITS)
        h = ' / '.join(f"{r['headroom'][k]['pass_k']:.1f}" for k in SPLITS) if r.get('headroom') else '–'
        L.append(f"| {r['seed']} | {fmt(r['accuracy']['cot_sft'])} | {fmt(r['accuracy']['grpo'])} | {fmt(r['accuracy']['cont_sft'])} | {g1} | {g2} | {h} | "
                 f"{min(v for v in r['format_after_grpo'].values() if v is not None):.3f} |")
    rep = dict(seeds_planned=list(seeds), seeds_run=[r['seed'] for r in recs], claims={})
    interim = len(recs) < len(seeds)   # the protocol: no verdict before every pre-registered seed ran
    if interim: L += ['', f"**Interim: {len(recs)} of {len(seeds)} seeds. By the protocol no verdict is drawn until all of them ran; "
                      "the statistics below are printed to show the runs are sane, not as findings.**"]
    if len(recs) >= 2:
        L += ['', '| claim, per held-out set | mean gain (sd) | one-sided 95 % lower bound: t / bootstrap | p (t, one-sided) | Holm (3 sets) | verdict |',
              '|---|---|---|---|---|---|']
        for claim, (a, b) in {'GRPO beats CoT-SFT': ('grpo', 'cot_sft'), 'GRPO beats continued CoT-SFT at equal CPU': ('grpo', 'cont_sft')}.items():
            st = {k: paired_stats([r['accuracy'][a][k] - r['accuracy'][b][k] for r in recs]) for k in SPLITS}
            rej = holm({k: s['p_one_sided'] for k, s in st.items()})
            rep['claims'][claim] = {}
            for k, s in st.items():
                v = ('holds' if rej[k] and s['lower95_boot'] > 0 else
                     'reversed' if s['mean'] < 0 and s['sd'] > 0 and t_sf(-s['mean'] / (s['sd'] / math.sqrt(s['n'])), s['n'] - 1) < 0.05 / 3 else 'not shown')
                if interim: v = f'interim ({v} so far)'
                rep['claims'][claim][k] = dict(s, holm_rejects=rej[k], verdict=v)
                L.append(f"| {claim}: {SPLITS[k]} | {s['mean']:+.2f} ({s['sd']:.2f}) | {s['lower95_t']:+.2f} / {s['lower95_boot']:+.2f} | "
                         f"{s['p_one_sided']:.4f} | {'rejects' if rej[k] else 'does not reject'} | **{v}** |")
        every = lambda f: all(f(r) for r in recs)
        rep['claims']['CoT-SFT at least twice chance on every set, every seed'] = every(lambda r: all(r['accuracy']['cot_sft'][k] >= 2 * r['chance'][k] for k in SPLITS))
        rep['claims']['format reward at least 0.95 after GRPO on every set, every seed'] = every(lambda r: all((v or 0) >= 0.95 for v in r['format_after_grpo'].values()))
        for c in list(rep['claims'])[2:]:
            L.append(f"| {c} | | | | | **{('interim (' if interim else '') + ('holds' if rep['claims'][c] else 'fails') + (' so far)' if interim else '')}** |")
        hr = [r for r in recs if r.get('headroom')]
        if hr:
            L += ['', '| headroom (first 200 rows per set; SFT sampling at the GRPO temperature) | CoT-SFT greedy | SFT pass@1 | SFT maj@8 | SFT pass@8 | GRPO greedy |', '|---|---|---|---|---|---|']
            for k, n in SPLITS.items():
                mean = lambda f: statistics.mean(f(r) for r in hr)
                L.append(f"| {n} (mean over {len(hr)} seeds) | {mean(lambda r: r['accuracy']['cot_sft'][k]):.1f} | {mean(lambda r: r['headroom'][k]['pass1']):.1f} | "
                         f"{mean(lambda r: r['headroom'][k]['maj_k']):.1f} | {mean(lambda r: r['headroom'][k]['pass_k']):.1f} | {mean(lambda r: r['accuracy']['grpo'][k]):.1f} |")
            L.append('(greedy accuracies here are over all 1,000 rows; pass@k over the first 200)')
    if pl:
        L += ['', '| placebo (tuning seed): GRPO against shuffled answers | CoT-SFT | + GRPO, true answers | + GRPO, shuffled answers | placebo gain (± se) |', '|---|---|---|---|---|']
        for r in pl:
            pg = ' / '.join(f"{r['accuracy']['placebo'][k] - r['accuracy']['cot_sft'][k]:+.1f} ({r['placebo_vs_sft'][k]['se']:.1f})" for k in SPLITS)
            L.append(f"| seed {r['seed']} | {fmt(r['accuracy']['cot_sft'])} | {fmt(r['accuracy']['grpo'])} | {fmt(r['accuracy']['placebo'])} | {pg} |")
        rep['placebo'] = pl
    rep['per_seed'], rep['interim'] = recs, interim
    return '\n'.join(L) + '\n', rep


def main(argv=None):
    ap = argparse.ArgumentParser('demo_protocol', description=__doc__.split('\n')[0])
    ap.add_argument('--seeds', type=int, nargs='*', default=[])
    ap.add_argument('--placebo-seeds', type=int, nargs='*', default=[])
    ap.add_argument('--out', default=str(ROOT / 'outputs' / 'protocol'))
    ap.add_argument('--tune', default=str(ROOT / 'outputs' / 'tune'), help="demo_tune.py's folder (the tuning seeds' CoT-SFT, for the placebo)")
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--cont-steps', type=int, default=CONT_STEPS)
    ap.add_argument('--cont-lr', type=float, default=CONT_LR)
    ap.add_argument('--report', action='store_true')
    a = ap.parse_args(argv)
    bad = [s for s in a.seeds if s not in PROTOCOL_SEEDS]
    if bad: ap.error(f"seeds {bad} are not the protocol's ({PROTOCOL_SEEDS[0]}-{PROTOCOL_SEEDS[-1]})")
    out = Path(a.out).resolve()
    import transformers, datasets
    transformers.logging.set_verbosity_error(); datasets.disable_progress_bars()
    for s in a.placebo_seeds: print(json.dumps({k: v for k, v in placebo(s, Path(a.tune).resolve(), out, a.threads).items() if k in ('seed', 'accuracy')}), flush=True)
    for s in a.seeds: print(json.dumps({k: v for k, v in confirm(s, out, a.threads, a.cont_steps, a.cont_lr).items() if k in ('seed', 'accuracy')}), flush=True)
    if a.report or not (a.seeds or a.placebo_seeds):
        text, rep = card()
        (RESULTS.parent / 'demo_protocol.md').write_text(text)
        (RESULTS.parent / 'demo_protocol.json').write_text(json.dumps(rep, indent=1))
        print(text)


if __name__ == '__main__':
    main()
