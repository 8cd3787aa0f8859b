"Training through the console scripts on CPU with the tiny model: SFT then GRPO, resume, errors, multi-process."
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from conftest import counting_env

ROOT = Path(__file__).resolve().parents[1]

def run(cmd, env, timeout=300, check=True):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and p.returncode != 0: raise AssertionError(f"{cmd} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}")
    return p

def script(name): return [sys.executable, '-c', f'import sys; from rft_nb.train import {name}; sys.argv[0] = "x"; {name}()']

@pytest.fixture(scope='module')
def env(cache_dir, tmp_path_factory):
    "Settings pointing at temporary folders, and a small synthetic counting dataset."
    root = tmp_path_factory.mktemp('train')
    return counting_env(cache_dir, root), root

COMMON = ['--logging_steps', '1', '--report_to', 'none', '--gradient_checkpointing', 'false', '--seed', '0']
GRPO = ['--per_device_train_batch_size', '4', '--num_generations', '4', '--max_completion_length', '6', '--temperature', '1.0',
        '--reward_funcs', 'format', 'counting', 'length', '--rollout_log_steps', '1']

def lora_b_norm(path):
    from safetensors.torch import load_file
    sd = load_file(str(Path(path) / 'adapter_model.safetensors'))
    return sum(float(v.abs().sum()) for k, v in sd.items() if 'lora_B' in k)

@pytest.fixture(scope='module')
def sft_run(env):
    e, root = env
    run(script('sft_main') + ['--dataset_path', 'counting', '--output_dir', 'sft', '--max_steps', '4', '--save_steps', '2',
                              '--per_device_train_batch_size', '2', '--learning_rate', '5e-3', '--merge_adapter', 'true'] + COMMON, e)
    return root / 'outputs' / 'sft'

def test_sft_outputs(sft_run):
    out = sft_run
    for f in ['adapter_model.safetensors', 'adapter_config.json', 'processor_config.json', 'tokenizer.json', 'merged/config.json', 'checkpoint-2', 'checkpoint-4']:
        assert (out / f).exists(), f
    state = json.loads((out / 'checkpoint-4' / 'trainer_state.json').read_text())
    losses = [l['loss'] for l in state['log_history'] if 'loss' in l]
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(float(l))) for l in losses)
    assert lora_b_norm(out) > 0                       # LoRA B starts at zero: training moved it
    from rft_nb.models import load_model
    m1, p1 = load_model(out)                          # the adapter folder reloads on its base
    m2, p2 = load_model(out / 'merged')               # and the merged weights as a plain checkpoint
    assert p1.image_processor is not None and p2.image_processor is not None
    from PIL import Image
    msgs = [{'role': 'user', 'content': [{'type': 'image'}, {'type': 'text', 'text': 'How many?'}]}]
    text = p2.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    x = p2(text=[text], images=[Image.new('RGB', (112, 112), 'white')], return_tensors='pt')
    with torch.no_grad():
        a, b = m1(**x).logits, m2(**x).logits
    assert torch.allclose(a, b, atol=1e-4)           # merged == base + adapter

def test_grpo_after_sft(env, sft_run):
    e, root = env
    p = run(script('grpo_main') + ['--model_name_or_path', str(sft_run / 'merged'), '--dataset_path', 'counting', '--output_dir', 'grpo',
                                   '--max_steps', '3', '--save_steps', '3', '--learning_rate', '5e-3'] + GRPO + COMMON, e)
    out = root / 'outputs' / 'grpo'
    summary = json.loads(p.stdout[p.stdout.rindex('{\n "backend"'):])
    assert summary['steps'] == 3 and summary['backend'] == 'trl'
    state = json.loads((out / 'checkpoint-3' / 'trainer_state.json').read_text())
    logs = state['log_history']
    for name in ['format', 'counting', 'length']:
        assert any(f'rewards/{name}/mean' in l for l in logs), name
    assert all(torch.isfinite(torch.tensor(float(l['loss']))) for l in logs if 'loss' in l)
    assert lora_b_norm(out) > 0
    rows = [json.loads(l) for l in (out / 'rollouts.jsonl').read_text().splitlines()]
    assert len(rows) >= 3 * 4 and {'step', 'id', 'prompt', 'completion', 'rewards'} <= set(rows[0])
    assert set(rows[0]['rewards']) == {'format', 'counting', 'length'}
    assert rows[0]['id'].startswith('counting-train')

