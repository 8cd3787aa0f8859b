"Each data_builders/ script, run as a subprocess on a tiny file in the dataset's real raw format."
import json, subprocess, sys
from pathlib import Path

import datasets, pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def img(path, size=(64, 48), color='white'):
    path.parent.mkdir(parents=True, exist_ok=True); Image.new('RGB', size, color).save(path); return path


def run(script, *args, ok=True):
    r = subprocess.run([sys.executable, str(REPO / 'data_builders' / f'{script}.py'), *map(str, args)], capture_output=True, text=True, cwd=REPO)
    assert (r.returncode == 0) == ok, r.stdout + r.stderr
    return r


def test_custom_json(tmp_path):
    img(tmp_path / 'im/a.jpg')
    (tmp_path / 'c.json').write_text(json.dumps([{'id': 1, 'image': 'a.jpg', 'problem': 'How many?', 'solution': '<answer>2</answer>'}]))
    run('custom_json', tmp_path / 'c.json', '--image-root', tmp_path / 'im', '--out', tmp_path / 'o')
    ds = datasets.load_from_disk(str(tmp_path / 'o'))
    assert ds[0]['task'] == 'counting' and ds[0]['id'] == '1'


def _coco(tmp_path, lvis=False):
    for n in (1, 2, 3): img(tmp_path / f'train2017/{n:012d}.jpg', (100, 80))
    images = [{'id': n, 'width': 100, 'height': 80, **({'coco_url': f'http://images.cocodataset.org/train2017/{n:012d}.jpg'} if lvis
                                                        else {'file_name': f'{n:012d}.jpg'})} for n in (1, 2, 3)]
    cats = [{'id': 1, 'name': 'dog', **({'frequency': 'r', 'synonyms': ['dog']} if lvis else {})}, {'id': 2, 'name': 'cat'}]
    anns = [{'id': 10 + n, 'image_id': n, 'category_id': 1, 'bbox': [10, 10, 20, 30], 'area': 600, 'iscrowd': 0} for n in (1, 2, 3)]
    anns.append({'id': 99, 'image_id': 1, 'category_id': 2, 'bbox': [50, 40, 50, 40], 'area': 2000, 'iscrowd': 0})
    f = tmp_path / 'ann.json'; f.write_text(json.dumps({'images': images, 'annotations': anns, 'categories': cats})); return f


def test_coco_k_shot_and_novel(tmp_path):
    f = _coco(tmp_path)
    run('coco', f, '--image-root', tmp_path / 'train2017', '--out', tmp_path / 'o', '--k-shot', '2', '--seed', '0', '--novel', 'cat')
    ds = datasets.load_from_disk(str(tmp_path / 'o'))
    assert sorted(ds['category']) == ['cat', 'dog', 'dog']
    r = ds[ds['category'].index('cat')]
    assert r['boxes'] == [[50.0, 40.0, 100.0, 80.0]] and json.loads(r['meta'])['group'] == 'novel'
    assert r['answer'] == "[{'Position': [500, 500, 1000, 1000], 'Confidence': 1}]"
    run('coco', f, '--image-root', tmp_path / 'train2017', '--out', tmp_path / 'o2', '--novel', 'cat', '--use', 'base')
    assert set(datasets.load_from_disk(str(tmp_path / 'o2'))['category']) == {'dog'}


def test_lvis(tmp_path):
    run('lvis', _coco(tmp_path, lvis=True), '--image-root', tmp_path / 'train2017', '--out', tmp_path / 'o', '--categories', 'dog')
    assert datasets.load_from_disk(str(tmp_path / 'o')).num_rows == 3


def test_flowers102_and_cars196_folders(tmp_path):
    for c in ('pink primrose', 'globe thistle'):
        for j in range(3): img(tmp_path / f'flowers/{c}/image_{j}.jpg')
    run('flowers102', '--folder', tmp_path / 'flowers', '--k-shot', '1', '--out', tmp_path / 'o')
    ds = datasets.load_from_disk(str(tmp_path / 'o'))
    assert ds['answer'] == ['globe thistle', 'pink primrose'] and 'a flower' in ds[0]['problem']
    (tmp_path / 'cars.csv').write_text('image,label\nflowers/pink primrose/image_0.jpg,AM General Hummer SUV 2000\n')
    run('cars196', '--labels', tmp_path / 'cars.csv', '--image-root', tmp_path, '--out', tmp_path / 'c')
    assert datasets.load_from_disk(str(tmp_path / 'c'))[0]['answer'] == 'AM General Hummer SUV 2000'


def test_pets37(tmp_path):
    root = tmp_path / 'oxford-iiit-pet'
    for n in ('Abyssinian_100', 'Abyssinian_101', 'american_bulldog_10'): img(root / f'images/{n}.jpg')
    (root / 'annotations').mkdir()
    (root / 'annotations/list.txt').write_text('#Image CLASS-ID SPECIES BREED ID\nAbyssinian_100 1 1 1\nAbyssinian_101 1 1 1\namerican_bulldog_10 2 2 1\n')
    run('pets37', '--root', root, '--out', tmp_path / 'o')
    ds = datasets.load_from_disk(str(tmp_path / 'o'))
    assert ds['answer'] == ['Abyssinian', 'Abyssinian', 'american bulldog'] and ds[0]['classes'] == ['Abyssinian', 'american bulldog']
    # an image the list names but the folder lacks: the error names the dataset's own list file, the row and the field
    (root / 'annotations/list.txt').write_text('Abyssinian_100 1 1 1\nBengal_7 6 1 4\n')
    err = run('pets37', '--root', root, '--out', tmp_path / 'o2', ok=False).stderr
    assert str(root / 'annotations/list.txt') in err and 'row 1' in err and "'image'" in err and not (tmp_path / 'o2').exists()


