"""`rft-probe` as a command: against a local OpenAI-compatible server that answers in each coordinate convention it names
that convention; the transformers backend end to end; bad input exits 2 with one error line; rft-eval and training warn
when a probe disagrees with the run's convention."""
import json, os, shutil, subprocess, sys, threading
from pathlib import Path
import pytest

from chat_server import AnswerKey, chat_server, serve_chat
from rft_nb.probe import probe_rows, PROBE_KINDS

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def env(tmp_path_factory, cache_dir):
    root = tmp_path_factory.mktemp('probe')
    (root / 'settings.ini').write_text(f"[paths]\ncache_dir = {cache_dir}\noutput_dir = {root / 'outputs'}\ndata_dir = {root / 'data'}\n"
                                       "[model]\nbase_model = tiny-qwen2-vl\n")
    e = dict(os.environ, RFT_NB_SETTINGS=str(root / 'settings.ini'), TOKENIZERS_PARALLELISM='false', OMP_NUM_THREADS='1')
    return dict(root=root, env=e)


def run(cmd, *args, env):
    exe = BIN / cmd
    assert exe.is_file(), f"{exe} is not installed (pip install -e .)"
    return subprocess.run([str(exe), *map(str, args)], cwd=env['root'], env=env['env'], capture_output=True, text=True, timeout=600)


def serve(backend, n):
    srv = chat_server(backend, '127.0.0.1', 0, model_name='served')
    srv.timeout = 60
    t = threading.Thread(target=serve_chat, args=(srv, n), daemon=True); t.start()
    return srv, t, f'http://127.0.0.1:{srv.server_address[1]}/v1'


# a Qwen2.5-VL served at max_pixels 224 x 224: 448 and 336 px images are resized by half and by two thirds, so all four
# candidates give far-apart numbers (sizes also away from 1000, where original pixels and 0-1000 meet)
ARGS = ['--family', 'qwen2.5-vl', '--max-pixels', '50176', '--n', '8', '--sizes', '448,336', '--no-progress']


@pytest.mark.parametrize('kind', PROBE_KINDS)
def test_openai_server_in_each_convention(kind, env):
    "The probe names the convention the server answers in, for boxes and points, and says whether the family agrees."
    rows = probe_rows(8, (448, 336))
    conv = {'resized': 'resized-28-3136-50176'}.get(kind, kind)
    key = AnswerKey(rows, conv, bare=kind == 'norm1')          # one model answers bare, without the R1 tags
    srv, t, url = serve(key, len(rows))
    out = env['root'] / f'probe-{kind}.json'
    try: r = run('rft-probe', 'served', '--backend', 'openai', '--base-url', url, *ARGS, '--out', out, env=env)
    finally:
        t.join(timeout=60); srv.server_close()
    assert r.returncode == 0, r.stderr[-3000:]
    assert key.asked == len(rows)
    res = json.loads(out.read_text())
    for what in ('box', 'point'):
        s = res[what]
        assert s['best'] == kind and s['same_as_best'] == [], (what, s)
        assert s['score'] > 0.9 and s['margin'] > 0.9 and s['parsed'] == 1.0, (what, s)
        assert s['verdict'] == ('agrees' if kind == 'resized' else 'disagrees'), (what, s)
        assert s['assumed'] == 'resized'
    assert res['conventions']['resized'] == 'resized-28-3136-50176' and res['backend'] == 'openai'
    assert f"box: best fit {res['conventions'][kind]}" in r.stdout and str(out) in r.stdout


def test_indistinguishable_conventions_are_named_not_chosen(env):
    "At the checkpoint's own pixel limits, 448 px images are not resized: pixel and resized are reported as one fit."
    rows = probe_rows(4, (448,))
    key = AnswerKey(rows, 'pixel')
    srv, t, url = serve(key, len(rows))
    out = env['root'] / 'outputs' / 'probe' / 'served' / 'probe.json'    # a served model's probe: under output_dir
    try: r = run('rft-probe', 'served', '--backend', 'openai', '--base-url', url, '--family', 'qwen2.5-vl', '--n', '4',
                 '--sizes', '448', '--no-progress', env=env)
    finally:
        t.join(timeout=60); srv.server_close()
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(out.read_text())['box']
    assert {s['best'], *s['same_as_best']} == {'pixel', 'resized'} and s['verdict'] == 'agrees', s
    assert 'indistinguishable here from' in r.stdout


