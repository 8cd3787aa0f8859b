"""Every tiny model family through the same path: build, save, reload, process (image tokens per the family's resize
rule), then SFT and GRPO two steps each through the console-script entry points."""
import json, os, subprocess, sys
from pathlib import Path
import pytest, torch
from PIL import Image, ImageDraw

from rft_nb.models import TINY_FAMILIES, build_tiny, tiny_model_path, load_processor, parse_tiny_name

ROOT = Path(__file__).resolve().parents[1]
MATRIX = ['tiny-qwen2-vl', 'tiny-qwen2.5-vl', 'tiny-qwen3-vl', 'tiny-qwen3-vl-thinking', 'tiny-qwen3.5', 'tiny-gemma3',
          'tiny-qwen3-vl-moe', 'tiny-qwen3.5-moe']

# Outside truth for the image-token counts: the released resize rules, worked out by hand for these sizes (width x height).
# Qwen2-VL / Qwen2.5-VL: sides rounded to multiples of 14 * 2 = 28 within [56*56, 224*224] px here; Qwen3-VL / Qwen3.5:
# multiples of 16 * 2 = 32 within [64*64, 256*256]; one token per factor x factor square. Gemma 3: 16 tokens per image.
SIZES = [(112, 112), (300, 100), (448, 448)]
EXPECTED_TOKENS = {28: [4 * 4, 11 * 4, 8 * 8], 32: [4 * 4, 9 * 3, 8 * 8], None: [16, 16, 16]}
PROCESSORS = {'qwen2_vl': 'ImageOnlyQwenVLProcessor', 'qwen2_5_vl': 'ImageOnlyQwenVLProcessor',
              'qwen3_vl': 'ImageOnlyQwen3VLProcessor', 'qwen3_vl_moe': 'ImageOnlyQwen3VLProcessor',
              'qwen3_5': 'ImageOnlyQwen3VLProcessor', 'qwen3_5_moe': 'ImageOnlyQwen3VLProcessor', 'gemma3': 'Gemma3Processor'}

def _image(n=3, size=(112, 112), seed=0):
    import random
    rng = random.Random(seed)
    img = Image.new('RGB', size, 'white'); d = ImageDraw.Draw(img)
    for _ in range(n):
        x, y = rng.randint(0, size[0] - 24), rng.randint(0, size[1] - 24)
        d.ellipse([x, y, x + 20, y + 20], fill=rng.choice(['red', 'blue', 'green']))
    return img

def _family(name): return TINY_FAMILIES[parse_tiny_name(name)[1]]

def test_matrix_covers_every_family():
    assert {parse_tiny_name(n)[1] for n in MATRIX} == set(TINY_FAMILIES)

@pytest.mark.parametrize('name', MATRIX)
def test_build_save_reload_process(name, cache_dir):
    from transformers import AutoModelForImageTextToText
    f = _family(name)
    path = tiny_model_path(name, cache_dir=cache_dir)
    model = AutoModelForImageTextToText.from_pretrained(path)
    proc = load_processor(path)
    assert model.config.model_type == f.model_type
    assert type(proc).__name__ == PROCESSORS[f.model_type]
    ref, _ = build_tiny(name, seed=0)                                       # the saved weights are the seed's weights
    sd = model.state_dict()
    for k, v in ref.state_dict().items(): assert torch.equal(v, sd[k]), k
    n = sum(p.numel() for p in model.parameters())
    assert 1.5e5 < n < 3.5e5, n
    # image tokens: one image per prompt, three sizes, batched with left padding
    msgs = [[{'role': 'user', 'content': [{'type': 'image', 'image': _image(2, s)},
                                          {'type': 'text', 'text': 'How many objects are there?'}]}] for s in SIZES]
    inputs = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors='pt',
                                      padding=True)
    assert 'pixel_values' in inputs and torch.isfinite(inputs['pixel_values']).all()
    image_id = proc.tokenizer.convert_tokens_to_ids(f.image_token)
    assert (inputs['input_ids'] == image_id).sum(1).tolist() == EXPECTED_TOKENS[f.factor]
    mm = inputs['token_type_ids'] if f.model_type == 'gemma3' else inputs['mm_token_type_ids']
    assert (mm == 1).sum(1).tolist() == EXPECTED_TOKENS[f.factor]            # what the model reads to place image features
    # the saved chat template opens a think block exactly for the thinking families
    text = proc.apply_chat_template(msgs[0], add_generation_prompt=True, tokenize=False)
    assert text.endswith('<think>\n') == f.thinking
    out = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert out.shape == (len(SIZES), inputs['input_ids'].shape[1] + 4)

