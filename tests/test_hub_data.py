"""Visual-RFT's released datasets as they ship (Hub download: README.md + data/train-0000N-of-0000M.parquet; columns
image / problem / solution, as its dataset/build_dataset.ipynb and src/virft/src/open_r1/grpo.py use them) through
`rft-data from-hf`, then GRPO and `rft-eval` on the result: the same road as any other dataset."""
import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

DET_PROBLEM = ("Detect all objects belonging to the category '{c}' in the image, and provide the bounding boxes (between 0 and "
               "1000, integer) and confidence (between 0 and 1, with two decimal places). If no object belonging to the category "
               "'{c}' in the image, return 'No Objects'. Output the thinking process in <think> </think> and final answer in "
               "<answer> </answer> tags.The output answer format should be as follows:\n<think> ... </think> <answer>[{{'Position': "
               "[x1, y1, x2, y2], 'Confidence': number}}, ...]</answer>\nPlease strictly follow the format.")
CLS_PROBLEM = ("This is an image containing a flower. Please identify the species of the flower based on the image.\nOutput the "
               "thinking process in <think> </think> and final answer in <answer> </answer> tags.The output answer format should "
               "be as follows:\n<think> ... </think> <answer>species name</answer>\nPlease strictly follow the format.")
README = ("---\nlicense: apache-2.0\ndataset_info:\n  features:\n  - name: image\n    dtype: image\n  - name: problem\n    dtype: string\n"
          "  - name: solution\n    dtype: string\n  splits:\n  - name: train\n    num_examples: {n}\nconfigs:\n- config_name: default\n"
          "  data_files:\n  - split: train\n    path: data/train-*\n---\n")


def picture(k, size=(160, 120)):
    "An RGBA image (build_dataset.ipynb converts to RGBA) with a dark square where the box is."
    from PIL import Image, ImageDraw
    im = Image.new('RGBA', size, (230, 230, 230, 255))
    ImageDraw.Draw(im).rectangle([16 + k, 12, 80 + k, 72], fill=(20, 20, 120, 255))
    return im


def write_hub(folder: Path, rows, shards=1, readme=True) -> Path:
    "`rows` as the Hub ships them: Parquet shards under data/, image bytes inside (datasets' Image feature)."
    import datasets
    feats = datasets.Features({'image': datasets.Image(), 'problem': datasets.Value('string'), 'solution': datasets.Value('string')})
    (folder / 'data').mkdir(parents=True)
    for k in range(shards):
        part = rows[k::shards]
        datasets.Dataset.from_dict({c: [r[c] for r in part] for c in feats}, features=feats).to_parquet(
            str(folder / 'data' / f"train-{k:05d}-of-{shards:05d}.parquet"))
    if readme: (folder / 'README.md').write_text(README.format(n=len(rows)))
    return folder


def det_rows(n=6):
    return [{'image': picture(k), 'problem': DET_PROBLEM.format(c='box'),
             'solution': f"<answer>[{{'Position': [{(16 + k) * 1000 // 160}, 100, {(80 + k) * 1000 // 160}, 600], 'Confidence': 1}}]</answer>"}
            for k in range(n)]


def cls_rows(n=4):
    return [{'image': picture(k).convert('RGB'), 'problem': CLS_PROBLEM, 'solution': f"<answer>{'sunflower' if k % 2 else 'daisy'}</answer>"}
            for k in range(n)]


