"Evaluation: metrics cross-checked (pycocotools run directly, hand-computed gIoU/cIoU), resume after a real kill, CLI, report, vLLM wiring."
import json, os, random, signal, subprocess, sys, time, types
from pathlib import Path

import pytest

from rft_nb.coords import to_model_box, from_model_box
from rft_nb.scoring import coco_detection_metrics, compute_metrics, score_completion, compare_runs
from rft_nb.inference import load_predictions, run_inference, sampling_settings, VLLMBackend
from rft_nb.evaluate import main, report_main
from rft_nb.rows import row_prompt
from rft_nb.schema import save_dataset
from rft_nb.synthetic import synthetic_rows


# ---------------------------------------------------------------- detection: COCO mAP == pycocotools run directly

def _random_records(seed=0, n_img=30, cats=('dog', 'cat', 'car')):
    rng = random.Random(seed)
    recs = []
    for i in range(n_img):
        W, H = rng.randint(200, 800), rng.randint(200, 800)
        cat = rng.choice(cats)
        gts = []
        for _ in range(rng.randint(0, 4)):
            x, y = rng.uniform(0, W - 60), rng.uniform(0, H - 60)
            gts.append([x, y, x + rng.uniform(20, 60), y + rng.uniform(20, 60)])
        preds = []
        for g in gts:
            if rng.random() < 0.8:
                j = [rng.uniform(-8, 8) for _ in range(4)]
                preds.append([g[0] + j[0], g[1] + j[1], g[2] + j[2], g[3] + j[3], round(rng.random(), 2)])
        for _ in range(rng.randint(0, 2)):
            x, y = rng.uniform(0, W - 60), rng.uniform(0, H - 60)
            preds.append([x, y, x + 40, y + 30, round(rng.random(), 2)])
        recs.append(dict(task='detection', split='test_id', category=cat, image_size=[W, H], gt_boxes=gts, pred_boxes=preds, format=1.0))
    return recs

def _pycocotools_direct(recs, cats, tmp_path):
    "The textbook route: COCO json files on disk, COCO(file), loadRes(file), COCOeval with catIds."
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    names = sorted({r['category'] for r in recs} | set(cats))
    cid = {c: 100 + 7 * i for i, c in enumerate(names)}        # arbitrary ids, unlike ours
    gt = dict(images=[], annotations=[], categories=[dict(id=v, name=k) for k, v in cid.items()])
    dt = []
    for i, r in enumerate(recs):
        img = 1000 + i
        gt['images'].append(dict(id=img, width=r['image_size'][0], height=r['image_size'][1]))
        for b in r['gt_boxes']:
            gt['annotations'].append(dict(id=len(gt['annotations']) + 1, image_id=img, category_id=cid[r['category']],
                                          bbox=[b[0], b[1], b[2] - b[0], b[3] - b[1]], area=(b[2] - b[0]) * (b[3] - b[1]), iscrowd=0))
        for b in r['pred_boxes']:
            dt.append(dict(image_id=img, category_id=cid[r['category']], bbox=[b[0], b[1], b[2] - b[0], b[3] - b[1]], score=b[4]))
    (tmp_path / 'gt.json').write_text(json.dumps(gt)); (tmp_path / 'dt.json').write_text(json.dumps(dt))
    G = COCO(str(tmp_path / 'gt.json')); D = G.loadRes(str(tmp_path / 'dt.json'))
    def run(ids):
        E = COCOeval(G, D, 'bbox'); E.params.catIds = ids; E.evaluate(); E.accumulate(); E.summarize()
        return E.stats
    return run([cid[c] for c in cats]), {c: run([cid[c]])[0] for c in cats}

@pytest.mark.parametrize('seed,cats', [(0, ('dog', 'cat', 'car')), (1, ('cat',)), (2, ('dog', 'car'))])
def test_coco_map_equals_pycocotools_direct(seed, cats, tmp_path):
    recs = _random_records(seed)
    ours = coco_detection_metrics(recs, categories=list(cats))
    stats, per = _pycocotools_direct(recs, cats, tmp_path)
    assert ours['mAP'] == pytest.approx(stats[0] * 100, abs=1e-9)
    assert ours['AP50'] == pytest.approx(stats[1] * 100, abs=1e-9)
    assert ours['AP75'] == pytest.approx(stats[2] * 100, abs=1e-9)
    for c in cats: assert ours['per_category'][c] == pytest.approx(per[c] * 100, abs=1e-9), c
    assert 5 < ours['mAP'] < 95                                   # a non-trivial case

