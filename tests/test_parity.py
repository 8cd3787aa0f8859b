"""Paper-exact rewards against the upstream code, run: tests/data/parity/*.json hold inputs and the values the original
Visual-RFT / Reason-RFT functions returned (see tests/data/parity/README.md for how they were produced).

Every case must give the same float (exact equality, no tolerance). Where upstream depends on string hashing
(`order_dependent`, TRANCE partial credit), ours must be one of the values upstream gave under the recorded seeds.
Each reward is checked twice: its row function (the raw value, NaN included) and the registered TRL reward called
as TRL calls it (conversational completions; a non-finite upstream value is 0 there, the wrapper's failure value)."""
import json, math
from pathlib import Path

import pytest

from rft_nb import paper_rewards as P
from rft_nb.reward_core import format_row, get_reward

DATA = Path(__file__).parent / 'data' / 'parity'

# file -> (registered reward name or None, the plain function computing the value)
OURS = {
    'visual_rft_detection_accuracy_reward_iou.json': ('visual_rft_iou', P.visual_rft_iou_row),
    'visual_rft_detection_accuracy_reward_confidence.json': ('visual_rft_confidence', P.visual_rft_confidence_row),
    'visual_rft_classification_accuracy_reward.json': ('visual_rft_cls', P.visual_rft_cls_row),
    'visual_rft_lisa_accuracy_reward.json': ('visual_rft_giou', P.visual_rft_giou_row),
    'visual_rft_format_reward.json': ('format_paper', lambda c, s: format_row(c)),
    'reason_rft_format_reward.json': ('format_paper', lambda c, s: format_row(c)),
    'reason_rft_accuracy_reward.json': ('reason_rft_accuracy', P.reason_rft_accuracy_row),
    'reason_rft_math_accuracy_reward.json': ('reason_rft_tolerance', P.reason_rft_tolerance_row),
    'reason_rft_func_accuracy_reward.json': ('trance_partial', P.trance_partial_row),
    'reason_rft_only_full_func_accuracy_reward.json': ('trance_exact', P.trance_exact_row),
    'reason_rft_eval_get_score_trance.json': (None, P.reason_rft_eval_trance),
    'reason_rft_eval_get_score_clevr.json': (None, P.reason_rft_eval_accuracy),
}


def _value(v) -> float:
    "A JSON value as a float ('nan', 'inf', '-inf' are how the files write non-finite values)."
    return float(v)


def _same(a: float, b: float) -> bool:
    "Exactly the same float (NaN equals NaN)."
    return (math.isnan(a) and math.isnan(b)) or a == b


def _load(name):
    d = json.loads((DATA / name).read_text())
    assert d['n_cases'] == len(d['cases']) > 0
    return d


def test_every_file_is_covered():
    files = sorted(p.name for p in DATA.glob('*.json'))
    assert files == sorted(OURS), set(files) ^ set(OURS)


@pytest.mark.parametrize('name', sorted(OURS))
def test_same_values_as_upstream(name):
    d = _load(name)
    reward_name, fn = OURS[name]
    f = get_reward(reward_name) if reward_name else None
    bad, n_order = [], 0
    for i, case in enumerate(d['cases']):
        comp, sol = case['completion'], case['solution']
        allowed = [_value(v) for v in case['values']] if case.get('order_dependent') else [_value(case['expected'])]
        n_order += bool(case.get('order_dependent'))
        ours = float(fn(comp, sol))
        if not any(_same(ours, v) for v in allowed):
            bad.append((i, case['tag'], 'row', ours, allowed))
        if f is not None:
            got = f([[{'role': 'assistant', 'content': comp}]], solution=[sol])[0]
            want = [v if math.isfinite(v) else f.failure_value for v in allowed]
            if not any(got == v for v in want):
                bad.append((i, case['tag'], 'registered', got, want))
    assert not bad, f"{len(bad)} of {len(d['cases'])} cases differ from upstream, e.g. {bad[:5]}"
    assert n_order == d.get('n_order_dependent', 0)


def test_upstream_edge_cases_are_present():
    "The cases the known differences were about are in the data (so the tests above would catch them)."
    tags = lambda name: {c['tag'] for c in _load(name)['cases']}
    lisa_tags = {'reversed_x', 'reversed_y', 'reversed_xy', 'two_boxes_pred', 'gt_reversed'}
    assert lisa_tags <= tags('visual_rft_lisa_accuracy_reward.json')
    lisa = _load('visual_rft_lisa_accuracy_reward.json')['cases']
    assert max(_value(c['expected']) for c in lisa) > 2 and min(_value(c['expected']) for c in lisa) < 0
    assert {'no_objects', 'odd_confidence', 'truncated'} <= tags('visual_rft_detection_accuracy_reward_iou.json')
    assert {'pred_duplicates', 'tie_prone', 'no_answer_tag'} <= tags('reason_rft_only_full_func_accuracy_reward.json')
    assert sum(c.get('order_dependent', False) for c in _load('reason_rft_func_accuracy_reward.json')['cases']) > 0
