"Tutorials run as a user runs them: a copy of the notebook executed by a real Jupyter kernel (nbclient), settings from the environment."
import json, os, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / 'nbs' / 'tutorials'

def _prefix_of(python: str) -> str:
    "`sys.prefix` of the interpreter `python` (which environment it runs in)."
    return subprocess.run([python, '-c', 'import sys; print(sys.prefix)'], capture_output=True, text=True, check=True).stdout.strip()

def kernel_manager(tmp_path):
    "A KernelManager for the `python3` kernelspec when it runs this interpreter's environment, else for an explicit spec that does."
    from jupyter_client.manager import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    km = KernelManager(kernel_name='python3')
    if _prefix_of(km.format_kernel_cmd()[0]) == sys.prefix: return km
    spec = tmp_path / 'kernels' / 'rft-nb-python'            # e.g. a user-level python3 spec of another Python shadows the venv's
    spec.mkdir(parents=True)
    (spec / 'kernel.json').write_text(json.dumps({'argv': [sys.executable, '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
                                                  'display_name': 'rft_nb (this environment)', 'language': 'python'}))
    return KernelManager(kernel_name='rft-nb-python', kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]))

def copy_for_testing(src: Path, dest: Path):
    "A copy of notebook `src` without the cells `nbdev-test` skips (the `tst_flags`: gpu, slow, notest) and a last cell reporting the kernel's environment."
    import nbformat
    from nbformat.v4 import new_code_cell
    from nbdev.config import get_config
    from nbdev.test import nb_test_cells
    flags = get_config(path=ROOT).tst_flags.split()
    keep = {c.idx_ for c in nb_test_cells(src, skip_flags=flags)}
    nb = nbformat.read(src, as_version=4)
    skipped = [c.source for i, c in enumerate(nb.cells) if c.cell_type == 'code' and i not in keep]
    nb.cells = [c for i, c in enumerate(nb.cells) if c.cell_type == 'markdown' or i in keep]
    nb.cells.append(new_code_cell("import sys, json; print('KERNEL', json.dumps({'prefix': sys.prefix, 'executable': sys.executable}))"))
    nbformat.write(nb, dest)
    return nb, skipped

def texts(cell) -> str:
    "Everything a cell printed or returned as text."
    out = []
    for o in cell.get('outputs', []):
        if o.output_type == 'stream': out.append(o.text)
        elif 'data' in o: out += [o.data.get('text/markdown', ''), o.data.get('text/plain', '')]
    return ''.join(out)

@pytest.fixture(scope='module')
def custom_json_run(tmp_path_factory, cache_dir):
    "The custom JSON tutorial executed in a temporary working copy, every path setting pointing into a temporary folder."
    import nbformat
    from nbclient import NotebookClient
    tmp = tmp_path_factory.mktemp('tutorial')
    work = tmp / 'work'; work.mkdir()
    nb, skipped = copy_for_testing(TUTORIALS / 'custom_json.ipynb', work / 'custom_json.ipynb')
    env = {'RFT_NB_PATHS_OUTPUT_DIR': str(tmp / 'outputs'), 'RFT_NB_PATHS_DATA_DIR': str(tmp / 'data'),
           'RFT_NB_PATHS_IMAGE_ROOT': str(tmp / 'data' / 'images'), 'RFT_NB_PATHS_MODELS_DIR': str(tmp / 'models'),
           'RFT_NB_PATHS_CACHE_DIR': str(cache_dir), 'TOKENIZERS_PARALLELISM': 'false'}
    kernel_env = {k: v for k, v in os.environ.items() if k not in ('RFT_NB_SETTINGS', 'WORLD_SIZE')} | env   # no settings file: cwd has none
    client = NotebookClient(nb, km=kernel_manager(tmp), timeout=600, resources={'metadata': {'path': str(work)}})
    client.execute(env=kernel_env)            # a cell that raises fails the test here, with its traceback
    nbformat.write(nb, work / 'custom_json.executed.ipynb')
    return nb, skipped, tmp

def test_custom_json_ran_in_this_environment(custom_json_run):
    nb, skipped, tmp = custom_json_run
    kernel = json.loads(texts(nb.cells[-1]).split('KERNEL ', 1)[1])
    assert kernel['prefix'] == sys.prefix, kernel                  # the kernel is this venv's Python
    assert skipped and all('#| gpu' in s for s in skipped)         # the GPU cell was left out, nothing else
    assert not (tmp / 'outputs' / 'tutorials' / 'custom_json' / 'gpu_grpo').exists()