@pytest.fixture(scope='module')
def ws(tmp_path_factory, cache_dir, tiny_path):
    root = tmp_path_factory.mktemp('hub')
    st = root / 'settings.ini'
    st.write_text(f"[paths]\ncache_dir = {cache_dir}\noutput_dir = {root / 'outputs'}\ndata_dir = {root / 'data'}\n"
                  "[model]\nbase_model = tiny-qwen2-vl\n")
    env = dict(os.environ, RFT_NB_SETTINGS=str(st), TOKENIZERS_PARALLELISM='false', OMP_NUM_THREADS='1')
    for k in ('WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'ACCELERATE_CONFIG'): env.pop(k, None)
    return dict(root=root, env=env, tiny=str(tiny_path))


def run(ws, cmd, *args):
    return subprocess.run([str(BIN / cmd), *map(str, args)], cwd=ws['root'], env=ws['env'], capture_output=True, text=True, timeout=900)


def ok(r):
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    return r


@pytest.fixture(scope='module')
def det_data(ws):
    "ViRFT_COCO-style detection set (README + 2 shards) built by the `rft-data from-hf` command."
    src = write_hub(ws['root'] / 'ViRFT_COCO_tiny', det_rows(), shards=2)
    r = ok(run(ws, 'rft-data', 'from-hf', src))
    assert 'rft-data from-hf: wrote 6 rows' in r.stdout, r.stdout
    return ws['root'] / 'data' / 'ViRFT_COCO_tiny'


def test_detection_rows(det_data):
    from rft_nb.schema import load_data
    ds = load_data(det_data)
    assert ds['task'] == ['detection'] * 6 and set(ds['split']) == {'train'} and ds['category'] == ['box'] * 6
    # shard 0 holds rows 0, 2, 4 of the list; row 0's box [100, 100, 500, 600] in 0-1000 on 160 x 120 pixels
    assert ds[0]['boxes'] == [[16.0, 12.0, 80.0, 72.0]] and ds[0]['image_size'] == [160, 120]
    assert ds[0]['id'] == 'train/train-00000-of-00002/0' and ds[3]['id'] == 'train/train-00001-of-00002/0'
    assert ds[0]['images'][0].size == (160, 120)


def test_classification_without_readme(tmp_path):
    from rft_nb.builders import from_hf
    ds = from_hf(write_hub(tmp_path / 'ViRFT_CLS_flower_tiny', cls_rows(), readme=False), tmp_path / 'out')
    assert ds['task'] == ['classification'] * 4 and ds['category'] == ['daisy', 'sunflower'] * 2
    assert ds['answer'] == ds['category'] and set(ds['split']) == {'train'}


def test_save_to_disk_folder(tmp_path):
    "build_dataset.ipynb's own output: DatasetDict({'train': ...}).save_to_disk(path), PIL images converted to RGBA."
    import datasets
    from rft_nb.builders import from_hf
    rows = det_rows(3)
    feats = datasets.Features({'image': datasets.Image(), 'problem': datasets.Value('string'), 'solution': datasets.Value('string')})
    d = datasets.Dataset.from_dict({c: [r[c] for r in rows] for c in feats}, features=feats)
    datasets.DatasetDict({'train': d, 'test': d.select([0])}).save_to_disk(str(tmp_path / 'disk'))
    ds = from_hf(tmp_path / 'disk')
    assert ds['split'] == ['train'] * 3 + ['test'] and ds[0]['boxes'] == [[16.0, 12.0, 80.0, 72.0]]
    assert len(set(ds['id'])) == 4


def test_image_paths(tmp_path):
    "A Hub set whose image column holds paths (relative to the dataset folder), not bytes."
    import pyarrow as pa, pyarrow.parquet as pq
    from rft_nb.builders import from_hf
    src = tmp_path / 'paths'
    (src / 'data' / 'images').mkdir(parents=True)
    picture(0).save(src / 'data' / 'images' / 'a.png')
    r = det_rows(1)[0]
    pq.write_table(pa.table({'image': [{'bytes': None, 'path': 'images/a.png'}], 'problem': [r['problem']], 'solution': [r['solution']]}),
                   src / 'data' / 'train-00000-of-00001.parquet')
    ds = from_hf(src, embed_images=True)
    assert ds[0]['boxes'] == [[16.0, 12.0, 80.0, 72.0]] and ds.data['images'][0][0]['bytes'].as_py()[:4] == b'\x89PNG'
    bad = tmp_path / 'badpath'
    (bad / 'data').mkdir(parents=True)
    pq.write_table(pa.table({'image': [{'bytes': None, 'path': 'images/missing.png'}], 'problem': [r['problem']], 'solution': [r['solution']]}),
                   bad / 'data' / 'train-00000-of-00001.parquet')
    with pytest.raises(Exception, match=r"train-00000-of-00001.parquet: row 0 \(id 'train/train-00000-of-00001/0'\): field 'image': image file"):
        from_hf(bad)


def test_hub_name(tmp_path, monkeypatch):
    "A Hub name goes through datasets.load_dataset (online); here it serves a local Parquet folder."
    import datasets
    from rft_nb.builders import from_hf
    src = write_hub(tmp_path / 'dl', det_rows(2))
    asked = []
    real = datasets.load_dataset
    def fake(name, *a, **kw):
        asked.append(name)
        return real('parquet', data_files={'train': str(src / 'data' / '*.parquet')}, cache_dir=str(tmp_path / 'hf_cache'))
    monkeypatch.setattr(datasets, 'load_dataset', fake)
    ds = from_hf('laolao77/ViRFT_COCO_tiny')
    assert asked == ['laolao77/ViRFT_COCO_tiny'] and ds['task'] == ['detection'] * 2
    with pytest.raises(Exception, match='no such folder'): from_hf('not-a-folder-or-name')


def test_bad_rows_named(ws, tmp_path):
    "A box outside 0-1000 and an unreadable image: named by shard, row and field; exit 2; --skip-invalid writes the rest."
    rows = det_rows(4)
    rows[1] = {**rows[1], 'solution': "<answer>[{'Position': [100, 100, 1500, 600], 'Confidence': 1}]</answer>"}
    src = write_hub(tmp_path / 'ViRFT_bad', rows, shards=2)
    r = run(ws, 'rft-data', 'from-hf', src, '--out', tmp_path / 'out')
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr[-3000:]
    err = [l for l in r.stderr.splitlines() if 'error:' in l]
    assert len(err) == 1 and err[0].startswith('rft-data: error: ') and 'train-00001-of-00002.parquet: row 0' in err[0] \
        and "field 'solution': box 0" in err[0], r.stderr
    assert not (tmp_path / 'out').exists()   # nothing half-written
    ok(run(ws, 'rft-data', 'from-hf', src, '--out', tmp_path / 'out', '--skip-invalid'))
    rep = json.loads((tmp_path / 'out' / 'build_report.json').read_text())
    assert rep['rows_written'] == 3 and [(Path(s['file']).name, s['row'], s['field']) for s in rep['skipped']] == \
        [('train-00001-of-00002.parquet', 0, 'solution')]


def test_trains_and_evaluates(ws, det_data, tmp_path):
    "GRPO (2 steps) from the Hub-built detection set, then rft-eval on it: the same commands as for any dataset."
    r = ok(run(ws, 'rft-grpo', '--model_name_or_path', ws['tiny'], '--dataset_path', det_data, '--output_dir', tmp_path / 'grpo',
               '--reward_funcs', 'format', 'detection', '--max_steps', '2', '--per_device_train_batch_size', '4',
               '--num_generations', '4', '--max_completion_length', '8', '--use_lora', 'true', '--report_to', 'none',
               '--gradient_checkpointing', 'false', '--save_strategy', 'no', '--rollout_log_steps', '1', '--logging_steps', '1'))
    summary = json.loads(r.stdout[r.stdout.rindex('{\n "backend"'):])
    assert summary['steps'] == 2
    rolls = [json.loads(l) for l in (tmp_path / 'grpo' / 'rollouts.jsonl').read_text().splitlines()]
    assert rolls and set(rolls[0]['rewards']) == {'format', 'detection'} and rolls[0]['id'].startswith('train/train-0000')
    ok(run(ws, 'rft-eval', '--model', ws['tiny'], '--data', det_data, '--split', 'train', '--limit', '2', '--max-new-tokens', '8',
           '--out', tmp_path / 'eval', '--no-progress'))
    res = json.loads((tmp_path / 'eval' / 'results.json').read_text())
    det = res['metrics']['detection']['train']
    assert det['n'] == 2 and 'mAP' in det, res['metrics']   # scored by the detection metric, as any detection set
