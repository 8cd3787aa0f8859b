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
