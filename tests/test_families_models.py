"""Every tiny model family through the same path: build, save, reload, process (image tokens per the family's resize
rule), then SFT and GRPO two steps each through the console-script entry points."""
import json, os, subprocess, sys
from pathlib import Path
import pytest, torch
from PIL import Image, ImageDraw

from rft_nb.tiny_tokenizers import TINY_FAMILIES
from rft_nb.models import build_tiny, tiny_model_path, load_processor, parse_tiny_name

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
    from rft_nb.families import ALL_VISION_TOKENS
    for family, f in TINY_FAMILIES.items():
        assert set(f.vision_tokens) <= set(ALL_VISION_TOKENS), family
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

# ---- one home per fact: the tiny models, rft-plan and rendering read the same family records (rft_nb.families)

from rft_nb.families import FAMILIES

def test_every_family_has_tiny_models_and_they_take_its_facts():
    assert {t.family for t in TINY_FAMILIES.values()} == set(FAMILIES)
    for key, t in TINY_FAMILIES.items():
        f = FAMILIES[t.family]
        assert t.record is f and t.model_type in f.model_types, key
        assert (t.image_token, t.vision_tokens, t.patch_size, t.merge_size, t.image_norm) == \
               (f.image_token, f.vision_tokens, f.patch_size, f.merge_size, f.image_norm), key
        assert t.thinking == (f.think_in_prompt or key == 'qwen3-vl-thinking'), key   # the one variant with another template

def test_committed_configs_and_recipes_are_the_records_checkpoints():
    "rft-plan's committed configs, the recipe folders and the name rule all come from the records' `checkpoints`."
    from rft_nb.plan_facts import model_entries
    from rft_nb.families import model_type_from_name, get_family
    import importlib.util
    spec = importlib.util.spec_from_file_location('recipes_generate', ROOT / 'recipes' / '_generate.py')
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)   # its tables only: writing recipes is behind `__main__`
    entries = model_entries()
    assert set(entries) == {ck for f in FAMILIES.values() for ck in f.checkpoints}
    for f in FAMILIES.values():
        for ck in f.checkpoints:
            assert get_family(entries[ck]['family']) is f and get_family(entries[ck]['config']['model_type']) is f, ck
            assert model_type_from_name(ck) in f.model_types, ck
            assert (ROOT / 'recipes' / gen.recipe_name(ck)).is_dir(), ck
    assert set(gen.MODELS.values()) == set(entries)

def _linears(model) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]

@pytest.mark.parametrize('family', list(FAMILIES))
def test_tiny_models_plan_and_rendering_read_one_record(family, cache_dir):
    "For each family, the tiny model's files, rft-plan's image cost / vision count / LoRA targets, and rendered rows agree with its record."
    import re
    from rft_nb.families import ModelView, family_of, processor_pixels, grounding_answer
    from rft_nb.plan_facts import image_cost, meta_model, count_params, find_model, text_dims
    from rft_nb.rows import render_for_model
    from rft_nb.engines import lora_target_regex
    from transformers.utils.constants import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
    f = FAMILIES[family]
    # rft-plan on the family's committed configs: image tokens, vision patches and resized size at the record's pixel
    # limits; the activation model's fp32 norms
    for ck in f.checkpoints:
        w, h = 640, 480
        sw, sh = f.seen_size(w, h)
        assert image_cost(find_model(ck)['config'], size=(h, w)) == (f.image_tokens(w, h), f.vision_patches(w, h), (sh, sw)), ck
        assert text_dims(meta_model(ck)).norm_fp32_out == f.norm_fp32_out, ck
    # rendering: a row as the family's model reads it (no processor: the record's conventions and <think>)
    row = dict(id='g', task='grounding', problem='Find the red circle.', answer='(1,2),(3,4)', solution='', boxes=[[64, 48, 320, 240]],
               image_size=[640, 480], box_convention='norm1000')
    view = ModelView.of(family)
    out = render_for_model(row, view)
    assert out['answer'] == grounding_answer([64, 48, 320, 240], 640, 480, f.box_convention())
    assert out['box_convention'] == str(f.box_convention()) and out['think_in_prompt'] == f.think_in_prompt
    for name in [n for n in MATRIX if _family(n).family == family]:
        t, path = _family(name), tiny_model_path(name, cache_dir=cache_dir)
        # the tiny checkpoint: its model type leads back to the record; its processor is the record's class with its sizes
        assert family_of(path) is f, name
        proc = load_processor(path)
        assert f.processor in [c.__name__ for c in type(proc).__mro__], name
        ip = proc.image_processor
        if f.takes_pixel_limits: assert (ip.patch_size, ip.merge_size) == (f.patch_size, f.merge_size), name
        mean, std = ([f.image_norm] * 3,) * 2 if f.image_norm is not None else (OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)
        assert (list(ip.image_mean), list(ip.image_std)) == (list(mean), list(std)), name
        ids = [proc.tokenizer.convert_tokens_to_ids(v) for v in f.vision_tokens]
        assert len(set(ids)) == len(ids) and proc.tokenizer.unk_token_id not in ids, name
        v = ModelView.of(family_of(path), proc)
        assert v.convention == f.box_convention(*processor_pixels(proc)) and v.think_in_prompt == t.thinking, name
        # rft-plan on the tiny checkpoint: what it counts as vision and what LoRA adapts are the record's modules
        cfg = json.loads((path / 'config.json').read_text())
        model = meta_model(name, json.dumps(cfg))
        assert count_params(model).vision > 0, name
        vision = [n for n in _linears(model) if n.startswith(tuple(f'model.{m}.' for m in f.vision_modules))]
        language = [n for n in _linears(model) if '.language_model.' in n]
        leaf = lambda names: re.compile(rf".*\.({'|'.join(names)})")
        assert {n for n in _linears(model) if re.fullmatch(lora_target_regex(True), n)} == \
               {n for n in vision if leaf(f.lora_vision).fullmatch(n)} | {n for n in language if leaf(f.lora_language).fullmatch(n)}, name
        assert any(leaf(f.lora_vision).fullmatch(n) for n in vision), name
