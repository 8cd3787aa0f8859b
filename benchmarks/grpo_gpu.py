"""GRPO steps on random-weight models with the real Qwen2-VL-2B and Qwen3-VL-2B shapes: Unsloth QLoRA, Unsloth 16-bit
LoRA and TRL + PEFT LoRA (the baseline), all generating with `generate` (no vLLM: it cannot travel to the GPU box).

Each model is built once from its committed config (rft_nb/model_configs/*.json: no weights to download) with random
weights and the project's small tokenizer (the shapes, vocabulary width included, are the real ones; the vision token
ids are the tokenizer's), saved, and then trained by each method in a fresh process (Unsloth patches transformers and
TRL when imported, so the baseline never shares a process with it). Every run: one prompt per step with a random
`--image-size` square image, G = `--generations` completions of exactly `--completion-tokens` tokens (`min_new_tokens`
= `max_completion_length`; checked from the completion ids), `--steps` optimizer steps of which the first is a warm-up.

Printed and written (`--out`: grpo_gpu.json, grpo_gpu.md): samples/s (completions trained per second), generated
tokens/s, step time split into generation (`GRPOTrainer._generate`) and the rest (training), peak GPU memory, each as a
ratio to the baseline, and `rft-plan`'s predicted peak for the same settings beside the measured one.

`--cpu`: the same plumbing on the project's tiny models on the CPU (2 steps, TRL + PEFT only: Unsloth's
FastVisionModel refuses vision models on the CPU), so argument handling, outputs and timeouts are proven before a GPU
sees them. Figures from --cpu are plumbing checks, not performance.

UNTESTED WITHOUT CUDA (they run only on a GPU box; the CPU mode never reaches them): the `unsloth` import and
`load_unsloth_model` path in `run_one` (marked `# CUDA-only`), `torch.cuda` memory and synchronisation calls, the 4-bit
load, and building the 2B models on the GPU in `build_model`.

Usage: python benchmarks/grpo_gpu.py [--cpu] [--models qwen2-vl-2b,qwen3-vl-2b] [--methods trl_lora,unsloth_qlora,unsloth_lora16]
       [--steps 3] [--generations 8] [--completion-tokens 128] [--image-size 448] [--deadline-s 330] [--out DIR]
"""
from __future__ import annotations
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METHODS = {   # name: (backend, load_in_4bit, label)
    'trl_lora': ('trl', False, 'TRL + PEFT LoRA (16-bit base on a GPU), generate [baseline]'),
    'unsloth_qlora': ('unsloth', True, 'Unsloth QLoRA (4-bit base), generate'),
    'unsloth_lora16': ('unsloth', False, 'Unsloth 16-bit LoRA, generate'),
}
BASELINE = 'trl_lora'
GPU_MODELS = {'qwen2-vl-2b': 'Qwen/Qwen2-VL-2B-Instruct', 'qwen3-vl-2b': 'Qwen/Qwen3-VL-2B-Instruct'}
CPU_MODELS = {'tiny-qwen2-vl': 'tiny-qwen2-vl', 'tiny-qwen3-vl': 'tiny-qwen3-vl'}
FAMILY = {'qwen2_vl': 'qwen2-vl', 'qwen2_5_vl': 'qwen2.5-vl', 'qwen3_vl': 'qwen3-vl'}   # model_type -> tiny tokenizer family
TOKEN_KEYS = {'image_token_id': '<|image_pad|>', 'video_token_id': '<|video_pad|>', 'vision_start_token_id': '<|vision_start|>',
              'vision_end_token_id': '<|vision_end|>', 'vision_token_id': '<|vision_pad|>', 'bos_token_id': '<|endoftext|>',
              'eos_token_id': '<|im_end|>', 'pad_token_id': '<|endoftext|>'}
PROBLEM = 'How many objects are in the image? Think first, then answer with a number.'


def log(*a):
    print(*a, flush=True)