def test_resume_after_kill(env):
    "Kill a run after its first checkpoint; resuming reaches the planned steps with the step counter and optimizer continuing."
    e, root = env
    out = root / 'outputs' / 'resume'
    args = script('grpo_main') + ['--dataset_path', 'counting', '--output_dir', 'resume', '--max_steps', '16', '--save_steps', '2',
                                  '--learning_rate', '1e-3'] + GRPO + COMMON
    proc = subprocess.Popen(args, env=e, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    while not (out / 'checkpoint-2' / 'trainer_state.json').exists():
        assert proc.poll() is None, 'run ended before its first checkpoint'
        assert time.time() - t0 < 240, 'no checkpoint in time'
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL); proc.wait()
    done = sorted(int(p.name.split('-')[1]) for p in out.glob('checkpoint-*') if (p / 'trainer_state.json').exists())
    assert done and done[-1] < 16, f'run was not interrupted ({done})'
    run(args + ['--resume_from_checkpoint', 'true'], e)
    state = json.loads((out / 'checkpoint-16' / 'trainer_state.json').read_text())
    assert state['global_step'] == 16
    steps = [l['step'] for l in state['log_history'] if 'loss' in l]
    assert steps == sorted(set(steps)) and steps[-1] == 16 and len(steps) == 16   # every step once, none repeated
    opt = torch.load(out / 'checkpoint-16' / 'optimizer.pt', weights_only=False)
    assert {int(s['step']) for s in opt['state'].values()} == {16}   # Adam's counter continued from the checkpoint

@pytest.mark.parametrize('extra,msg', [
    (['--reward_funcs', 'nope'], 'known'),
    (['--backend', 'unsloth'], 'cannot run here'),
    (['--load_in_4bit', 'true'], 'needs a CUDA GPU'),
    (['--generation_engine', 'trl_vllm'], 'cannot run: no CUDA GPU'),
    (['--model_name_or_path', 'missing-model'], 'not found'),
    (['--dataset_path', 'no/such/data'], 'no/such/data'),
    (['--generation_budget', '2'], 'generation_budget (2) is smaller than one optimizer step'),
])
def test_bad_input_fails_before_training(env, extra, msg):
    e, root = env
    p = run(script('grpo_main') + ['--dataset_path', 'counting', '--output_dir', 'bad', '--max_steps', '1'] + GRPO + COMMON + extra, e, check=False)
    assert p.returncode == 2, p.stderr[-2000:]
    assert msg in p.stderr and 'Traceback' not in p.stderr, p.stderr[-2000:]
    assert not (root / 'outputs' / 'bad' / 'checkpoint-1').exists()

def test_missing_reward_columns(env, tmp_path):
    e, root = env
    from rft_nb.schema import load_data
    ds = load_data(root / 'data' / 'counting')['train'].remove_columns(['solution'])
    ds.save_to_disk(str(tmp_path / 'nosol'))
    p = run(script('grpo_main') + ['--dataset_path', str(tmp_path / 'nosol'), '--output_dir', 'bad2', '--max_steps', '1'] + GRPO + COMMON, e, check=False)
    assert p.returncode == 2 and 'lacks columns' in p.stderr and 'solution' in p.stderr, p.stderr[-2000:]

def test_model_without_image_processor(env, tmp_path, tiny_path):
    import shutil
    e, root = env
    ck = tmp_path / 'noimg'; shutil.copytree(tiny_path, ck); (ck / 'processor_config.json').unlink()
    p = run(script('grpo_main') + ['--model_name_or_path', str(ck), '--dataset_path', 'counting', '--output_dir', 'bad3', '--max_steps', '1'] + GRPO + COMMON, e, check=False)
    assert p.returncode == 2 and 'image processor' in p.stderr, p.stderr[-2000:]

def test_unknown_recipe_key(env, tmp_path):
    e, root = env
    r = tmp_path / 'r.yaml'; r.write_text('dataset_path: counting\nlearnig_rate: 0.1\n')
    p = run(script('sft_main') + ['--config', str(r), '--output_dir', 'bad4'], e, check=False)
    assert p.returncode == 2 and 'learnig_rate' in p.stderr and 'learning_rate' in p.stderr, p.stderr[-2000:]

def test_every_recipe_parses():
    "Every paper recipe names only real fields (checked with the same parser the scripts use)."
    from rft_nb.recipe import parse_config, RFTSFTConfig, RFTGRPOConfig
    recipes = sorted((ROOT / 'recipes').glob('qwen*/**/*.yaml'))
    assert len(recipes) >= 100
    for r in recipes:
        cls = RFTGRPOConfig if ('rft' in r.stem and 'sft' not in r.stem) or r.stem == 'reason_rft_zero' else RFTSFTConfig
        args = parse_config(cls, ['--config', str(r)])
        assert args.dataset_path and args.output_dir
        if cls is RFTGRPOConfig: assert args.reward_funcs and args.num_generations in (4, 8)

