"Ordinary bad input to the installed commands gives one line naming what to change and exit status 2, not a traceback (issue 30 items 3, 4, 7)."
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


def test_solutions_the_reward_cannot_read(tmp_path):
    "Item 3: an unclosed or empty <answer>, a word for a counting answer and an empty problem are bad rows, named; skipped and counted with --skip-invalid; inferred tasks counted."
    Image.new('RGB', (32, 24)).save(tmp_path / 'a.png')
    good = [{'id': 'g0', 'image': 'a.png', 'problem': 'How many squares?', 'solution': '<answer>2</answer>'},
            {'id': 'g1', 'image': 'a.png', 'problem': 'What is left of the cube?', 'solution': '<answer>a red ball</answer>'},
            {'id': 'g2', 'image': 'a.png', 'problem': 'How many balls?', 'solution': '<answer>1</answer>', 'task': 'counting'}]
    bad = [({'id': 'b0', 'image': 'a.png', 'problem': 'How many squares?', 'solution': '<answer>3'}, 'solution', 'unclosed <answer>'),
           ({'id': 'b1', 'image': 'a.png', 'problem': 'How many squares?', 'solution': '<answer></answer>'}, 'solution', 'empty answer'),
           ({'id': 'b2', 'image': 'a.png', 'problem': 'How many squares?', 'solution': '<answer>three</answer>', 'task': 'counting'},
            'solution', 'a counting answer must be one whole number'),
           ({'id': 'b3', 'image': 'a.png', 'problem': '', 'solution': '<answer>3</answer>'}, 'problem', 'empty problem')]
    root = ['--image-root', str(tmp_path)]
    for row, fld, why in bad:
        (tmp_path / 'one.json').write_text(json.dumps([good[0], row]))
        r = run('rft-data', ['from-json', 'one.json', *root, '--out', str(tmp_path / 'one')], clean_env(), tmp_path)
        one_error_line(r, 'rft-data', f"one.json: row 1 (id '{row['id']}'): field '{fld}': {why}")
        assert not (tmp_path / 'one').exists()
    (tmp_path / 'all.json').write_text(json.dumps([good[0], *(b[0] for b in bad), *good[1:]]))
    r = run('rft-data', ['from-json', 'all.json', *root, '--out', str(tmp_path / 'all'), '--skip-invalid'], clean_env(), tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads((tmp_path / 'all' / 'build_report.json').read_text())
    assert (rep['rows_written'], rep['rows_skipped']) == (3, 4), rep
    assert [(s['row'], s['id'], s['field']) for s in rep['skipped']] == [(1, 'b0', 'solution'), (2, 'b1', 'solution'),
                                                                          (3, 'b2', 'solution'), (4, 'b3', 'problem')], rep
    assert rep['inferred_tasks'] == {'counting': 1, 'custom': 1}, rep    # g2 names its task: not inferred
    assert 'tasks inferred from the solutions: 1 counting, 1 custom' in r.stdout, r.stdout


def test_reason_rft_think_in_the_solution_is_the_reasoning(tmp_path):
    "Item 7: a Reason-RFT solution <think>...</think><answer>...</answer> gives CoT-SFT its reasoning; without any, the error names --sft_mode ans."
    import datasets
    from rft_nb.rows import to_sft_rows
    from rft_nb.schema import DataError
    Image.new('RGB', (32, 24)).save(tmp_path / 'a.png')
    rows = [{'id': 'r0', 'image': 'a.png', 'problem': 'How many objects?', 'solution': '<think>two red, one blue</think><answer>3</answer>'},
            {'id': 'r1', 'image': 'a.png', 'problem': 'How many objects?', 'solution': '<think>ignored</think><answer>2</answer>',
             'reasoning': 'one red, one blue'}]
    (tmp_path / 'rr.json').write_text(json.dumps(rows))
    r = run('rft-data', ['from-json', 'rr.json', '--image-root', str(tmp_path), '--out', str(tmp_path / 'rr')], clean_env(), tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    ds = datasets.load_from_disk(str(tmp_path / 'rr'))
    assert ds['answer'] == ['3', '2'] and ds['reasoning'] == ['two red, one blue', 'one red, one blue'], ds[:2]
    targets = [m[-1]['content'][0]['text'] for m in to_sft_rows(ds, 'cot')['messages']]
    assert targets == ['<think>two red, one blue</think><answer>3</answer>', '<think>one red, one blue</think><answer>2</answer>'], targets
    try: to_sft_rows(ds.map(lambda _: {'reasoning': ''}, input_columns=['id']), 'cot'); raise AssertionError('no error')
    except DataError as e: assert '--sft_mode ans' in str(e) and "field 'reasoning'" in str(e), str(e)
