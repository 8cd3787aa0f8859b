"Ordinary bad input to the installed commands gives one line naming what to change and exit status 2, not a traceback (issue 30 item 4)."
import json, os, socket, subprocess, sys
from pathlib import Path

from PIL import Image

from conftest import counting_env

BIN = Path(sys.executable).parent


def run(cmd, args, env, cwd, timeout=1200):
    return subprocess.run([str(BIN / cmd), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)

def one_error_line(r, prog, *words) -> str:
    "Exit status 2, no traceback, and exactly one `PROG: error: ...` line (the last one) naming every one of `words`."
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode == 2, (r.returncode, r.stderr[-3000:])
    assert 'Traceback' not in r.stderr, r.stderr[-3000:]
    errs = [l for l in lines if l.startswith(f'{prog}: error: ')]
    assert len(errs) == 1 and lines[-1] == errs[0], r.stderr[-3000:]
    for w in words: assert w in errs[0], (w, errs[0])
    return errs[0]

def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith('RFT_NB_')}
    return {**env, 'OMP_NUM_THREADS': '1', **extra}


def test_from_json_with_no_usable_row(tmp_path):
    Image.new('RGB', (32, 24)).save(tmp_path / 'a.png')
    bad = [{'image': 'missing.png', 'problem': 'How many?', 'solution': '<answer>2</answer>'},
           {'image': 'a.png', 'problem': 'How many?', 'solution': 7}]
    (tmp_path / 'bad.json').write_text(json.dumps(bad))
    (tmp_path / 'empty.json').write_text('[]')
    settings, root = ['--set', f'paths.data_dir={tmp_path / "data"}'], ['--image-root', str(tmp_path)]
    err = one_error_line(run('rft-data', [*settings, 'from-json', 'bad.json', '--skip-invalid', *root], clean_env(), tmp_path),
                         'rft-data', 'bad.json', 'no rows to write', 'all 2 were invalid', 'row 0', "field 'image'", 'missing.png')
    one_error_line(run('rft-data', [*settings, 'from-json', 'empty.json', *root], clean_env(), tmp_path), 'rft-data', 'empty.json',
                   'holds none')
    assert not (tmp_path / 'data').exists() or not any((tmp_path / 'data').iterdir()), err


def test_unreachable_server(tmp_path, tiny_path):
    from rft_nb.schema import save_dataset
    from rft_nb.synthetic import synthetic_rows
    save_dataset({'test_id': synthetic_rows('counting', 1, 'test_id', size=56)}, tmp_path / 'cnt')
    with socket.socket() as s:                                   # a port nobody listens on
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    r = run('rft-eval', ['--backend', 'openai', '--family', 'qwen2-vl', '--base-url', f'http://127.0.0.1:{port}/v1',
                         '--data', str(tmp_path / 'cnt'), '--out', str(tmp_path / 'served'), '--no-progress'], clean_env(), tmp_path)
    one_error_line(r, 'rft-eval', f'127.0.0.1:{port}', 'cannot reach the server', '--base-url')


def test_num_generations_that_does_not_divide_the_batch(cache_dir, tmp_path):
    env = counting_env(cache_dir, tmp_path)
    r = run('rft-grpo', ['--dataset_path', 'counting', '--output_dir', 'g', '--per_device_train_batch_size', '4',
                         '--num_generations', '3', '--max_steps', '1', '--report_to', 'none'], env, tmp_path)
    one_error_line(r, 'rft-grpo', 'num_generations (3)', '--num_generations')
    assert not (tmp_path / 'outputs' / 'g').exists()


def test_rft_plan_errors_carry_its_name(tmp_path):
    root = Path(__file__).resolve().parents[1]
    r = run('rft-plan', [str(root / 'recipes/qwen2vl_2b/counting/1gpu_qlora/cot_sft.yaml'), '--gpu', 'V100'], clean_env(), tmp_path)
    one_error_line(r, 'rft-plan', 'unknown GPU')
    r = run('rft-plan', [str(root / 'recipes/qwen2vl_2b/counting/1gpu_qlora/cot_sft.yaml'), '--image-size', 'big'], clean_env(), tmp_path)
    one_error_line(r, 'rft-plan', '--image-size must be HxW')


def test_build_report_counts_the_rows_splits(tmp_path):
    "Item 9: build_report.json's splits are the rows' own (train / test), not one 'all'."
    Image.new('RGB', (32, 24)).save(tmp_path / 'a.png')
    rows = [{'image': 'a.png', 'problem': 'How many squares?', 'solution': '<answer>2</answer>', 'split': s}
            for s in ('train', 'train', 'test')]
    (tmp_path / 'mine.json').write_text(json.dumps([{**r, 'id': f'r{i}'} for i, r in enumerate(rows)]))
    r = run('rft-data', ['from-json', 'mine.json', '--image-root', str(tmp_path), '--out', str(tmp_path / 'mine')], clean_env(), tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((tmp_path / 'mine' / 'build_report.json').read_text())['splits'] == {'train': 2, 'test': 1}
