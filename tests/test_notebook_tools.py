"`make outputs` (scripts/run_notebooks.py) runs the cells nbdev-test runs and keeps their outputs; scripts/nb_budget.py catches big ones."
import importlib.util, json
from pathlib import Path

import nbformat, pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / 'scripts' / f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


run_notebooks, nb_budget = _script('run_notebooks'), _script('nb_budget')
SKIP = ['notest', 'gpu', 'slow']


@pytest.fixture
def nb_path(tmp_path):
    "A notebook with a plain cell, a figure, a `#| gpu` cell holding an old output, an `eval: false` cell and a cwd check."
    c = nbformat.v4.new_code_cell
    gpu = c('#| gpu\nraise SystemExit("the gpu cell ran")')
    gpu.outputs = [nbformat.v4.new_output('stream', text='from the GPU box\n')]
    cells = [c('x = 6 * 7\nprint("answer", x)'),
             c('import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)\nax.plot([0, 1], [1, 0])\nplt.show()'),
             gpu,
             c('#| eval: false\nraise RuntimeError("never run")'),
             c('from pathlib import Path\nPath("written_here.txt").write_text(str(x))\nx')]
    p = tmp_path / 'sub' / 'demo.ipynb'
    p.parent.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=cells), p)
    return p


def test_runs_the_cells_nbdev_test_runs_and_keeps_outputs(nb_path):
    ids = [c.id for c in nbformat.read(nb_path, as_version=4).cells]
    assert run_notebooks.cells_to_run(nb_path, SKIP) == {ids[0], ids[1], ids[4]}      # nbdev's decision
    n, _ = run_notebooks.run_notebook(nb_path, SKIP, timeout=120)
    assert n == 3
    cells = nbformat.read(nb_path, as_version=4).cells
    assert cells[0].outputs[0]['text'] == 'answer 42\n'
    assert 'image/png' in cells[1].outputs[0]['data']                               # the figure is kept
    assert cells[2].outputs[0]['text'] == 'from the GPU box\n'                       # skipped: left as it was
    assert cells[3].outputs == []
    assert cells[4].outputs[0]['data']['text/plain'] == '42'
    assert (nb_path.parent / 'written_here.txt').read_text() == '42'               # ran in the notebook's folder
    assert all(c.get('execution_count') is None for c in cells)                    # nbdev-clean ran
    assert nb_budget.problems(nb_path, 1500, 300) == []


def test_a_failing_notebook_is_left_unchanged(nb_path):
    before = nb_path.read_text()
    with pytest.raises(Exception, match='the gpu cell ran'):
        run_notebooks.run_notebook(nb_path, SKIP, force_flags=['gpu'], timeout=120)   # as nbdev-test --flags gpu
    assert nb_path.read_text() == before


def test_budget_names_what_is_too_big(tmp_path):
    big = nbformat.v4.new_code_cell('print(s)', outputs=[nbformat.v4.new_output('stream', text='x' * 400_000)])
    p = tmp_path / 'big.ipynb'
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1'), big]), p)
    bad = nb_budget.problems(p, 1500, 300)
    assert len(bad) == 1 and 'cell 1' in bad[0] and '(stream)' in bad[0] and '391 KB' in bad[0]
    bad = nb_budget.problems(p, 100, 1000)
    assert len(bad) == 1 and 'over the 100 KB a notebook may take' in bad[0]
    assert nb_budget.budget() == {'max_notebook_kb': 1500, 'max_output_kb': 300}    # pyproject's numbers
    (tmp_path / 'pyproject.toml').write_text('[tool.rft_nb.notebook_budget]\nmax_output_kb = 50\nmax_cells = 3\n')
    with pytest.raises(ValueError, match='unknown keys'): nb_budget.budget(tmp_path / 'pyproject.toml')


