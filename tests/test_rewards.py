"Rewards: literal cases, the hack table, no-eval, and hypothesis fuzzing of every registered reward."
import builtins, math, os, random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from rft_nb import answers as A, geometry, mathverify as M, paper_rewards as P, rewards as R
from rft_nb.rewards import REWARD_RANGES, REWARDS, get_reward, get_reward_funcs

DET_SOL = "<answer>[{'Position': [100, 100, 200, 200], 'Confidence': 1}]</answer>"
CLASSES = ['moon orchid|phalaenopsis', 'rose', 'desert rose|adenium', 'tulip']
TRANCE_SOL = "<answer>change_color(0, red), change_size(1, small)</answer>"
OPTS = ['10 cm', '12 cm', '14 cm', '16 cm']


def det(*boxes):
    "A Visual-RFT style answer for (box, confidence) pairs."
    return '<think>t</think><answer>[' + ', '.join(f"{{'Position': {list(b)}, 'Confidence': {c}}}" for b, c in boxes) + ']</answer>'


def call(name, comps, **cols):
    "Call a registered reward on a batch, broadcasting single-row kwargs."
    n = len(comps)
    return get_reward(name)(comps, **{k: [v] * n for k, v in cols.items()})


# ---------------------------------------------------------------- registry
def test_registry_names_and_ranges():
    expected = {'format', 'format_paper', 'visual_rft_iou', 'visual_rft_confidence', 'visual_rft_cls', 'visual_rft_giou', 'reason_rft_accuracy',
                'reason_rft_tolerance', 'trance_partial', 'trance_exact', 'trance_all_steps', 'classification', 'detection',
                'grounding', 'counting', 'counting_tolerance', 'math', 'choice', 'trance', 'repetition_penalty', 'length',
                # embodied (rft_nb.embodied_rewards, registered by the front door)
                'pointing', 'point_distance', 'affordance', 'trajectory', 'trajectory_rmse', 'trajectory_hd', 'trajectory_dfd',
                'planning', 'spatial_process', 'embodied_r1_point', 'embodied_r1_region', 'embodied_r1_trace'}
    assert expected == set(REWARDS)
    for task, v in R.TASK_REWARDS.items():
        assert get_reward_funcs(v['paper']) and get_reward_funcs(v['hardened'])
    for name, f in REWARDS.items():
        assert f.__name__ == name and REWARD_RANGES[name] == f.reward_range
    assert [f.__name__ for f in get_reward_funcs(['format', 'detection'])] == ['format', 'detection']
    with pytest.raises(KeyError, match='known rewards: .*classification'):
        get_reward('accuracy')
    assert R.get_counting_reward(tolerance=True).__name__ == 'counting_tolerance'
    assert R.get_detection_reward(iou_threshold=0.7).__name__ == 'detection'
    assert R.get_repetition_penalty_reward(ngram_size=2).__name__ == 'repetition_penalty'
    assert R.get_length_reward(max_chars=100).__name__ == 'length'
    for name in ('format', 'length', 'repetition_penalty'): assert REWARDS[name].required_columns == ()
    assert REWARDS['detection'].required_columns == ('solution',) and 'box_convention' in REWARDS['detection'].optional_columns


def test_conversational_and_task_none():
    conv = [{'role': 'assistant', 'content': [{'type': 'text', 'text': '<think>x</think>'}, {'type': 'text', 'text': '<answer>3</answer>'}]}]
    assert get_reward('counting')([conv, '<answer>3</answer>'], solution=['<answer>3</answer>'] * 2) == [1.0, 1.0]
    assert get_reward('format')([conv]) == [1.0]
    r = get_reward('counting')(['<answer>3</answer>'] * 3, solution=['<answer>3</answer>'] * 3, task=['counting', 'detection', ''])
    assert r == [1.0, None, 1.0]


# ---------------------------------------------------------------- literal, hand-computed values
def test_format():
    assert call('format', ['<think>a\nb</think>\n<answer>c</answer>', '<answer>c</answer>', '<think>a</think><answer>c</answer>x']) == [1.0, 0.0, 0.0]


def test_visual_rft_detection():
    c = det(([100, 110, 200, 200], 0.9), ([500, 500, 600, 600], 0.3))   # IoU 0.9 with the gt, plus a stray box
    assert call('visual_rft_iou', [c], solution=DET_SOL) == [pytest.approx(0.45)]
    assert call('visual_rft_confidence', [c], solution=DET_SOL) == [pytest.approx(0.8)]
    # duplicates dropped; sorting by confidence decides who takes the gt box
    c2 = det(([100, 110, 200, 200], 0.2), ([100, 110, 200, 200], 0.2), ([100, 105, 200, 200], 0.8))
    assert call('visual_rft_iou', [c2], solution=DET_SOL) == [pytest.approx(0.95 / 2)]
    assert call('visual_rft_confidence', [c2], solution=DET_SOL) == [pytest.approx((0.8 + 0.8) / 2)]
    assert call('visual_rft_iou', ['<answer>[]</answer>', '<answer>garbage</answer>'], solution=DET_SOL) == [0.0, 0.0]
    # their code has no branch for 'No Objects': it does not parse, so it scores 0 even against no objects
    assert call('visual_rft_iou', ['<answer>No Objects</answer>'], solution='<answer>[]</answer>') == [0.0]


