"""The GPU path checked on a CPU against the real packages' code: what we hand to Unsloth, TRL and vLLM, read from the
pinned wheels (`make wheels` puts them in .cache/wheels; these tests skip, saying so, where they are missing) and from
the installed TRL. Nothing is imported from Unsloth or vLLM: their source is parsed with `ast`."""
import ast, importlib.metadata, json, subprocess, sys
from pathlib import Path
import pytest
from rft_nb import stack
from rft_nb.stack import (package_source, pinned_version, method_params, class_fields, call_keywords, module_literal,
                          unsloth_vllm_vlm_types, vllm_multimodal_architectures, trl_vllm_range, read_stack_facts, architecture_for,
                          unmet, sdist_requires, requirements, canonical)

ROOT = Path(__file__).resolve().parents[1]
WHEELS = stack.wheels_dir()
FAMILIES = ['qwen2_vl', 'qwen2_5_vl', 'qwen3_vl', 'qwen3_vl_moe', 'qwen3_5', 'qwen3_5_moe', 'idefics3', 'gemma3', 'llava_next']

def is_grpo(recipe):
    "The recipe runs GRPO (the rule tests/test_train.py's test_every_recipe_parses uses)."
    return ('rft' in recipe.stem and 'sft' not in recipe.stem) or recipe.stem == 'reason_rft_zero'

def pinned_source(dist):
    "The pinned wheel of `dist` (never an installed copy: these tests check the pins), or a skip naming the fix."
    src = package_source(dist, installed=False)
    if src is None: pytest.skip(f"{dist}=={pinned_version(dist)} wheel not in {WHEELS}: run `make wheels` to check the GPU path offline")
    return src

@pytest.fixture(scope='module')
def unsloth(): return pinned_source('unsloth')

@pytest.fixture(scope='module')
def vllm(): return pinned_source('vllm')

@pytest.fixture(scope='module')
def facts(unsloth, vllm):
    return stack.StackFacts(tuple(unsloth_vllm_vlm_types(unsloth)), str(unsloth), frozenset(vllm_multimodal_architectures(vllm)), str(vllm))

def unsloth_sources(u): return [u.read('unsloth/models/loader.py'), u.read('unsloth/models/vision.py')]

def test_unsloth_gate_is_where_we_read_it(unsloth):
    "The gate: `from_pretrained` raises unless a model type is in VLLM_SUPPORTED_VLM; qwen2_vl is not, qwen2_5_vl is."
    src = unsloth.read(stack.UNSLOTH_GATE_FILE)
    gate = module_literal(src, 'VLLM_SUPPORTED_VLM')
    assert 'qwen2_vl' not in gate and {'qwen2_5_vl', 'qwen3_vl', 'qwen3_5', 'gemma3', 'idefics3'} <= set(gate)
    raises = [n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.If) and 'VLLM_SUPPORTED_VLM' in ast.unparse(n.test)
              and any(isinstance(s, ast.Raise) and 'Fast inference is only supported' in ast.unparse(s) for s in n.body)]
    assert raises, 'the fast_inference gate moved: re-read unsloth/models/vision.py'
    assert ast.unparse(raises[0].test) == 'not any((arch in VLLM_SUPPORTED_VLM for arch in model_types))'
    # and the rule that the vLLM path cannot adapt the vision tower
    assert 'Finetuning vision layers is not supported for fast_inference' in src

def test_unsloth_zoo_supports_idefics3_fast_inference():
    "Unsloth also asks unsloth_zoo whether it can map Idefics3 layers; the pinned zoo can (else auto must not pick it)."
    zoo = pinned_source('unsloth_zoo')
    assert 'model.text_model.layers.{kk}.self_attn.q_proj' in zoo.read('unsloth_zoo/empty_model.py')