@pytest.mark.parametrize('args, expect', [
    (['served', '--backend', 'openai'], '--backend openai: name the served model'),
    (['tiny-qwen2-vl', '--tasks', 'counting'], 'unknown probe task(s) counting'),
    (['tiny-qwen2-vl', '--sizes', '448,abc'], '--sizes: expected comma-separated integers'),
    (['tiny-qwen2-vl', '--family', 'qwen2.5-vl'], '--family qwen2.5-vl disagrees with the checkpoint'),
    (['served', '--backend', 'openai', '--family', 'qwen2-vl', '--base-url', 'http://127.0.0.1:9/v1', '--n', '1'], 'cannot reach the server'),
])
def test_bad_input(args, expect, env):
    r = run('rft-probe', *args, '--no-progress', env=env)
    assert r.returncode == 2, (r.returncode, r.stderr[-3000:])
    assert 'Traceback' not in r.stderr, r.stderr[-3000:]
    errs = [l for l in r.stderr.splitlines() if 'error:' in l]
    assert len(errs) == 1 and errs[0].startswith('rft-probe: error: ') and expect in errs[0], r.stderr[-3000:]


def test_eval_warns_when_the_probe_disagrees(env, tiny_path):
    "rft-eval reads probe.json from the model's folder and warns, naming the convention to read; --probe names another file."
    model = env['root'] / 'tiny-copy'
    if not model.exists(): shutil.copytree(tiny_path, model)
    rows = probe_rows(4, (448, 336))
    srv, t, url = serve(AnswerKey(rows, 'pixel'), len(rows))
    try: r = run('rft-probe', 'served', '--backend', 'openai', '--base-url', url, '--family', 'qwen2-vl', '--n', '4',
                 '--sizes', '448,336', '--no-progress', '--out', model / 'probe.json', env=env)
    finally:
        t.join(timeout=60); srv.server_close()
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((model / 'probe.json').read_text())['box']['verdict'] == 'disagrees'
    data = env['root'] / 'data' / 'g'
    d = run('rft-data', 'synthetic', 'grounding', '--n-train', '2', '--n-test', '2', '--size', '56', '--out', data, env=env)
    assert d.returncode == 0, d.stderr[-3000:]
    common = ['--data', data, '--split', 'test_id', '--limit', '1', '--max-new-tokens', '4', '--no-progress']
    e = run('rft-eval', '--model', model, *common, '--out', env['root'] / 'eval1', env=env)
    assert e.returncode == 0, e.stderr[-3000:]
    warns = [l for l in e.stderr.splitlines() if l.startswith('rft-eval: warning: ')]
    assert len(warns) == 2 and 'writes boxes in pixel' in warns[0] and 'box convention to pixel' in warns[0], e.stderr[-3000:]
    e = run('rft-eval', '--model', model, *common, '--box-convention', 'pixel', '--out', env['root'] / 'eval2', env=env)
    assert e.returncode == 0 and 'warning:' not in e.stderr, e.stderr[-3000:]           # the run reads what the model writes
    e = run('rft-eval', '--model', tiny_path, *common, '--probe', model / 'probe.json', '--out', env['root'] / 'eval3', env=env)
    assert e.returncode == 0 and e.stderr.count('rft-eval: warning: ') == 2, e.stderr[-3000:]


def test_training_logs_the_probe_warning(tmp_path, tiny_path, caplog):
    "Training's model view reads the checkpoint's probe.json and logs the same warning."
    import types, logging
    from rft_nb.train_data import model_view
    model = tmp_path / 'm'; shutil.copytree(tiny_path, model)
    (model / 'probe.json').write_text(json.dumps({'box': dict(verdict='disagrees', best='norm1', same_as_best=[], best_convention='norm1',
                                                              metric='mean IoU', score=0.8, scores={'norm1': 0.8, 'norm1000': 0.0})}))
    args = types.SimpleNamespace(image_min_pixels=None, image_max_pixels=None, box_convention=None)
    with caplog.at_level(logging.WARNING): model_view(args, model)
    assert any('writes boxes in norm1' in r.getMessage() for r in caplog.records), caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING): model_view(types.SimpleNamespace(**{**vars(args), 'box_convention': 'norm1'}), model)
    assert not any('writes boxes' in r.getMessage() for r in caplog.records)