def test_visual_rft_cls_and_giou():
    sol = '<answer>moon orchid</answer>'
    assert call('visual_rft_cls', ['<answer>Moon_Orchid</answer>', '<answer>rose</answer>', '<answer>orchid</answer>'], solution=sol) == [1.0, 0.0, 1.0]
    g = call('visual_rft_giou', ['<answer>(100,200),(300,400)</answer>', '<answer>(100, 200),(300, 300)</answer>',
                                  '<answer>(100,200),(200,300) (0,0),(300,400)</answer>', '<answer>none</answer>'],
             solution='<answer>(100,200),(300,400)</answer>')
    # third: their corner list is [first corners..., second corners...], so the 'box' is (100,200)-(0,0), reversed:
    # inter 0, union 0.04 + 0.02, hull 0.2 * 0.2 -> GIoU = 0 - (0.04 - 0.06) / 0.04 = 0.5
    assert g == [2.0, 1.5, pytest.approx(1.5), 0.0]


def test_reason_rft_accuracy_and_trance():
    assert call('reason_rft_accuracy', ['<answer>3</answer>', '<answer>3.0</answer>', '<answer>\n3\n</answer>'], solution='<answer>3</answer>') == [1.0, 0.0, 1.0]
    cs = ['<answer>change_size(1, small), change_color(0, red)</answer>', "<answer>change_color(0, 'blue'), change_size(1, small)</answer>",
          '<answer>change_color(2, red)</answer>', '<answer>change_color(0, red), change_color(0, red)</answer>',
          'change_size(2, large)', '<answer>nothing</answer>']
    assert call('trance_partial', cs, solution=TRANCE_SOL) == [1.0, 0.75, 0.25, 0.25, 0.125, 0.0]
    # the training reward of their TRANCE scripts: item score per exactly right step, with the duplicate factor
    assert call('trance_exact', cs, solution=TRANCE_SOL) == [1.0, 0.5, 0.0, 0.25, 0.0, 0.0]
    assert call('trance_all_steps', cs, solution=TRANCE_SOL) == [1.0, 0, 0, 0, 0, 0]
    assert call('trance', cs, solution=TRANCE_SOL) == [1.0, 0.75, 0.25, 0.0, 0.0, 0.0]


def test_trance_partial_deterministic_and_order_free():
    # an order-dependent case in their code: pass 2 can pair p1 with either gt; ours is fixed
    sol = '<answer>change_color(0, red), change_color(0, blue)</answer>'
    c = '<answer>change_color(0, green), change_color(0, yellow)</answer>'
    vals = {call('trance_partial', [c], solution=sol)[0] for _ in range(5)}
    assert vals == {0.5}
    rng = random.Random(0)
    steps = ['change_color(0, red)', 'change_size(1, small)', 'change_shape(2, cube)', 'change_material(0, metal)']
    for _ in range(50):
        a = rng.sample(steps, 3)
        v = {call('trance_partial', ['<answer>' + ', '.join(rng.sample(a, 3)) + '</answer>'], solution='<answer>' + ', '.join(steps[:3]) + '</answer>')[0] for _ in range(3)}
        assert len(v) == 1


def test_classification():
    comps = ['<answer>Moon-Orchid</answer>', '<answer>phalaenopsis</answer>', '<answer>desert rose</answer>', '<answer>rose</answer>']
    assert call('classification', comps, solution='<answer>moon orchid</answer>', category='moon orchid', classes=CLASSES) == [1.0, 1.0, 0.0, 0.0]
    assert call('classification', ['<answer>Desert Rose</answer>'], solution='<answer>desert rose</answer>', classes=CLASSES) == [1.0]
    assert call('classification', ['<answer>moon orchid</answer>', '<answer>moon</answer>'], solution='<answer>moon_orchid</answer>') == [1.0, 0.0]