# --- models -------------------------------------------------------------------------------------------------------
def with_token_ids(cfg: dict, tok) -> dict:
    "A copy of config dict `cfg` whose special-token ids (at any depth) are those of tokenizer `tok`; shapes unchanged."
    def fix(o):
        if isinstance(o, dict):
            out = {}
            for k, v in o.items():
                if k in TOKEN_KEYS and v is not None:
                    t = TOKEN_KEYS[k] if TOKEN_KEYS[k] in tok.get_vocab() else '<|image_pad|>'
                    out[k] = tok.convert_tokens_to_ids(t)
                else: out[k] = fix(v)
            return out
        return [fix(v) for v in o] if isinstance(o, list) else o
    return fix(cfg)


def model_config(name: str, cpu: bool) -> tuple[dict, str]:
    "(config dict, where it came from) of benchmark model `name`: a committed real config, or a tiny model's (--cpu)."
    if cpu:
        from rft_nb.models import tiny_model_path
        p = tiny_model_path(CPU_MODELS[name])
        return json.loads((p / 'config.json').read_text()), f"the project's {name} (random weights)"
    from rft_nb.plan_facts import find_model
    e = find_model(GPU_MODELS[name])
    return dict(e['config']), f"rft_nb/model_configs ({e['hub_id']}), random weights"


def build_model(name: str, dest: Path, image_size: int, cpu: bool, seed: int = 0) -> dict:
    "Save a random-weight model of `name`'s shapes with the project's tokenizer and an image processor fixed to `image_size`."
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText
    from rft_nb.tiny_tokenizers import build_tokenizer
    from rft_nb.models import tiny_processor
    cfg, source = model_config(name, cpu)
    mt = cfg['model_type']
    if cpu:   # the tiny model's own tokenizer (no second BPE training on a small CI machine)
        from transformers import AutoTokenizer
        from rft_nb.models import tiny_model_path
        tok = AutoTokenizer.from_pretrained(tiny_model_path(CPU_MODELS[name]))
    else: tok = build_tokenizer(family=FAMILY[mt])
    cfg = with_token_ids(cfg, tok)
    proc = tiny_processor(FAMILY[mt], tok)
    proc.image_processor.min_pixels = proc.image_processor.max_pixels = image_size * image_size
    if hasattr(proc.image_processor, 'size'): proc.image_processor.size = {'shortest_edge': image_size * image_size,
                                                                           'longest_edge': image_size * image_size}
    config = AutoConfig.for_model(**cfg)
    device, dtype = ('cpu', torch.float32) if cpu else ('cuda', torch.bfloat16)
    torch.manual_seed(seed)
    with torch.device(device):   # CUDA-only on the GPU box: a 2B model initialised on the GPU (seconds, not minutes)
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    model.generation_config.pad_token_id, model.generation_config.eos_token_id = tok.pad_token_id, tok.eos_token_id
    model.save_pretrained(dest); proc.save_pretrained(dest)
    n = sum(p.numel() for p in model.parameters())
    del model
    if not cpu: torch.cuda.empty_cache()
    return dict(params=n, model_type=mt, source=source, vocab_size=config.get_text_config().vocab_size, tokenizer_size=len(tok))


def prompt_lengths(path: Path, image_size: int) -> dict:
    "Prompt tokens of the benchmark's prompt with one image: total, image tokens, text (as `rft-plan` counts them)."
    from PIL import Image
    from rft_nb.models import load_processor
    from rft_nb.rows import prompt_messages
    proc = load_processor(path)
    text = proc.apply_chat_template(prompt_messages(PROBLEM, 1), add_generation_prompt=True, tokenize=False)
    enc = proc(text=[text], images=[Image.new('RGB', (image_size, image_size))], return_tensors='pt')
    img_id = proc.tokenizer.convert_tokens_to_ids('<|image_pad|>')
    total, img = int(enc['input_ids'].shape[1]), int((enc['input_ids'] == img_id).sum())
    return dict(prompt_tokens=total, image_tokens=img, text_tokens=total - img - 2,
                image_grid_thw=[int(x) for x in enc['image_grid_thw'][0]])