def test_fgvc_aircraft(tmp_path):
    root = tmp_path / 'fgvc-aircraft-2013b'
    for n in ('1025794', '1340192'): img(root / f'data/images/{n}.jpg')
    (root / 'data/images_variant_trainval.txt').write_text('1025794 707-320\n1340192 A300B4\n')
    run('fgvc_aircraft', '--root', root, '--out', tmp_path / 'o')
    assert datasets.load_from_disk(str(tmp_path / 'o'))['answer'] == ['707-320', 'A300B4']


def test_lisa(tmp_path):
    d = tmp_path / 'ReasonSeg/train'; img(d / 'x1.jpg', (200, 100))
    (d / 'x1.json').write_text(json.dumps({'text': ['the thing used to cut paper', 'scissors'], 'is_sentence': True,
                                           'shapes': [{'label': 'target', 'points': [[20, 10], [60, 10], [40, 50]]}]}))
    run('lisa', d, '--out', tmp_path / 'o')
    ds = datasets.load_from_disk(str(tmp_path / 'o'))
    assert ds.num_rows == 2 and ds[0]['boxes'] == [[20.0, 10.0, 60.0, 50.0]] and ds[0]['answer'] == '(100,100),(300,500)'


def test_refcoco(tmp_path):
    img(tmp_path / 'im/COCO_train2014_000000000009.jpg', (200, 100))
    (tmp_path / 'refs.json').write_text(json.dumps([{'image': 'COCO_train2014_000000000009.jpg', 'sentence': 'left dog', 'bbox': [0, 0, 100, 50]}]))
    run('refcoco', tmp_path / 'refs.json', '--image-root', tmp_path / 'im', '--out', tmp_path / 'o')
    assert datasets.load_from_disk(str(tmp_path / 'o'))[0]['answer'] == '(0,0),(500,500)'


def test_clevr_math(tmp_path):
    img(tmp_path / 'images/CLEVR_train_000000.png', (480, 320))
    (tmp_path / 'cm.json').write_text(json.dumps([{'id': 'cm0', 'image_filename': 'CLEVR_train_000000.png',
                                                   'question': 'Subtract all red cubes. How many objects are left?', 'label': 4}]))
    run('clevr_math', tmp_path / 'cm.json', '--image-root', tmp_path / 'images', '--out', tmp_path / 'o', '--split', 'test_id')
    r = datasets.load_from_disk(str(tmp_path / 'o'))[0]
    assert r['solution'] == '<answer>4</answer>' and r['split'] == 'test_id' and r['prompt_template'] == 'counting'


def test_geometry3k_folder(tmp_path):
    d = tmp_path / 'geometry3k/train/0'; img(d / 'img_diagram.png')
    (d / 'data.json').write_text(json.dumps({'id': 0, 'problem_text': 'Find x.', 'choices': ['3', '4', '5', '6'], 'answer': 'B'}))
    run('geometry', tmp_path / 'geometry3k/train', '--out', tmp_path / 'o')
    r = datasets.load_from_disk(str(tmp_path / 'o'))[0]
    assert r['answer'] == 'B' and r['options'] == ['3', '4', '5', '6'] and 'B. 4' in r['problem']


def test_trance_and_bad_value(tmp_path):
    img(tmp_path / 'im/0_init.png'); img(tmp_path / 'im/0_final.png')
    rows = [{'id': 't0', 'initial': '0_init.png', 'final': '0_final.png',
             'transformations': [{'obj_idx': 1, 'attr': 'shape', 'val': 'cube'}, {'obj_idx': 2, 'attr': 'position', 'val': 'left'}]}]
    (tmp_path / 't.json').write_text(json.dumps(rows))
    run('trance', tmp_path / 't.json', '--image-root', tmp_path / 'im', '--out', tmp_path / 'o')
    r = datasets.load_from_disk(str(tmp_path / 'o'))[0]
    assert r['answer'] == 'change_shape(1, cube), change_position(2, left)' and len(r['images']) == 2
    rows[0]['transformations'][0]['val'] = 'pyramid'; (tmp_path / 't.json').write_text(json.dumps(rows))
    e = run('trance', tmp_path / 't.json', '--image-root', tmp_path / 'im', '--out', tmp_path / 'o2', ok=False).stderr
    assert "row 0 (id 't0'): field 'transformations'" in e and not (tmp_path / 'o2').exists()


def test_synthetic_cli(tmp_path):
    r = subprocess.run([sys.executable, '-c', 'import sys; from rft_nb.data_cli import main; sys.exit(main(sys.argv[1:]))', 'synthetic', 'counting',
                        '--out', str(tmp_path / 's'), '--n-train', '8', '--n-test', '4', '--size', '112'], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    dd = datasets.load_from_disk(str(tmp_path / 's'))
    assert {k: v.num_rows for k, v in dd.items()} == {'train': 8, 'test_id': 4, 'test_ood': 4}