def test_detection_hardened():
    row = dict(solution="<answer>[{'Position': [100, 100, 500, 500], 'Confidence': 1}]</answer>", boxes=[[64, 48, 320, 240]],
               image_size=[640, 480], box_convention='norm1000')
    r = call('detection', [det(([100, 100, 500, 500], 1.0)), det(([100, 100, 500, 500], 0.5)), det(([100, 100, 500, 500], 1.0), ([700, 700, 800, 800], 0.2))], **row)
    assert r == [pytest.approx(2.0), pytest.approx(1.5), pytest.approx(0.5 * (1 + 0.9))]
    # same answer in pixel convention of the original image
    assert call('detection', [det(([64, 48, 320, 240], 1.0))], **{**row, 'box_convention': 'pixel', 'solution': "<answer>[{'Position': [64, 48, 320, 240], 'Confidence': 1}]</answer>"}) == [pytest.approx(2.0)]
    # no boxes column: gt read from the solution, no image size: compared in norm1000 space
    assert call('detection', [det(([100, 100, 500, 500], 1.0))], solution=row['solution']) == [pytest.approx(2.0)]
    # out-of-image coordinates are clipped
    assert call('detection', [det(([-100, 100, 500, 500], 1.0))], **row) == [pytest.approx(0.8 * 2)]
    assert call('detection', ['<answer>No Objects</answer>', det(([1, 1, 50, 50], 0.1))], solution='<answer>[]</answer>', boxes=[], image_size=[640, 480]) == [2.0, 0.0]


def test_grounding_counting_math_choice_shaping():
    row = dict(solution='<answer>(100,100),(500,500)</answer>', boxes=[[64, 48, 320, 240]], image_size=[640, 480], box_convention='norm1000')
    assert call('grounding', ['<answer>(100,100),(500,500)</answer>', '<answer>[100, 100, 500, 300]</answer>', '<answer>(0,0),(50,50)</answer>'], **row) == [
        pytest.approx(1.0), pytest.approx(0.5), 0.0]
    assert call('counting', ['<answer>3</answer>', '<answer>3.0</answer>', '<answer>three</answer>', '<answer>-3</answer>'], solution='<answer>3</answer>') == [1.0, 1.0, 0.0, 0.0]
    t = call('counting_tolerance', ['<answer>100</answer>', '<answer>105</answer>', '<answer>112.5</answer>', '<answer>125</answer>'], solution='<answer>100</answer>')
    assert t == [1.0, pytest.approx(1.0), pytest.approx(0.5), 0.0]
    assert call('math', ['<answer>0.5</answer>', '<answer>$\\frac{1}{2}$</answer>', '<answer>2</answer>'], solution='<answer>1/2</answer>', options=[]) == [1.0, 1.0, 0.0]
    assert call('choice', ['<answer>(C)</answer>', '<answer>C. 14 cm</answer>', '<answer>14 cm</answer>', '<answer>The answer is C</answer>', '<answer>A and C</answer>'],
                solution='<answer>C</answer>', options=OPTS) == [1.0, 1.0, 1.0, 1.0, 0.0]
    assert call('repetition_penalty', ['a b c d e', 'x y x y x y']) == [0.0, pytest.approx(-(1 - 2 / 4))]
    assert call('length', ['x' * 10, 'x' * 500]) == [0.5, 1.0]


# ---------------------------------------------------------------- the hack table (data in rft_nb.rewards.HACKS)
def test_hack_table_is_complete():
    assert len(R.HACKS) >= 15 and {h['task'] for h in R.HACKS} >= {'classification', 'counting', 'detection', 'grounding', 'trance'}
    for h in R.HACKS:
        assert set(h) == {'name', 'task', 'completion', 'kwargs', 'paper', 'paper_score', 'hardened', 'hardened_score', 'why', 'sign'}
        assert h['hardened_score'] == 0.0 and h['paper'] in REWARDS and h['hardened'] in REWARDS


@pytest.mark.parametrize('h', R.HACKS, ids=[f"{h['name']}-{h['paper']}" for h in R.HACKS])
def test_hack_table(h):
    cols = h['kwargs']
    assert call(h['paper'], [h['completion']], **cols) == [pytest.approx(h['paper_score'], abs=1e-9)]
    hcols = {k: v for k, v in cols.items() if not (h['hardened'] in ('counting', 'trance', 'detection', 'grounding') and k == 'classes')}
    assert call(h['hardened'], [h['completion']], **hcols) == [h['hardened_score']]


# ---------------------------------------------------------------- no eval / exec of model output
PAYLOAD = "__import__('os').system('touch /tmp/pwned_rft_nb_xyz')"
EVIL = [f'<answer>{PAYLOAD}</answer>', f"<answer>[{{'Position': {PAYLOAD}, 'Confidence': 1}}]</answer>",
        f"<answer>[{{'Position': [1, 2, 3, 4], 'Confidence': {PAYLOAD}}}]</answer>", f'<answer>({PAYLOAD},1),(2,3)</answer>',
        f'<think>{PAYLOAD}</think><answer>{PAYLOAD}</answer>', f"<answer>change_color(0, {PAYLOAD})</answer>", PAYLOAD,
        f"<answer>$\\frac{{{PAYLOAD}}}{{2}}$</answer>", f"<answer>[{PAYLOAD}, 1, 2, 3]</answer>"]