# --- one run (a fresh process) ---------------------------------------------------------------------------------------
def run_one(spec: dict) -> dict:
    "Train `spec['steps']` GRPO steps of one method on one model folder; timings, token counts, peak memory."
    backend = spec['backend']
    cuda = not spec['cpu']
    if backend == 'unsloth':   # CUDA-only: must come before transformers / TRL so its patches apply
        import unsloth  # noqa: F401
    import numpy as np, torch
    from datasets import Dataset
    from PIL import Image
    from transformers import TrainerCallback
    from rft_nb.rows import prompt_messages
    from rft_nb.recipe import RFTGRPOConfig, parse_config
    from rft_nb.engines import load_trl_model, load_unsloth_model, suppress_vision_tokens
    from rft_nb.models import load_processor, patch_trl_for_cpu
    import trl
    if cuda: torch.cuda.reset_peak_memory_stats()
    else: patch_trl_for_cpu()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    G, L, steps = spec['generations'], spec['completion_tokens'], spec['steps']
    argv = ['--model_name_or_path', spec['model_path'], '--output_dir', spec['work'], '--backend', backend,
            '--generation_engine', 'transformers', '--use_lora', 'true', '--load_in_4bit', str(spec['load_in_4bit']).lower(),
            '--lora_r', '16', '--lora_alpha', '32', '--per_device_train_batch_size', str(G), '--num_generations', str(G),
            '--gradient_accumulation_steps', '1', '--max_completion_length', str(L), '--max_steps', str(steps),
            '--learning_rate', '1e-5', '--logging_steps', '1', '--report_to', 'none', '--save_strategy', 'no',
            '--gradient_checkpointing', 'true', '--temperature', '1.0', '--seed', '0', '--shuffle_dataset', 'false',
            '--dataloader_num_workers', '0', '--disable_tqdm', 'true']
    if cuda: argv += ['--bf16', 'true']
    args = parse_config(RFTGRPOConfig, argv)
    args.model_init_kwargs = None
    if backend == 'unsloth':   # CUDA-only
        model, proc = load_unsloth_model(args, spec['model_path'], 'transformers')
        if getattr(proc, 'image_processor', None) is None: proc = load_processor(spec['model_path'])
    else:
        model, proc = load_trl_model(args, spec['model_path'])
        if cuda: model = model.to('cuda')
    load_s = time.perf_counter() - spec['t0']
    # exactly L tokens per completion: no EOS before L (min_new_tokens), none after (max_completion_length)
    args.generation_kwargs = suppress_vision_tokens(proc, dict(min_new_tokens=L))
    rng = np.random.default_rng(0)
    n_rows = steps + 1
    ds = Dataset.from_dict({'prompt': [prompt_messages(PROBLEM, 1)] * n_rows,
                            'image': [Image.fromarray(rng.integers(0, 256, (spec['image_size'], spec['image_size'], 3), dtype=np.uint8))
                                      for _ in range(n_rows)]})
    lengths: list[int] = []

    def varied_reward(completions, completion_ids, **kw):
        "A reward that differs between completions (so advantages are not all zero); records completion lengths."
        lengths.extend(len(c) for c in completion_ids)
        return [float(sum(c) % 7) / 7 for c in completion_ids]

    gen_times: list[float] = []
    base = trl.GRPOTrainer   # Unsloth's patched class once `unsloth` is imported

    class Timed(base):
        def _generate(self, prompts):   # TRL 1.15: GRPOTrainer._generate(prompts) runs the rollouts
            sync(); t = time.perf_counter()
            out = super()._generate(prompts)
            sync(); gen_times.append(time.perf_counter() - t)
            return out

    step_times: list[float] = []
    gen_at_step: list[int] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            sync(); self.t = time.perf_counter(); self.g = len(gen_times)

        def on_step_end(self, a, state, control, **kw):
            sync(); step_times.append(time.perf_counter() - self.t); gen_at_step.append(len(gen_times) - self.g)

    trainer = Timed(model=model, reward_funcs=[varied_reward], args=args, train_dataset=ds, processing_class=proc,
                    callbacks=[StepTimer()])
    trainer.train()
    # split each step: the generation calls that happened inside it, the rest is training (scoring, forward, backward)
    per_step_gen, i = [], 0
    for n in gen_at_step:
        per_step_gen.append(sum(gen_times[i:i + n])); i += n
    measured = list(range(1, len(step_times))) or [0]   # the first step is a warm-up
    step = statistics.median(step_times[j] for j in measured)
    gen = statistics.median(per_step_gen[j] for j in measured) if gen_times else None
    out = dict(steps=len(step_times), step_times_s=step_times, generation_times_s=per_step_gen, step_s=step,
               generation_s=gen, training_s=(step - gen) if gen is not None else None,
               generation_measured=bool(gen_times), completions_per_step=G,
               samples_per_s=G / step, completion_lengths=sorted(set(lengths)),
               fixed_length=bool(lengths) and set(lengths) == {L},
               generated_tokens_per_s=(G * L / gen) if gen else None, load_s=load_s,
               trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
               trainer_class=f"{type(trainer).__mro__[1].__module__}.{type(trainer).__mro__[1].__name__}")
    if cuda:   # CUDA-only
        free, total = torch.cuda.mem_get_info()
        out.update(peak_allocated_gib=torch.cuda.max_memory_allocated() / 2 ** 30,
                   peak_reserved_gib=torch.cuda.max_memory_reserved() / 2 ** 30,
                   context_gib=max(0.0, (total - free - torch.cuda.memory_reserved()) / 2 ** 30),
                   device=torch.cuda.get_device_name(0))
        out['peak_gib'] = out['peak_reserved_gib'] + out['context_gib']
    else:
        import resource
        out.update(peak_rss_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, peak_gib=None)
    return out


