"rft-plan: parameter counts against published ones, memory formulas against DeepSpeed / bitsandbytes / TRL, verdicts, the CLI."
import json, subprocess, sys, time
from dataclasses import replace
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / 'recipes'

def plan(recipe, gpu='H100', **kw):
    from rft_nb.plan import plan_recipe
    return plan_recipe(RECIPES / recipe, gpu, **kw)

def test_param_counts_match_published():
    "Every committed model with a precisely published count: within 0.5% (and per part where the source splits it)."
    from rft_nb.plan_facts import model_entries, meta_model, count_params
    checked = 0
    for hub, e in model_entries().items():
        pub = e['published']
        c = count_params(meta_model(hub))
        if pub.get('params') and not pub.get('rounded'):
            assert abs(c.total / pub['params'] - 1) < 0.005, (hub, c.total, pub['params'])
            checked += 1
        if pub.get('vision_params'):
            assert abs(c.vision / pub['vision_params'] - 1) < 0.005, (hub, c.vision)
            assert abs(c.language / pub['language_params'] - 1) < 0.005, (hub, c.language)
        assert e['sources'], f"{hub}: no source"
    assert checked >= 7   # Qwen2-VL 2B/7B, Qwen2.5-VL 3B/7B, Qwen3-VL 2B/4B/8B

def test_every_recipe_plans_quickly():
    "Every recipe in recipes/ (paper and tiny) plans without error, each in well under a few seconds once imports are done."
    from rft_nb.plan import plan_recipe
    recipes = sorted(RECIPES.glob('**/*.yaml'))
    recipes = [r for r in recipes if 'accelerate' not in r.parts]
    assert len(recipes) >= 100
    slowest = 0.0
    for r in recipes:
        t = time.time()
        p = plan_recipe(r, 'H100')
        slowest = max(slowest, time.time() - t) if r != recipes[0] else slowest
        assert p.params_total > 0 and p.peak_gib_per_gpu > 0, r
        assert p.params_trainable <= p.params_total
    assert slowest < 3.0, slowest

def test_fits_and_does_not_fit():
    "2B QLoRA SFT fits an L4; 7B full GRPO squeezed onto one L4 (no ZeRO) does not, by far."
    ok = plan('qwen2vl_2b/counting/1gpu_qlora/cot_sft.yaml', 'L4')
    assert ok.fits and ok.margin_gib > 5 and ok.max_per_device_batch >= ok.setup.per_device_batch
    bad = plan('qwen25vl_7b/counting/8gpu_full/reason_rft_zero.yaml', 'L4', gpus=1, zero=0)
    assert not bad.fits and bad.margin_gib < -50 and bad.max_per_device_batch == 0
    # full fine-tuning of 7.6 B bf16 parameters without DeepSpeed: weights 2 + gradients 2 + AdamW 4 bytes each
    assert bad.parts_gib['weights'] == pytest.approx(bad.params_total * 2 / 2**30)
    assert bad.parts_gib['optimizer'] == pytest.approx(bad.params_trainable * 4 / 2**30)