@pytest.mark.slow
def test_accelerate_two_cpu_processes(env, sft_run):
    """accelerate launch with 2 processes runs SFT and GRPO for real (the multi-process path).
    On a CPU, accelerate's `--cpu` multi-process launcher needs MPI; `--multi_gpu` with no GPU runs torchrun
    with the gloo backend, which is the same DDP code path the GPU runs take."""
    e, root = env
    acc = [sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
           '--mixed_precision', 'no', '--dynamo_backend', 'no', '--main_process_port', '29533', '-m']
    run(acc + ['rft_nb.train', 'sft', '--dataset_path', 'counting', '--output_dir', 'ddp_sft', '--max_steps', '2',
               '--per_device_train_batch_size', '2', '--save_steps', '2'] + COMMON, e, timeout=600)
    st = json.loads((root / 'outputs' / 'ddp_sft' / 'checkpoint-2' / 'trainer_state.json').read_text())
    assert st['global_step'] == 2 and all(torch.isfinite(torch.tensor(float(l['loss']))) for l in st['log_history'] if 'loss' in l)
    assert abs(st['epoch'] - 2 * 2 * 2 / 24) < 1e-6        # 2 steps x 2 rows x 2 processes of 24 rows
    run(acc + ['rft_nb.train', 'grpo', '--dataset_path', 'counting', '--output_dir', 'ddp_grpo', '--max_steps', '2', '--save_steps', '2',
               '--per_device_train_batch_size', '2', '--num_generations', '4', '--max_completion_length', '8',
               '--reward_funcs', 'format', 'repetition_penalty'] + COMMON, e, timeout=600)
    st = json.loads((root / 'outputs' / 'ddp_grpo' / 'checkpoint-2' / 'trainer_state.json').read_text())
    assert st['global_step'] == 2 and any('rewards/format/mean' in l for l in st['log_history'])
    watched = [l for l in st['log_history'] if 'hack/no_answer' in l]          # the hack watch (default warn) on both processes
    assert len(watched) == 2 and all(0.0 <= l['hack/repeated_ngrams'] <= 1.0 for l in watched)
    # (one process would have refused: 2 rows per device cannot hold a group of 4 generations)
    # dynamic sampling on two processes: each holds whole groups, both generate the same rounds, the counts add up over both
    run(acc + ['rft_nb.train', 'grpo', '--dataset_path', 'counting', '--output_dir', 'ddp_ds', '--max_steps', '2', '--save_strategy', 'no',
               '--per_device_train_batch_size', '4', '--num_generations', '4', '--max_completion_length', '8', '--temperature', '1.0',
               '--reward_funcs', 'format', 'repetition_penalty', '--dynamic_sampling', 'true', '--dynamic_sampling_max_rounds', '2'] + COMMON,
        e, timeout=600)
    recs = [json.loads(l) for l in (root / 'outputs' / 'ddp_ds' / 'sampling.jsonl').read_text().splitlines()]
    assert len(recs) == 2 and all(r['trained_groups'] == 2 and r['groups'] == r['trained_groups'] + r['surplus'] + r['dropped']
                                  and r['generated'] == 4 * r['groups'] and r['rounds'] in (1, 2) for r in recs)

# test_what_unsloth_and_vllm_would_get: in tests/test_gpu_stack.py, against the pinned Unsloth's real gate and signatures

@pytest.mark.gpu
def test_unsloth_qlora_grpo_on_gpu(env):
    """GPU box only (pytest -m gpu): the Unsloth backend with 4-bit QLoRA, two GRPO steps on the tiny Qwen2-VL; rollouts by
    `generate`, since Unsloth refuses fast_inference for qwen2_vl (tests/test_gpu_stack.py checks that gate)."""
    pytest.importorskip('unsloth')
    e, root = env
    p = run(script('grpo_main') + ['--backend', 'unsloth', '--load_in_4bit', 'true', '--dataset_path', 'counting', '--output_dir', 'unsloth',
                                   '--max_steps', '2', '--save_steps', '2', '--bf16', 'true'] + GRPO + COMMON, e, timeout=1200)
    summary = json.loads(p.stdout[p.stdout.rindex('{\n "backend"'):])
    assert summary['backend'] == 'unsloth' and summary['generation_engine'] == 'transformers'
    st = json.loads((root / 'outputs' / 'unsloth' / 'checkpoint-2' / 'trainer_state.json').read_text())
    assert st['global_step'] == 2 and any('rewards/counting/mean' in l for l in st['log_history'])