# --- rft-plan's prediction -----------------------------------------------------------------------------------------
def plan_prediction(cfg: dict, name: str, method: str, lens: dict, a, gpu: str | None) -> dict:
    "rft-plan's memory plan for the run's own settings (same model config, batch, image, completion length)."
    from rft_nb.plan import plan_setup
    from rft_nb.plan_facts import ModelInfo, gpu_spec, image_cost
    from rft_nb.plan_memory import Setup
    backend, q4, _ = METHODS[method]
    _, patches, _ = image_cost(cfg, size=(a.image_size, a.image_size))
    s = Setup(kind='grpo', backend=backend, use_lora=True, load_in_4bit=q4, lora_r=16, dtype_bytes=4 if a.cpu else 2,
              gradient_checkpointing=True, per_device_batch=a.generations, grad_accum=1, steps_per_generation=1,
              num_generations=a.generations, beta=0.0, prompt_text_tokens=lens['text_tokens'], images_per_sample=1,
              image_tokens=lens['image_tokens'], image_patches=patches, completion_tokens=a.completion_tokens,
              rollout='transformers')
    spec = gpu_spec(gpu) if gpu else gpu_spec(memory_gib=80.0)
    p = plan_setup(ModelInfo(name, cfg, 'benchmark model config'), s, spec)
    return dict(plan_peak_gib=p.peak_gib_per_gpu, plan_phases_gib=p.phases_gib, plan_gpu=spec.name,
                plan_params_total=p.params_total, plan_trainable=p.params_trainable)


def gpu_name() -> str | None:
    "The `rft-plan` GPU name of this machine's GPU (None: no CUDA, or one rft-plan does not know)."
    import torch
    if not torch.cuda.is_available(): return None
    n = torch.cuda.get_device_name(0).upper()
    return next((k for k in ('H200', 'H100', 'A100', 'L4', '4090') if k in n), None)


