"""What only a GPU can show: Unsloth's FastVisionModel loading in 4-bit, its get_peft_model, a GRPO step with each
generation engine that fits on the box, and the saved adapter reloading. Marked `gpu`: the default run deselects them
(pyproject's addopts `-m 'not gpu'`); `pytest -m gpu` runs them, and without CUDA (or Unsloth, or vLLM) each one skips,
saying why. benchmarks/gpu_check.sh runs them on the device machine.

UNTESTED WITHOUT CUDA: every line after the skips below; the CPU suite only proves that they skip with their reasons
(tests/test_gpu_check.py)."""
import importlib.util, json, sys, time
from pathlib import Path
import pytest

pytestmark = pytest.mark.gpu
ROOT = Path(__file__).resolve().parents[1]
NO_CUDA = ("no CUDA GPU: Unsloth's FastVisionModel (NotImplementedError for vision models on the CPU) and bitsandbytes' "
           "4-bit CUDA kernels need one; run `bash benchmarks/gpu_check.sh` on the device machine")
NO_UNSLOTH = 'unsloth is not installed: carry the wheels `make gpu-wheels` packs (benchmarks/gpu_check.sh installs them)'
NO_VLLM = ("vllm is not installed: its wheel and CUDA packages exceed a device call's 64 MiB (platform-notes); "
           "the engine choice is checked offline by tests/test_gpu_stack.py")


def need_cuda():
    import torch
    if not torch.cuda.is_available(): pytest.skip(NO_CUDA)


def need_unsloth():
    need_cuda()
    if importlib.util.find_spec('unsloth') is None: pytest.skip(NO_UNSLOTH)


