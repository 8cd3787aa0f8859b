"Dynamic sampling, the generation budget and the algorithm presets on a real TRL GRPOTrainer (tiny Qwen2-VL, CPU, in-process)."
import json
from pathlib import Path
import pytest, torch

from rft_nb.recipe import ALGORITHMS, RFTGRPOConfig, parse_config
from rft_nb.sampling import SamplingCallback, SamplingState, group_verdicts, grpo_trainer_class, take_rows
from rft_nb.engines import load_trl_model, suppress_vision_tokens
from rft_nb.train import train_grpo

G = 4

@pytest.fixture(scope='module')
def rows(tiny_path):
    "GRPO rows of 16 synthetic counting prompts, rendered for the tiny model."
    from rft_nb.families import ModelView, family_of
    from rft_nb.models import load_processor
    from rft_nb.rows import to_grpo_rows
    from rft_nb.schema import save_dataset, load_data
    from rft_nb.synthetic import counting_rows
    import tempfile
    d = Path(tempfile.mkdtemp()) / 'counting'
    save_dataset({'train': counting_rows(16, 'train', 0, 64)}, d)
    ds = load_data(d)['train']
    view = ModelView.of(family_of(tiny_path), load_processor(tiny_path))
    return to_grpo_rows(ds, system_prompt=False, view=view)

def make_trainer(tiny_path, rows, out, rewards, cls=None, callbacks=(), **kw):
    "A GRPO trainer of the project's class (TRL underneath), as `train_grpo` builds it, with Python reward functions."
    from rft_nb.models import patch_trl_for_cpu
    patch_trl_for_cpu()
    base = dict(output_dir=str(out), per_device_train_batch_size=8, num_generations=G, max_completion_length=6, temperature=1.0,
                max_steps=2, report_to=[], use_cpu=True, bf16=False, logging_steps=1, gradient_checkpointing=False, seed=0,
                learning_rate=1e-3, save_strategy='no', disable_tqdm=True)
    args = RFTGRPOConfig(**{**base, **kw})
    args.model_init_kwargs = None
    model, proc = load_trl_model(args, tiny_path)
    args.generation_kwargs = suppress_vision_tokens(proc, args.generation_kwargs)
    state = SamplingState()
    t = (cls or grpo_trainer_class())(model=model, reward_funcs=rewards, args=args, train_dataset=rows, processing_class=proc,
                                      callbacks=[SamplingCallback(state), *callbacks])
    t.sampling_state = state
    return t

def reward(fn, name):
    fn.__name__ = name
    return fn

def alternating(completions, **kw): return [float(j % 2) for j in range(len(completions))]   # every group has variance

def lines(out): return [json.loads(l) for l in (Path(out) / 'sampling.jsonl').read_text().splitlines()]

def test_all_equal_batch_is_refilled(tiny_path, rows, tmp_path):
    "The first round's groups all get the same reward: dropped, and the batch is refilled from further prompts whose groups vary."
    calls = []
    def first_easy(completions, id, **kw):
        calls.append(list(id))
        return [1.0] * len(completions) if len(calls) == 1 else alternating(completions)
    t = make_trainer(tiny_path, rows, tmp_path, [reward(first_easy, 'first_easy')], dynamic_sampling=True, max_steps=1)
    t.train()
    (rec,) = lines(tmp_path)
    assert rec['rounds'] == 2 and rec['zero_std'] == 2 and rec['dropped'] == 2 and rec['padded'] == 0
    assert rec['generated'] == 16 and rec['generated_total'] == 16 and rec['informative_trained'] == 2
    assert len(calls) == 2 and len(calls[1]) == 8                             # refill: the two missing groups, G completions each
    assert [d['why'] for d in rec['dropped_ids']] == ['zero_std', 'zero_std']
    assert {d['id'] for d in rec['dropped_ids']} == set(calls[0])              # the dropped groups are the first round's prompts
    logs = [h for h in t.state.log_history if 'sampling/rounds' in h]
    assert logs[0]['sampling/rounds'] == 2 and logs[0]['sampling/generated'] == 16 and logs[0]['sampling/effective_batch'] == 8

