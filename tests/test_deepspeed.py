"""DeepSpeed for real on CPU: the 8gpu_full recipes and their accelerate configs (ZeRO-2, ZeRO-3, ZeRO-3 with CPU
offload) run end to end through the scripts under scripts/train/ that a GPU box uses, with two processes on CPU
cores (NUM_GPUS=2 and the CPU switch RFT_NB_CPU=1; gloo and DeepSpeed's CPU accelerator). Full fine-tuning of the
tiny Qwen2-VL: SFT, resuming from a DeepSpeed checkpoint, GRPO from the SFT weights, a consolidated save that
`from_pretrained` loads at full shape, and one run over two "machines" (two launches on 127.0.0.1).

DeepSpeed compiles two small C++ ops on first use (shm comm, then cpu_adam for the offload run); they are cached in
$TORCH_EXTENSIONS_DIR (default .cache/torch_extensions), so only the first run pays."""
import json, os, subprocess, sys, time
from pathlib import Path
import pytest, torch
from conftest import counting_env

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip('deepspeed')
pytestmark = pytest.mark.slow

TINY = ['--model_name_or_path', 'tiny-qwen2-vl', '--dataset_path', 'counting', '--report_to', 'none', '--logging_steps', '1',
        '--per_device_train_batch_size', '2', '--gradient_accumulation_steps', '1', '--learning_rate', '1e-3', '--warmup_steps', '0']
GRPO = ['--num_generations', '4', '--max_completion_length', '4', '--rollout_log_steps', '1',
        '--reward_funcs', 'format', 'counting', 'length']   # 4 tokens: under length's 20 characters, so its reward varies within a group (a real update)
TIMES = {}

@pytest.fixture(scope='module', autouse=True)
def report_times():
    "The wall time of every launch, printed after the module (pytest -s shows it)."
    yield
    print('\nDeepSpeed launch times (s):', json.dumps(TIMES))

@pytest.fixture(scope='module')
def env(cache_dir, tiny_path, tmp_path_factory):
    "Settings pointing at temporary folders, the tiny model built, a small counting dataset; two CPU processes."
    root = tmp_path_factory.mktemp('ds')
    e = counting_env(cache_dir, root, NUM_GPUS='2', RFT_NB_CPU='1',
                     PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                     TORCH_EXTENSIONS_DIR=os.environ.get('TORCH_EXTENSIONS_DIR', str(ROOT / '.cache' / 'torch_extensions')))
    return e, root

def launch(script, args, env, timeout, **extra):
    "Run `scripts/train/<script>` with `args`; fail with the log tail; record the wall time."
    t0 = time.time()
    p = subprocess.run(['bash', str(ROOT / 'scripts' / 'train' / script), *args], env=dict(env, **extra), cwd=ROOT,
                       capture_output=True, text=True, timeout=timeout)
    TIMES.setdefault(script, []).append(round(time.time() - t0, 1))
    if p.returncode != 0: raise AssertionError(f"{script} {' '.join(args)} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-6000:]}")
    return p

def state(out, step): return json.loads((out / f'checkpoint-{step}' / 'trainer_state.json').read_text())

def losses(st): return {l['step']: l['loss'] for l in st['log_history'] if 'loss' in l}

def loads_at_full_shape(out, base, start=None):
    "The consolidated save in `out` loads with from_pretrained, every tensor at the base model's shape and moved from `start`."
    from transformers import AutoModelForImageTextToText
    load = lambda p: AutoModelForImageTextToText.from_pretrained(p).state_dict()
    ms, bs = load(out), load(base)
    assert set(ms) == set(bs)
    bad = {k: (tuple(ms[k].shape), tuple(bs[k].shape)) for k in bs if ms[k].shape != bs[k].shape}
    assert not bad, bad                        # ZeRO-3 shards would be 0-sized or flat here
    ss = load(start) if start else bs
    moved = [k for k in ss if not torch.equal(ms[k], ss[k])]
    assert any('language_model' in k for k in moved), 'training changed no language-model weight'
    