def test_stored_outputs_name_no_machine_paths(tmp_path):
    "The repository's absolute path and temporary folders printed by a notebook are not stored as they are."
    c = nbformat.v4.new_code_cell
    cells = [c(f'import tempfile\nprint({str(ROOT / "data" / "x")!r}, {str(ROOT)!r}, tempfile.mkdtemp())'),
             c(f'{str(ROOT / "nbs")!r}')]
    p = tmp_path / 'paths.ipynb'
    nbformat.write(nbformat.v4.new_notebook(cells=cells), p)
    run_notebooks.run_notebook(p, SKIP, timeout=120)
    cells = nbformat.read(p, as_version=4).cells
    out = cells[0].outputs[0]['text']
    assert out.startswith('data/x . <tmp>'), out
    stored = json.dumps([c.outputs for c in cells])
    assert str(ROOT) not in stored and '/tmp/tmp' not in stored
    assert cells[1].outputs[0]['data']['text/plain'] == "'nbs'"
    scrubbed = run_notebooks.scrub('/tmp/tmpab_12cd/x and /work/other', root=Path('/work/other'))
    assert scrubbed == '<tmp>/x and .', scrubbed


nb_calm = _script('nb_calm')


def test_calm_names_noise_and_figures_shown_twice(tmp_path):
    "scripts/nb_calm.py (`make nb-calm`): known-harmless library lines and a figure stored twice in one cell are named."
    out = nbformat.v4.new_output
    png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='
    twice = nbformat.v4.new_code_cell('show_samples(ds)')
    twice.outputs = [out('execute_result', data={'image/png': png, 'text/plain': '<Figure>'}, execution_count=1),
                     out('display_data', data={'image/png': png, 'text/plain': '<Figure>'})]
    noisy = nbformat.v4.new_code_cell('train()')
    noisy.outputs = [out('stream', name='stderr', text="Failed to load CPU gemm_4bit_forward from kernels-community: No module named 'kernels'\n"),
                     out('stream', name='stdout', text='[WARNING] [real_accelerator.py:213:get_accelerator] Setting accelerator to CPU. '
                                                        'If you have GPU or other accelerator, we were unable to detect it.\n'),
                     out('stream', name='stderr', text='Loading weights:   0%|          | 0/81 [00:00<?, ?it/s]'),
                     out('stream', name='stdout', text="{'loss': '0.5', 'grad_norm': '1.2', 'epoch': '1'}\n")]
    calm = nbformat.v4.new_code_cell('fig')
    calm.outputs = [out('execute_result', data={'image/png': png, 'text/plain': '<Figure>'}, execution_count=2),
                    out('stream', name='stdout', text="{'accuracy': 0.5}\nloss went down\n")]
    p = tmp_path / 'noisy.ipynb'
    nbformat.write(nbformat.v4.new_notebook(cells=[twice, noisy, calm]), p)
    bad = nb_calm.problems(p)
    assert [b.split(': ', 1)[1].split(':')[0] for b in bad] == ['cell 0 (id {}) output 1'.format(twice.id)] + \
        ['cell 1 (id {}) output {}'.format(noisy.id, j) for j in range(4)], bad
    assert 'again' in bad[0] and 'bitsandbytes' in bad[1] and 'DeepSpeed' in bad[2] and 'weight-loading' in bad[3] and 'log dict' in bad[4]
    with pytest.raises(SystemExit): nb_calm.main([str(p)])


def test_show_samples_returns_the_figure_and_leaves_none_open():
    "A figure both returned and left open is drawn twice in a notebook (once as the value, once by the inline backend)."
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from rft_nb.synthetic import make_synthetic, show_samples
    from rft_nb.embodied_data import show_embodied
    plt.close('all')
    fig = show_samples(make_synthetic('counting', 2, size=56), 2)
    assert len(fig.axes) >= 2 and plt.get_fignums() == []
    from rft_nb.embodied_data import make_embodied
    fig = show_embodied(make_embodied('pointing', 2), n=2)
    assert len(fig.axes) >= 1 and plt.get_fignums() == []
