"""`rft-plan` and `--dry-run` answer 'what happens on a GPU box' the same on every install (issue 30, item 2).

The facts they need from the pinned GPU packages (Unsloth's fast_inference gate, vLLM's multimodal architectures, TRL's
vLLM range) are committed in `rft_nb/stack_facts.json`, written from the pinned wheels by `python -m rft_nb.stack
write-facts` and checked against them here when `make wheels` has run. Everything runs through the installed commands,
once with the wheels where `make wheels` puts them and once with `RFT_NB_WHEELS` pointing at an empty folder."""
import json, os, subprocess, sys
from pathlib import Path
import pytest
from rft_nb import stack

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
QWEN3VL_1GPU = 'recipes/qwen3vl_2b/detection/1gpu_qlora/visual_rft.yaml'
QWEN25VL_8GPU = 'recipes/qwen25vl_3b/detection/8gpu_full/visual_rft.yaml'
QWEN2VL_1GPU = 'recipes/qwen2vl_2b/detection/1gpu_qlora/visual_rft.yaml'


@pytest.fixture(scope='module')
def ws(tmp_path_factory):
    "Settings with empty models_dir / data_dir, and two environments: the wheels where they are, and no wheels at all."
    root = tmp_path_factory.mktemp('stack_facts')
    st = root / 'settings.ini'
    st.write_text(f"[paths]\nmodels_dir = {root / 'models'}\ndata_dir = {root / 'data'}\noutput_dir = {root / 'outputs'}\n"
                  f"cache_dir = {root / 'cache'}\n")
    (root / 'no_wheels').mkdir()
    env = dict(os.environ, RFT_NB_SETTINGS=str(st), TOKENIZERS_PARALLELISM='false', OMP_NUM_THREADS='1')
    for k in ('WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'ACCELERATE_CONFIG'): env.pop(k, None)
    return dict(root=root, wheels=env, no_wheels=dict(env, RFT_NB_WHEELS=str(root / 'no_wheels')))


def run(cmd, *args, env):
    "The installed console script `cmd` (from this interpreter's bin folder), run from the checkout."
    exe = BIN / cmd
    assert exe.is_file(), f"{exe} is not installed (pip install -e .)"
    return subprocess.run([str(exe), *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def ok(r):
    assert r.returncode == 0 and 'Traceback' not in r.stderr, f"exit {r.returncode}\n{r.stdout[-1500:]}\n{r.stderr[-3000:]}"
    return r.stdout


def test_plan_same_with_and_without_wheels(ws):
    "rft-plan prints the same plan with and without `make wheels`: Qwen3-VL and Qwen2.5-VL roll out with vLLM either way."
    args = (QWEN3VL_1GPU, QWEN25VL_8GPU, QWEN2VL_1GPU, '--gpu', 'L4')
    have, lack = ok(run('rft-plan', *args, env=ws['wheels'])), ok(run('rft-plan', *args, env=ws['no_wheels']))
    assert lack == have
    qwen3, qwen25, qwen2 = lack.split('\n\n')
    assert 'rollout  vllm-shared (60% of GPU memory)' in qwen3 and 'DOES NOT FIT on L4' in qwen3, qwen3
    assert 'rollout  vllm-colocate (30% of GPU memory)' in qwen25, qwen25
    assert 'rollout  transformers' in qwen2 and 'refuses fast_inference for qwen2_vl' in qwen2, qwen2
    assert 'unsloth 2026.10.9 (committed facts)' in qwen3
    for bad in ('could not be read', 'neither installed nor downloaded'): assert bad not in lack


def test_dry_run_same_with_and_without_wheels(ws):
    "rft-grpo --dry-run says the same with and without `make wheels`, and names where its facts come from."
    for recipe, engine in [(QWEN3VL_1GPU, 'unsloth_vllm'), (QWEN25VL_8GPU, 'trl_vllm')]:
        have = ok(run('rft-grpo', '--dry-run', '--config', recipe, env=ws['wheels']))
        lack = ok(run('rft-grpo', '--dry-run', '--config', recipe, env=ws['no_wheels']))
        assert lack == have
        assert f"GPU box (CUDA, gpu extra): generation engine {engine} (auto:" in lack, lack
        assert 'facts: unsloth 2026.10.9 (committed facts); vllm 0.31.0 (committed facts)' in lack, lack
        assert 'rft_nb/stack_facts.json' in lack and 'neither installed nor downloaded' not in lack, lack


def test_qwen2vl_dry_run_names_unsloths_refusal(ws):
    "Without the wheels, the Qwen2-VL dry run says Unsloth refuses fast_inference for qwen2_vl, not 'gate could not be read'."
    out = ok(run('rft-grpo', '--dry-run', '--config', QWEN2VL_1GPU, env=ws['no_wheels']))
    assert ('GPU box (CUDA, gpu extra): generation engine transformers (auto: no unsloth_vllm: unsloth 2026.10.9 (committed facts) '
            'refuses fast_inference for qwen2_vl') in out, out
    assert 'could not be read' not in out, out
    r = run('rft-grpo', '--dry-run', '--config', QWEN2VL_1GPU, '--generation_engine', 'unsloth_vllm', env=ws['no_wheels'])
    assert r.returncode == 2 and 'refuses fast_inference for qwen2_vl' in r.stdout, r.stdout[-2000:]


def readme_rows() -> dict[str, dict[str, str]]:
    "The README's rft-plan table: recipe group -> {column: cell}."
    lines = [l for l in (ROOT / 'README.md').read_text().splitlines() if l.startswith('| ')]
    head = next(i for i, l in enumerate(lines) if l.startswith('| recipe | model | training |'))
    cols = [c.strip() for c in lines[head].strip('|').split('|')]
    rows = {}
    for l in lines[head + 1:]:
        cells = [c.strip() for c in l.strip('|').split('|')]
        if len(cells) != len(cols): break
        rows[cells[0]] = dict(zip(cols, cells))
    return rows


README_GROUPS = ['qwen3vl_2b/1gpu_qlora/visual_rft', 'qwen25vl_3b/8gpu_full/visual_rft']
README_GPUS = ('L4', 'RTX4090', 'A100-40GB')   # the columns where these rows' verdicts differ


def group_recipes(group):
    model, setup, stem = group.split('/')
    return sorted(ROOT.glob(f"recipes/{model}/*/{setup}/{stem}.yaml"))


@pytest.fixture(scope='module')
def fresh_plans(ws):
    "`rft-plan --json` of every recipe of README_GROUPS on each of README_GPUS, on a fresh install (no wheels): {gpu: {recipe: plan}}."
    recipes = [r for g in README_GROUPS for r in group_recipes(g)]
    out = {}
    for g in README_GPUS:
        plans = json.loads(ok(run('rft-plan', *recipes, '--gpu', g, '--json', env=ws['no_wheels'])))
        out[g] = {Path(p['recipe']).resolve(): p for p in plans}
    return out


@pytest.mark.parametrize('group', README_GROUPS)
def test_readme_table_matches_rft_plan_without_wheels(fresh_plans, group):
    "The README's row (worst task of the group) is what `rft-plan --json` says on a fresh install (no wheels)."
    row = readme_rows()[group]
    for g in README_GPUS:
        plans = [fresh_plans[g][r.resolve()] for r in group_recipes(group)]
        s = plans[0]['setup']
        mode = 'QLoRA' if s['load_in_4bit'] else ('LoRA' if s['use_lora'] else 'full')
        training = f"{s['kind'].upper()} {mode}" + (f" ZeRO-{s['zero']}" if s['zero'] else '') + (f", vLLM {s['vllm_util']:.0%}" if s['vllm_util'] else '')
        assert training == row['training'], (g, training, row)
        assert f"{max(p['needs_gib_per_gpu'] for p in plans):.1f}" == row['needs GiB/GPU'], (g, [p['needs_gib_per_gpu'] for p in plans], row)
        assert ('✓' if all(p['fits'] for p in plans) else '✗') == row[g], (g, [(p['recipe'], p['fits']) for p in plans], row)


def test_missing_dataset_and_model_are_warned(ws):
    "The dry run and the plan say when the recipe's dataset does not exist and the model is not in models_dir (warnings, exit 0)."
    root = ws['root']
    dry = ok(run('rft-grpo', '--dry-run', '--config', QWEN2VL_1GPU, env=ws['no_wheels']))
    plan = ok(run('rft-plan', QWEN2VL_1GPU, env=ws['no_wheels']))
    for out, prefix in [(dry, 'warning: '), (plan, '  warning  ')]:
        assert f"{prefix}dataset {root / 'data' / 'visual_rft' / 'detection'} does not exist" in out, out
        assert f"{prefix}model 'Qwen/Qwen2-VL-2B-Instruct' is not in models_dir {root / 'models'} " in out, out
    # once both are there, no warning
    (root / 'data' / 'visual_rft' / 'detection').mkdir(parents=True)
    m = root / 'models' / 'Qwen' / 'Qwen2-VL-2B-Instruct'
    m.mkdir(parents=True)
    (m / 'config.json').write_text(json.dumps({'model_type': 'qwen2_vl', 'architectures': ['Qwen2VLForConditionalGeneration']}))
    try:
        assert 'warning' not in ok(run('rft-grpo', '--dry-run', '--config', QWEN2VL_1GPU, env=ws['no_wheels']))
        assert 'warning' not in ok(run('rft-plan', QWEN2VL_1GPU, env=ws['no_wheels']))
    finally:
        import shutil
        shutil.rmtree(root / 'data'); shutil.rmtree(root / 'models')


def test_committed_facts_are_the_pinned_wheels():
    "`python -m rft_nb.stack write-facts --check`: the committed facts equal what the pinned wheels say (needs `make wheels`)."
    if any(stack.package_source(d, installed=False) is None for d in ('unsloth', 'vllm')):
        pytest.skip(f"pinned wheels not in {stack.wheels_dir()}: run `make wheels` to check the committed facts against them")
    r = subprocess.run([sys.executable, '-m', 'rft_nb.stack', 'write-facts', '--check'], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'match' in r.stdout


def test_committed_facts_are_of_the_pinned_versions():
    "A pin bump without `make stack-facts` fails here even without the wheels."
    facts = json.loads(stack.STACK_FACTS_FILE.read_text())
    for dist in ('unsloth', 'vllm', 'trl'):
        assert facts[dist]['version'] == stack.pinned_version(dist), (dist, facts[dist]['version'], stack.pinned_version(dist))
