"""The GPU check's plumbing on the CPU: `bash benchmarks/gpu_check.sh --cpu` (stages, timeouts, budget, files under
$OUT), the benchmark's CPU mode (GRPO steps of forced length, timings split, rft-plan beside), and `make gpu-wheels`'
packing into device calls. What needs CUDA is in tests/test_gpu.py (marker `gpu`)."""
import importlib.util, json, os, re, subprocess, sys, xml.etree.ElementTree as ET
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / 'benchmarks' / 'gpu_check.sh'


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / 'benchmarks' / f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def check_env(cache_dir, tmp_path):
    st = tmp_path / 'settings.ini'
    st.write_text(f"[paths]\ncache_dir = {cache_dir}\noutput_dir = {tmp_path / 'outputs'}\ndata_dir = {tmp_path / 'data'}\n")
    env = dict(os.environ, PYTHON=sys.executable, RFT_NB_SETTINGS=str(st), OMP_NUM_THREADS='1', TOKENIZERS_PARALLELISM='false')
    env.pop('OUT', None)
    return env


def run_check(args, env, timeout=900):
    return subprocess.run(['bash', str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def out_files_ok(out: Path):
    "What the device tool brings back: at most 8 files, no deeper than 2 folders, names of letters, digits, '.', '_', '-'."
    files = [p for p in out.rglob('*') if p.is_file()]
    assert len(files) <= 8, files
    for p in files:
        rel = p.relative_to(out)
        assert len(rel.parts) <= 3 and all(re.fullmatch(r'[A-Za-z0-9._-]+', part) for part in rel.parts), rel
    return {str(p.relative_to(out)) for p in files}


@pytest.mark.slow
def test_gpu_check_cpu_mode(cache_dir, tmp_path):
    """The whole check on the CPU: every stage runs or says why it skipped; the gpu tests skip naming CUDA; the benchmark
    trains 2 GRPO steps of exactly 8 tokens per completion on both tiny models with timings split and rft-plan's
    prediction, skips Unsloth saying why; log, figures.json, RESULTS lines, junit XML and the benchmark's files under --out."""
    out = tmp_path / 'out'
    # generous limits: this proves the plumbing on a CPU that may be shared (about 1-3 min alone on 2 cores); the
    # budget and the timeouts themselves are proven by the two tests below
    slack = ['--budget-s', '1700', '--imports-timeout-s', '600', '--pytest-timeout-s', '600', '--bench-arg', '--run-timeout-s=600']
    p = run_check(['--cpu', '--out', str(out), *slack], check_env(cache_dir, tmp_path), timeout=1800)
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-3000:]
    assert out_files_ok(out) == {'gpu_check.log', 'figures.json', 'RESULTS_lines.md', 'pytest_gpu.xml', 'grpo_gpu.json', 'grpo_gpu.md'}
    fig = json.loads((out / 'figures.json').read_text())
    st = fig['stages']
    assert [*st] == ['install', 'imports', 'pytest', 'notebooks', 'bench'], st
    assert st['install']['status'] == 'skipped' and '--cpu' in st['install']['why']
    assert st['notebooks']['status'] == 'skipped' and 'vLLM' in st['notebooks']['why']
    assert all(st[s]['status'] == 'ok' for s in ('imports', 'pytest', 'bench')), st
    assert fig['wall_s'] <= fig['budget_s'] and fig['stack']['cuda'] is False and fig['stack']['versions']['trl']
    # the gpu tests ran under -m gpu and every one skipped, saying why
    cases = ET.parse(out / 'pytest_gpu.xml').getroot().iter('testcase')
    skips = [c.find('skipped') for c in cases]
    assert len(skips) >= 7 and all(s is not None and 'no CUDA GPU' in s.get('message', '') for s in skips), skips
    assert re.match(r'\d+ skipped', fig['pytest_summary']), fig['pytest_summary']
    # the benchmark
    b = fig['bench']
    assert b['settings']['steps'] == 2 and b['settings']['completion_tokens'] == 8
    assert set(b['models']) == {'tiny-qwen2-vl', 'tiny-qwen3-vl'}
    for m, mr in b['models'].items():
        r = mr['runs']['trl_lora']
        assert r['status'] == 'ok', (m, r)
        assert r['steps'] == 2 and r['fixed_length'] and r['completion_lengths'] == [8], (m, r)
        assert r['generation_measured'] and 0 < r['generation_s'] < r['step_s'] and r['training_s'] > 0, (m, r)
        assert r['samples_per_s'] == pytest.approx(8 / r['step_s'])
        assert r['generated_tokens_per_s'] == pytest.approx(64 / r['generation_s'])
        assert r['plan_peak_gib'] > 0 and r['vs_baseline_samples_per_s'] == pytest.approx(1.0)
        assert mr['prompt']['image_tokens'] == (16 if 'qwen2' in m else 9)   # 112 px: 4x4 merged patches (28 px), 3x3 (32 px)
        for u in ('unsloth_qlora', 'unsloth_lora16'):
            assert mr['runs'][u]['status'] == 'skipped' and 'NotImplementedError' in mr['runs'][u]['why']
    md = (out / 'RESULTS_lines.md').read_text()
    assert '| trl_lora |' in md and 'plumbing run, not GPU figures' in md and '| bench | ok |' in md


def test_gpu_check_stays_in_budget(cache_dir, tmp_path):
    "A budget too small for any stage: each is skipped, saying so, and the check still writes its report and exits 0."
    out = tmp_path / 'out'
    p = run_check(['--cpu', '--out', str(out), '--budget-s', '20'], check_env(cache_dir, tmp_path), timeout=300)
    assert p.returncode == 0, p.stdout[-4000:]
    st = json.loads((out / 'figures.json').read_text())['stages']
    assert st['imports']['status'] == st['pytest']['status'] == 'skipped' and 'budget' in st['pytest']['why'], st
    assert st['bench']['status'] == 'skipped' and 'budget' in st['bench']['why'], st
    assert 'SKIPPED (budget' in (out / 'gpu_check.log').read_text()


def test_gpu_check_stage_timeout(cache_dir, tmp_path):
    "A stage that outruns its own timeout is killed, recorded as a timeout, and the check exits 1 after writing its report."
    out = tmp_path / 'out'
    p = run_check(['--cpu', '--out', str(out), '--skip', 'imports', '--skip', 'bench', '--pytest-timeout-s', '1'],
                  check_env(cache_dir, tmp_path), timeout=300)
    assert p.returncode == 1, p.stdout[-4000:]
    st = json.loads((out / 'figures.json').read_text())['stages']
    assert st['pytest']['status'] == 'timeout' and st['imports']['why'] == '--skip imports', st
    assert 'pytest: TIMEOUT' in (out / 'gpu_check.log').read_text()


def test_gpu_check_rejects_unknown_arguments(tmp_path):
    p = subprocess.run(['bash', str(SCRIPT), '--gpus', '2'], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and 'unknown argument --gpus' in p.stderr
    p = subprocess.run(['bash', str(SCRIPT), '--budget-s', 'soon'], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and 'whole seconds' in p.stderr


def test_grpo_gpu_refuses_gpu_mode_without_cuda_and_unknown_names():
    import torch
    if torch.cuda.is_available(): pytest.skip('this machine has CUDA')
    g = [sys.executable, str(ROOT / 'benchmarks' / 'grpo_gpu.py')]
    p = subprocess.run(g, capture_output=True, text=True, timeout=300)
    assert p.returncode == 1 and 'no CUDA GPU here; use --cpu' in p.stderr
    p = subprocess.run(g + ['--cpu', '--methods', 'vllm_magic'], capture_output=True, text=True, timeout=300)
    assert p.returncode == 1 and 'unknown vllm_magic' in p.stderr


def test_with_token_ids_keeps_shapes():
    "The real configs keep their shapes (vocabulary 151,936) while their special-token ids become the small tokenizer's."
    g = load('grpo_gpu')
    from rft_nb.tiny_tokenizers import build_tokenizer
    from rft_nb.plan_facts import find_model
    tok = build_tokenizer(family='qwen3-vl')
    for name in g.GPU_MODELS.values():
        cfg = find_model(name)['config']
        new = g.with_token_ids(cfg, tok)
        assert json.dumps(new).count('151936') == json.dumps(cfg).count('151936') >= 1
        ids = {k: v for k, v in g.TOKEN_KEYS.items() if k in new}
        assert new['image_token_id'] == tok.convert_tokens_to_ids('<|image_pad|>') < len(tok)
        assert new['vision_start_token_id'] == tok.convert_tokens_to_ids('<|vision_start|>') and ids
        text = new.get('text_config', new)
        assert text['eos_token_id'] == tok.convert_tokens_to_ids('<|im_end|>')


# --- make gpu-wheels ---------------------------------------------------------------------------------------------------
def test_gpu_wheels_roots_and_box():
    "The closure starts at what the check imports (TRL, datasets, bitsandbytes, Unsloth, math-verify) and stops at the box's packages."
    w = load('gpu_wheels')
    from rft_nb.stack import canonical
    roots = {canonical(re.split(r'[<>=!~\[; ]', r, 1)[0]) for r in w.roots()}
    assert {'trl', 'datasets', 'bitsandbytes', 'unsloth', 'unsloth_zoo', 'math_verify', 'pycocotools'} <= roots
    assert 'vllm' not in roots and 'deepspeed' not in roots
    box = w.box_packages()
    assert {'torch', 'transformers', 'accelerate', 'peft', 'torchvision', 'pyarrow'} <= set(box) and box['torch'] == '2.11.0'
    assert not {'trl', 'datasets', 'bitsandbytes', 'unsloth', 'unsloth_zoo', 'math_verify'} & set(box)
    assert {'xformers', 'vllm'} <= set(w.SKIP)


def test_gpu_wheels_packing_fails_over_budget():
    "Wheels are packed into calls within the room a call leaves; a wheel too big for one call, or too many calls, fails."
    w = load('gpu_wheels')
    M = w.MIB
    sizes = {'bitsandbytes': 41 * M, 'unsloth': 27 * M, 'diffusers': 6 * M, 'trl': M, 'datasets': M // 2}
    calls = w.pack(sizes, 56 * M, 2)
    assert len(calls) == 2 and sorted(n for c in calls for n in c) == sorted(sizes)
    assert all(sum(sizes[n] for n in c) <= 56 * M for c in calls)
    with pytest.raises(SystemExit, match='bitsandbytes .* alone exceeds'):
        w.pack(sizes, 40 * M, 5)
    with pytest.raises(SystemExit, match='need 2 device calls'):
        w.pack(sizes, 56 * M, 1)
    with pytest.raises(SystemExit, match='no room'):
        w.pack(sizes, -M, 2)


def test_gpu_wheels_manifest_within_budget():
    "After `make gpu-wheels`: each call's wheels plus today's working tree stay within the budget (skips before it)."
    w = load('gpu_wheels')
    man = ROOT / '.whl' / 'MANIFEST.json'
    if not man.is_file(): pytest.skip('no .whl/MANIFEST.json: run `make gpu-wheels` (downloads about 90 MiB)')
    m = json.loads(man.read_text())
    tree = w.tree_bytes()
    for c in m['calls']:
        files = list((ROOT / '.whl' / c['folder']).glob('*.whl'))
        assert sorted(f.name for f in files) == sorted(x['file'] for x in c['wheels'])
        assert sum(f.stat().st_size for f in files) + tree <= m['budget_mib'] * w.MIB, c['folder']
    names = {x['name'] for c in m['calls'] for x in c['wheels']}
    assert {'trl', 'datasets', 'bitsandbytes', 'unsloth', 'unsloth_zoo', 'math_verify'} <= names
    assert not names & set(w.box_packages()) and not names & set(w.SKIP)
