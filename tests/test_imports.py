"The package's imports point one way: a test walks every import (module level and inside functions) of rft_nb."
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / 'rft_nb'

# Layers, lowest first (../shared/design.md); a module may import only modules of its own layer or below.
LAYERS = [
    {'config', 'prompts'},
    {'geometry', 'coords', 'answers', 'tasks', 'families', 'stack', 'spatial', 'tiny_tokenizers'},
    {'models', 'schema', 'recipe', 'plan_facts'},
    {'records', 'scenes', 'synthetic', 'embodied_data', 'builders', 'paper_builders', 'embodied_builders', 'data_cli', 'rows',
     'preflight', 'engines', 'plan_memory'},
    {'reward_core', 'mathverify', 'paper_rewards', 'hardened_rewards', 'rewards', 'embodied_rewards', 'hack_watch'},
    {'rollouts', 'sampling', 'train_data'},
    {'train', 'plan', 'scoring'},
    {'inference', 'report'},
    {'evaluate', 'demo', 'spatial_demo', 'difficulty', 'probe'},
]

def imports_of(path: Path) -> set[str]:
    "The rft_nb modules a file imports anywhere in it."
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ''
            if node.level == 1 and mod: out.add(mod.split('.')[0])
            elif node.level == 1: out.update(a.name for a in node.names)
            elif mod == 'rft_nb': out.update(a.name for a in node.names)
            elif mod.startswith('rft_nb.'): out.add(mod.split('.')[1])
        elif isinstance(node, ast.Import):
            out.update(a.name.split('.')[1] for a in node.names if a.name.startswith('rft_nb.'))
    return out

def graph() -> dict[str, set[str]]:
    mods = {p.stem for p in PKG.glob('*.py') if not p.stem.startswith('_')}
    return {m: (imports_of(PKG / f'{m}.py') & mods) - {m} for m in mods}

def find_cycle(g: dict[str, set[str]]):
    "One import cycle as a list of modules, or None."
    state, stack = {}, []
    def visit(m):
        state[m] = 1; stack.append(m)
        for n in sorted(g[m]):
            if state.get(n) == 1: return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n)): return c
        state[m] = 2; stack.pop()
        return None
    for m in sorted(g):
        if m not in state and (c := visit(m)): return c
    return None

def test_walker_sees_imports_inside_functions(tmp_path):
    f = tmp_path / 'm.py'
    f.write_text('from .schema import x\ndef f():\n    from rft_nb.train import y\n    import rft_nb.report\n')
    assert imports_of(f) == {'schema', 'train', 'report'}

def test_cycle_finder_finds_a_cycle():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None

def test_no_module_imports_one_that_imports_it_back():
    assert find_cycle(graph()) is None, f"import cycle: {' -> '.join(find_cycle(graph()))}"

def test_plan_does_not_import_training():
    "rft-plan reads recipes and engine choices (recipe, engines), never the training run."
    assert 'train' not in graph()['plan']

def test_imports_point_down_the_layers():
    layer = {m: i for i, ms in enumerate(LAYERS) for m in ms}
    g = graph()
    unknown = sorted(m for m in g if m not in layer)
    assert not unknown, f"modules missing from the layer table: {unknown}"
    up = [(m, n) for m, ns in g.items() for n in ns if layer[n] > layer[m]]
    assert not up, f"imports pointing up a layer: {up}"