def test_zero3_over_8_gpus_divides_model_states():
    "ZeRO-3 on 8 GPUs: weights and optimizer states per GPU are 1/8 of one GPU's; the total matches DeepSpeed's estimator."
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs
    from rft_nb.plan_facts import facts_for, resolve_model, gpu_spec, GIB
    from rft_nb.plan_memory import memory_parts
    one = plan('qwen2vl_7b/counting/8gpu_full/reason_rft_zero.yaml', gpus=1, zero=3)
    eight = plan('qwen2vl_7b/counting/8gpu_full/reason_rft_zero.yaml', gpus=8, zero=3)
    for part in ('weights', 'optimizer', 'reference model'):
        assert one.parts_gib[part] / eight.parts_gib[part] == pytest.approx(8.0)
    assert eight.parts_gib['ZeRO-3 gathered layer'] == one.parts_gib['ZeRO-3 gathered layer'] > 0
    # all parameters trained (vision too): exactly DeepSpeed's own estimate of the model states per GPU
    f = facts_for(resolve_model('Qwen/Qwen2-VL-7B-Instruct'))
    s = replace(eight.setup, finetune_vision_layers=True, beta=0.0)
    p = memory_parts(f, s, gpu_spec('H100'))
    ours = p['weights'] + p['gradients'] + p['optimizer'] + p['ZeRO-3 gathered layer']
    _, ds3, _ = estimate_zero3_model_states_mem_needs(f.counts.total, f.largest_layer, num_gpus_per_node=8, cpu_offload=False)
    assert ours == pytest.approx(ds3, rel=1e-6)
    s2 = replace(s, zero=2)
    p2 = memory_parts(f, s2, gpu_spec('H100'))
    _, ds2 = estimate_zero2_model_states_mem_needs(f.counts.total, num_gpus_per_node=8, cpu_offload=False)
    assert p2['weights'] + p2['gradients'] + p2['optimizer'] == pytest.approx(ds2, rel=1e-6)
    _, ds3o, _ = estimate_zero3_model_states_mem_needs(f.counts.total, f.largest_layer, num_gpus_per_node=8,
                                                       cpu_offload=True, cpu_offload_params=False)
    p3 = memory_parts(f, replace(s, offload='optimizer'), gpu_spec('H100'))
    assert p3['weights'] + p3['gradients'] + p3['optimizer'] + p3['ZeRO-3 gathered layer'] == pytest.approx(ds3o, rel=1e-6)

def test_qlora_below_lora_below_full():
    "Same recipe, same GPU and backend: 4-bit LoRA < 16-bit LoRA < full fine-tuning, in weights and in peak."
    r = 'qwen25vl_7b/counting/1gpu_qlora/cot_sft.yaml'
    q = plan(r, backend='trl')
    l = plan(r, backend='trl', extra_args=['--load_in_4bit', 'false'])
    f = plan(r, backend='trl', extra_args=['--load_in_4bit', 'false', '--use_lora', 'false'])
    assert (q.setup.load_in_4bit, l.setup.load_in_4bit, l.setup.use_lora, f.setup.use_lora) == (True, False, True, False)
    assert q.parts_gib['weights'] < l.parts_gib['weights'] < f.parts_gib['weights'] + 1e-9
    assert q.peak_gib_per_gpu < l.peak_gib_per_gpu < f.peak_gib_per_gpu
    assert q.params_trainable == l.params_trainable < f.params_trainable / 50

def test_gradient_checkpointing_lowers_activations():
    r = 'qwen25vl_3b/counting/8gpu_full/cot_sft.yaml'
    on = plan(r)
    off = plan(r, extra_args=['--gradient_checkpointing', 'false'])
    assert on.setup.gradient_checkpointing and not off.setup.gradient_checkpointing
    assert off.parts_gib['activations'] > 8 * on.parts_gib['activations']
    assert off.peak_gib_per_gpu > on.peak_gib_per_gpu

def test_nf4_bytes_match_bitsandbytes():
    "The 4-bit size formula equals the bytes bitsandbytes itself produces (packed weight + quantisation state)."
    import torch, bitsandbytes.functional as F
    from rft_nb.plan_facts import nf4_bytes
    for shape in [(3584, 18944), (257, 31)]:
        q, st = F.quantize_4bit(torch.randn(*shape, dtype=torch.bfloat16), blocksize=64, quant_type='nf4', compress_statistics=True)
        got = sum(t.numel() * t.element_size() for t in [q, st.absmax, st.code, st.state2.absmax, st.state2.code, st.offset])
        assert nf4_bytes(shape[0] * shape[1]) == got