USES_MATH_VERIFY = {'visual_rft_iou', 'visual_rft_confidence', 'visual_rft_cls', 'visual_rft_giou', 'reason_rft_accuracy',
                    'reason_rft_tolerance', 'math'}


def test_model_output_is_never_evaluated(monkeypatch):
    target = '/tmp/pwned_rft_nb_xyz'
    if os.path.exists(target): os.remove(target)
    calls = []
    real_eval, real_exec = builtins.eval, builtins.exec
    def spy(real, kind):
        def f(src, *a, **k):
            calls.append((kind, src if isinstance(src, str) else getattr(src, 'co_filename', repr(src))))
            return real(src, *a, **k)
        return f
    monkeypatch.setattr(builtins, 'eval', spy(real_eval, 'eval'))
    monkeypatch.setattr(builtins, 'exec', spy(real_exec, 'exec'))
    sols = dict(solution=[DET_SOL], boxes=[[[64, 48, 320, 240]]], image_size=[[640, 480]], box_convention=['norm1000'], classes=[CLASSES],
                category=['rose'], options=[OPTS])
    for name, f in REWARDS.items():
        before = len(calls)
        for e in EVIL:
            for sol in (DET_SOL, '<answer>3</answer>', TRANCE_SOL, '<answer>(1,2),(3,4)</answer>', f'<answer>{PAYLOAD}</answer>'):
                out = f([e], **{**sols, 'solution': [sol]})
                lo, hi = REWARD_RANGES[name]
                assert out[0] is None or lo <= out[0] <= hi
        new = calls[before:]
        if name not in USES_MATH_VERIFY:
            assert new == [], (name, new[:3])
        # math-verify runs sympy's parser (which uses eval) on numbers it extracted itself: never on the payload
        assert not any('system' in str(s) or 'import' in str(s).replace('from sympy import *', '') for _, s in new), (name, new[:3])
    assert not os.path.exists(target)


def _rand_box(rng):
    "A random valid [x1, y1, x2, y2] box in a 0-1050 square."
    x, y = rng.randint(0, 900), rng.randint(0, 900)
    return [x, y, x + rng.randint(1, 150), y + rng.randint(1, 150)]


# ---------------------------------------------------------------- fast matching equals the per-box loop
@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40), st.integers(0, 10_000))
def test_match_boxes_equals_loop(n, k, seed):
    rng = random.Random(seed)
    box = lambda: _rand_box(rng)
    gts = [box() for _ in range(k)]
    preds = [[v + rng.randint(-10, 10) for v in rng.choice(gts)] if gts and rng.random() < 0.5 else box() for _ in range(n)]
    preds = [p if p[2] > p[0] and p[3] > p[1] else [p[0], p[1], p[0] + 5, p[1] + 5] for p in preds]
    assert geometry.match_boxes(preds, gts) == pytest.approx(geometry.match_boxes_loop(preds, gts))


# ---------------------------------------------------------------- fuzz: 1,000 malformed completions, every reward
FRAGMENTS = ['<think>', '</think>', '<answer>', '</answer>', '<answer><answer>', '</answer></answer>', '[', ']', '[[', ']]', '{', '}', "'Position'",
             '"Position"', "'Confidence'", 'bbox_2d', ':', ',', '},', 'NaN', 'Infinity', '-Infinity', 'nan', 'inf', '1e308', '-1e999', '9' * 400,
             '0.5', '-3', '1000', '9' * 5000, '(', ')', '(12,34),(56,78)', 'change_color(0, red)', "change_size(1, 'small')", 'B', '(B)', 'Answer: C', '3',
             'No Objects', 'moon orchid', 'rose|tulip', '\\frac{1}{2}', '$', '\n', ' ', 'é', '中文', '\u200b', '\x00', '🙂', '\\', '"', "'", '__import__']
TEXT = st.text(alphabet=st.characters(codec='utf-8'), max_size=200)
FRAGS = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(''.join)
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30), st.just(10**4000))


@st.composite
def truncated_json(draw):
    n = draw(st.integers(0, 30))
    items = [{'Position': [draw(NUMBERS) for _ in range(draw(st.integers(0, 6)))], 'Confidence': draw(NUMBERS)} for _ in range(n)]
    s = repr(items)
    return '<answer>' + s[: draw(st.integers(0, len(s)))] + draw(st.sampled_from(['', '</answer>', ']</answer>']))


