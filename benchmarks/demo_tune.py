"""Choose the demo's GRPO settings on in-domain validation rows of tuning seeds only: the test sets are never read.

Per tuning seed: the demo's data and its CoT-SFT stage once (`OUT/seedN/sft`), evaluated on the `val` split
(500 in-domain rows drawn from their own seeds); then each arm starts from that same checkpoint and is evaluated on
`val` too. An arm is either GRPO with some `DemoConfig` fields changed, or continued CoT-SFT on the GRPO rows
(the compute-matched control: `cont_steps` steps at `cont_lr`, constant rate). One JSON line per (seed, arm) goes to
`OUT/tune.jsonl` with val accuracy, rewards, count error, and the stage's wall and CPU seconds; an arm already there
is skipped, so the script resumes. `--report` prints the table (mean val gain over the tuning seeds per arm).

Usage: python benchmarks/demo_tune.py --seed 0 --arms base b0 ... [--out outputs/tune] [--threads 1]
       python benchmarks/demo_tune.py --report [--out outputs/tune]
"""
import argparse, json, os, statistics, sys, time
from dataclasses import asdict, replace
from pathlib import Path

ARMS = {  # name -> DemoConfig overrides (GRPO arms), explicit about every field the arms vary (the defaults moved to the chosen arm)
    'base': dict(beta=0.04, temperature=0.7, scale_rewards='group'),     # the demo before this tuning (lr 5e-6, one pass per batch)
    'b0_t1_none': dict(beta=0.0, temperature=1.0, scale_rewards='none'),
    'b0_t1_none_lr2e5': dict(beta=0.0, temperature=1.0, scale_rewards='none', grpo_lr=2e-5),
    # round 2, after round 1 showed the format collapsing at temperature 1.0 late in the run: temperature 0.7 kept
    'b0': dict(beta=0.0, temperature=0.7, scale_rewards='group'),
    'b0_mu2': dict(beta=0.0, temperature=0.7, scale_rewards='group', num_iterations=2, epsilon_high=0.28),
    'b0_none': dict(beta=0.0, temperature=0.7, scale_rewards='none'),   # chosen: the demo's defaults now
    'b0_lr1e5': dict(beta=0.0, temperature=0.7, scale_rewards='group', grpo_lr=1e-5),
    'b0_vis': dict(beta=0.0, temperature=0.7, scale_rewards='group', grpo_vision=True),
}


def arm_settings(name: str) -> dict:
    "An arm's overrides: a name of `ARMS`, or `sft_STEPS_LR` for continued CoT-SFT (e.g. sft_300_1e-4), or GRPO `g:field=value,...`."
    if name in ARMS: return ARMS[name]
    if name.startswith('sft_'):
        _, steps, lr = name.split('_')
        return dict(cont_steps=int(steps), cont_lr=float(lr))
    if name.startswith('g:'):
        from rft_nb.demo import DemoConfig, _coerce
        base = DemoConfig(); out = {}
        for kv in name[2:].split(','):
            k, _, v = kv.partition('=')
            out[k] = _coerce(getattr(base, k), v)
        return out
    raise SystemExit(f"demo_tune: unknown arm {name!r}; known: {', '.join(ARMS)}, sft_STEPS_LR, g:field=value,...")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def stage(fn, *a):
    "Run fn(*a); its result with wall and CPU seconds (this process only: one torch thread keeps them comparable)."
    w, c = time.time(), _cpu()
    r = fn(*a)
    return r, round(time.time() - w, 1), round(_cpu() - c, 1)


def evaluate_val(model, val, out, cfg) -> dict:
    from rft_nb.demo import evaluate_stage
    res = evaluate_stage(model, val, out, cfg, progress=False)
    return dict(acc=res['metrics']['counting']['val']['acc'], rewards=res['rewards'].get('val', {}), count_bias=res['count_bias'].get('val'))


