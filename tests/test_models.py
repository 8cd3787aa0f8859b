"Tiny VLMs: build, save, reload through the Auto classes, process, generate, and train two steps with TRL."
import json, os, subprocess, sys
import pytest, torch
from pathlib import Path
from PIL import Image, ImageDraw

from rft_nb.models import (build_tiny, tiny_model_path, load_model, load_processor, ModelLoadError, TINY_MODELS,
                           ImageOnlyQwenVLProcessor, parse_tiny_name)

def _image(n=3, size=112, seed=0):
    import random
    rng = random.Random(seed)
    img = Image.new('RGB', (size, size), 'white'); d = ImageDraw.Draw(img)
    for _ in range(n):
        x, y = rng.randint(0, size - 24), rng.randint(0, size - 24)
        d.ellipse([x, y, x + 20, y + 20], fill=rng.choice(['red', 'blue', 'green']))
    return img

PROMPT = [{'role': 'user', 'content': [{'type': 'image'}, {'type': 'text', 'text': 'How many objects are there?'}]}]

QWEN2_MODELS = [n for n in TINY_MODELS if parse_tiny_name(n)[1] in ('qwen2-vl', 'qwen2.5-vl')]   # the other families: test_families_models.py

@pytest.mark.parametrize('name', QWEN2_MODELS)
def test_build_save_reload_generate(name, cache_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor
    path = tiny_model_path(name, cache_dir=cache_dir)
    assert (path / 'config.json').is_file() and (path / 'model.safetensors').is_file()
    model = AutoModelForImageTextToText.from_pretrained(path)
    proc = AutoProcessor.from_pretrained(path)
    assert isinstance(proc, ImageOnlyQwenVLProcessor)            # never a bare tokenizer
    ref, _ = build_tiny(name, seed=0)                             # same seed -> same weights after the round trip
    for k, v in ref.state_dict().items(): assert torch.equal(v, model.state_dict()[k]), k
    text = proc.apply_chat_template(PROMPT, add_generation_prompt=True, tokenize=False)
    inputs = proc(text=[text, text], images=[_image(2), _image(5, 168)], return_tensors='pt', padding=True)
    assert 'pixel_values' in inputs and 'image_grid_thw' in inputs
    grid = inputs['image_grid_thw'].tolist()
    assert grid == [[1, 8, 8], [1, 12, 12]]
    n_tok = (inputs['input_ids'] == proc.image_token_id).sum(1).tolist()
    assert n_tok == [16, 36]
    out = model.generate(**inputs, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert out.shape == (2, inputs['input_ids'].shape[1] + 5)

def test_cache_is_reused(cache_dir):
    p1 = tiny_model_path('tiny-qwen2-vl', cache_dir=cache_dir)
    mtime = (p1 / 'model.safetensors').stat().st_mtime_ns
    p2 = tiny_model_path('tiny-qwen2-vl', cache_dir=cache_dir)
    assert p1 == p2 and (p2 / 'model.safetensors').stat().st_mtime_ns == mtime
    assert json.loads((p1 / 'rft_nb_tiny.json').read_text())['name'] == 'tiny-qwen2-vl'

def test_loader_errors(tmp_path):
    with pytest.raises(ModelLoadError, match='no config.json'): load_model(tmp_path)
    (tmp_path / 'config.json').write_text(json.dumps({'model_type': 'llama', 'hidden_size': 8}))
    with pytest.raises(ModelLoadError, match='not a vision-language checkpoint'): load_model(tmp_path)
    with pytest.raises(ModelLoadError, match='not found'): load_model('definitely-not-a-model')

def test_processor_fallback_when_auto_gives_tokenizer_only(tiny_path, tmp_path):
    "A checkpoint whose processor config names the stock processor (real Qwen checkpoints) still gets an image processor."
    import shutil
    ck = tmp_path / 'ck'; shutil.copytree(tiny_path, ck)
    cfg = json.loads((ck / 'processor_config.json').read_text()); cfg['processor_class'] = 'Qwen2VLProcessor'
    (ck / 'processor_config.json').write_text(json.dumps(cfg))
    proc = load_processor(ck)
    assert proc.image_processor is not None and proc.tokenizer is not None
    out = proc(text=['<|vision_start|><|image_pad|><|vision_end|>hi'], images=[_image()], return_tensors='pt')
    assert 'pixel_values' in out

def test_load_model_applies_settings_and_runs(tiny_path):
    model, proc = load_model(tiny_path)
    assert not model.training
    assert proc.tokenizer.padding_side == 'left'

def test_no_gpu_packages_installed():
    "The CPU environment must not contain CUDA packages or torchvision (torchvision breaks TRL here)."
    from importlib.metadata import distributions
    names = {d.metadata['Name'].lower() for d in distributions()}
    if not torch.cuda.is_available():
        assert not any(n.startswith('nvidia-') for n in names), sorted(n for n in names if n.startswith('nvidia-'))
        assert 'torchvision' not in names

def _weights(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

def _changed(before, model):
    after = dict(model.named_parameters())
    return sum(not torch.equal(before[n], after[n].detach()) for n in before)

def test_trl_grpo_two_steps(tiny_path, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer
    from rft_nb.models import patch_trl_for_cpu
    patch_trl_for_cpu()
    model, proc = load_model(tiny_path)
    model.train()
    ds = Dataset.from_list([{'prompt': PROMPT, 'image': _image(i % 4 + 1, seed=i), 'solution': str(i % 4 + 1)} for i in range(8)])
    def reward_len(completions, **kw):  # a reward that varies, so advantages are non-zero
        return [float(len(c[0]['content']) % 7) if isinstance(c, list) else float(len(c) % 7) for c in completions]
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, max_steps=2, per_device_train_batch_size=4,
                      num_generations=4, max_completion_length=8, learning_rate=1e-2, logging_steps=1, report_to=[],
                      save_strategy='no', gradient_checkpointing=False, temperature=1.0, beta=0.0, seed=0)
    before = _weights(model)
    tr = GRPOTrainer(model=model, reward_funcs=[reward_len], args=args, train_dataset=ds, processing_class=proc)
    tr.train()
    logs = [l for l in tr.state.log_history if 'loss' in l]
    assert tr.state.global_step == 2 and logs
    assert all(torch.isfinite(torch.tensor(l['loss'])) for l in logs)
    assert any('rewards/reward_len/mean' in l for l in tr.state.log_history)
    assert _changed(before, tr.model) > 0

def test_trl_sft_two_steps(tiny_path, tmp_path):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer
    model, proc = load_model(tiny_path)
    model.train()
    rows = [{'messages': [PROMPT[0], {'role': 'assistant', 'content': [{'type': 'text', 'text': f'<think>I count.</think><answer>{i % 4 + 1}</answer>'}]}],
             'images': [_image(i % 4 + 1, seed=i)]} for i in range(8)]
    ds = Dataset.from_list(rows)
    args = SFTConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, max_steps=2, per_device_train_batch_size=2,
                     learning_rate=1e-2, logging_steps=1, report_to=[], save_strategy='no', gradient_checkpointing=False,
                     max_length=None, seed=0)
    before = _weights(model)
    tr = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=proc)
    tr.train()
    losses = [l['loss'] for l in tr.state.log_history if 'loss' in l]
    assert tr.state.global_step == 2 and len(losses) == 2
    assert all(torch.isfinite(torch.tensor(l)) for l in losses)
    assert _changed(before, tr.model) > 0

def test_build_tiny_cli(tmp_path):
    cli = [sys.executable, '-c', 'from rft_nb.models import build_tiny_cli; build_tiny_cli()']
    out = subprocess.run(cli + ['--name', 'tiny-qwen2.5-vl', '--name', 'tiny-gemma3', '--set', f'paths.cache_dir={tmp_path}'],
                         capture_output=True, text=True, check=True)
    paths = [Path(l) for l in out.stdout.strip().splitlines()[-2:]]
    assert [p.name for p in paths] == ['tiny-qwen2.5-vl-seed0', 'tiny-gemma3-seed0']
    assert all(p.parent.parent == tmp_path and (p / 'config.json').is_file() for p in paths)
    assert json.loads((paths[1] / 'config.json').read_text())['model_type'] == 'gemma3'
    helptext = subprocess.run(cli + ['--help'], capture_output=True, text=True, check=True).stdout
    for name in ['small-qwen3-vl', 'tiny-qwen3.5', 'small-qwen3.5', 'tiny-qwen3-vl-thinking', 'small-gemma3']:
        assert name in helptext, name