@st.composite
def enormous(draw):
    n = draw(st.integers(100, 3000))
    kind = draw(st.sampled_from(['boxes', 'dicts', 'steps', 'classes', 'number', 'nested']))
    if kind == 'boxes': body = '[' + ', '.join(f'[{i}, {i}, {i + 9}, {i + 9}]' for i in range(n)) + ']'
    elif kind == 'dicts': body = '[' + ', '.join(f"{{'Position': [1, 2, {i + 3}, 9], 'Confidence': 0.{i % 10}}}" for i in range(n)) + ']'
    elif kind == 'steps': body = ', '.join(f'change_color({i}, red)' for i in range(n))
    elif kind == 'classes': body = ', '.join(CLASSES * (n // 4))
    elif kind == 'number': body = '9' * n
    else: body = '[' * n + ']' * n
    return f'<think>x</think><answer>{body}</answer>'


@st.composite
def nested_tags(draw):
    k = draw(st.integers(1, 30))
    inner = draw(st.one_of(TEXT, FRAGS))
    return '<answer>' * k + '<think>' * draw(st.integers(0, 3)) + inner + '</think>' * draw(st.integers(0, 3)) + '</answer>' * draw(st.integers(0, k))


COMPLETIONS = st.one_of(TEXT, FRAGS, truncated_json(), enormous(), nested_tags(), NUMBERS.map(lambda v: f'<answer>{v}</answer>'))
WRAPPED = st.one_of(COMPLETIONS, COMPLETIONS.map(lambda s: [{'role': 'assistant', 'content': s}]),
                    COMPLETIONS.map(lambda s: [{'role': 'assistant', 'content': [{'type': 'text', 'text': s}]}]),
                    st.sampled_from([None, 3, [], [{}], {'content': None}, [{'role': 'assistant'}]]))

ROWS = [
    dict(task='detection', solution=DET_SOL, boxes=[[64, 48, 320, 240]], image_size=[640, 480], box_convention='norm1000'),
    dict(task='detection', solution="<answer>[{'Position': [10, 10, 300, 200], 'Confidence': 1}]</answer>", image_size=[640, 480], box_convention='resized-28-3136-401408', boxes=[[10, 10, 300, 200]]),
    dict(task='detection', solution='<answer>No Objects</answer>', boxes=[], image_size=[640, 480]),
    dict(solution=DET_SOL),
    dict(task='grounding', solution='<answer>(12,34),(56,78)</answer>', boxes=[[7, 16, 36, 37]], image_size=[640, 480], box_convention='norm1000'),
    dict(task='classification', solution='<answer>moon orchid</answer>', category='moon orchid', classes=CLASSES),
    dict(task='classification', solution='<answer>rose</answer>'),
    dict(task='counting', solution='<answer>3</answer>'),
    dict(task='counting', solution='<answer>0</answer>'),
    dict(task='geometry', solution='<answer>B</answer>', options=OPTS),
    dict(task='geometry', solution='<answer>\\frac{1}{2}</answer>', options=[]),
    dict(task='trance', solution=TRANCE_SOL),
    # malformed rows: rewards must still not raise
    dict(task='detection', solution='<answer>[{</answer>', boxes=[[float('nan'), 0, 1, 1]], image_size=[0, float('inf')], box_convention='weird'),
    dict(solution=None, image_size='640x480', boxes='nope', classes='rose', options=None, category=3),
]


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(WRAPPED, st.sampled_from(ROWS))
def test_fuzz_every_reward_in_range(completion, row):
    for name, f in REWARDS.items():
        lo, hi = REWARD_RANGES[name]
        out = f([completion, completion], **{k: [v, v] for k, v in row.items()})
        assert isinstance(out, list) and len(out) == 2
        for v in out:
            assert v is None or (isinstance(v, float) and math.isfinite(v) and lo <= v <= hi), (name, v)


@settings(max_examples=300, deadline=None)
@given(st.one_of(FRAGS, TEXT, st.lists(st.sampled_from(['change_color', '(', ')', '0', ',', ' ', "'", 'red', 'x', '_', '9' * 50]), max_size=30).map(''.join)))
def test_triple_regex_same_matches_as_theirs(s):
    import re
    assert A.trance_steps(s) == re.findall(A.STEP_PATTERN, s)


def _their_match(gt, pred, thr=0.5):
    "Visual-RFT's sort_and_calculate_iou, transcribed: the per-box loop the paper variant must equal."
    used, res = set(), []
    for p in sorted(pred, key=lambda x: x['Confidence'], reverse=True):
        best, jb = 0, -1
        for j, g in enumerate(gt):
            if j not in used:
                iou = P.vrft_iou(g['Position'], p['Position'])
                if iou > best: best, jb = iou, j
        if best > thr: res.append((best, p['Confidence'])); used.add(jb)
        else: res.append((0, p['Confidence']))
    return res


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 60), st.integers(1, 60), st.integers(0, 10_000))
def test_paper_matching_fast_path_equals_their_loop(n, k, seed):
    rng = random.Random(seed)
    box = lambda: _rand_box(rng)
    gt = [{'Position': box(), 'Confidence': 1} for _ in range(k)]
    pred = [{'Position': [v + rng.randint(-8, 8) for v in rng.choice(gt)['Position']] if rng.random() < 0.6 else box(),
             'Confidence': rng.choice([0.1, 0.5, 0.9, 1])} for _ in range(n)]
    for p in pred:
        b = p['Position']
        if b[2] <= b[0] or b[3] <= b[1]: p['Position'] = [b[0], b[1], b[0] + 3, b[1] + 3]
    assert P.vrft_match(gt, pred) == _their_match(gt, pred)