def run_seed(seed: int, arms: list[str], out: Path, cfg0) -> None:
    from datasets import load_from_disk
    from rft_nb.demo import build_demo_data, demo_recipes, write_recipe
    from rft_nb.recipe import RFTGRPOConfig, RFTSFTConfig, parse_config
    from rft_nb.train import train_grpo, train_sft
    cfg = replace(cfg0, seed=seed)
    sd = out / f'seed{seed}'
    data = sd / 'data'
    if not (data / 'dataset_dict.json').is_file(): build_demo_data(cfg, data)
    val = load_from_disk(str(data))['val']
    done = {(r['seed'], r['arm']) for r in read(out)}
    if (seed, 'sft') not in done:
        sft_r, _ = demo_recipes(cfg, data, sd / 'sft')
        sft_r['disable_tqdm'] = True
        s, wall, cpu = stage(train_sft, parse_config(RFTSFTConfig, ['--config', str(write_recipe(sft_r, sd / 'sft' / 'cot_sft.yaml'))]))
        record(out, dict(seed=seed, arm='sft', settings={}, val=evaluate_val(sd / 'sft' / 'cot_sft', val, sd / 'sft' / 'eval', cfg),
                         wall=wall, cpu=cpu, steps=s['steps'], train_loss=s['train_loss']))
    for arm in arms:
        if (seed, arm) in done: continue
        kw = arm_settings(arm)
        ad = sd / arm.replace(':', '_').replace(',', '_').replace('=', '-')
        if 'cont_steps' in kw:
            sft_r, _ = demo_recipes(cfg, data, ad)
            sft_r.update(model_name_or_path=str(sd / 'sft' / 'cot_sft'), stage_part='rl', max_steps=kw['cont_steps'], learning_rate=kw['cont_lr'],
                         lr_scheduler_type='constant', warmup_steps=0, disable_tqdm=True, logging_steps=max(1, kw['cont_steps'] // 20))
            s, wall, cpu = stage(train_sft, parse_config(RFTSFTConfig, ['--config', str(write_recipe(sft_r, ad / 'cot_sft.yaml'))]))
            model = ad / 'cot_sft'
        else:
            acfg = replace(cfg, **kw, sft_from=str(sd / 'sft'))
            _, grpo_r = demo_recipes(acfg, data, ad)
            grpo_r['disable_tqdm'] = True
            s, wall, cpu = stage(train_grpo, parse_config(RFTGRPOConfig, ['--config', str(write_recipe(grpo_r, ad / 'grpo.yaml'))]))
            model = ad / 'grpo'
        record(out, dict(seed=seed, arm=arm, settings=kw, val=evaluate_val(model, val, ad / 'eval', cfg), wall=wall, cpu=cpu,
                         steps=s['steps'], train_loss=s.get('train_loss'), generated=s.get('generated')))


def read(out: Path) -> list[dict]:
    f = out / 'tune.jsonl'
    return [json.loads(l) for l in f.read_text().splitlines() if l.strip()] if f.is_file() else []


def record(out: Path, rec: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / 'tune.jsonl', 'a') as f: f.write(json.dumps(rec) + '\n')
    print(json.dumps(rec), flush=True)


def report(out: Path) -> str:
    recs = read(out)
    sft = {r['seed']: r['val']['acc'] for r in recs if r['arm'] == 'sft'}
    seeds = sorted(sft)
    arms = list(dict.fromkeys(r['arm'] for r in recs if r['arm'] != 'sft'))
    lines = [f"val accuracy % (in-domain validation, {len(seeds)} tuning seeds: {', '.join(map(str, seeds))}); gain = arm - CoT-SFT of the same seed", '',
             '| arm | settings | ' + ' | '.join(f'seed {s}' for s in seeds) + ' | mean gain | val count error | CPU s (mean) |',
             '|---|---|' + '---:|' * len(seeds) + '---:|---:|---:|',
             '| CoT-SFT | | ' + ' | '.join(f'{sft[s]:.1f}' for s in seeds) + ' | | | |']
    for a in arms:
        rs = {r['seed']: r for r in recs if r['arm'] == a}
        gains = [rs[s]['val']['acc'] - sft[s] for s in seeds if s in rs]
        cells = [f"{rs[s]['val']['acc']:.1f} ({rs[s]['val']['acc'] - sft[s]:+.1f})" if s in rs else '-' for s in seeds]
        bias = [rs[s]['val']['count_bias'] for s in seeds if s in rs and rs[s]['val']['count_bias'] is not None]
        st = ', '.join(f'{k}={v}' for k, v in next(iter(rs.values()))['settings'].items())
        lines.append(f"| {a} | {st} | " + ' | '.join(cells) + f" | {statistics.mean(gains):+.2f} | {statistics.mean(bias) if bias else float('nan'):+.2f} | "
                     f"{statistics.mean(r['cpu'] for r in rs.values()):.0f} |")
    return '\n'.join(lines)


def main(argv=None):
    p = argparse.ArgumentParser('demo_tune', description=__doc__.split('\n')[0])
    p.add_argument('--seed', type=int, help='tuning seed (one per process: run two processes for two seeds)')
    p.add_argument('--arms', nargs='*', default=[])
    p.add_argument('--out', default='outputs/tune')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--cfg', action='append', default=[], metavar='FIELD=VALUE', help='DemoConfig fields for every arm (e.g. the data size)')
    p.add_argument('--report', action='store_true')
    a = p.parse_args(argv)
    out = Path(a.out).resolve()
    if a.report or a.seed is None:
        print(report(out)); return
    import torch, transformers, datasets
    torch.set_num_threads(a.threads)
    transformers.logging.set_verbosity_error(); datasets.disable_progress_bars()
    from rft_nb.demo import config_from_args
    for arm in a.arms: arm_settings(arm)  # fail on a bad name before any work
    run_seed(a.seed, a.arms, out, config_from_args('demo', a.cfg))


if __name__ == '__main__':
    main()
