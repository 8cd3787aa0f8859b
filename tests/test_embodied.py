"""Embodied tasks end to end and at the edges:
- `rft-data refspatial-bench` on a folder in the benchmark's real layout, then `rft-eval` through a local
  OpenAI-compatible server, reports `success` equal to a hand computation for answers in every family's convention
  (the prompt asks each family in its own convention) and in [0, 1] when the benchmark's prompt fixes it;
- builders fail with file / row / field, or list the row with --skip-invalid;
- GRPO and SFT prompt tokens of a pointing row (RGB + depth) equal evaluation's for every tiny family;
- the embodied rewards: hack table, no eval of model text, fuzzing (in range, never raising);
- metric definitions against brute force and against the benchmarks' own reading of answers."""
import builtins, contextlib, hashlib, io, itertools, json, math, os, random, threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

import rft_nb.embodied_rewards as E
from rft_nb.families import FAMILIES, ModelView, get_family
from rft_nb.rewards import REWARDS, REWARD_RANGES, get_reward
from rft_nb.coords import from_model_points
from rft_nb.spatial import (REFSPATIAL_SUFFIX, POINT_UNITS, point_units_text, points_answer, discrete_frechet, hausdorff,
                            refspatial_success, success_score, parse_points)
from chat_server import chat_server, serve_chat

EMBODIED_REWARDS = ['pointing', 'point_distance', 'trajectory', 'trajectory_dfd', 'trajectory_hd', 'trajectory_rmse', 'affordance',
                    'planning', 'spatial_process', 'embodied_r1_point', 'embodied_r1_region', 'embodied_r1_trace']

# ---------------------------------------------------------------- RefSpatial-Bench through rft-eval
# (split, question id, image size, mask rectangle x1, y1, x2, y2, the points the "model" answers, in canonical pixels)
PLAN = [('Location', 0, (640, 480), (100, 100, 200, 200), [(150.5, 150.5)]),                                # 1
        ('Location', 1, (640, 480), (300, 50, 400, 150), [(350.5, 100.5), (20.5, 400.5)]),                 # 1/2
        ('Location', 2, (640, 480), (10, 300, 60, 350), [(500.5, 20.5)]),                                   # 0
        ('Placement', 0, (640, 480), (200, 200, 300, 300), [(250.5, 250.5), (220.5, 280.5), (600.5, 400.5)]),  # 2/3
        ('Placement', 1, (640, 480), (200, 200, 300, 300), None),                                          # no answer: 0
        ('Unseen', 0, (500, 375), (50, 50, 150, 150), [(100.5, 100.5)])]                                     # 1
EXPECTED = {'location': (1 + 0.5 + 0) / 3 * 100, 'placement': (2 / 3 + 0) / 2 * 100, 'unseen': 100.0}

def make_bench(root: Path) -> Path:
    "A folder in RefSpatial-Bench's layout: SPLIT/question.json, SPLIT/image/N.png, SPLIT/mask/N.png."
    qs = {}
    for split, i, (w, h), (x1, y1, x2, y2), _ in PLAN:
        d = root / split
        (d / 'image').mkdir(parents=True, exist_ok=True); (d / 'mask').mkdir(exist_ok=True)
        Image.new('RGB', (w, h), (40 * i, 100, 150 if split == 'Unseen' else 90)).save(d / 'image' / f'{i}.png')
        m = np.zeros((h, w), np.uint8); m[y1:y2, x1:x2] = 255
        Image.fromarray(m).save(d / 'mask' / f'{i}.png')
        qs.setdefault(split, []).append(dict(id=i, prompt=f"Please point out the free area number {i} in {split}.", object='area',
                                             suffix=REFSPATIAL_SUFFIX, rgb_path=f'image/{i}.png', mask_path=f'mask/{i}.png',
                                             category=split.lower(), step=1 + i % 3))
    for split, q in qs.items(): (root / split / 'question.json').write_text(json.dumps(q, indent=1))
    return root

class PointOracle:
    "Answers every prompt with the planned points, written in `conv` (the convention the prompt must ask for)."
    def __init__(self, conv):
        self.conv, self.asked = conv, []
    def generate(self, prompts, sampling):
        out = []
        for msgs, ims in prompts:
            text = msgs[-1]['content'][-1]['text']
            self.asked.append(text)
            assert point_units_text(self.conv) in text, text     # the prompt asks for this convention
            split, i, size, _, pts = next(p for p in PLAN if f"number {p[1]} in {p[0]}." in text)
            assert ims[0].size == size
            out.append('<think>I look.</think><answer>' + (points_answer(pts, *size, self.conv) if pts else 'I cannot tell.') + '</answer>')
        return out