def test_trl_call_convention_and_pickling():
    import pickle
    from trl.trainer.utils import get_callable_name, is_async_callable
    comps = [[{'role': 'assistant', 'content': '<think>t</think><answer>3</answer>'}]]
    extra = dict(prompts=[[{'role': 'user', 'content': 'q'}]], completion_ids=[[1]], trainer_state=None, log_extra=None, log_metric=None)
    for name, f in REWARDS.items():
        assert get_callable_name(f) == name and not is_async_callable(f)
        out = f(completions=comps, solution=['<answer>3</answer>'], **extra)
        assert len(out) == 1
        assert pickle.loads(pickle.dumps(f)) is f
    g = pickle.loads(pickle.dumps(R.get_counting_reward(tolerance=True)))
    assert g.__name__ == 'counting_tolerance' and g(['<answer>104</answer>'], solution=['<answer>100</answer>']) == [1.0]


# ---------------------------------------------------------------- properties of the hardened rewards
CONVENTIONS = ['norm1000', 'norm1', 'pixel', 'resized-28-3136-401408', 'resized-28-3136-12845056']


@settings(max_examples=300, deadline=None)
@given(st.integers(200, 3000), st.integers(200, 3000), st.sampled_from(CONVENTIONS), st.floats(0.1, 0.9), st.floats(0.1, 0.9),
       st.floats(0, 1), st.floats(0, 1), st.sampled_from(['detection', 'grounding']))
def test_convention_round_trip_scores_high(w, h, conv, fw, fh, fx, fy, task):
    from rft_nb.coords import to_model_box
    bw, bh = fw * w, fh * h
    x1, y1 = fx * (w - bw), fy * (h - bh)
    gt = [x1, y1, x1 + bw, y1 + bh]
    m = to_model_box(gt, w, h, conv)
    sol_det = f"<answer>[{{'Position': {m}, 'Confidence': 1}}]</answer>"
    if task == 'detection':
        r = call('detection', [det((m, 1.0))], solution=sol_det, boxes=[gt], image_size=[w, h], box_convention=conv)[0]
        assert r > 1.6, (m, r)
    else:
        r = call('grounding', [f'<answer>({m[0]},{m[1]}),({m[2]},{m[3]})</answer>' if conv != 'norm1' else f'<answer>{m}</answer>'],
                 solution='', boxes=[gt], image_size=[w, h], box_convention=conv)[0]
        assert r > 0.8, (m, r)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12), st.integers(0, 12), st.integers(0, 10_000))
def test_detection_order_free_and_bounded(k, extra, seed):
    rng = random.Random(seed)
    gts = []
    for _ in range(k):
        x, y = rng.randint(0, 800), rng.randint(0, 800)
        gts.append([x, y, x + rng.randint(30, 190), y + rng.randint(30, 190)])
    preds = [([v + rng.randint(-5, 5) for v in g], rng.randint(1, 99) / 100) for g in gts] + \
            [([rng.randint(0, 500), rng.randint(0, 500), rng.randint(600, 999), rng.randint(600, 999)], rng.randint(1, 99) / 100) for _ in range(extra)]
    confs = [c for _, c in preds]
    sol = '<answer>[' + ', '.join(f"{{'Position': {g}, 'Confidence': 1}}" for g in gts) + ']</answer>'
    r1 = call('detection', [det(*preds)], solution=sol)[0]
    shuffled = preds[:]; rng.shuffle(shuffled)
    r2 = call('detection', [det(*shuffled)], solution=sol)[0]
    assert 0.0 <= r1 <= 2.0
    if len(set(confs)) == len(confs):        # ties in confidence keep answer order, as in the paper
        assert r1 == pytest.approx(r2)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(CLASSES) - 1), st.integers(0, len(CLASSES) - 1), st.sampled_from(['{}', 'It is a {}.', '{} ', 'The answer: {}']))
def test_classification_names_one_class(truth, said, template):
    names = [c.split('|') for c in CLASSES]
    alias = random.Random(truth * 31 + said).choice(names[said])
    r = call('classification', ['<answer>' + template.format(alias.title()) + '</answer>'], solution=f'<answer>{names[truth][0]}</answer>', classes=CLASSES)[0]
    assert r == (1.0 if truth == said else 0.0)