def test_what_unsloth_and_vllm_would_get(unsloth, facts):
    """Every 1-GPU GRPO recipe on a GPU box: the kwargs we hand FastVisionModel pass Unsloth's real gate (no fast_inference
    for a model type it refuses — Qwen2-VL), name real parameters, and the generation engine matches TRL's vLLM switch."""
    from rft_nb.recipe import RFTGRPOConfig, parse_config
    from rft_nb.engines import (unsloth_load_kwargs, unsloth_peft_kwargs, choose_generation_engine,
                                apply_generation_engine, pick_backend, model_types_for)
    from rft_nb.config import load_settings
    st = load_settings()
    gate = facts.unsloth_vlm_types
    load_params, _ = method_params(unsloth_sources(unsloth), 'FastVisionModel', 'from_pretrained')
    peft_params, _ = method_params(unsloth_sources(unsloth), 'FastVisionModel', 'get_peft_model')
    recipes = sorted((ROOT / 'recipes').glob('qwen*/*/1gpu_qlora/*.yaml'))
    grpo = [r for r in recipes if is_grpo(r)]
    assert len(grpo) >= 4 * 5
    seen = {}
    for r in grpo:
        a = parse_config(RFTGRPOConfig, ['--config', str(r)])
        backend, _ = pick_backend(a.backend, cuda=True, unsloth_installed=True, n_procs=1)
        types, arch, _ = model_types_for(a.model_name_or_path, st)
        engine, why = choose_generation_engine(a, backend, types, arch, facts, cuda=True, vllm_installed=True)
        kw = unsloth_load_kwargs(a, a.model_name_or_path, engine)
        assert set(kw) <= set(load_params), (r, set(kw) - set(load_params))
        assert set(unsloth_peft_kwargs(a)) <= set(peft_params), (r, set(unsloth_peft_kwargs(a)) - set(peft_params))
        if kw['fast_inference']:   # what Unsloth's gate does with it
            assert any(t in gate for t in types), f"{r}: Unsloth would raise 'Fast inference is only supported for ...' for {types}"
            assert not a.finetune_vision_layers
        apply_generation_engine(a, engine)
        assert a.use_vllm == kw['fast_inference']          # Unsloth's trainer generates through the model's vLLM only then
        seen.setdefault(types[0], set()).add((backend, engine))
    assert seen['qwen2_vl'] == {('unsloth', 'transformers')} and seen['qwen2_5_vl'] == {('unsloth', 'unsloth_vllm')}, seen
    # asking for Unsloth's vLLM on Qwen2-VL is refused before anything loads, naming the real gate
    a = parse_config(RFTGRPOConfig, ['--config', str(ROOT / 'recipes/qwen2vl_2b/counting/1gpu_qlora/reason_rft_zero.yaml'),
                                     '--generation_engine', 'unsloth_vllm'])
    from rft_nb.recipe import ConfigError
    with pytest.raises(ConfigError, match='refuses fast_inference for qwen2_vl'):
        choose_generation_engine(a, 'unsloth', ['qwen2_vl'], 'Qwen2VLForConditionalGeneration', facts, cuda=True, vllm_installed=True)

def test_every_recipe_runs_as_written_on_a_gpu_box(facts):
    "The dry run of every paper recipe finds a backend and a generation engine that can run on a one-GPU box."
    from rft_nb.recipe import RFTGRPOConfig, RFTSFTConfig, parse_config
    from rft_nb.engines import dry_run
    recipes = sorted((ROOT / 'recipes').glob('qwen*/**/*.yaml'))
    assert len(recipes) >= 100
    for r in recipes:
        a = parse_config(RFTGRPOConfig if is_grpo(r) else RFTSFTConfig, ['--config', str(r)])
        text, errors = dry_run(a, is_grpo(r))
        assert errors == [], (r, errors)
        if is_grpo(r): assert 'GPU box (CUDA, gpu extra): generation engine ' in text, text

