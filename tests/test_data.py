"Data layer: schema validation errors, skip reports, atomic builds, box conventions, synthetic determinism, SFT formats."
import json, subprocess, sys
from pathlib import Path

import datasets, pytest
from PIL import Image

from rft_nb.coords import BoxConvention
from rft_nb.families import render_for_convention, solution_boxes, grounding_answer, detection_answer
from rft_nb.builders import from_json
from rft_nb.data_cli import main
from rft_nb.schema import DataError, save_dataset, load_report, make_row
from rft_nb.synthetic import synthetic_rows, make_synthetic, GENERATORS, FAMILY_SPLITS
from rft_nb.rows import to_sft_rows, to_sharegpt, to_grpo_rows, split_for_stages


@pytest.fixture
def root(tmp_path):
    (tmp_path / 'img').mkdir()
    Image.new('RGB', (641, 479), 'white').save(tmp_path / 'img/a.png')
    (tmp_path / 'img/corrupt.jpg').write_bytes(b'\x89PNG garbage')
    (tmp_path / 'secret.png').write_bytes((tmp_path / 'img/a.png').read_bytes())
    return tmp_path


GOOD = [{'id': 'd0', 'image': 'a.png', 'problem': "Detect all objects belonging to the category 'cat' in the image.",
         'solution': "<answer>[{'Position': [100, 100, 500, 500], 'Confidence': 1}]</answer>"},
        {'id': 'g0', 'image': 'a.png', 'problem': 'Where is the cat?', 'solution': '<answer>(10,20),(300,400)</answer>'},
        {'id': 'c0', 'image': 'a.png', 'problem': 'How many cats?', 'solution': '<answer>2</answer>'}]

BAD = {  # case -> (bad row fields, expected field in the error, expected words)
    'missing image': ({'image': 'nope.png'}, 'image', 'not found'),
    'corrupt image': ({'image': 'corrupt.jpg'}, 'image', 'cannot be read'),
    'escaping path': ({'image': '../secret.png'}, 'image', 'escapes the image root'),
    'box outside': ({'solution': '<answer>(10,20),(300,1400)</answer>'}, 'solution', 'outside'),
    'zero area': ({'solution': '<answer>(10,20),(10,400)</answer>'}, 'solution', 'zero area'),
    'wrong type': ({'problem': 42}, 'problem', 'expected a string'),
    'unknown task': ({'task': 'juggling'}, 'task', 'unknown task'),
    'duplicate id': ({'id': 'c0'}, 'id', 'duplicate id'),
}


def write(root, rows, name='rows.json'):
    p = root / name; p.write_text(json.dumps(rows)); return p


@pytest.mark.parametrize('case', list(BAD))
def test_bad_input_names_file_row_field(root, case):
    fields, fld, words = BAD[case]
    f = write(root, GOOD + [{**GOOD[1], 'id': 'x9', **fields}])
    with pytest.raises(DataError) as ei:
        from_json(f, root / 'img', root / 'out')
    e, msg = ei.value, str(ei.value)
    assert e.file == str(f) and e.row == 3 and e.field == fld, msg
    assert f"{f}: row 3" in msg and f"field '{fld}'" in msg and words in msg
    assert not (root / 'out').exists()


def test_skip_invalid_writes_good_rows_and_report(root):
    rows = GOOD + [{**GOOD[1], 'id': f'bad{i}', **fields} for i, (fields, _, _) in enumerate(BAD.values()) if 'id' not in fields] \
        + [{**GOOD[2]}]
    f = write(root, rows)
    rc = main(['from-json', str(f), '--image-root', str(root / 'img'), '--out', str(root / 'out'), '--skip-invalid'])
    assert rc == 0
    ds = datasets.load_from_disk(str(root / 'out'))
    assert ds['id'] == ['d0', 'g0', 'c0']
    rep = load_report(root / 'out')
    assert rep['rows_written'] == 3 and rep['rows_skipped'] == len(BAD)
    assert {s['field'] for s in rep['skipped']} == {v[1] for v in BAD.values()}
    assert all(s['file'] == str(f) and s['row'] is not None and s['reason'] for s in rep['skipped'])


def test_cli_error_exit_code(root, capsys):
    f = write(root, GOOD + [{**GOOD[0], 'id': 'x', 'image': 'nope.png'}])
    with pytest.raises(SystemExit) as e: main(['from-json', str(f), '--image-root', str(root / 'img'), '--out', str(root / 'o')])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('rft-data: error: ') and err.count('\n') == 1 and "row 3 (id 'x'): field 'image'" in err


def test_cli_uses_settings_image_root(root, tmp_path):
    ini = tmp_path / 'settings.ini'
    ini.write_text(f"[paths]\nimage_root = {root / 'img'}\ndata_dir = {tmp_path / 'data'}\n")
    f = write(root, GOOD, 'mine.json')
    assert main(['--settings', str(ini), 'from-json', str(f), '--task', 'custom']) == 0
    ds = datasets.load_from_disk(str(tmp_path / 'data' / 'mine'))
    assert ds['task'] == ['custom'] * 3 and ds[0]['images'][0].size == (641, 479)


def test_atomic_build_keeps_previous(root):
    out = root / 'ds'
    rows = [make_row(f'r{i}', 'counting', [str(root / 'img/a.png')], 'How many?', answer='1', image_size=[641, 479]) for i in range(3)]
    save_dataset(rows, out)
    def interrupted():
        yield rows[0]; yield rows[1]; raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        save_dataset(interrupted(), out, overwrite=True)
    assert datasets.load_from_disk(str(out)).num_rows == 3
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(('ds', '.ds'))) == ['ds']
    with pytest.raises(FileExistsError): save_dataset(rows, out)
    with pytest.raises(RuntimeError):
        save_dataset((r if i < 2 else (_ for _ in ()).throw(RuntimeError('boom')) for i, r in enumerate(rows)), root / 'new')
    assert not (root / 'new').exists()