def eval_bench(tmp_path, data, oracle, family):
    from rft_nb.evaluate import main
    srv = chat_server(oracle, '127.0.0.1', 0, model_name='oracle')
    srv.timeout = 30
    t = threading.Thread(target=serve_chat, args=(srv, len(PLAN)), daemon=True)
    t.start()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            res = main(['--backend', 'openai', '--base-url', f'http://127.0.0.1:{srv.server_address[1]}/v1', '--served-model', 'oracle',
                        '--data', str(data), '--out', str(tmp_path / 'run'), '--no-progress', '--concurrency', '1', '--family', family])
    finally:
        t.join(timeout=30); srv.server_close()
    return res

@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    from rft_nb.data_cli import main
    d = tmp_path_factory.mktemp('bench')
    root = make_bench(d / 'RefSpatial-Bench')
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(['refspatial-bench', str(root), '--out', str(d / 'fixed')]) == 0
        assert main(['refspatial-bench', str(root), '--out', str(d / 'family'), '--point-format', 'family']) == 0
    return d

@pytest.mark.parametrize('family', list(FAMILIES))
def test_refspatial_bench_success_in_each_familys_convention(family, bench, tmp_path):
    conv = ModelView.of(family).point_convention
    oracle = PointOracle(conv)
    res = eval_bench(tmp_path, bench / 'family', oracle, family)
    m = res['metrics']['pointing']
    for split, want in EXPECTED.items(): assert m[split]['success'] == pytest.approx(want), (family, split)
    assert len(oracle.asked) == len(PLAN) and all(POINT_UNITS['norm1'] not in t or conv.kind == 'norm1' for t in oracle.asked)
    cfg = json.loads((tmp_path / 'run' / 'eval_config.json').read_text())
    assert cfg['point_convention'] == str(conv)

@pytest.mark.parametrize('family', list(FAMILIES))
def test_refspatial_bench_fixed_prompt_is_scored_in_unit_coordinates(family, bench, tmp_path):
    oracle = PointOracle('norm1')                      # the benchmark's suffix asks every model for [0, 1] points
    res = eval_bench(tmp_path, bench / 'fixed', oracle, family)
    m = res['metrics']['pointing']
    for split, want in EXPECTED.items():
        assert m[split]['success'] == pytest.approx(want)
        assert m[split]['success_theirs'] == pytest.approx(want) and m[split]['skipped'] == 0   # their script agrees here
    assert all(t.endswith(REFSPATIAL_SUFFIX) or REFSPATIAL_SUFFIX in t for t in oracle.asked)

def test_refspatial_bench_rows_and_their_skips(bench):
    import datasets
    from rft_nb.scoring import score_completion, compute_metrics
    ds = datasets.load_from_disk(str(bench / 'fixed'))
    assert sorted(ds) == ['location', 'placement', 'unseen'] and ds['location'].num_rows == 3
    r = ds['location'][0]
    assert r['fixed_convention'] and r['point_convention'] == 'norm1' and r['problem'].endswith(REFSPATIAL_SUFFIX)
    assert json.loads(r['meta'])['step'] == 1 and r['category'] == 'location'
    recs = [score_completion(t, r) for t in ('<answer>[(0.235, 0.314)]</answer>', '<answer>(0.3, 0.4, 0.2, 0.1)</answer>', '[(0.235, 0.314)]')]
    m = compute_metrics(recs)['pointing']['location']
    assert (m['success'], m['skipped'], m['success_theirs']) == (pytest.approx(200 / 3), 1, 100.0)

