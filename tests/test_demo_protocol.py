"The demo protocol's analysis (benchmarks/demo_protocol.py): Student's t without scipy, Holm, the verdict rules, no verdict before every seed ran."
import importlib.util, json, math
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location('demo_protocol', ROOT / 'benchmarks' / 'demo_protocol.py')
dp = importlib.util.module_from_spec(spec); spec.loader.exec_module(dp)

def test_student_t():
    # tables: t_0.95 for 11 and 2 degrees of freedom; P(T > 2) with 11 df; symmetry
    assert dp.t_ppf(0.95, 11) == pytest.approx(1.7959, abs=1e-4) and dp.t_ppf(0.95, 2) == pytest.approx(2.9200, abs=1e-4)
    assert dp.t_sf(2.0, 11) == pytest.approx(0.03540, abs=1e-5) and dp.t_sf(-1.0, 5) == pytest.approx(1 - dp.t_sf(1.0, 5), abs=1e-12)
    assert dp.betainc(2, 3, 0.4) == pytest.approx(0.5248, abs=1e-4)

def test_holm():
    assert dp.holm({'a': 0.01, 'b': 0.04, 'c': 0.02}) == {'a': True, 'b': True, 'c': True}
    assert dp.holm({'a': 0.01, 'b': 0.06, 'c': 0.03}) == {'a': True, 'b': False, 'c': False}   # 0.03 > 0.05 / 2 stops the steps
    assert dp.holm({'a': 0.02, 'b': 0.02, 'c': 0.02}) == {'a': False, 'b': False, 'c': False}  # 0.02 > 0.05 / 3

def test_paired_stats():
    s = dp.paired_stats([1.5, 2.0, -0.5, 3.0, 2.2, 0.4])
    m, sd = 8.6 / 6, math.sqrt(sum((x - 8.6 / 6) ** 2 for x in [1.5, 2.0, -0.5, 3.0, 2.2, 0.4]) / 5)
    assert s['mean'] == round(m, 2) and s['sd'] == round(sd, 2)
    assert s['lower95_t'] == round(m - dp.t_ppf(0.95, 5) * sd / math.sqrt(6), 2) and s['lower95_t'] < s['mean']
    assert -0.5 <= s['lower95_boot'] <= s['mean'] and 0 < s['p_one_sided'] < 0.05

def _rec(seed, grpo_gain, cont_gap):
    sp = list(dp.SPLITS)
    acc = lambda v: {k: v for k in sp}
    se = {k: {'fixed': 1, 'broken': 0, 'n': 1000, 'se': 1.0} for k in sp}
    return dict(seed=seed, kind='confirmation', chance=acc(18.0), format_after_grpo=acc(1.0), headroom=None,
                accuracy=dict(cot_sft=acc(70.0), grpo=acc(70.0 + grpo_gain), cont_sft=acc(70.0 + grpo_gain - cont_gap)),
                grpo_vs_sft=se, grpo_vs_cont_sft=se)

def test_card_verdicts(tmp_path, monkeypatch):
    monkeypatch.setattr(dp, 'RESULTS', tmp_path)
    seeds = [1, 2, 3, 4]
    for i, s in enumerate(seeds):
        (tmp_path / f'seed{s}.json').write_text(json.dumps(_rec(s, 3.0 + 0.5 * i, -2.0 - 0.3 * i)))   # GRPO gains; the control gains 2 more
    text, rep = dp.card(seeds[:3] + [5])                                                              # seed 5 planned, not run
    assert rep['interim'] and 'Interim: 3 of 4' in text and 'interim (holds so far)' in text
    text, rep = dp.card(seeds)
    assert not rep['interim'] and 'Interim' not in text
    assert all(v['verdict'] == 'holds' for v in rep['claims']['GRPO beats CoT-SFT'].values())
    (tmp_path / 'seed4.json').write_text(json.dumps(_rec(4, -6.0, 5.0)))                             # one seed against: no longer shown
    _, rep = dp.card(seeds)
    assert {v['verdict'] for v in rep['claims']['GRPO beats CoT-SFT'].values()} == {'not shown'}
    for i, s in enumerate(seeds):
        (tmp_path / f'seed{s}.json').write_text(json.dumps(_rec(s, 1.0, -6.0 - 0.4 * i)))             # the control wins every seed
    _, rep = dp.card(seeds)
    assert {v['verdict'] for v in rep['claims']['GRPO beats continued CoT-SFT at equal CPU'].values()} == {'reversed'}

# --- the few-shot adaptation card (benchmarks/demo_fewshot.py reuses the statistics above) ---
import sys
sys.path.insert(0, str(ROOT / 'benchmarks'))
spec_fs = importlib.util.spec_from_file_location('demo_fewshot', ROOT / 'benchmarks' / 'demo_fewshot.py')
fs = importlib.util.module_from_spec(spec_fs); spec_fs.loader.exec_module(fs)

def test_fewshot_card(tmp_path):
    rec = tmp_path / 'r.jsonl'
    for s in (1, 2, 3, 4):
        for n in (16, 64):
            base = dict(mode='confirm', target='test_ood', seed=s, n=n)
            fs.record(rec, dict(base, arm='start', acc=dict(target=50.0, source=70.0)))
            fs.record(rec, dict(base, arm='grpo@5e-06', cpu=100, acc=dict(target=60.0 + s, source=69.0)))      # adapts, forgets little
            fs.record(rec, dict(base, arm='sft@0.0001', cpu=99, acc=dict(target=55.0 + 0.5 * s, source=60.0 - s)))
    fs.record(rec, dict(mode='pilot', target='test_ood', seed=0, n=16, arm='start', acc=dict(target=50.0, source=70.0)))
    text, rep = fs.report(rec)
    v = {(x['shots'], x['measure']): x['verdict'] for x in rep['confirm']}
    assert v == {(16, 'target'): 'holds', (64, 'target'): 'holds', (16, 'source'): 'holds', (64, 'source'): 'holds'}
    assert '## pilot' in text and '| 1 | 16 | 50.0 / 70.0 | 61.0 / 69.0 (100) | 55.5 / 59.0 (99) |' in text
    # SFT wins the target domain on every seed: reversed; one seed against GRPO in-domain: not shown
    rec.write_text('')
    for s in (1, 2, 3, 4):
        base = dict(mode='confirm', target='test_ood', seed=s, n=16)
        fs.record(rec, dict(base, arm='start', acc=dict(target=50.0, source=70.0)))
        fs.record(rec, dict(base, arm='grpo@5e-06', cpu=100, acc=dict(target=52.0, source=70.0 + (-9 if s == 4 else 1))))
        fs.record(rec, dict(base, arm='sft@0.0001', cpu=99, acc=dict(target=58.0 + s, source=69.0)))
    _, rep = fs.report(rec, 'grpo@5e-06', 'sft@0.0001')
    assert {(x['measure'], x['verdict']) for x in rep['confirm']} == {('target', 'reversed'), ('source', 'not shown')}