@pytest.mark.parametrize('size', [(641, 479), (333, 1001), (17, 29), (1999, 97)])
@pytest.mark.parametrize('conv', ['norm1000', 'resized-28-3136-401408', 'resized-28-3136-12845056', 'pixel'])
def test_convention_round_trip_through_solution(size, conv):
    w, h = size
    box = [w * 0.13 + 0.3, h * 0.21 + 0.7, w * 0.77 - 0.2, h * 0.93 - 0.1]
    boxes = [box, [0, 0, w, h]]
    det = make_row('d', 'detection', [b'x'], "category 'cat' (between 0 and 1000, integer)", answer=detection_answer(boxes, w, h),
                   image_size=[w, h], boxes=boxes, prompt_template='detection')
    gr = make_row('g', 'grounding', [b'x'], 'q', answer=grounding_answer(box, w, h), image_size=[w, h], boxes=[box])
    sx, sy = BoxConvention.parse(conv).scale(w, h)
    for row in (det, gr):
        r = render_for_convention(row, conv)
        assert r['box_convention'] == str(BoxConvention.parse(conv))
        back = solution_boxes(r)
        assert len(back) == len(row['boxes'])
        for b, c in zip(back, row['boxes']):
            for v, t, s in zip(b, c, [sx, sy, sx, sy]): assert abs(v - t) <= 0.5 / s + 1e-6
    if conv.startswith('resized'): assert 'as you see it' in render_for_convention(det, conv)['problem']


def test_render_for_convention_dataset():
    ds = make_synthetic('detection', 4, size=150)
    r = render_for_convention(ds, 'resized-28-3136-401408')
    assert r['box_convention'] == ['resized-28-3136-401408'] * 4
    for row in r:
        for b, c in zip(solution_boxes(row), row['boxes']):
            sx, _ = BoxConvention.parse('resized-28-3136-401408').scale(150, 150)
            assert all(abs(x - y) <= 0.5 / sx + 1e-6 for x, y in zip(b, c))


@pytest.mark.parametrize('family', list(GENERATORS))
def test_synthetic_deterministic_and_valid(family):
    for split in FAMILY_SPLITS[family]:
        a = list(synthetic_rows(family, 3, split, seed=5, size=96))
        b = list(synthetic_rows(family, 3, split, seed=5, size=96))
        assert a == b and len({r['id'] for r in a}) == 3 and all(r['split'] == split for r in a)
        assert all(r['solution'] == f"<answer>{r['answer']}</answer>" and r['reasoning'] for r in a)
    assert list(synthetic_rows(family, 2, 'train', seed=6, size=96)) != list(synthetic_rows(family, 2, 'train', seed=5, size=96))


def test_counting_in_and_out_of_domain():
    idd = [json.loads(r['meta']) for r in synthetic_rows('counting', 60, 'train', size=112)]
    ood = [json.loads(r['meta']) for r in synthetic_rows('counting', 30, 'test_ood', size=112)]
    assert all(1 <= m['n_objects'] <= 9 for m in idd) and all(10 <= m['n_objects'] <= 15 for m in ood)
    assert not {o['color'] for m in idd for o in m['objects']} & {'purple', 'orange'}
    for r in synthetic_rows('counting', 50, size=112):
        m = json.loads(r['meta']); q = m['question']; objs = m['objects']
        if q.startswith('How many objects are there'): assert int(r['answer']) == len(objs)
        assert r['reasoning'].endswith(f"{r['answer']}.") and len(r['reasoning'].split()) < 40


def test_sft_and_grpo_rows(tmp_path):
    ds = make_synthetic('trance', 3, size=64)
    sft = to_sft_rows(ds, 'cot')
    msgs = sft[0]['messages']
    assert [c['type'] for c in msgs[1]['content']] == ['image', 'image', 'text'] and len(sft[0]['images']) == 2
    assert msgs[2]['content'][0]['text'] == f"<think>{ds[0]['reasoning']}</think><answer>{ds[0]['answer']}</answer>"
    assert to_sft_rows(ds, 'ans', system_prompt=False)[0]['messages'][1]['content'][0]['text'] == ds[0]['answer']
    p = to_sharegpt(ds, tmp_path / 'sg' / 'trance.json', 'ans')
    rec = json.loads(p.read_text())[0]
    assert rec['messages'][1]['content'].startswith('<image><image>') and len(rec['images']) == 2
    assert all((p.parent / f).is_file() for f in rec['images'])
    g = to_grpo_rows(ds)
    assert g[0]['prompt'][0]['role'] == 'system' and g[0]['solution'] == ds[0]['solution']


def test_split_for_stages_reproducible():
    ds = make_synthetic('counting', 30, size=48)
    a1, b1 = split_for_stages(ds, 0.2, seed=3)
    a2, b2 = split_for_stages(ds, 6, seed=3)
    assert a1['id'] == a2['id'] and b1['id'] == b2['id'] and a1.num_rows == 6 and b1.num_rows == 24
    assert set(a1['id']).isdisjoint(b1['id']) and split_for_stages(ds, 0.2, seed=4)[0]['id'] != a1['id']


def test_jsonl_and_embed(root):
    f = root / 'r.jsonl'; f.write_text('\n'.join(json.dumps(r) for r in GOOD))
    ds = from_json(f, root / 'img', root / 'o', embed_images=True)
    (root / 'img/a.png').unlink()
    assert datasets.load_from_disk(str(root / 'o'))[2]['images'][0].size == (641, 479)