# --- driver --------------------------------------------------------------------------------------------------------
def child(cmd_args: list[str], timeout: float, log_path: Path, cwd: Path) -> tuple[int | None, str]:
    "Run this script in a fresh process; (exit code or None on timeout, the tail of its output)."
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    with open(log_path, 'w') as f:
        try:
            p = subprocess.run([sys.executable, __file__, *cmd_args], stdout=f, stderr=subprocess.STDOUT, env=env,
                               timeout=max(1.0, timeout), cwd=cwd)   # cwd: Unsloth writes unsloth_compiled_cache/ there
            rc = p.returncode
        except subprocess.TimeoutExpired: rc = None
    return rc, log_path.read_text()[-3000:]


def ratio(x, b):
    return (x / b) if (x is not None and b) else None


def fmt(x, f='{:.2f}'):
    return '-' if x is None else f.format(x)


def markdown(res: dict) -> str:
    "RESULTS.md lines: one table per model, ratios to the baseline, rft-plan beside the measured peak."
    a = res['settings']
    lines = [f"### GRPO on random-weight models ({res['mode']}): {a['generations']} completions x {a['completion_tokens']} "
             f"tokens, {a['image_size']} px, {a['steps']} steps (first is warm-up), {res['device']}",
             '', f"Command: `{res['command']}`. Versions: {', '.join(f'{k} {v}' for k, v in res['versions'].items())}.", '']
    for m, mr in res['models'].items():
        lines += [f"**{m}** ({mr.get('source', '')}; {fmt(mr.get('params'), '{:,}')} parameters)", '',
                  '| method | samples/s | gen tok/s | step s | gen s | train s | peak GiB | rft-plan GiB | plan/measured | x baseline samples/s | x baseline peak |',
                  '|---|---|---|---|---|---|---|---|---|---|---|']
        for meth, r in mr['runs'].items():
            if r.get('status') != 'ok':
                lines.append(f"| {meth} | {r.get('status')}: {r.get('why', '')} |||||||||| ")
                continue
            pk = r.get('peak_gib')
            lines.append(f"| {meth} | {fmt(r['samples_per_s'])} | {fmt(r['generated_tokens_per_s'], '{:.0f}')} | "
                         f"{fmt(r['step_s'])} | {fmt(r['generation_s'])} | {fmt(r['training_s'])} | "
                         f"{fmt(pk) if pk is not None else 'n/a (CPU RSS ' + fmt(r.get('peak_rss_gib')) + ')'} | "
                         f"{fmt(r.get('plan_peak_gib'))} | {fmt(ratio(r.get('plan_peak_gib'), pk))} | "
                         f"{fmt(r.get('vs_baseline_samples_per_s'))} | {fmt(r.get('vs_baseline_peak'))} |")
        lines.append('')
    if res['skipped']: lines += ['Skipped: ' + '; '.join(res['skipped']), '']
    return '\n'.join(lines)