def test_qwen3_checkpoint_naming_the_stock_processor(cache_dir, tmp_path):
    "A real Qwen3-VL / Qwen3.5 checkpoint names Qwen3VLProcessor (it needs torchvision): the loader uses the image-only one."
    import shutil
    for name in ['tiny-qwen3-vl', 'tiny-qwen3.5']:
        ck = tmp_path / name; shutil.copytree(tiny_model_path(name, cache_dir=cache_dir), ck)
        cfg = json.loads((ck / 'processor_config.json').read_text()); cfg['processor_class'] = 'Qwen3VLProcessor'
        (ck / 'processor_config.json').write_text(json.dumps(cfg))
        proc = load_processor(ck)
        assert type(proc).__name__ == 'ImageOnlyQwen3VLProcessor'
        out = proc(text=['<|vision_start|><|image_pad|><|vision_end|>hi'], images=[_image()], return_tensors='pt')
        assert (out['input_ids'] == proc.image_token_id).sum() == 16 and (out['mm_token_type_ids'] == 1).sum() == 16

# ---- SFT then GRPO through the console-script entry points, one subprocess per family

@pytest.fixture(scope='module')
def train_env(cache_dir, tmp_path_factory):
    from rft_nb.synthetic import build_synthetic
    root = tmp_path_factory.mktemp('family_train')
    st = root / 'settings.ini'
    st.write_text(f"[paths]\ncache_dir = {cache_dir}\noutput_dir = {root / 'outputs'}\ndata_dir = {root / 'data'}\n")
    build_synthetic('counting', root / 'data' / 'counting', n_train=8, n_test=4, size=112)
    e = dict(os.environ, RFT_NB_SETTINGS=str(st), TOKENIZERS_PARALLELISM='false', OMP_NUM_THREADS='1')
    e.pop('WORLD_SIZE', None)
    return e, root

# Every family's view (box convention, <think> in the template) comes from rft_nb.families, as in a real run.
COMMON = ['--dataset_path', 'counting', '--max_steps', '2', '--logging_steps', '1',
          '--report_to', 'none', '--gradient_checkpointing', 'false', '--seed', '0', '--save_strategy', 'no']
SFT = ['--per_device_train_batch_size', '2', '--learning_rate', '5e-3', '--merge_adapter', 'true',
       '--finetune_vision_layers', 'true']
GRPO = ['--per_device_train_batch_size', '4', '--num_generations', '4', '--max_completion_length', '6', '--temperature', '1.0',
        '--learning_rate', '5e-3', '--reward_funcs', 'format', 'counting', 'length', '--rollout_log_steps', '1']

# One subprocess trains every family in turn (the imports alone take longer than two tiny steps); each family's
# stderr is framed by a marker, and a family that fails does not stop the others.
RUN = """
import json, sys, traceback
from rft_nb.train import sft_main, grpo_main
sys.argv[0] = 'x'
for name, sft, grpo in json.loads(sys.argv[1]):
    print(f'=== {name}', file=sys.stderr, flush=True)
    try:
        sft_main(sft)
        grpo_main(grpo)
        status = 'ok'
    except SystemExit as e: status = f'exit {e.code}'
    except Exception: status = traceback.format_exc()
    print('RESULT ' + json.dumps([name, status]), flush=True)
"""

