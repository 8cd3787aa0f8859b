"""Every console script in pyproject's [project.scripts], run as a user runs it: the installed command, as a subprocess.

Success exits 0 and says what it wrote; bad input exits 2 with exactly one `rft-X: error: …` line and no traceback.
A `main()` that returned a value to the console-script wrapper would exit 1 here (a dict goes to stderr)."""
import importlib.util, json, os, subprocess, sys, tomllib
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCRIPTS = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['scripts']
_spec = importlib.util.spec_from_file_location('nb_calm', ROOT / 'scripts' / 'nb_calm.py')
nb_calm = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(nb_calm)


@pytest.fixture(scope='module')
def ws(tmp_path_factory, cache_dir, tiny_path):
    "A settings file in a fresh folder, its environment, and a small counting dataset built by the `rft-data` command."
    root = tmp_path_factory.mktemp('commands')
    st = root / 'settings.ini'
    st.write_text(f"[paths]\ncache_dir = {cache_dir}\noutput_dir = {root / 'outputs'}\ndata_dir = {root / 'data'}\n"
                  "[model]\nbase_model = tiny-qwen2-vl\n")
    env = dict(os.environ, RFT_NB_SETTINGS=str(st), TOKENIZERS_PARALLELISM='false', OMP_NUM_THREADS='1')
    for k in ('WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'ACCELERATE_CONFIG'): env.pop(k, None)
    w = dict(root=root, env=env, tiny=str(tiny_path))
    r = run('rft-data', 'synthetic', 'counting', '--n-train', '8', '--n-test', '4', '--size', '56', ws=w)
    w['data_run'] = r
    return w


def run(cmd, *args, ws):
    "The installed console script `cmd` (from this interpreter's bin folder) run in the workspace."
    exe = BIN / cmd
    assert exe.is_file(), f"{exe} is not installed (pip install -e .)"
    return subprocess.run([str(exe), *map(str, args)], cwd=ws['root'], env=ws['env'], capture_output=True, text=True, timeout=900)


def assert_calm(r, quiet: bool):
    "None of the known-harmless library lines `make nb-calm` looks for (per-step log dicts only when `quiet` was asked for)."
    for name, pat in nb_calm.NOISE_RE.items():
        if name == 'per-step log dict' and not quiet: continue   # with progress on, the bar writes each step's numbers
        m = pat.search(r.stdout + r.stderr)
        assert not m, f"{name}: {(r.stdout + r.stderr)[m.start():m.start() + 200]!r}"


def assert_ok(r, *expect, quiet=False):
    "Exit 0, no traceback, nothing leaked to stderr as a return value, no library noise, and stdout says `expect`."
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout[-1500:]}\nstderr: {r.stderr[-3000:]}"
    assert 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert_calm(r, quiet)
    for e in expect: assert e in r.stdout, f"{e!r} not in stdout: {r.stdout[-1500:]}"


def assert_bad(r, cmd, expect):
    "Exit 2 and exactly one `cmd: error: …` line on stderr, naming `expect`, and no traceback."
    assert r.returncode == 2, f"exit {r.returncode}\nstdout: {r.stdout[-1500:]}\nstderr: {r.stderr[-3000:]}"
    assert 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert_calm(r, quiet=True)
    errs = [l for l in r.stderr.splitlines() if 'error:' in l]
    assert len(errs) == 1 and errs[0].startswith(f"{cmd}: error: "), r.stderr[-3000:]
    assert expect in errs[0], errs[0]


