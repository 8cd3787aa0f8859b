"The task registry (rft_nb.tasks): every name a task holds exists, every task the package builds is registered, and the modules that read it no longer branch on task names."
import ast, re
from pathlib import Path

import pytest

from rft_nb import tasks as T, families as F, scoring as S, rewards as R, schema as SC
from rft_nb.config import InputError
from rft_nb.reward_core import REWARDS

PKG = Path(T.__file__).parent
READERS = ('scoring', 'families', 'schema', 'spatial', 'report', 'rewards', 'builders')
BRANCH = re.compile(r"""\btask\s*(==|!=)\s*['"]|\btask\s+(not\s+)?in\s*[(\[{]\s*['"]|\[['"]task['"]\]\s*(==|!=)\s*['"]""")

@pytest.mark.parametrize('name', list(T.TASKS))
def test_every_name_a_task_holds_exists(name):
    t = T.TASKS[name]
    assert t.name == name
    assert t.parser is None or t.parser in F.PARSERS, t.parser
    assert t.scorer in S.SCORERS, t.scorer
    assert t.metrics in S.METRICS, t.metrics
    assert t.paper_check is None or t.paper_check in S.PAPER_CHECKS, t.paper_check
    assert t.correct is None or t.correct in REWARDS, t.correct
    for variant, names in (t.rewards or {}).items():
        assert variant in ('paper', 'hardened')
        missing = [n for n in names if n not in REWARDS]
        assert not missing, f"{name} {variant}: unknown rewards {missing}"
    assert t.headline and all(isinstance(k, str) for k in t.headline)

def _literal_tasks(path: Path) -> set[str]:
    "Task names a module writes as literals: `make_row(id, 'task', ...)`, `task='...'`, `dict(task='...')`."
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call): continue
        fn = getattr(node.func, 'id', getattr(node.func, 'attr', ''))
        if fn == 'make_row' and len(node.args) > 1 and isinstance(node.args[1], ast.Constant): out.add(node.args[1].value)
        out.update(k.value.value for k in node.keywords if k.arg == 'task' and isinstance(k.value, ast.Constant)
                   and isinstance(k.value.value, str))
    return out

def test_every_task_the_builders_write_is_registered():
    found = set().union(*(_literal_tasks(PKG / f'{m}.py') for m in ('builders', 'synthetic', 'embodied_data', 'probe')))
    assert {'classification', 'pointing', 'trajectory'} <= found   # the walker sees the builders' rows
    assert not found - set(T.TASKS), f"tasks built but not registered: {sorted(found - set(T.TASKS))}"

def test_literal_walker_sees_a_task(tmp_path):
    f = tmp_path / 'm.py'
    f.write_text("make_row('a', 'parity', [], 'q')\nrow = dict(task='colour')\n")
    assert _literal_tasks(f) == {'parity', 'colour'}

def test_synthetic_rows_are_registered():
    from rft_nb.synthetic import synthetic_rows
    from rft_nb.embodied_data import embodied_rows
    made = {next(iter(synthetic_rows(f, 1, 'test_id', size=64)))['task']
            for f in ('counting', 'trance', 'detection', 'grounding', 'classification', 'geometry')}
    made |= {next(iter(embodied_rows(k, 1, 'test_id', size=64)))['task'] for k in ('pointing', 'trajectory', 'affordance', 'planning')}
    assert made == set(T.TASKS) - {'custom'}

@pytest.mark.parametrize('module', READERS)
def test_readers_do_not_branch_on_task_names(module):
    src = (PKG / f'{module}.py').read_text()
    hits = [line.strip() for line in src.splitlines() if BRANCH.search(line)]
    assert not hits, f"{module}.py branches on task names: {hits}"

def test_branch_pattern_finds_branches():
    for line in ("if task == 'detection':", "elif task in ('geometry', 'custom'):", "if row['task'] == 'trance' and x:",
                 "if task not in ('detection', 'grounding')", "if task in {'a'}:"):
        assert BRANCH.search(line), line
    assert not BRANCH.search("if task_kind(task) == 'boxes':")

def test_lookups_read_the_registry():
    assert SC.TASKS is T.TASKS
    assert S.HEADLINE == {n: list(t.headline) for n, t in T.TASKS.items()}
    assert R.TASK_REWARDS['geometry'] == dict(paper=['reason_rft_accuracy', 'format_paper'], hardened=['format', 'choice', 'math'])
    assert set(SC.ANSWER_FORMS) == {'counting', 'trance'}
    from rft_nb.spatial import EMBODIED_TASKS
    assert EMBODIED_TASKS == ('pointing', 'trajectory', 'affordance', 'planning')

def test_unknown_task_names_the_known_ones():
    with pytest.raises(InputError, match='known: classification, detection'): T.get_task('segmentation')
    with pytest.raises(InputError, match='registered already'): T.register_task(T.Task('counting', 'number'))

def test_a_task_added_for_a_block_works_end_to_end_and_leaves():
    "One registry entry plus a reward: the schema checks its answers, scoring scores it, and it is gone after."
    from rft_nb.reward_core import register, REWARD_RANGES
    from rft_nb.schema import make_row, validate_row, DataError
    register('colour', lambda text, sol: float(text.strip().endswith(f"<answer>{SC.answer_text(sol)}</answer>")))
    colour = T.Task('colour', 'label', correct='colour', answer_form=('a colour name', lambda a: a in ('red', 'blue')))
    try:
        with T.registered(colour):
            row = validate_row(make_row('c0', 'colour', [b'x'], 'Which colour?', answer='red', split='test_id', image_size=[4, 4]))
            with pytest.raises(DataError, match='a colour name'): validate_row({**row, 'solution': '<answer>green</answer>'})
            recs = [S.score_completion('<think>x</think><answer>red</answer>', row),
                    S.score_completion('<think>x</think><answer>blue</answer>', row)]
            assert [r['correct'] for r in recs] == [1.0, 0.0]
            assert S.compute_metrics(recs)['colour']['test_id'] == dict(n=2, acc=50.0, format=100.0)
    finally: REWARDS.pop('colour'); REWARD_RANGES.pop('colour')
    assert 'colour' not in T.TASKS
    with pytest.raises(SC.DataError, match="unknown task 'colour'"): validate_row(row)