def test_dry_run_cli(facts, capsys):
    "`rft-grpo --config RECIPE --dry-run` says backend, engine and why, without loading weights; a forced engine that cannot run exits 2."
    p = subprocess.run([sys.executable, '-m', 'rft_nb.train', 'grpo', '--dry-run', '--config', 'recipes/qwen2vl_2b/detection/1gpu_qlora/visual_rft.yaml'],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert 'model types: qwen2_vl (inferred from the name' in p.stdout
    assert 'GPU box (CUDA, gpu extra): backend unsloth' in p.stdout
    assert 'GPU box (CUDA, gpu extra): generation engine transformers (auto: no unsloth_vllm: unsloth 2026.10.9' in p.stdout
    assert 'refuses fast_inference for qwen2_vl' in p.stdout and 'Loading weights' not in p.stdout + p.stderr
    from rft_nb.train import grpo_main
    def dry(*args):
        with pytest.raises(SystemExit) as e: grpo_main(['--dry-run', *args])
        return e.value.code, capsys.readouterr().out
    code, out = dry('--config', str(ROOT / 'recipes/qwen2vl_2b/detection/8gpu_full/visual_rft.yaml'))
    assert code == 0 and 'GPU box (CUDA, gpu extra): generation engine trl_vllm (auto: Qwen2VLForConditionalGeneration in vLLM' in out, out
    code, out = dry('--config', str(ROOT / 'recipes/qwen2vl_2b/detection/1gpu_qlora/visual_rft.yaml'), '--generation_engine', 'unsloth_vllm')
    assert code == 2 and 'GPU box (CUDA, gpu extra): cannot run: generation_engine unsloth_vllm cannot run' in out, out

def test_trl_calls_match_vllm_031(vllm):
    "TRL 1.15's vLLM colocate code calls LLM, SamplingParams and generate with names vLLM 0.31.0 has, and sends images in its format."
    trl_src = package_source('trl').read('trl/generation/vllm_generation.py')
    llm_py, engine_py = vllm.read('vllm/entrypoints/llm.py'), vllm.read('vllm/engine/arg_utils.py')
    llm_params, llm_kwargs = method_params([llm_py], 'LLM', '__init__')
    engine_fields = set(class_fields([engine_py], 'EngineArgs'))
    assert llm_kwargs   # LLM(**kwargs) goes to EngineArgs
    for kws in call_keywords(trl_src, 'LLM'):
        assert kws and kws <= set(llm_params) | engine_fields, kws - set(llm_params) - engine_fields
    sp_fields = set(class_fields([vllm.read('vllm/sampling_params.py')], 'SamplingParams'))
    tree = ast.parse(trl_src)
    gen_kwargs = [set(ast.literal_eval(k) for k in n.value.keys) for n in ast.walk(tree) if isinstance(n, ast.Assign)
                  and any(isinstance(t, ast.Name) and t.id == 'generation_kwargs' for t in n.targets) and isinstance(n.value, ast.Dict)]
    assert gen_kwargs and all(k <= sp_fields for k in gen_kwargs), [k - sp_fields for k in gen_kwargs]
    gen_params, _ = method_params([llm_py], 'LLM', 'generate')
    for kws in call_keywords(trl_src, 'generate'):
        if 'sampling_params' in kws: assert kws <= set(gen_params), kws - set(gen_params)
    # the multimodal request: {"prompt_token_ids": ids, "multi_modal_data": {"image": ...}}
    inputs_py = vllm.read('vllm/inputs/llm.py')
    assert {'prompt_token_ids', 'multi_modal_data'} <= set(class_fields([inputs_py], 'TokensPrompt'))
    assert 'image' in class_fields([inputs_py], 'MultiModalDataBuiltins')
    assert '"prompt_token_ids": ids' in trl_src and 'row["multi_modal_data"] = {"image":' in trl_src
    # our own generation_kwargs never reach SamplingParams with an argument it lacks (suppress_tokens is generate-only)
    assert 'suppress_tokens' not in sp_fields

def test_vllm_serves_the_families(vllm):
    "vLLM 0.31.0's registry has the architecture of every model type the project handles."
    archs = set(vllm_multimodal_architectures(vllm))
    missing = {t: architecture_for(t) for t in FAMILIES if architecture_for(t) not in archs}
    assert not missing, missing

def test_grpo_config_takes_what_the_engines_set():
    "TRL's GRPOConfig has the vLLM switches we set, and accepts colocate mode (constructed on CPU)."
    from trl import GRPOConfig
    from dataclasses import fields
    names = {f.name for f in fields(GRPOConfig)}
    assert {'use_vllm', 'vllm_mode', 'vllm_gpu_memory_utilization', 'generation_kwargs'} <= names
    c = GRPOConfig(output_dir='/tmp/x', use_vllm=True, vllm_mode='colocate', use_cpu=True, bf16=False)
    assert c.use_vllm and c.vllm_mode == 'colocate'

def test_pins_agree_with_the_gpu_packages(unsloth, vllm):
    "The CPU install's pins satisfy what the pinned Unsloth, vLLM and DeepSpeed declare, and TRL supports the pinned vLLM."
    import torch
    from packaging.requirements import Requirement
    pins = {canonical(Requirement(r).name): pinned_version(Requirement(r).name) for r in requirements() + requirements('gpu')}
    pins = {k: v for k, v in pins.items() if v} | {'torch': torch.__version__.split('+')[0]}
    import zipfile
    for src in (unsloth, vllm):
        with zipfile.ZipFile(src.wheel) as z:
            meta = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))
            requires = [l.split(':', 1)[1].strip() for l in z.read(meta).decode().splitlines() if l.startswith('Requires-Dist:')]
        assert not unmet(requires, pins), (src, unmet(requires, pins))
    sd = next(iter(sorted(WHEELS.glob(f"deepspeed-{pinned_version('deepspeed')}.tar.gz"))), None)
    if sd is not None: assert not unmet(sdist_requires(sd), pins)
    lo, hi = trl_vllm_range(package_source('trl'))
    from packaging.version import Version
    assert Version(lo) <= Version(pinned_version('vllm')) <= Version(hi), (lo, hi, pinned_version('vllm'))
    trl_vllm_extra = [r for r in importlib.metadata.requires('trl') if r.startswith('vllm') and 'extra == "vllm"' in r]
    assert trl_vllm_extra and not unmet(trl_vllm_extra, pins, extras=('vllm',)), trl_vllm_extra