# (command) -> (success arguments, what its stdout says), (bad arguments, what its error line names); `{x}` from the workspace
CASES = {
    'rft-build-tiny': (['--name', 'tiny-qwen2-vl'], ['tiny-qwen2-vl'], ['--name', 'no-such-model'], "invalid choice: 'no-such-model'"),
    'rft-data': (None, None, ['from-json', 'missing.json', '--out', 'built'], 'missing.json: file not found'),
    'rft-sft': (['--config', ROOT / 'recipes/tiny/counting_cot_sft.yaml', '--model_name_or_path', '{tiny}', '--dataset_path', '{data}',
                 '--output_dir', '{root}/sft', '--max_steps', '1', '--merge_adapter', 'false', '--save_strategy', 'no'],
                ['"steps": 1'], ['--config', 'missing.yaml'], 'missing.yaml does not exist'),
    'rft-grpo': (['--config', ROOT / 'recipes/tiny/counting_grpo.yaml', '--model_name_or_path', '{tiny}', '--dataset_path', '{data}',
                  '--output_dir', '{root}/grpo', '--max_steps', '1', '--max_completion_length', '8', '--save_strategy', 'no'],
                 ['"steps": 1'], ['--config', 'missing.yaml'], 'missing.yaml does not exist'),
    'rft-eval': (['--model', '{tiny}', '--data', '{data}', '--split', 'test_id', '--limit', '2', '--max-new-tokens', '8',
                  '--out', '{root}/eval', '--no-progress'],
                 ['results.json'], ['--model', '{tiny}', '--data', 'no-such-data'], "dataset 'no-such-data' not found"),
    'rft-report': (['{root}/eval'], ['| eval |'], ['{root}/no-such-run'], 'no-such-run'),
    'rft-demo': (['--preset', 'smoke', '--out', '{root}/demo', '--no-progress'], ['summary'], ['--preset', 'huge'],
                 "invalid choice: 'huge'"),
    'rft-plan': ([ROOT / 'recipes/qwen2vl_2b/counting/1gpu_qlora/reason_rft_zero.yaml', '--gpu', 'H100'], ['H100'],
                 ['missing.yaml'], 'missing.yaml does not exist'),
    'rft-difficulty': (['--model', '{tiny}', '--data', '{data}', '--limit', '2', '--k', '2', '--max-new-tokens', '8',
                        '--batch-size', '4', '--out', '{root}/difficulty', '--no-progress'],
                       ['difficulty.jsonl'], ['--data', 'no-such-data'], "dataset 'no-such-data' not found"),
    'rft-probe': (['{tiny}', '--n', '2', '--sizes', '56', '--max-new-tokens', '8', '--out', '{root}/probe/probe.json', '--no-progress'],
                  ['| convention |', 'probe.json'], ['no-such-model'], "model 'no-such-model' not found"),
}


def test_every_script_has_a_case():
    assert sorted(CASES) == sorted(SCRIPTS)


def fill(args, ws):
    vals = dict(root=ws['root'], tiny=ws['tiny'], data=ws['root'] / 'data' / 'synthetic-counting')
    return [str(a).format(**vals) for a in args]


# rft-report reads what rft-eval wrote, so the order of the parameters matters
@pytest.mark.parametrize('cmd', list(CASES))
def test_success(cmd, ws):
    ok_args, expect, _, _ = CASES[cmd]
    if cmd == 'rft-data':
        assert_ok(ws['data_run'], 'rft-data synthetic: wrote')
        assert (ws['root'] / 'data' / 'synthetic-counting' / 'build_report.json').is_file()
        return
    r = run(cmd, *fill(ok_args, ws), ws=ws)
    assert_ok(r, *expect, quiet='--no-progress' in ok_args)
    if cmd == 'rft-eval':
        res = json.loads((ws['root'] / 'eval' / 'results.json').read_text())
        assert res['metrics'], res
        assert "'metrics'" not in r.stderr   # the results dict is not handed to sys.exit


@pytest.mark.parametrize('cmd', list(CASES))
def test_bad_input(cmd, ws):
    _, _, bad_args, expect = CASES[cmd]
    assert_bad(run(cmd, *fill(bad_args, ws), ws=ws), cmd, expect)


def test_eval_and_then(ws):
    "`rft-eval ... && echo ok` reaches `echo ok`, the way a shell script chains commands."
    args = ' '.join(f"'{a}'" for a in fill(CASES['rft-eval'][0], ws)).replace(f"{ws['root']}/eval", f"{ws['root']}/eval2")
    r = subprocess.run(f"{BIN / 'rft-eval'} {args} && echo ok", shell=True, cwd=ws['root'], env=ws['env'],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0 and r.stdout.strip().endswith('ok'), r.stderr[-3000:]


def test_demo_pointing(ws):
    "`rft-demo --task pointing` runs every stage of the spatial benchmark and writes each stage's success where a script reads it."
    r = run('rft-demo', '--task', 'pointing', '--preset', 'smoke', '--out', 'pointing', ws=ws)
    assert_ok(r, 'best_constant', 'summary.json', quiet=True)
    s = json.loads((ws['root'] / 'outputs' / 'pointing' / 'summary.json').read_text())   # relative --out: under output_dir
    for stage in ('cot_sft', 'grpo_outcome', 'grpo_outcome_process', 'best_constant'):
        for split in ('test_id', 'test_ood'): assert 0 <= s['success'][stage][split] <= 100, (stage, split, s['success'])
    assert set(s['best_constant_point']) == {'test_id', 'test_ood'}
    assert_bad(run('rft-demo', '--task', 'pointing', '--cfg', 'sft_step=3', ws=ws), 'rft-demo', "--cfg 'sft_step=3'")
    assert_bad(run('rft-demo', '--task', 'drawing', ws=ws), 'rft-demo', "invalid choice: 'drawing'")