def test_cap_stops_an_all_easy_dataset(tiny_path, rows, tmp_path):
    "Every group of every prompt gets the same reward: at most `dynamic_sampling_max_rounds` rounds a step, then the batch is filled up."
    t = make_trainer(tiny_path, rows, tmp_path, [reward(lambda completions, **kw: [1.0] * len(completions), 'always_one')],
                     dynamic_sampling=True, dynamic_sampling_max_rounds=3, max_steps=2)
    t.train()
    recs = lines(tmp_path)
    assert t.state.global_step == 2 and len(recs) == 2
    for r in recs:
        assert r['rounds'] == 3 and r['generated'] == 3 * 8 and r['groups'] == 6 and r['zero_std'] == 6
        assert r['padded'] == 2 and r['dropped'] == 4 and r['informative_trained'] == 0
    assert recs[-1]['generated_total'] == 48

def test_logged_counts_add_up(tiny_path, rows, tmp_path):
    "With a reward that is sometimes constant in a group: groups = trained + surplus + dropped, generated = groups x G, totals accumulate."
    g = torch.Generator().manual_seed(1)
    def lumpy(completions, **kw):                                              # a group is all-equal about half the time
        out = []
        for _ in range(len(completions) // G):
            out += [1.0] * G if torch.rand(1, generator=g).item() < 0.5 else [float(torch.rand(1, generator=g) > 0.5) for _ in range(G)]
        return out
    t = make_trainer(tiny_path, rows, tmp_path, [reward(lumpy, 'lumpy')], dynamic_sampling=True, dynamic_sampling_max_rounds=4,
                     max_steps=4, dynamic_sampling_oversample=2.0)
    t.train()
    recs = lines(tmp_path)
    total = 0
    for r in recs:
        total += r['generated']
        assert r['groups'] == r['trained_groups'] + r['surplus'] + r['dropped']
        assert r['generated'] == r['groups'] * G and r['trained_groups'] == 2
        assert r['generated_total'] == total and len(r['dropped_ids']) == r['dropped']
    assert any(r['rounds'] > 1 for r in recs)
    logged = [h['sampling/generated'] for h in t.state.log_history if 'sampling/generated' in h]
    assert logged == [r['generated'] for r in recs]

def test_without_dynamic_sampling_the_batch_is_trls(tiny_path, rows, tmp_path):
    "Off, nothing is dropped or regenerated: one round, TRL's batch as returned; the health metrics are logged all the same."
    t = make_trainer(tiny_path, rows, tmp_path, [reward(lambda completions, **kw: [1.0] * len(completions), 'always_one')], max_steps=2)
    t.train()
    recs = lines(tmp_path)
    assert [(r['rounds'], r['generated'], r['dropped'], r['padded'], r['zero_std']) for r in recs] == [(1, 8, 0, 0, 2)] * 2
    h = [x for x in t.state.log_history if 'frac_reward_zero_std' in x]
    assert h and all(x['frac_reward_zero_std'] == 1.0 and x['sampling/effective_batch'] == 0 for x in h)

def test_joined_batch_is_aligned(tiny_path, rows, tmp_path):
    "The model's log-probabilities of a batch joined from two rounds equal the ones TRL stored for each row when it generated it."
    calls = []
    def first_easy(completions, **kw):
        calls.append(1)
        return [1.0] * len(completions) if len(calls) == 1 else alternating(completions)
    t = make_trainer(tiny_path, rows, tmp_path, [reward(first_easy, 'first_easy')], dynamic_sampling=True, steps_per_generation=2,
                     per_device_train_batch_size=4)   # generation batch 8 (2 groups), old log-probs stored per round
    t.model.train()
    batch = [rows[i] for i in (0, 1) for _ in range(G)]
    out = t._generate_and_score_completions(batch)
    assert len(calls) == 2 and out['prompt_ids'].shape[0] == 8
    ids = torch.cat([out['prompt_ids'], out['completion_ids']], dim=1)
    mask = torch.cat([out['prompt_mask'], out['completion_mask']], dim=1)
    with torch.no_grad():
        logps, _, _ = t._get_per_token_logps_and_entropies(t.model, ids, mask, out['completion_ids'].shape[1], batch_size=8,
                                                           num_images=out['num_images'], pixel_values=out['pixel_values'],
                                                           image_grid_thw=out['image_grid_thw'], mm_token_type_ids=out['mm_token_type_ids'])
    m = out['completion_mask'].bool()
    assert torch.allclose(logps[m], out['old_per_token_logps'][m], atol=1e-4)
    assert out['num_items_in_batch'] == out['completion_mask'].sum()
    assert (out['advantages'].view(-1, G).std(dim=1) > 0).all()               # only groups that teach something

def test_generation_budget_stops_training(tiny_path, rows, tmp_path):
    "The run never generates more than the budget: with dynamic sampling it stops after fewer steps than max_steps."
    t = make_trainer(tiny_path, rows, tmp_path, [reward(lambda completions, **kw: [1.0] * len(completions), 'always_one')],
                     dynamic_sampling=True, dynamic_sampling_max_rounds=2, max_steps=10, generation_budget=40)
    t.train()
    recs = lines(tmp_path)
    # two steps of two rounds (32); the third step's first round fits (40), its refill would not: it trains on what it has
    assert [(r['rounds'], r['generated_total']) for r in recs] == [(2, 16), (2, 32), (1, 40)]
    assert t.state.global_step == 3 and recs[-1]['padded'] == 2

@pytest.mark.parametrize('name', list(ALGORITHMS))
def test_every_preset_trains_a_step(name, env_settings, tmp_path):
    "Each algorithm preset is accepted by TRL's trainer and trains (one generation batch on the tiny model)."
    args = parse_config(RFTGRPOConfig, ['--algorithm', name, '--dataset_path', str(env_settings / 'data' / 'counting'),
                                        '--output_dir', str(tmp_path / name), '--max_steps', '1', '--per_device_train_batch_size', '4',
                                        '--num_generations', '4', '--max_completion_length', '6', '--report_to', 'none',
                                        '--gradient_checkpointing', 'false', '--reward_funcs', 'format', 'counting', '--save_strategy', 'no',
                                        '--rollout_log_steps', '0'])
    for k, (v, _) in ALGORITHMS[name].items(): assert getattr(args, k) == v, k
    s = train_grpo(args)
    assert s['steps'] >= 1 and s['generated'] >= 4 and torch.isfinite(torch.tensor(s['train_loss']))

@pytest.fixture(scope='module')
def env_settings(cache_dir, tmp_path_factory, monkeypatch_module):
    "Settings pointing at temporary folders, with a small counting dataset."
    from rft_nb.synthetic import build_synthetic
    root = tmp_path_factory.mktemp('presets')
    st = root / 'settings.ini'
    st.write_text(f"[paths]\ncache_dir = {cache_dir}\noutput_dir = {root / 'outputs'}\ndata_dir = {root / 'data'}\n[model]\nbase_model = tiny-qwen2-vl\n")
    build_synthetic('counting', root / 'data' / 'counting', n_train=16, n_test=4, size=64)
    monkeypatch_module.setenv('RFT_NB_SETTINGS', str(st))
    return root

@pytest.fixture(scope='module')
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()

def test_difficulty_band_in_a_recipe(env_settings, tmp_path):
    "`difficulty_file` keeps the prompts strictly inside the band; a file that misses training rows is an error."
    from datasets import load_from_disk
    ids = load_from_disk(str(env_settings / 'data' / 'counting'))['train']['id']
    f = tmp_path / 'difficulty.jsonl'
    f.write_text(''.join(json.dumps(dict(id=i, pass_rate=[0.0, 0.5, 1.0, 0.25][k % 4])) + '\n' for k, i in enumerate(ids)))
    argv = ['--dataset_path', str(env_settings / 'data' / 'counting'), '--output_dir', str(tmp_path / 'run'), '--max_steps', '1',
            '--per_device_train_batch_size', '4', '--num_generations', '4', '--max_completion_length', '4', '--report_to', 'none',
            '--gradient_checkpointing', 'false', '--save_strategy', 'no', '--difficulty_file', str(f)]
    s = train_grpo(parse_config(RFTGRPOConfig, argv))
    assert s['train_prompts'] == len(ids) // 2                                  # pass rates 0.5 and 0.25 kept, 0 and 1 dropped
    f.write_text(''.join(json.dumps(dict(id=i, pass_rate=0.5)) + '\n' for i in ids[:3]))
    from rft_nb.recipe import ConfigError
    with pytest.raises(ConfigError, match='no pass rate'): train_grpo(parse_config(RFTGRPOConfig, argv))

# Issue 29: the budget with gradient accumulation, rollout logs with several steps per generation, advantages and
# metrics of a joined batch, reference log-probs of padding, resuming.

def logged(t, key): return [h[key] for h in t.state.log_history if key in h]

def test_budget_counts_every_generation_of_a_step(tiny_path, rows, tmp_path):
    "Gradient accumulation 2 over one step per generation: two generations per optimizer step, both inside the budget."
    t = make_trainer(tiny_path, rows, tmp_path, [reward(alternating, 'alt')], dynamic_sampling=True, per_device_train_batch_size=4,
                     steps_per_generation=1, gradient_accumulation_steps=2, generation_budget=12, max_steps=10)
    t.train()
    totals = [r['generated_total'] for r in lines(tmp_path)]
    assert totals == [4, 8] and t.state.global_step == 1     # a second step would generate 16 > 12: it never starts
    assert logged(t, 'sampling/generated') == [8]            # completions generated in the optimizer step, both generations

def test_rollouts_recorded_when_a_generation_serves_several_steps(tiny_path, rows, tmp_path):
    "steps_per_generation 2, rollout_log_steps 2: generations at steps 1 and 3 serve steps 1-2 and 3-4, so both are recorded."
    from rft_nb.rollouts import RolloutRecorder
    rec = RolloutRecorder(tmp_path / 'rollouts.jsonl', 2, thumb=0)
    t = make_trainer(tiny_path, rows, tmp_path, rec.wrap([reward(alternating, 'alt')]), callbacks=[rec], per_device_train_batch_size=4,
                     steps_per_generation=2, max_steps=4)
    t.rollout_recorder = rec
    t.train()
    got = [json.loads(l) for l in (tmp_path / 'rollouts.jsonl').read_text().splitlines()]
    assert [r['step'] for r in got] == [1] * 8 + [3] * 8      # the step each generation happened at, its 8 completions
    assert all(r['group'] == 'keep' and r['rewards']['alt'] in (0.0, 1.0) for r in got)

def trl_advantages(r, scale, aggregation):
    "TRL 1.15's advantages of one reward function's values `r` (grpo_trainer.py `_generate_and_score_completions`), written out."
    g = r.view(-1, G)
    if aggregation == 'normalize_then_sum':
        r = ((g - g.mean(1, keepdim=True)) / (g.std(1, keepdim=True) + 1e-4)).view(-1)
        return (r - r.mean()) / (r.std() + 1e-4)
    std = r.std().expand_as(r) if scale == 'batch' else g.std(1).repeat_interleave(G)
    return (r - g.mean(1).repeat_interleave(G)) / (std + 1e-4)

@pytest.mark.parametrize('scale,aggregation', [('batch', 'sum_then_normalize'), ('group', 'normalize_then_sum')])
def test_joined_batch_normalised_as_one(scale, aggregation, tiny_path, rows, tmp_path):
    "Batch-level normalisation sees the trained batch, not each round: [0,1,0,1] twice gets +-0.935 (not 1.080 and 0.866)."
    calls = []
    def first_half_easy(completions, **kw):
        calls.append(1)
        return ([1.0] * G + alternating(completions)[G:]) if len(calls) == 1 else alternating(completions)
    t = make_trainer(tiny_path, rows, tmp_path, [reward(first_half_easy, 'r')], dynamic_sampling=True, steps_per_generation=2,
                     per_device_train_batch_size=4, scale_rewards=scale, multi_objective_aggregation=aggregation)
    t.model.train()
    out = t._generate_and_score_completions([rows[i] for i in (0, 1) for _ in range(G)])
    assert len(calls) == 2                                     # group 0 dropped, one refill group
    want = trl_advantages(torch.tensor([0.0, 1.0] * 4), scale, aggregation)
    assert torch.allclose(out['advantages'], want, atol=1e-6), (out['advantages'], want)
    if scale == 'batch': assert abs(want[1].item() - 0.935) < 1e-3

def test_logged_rewards_are_the_trained_batch(tiny_path, rows, tmp_path):
    "TRL's reward metrics describe the batch trained on (not the average of every round); totals are set once per log."
    calls = []
    def first_easy(completions, **kw):
        calls.append(1)
        return [1.0] * len(completions) if len(calls) % 2 else alternating(completions)
    t = make_trainer(tiny_path, rows, tmp_path, [reward(first_easy, 'first_easy')], dynamic_sampling=True, max_steps=2, logging_steps=2)
    t.train()
    (h,) = [x for x in t.state.log_history if 'reward' in x]
    assert h['reward'] == 0.5 and h['rewards/first_easy/mean'] == 0.5 and h['frac_reward_zero_std'] == 0.0
    assert abs(h['reward_std'] - torch.tensor([0.0, 1.0] * 4).std().item()) < 1e-6
    assert h['sampling/generated_total'] == 32 and h['sampling/generated'] == 16   # the total at the log, per-step mean

def test_padded_reference_logps_keep_the_kl_finite():
    "Rows joined from rounds of different completion lengths: TRL's KL term stays finite at the padding, whatever the policy's log-prob."
    def out(C, seed):
        g = torch.Generator().manual_seed(seed)
        return dict(prompt_ids=torch.ones(4, 3, dtype=torch.long), prompt_mask=torch.ones(4, 3, dtype=torch.long),
                    completion_ids=torch.ones(4, C, dtype=torch.long), completion_mask=torch.ones(4, C, dtype=torch.long),
                    advantages=torch.zeros(4), num_items_in_batch=torch.tensor(4 * C),
                    ref_per_token_logps=-torch.rand(4, C, generator=g))
    m = take_rows([out(2, 0), out(5, 1)], [[0, 1], [2, 3]], pad_token_id=0)
    ref, mask = m['ref_per_token_logps'], m['completion_mask']
    for logp in (-1.0, -100.0, -1000.0):
        policy = torch.where(mask.bool(), ref, torch.full_like(ref, logp))   # the tokens near the reference, the padding anything
        kl = torch.exp(ref - policy) - (ref - policy) - 1    # grpo_trainer.py `_compute_loss`, beta != 0
        assert torch.isfinite((kl * mask).sum()), logp

def test_resume_past_a_save_mark_does_not_save(tiny_path, rows, tmp_path):
    "Resumed with 40 generated and a mark every 32: the next batch (48) passes no new mark, so nothing is saved."
    t = make_trainer(tiny_path, rows, tmp_path, [reward(alternating, 'alt')], save_generated_every=32, max_steps=1)
    t.sampling_state.generated = 40                          # what `train_grpo` restores from sampling.jsonl
    t.train()
    assert lines(tmp_path)[-1]['generated_total'] == 48 and not list(tmp_path.glob('checkpoint-*'))

def test_resume_a_run_the_budget_stopped(env_settings, tmp_path):
    "A run stopped by its generation budget, resumed: nothing more is generated."
    argv = ['--dataset_path', str(env_settings / 'data' / 'counting'), '--output_dir', str(tmp_path / 'run'), '--max_steps', '10',
            '--per_device_train_batch_size', '4', '--num_generations', '4', '--max_completion_length', '4', '--report_to', 'none',
            '--gradient_checkpointing', 'false', '--save_steps', '1', '--rollout_log_steps', '0', '--generation_budget', '8']
    s = train_grpo(parse_config(RFTGRPOConfig, argv))
    assert s['steps'] == 2 and s['generated'] == 8
    s = train_grpo(parse_config(RFTGRPOConfig, argv + ['--resume_from_checkpoint', 'true']))
    assert s['steps'] == 2 and s['generated'] == 8
    assert [r['generated_total'] for r in lines(tmp_path / 'run')] == [4, 8]

@pytest.mark.slow   # about a minute on two idle cores (two launches of Python + TRL)
def test_two_processes(cache_dir, tiny_path, tmp_path):
    """Dynamic sampling on two processes (gloo, as tests/test_train.py launches them): both generate the same rounds, the
    counts add up over both, batch-wide advantages are normalised over both processes' trained rows, and the rollout log
    holds every completion of both processes for generations that serve a logged step."""
    import subprocess, sys
    from conftest import ROOT, counting_env
    e = counting_env(cache_dir, tmp_path)
    acc = [sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
           '--mixed_precision', 'no', '--dynamo_backend', 'no', '--main_process_port', '29541', '-m', 'rft_nb.train', 'grpo']
    args = ['--dataset_path', 'counting', '--output_dir', 'ds2', '--max_steps', '4', '--save_strategy', 'no', '--logging_steps', '1',
            '--per_device_train_batch_size', '4', '--steps_per_generation', '2', '--num_generations', '4', '--max_completion_length', '4',
            '--temperature', '1.0', '--reward_funcs', 'format', 'length', '--dynamic_sampling', 'true',
            '--dynamic_sampling_max_rounds', '3', '--dynamic_sampling_metric', 'length',
            '--dynamic_sampling_min_reward', '0.99', '--scale_rewards', 'batch', '--rollout_log_steps', '2', '--generation_budget', '96',
            '--report_to', 'none', '--gradient_checkpointing', 'false', '--seed', '0']
    p = subprocess.run(acc + args, env=e, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-5000:]
    out = tmp_path / 'outputs' / 'ds2'
    recs = lines(out)
    assert [r['step'] for r in recs] == [1, 3]                      # one generation per two steps
    for r in recs:   # 4-token completions are short of length's 20 characters: every group 'too_hard', three rounds, filled up
        assert r['trained_groups'] == 4 and r['groups'] == r['trained_groups'] + r['surplus'] + r['dropped']
        assert r['generated'] == 4 * r['groups'] and r['rounds'] == 3 and r['zero_std'] + r['too_hard'] == 12 and r['padded'] == 4
    assert recs[-1]['generated_total'] == sum(r['generated'] for r in recs) == 96     # the budget, spent exactly
    rows = [json.loads(l) for l in (out / 'rollouts.jsonl').read_text().splitlines()]
    for r in recs:                                                  # steps 2 and 4 are logged: both generations, both processes
        assert sum(x['step'] == r['step'] for x in rows) == r['generated']
    state = json.loads((out / 'trainer_state.json').read_text())
    logs = [h for h in state['log_history'] if 'loss' in h]
    assert len(logs) == 4 and all(torch.isfinite(torch.tensor(float(h['loss']))) for h in logs)
    assert [h['sampling/generated_total'] for h in logs] == [recs[0]['generated_total']] * 2 + [recs[1]['generated_total']] * 2
    assert [h['sampling/generated'] for h in logs] == [recs[0]['generated'], 0, recs[1]['generated'], 0]
    assert all(0 <= h['frac_reward_zero_std'] <= 1 for h in logs[::2])     # TRL's reward metrics on generation steps