# ---------------------------------------------------------------- builders: named errors and skip reports
def test_builders_name_file_row_field(tmp_path, capsys):
    from rft_nb.data_cli import main
    root = make_bench(tmp_path / 'b')
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / 'Location' / 'mask' / '1.png')      # wrong size
    with pytest.raises(SystemExit) as e: main(['refspatial-bench', str(root), '--out', str(tmp_path / 'o')])
    assert e.value.code == 2                                                                    # the error contract
    err = capsys.readouterr().err
    assert "Location/question.json: row 1 (id 'location-1'): field 'mask_path': mask" in err and 'is 10x10 but its image is 640x480' in err
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(['refspatial-bench', str(root), '--out', str(tmp_path / 'o'), '--skip-invalid']) == 0
    rep = json.loads((tmp_path / 'o' / 'build_report.json').read_text())
    assert rep['rows_written'] == 5 and [(s['id'], s['field']) for s in rep['skipped']] == [('location-1', 'mask_path')]
    Image.new('RGB', (100, 50)).save(tmp_path / 'a.png')
    (tmp_path / 'c.json').write_text(json.dumps([{'id': 'ok', 'image': 'a.png', 'question': 'Point.', 'solution': [[0.5, 0.5]]},
                                                 {'id': 'out', 'image': 'a.png', 'question': 'Point.', 'solution': [[0.5, 1.5]]},
                                                 {'id': 'empty', 'image': 'a.png', 'question': 'Go.', 'task': 'trajectory', 'solution': []}]))
    with pytest.raises(SystemExit) as e: main(['embodied-json', str(tmp_path / 'c.json'), '--image-root', str(tmp_path), '--out', str(tmp_path / 'c')])
    assert e.value.code == 2
    assert "c.json: row 1 (id 'out'): field 'solution': point 0 [0.5, 1.5] (norm1) lies outside the 100x50 image" in capsys.readouterr().err
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(['embodied-json', str(tmp_path / 'c.json'), '--image-root', str(tmp_path), '--out', str(tmp_path / 'c'), '--skip-invalid']) == 0
    rep = json.loads((tmp_path / 'c' / 'build_report.json').read_text())
    assert [(s['id'], s['reason']) for s in rep['skipped']] == [('out', 'point 0 [0.5, 1.5] (norm1) lies outside the 100x50 image'), ('empty', 'empty trace')]

# ---------------------------------------------------------------- one road for pointing rows (RGB + depth)
def test_pointing_prompts_equal_evaluation_for_every_tiny_family(cache_dir):
    from trl.data_utils import prepare_multimodal_messages
    from rft_nb.models import TINY_MODELS, tiny_model_path, load_processor
    from rft_nb.rows import to_grpo_rows, to_sft_rows, render_for_model, row_prompt
    from rft_nb.embodied_data import make_embodied
    from rft_nb.families import family_of
    from rft_nb.inference import model_inputs
    ds = make_embodied('pointing', 2, size=112)
    for name in [n for n in TINY_MODELS if n.startswith('tiny-')]:
        path = tiny_model_path(name, cache_dir=cache_dir)
        proc = load_processor(path)
        view = ModelView.of(family_of(path), proc)
        g = to_grpo_rows(ds, view=view)[0]
        trl = proc.apply_chat_template(conversation=[prepare_multimodal_messages(g['prompt'], images=g['images'])],
                                       add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors='pt')
        r = render_for_model(ds[0], view)
        msgs, ims = row_prompt(r)
        ev = model_inputs(proc, [(msgs, ims)])                                  # what rft-eval gives the model
        assert len(ims) == 2 and trl['input_ids'][0].tolist() == ev['input_ids'][0].tolist(), name
        assert point_units_text(view.point_convention) in r['problem']
        sft = to_sft_rows(ds, 'cot', view=view)[0]
        target = sft['messages'][-1]['content'][0]['text']
        assert target == f"<think>{r['reasoning']}</think><answer>{r['answer']}</answer>"
        x, y = parse_points(r['answer'])[0]
        assert f"at ({int(x)}, {int(y)})." in r['reasoning']               # the reasoning's last point is the answer, same units

# ---------------------------------------------------------------- rewards: hack table, no eval, fuzz
REGION = np.zeros((112, 112), bool); REGION[40:60, 30:50] = True
TOP = np.zeros((112, 112), bool); TOP[0:8, 30:50] = True
PX = dict(solution='<answer>[(40, 50)]</answer>', points=[[40.0, 50.0]], mask=REGION, image_size=[112, 112], point_convention='pixel')
EDGE = dict(PX, points=[[40.0, 3.0]], mask=TOP, solution='<answer>[(40, 3)]</answer>')
TROW = dict(solution='', points=[[10, 10], [10, 50], [90, 50], [90, 10]], image_size=[100, 100], point_convention='pixel')
GRID = ', '.join(f'[{x}, {y}]' for x in range(0, 112, 6) for y in range(0, 112, 6))