def versions() -> dict:
    import importlib.metadata as md
    out = {}
    for d in ('torch', 'transformers', 'trl', 'peft', 'accelerate', 'bitsandbytes', 'unsloth', 'unsloth_zoo', 'datasets'):
        try: out[d] = md.version(d)
        except md.PackageNotFoundError: pass
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--cpu', action='store_true', help='tiny models on the CPU, 2 steps, TRL + PEFT only (plumbing check)')
    ap.add_argument('--models', help=f"comma-separated (GPU: {', '.join(GPU_MODELS)}; --cpu: {', '.join(CPU_MODELS)})")
    ap.add_argument('--methods', default=','.join(METHODS), help=f"comma-separated of {', '.join(METHODS)}")
    ap.add_argument('--steps', type=int, help='optimizer steps per run, the first a warm-up (default 3; --cpu 2)')
    ap.add_argument('--generations', type=int, default=8, help='G: completions per prompt (one prompt per step)')
    ap.add_argument('--completion-tokens', type=int, help='exact completion length (default 128; --cpu 8)')
    ap.add_argument('--image-size', type=int, help='side of the square image in px (default 448; --cpu 112)')
    ap.add_argument('--deadline-s', type=float, default=330, help='wall-clock budget for everything; runs that would start '
                    'after it are skipped, a run is killed when it runs out')
    ap.add_argument('--run-timeout-s', type=float, default=150, help='at most this long per run (load + steps)')
    ap.add_argument('--out', default=str(ROOT / 'outputs' / 'grpo_gpu'), help='where grpo_gpu.json / grpo_gpu.md / logs go')
    ap.add_argument('--work', help='where the model folders go (default: a temporary folder)')
    ap.add_argument('--_run', help=argparse.SUPPRESS)
    ap.add_argument('--_build', help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._run:   # child: one method on one model
        spec = json.loads(a._run)
        spec['t0'] = time.perf_counter()
        Path(spec['result']).write_text(json.dumps(run_one(spec)))
        return
    if a._build:   # child: build one model folder
        spec = json.loads(a._build)
        Path(spec['result']).write_text(json.dumps(build_model(spec['name'], Path(spec['dest']), spec['image_size'], spec['cpu'])))
        return
    t_start = time.monotonic()
    import torch
    if not a.cpu and not torch.cuda.is_available():
        sys.exit('grpo_gpu.py: no CUDA GPU here; use --cpu for the plumbing check')
    a.steps = a.steps or (2 if a.cpu else 3)
    a.completion_tokens = a.completion_tokens or (8 if a.cpu else 128)
    a.image_size = a.image_size or (112 if a.cpu else 448)
    models = a.models.split(',') if a.models else list(CPU_MODELS if a.cpu else GPU_MODELS)
    methods = a.methods.split(',')
    known = CPU_MODELS if a.cpu else GPU_MODELS
    bad = [m for m in models if m not in known] + [m for m in methods if m not in METHODS]
    if bad: sys.exit(f"grpo_gpu.py: unknown {', '.join(bad)}; models: {', '.join(known)}; methods: {', '.join(METHODS)}")
    if BASELINE in methods: methods = [BASELINE] + [m for m in methods if m != BASELINE]   # the baseline first
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    work = Path(a.work or tempfile.mkdtemp(prefix='grpo_gpu_')); work.mkdir(parents=True, exist_ok=True)
    import importlib.util
    have_unsloth = importlib.util.find_spec('unsloth') is not None
    gpu = None if a.cpu else gpu_name()
    res = dict(mode='cpu (tiny models: plumbing, not performance)' if a.cpu else 'gpu',
               device=torch.cuda.get_device_name(0) if not a.cpu else 'CPU',
               command='python benchmarks/grpo_gpu.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
               versions=versions(), settings=dict(steps=a.steps, generations=a.generations, completion_tokens=a.completion_tokens,
                                                  image_size=a.image_size, models=models, methods=methods),
               models={}, skipped=[])
    left = lambda: a.deadline_s - (time.monotonic() - t_start)
    for m in models:
        mr = res['models'][m] = dict(runs={})
        d = work / m
        if left() < 30:
            res['skipped'].append(f"{m}: deadline ({a.deadline_s:.0f} s) reached before it was built"); continue
        log(f"[grpo_gpu] building {m} in {d} ...")
        if a.cpu:   # tiny: in this process (one import of transformers less on a small CI machine)
            mr.update(build_model(m, d, a.image_size, True))
            rc, tail = 0, ''
        else: rc, tail = child(['--_build', json.dumps(dict(name=m, dest=str(d), image_size=a.image_size, cpu=a.cpu,
                                                      result=str(work / f'{m}.build.json')))],
                         min(a.run_timeout_s, left()), work / f'{m}.build.log', work)
        if rc != 0:
            mr['build_error'] = tail
            res['skipped'].append(f"{m}: build {'timed out' if rc is None else 'failed'}")
            log(f"[grpo_gpu] build of {m} failed:\n{tail}"); continue
        if not a.cpu: mr.update(json.loads((work / f'{m}.build.json').read_text()))
        cfg = json.loads((d / 'config.json').read_text())
        lens = prompt_lengths(d, a.image_size)
        mr['prompt'] = lens
        log(f"[grpo_gpu] {m}: {mr['params']:,} parameters; prompt {lens['prompt_tokens']} tokens ({lens['image_tokens']} image)")
        for meth in methods:
            backend, q4, label = METHODS[meth]
            why = None
            if backend == 'unsloth' and a.cpu: why = "Unsloth's FastVisionModel raises NotImplementedError for vision models on the CPU"
            elif backend == 'unsloth' and not have_unsloth: why = 'unsloth is not installed (carry the gpu-wheels)'
            elif left() < 20: why = f"deadline ({a.deadline_s:.0f} s) reached"
            if why:
                mr['runs'][meth] = dict(status='skipped', why=why, label=label)
                res['skipped'].append(f"{m} {meth}: {why}"); log(f"[grpo_gpu] {m} {meth}: skipped ({why})"); continue
            spec = dict(model_path=str(d), backend=backend, load_in_4bit=q4, cpu=a.cpu, steps=a.steps, generations=a.generations,
                        completion_tokens=a.completion_tokens, image_size=a.image_size, work=str(work / f'{m}-{meth}'),
                        result=str(work / f'{m}-{meth}.json'))
            log(f"[grpo_gpu] {m} {meth}: {label} ...")
            t = time.monotonic()
            rc, tail = child(['--_run', json.dumps(spec)], min(a.run_timeout_s, left()), work / f'{m}-{meth}.log', work)
            if rc != 0:
                status = 'timeout' if rc is None else 'failed'
                mr['runs'][meth] = dict(status=status, why=f"after {time.monotonic() - t:.0f} s", label=label, log_tail=tail)
                res['skipped'].append(f"{m} {meth}: {status}")
                log(f"[grpo_gpu] {m} {meth}: {status}\n{tail}"); continue
            r = dict(status='ok', label=label, wall_s=time.monotonic() - t, **json.loads(Path(spec['result']).read_text()))
            try: r.update(plan_prediction(cfg, m, meth, lens, a, gpu))
            except Exception as e: r['plan_error'] = f"{type(e).__name__}: {e}"
            mr['runs'][meth] = r
            log(f"[grpo_gpu] {m} {meth}: {r['samples_per_s']:.2f} samples/s, step {r['step_s']:.2f} s "
                f"(generation {fmt(r['generation_s'])} s), fixed length {r['fixed_length']}, peak {fmt(r.get('peak_gib'))} GiB, "
                f"rft-plan {fmt(r.get('plan_peak_gib'))} GiB")
        b = mr['runs'].get(BASELINE, {})
        for meth, r in mr['runs'].items():
            if r.get('status') == 'ok' and b.get('status') == 'ok':
                r['vs_baseline_samples_per_s'] = ratio(r['samples_per_s'], b['samples_per_s'])
                r['vs_baseline_generated_tokens_per_s'] = ratio(r['generated_tokens_per_s'], b['generated_tokens_per_s'])
                r['vs_baseline_step_s'] = ratio(r['step_s'], b['step_s'])
                r['vs_baseline_peak'] = ratio(r.get('peak_gib'), b.get('peak_gib'))
    res['wall_s'] = time.monotonic() - t_start
    (out / 'grpo_gpu.json').write_text(json.dumps(res, indent=1, default=str))
    md = markdown(res)
    (out / 'grpo_gpu.md').write_text(md + '\n')
    log(md)
    ok = [r for mr in res['models'].values() for r in mr['runs'].values() if r.get('status') == 'ok']
    if not ok: sys.exit('grpo_gpu.py: no run finished')


if __name__ == '__main__':
    main()