@pytest.fixture(scope='module')
def trained(train_env):
    "{name: (status, stderr of its runs)} after SFT then GRPO (from the merged SFT model) for every model of MATRIX."
    e, root = train_env
    out = root / 'outputs'
    jobs = [[name, ['--model_name_or_path', name, '--output_dir', f'{name}-sft'] + COMMON + SFT,
             ['--model_name_or_path', str(out / f'{name}-sft' / 'merged'), '--output_dir', f'{name}-grpo'] + COMMON + GRPO]
            for name in MATRIX]
    p = subprocess.run([sys.executable, '-c', RUN, json.dumps(jobs)], env=e, capture_output=True, text=True, timeout=900,
                       cwd=ROOT)
    status = dict(json.loads(l[len('RESULT '):]) for l in p.stdout.splitlines() if l.startswith('RESULT '))
    logs = {chunk.split('\n', 1)[0]: chunk for chunk in p.stderr.split('=== ')[1:]}
    return {name: (status.get(name, f'no result (exit {p.returncode})'), logs.get(name, p.stderr[-3000:]))
            for name in MATRIX}

def _lora(path):
    from safetensors.torch import load_file
    return load_file(str(Path(path) / 'adapter_model.safetensors'))

@pytest.mark.parametrize('name', MATRIX)
def test_sft_then_grpo(name, trained, train_env):
    status, log = trained[name]
    assert status == 'ok', f"{status}\n{log[-6000:]}"
    out = train_env[1] / 'outputs'
    for stage in ('sft', 'grpo'):
        state = json.loads((out / f'{name}-{stage}' / 'trainer_state.json').read_text())
        losses = [l['loss'] for l in state['log_history'] if 'loss' in l]
        assert state['global_step'] == 2 and len(losses) == 2, stage
        assert all(torch.isfinite(torch.tensor(float(l))) for l in losses), (stage, losses)
        lora = _lora(out / f'{name}-{stage}')
        assert sum(float(v.abs().sum()) for k, v in lora.items() if 'lora_B' in k) > 0, stage   # LoRA B starts at 0: it moved
    sft_keys = _lora(out / f'{name}-sft')
    assert any(('visual' in k or 'vision_tower' in k) and 'lora_B' in k for k in sft_keys)       # the vision tower was adapted
    assert any('language_model' in k and 'lora_B' in k for k in sft_keys)
    state = json.loads((out / f'{name}-grpo' / 'trainer_state.json').read_text())
    assert any('rewards/format/mean' in l for l in state['log_history'])
    from rft_nb.models import load_model
    model, proc = load_model(out / f'{name}-grpo')                                                # adapter on the merged SFT model
    assert model.config.model_type == _family(name).model_type and proc.image_processor is not None

def test_generation_never_writes_any_familys_vision_tokens():
    "GRPO's generation suppresses every family's image placeholders and delimiters (a generated one breaks the next forward)."
    from rft_nb.engines import VISION_SPECIAL_TOKENS
    for family, f in TINY_FAMILIES.items():
        assert set(f.vision_tokens) <= set(VISION_SPECIAL_TOKENS), family
        assert f.image_token in f.vision_tokens, family

@pytest.mark.parametrize('name', ['tiny-qwen3-vl', 'tiny-qwen3.5', 'tiny-gemma3'])
def test_full_finetune_freezes_the_vision_side(name, cache_dir):
    "Full fine-tuning without `finetune_vision_layers` trains the language model only, whatever the vision modules are called."
    from types import SimpleNamespace
    from rft_nb.engines import load_trl_model
    args = SimpleNamespace(image_min_pixels=None, image_max_pixels=None, load_in_4bit=False, bf16=False,
                           finetune_vision_layers=False, use_lora=False)
    model, _ = load_trl_model(args, tiny_model_path(name, cache_dir=cache_dir))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all(('visual' in n or 'vision_tower' in n or 'multi_modal_projector' in n) for n in frozen)
    assert trainable and all('language_model' in n or n.startswith('lm_head') for n in trainable)