def call(name, comps, **cols): return get_reward(name)(comps, **{k: [v] * len(comps) for k, v in cols.items()})

# (hack, paper reward, hardened reward, completion, row, paper value)
HACKS = [
    ('a box instead of a point', 'embodied_r1_region', 'pointing', '<think>t</think><answer><point>[[30, 40, 50, 60]]</point></answer>', PX, 0.2),
    ('a box instead of a point (tuple)', 'embodied_r1_region', 'pointing', '<think>t</think><answer>[(30, 40, 50, 60)]</answer>', PX, 0.1),
    ('hundreds of points', 'embodied_r1_region', 'pointing', f'<think>t</think><answer><point>[{GRID}]</point></answer>', PX, 0.2266),
    ('hundreds of points', 'embodied_r1_region', 'point_distance', f'<think>t</think><answer><point>[{GRID}]</point></answer>', PX, 0.2266),
    ('points outside the image', 'embodied_r1_point', 'point_distance', '<think>t</think><answer><point>[[40, -3]]</point></answer>', EDGE, 1.0),
    ('points outside the image', 'embodied_r1_point', 'pointing', '<think>t</think><answer><point>[[40, -3]]</point></answer>', EDGE, 1.0),
    ('NaN coordinates', 'embodied_r1_point', 'pointing', '<think>t</think><answer><point>[[NaN, 50]]</point></answer>', PX, 0.0),
    ('huge numbers', 'embodied_r1_point', 'point_distance', '<think>t</think><answer><point>[[1e308, 1e308]]</point></answer>', PX, 0.2),
    ('one point repeated x8', 'embodied_r1_trace', 'trajectory', '<think>t</think><answer><point>[' + ', '.join(['[10, 10]'] * 8) + ']</point></answer>', TROW, 0.3352),
    ('a trace of one point', 'embodied_r1_trace', 'trajectory_rmse', '<think>t</think><answer><point>[[10, 10]]</point></answer>', TROW, 0.2),
]

@pytest.mark.parametrize('hack,paper,ours,comp,row,pv', HACKS, ids=[f"{h[0]}-{h[2]}" for h in HACKS])
def test_embodied_hack_table(hack, paper, ours, comp, row, pv):
    assert call(paper, [comp], **row) == [pytest.approx(pv, abs=1e-4)]
    assert call(ours, [comp], **row) == [0.0]

def test_honest_answers_score_high():
    assert call('pointing', ['<answer>[(40, 50)]</answer>'], **PX) == [1.0]
    assert call('point_distance', ['<answer><point>[[40, 50]]</point></answer>'], **PX) == [1.0]       # Embodied-R1's tag is a point list too
    assert call('trajectory', ['<answer>[[10, 10], [10, 50], [90, 50], [90, 10]]</answer>'], **TROW) == [1.0]
    assert call('embodied_r1_region', ['<think>t</think><answer><point>[[40, 50]]</point></answer>'], **PX) == [pytest.approx(1.0)]

PAYLOAD = "__import__('os').system('touch /tmp/pwned_rft_nb_embodied')"
EVIL = [f'<answer>{PAYLOAD}</answer>', f'<answer>[({PAYLOAD}, 1)]</answer>', f'<answer><point>[[{PAYLOAD}, 1]]</point></answer>',
        f'<think>The red square is at ({PAYLOAD}, 2)</think><answer>[(1, 2)]</answer>', f'<answer>[{PAYLOAD}, 1, 2, 3]</answer>',
        f'<answer>[[{PAYLOAD}]]</answer>', PAYLOAD]

def test_model_output_is_never_evaluated(monkeypatch):
    from rft_nb.scoring import score_completion
    from rft_nb.embodied_data import make_embodied
    calls = []
    real = builtins.eval, builtins.exec
    monkeypatch.setattr(builtins, 'eval', lambda *a, **k: calls.append('eval') or real[0](*a, **k))
    monkeypatch.setattr(builtins, 'exec', lambda *a, **k: calls.append('exec') or real[1](*a, **k))
    rows = [make_embodied(k, 1)[0] for k in ('pointing', 'trajectory', 'affordance', 'planning')]
    for row in rows:
        cols = {k: v for k, v in row.items() if k != 'images'}
        for name in EMBODIED_REWARDS:
            for e in EVIL: get_reward(name)([e], **{k: [v] for k, v in cols.items()})
        for e in EVIL: score_completion(e, row)
    assert calls == [] and not os.path.exists('/tmp/pwned_rft_nb_embodied')