def taught_and_probed(name, kind, env):
    """`name` fully fine-tuned with rft-sft on the four probe questions' answers written in `kind` (it memorises them; it
    does not learn to ground: four rows, 150 epochs), then probed through the transformers backend; probe.json and the
    completions."""
    from datasets import Dataset
    from rft_nb.schema import FEATURES
    data = env['root'] / 'data' / 'probe-grounding'
    if not data.exists():
        rows = [{**r, 'split': 'train'} for r in probe_rows(4, (84, 112), tasks=('grounding',))]
        Dataset.from_list(rows, features=FEATURES).save_to_disk(str(data))
    model = env['root'] / 'outputs' / f'taught-{name}-{kind}'
    t = run('rft-sft', '--model_name_or_path', name, '--dataset_path', data, '--output_dir', model, '--sft_mode', 'ans',
            '--box_convention', kind, '--use_lora', 'false', '--learning_rate', '1e-2', '--lr_scheduler_type', 'constant',
            '--num_train_epochs', '150', '--per_device_train_batch_size', '4', '--gradient_checkpointing', 'false',
            '--save_strategy', 'no', '--report_to', 'none', '--logging_steps', '50', env=env)
    assert t.returncode == 0, t.stderr[-3000:]
    r = run('rft-probe', model, '--tasks', 'grounding', '--n', '4', '--sizes', '84,112', '--max-new-tokens', '24', '--no-progress', env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((model / 'probe.json').read_text())          # a local checkpoint: the probe sits in its folder
    return res, [x['completion'] for x in res['rows']]


@pytest.mark.slow   # about 80 s on two busy cores: two short SFT runs and two probes, all through the commands
@pytest.mark.parametrize('kind', ['norm1000', 'pixel'])
def test_tiny_model_taught_a_convention(kind, env):
    """The transformers backend end to end, no stand-in: the tiny model taught `kind` (`taught_and_probed`), and the
    probe finds `kind`. At 84 and 112 px (multiples of 28, inside the tiny processor's limits) resized pixels are original
    pixels, and the probe says so rather than choosing. (At 336-392 px, where resized pixels differ, the tiny model does
    not memorise its answers in 150-300 epochs: the OpenAI-compatible tests above separate all four conventions.)"""
    res, done = taught_and_probed('tiny-qwen2-vl', kind, env)
    s = res['box']
    assert res['conventions']['resized'] == 'resized-28-3136-50176' and res['backend'] == 'transformers'
    assert s['best'] in ({kind, 'resized'} if kind == 'pixel' else {kind}), (s, done)
    assert set(s['same_as_best']) == ({'pixel', 'resized'} - {s['best']} if kind == 'pixel' else set()), (s, done)
    assert s['score'] >= 0.5 and s['margin'] >= 0.5, (s, done)
    assert s['verdict'] == ('agrees' if kind == 'norm1000' else 'disagrees')   # qwen2-vl assumes 0-1000


# every other tiny family taught a convention it does not assume: the probe finds what it was taught and disagrees
OTHER_FAMILIES = [('tiny-qwen2.5-vl', 'norm1000'), ('tiny-qwen3-vl', 'pixel'), ('tiny-qwen3.5', 'pixel'), ('tiny-gemma3', 'pixel')]


@pytest.mark.slow   # one short SFT run and one probe per family, through the commands
@pytest.mark.parametrize('name, kind', OTHER_FAMILIES)
def test_each_family_taught_a_convention(name, kind, env):
    """As above for the other tiny families, each with its own processor, chat template and resize rule: the taught
    convention is the best fit (or tied with it where the two give the same numbers on these images), and the verdict
    says the model disagrees with its family's assumption."""
    from rft_nb.families import FAMILIES
    res, done = taught_and_probed(name, kind, env)
    s = res['box']
    assert FAMILIES[res['family']].box_kind != kind and kind in {s['best'], *s['same_as_best']}, (s, done)
    assert s['score'] >= 0.5 and s['margin'] >= 0.5, (s, done)
    assert s['verdict'] == 'disagrees', (s, done)


def test_vllm_backend_route(monkeypatch, tiny_path, env, tmp_path):
    """`--backend vllm` goes through the inference layer's VLLMBackend (engine arguments, prompts with their images, sampling);
    vLLM itself is not installable on CPU, so a stand-in `vllm` module answers in pixels from the images it is handed."""
    import types
    from rft_nb.probe import probe
    rows = probe_rows(4, (84, 112))
    key, seen = AnswerKey(rows, 'pixel'), {}
    class LLM:
        def __init__(self, **kw): seen['engine'] = kw
        def generate(self, requests, params, lora_request=None, use_tqdm=False):
            seen['params'] = params
            texts = key.generate([([], [r['multi_modal_data']['image']]) for r in requests], {})
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=t)]) for t in texts]
    monkeypatch.setitem(sys.modules, 'vllm', types.SimpleNamespace(LLM=LLM, SamplingParams=lambda **kw: kw))
    monkeypatch.setenv('RFT_NB_SETTINGS', env['env']['RFT_NB_SETTINGS'])
    res = probe([str(tiny_path), '--backend', 'vllm', '--n', '4', '--sizes', '84,112', '--out', str(tmp_path / 'p.json'), '--no-progress'])
    assert seen['engine']['model'] == str(tiny_path) and seen['params']['temperature'] == 0.0 and key.asked == 4
    assert res['backend'] == 'vllm' and res['family'] == 'qwen2-vl'
    assert res['box']['best'] in ('pixel', 'resized') and res['box']['verdict'] == 'disagrees', res['box']