def test_detection_pipeline_from_completions(tmp_path):
    "Completions in norm1000 -> score_completion -> mAP; the same boxes converted by hand -> pycocotools."
    rows = list(synthetic_rows('detection', 12, 'test_ood', size=160))
    rng = random.Random(3)
    recs, hand = [], []
    for r in rows:
        W, H = r['image_size']
        items, canon = [], []
        for b in r['boxes']:
            if rng.random() < 0.25: continue
            m = [v + rng.randint(-12, 12) for v in to_model_box(b, W, H, 'norm1000')]
            if m[2] <= m[0] or m[3] <= m[1]: continue
            c = round(rng.uniform(0.3, 1.0), 2)
            items.append(f"{{'Position': {m}, 'Confidence': {c}}}")
            cb = from_model_box(m, W, H, 'norm1000')
            canon.append([min(max(cb[0], 0), W), min(max(cb[1], 0), H), min(max(cb[2], 0), W), min(max(cb[3], 0), H), c])
        text = f"<think>looking</think><answer>[{', '.join(items)}]</answer>" if items else '<answer>No Objects</answer>'
        recs.append(score_completion(text, r))
        hand.append(dict(category=r['category'], image_size=[W, H], gt_boxes=r['boxes'], pred_boxes=canon))
    for rec, h in zip(recs, hand):
        assert [[round(v, 6) for v in b] for b in rec['pred_boxes']] == [[round(v, 6) for v in b] for b in h['pred_boxes']]
    cats = sorted({r['category'] for r in rows})
    m = compute_metrics(recs)['detection']['test_ood']
    stats, _ = _pycocotools_direct(hand, cats, tmp_path)
    assert m['mAP'] == pytest.approx(stats[0] * 100, abs=1e-9)
    assert m['format'] == pytest.approx(100 * sum(r['format'] for r in recs) / len(recs))


# ---------------------------------------------------------------- grounding, classification, counting, trance