def _their_trance(pred_list, sol_list, p):
    "Reason-RFT's four passes, transcribed, for given iteration orders of the (deduplicated) lists."
    from collections import deque
    s = p / max(len(pred_list), len(sol_list))
    pq, sq, total = deque(pred_list), deque(sol_list), 0.0
    for key, w in ((lambda t: t, 1.0), (lambda t: t[:2], 0.5), (lambda t: (t[0], t[2]), 0.5), (lambda t: t[0], 0.25)):
        n = 0
        for a, b in [(a, b) for a in pq for b in sq if key(a) == key(b)]:
            if a in pq and b in sq: n += 1; pq.remove(a); sq.remove(b)
        total += n * s * w
    return total


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(['change_color', 'change_size', 'change_shape']), st.sampled_from('012'), st.sampled_from(['red', 'blue', 'small'])), min_size=1, max_size=5),
       st.lists(st.tuples(st.sampled_from(['change_color', 'change_size', 'change_shape']), st.sampled_from('012'), st.sampled_from(['red', 'blue', 'small'])), min_size=1, max_size=4),
       st.integers(0, 10_000))
def test_trance_partial_equals_theirs_when_order_free(pred, gt, seed):
    rng = random.Random(seed)
    up, ug = list(dict.fromkeys(pred)), list(dict.fromkeys(gt))
    p = len(up) / len(pred)
    theirs = {round(_their_trance(sorted(up), sorted(ug), p), 12)}   # the order ours uses is one their set can take
    for _ in range(12):
        a, b = up[:], ug[:]; rng.shuffle(a); rng.shuffle(b)
        theirs.add(round(_their_trance(a, b, p), 12))
    text = '<answer>' + ', '.join(f'{f}({o}, {v})' for f, o, v in pred) + '</answer>'
    ours = call('trance_partial', [text], solution='<answer>' + ', '.join(f'{f}({o}, {v})' for f, o, v in gt) + '</answer>')[0]
    assert round(ours, 12) in theirs
    if len(theirs) == 1: assert ours == pytest.approx(theirs.pop())


# ---------------------------------------------------------------- the paper variants' math-verify step: fast path == math-verify itself
def _their_math_verify(content, sol):
    "Visual-RFT's shortcut, verbatim: `float(verify(parse(content), parse(sol))) > 0` in try/except, math-verify's defaults."
    from math_verify import parse, verify
    try:
        return float(verify(parse(content), parse(sol))) > 0
    except Exception:
        return False


def _mv_key(parsed):
    "A parse result, exactly: types and sympy's srepr (which includes a Float's precision)."
    from sympy import srepr
    return [('str', x) if isinstance(x, str) else (type(x).__name__, srepr(x)) for x in parsed]


MV_SOL_776 = ("<answer>[{'Position': [394, 776, 521, 806], 'Confidence': 1}, {'Position': [265, 523, 409, 646], 'Confidence': 1}]</answer>")
MV_SOLS = [MV_SOL_776, DET_SOL, '<answer>3</answer>', '3', '\\frac{1}{2}', '0.5', '50%', 'The answer is 776.', '$x=776$', '<answer>moon orchid</answer>']
# what math-verify reacts to: anchors (also through Unicode case folding: 'ſ' matches 's', 'ı' matches 'i'), LaTeX environments,
# percentages, expressions, thousands separators, signs and leading zeros, non-ASCII digits, numbers too long for int()
MV_FRAGMENTS = ['final answer is ', 'Final Answer: ', 'FINAL ANSWER IS', 'fınal answer is ', 'The answer is ', 'answer: ', 'anſwer: ', 'ANSWER', '<answer>',
                '</answer>', ' = ', '=', '776', ' 776', '-776', ' -0776', ' 0776', '776.0', ' 776.00', ' 77,6', ' 7.76e2', ' 1,776', ' 1 776', ' 77600%',
                ' 776 percent', '٧٧٦', ' ٧٧٦', '$776$', '$$776$$', '\\(776\\)', '\\[776\\]', ' [776] ', '\\boxed{776}', '\\boxed{', '}', '{',
                '\\frac{1552}{2}', ' 1552/2', ' 700+76', ' (776)', ' I hope', ' and ', ' or ', ', ', '.', ':', '\n', ' ', 'x', '\\pi', '$x=776$', ' 3',
                ' 100', ' 0.5', ' 1/2', ' 50%', '\\frac{1}{2}', ' 0.50', ' .5', '€776', ' $776', "[{'Position': [100, 100, 200, 200], 'Confidence': 0.9}]",
                '9' * 30, ' ' + '9' * 30, ' ' + '9' * 5000, 'İ', 'K', 'é', ' -0.5', ' -00.5', ' 0', ' -0', ' 00', '$', '\\', '[', ']']