def test_zero3_sft_resume_then_grpo(env, tiny_path):
    "ZeRO-3 (the multi-GPU default): stage-1 CoT-SFT 2 steps, resumed to 4 from its DeepSpeed checkpoint; stage-2 GRPO from it."
    e, root = env
    out = root / 'outputs' / 'z3_sft'
    args = ['qwen2vl_2b', 'counting', '8gpu_full', *TINY, '--output_dir', str(out), '--save_steps', '2', '--stage_sft_fraction', '0.5']
    launch('reason_rft/stage1.sh', args + ['--max_steps', '2'], e, 900, MAIN_PROCESS_PORT='29611')
    first = state(out, 2)
    assert (out / 'checkpoint-2' / 'global_step2').is_dir()     # a DeepSpeed checkpoint: per-rank ZeRO shards
    assert len(list((out / 'checkpoint-2' / 'global_step2').glob('*optim_states.pt'))) == 2
    launch('reason_rft/stage1.sh', args + ['--max_steps', '4', '--resume_from_checkpoint', 'true'], e, 900, MAIN_PROCESS_PORT='29612')
    st = state(out, 4)
    assert st['global_step'] == 4 and sorted(losses(st)) == [1, 2, 3, 4]
    assert losses(st)[1] == losses(first)[1] and losses(st)[2] == losses(first)[2]   # steps 1-2 come from the checkpoint
    assert all(torch.isfinite(torch.tensor(v)) for v in losses(st).values())
    loads_at_full_shape(out, tiny_path)
    g = root / 'outputs' / 'z3_grpo'
    launch('reason_rft/stage2.sh', ['qwen2vl_2b', 'counting', '8gpu_full', *TINY, *GRPO, '--model_name_or_path', str(out),
                                    '--output_dir', str(g), '--max_steps', '2', '--save_steps', '2', '--stage_sft_fraction', '0.5'],
           e, 900, MAIN_PROCESS_PORT='29613')
    st = state(g, 2)
    assert st['global_step'] == 2 and any('rewards/counting/mean' in l for l in st['log_history'])
    assert any('kl' in l for l in st['log_history'])           # the recipe's beta 0.04: a ZeRO-3 reference model ran
    loads_at_full_shape(g, tiny_path, start=out)

def test_zero2_grpo(env, tiny_path):
    "ZeRO-2: Reason-RFT-Zero GRPO from the base model, two steps, consolidated save."
    e, root = env
    g = root / 'outputs' / 'z2_grpo'
    launch('reason_rft_zero.sh', ['qwen2vl_2b', 'counting', '8gpu_full', *TINY, *GRPO, '--output_dir', str(g), '--max_steps', '2',
                                  '--save_steps', '2'], e, 900, ACCELERATE_CONFIG=str(ROOT / 'recipes/accelerate/zero2.yaml'),
           MAIN_PROCESS_PORT='29621')
    st = state(g, 2)
    assert st['global_step'] == 2 and any('rewards/format/mean' in l for l in st['log_history'])
    rows = [json.loads(l) for l in (g / 'rollouts.jsonl').read_text().splitlines()]
    assert len(rows) == 2 * 2 * 2 and len({r['step'] for r in rows}) == 2   # 2 completions of each step from each of the 2 processes (gathered)
    assert all(sum(r['step'] == s for r in rows) == 4 for s in (1, 2))
    loads_at_full_shape(g, tiny_path)

def test_zero3_offload_sft(env, tiny_path):
    "ZeRO-3 with optimizer and parameters offloaded to CPU memory (DeepSpeedCPUAdam, compiled on first use): ANS-SFT."
    e, root = env
    out = root / 'outputs' / 'z3o_sft'
    launch('ans_sft.sh', ['qwen2vl_2b', 'counting', '8gpu_full', *TINY, '--output_dir', str(out), '--max_steps', '2', '--save_steps', '2'],
           e, 1500, ACCELERATE_CONFIG=str(ROOT / 'recipes/accelerate/zero3_offload.yaml'), MAIN_PROCESS_PORT='29631')
    assert state(out, 2)['global_step'] == 2
    loads_at_full_shape(out, tiny_path)

def test_two_machines(env, tiny_path):
    "Two 'machines' on this one (num_machines 2, one process each, 127.0.0.1, machine_rank 0 and 1): ZeRO-3 CoT-SFT."
    e, root = env
    out = root / 'outputs' / 'two_nodes'
    args = ['bash', str(ROOT / 'scripts/train/cot_sft.sh'), 'qwen2vl_2b', 'counting', '8gpu_full', *TINY, '--output_dir', str(out),
            '--max_steps', '2', '--save_steps', '2']
    node = dict(e, NUM_MACHINES='2', MAIN_PROCESS_IP='127.0.0.1', MAIN_PROCESS_PORT='29641')
    t0 = time.time()
    procs = [subprocess.Popen(args, env=dict(node, MACHINE_RANK=str(r)), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in (0, 1)]
    try: logs = [p.communicate(timeout=900)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None: p.kill()
    TIMES['two machines'] = [round(time.time() - t0, 1)]
    for r, (p, log) in enumerate(zip(procs, logs)): assert p.returncode == 0, f"machine {r}:\n{log[-5000:]}"
    st = state(out, 2)
    assert st['global_step'] == 2
    assert abs(st['epoch'] - 2 * 2 * 2 / 24) < 1e-6           # 2 steps x 2 rows x 2 processes (one per machine) of 24 rows
    loads_at_full_shape(out, tiny_path)