def test_flops_match_trl():
    "Forward FLOPs per token agree with TRL's `compute_flops_per_token` (which counts non-causal attention over the full length)."
    from trl.trainer.utils import compute_flops_per_token
    from rft_nb.plan_facts import facts_for, resolve_model, meta_model
    from rft_nb.plan_memory import forward_flops_per_token
    for hub in ['Qwen/Qwen2.5-VL-7B-Instruct', 'Qwen/Qwen3-VL-4B-Instruct']:
        info = resolve_model(hub)
        f = facts_for(info)
        cfg = meta_model(info.name, info.config_json).config.get_text_config()
        assert forward_flops_per_token(f, 2 * 1000) == pytest.approx(compute_flops_per_token(cfg, 1000) / 3, rel=1e-9)

def test_lora_count_matches_peft(tiny_path):
    "LoRA parameters counted from module shapes equal what peft creates with the project's target regex."
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText
    from rft_nb.plan_facts import count_params
    from rft_nb.plan_memory import lora_param_count
    from rft_nb.engines import lora_target_regex
    m = AutoModelForImageTextToText.from_pretrained(tiny_path, dtype=torch.float32)
    want, layers = lora_param_count(count_params(m), 4, lora_target_regex(True))
    pm = get_peft_model(m, LoraConfig(r=4, target_modules=lora_target_regex(True)))
    assert sum(p.numel() for p in pm.parameters() if p.requires_grad) == want and layers > 0

def test_unsloth_vllm_gate_and_vllm_share():
    "Qwen2-VL cannot use Unsloth's vLLM (planned with transformers, with a note); Qwen2.5-VL can, and vLLM's share is checked."
    q2 = plan('qwen2vl_2b/counting/1gpu_qlora/reason_rft_zero.yaml', 'L4')
    assert q2.setup.rollout == 'transformers' and any('no unsloth_vllm' in n for n in q2.setup.notes)
    q25 = plan('qwen25vl_3b/counting/1gpu_qlora/reason_rft_zero.yaml', 'L4')
    assert q25.setup.rollout == 'vllm-shared' and q25.parts_gib['vLLM share'] == pytest.approx(0.6 * 22.5)
    assert q25.parts_gib['vLLM needs (inside its share)'] < q25.parts_gib['vLLM share']

def run_cli(*args):
    cmd = [sys.executable, '-c', 'import sys; from rft_nb.plan import plan_main; sys.argv[0] = "rft-plan"; plan_main()', *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)

def test_cli_json_and_errors(tmp_path):
    "The console script: --json keys, several recipes in one call, and clear errors (unknown model lists the known ones)."
    t = time.time()
    p = run_cli('recipes/qwen2vl_2b/counting/1gpu_qlora/reason_rft_zero.yaml', '--gpu', 'RTX4090', '--json')
    assert p.returncode == 0, p.stderr[-2000:]
    j = json.loads(p.stdout)
    assert {'params_total', 'params_trainable', 'peak_gib_per_gpu', 'fits'} <= set(j)
    assert j['gpu']['name'] == 'RTX 4090 24GB' and isinstance(j['fits'], bool)
    assert time.time() - t < 60
    p = run_cli('recipes/tiny/counting_grpo.yaml', 'recipes/qwen2vl_7b/counting/8gpu_full/cot_sft.yaml', '--gpu-mem', '40')
    assert p.returncode == 0 and p.stdout.count('verdict') == 2, p.stderr[-2000:]
    bad = tmp_path / 'llava.yaml'
    bad.write_text('model_name_or_path: llava-hf/llava-1.5-7b-hf\ndataset_path: x\noutput_dir: y\nreward_funcs: [format]\n')
    p = run_cli(str(bad))
    assert p.returncode == 2 and 'known models' in p.stderr and 'Qwen/Qwen2.5-VL-7B-Instruct' in p.stderr, p.stderr[-2000:]
    p = run_cli('recipes/qwen2vl_2b/counting/1gpu_qlora/cot_sft.yaml', '--gpu', 'V100')
    assert p.returncode == 2 and 'unknown GPU' in p.stderr