def grpo_gpu():
    "benchmarks/grpo_gpu.py as a module (its `run_one` is the GRPO step the benchmark times)."
    spec = importlib.util.spec_from_file_location('grpo_gpu', ROOT / 'benchmarks' / 'grpo_gpu.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def small_model(tmp_path_factory):
    "The project's small Qwen2-VL (random weights, widths that 4-bit blocks divide), built for these tests."
    need_cuda()
    from rft_nb.models import tiny_model_path
    return tiny_model_path('small-qwen2-vl', cache_dir=tmp_path_factory.mktemp('gpu_models'))


def unsloth_args(path, tmp_path, **kw):
    from rft_nb.recipe import RFTGRPOConfig, parse_config
    argv = ['--model_name_or_path', str(path), '--output_dir', str(tmp_path / 'run'), '--bf16', 'true', '--use_lora', 'true',
            '--lora_r', '8', '--lora_alpha', '16']
    for k, v in kw.items(): argv += [f'--{k}', str(v).lower() if isinstance(v, bool) else str(v)]
    return parse_config(RFTGRPOConfig, argv)


@pytest.fixture(scope='module')
def unsloth_4bit(small_model, tmp_path_factory):
    "(model, processor, args) from FastVisionModel.from_pretrained in 4-bit, with the project's own keyword arguments."
    need_unsloth()
    import unsloth  # noqa: F401  (before transformers' models are used, as Unsloth asks)
    from unsloth import FastVisionModel
    from rft_nb.engines import unsloth_load_kwargs
    args = unsloth_args(small_model, tmp_path_factory.mktemp('u4'), load_in_4bit=True)
    model, proc = FastVisionModel.from_pretrained(**unsloth_load_kwargs(args, small_model, 'transformers'))
    return model, proc, args


def test_unsloth_loads_4bit(unsloth_4bit):
    "FastVisionModel.from_pretrained(load_in_4bit=True) puts the language model's linear layers in bitsandbytes 4-bit on the GPU."
    import bitsandbytes as bnb
    model, proc, _ = unsloth_4bit
    q4 = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert any('language_model' in n and n.endswith('q_proj') for n in q4), q4[:10]
    assert next(model.parameters()).device.type == 'cuda'
    assert getattr(proc, 'image_processor', None) is not None, type(proc)


@pytest.fixture(scope='module')
def unsloth_peft(unsloth_4bit):
    "FastVisionModel.get_peft_model on the 4-bit model with the project's keyword arguments."
    from unsloth import FastVisionModel
    from rft_nb.engines import unsloth_peft_kwargs
    model, _, args = unsloth_4bit
    return FastVisionModel.get_peft_model(model, **unsloth_peft_kwargs(args))


def test_unsloth_get_peft_model(unsloth_peft):
    "FastVisionModel.get_peft_model with the project's kwargs: LoRA on the language layers only, nothing else trainable."
    peft = unsloth_peft
    trainable = [n for n, p in peft.named_parameters() if p.requires_grad]
    assert trainable and all('lora_' in n for n in trainable), trainable[:10]
    assert not any('visual' in n for n in trainable), 'finetune_vision_layers is False: the vision tower must not adapt'
    assert any('language_model' in n and 'q_proj' in n for n in trainable)


@pytest.mark.parametrize('backend,engine', [('unsloth', 'transformers'), ('trl', 'transformers'),
                                            ('unsloth', 'unsloth_vllm'), ('trl', 'trl_vllm')])
def test_one_grpo_step_per_engine(small_model, tmp_path, backend, engine):
    """One GRPO step on the GPU for each generation engine that fits on the box: completions of exactly the forced
    length, a finite loss, time split into generation and training. vLLM engines skip where vLLM is absent."""
    need_cuda()
    if backend == 'unsloth': need_unsloth()
    if engine != 'transformers':
        if importlib.util.find_spec('vllm') is None: pytest.skip(NO_VLLM)
        from rft_nb.stack import read_stack_facts
        from rft_nb.engines import choose_generation_engine, model_types_for
        types, arch, _ = model_types_for(str(small_model))
        a = unsloth_args(small_model, tmp_path, generation_engine=engine)
        choose_generation_engine(a, backend, types, arch, read_stack_facts())   # raises ConfigError, naming why, if it cannot
        pytest.skip(f'{engine}: benchmarks/grpo_gpu.py times generate only (vLLM cannot travel to the box)')
    g = grpo_gpu()
    r = g.run_one(dict(model_path=str(small_model), backend=backend, load_in_4bit=backend == 'unsloth', cpu=False, steps=1,
                       generations=4, completion_tokens=16, image_size=112, work=str(tmp_path / 'w'), t0=time.perf_counter()))
    assert r['steps'] == 1 and r['fixed_length'], r
    assert r['generation_measured'] and 0 < r['generation_s'] < r['step_s'], r
    assert r['peak_gib'] > 0 and r['trainable_params'] > 0


def test_adapter_reloads(unsloth_4bit, unsloth_peft, small_model, tmp_path):
    "An adapter made through Unsloth saves and reloads onto the plain transformers base (rft_nb.models.load_model) unchanged."
    import torch
    from rft_nb.models import load_model
    _, _, args = unsloth_4bit
    peft = unsloth_peft
    torch.manual_seed(0)
    with torch.no_grad():
        for n, p in peft.named_parameters():
            if 'lora_B' in n: p.normal_(0, 0.02)   # LoRA B starts at zero: make the adapter do something
    saved = {n.replace('.default', ''): p.detach().float().cpu().clone() for n, p in peft.named_parameters() if 'lora_' in n}
    peft.save_pretrained(tmp_path / 'adapter')
    cfg = json.loads((tmp_path / 'adapter' / 'adapter_config.json').read_text())
    assert cfg['r'] == args.lora_r
    reloaded, proc2 = load_model(small_model, adapter=tmp_path / 'adapter', device='cuda')
    got = {n.replace('.default', ''): p.detach().float().cpu() for n, p in reloaded.named_parameters() if 'lora_' in n}
    assert len(got) == len(saved) > 0
    for n, v in saved.items():
        match = [k for k in got if k.endswith(n.split('base_model.model.', 1)[-1])]
        assert match and torch.allclose(got[match[0]], v, atol=1e-2), n
    from rft_nb.rows import prompt_messages
    from PIL import Image
    text = proc2.apply_chat_template(prompt_messages('How many?', 1), add_generation_prompt=True, tokenize=False)
    enc = proc2(text=[text], images=[Image.new('RGB', (112, 112))], return_tensors='pt').to('cuda')
    out = reloaded.generate(**enc, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > enc['input_ids'].shape[1]