def test_grounding_metrics_by_hand():
    rows = list(synthetic_rows('grounding', 3, 'test_id', size=200))
    W, H = rows[0]['image_size']
    g0, g1, g2 = (r['boxes'][0] for r in rows)
    p0 = to_model_box(g0, W, H)                                          # exact (up to the 0-1000 grid)
    p1 = to_model_box([g1[0], g1[1], (g1[0] + g1[2]) / 2, g1[3]], W, H)  # left half: IoU ~ 0.5
    comps = [f"<think>a</think><answer>({p0[0]},{p0[1]}),({p0[2]},{p0[3]})</answer>",
             f"<answer>({p1[0]},{p1[1]}),({p1[2]},{p1[3]})</answer>", "<answer>no idea</answer>"]
    recs = [score_completion(c, r) for c, r in zip(comps, rows)]
    def iou(a, b):
        iw, ih = max(0, min(a[2], b[2]) - max(a[0], b[0])), max(0, min(a[3], b[3]) - max(a[1], b[1]))
        i = iw * ih; return i, (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i
    pb = [from_model_box(p, W, H) for p in (p0, p1)]
    (i0, u0), (i1, u1) = iou(pb[0], g0), iou(pb[1], g1)
    a2 = (g2[2] - g2[0]) * (g2[3] - g2[1])
    m = compute_metrics(recs)['grounding']['test_id']
    assert m['gIoU'] == pytest.approx(100 * (i0 / u0 + i1 / u1 + 0) / 3)
    assert m['mIoU'] == m['gIoU']
    assert m['cIoU'] == pytest.approx(100 * (i0 + i1) / (u0 + u1 + a2))
    assert m['acc@0.5'] == pytest.approx(100 * (1 + (i1 / u1 >= 0.5)) / 3)
    assert recs[2]['pred_box'] is None and recs[2]['iou'] == 0

def test_classification_hardened_and_paper_side_by_side():
    rows = list(synthetic_rows('classification', 4, 'test_id', size=64))
    comps = [f"<think>x</think><answer>{rows[0]['answer']}</answer>", "<think>x</think><answer></answer>",
             f"<answer>{', '.join(rows[2]['classes'])}</answer>", "<answer>a tulip</answer>"]
    recs = [score_completion(c, r) for c, r in zip(comps, rows)]
    assert [r['correct'] for r in recs] == [1.0, 0.0, 0.0, 0.0]
    assert [r['correct_paper'] for r in recs] == [1.0, 1.0, 1.0, 0.0]
    m = compute_metrics(recs)['classification']['test_id']
    assert (m['acc'], m['acc_paper'], m['n']) == (25.0, 75.0, 4)

def test_counting_geometry_trance_split_id_ood():
    recs = []
    for split in ('test_id', 'test_ood'):
        for i, r in enumerate(synthetic_rows('counting', 4, split, size=64)):
            ans = r['answer'] if (split == 'test_id' or i == 0) else str(int(r['answer']) + 1)
            recs.append(score_completion(f"<think>c</think><answer>{ans}</answer>", r))
    for split in ('test_id', 'test_ood_left', 'test_ood_right'):
        for r in synthetic_rows('trance', 2, split, size=64):
            recs.append(score_completion(f"<answer>{r['answer']}</answer>", r))
    g = list(synthetic_rows('geometry', 4, 'test_ood', size=64))
    recs += [score_completion(f"<answer>{r['answer']}</answer>", r) for r in g]
    m = compute_metrics(recs)
    assert m['counting']['test_id']['acc'] == 100.0 and m['counting']['test_ood']['acc'] == 25.0
    assert m['counting']['all']['acc'] == 62.5
    assert list(m['trance']) == ['test_id', 'test_ood_left', 'test_ood_right', 'all']
    assert all(v['acc'] == 100.0 and v['partial'] == 100.0 for v in m['trance'].values())
    assert m['geometry']['test_ood']['acc'] == 100.0 and m['geometry']['test_ood']['acc_paper'] == 100.0
    assert m['trance']['test_id']['format'] == 0.0              # no <think>: format fails, answers still right


# ---------------------------------------------------------------- resumable inference: a real kill, then resume

def _dataset(tmp_path, n=16):
    rows = {'test_id': synthetic_rows('counting', n // 2, 'test_id', size=56), 'test_ood': synthetic_rows('counting', n // 2, 'test_ood', size=56)}
    return save_dataset(rows, tmp_path / 'count')

def test_resume_after_kill(tmp_path, tiny_path):
    ds = _dataset(tmp_path)
    out = tmp_path / 'run'
    argv = ['--model', str(tiny_path), '--data', str(tmp_path / 'count'), '--out', str(out), '--preset', 'greedy',
            '--max-new-tokens', '24', '--batch-size', '1', '--no-progress']
    code = 'import sys; from rft_nb.evaluate import main; main(sys.argv[1:])'
    p = subprocess.Popen([sys.executable, '-c', code, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    pred = out / 'predictions.jsonl'
    t0 = time.time()
    try:
        while time.time() - t0 < 60:
            if pred.is_file() and len(pred.read_bytes().splitlines()) >= 3: break
            if p.poll() is not None: break
            time.sleep(0.02)
        assert p.poll() is None, 'inference finished before it could be killed'
        os.kill(p.pid, signal.SIGKILL)
    finally:
        if p.poll() is None: os.kill(p.pid, signal.SIGKILL)
        p.wait()
    before = [json.loads(l)['id'] for l in pred.read_text().splitlines() if l.strip()]
    assert 3 <= len(before) < len(ds['test_id']) + len(ds['test_ood'])
    with open(pred, 'a') as f: f.write('{"id": "counting-test_ood-0-0000')      # a torn line, as from a kill mid-write
    res = main(argv)
    ids = [json.loads(l)['id'] for l in pred.read_text().splitlines()]
    all_ids = list(ds['test_id']['id']) + list(ds['test_ood']['id'])
    assert sorted(ids) == sorted(all_ids) and len(ids) == len(set(ids))        # nothing lost, nothing twice
    assert ids[:len(before)] == before                                          # what was done was kept, not redone
    assert res['n'] == len(all_ids) and set(res['metrics']['counting']) == {'test_id', 'test_ood', 'all'}
    assert json.loads((out / 'results.json').read_text())['metrics'] == res['metrics']

def test_load_predictions_repairs_and_dedups(tmp_path):
    f = tmp_path / 'p.jsonl'
    f.write_text('{"id": "a", "v": 1}\n{"id": "b", "v": 2}\n{"id": "a", "v": 3}\n{"id": "c", "v"')
    d = load_predictions(f)
    assert {k: v['v'] for k, v in d.items()} == {'a': 1, 'b': 2}
    assert f.read_text().endswith('"v": 3}\n')                                   # torn tail cut off
    with open(f, 'a') as h: h.write('{"id": "c", "v": 4}\n')
    assert set(load_predictions(f)) == {'a', 'b', 'c'}


# ---------------------------------------------------------------- CLI, report, plots, viewer

def test_cli_report_plots_viewer(tmp_path, tiny_path, capsys):
    rows = {'test_id': list(synthetic_rows('classification', 2, 'test_id', size=56)) + list(synthetic_rows('trance', 2, 'test_id', size=56)),
            'test_ood': synthetic_rows('classification', 2, 'test_ood', size=56)}
    save_dataset(rows, tmp_path / 'mix')
    common = ['--data', str(tmp_path / 'mix'), '--preset', 'greedy', '--max-new-tokens', '6', '--no-progress', '--model', str(tiny_path)]
    r1 = main(common + ['--out', str(tmp_path / 'base')])
    r2 = main(common + ['--out', str(tmp_path / 'rft'), '--split', 'test_id', '--no-system-prompt'])
    assert set(r1['metrics']) == {'classification', 'trance'} and set(r1['metrics']['classification']) == {'test_id', 'test_ood', 'all'}
    assert set(r2['metrics']['classification']) == {'test_id'} and r2['n'] == 4
    for d in ('base', 'rft'):
        assert {p.name for p in (tmp_path / d).iterdir()} >= {'predictions.jsonl', 'results.json', 'results.md', 'eval_config.json'}
    md = (tmp_path / 'base' / 'results.md').read_text()
    assert '### classification' in md and '| OOD |' in md
    # the report: one table, a row per run
    ro = tmp_path / 'rollouts.jsonl'
    ro.write_text(''.join(json.dumps(dict(step=i, id=f'x{i}', prompt='p', completion='<answer>1</answer>', rewards={'acc': i % 2})) + '\n' for i in range(4)))
    capsys.readouterr()
    report_main([f'Qwen2-VL=' + str(tmp_path / 'base'), f'Reason-RFT=' + str(tmp_path / 'rft'), '--out', str(tmp_path / 'cmp.md'),
                 '--plots', str(tmp_path / 'plots'), '--rollouts', str(ro)])
    tbl = (tmp_path / 'cmp.md').read_text().splitlines()
    assert tbl[0].startswith('| method | classification ID | classification ID acc_paper | classification OOD |')
    assert tbl[2].startswith('| Qwen2-VL |') and tbl[3].startswith('| Reason-RFT |')
    assert tbl[3].split('|')[4].strip() == '–'                                  # rft run has no OOD split
    assert sorted(p.name for p in (tmp_path / 'plots').iterdir()) == ['classification_acc.png', 'trance_acc.png']
    assert (tmp_path / 'rollouts.html').read_text().count('<tr class="row"') == 4
    with pytest.raises(SystemExit): report_main([])

def test_cli_paths_from_settings(tmp_path, tiny_path, monkeypatch):
    "--data by name under data_dir and --out defaulting to output_dir/eval/<model>/<data>, from settings.ini."
    (tmp_path / 'settings.ini').write_text(f"[paths]\ndata_dir = d\noutput_dir = o\ncache_dir = {tmp_path / 'c'}\n")
    save_dataset({'test_id': synthetic_rows('counting', 2, 'test_id', size=56)}, tmp_path / 'd' / 'cnt')
    main(['--settings', str(tmp_path / 'settings.ini'), '--model', str(tiny_path), '--data', 'cnt', '--preset', 'greedy',
          '--max-new-tokens', '4', '--no-progress'])
    assert (tmp_path / 'o' / 'eval' / tiny_path.name / 'cnt' / 'results.json').is_file()
    with pytest.raises(FileNotFoundError, match='data_dir'):
        main(['--settings', str(tmp_path / 'settings.ini'), '--data', 'nope', '--no-progress'])

def test_compare_runs_bold_and_average():
    a = dict(metrics={'grounding': {'test_id': {'n': 1, 'acc@0.5': 10.0, 'gIoU': 20.0, 'cIoU': 30.0}}})
    b = dict(metrics={'grounding': {'test_id': {'n': 1, 'acc@0.5': 40.0, 'gIoU': 5.0, 'cIoU': None}}})
    t = compare_runs({'a': a, 'b': b}).splitlines()
    assert t[0] == '| method | grounding ID acc@0.5 | grounding ID gIoU | grounding ID cIoU | avg |'
    assert t[2] == '| a | 10.00 | **20.00** | **30.00** | 20.00 |'
    assert t[3] == '| b | **40.00** | 5.00 | – | 22.50 |'


# ---------------------------------------------------------------- vLLM: what it would be passed

def test_vllm_backend_wiring(monkeypatch, tiny_path):
    calls = {}
    class LLM:
        def __init__(self, **kw): calls['engine'] = kw
        def generate(self, reqs, params, lora_request=None, use_tqdm=True):
            calls.update(reqs=reqs, params=params, lora=lora_request)
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=f'<answer>{i}</answer>')]) for i in range(len(reqs))]
    class SamplingParams:
        def __init__(self, **kw): self.kw = kw
    class LoRARequest:
        def __init__(self, name, idx, path): self.args = (name, idx, path)
    vllm = types.ModuleType('vllm'); vllm.LLM, vllm.SamplingParams = LLM, SamplingParams
    lora_mod = types.ModuleType('vllm.lora'); req_mod = types.ModuleType('vllm.lora.request'); req_mod.LoRARequest = LoRARequest
    monkeypatch.setitem(sys.modules, 'vllm', vllm); monkeypatch.setitem(sys.modules, 'vllm.lora', lora_mod); monkeypatch.setitem(sys.modules, 'vllm.lora.request', req_mod)
    vb = VLLMBackend(tiny_path, adapter='/adapters/lora1', max_model_len=4096)
    rows = list(synthetic_rows('trance', 1, 'test_id', size=56)) + list(synthetic_rows('counting', 1, 'test_id', size=56))
    out = vb.generate([row_prompt(r) for r in rows], sampling_settings('reason_rft'))
    assert out == ['<answer>0</answer>', '<answer>1</answer>']
    e = calls['engine']
    assert e['model'] == str(tiny_path) and e['enable_lora'] and e['limit_mm_per_prompt'] == {'image': 2} and e['max_model_len'] == 4096
    assert calls['params'].kw == dict(n=1, temperature=0.1, top_p=0.9, top_k=50, max_tokens=768, seed=0)
    assert calls['lora'].args == ('adapter', 1, '/adapters/lora1')
    r0, r1 = calls['reqs']
    assert r0['prompt'].count('<|image_pad|>') == 2 and len(r0['multi_modal_data']['image']) == 2
    assert r1['prompt'].count('<|image_pad|>') == 1 and r1['multi_modal_data']['image'].size == (56, 56)
    assert r1['prompt'].endswith('<|im_start|>assistant\n') and rows[1]['problem'] in r1['prompt']


# ---------------------------------------------------------------- scripts/eval: paths from settings only

def test_eval_scripts_use_settings(tmp_path, tiny_path):
    root = Path(__file__).resolve().parents[1]
    for f in (root / 'scripts' / 'eval').glob('*.sh'):
        assert subprocess.run(['bash', '-n', str(f)]).returncode == 0, f
        assert '/work/' not in f.read_text() and '/home/' not in f.read_text(), f
    (tmp_path / 's.ini').write_text(f"[paths]\ndata_dir = {tmp_path / 'data'}\noutput_dir = {tmp_path / 'out'}\ncache_dir = {tmp_path / 'c'}\n")
    save_dataset({'test_id': synthetic_rows('counting', 2, 'test_id', size=56), 'test_ood': synthetic_rows('counting', 1, 'test_ood', size=56)},
                 tmp_path / 'data' / 'counting')
    env = {**os.environ, 'RFT_NB_SETTINGS': str(tmp_path / 's.ini'), 'PYTHON': sys.executable, 'TASKS': 'counting',
           'BASE_MODEL': str(tiny_path), 'BACKEND': 'transformers'}
    r = subprocess.run(['bash', str(root / 'scripts/eval/eval_zero_shot.sh'), '--preset', 'greedy', '--max-new-tokens', '4', '--no-progress'],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((tmp_path / 'out/eval/zero_shot/counting/results.json').read_text())
    assert res['n'] == 3 and res['meta']['sampling']['max_new_tokens'] == 4
    r = subprocess.run(['bash', str(root / 'scripts/eval/calculate_score.sh')], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / 'out/eval/report_counting.md').read_text().splitlines()[2].startswith('| zero_shot |')

def test_cli_report_reward_health(tmp_path, capsys):
    "`rft-report --train RUN` draws a GRPO run's reward-health curves; a run without them is a clear error."
    run = tmp_path / 'grpo'
    run.mkdir()
    hist = [{'step': s, 'reward': s / 10, 'frac_reward_zero_std': 0.3, 'sampling/effective_batch': 22, 'sampling/generated': 40,
             'completions/mean_length': 30, 'rewards/counting/mean': s / 10, 'rewards/counting/std': 0.4} for s in range(1, 6)]
    (run / 'trainer_state.json').write_text(json.dumps({'log_history': hist}))
    report_main(['--train', str(run)])
    assert (run / 'reward_health.png').stat().st_size > 5000 and 'reward health:' in capsys.readouterr().out
    (tmp_path / 'sft').mkdir()
    (tmp_path / 'sft' / 'trainer_state.json').write_text(json.dumps({'log_history': [{'step': 1, 'loss': 1.0}]}))
    with pytest.raises(SystemExit) as e: report_main(['--train', str(tmp_path / 'sft')])
    assert e.value.code == 2 and 'reward-health' in capsys.readouterr().err