def _mv_corpus(n, seed=0):
    "n/2 fragment soups and n/2 Visual-RFT detection answers whose numbers often coincide with the solution's (the spurious match)."
    rng = random.Random(seed)
    out = [''.join(rng.choices(MV_FRAGMENTS, k=rng.randint(1, 14))) for _ in range(n // 2)]
    for _ in range(n - n // 2):
        boxes = []
        for _ in range(rng.randint(1, 4)):
            x, y = rng.choice([394, 265, 100, 776, rng.randint(0, 900)]), rng.choice([776, 100, 523, rng.randint(0, 900)])
            boxes.append(f"{{'Position': [{x}, {y}, {x + rng.randint(5, 99)}, {y + rng.randint(5, 99)}], 'Confidence': {rng.choice(['0.9', '1', '0.25', '.5'])}}}")
        pre = rng.choice(['', '<think>I see it at y = 776.</think>', '<think>look</think>', '<think>' + rng.choice(MV_FRAGMENTS) + '</think>'])
        out.append(pre + rng.choice(['<answer>', '<answer> ', 'answer: ', '']) + '[' + ', '.join(boxes) + ']'
                   + rng.choice(['</answer>', '', '</answer> ' + rng.choice(MV_FRAGMENTS)]))
    return out


def test_math_verify_fast_path_equals_math_verify():
    from math_verify import parse
    assert M.extraction_plan() is not None                       # the fast path is on (math-verify 0.9.0)
    fired = checked = 0
    for i, c in enumerate(_mv_corpus(3000)):
        assert _mv_key(M.fast_parse(c, 5)) == _mv_key(parse(c)), c
        for sol in (MV_SOL_776, MV_SOLS[1 + i % (len(MV_SOLS) - 1)]):
            theirs = _their_math_verify(c, sol)
            assert M.math_verify_shortcut_uncached(c, sol) == theirs, (c, sol, theirs)
            fired += theirs; checked += 1
    assert fired > 500, fired                              # the spurious (and real) matches are well represented


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(COMPLETIONS, st.sampled_from(MV_SOLS))
def test_math_verify_fast_path_equals_math_verify_fuzz(completion, sol):
    from math_verify import parse
    assert _mv_key(M.fast_parse(completion, 5)) == _mv_key(parse(completion))
    assert M.math_verify_shortcut_uncached(completion, sol) == _their_math_verify(completion, sol)


def test_math_verify_fast_path_in_threads_and_through_the_rewards():
    from concurrent.futures import ThreadPoolExecutor
    cs = _mv_corpus(200, seed=1)
    main = [_their_math_verify(c, MV_SOL_776) for c in cs]
    with ThreadPoolExecutor(2) as ex:                      # no signal-based timeouts off the main thread, same verdicts
        assert list(ex.map(lambda c: M.math_verify_shortcut_uncached(c, MV_SOL_776), cs)) == main
    # through the registered paper rewards: a verified completion gets full marks whatever its boxes
    iou = call('visual_rft_iou', cs, solution=MV_SOL_776, task='detection')
    assert all(v == 1.0 for v, m in zip(iou, main) if m) and sum(main) > 20


def test_paper_matching_fast_path_only_where_exact():
    "Integers too large for float64 intermediates (or bools) take their loop, so values stay theirs bit for bit."
    big = 10 ** 17
    gt = [{'Position': [big + 20 * i, big, big + 20 * i + 15, big + 15], 'Confidence': 1} for i in range(8)]
    pred = [{'Position': [big + 20 * i + 1, big + 1, big + 20 * i + 15, big + 16], 'Confidence': 0.5} for i in range(8)]
    assert P.vrft_match(gt, pred) == _their_match(gt, pred)


# ---------------------------------------------------------------- thinking templates
def test_thinking_and_instruct_completions_both_score_format_1():
    "A thinking template opens <think> in the prompt; the hardened rewards read the full completion, the paper's format does not."
    think = 'two red, one blue\n</think>\n\n<answer>3</answer>'
    inst = '<think>two red, one blue</think>\n<answer>3</answer>'
    kw = dict(think_in_prompt=[True, False], solution=['<answer>3</answer>'] * 2, task=['counting'] * 2)
    assert get_reward('format')([think, inst], **kw) == [1.0, 1.0]
    assert get_reward('counting')([think, inst], **kw) == [1.0, 1.0]
    assert get_reward('format_paper')([think, inst], **kw) == [0.0, 1.0]
    assert all(REWARDS[n].raw for n in ('format_paper', 'visual_rft_iou', 'visual_rft_giou', 'reason_rft_accuracy', 'trance_exact'))