def test_custom_json_outputs(custom_json_run):
    nb, _, tmp = custom_json_run
    code = [c for c in nb.cells if c.cell_type == 'code']
    printed = '\n'.join(texts(c) for c in code)
    # settings came from the environment, and every file went under the temporary folders
    assert '(environment $RFT_NB_PATHS_OUTPUT_DIR)' in printed and '(environment $RFT_NB_PATHS_DATA_DIR)' in printed
    # the bad row's error names file, row, id and field; --skip-invalid lists both bad rows
    assert "train.json: row 20 (id 'scene-typo'): field 'image': image file" in printed
    assert "32 rows written, 2 skipped" in printed
    report = json.loads((tmp / 'data' / 'tutorial_custom_json' / 'train' / 'build_report.json').read_text())
    assert [s['field'] for s in report['skipped']] == ['image', 'solution'] and report['rows_written'] == 32
    # stage 1: CoT-SFT on the reasoning written inside the training rows' solutions (Reason-RFT's form)
    assert "reasoning: 'I see" in printed and 'the target of the first row: <think>I see' in printed
    assert (tmp / 'outputs' / 'tutorials' / 'custom_json' / 'cot_sft' / 'config.json').is_file()
    # stage 2: GRPO from the CoT-SFT model: adapter, logged rewards, rollouts
    run = tmp / 'outputs' / 'tutorials' / 'custom_json' / 'grpo'
    assert json.loads((run / 'adapter_config.json').read_text())['base_model_name_or_path'].endswith('cot_sft')
    assert (run / 'adapter_model.safetensors').is_file()
    state = json.loads((run / 'checkpoint-8' / 'trainer_state.json').read_text())
    assert sum('rewards/counting/mean' in h for h in state['log_history']) == 8
    assert len((run / 'rollouts.jsonl').read_text().splitlines()) == 64
    # the metrics cell printed the table, and the results on disk agree with it
    metrics_cell = next(texts(c) for c in code if 'metrics_markdown(results' in c.source)
    assert '### counting' in metrics_cell and '| split | n | acc | acc_paper | format |' in metrics_cell
    assert '| test | 8 | 0.00 | 0.00 | 0.00 |' in metrics_cell      # a random tiny model: n = 8, nothing right
    for name in ('base', 'CoT-SFT', 'GRPO'):
        res = json.loads((tmp / 'outputs' / 'tutorials' / 'custom_json' / 'eval' / name / 'results.json').read_text())
        assert res['metrics']['counting']['test']['n'] == 8
        assert len((tmp / 'outputs' / 'tutorials' / 'custom_json' / 'eval' / name / 'predictions.jsonl').read_text().splitlines()) == 8
    # the comparison table and the figures (sample grid, curves) were displayed inline
    assert '| CoT-SFT (24 steps) |' in printed and '| + GRPO (8 steps) |' in printed
    pngs = [o for c in code for o in c.get('outputs', []) if 'data' in o and 'image/png' in o.data]
    assert len(pngs) == 2 and (tmp / 'outputs' / 'tutorials' / 'custom_json' / 'curves.png').stat().st_size > 5000

@pytest.fixture(scope='module')
def spatial_run(tmp_path_factory, cache_dir):
    "The spatial referring tutorial executed like the custom JSON one; (notebook, skipped cells, temp folder, seconds)."
    import time, nbformat
    from nbclient import NotebookClient
    tmp = tmp_path_factory.mktemp('spatial')
    work = tmp / 'work'; work.mkdir()
    nb, skipped = copy_for_testing(TUTORIALS / 'spatial_referring.ipynb', work / 'spatial_referring.ipynb')
    env = {'RFT_NB_PATHS_OUTPUT_DIR': str(tmp / 'outputs'), 'RFT_NB_PATHS_DATA_DIR': str(tmp / 'data'),
           'RFT_NB_PATHS_IMAGE_ROOT': str(tmp / 'data' / 'images'), 'RFT_NB_PATHS_MODELS_DIR': str(tmp / 'models'),
           'RFT_NB_PATHS_CACHE_DIR': str(cache_dir), 'TOKENIZERS_PARALLELISM': 'false'}
    kernel_env = {k: v for k, v in os.environ.items() if k not in ('RFT_NB_SETTINGS', 'WORLD_SIZE')} | env
    client = NotebookClient(nb, km=kernel_manager(tmp), timeout=1800, resources={'metadata': {'path': str(work)}})
    t0 = time.time()
    client.execute(env=kernel_env)
    return nb, skipped, tmp, time.time() - t0

def test_spatial_tutorial(spatial_run):
    nb, skipped, tmp, seconds = spatial_run
    print(f"spatial referring tutorial: {seconds:.0f} s")
    kernel = json.loads(texts(nb.cells[-1]).split('KERNEL ', 1)[1])
    assert kernel['prefix'] == sys.prefix
    assert skipped and all('#| gpu' in s for s in skipped)
    code = [c for c in nb.cells if c.cell_type == 'code']
    printed = '\n'.join(texts(c) for c in code)
    run = tmp / 'outputs' / 'tutorials' / 'spatial_referring'
    for name in ('cot_sft', 'outcome', 'outcome+process'):
        res = json.loads((run / 'eval' / name / 'results.json').read_text())
        m = res['metrics']['pointing']
        assert m['test_id']['n'] == m['test_ood']['n'] == 50 and m['test_id']['success'] is not None
    rewards = [json.loads(l)['rewards'] for l in (run / 'grpo_outcome+process' / 'rollouts.jsonl').read_text().splitlines()]
    assert rewards and all(set(r) == {'format', 'pointing', 'point_distance', 'spatial_process'} for r in rewards)
    assert all(set(json.loads(l)['rewards']) == {'format', 'pointing', 'point_distance'}
               for l in (run / 'grpo_outcome' / 'rollouts.jsonl').read_text().splitlines())
    assert '| 0 | outcome+process |' in printed and '| 0 | cot_sft |' in printed       # the comparison table was displayed
    assert 'qwen2.5-vl  resized-28-3136-12845056' in printed and "'spatial_process': 1.0" in printed
    pngs = [o for c in code for o in c.get('outputs', []) if 'data' in o and 'image/png' in o.data]
    assert len(pngs) >= 5                                                             # scenes, OOD scenes, predictions of 3 models