NUMS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30), st.just(10**400)).map(str)
FRAGS = st.lists(st.sampled_from(['<think>', '</think>', '<answer>', '</answer>', '<point>', '</point>', '[', ']', '(', ')', ',', ' ',
                                  'NaN', 'inf', '1e308', '0.5', '-3', '1000', '"point_2d": ', '{', '}', 'red square is at ',
                                  'near to far: ', 'red square, blue circle', 'A', '(B)', '\n', '中', '\x00']), max_size=40).map(''.join)
POINTS = st.lists(st.tuples(NUMS, NUMS), max_size=40).map(lambda ps: '<think>x</think><answer>[' + ', '.join(f'({a}, {b})' for a, b in ps) + ']</answer>')
COMPLETIONS = st.one_of(st.text(max_size=200), FRAGS, POINTS)
META = json.dumps(dict(steps=[dict(name='red square', box=[30, 60, 50, 80], point=[40, 70])], depth_order=['red square', 'blue circle']))
ROWS = [dict(task='pointing', **PX, meta=META), dict(task='pointing', **{**PX, 'mask': None}),
        dict(task='trajectory', **TROW), dict(task='affordance', solution='<answer>[1, 2, 30, 40]</answer>', boxes=[[1, 2, 30, 40]],
                                              image_size=[100, 100], box_convention='pixel'),
        dict(task='planning', solution='<answer>B</answer>', options=['a', 'b', 'c']),
        dict(task='pointing', solution='<answer>[(</answer>', points='nope', mask=np.zeros((3, 3), bool), image_size=[0, float('inf')],
             point_convention='weird', meta='{', boxes=[[float('nan')] * 4], box_convention='x', options=None),
        dict(solution=None, meta=7, image_size='112x112')]

@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(COMPLETIONS, st.sampled_from(ROWS))
def test_fuzz_embodied_rewards_in_range_and_never_raise(completion, row):
    for name in EMBODIED_REWARDS:
        f = REWARDS[name]
        lo, hi = REWARD_RANGES[name]
        v = f.row_fn(completion, *[row.get(k) for k in f.needs])         # the row function itself must not raise
        assert v is None or (math.isfinite(float(v)) or name.startswith('embodied_r1')), (name, v)
        out = f([completion], **{k: [v] for k, v in row.items()})[0]
        assert out is None or (math.isfinite(out) and lo <= out <= hi), (name, out)

# ---------------------------------------------------------------- metric definitions
def brute_frechet(P, Q):
    "The discrete Fréchet distance by enumerating every monotone coupling (small inputs only)."
    n, m = len(P), len(Q)
    best = math.inf
    def walk(i, j, worst):
        nonlocal best
        worst = max(worst, math.dist(P[i], Q[j]))
        if worst >= best: return
        if i == n - 1 and j == m - 1: best = worst; return
        for di, dj in ((1, 0), (0, 1), (1, 1)):
            if i + di < n and j + dj < m: walk(i + di, j + dj, worst)
    walk(0, 0, 0.0)
    return best

@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=6),
       st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=6))
def test_frechet_and_hausdorff_equal_their_definitions(P, Q):
    assert discrete_frechet(P, Q) == pytest.approx(brute_frechet(P, Q))
    assert hausdorff(P, Q) == pytest.approx(max(max(min(math.dist(p, q) for q in Q) for p in P), max(min(math.dist(p, q) for p in P) for q in Q)))

@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-50, 1050), st.integers(-50, 1050)), max_size=6), st.integers(1, 400), st.integers(1, 400), st.integers(0, 10**6))
def test_success_equals_refspatial_scripts_reading(pts, w, h, seed):
    "For [0, 1] answers written as tuples, our parse + their per-point rule equals their text2pts + compute_accuracy."
    rng = np.random.default_rng(seed)
    mask = rng.random((h, w)) < 0.5
    text = '[' + ', '.join(f'({x / 1000:.3f}, {y / 1000:.3f})' for x, y in pts) + ']'
    ours = success_score(from_model_points(parse_points(text), w, h, 'norm1'), mask)
    assert ours == pytest.approx(refspatial_success(text, mask))
