"""Regenerate the upstream-parity data in this folder.

This script contains no upstream code. It reads the upstream reward files from checkouts given on the
command line, keeps their top-level function definitions (and the stdlib / math-verify / numpy imports they
need) exactly as written, and calls them the way TRL's GRPO trainers do. Cases are generated from fixed seeds.

    git --git-dir=<mirror of Liuziyu77/Visual-RFT> archive <commit> src/virft/src/open_r1 | tar -x -C /tmp/vrft
    git --git-dir=<mirror of tanhuajie/Reason-RFT> archive <commit> train/stage_rl/reward.py eval | tar -x -C /tmp/rrft
    python tests/data/parity/make_parity_data.py --visual-rft /tmp/vrft --visual-rft-commit <sha> \
        --reason-rft /tmp/rrft --reason-rft-commit <sha> --out tests/data/parity

Each function is evaluated in separate subprocesses under several PYTHONHASHSEED values (`--hash-seeds`; the
Reason-RFT TRANCE functions iterate a Python set, so their greedy matching order depends on string hashing).
A case whose values differ between seeds gets `order_dependent: true` and `values` (all distinct values seen).
Run it with math-verify 0.9.0 (the version pinned by the project).
"""
from __future__ import annotations
import argparse, ast, json, math, os, random, subprocess, sys, tempfile

# ----------------------------------------------------------------------------------------------------------------------
# Loading upstream functions without their trainer imports

ALLOWED_IMPORTS = {'os', 're', 'json', 'math', 'copy', 'datetime', 'collections', 'math_verify', 'numpy', 'typing', 'dataclasses'}

def load_upstream(path: str) -> dict:
    "Namespace holding the file's top-level functions, constant assignments and allowed imports, unchanged."
    src = open(path, encoding='utf-8').read()
    tree = ast.parse(src, filename=path)
    keep = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            if all(a.name.split('.')[0] in ALLOWED_IMPORTS for a in node.names): keep.append(node)
        elif isinstance(node, ast.ImportFrom):
            if node.module and node.module.split('.')[0] in ALLOWED_IMPORTS: keep.append(node)
        elif isinstance(node, ast.FunctionDef):
            keep.append(node)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            keep.append(node)
    ns = {'__name__': 'upstream_' + os.path.basename(path).replace('.', '_')}
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, 'exec'), ns)
    return ns

def function_source(path: str, name: str) -> str:
    src = open(path, encoding='utf-8').read()
    for node in ast.parse(src).body:
        if isinstance(node, ast.FunctionDef) and node.name == name: return ast.get_source_segment(src, node)
    raise KeyError(name)

# ----------------------------------------------------------------------------------------------------------------------
# What is computed, and how it is called

VRFT, RRFT = 'Liuziyu77/Visual-RFT', 'tanhuajie/Reason-RFT'
GRPO, CLS, LISA = 'src/virft/src/open_r1/grpo.py', 'src/virft/src/open_r1/grpo_classification.py', 'src/virft/src/open_r1/grpo_lisa.py'
RWD, EVAL = 'train/stage_rl/reward.py', 'eval/cal_score_benchmarks_for_open_source.py'

TRL_CALL = ('fn(prompts=[[{"role": "user", "content": "..."}]], completions=[[{"role": "assistant", "content": case["completion"]}]], '
            'solution=[case["solution"]]) -> list of one float; one case per call')
RRFT_CALL = TRL_CALL.replace('solution=[case["solution"]])', 'solution=[case["solution"]], current_step=0)') + \
            ' (Reason-RFT MultiModalGRPOTrainer also passes current_step)'
EVAL_CALL = 'fn(case["completion"], case["solution"]) -> float (evaluation script; solution is the bare answer text)'

# out name, repo, file, function, call kind, case generator, our registered reward (for the report only)
FUNCS = [
    ('visual_rft_detection_accuracy_reward_iou', VRFT, GRPO, 'accuracy_reward_iou', 'trl', 'detection'),
    ('visual_rft_detection_accuracy_reward_confidence', VRFT, GRPO, 'accuracy_reward_confidence', 'trl', 'detection'),
    ('visual_rft_format_reward', VRFT, GRPO, 'format_reward', 'trl', 'format'),
    ('visual_rft_classification_accuracy_reward', VRFT, CLS, 'accuracy_reward', 'trl', 'classification'),
    ('visual_rft_lisa_accuracy_reward', VRFT, LISA, 'accuracy_reward', 'trl', 'lisa'),
    ('reason_rft_accuracy_reward', RRFT, RWD, 'accuracy_reward', 'rrft', 'answer'),
    ('reason_rft_math_accuracy_reward', RRFT, RWD, 'math_accuracy_reward', 'rrft', 'tolerance'),
    ('reason_rft_func_accuracy_reward', RRFT, RWD, 'func_accuracy_reward', 'rrft', 'trance'),
    ('reason_rft_only_full_func_accuracy_reward', RRFT, RWD, 'only_full_func_accuracy_reward', 'rrft', 'trance'),
    ('reason_rft_format_reward', RRFT, RWD, 'format_reward', 'rrft', 'format'),
    ('reason_rft_eval_get_score_trance', RRFT, EVAL, 'get_score_trance', 'eval', 'trance_eval'),
    ('reason_rft_eval_get_score_clevr', RRFT, EVAL, 'get_score_clevr', 'eval', 'answer_eval'),
]
SET_ORDER_FUNCS = {'func_accuracy_reward', 'only_full_func_accuracy_reward', 'get_score_trance'}

def call_one(fn, kind: str, case: dict):
    if kind == 'eval': return fn(case['completion'], case['solution'])
    kw = dict(prompts=[[{'role': 'user', 'content': '...'}]], completions=[[{'role': 'assistant', 'content': case['completion']}]],
              solution=[case['solution']])
    if kind == 'rrft': kw['current_step'] = 0
    out = fn(**kw)
    assert len(out) == 1
    return out[0]

def encode(v):
    "JSON value for a reward: a float, or the strings 'nan' / 'inf' / '-inf'; {'raises': type} when the call raised."
    if isinstance(v, dict): return v
    v = float(v)
    if math.isnan(v): return 'nan'
    if math.isinf(v): return 'inf' if v > 0 else '-inf'
    return v

def worker(spec_path: str):
    "Evaluate every case of the spec in this process (run under some PYTHONHASHSEED); print a JSON list of values."
    spec = json.load(open(spec_path))
    os.environ.pop('DEBUG_MODE', None)
    fn = load_upstream(spec['path'])[spec['function']]
    vals = []
    for case in spec['cases']:
        try: vals.append(encode(call_one(fn, spec['kind'], case)))
        except Exception as e: vals.append({'raises': type(e).__name__})
    print(json.dumps(vals))

# ----------------------------------------------------------------------------------------------------------------------
# Case generators (all seeded; nothing depends on hash order)

THINK = ['<think>Looking at the image.</think>', '<think>\nThe object is on the left.\n</think>\n', '<think>reasoning 12 and 7</think> ']

def wrap(ans: str, rng, think=True) -> str:
    return (rng.choice(THINK) if think else '') + '<answer>' + ans + '</answer>'

# ---- LISA grounding ------------------------------------------------------------------------------------------------
def rand_box(rng, lo=0, hi=1000):
    x1, x2 = sorted(rng.sample(range(lo, hi + 1), 2)); y1, y2 = sorted(rng.sample(range(lo, hi + 1), 2))
    return [x1, y1, x2, y2]

def jitter(b, rng, amt):
    return [max(0, min(1000, v + rng.randint(-amt, amt))) for v in b]

def pair_fmt(b, style=0):
    x1, y1, x2, y2 = b
    return [f'({x1},{y1}),({x2},{y2})', f'({x1}, {y1}), ({x2}, {y2})', f'( {x1} , {y1} ) , ( {x2} , {y2} )', f'({x1},{y1}), ({x2},{y2})'][style]

def lisa_cases(seed=1):
    rng = random.Random(seed)
    C = []
    def add(tag, completion, solution): C.append({'tag': tag, 'completion': completion, 'solution': solution})
    for i in range(120):   # ordinary: jittered / random predictions
        g = rand_box(rng); sol = '<answer>' + pair_fmt(g, 0) + '</answer>'
        p = jitter(g, rng, rng.choice([3, 20, 80, 200])) if i % 3 else rand_box(rng)
        add('ordinary', wrap(pair_fmt(p, rng.randrange(4)), rng), sol)
    for i in range(40):    # reversed corners in the prediction (x, y or both)
        g = rand_box(rng); p = jitter(g, rng, 30); mode = i % 3
        if mode in (0, 2): p = [p[2], p[1], p[0], p[3]]
        if mode in (1, 2): p = [p[0], p[3], p[2], p[1]]
        add(['reversed_x', 'reversed_y', 'reversed_xy'][mode], wrap(pair_fmt(p, rng.randrange(4)), rng), '<answer>' + pair_fmt(g) + '</answer>')
    for i in range(15):    # reversed corners in the ground truth
        g = rand_box(rng); p = jitter(g, rng, 30); gr = [g[2], g[3], g[0], g[1]] if i % 2 else [g[2], g[1], g[0], g[3]]
        add('gt_reversed', wrap(pair_fmt(p), rng), '<answer>' + pair_fmt(gr) + '</answer>')
    for i in range(40):    # two (or three) boxes in the completion
        g = rand_box(rng); p = jitter(g, rng, 20); q = rand_box(rng) if i % 2 else jitter(g, rng, 40)
        boxes = [p, q] if i % 4 < 2 else [q, p]
        if i % 10 == 9: boxes.append(rand_box(rng))
        add('two_boxes_pred', wrap(', '.join(pair_fmt(b) for b in boxes), rng), '<answer>' + pair_fmt(g) + '</answer>')
    for i in range(10):    # two boxes in the ground truth
        g, h = rand_box(rng), rand_box(rng)
        add('two_boxes_gt', wrap(pair_fmt(jitter(g, rng, 10)), rng), '<answer>' + pair_fmt(g) + ',' + pair_fmt(h) + '</answer>')
    for i in range(20):    # identical answer strings (with and without think, spacing variants)
        g = rand_box(rng); st = rng.randrange(4); sol = '<answer>' + pair_fmt(g, st) + '</answer>'
        comp = [sol, wrap(pair_fmt(g, st), rng), '<answer> ' + pair_fmt(g, st) + ' </answer>', wrap(pair_fmt(g, (st + 1) % 4), rng)][i % 4]
        add('identical_answer', comp, sol)
    for i in range(12):    # identical non-box answers
        a = rng.choice(['none', 'the cup', '', 'left side', '12']); add('identical_nobox', wrap(a, rng), '<answer>' + a + '</answer>')
    for t in ['<answer>no box here</answer>', '<think>x</think><answer></answer>', 'I cannot find it.', '<answer>(10,20)</answer>',
              '<answer>(10,20),(30)</answer>', '<answer>[10, 20, 30, 40]</answer>', '<answer>(10.5,20),(300,400)</answer>',
              '<answer>(-10,20),(300,400)</answer>', '<answer>(100,200)-(300,400)</answer>', '<answer>((100,200),(300,400))</answer>']:
        add('no_or_bad_box', t, '<answer>(100,200),(300,400)</answer>')
    for i in range(15):    # degenerate boxes (zero width/height), points, out-of-range coordinates
        g = rand_box(rng); x, y = rng.randrange(1000), rng.randrange(1000)
        p = [[x, y, x, y], [x, g[1], x, g[3]], [g[0], y, g[2], y], [g[0], g[1], g[2] + 900, g[3] + 900], [g[0] * 3, g[1] * 3, g[2] * 3, g[3] * 3]][i % 5]
        add('degenerate', wrap(pair_fmt(p), rng), '<answer>' + pair_fmt(g) + '</answer>')
    for i in range(8):     # degenerate / identical ground-truth boxes
        x, y = rng.randrange(1000), rng.randrange(1000); g = [x, y, x, y] if i % 2 else [x, y, x + 10, y]
        add('degenerate_gt', wrap(pair_fmt(g if i < 4 else [x, y, x + 5, y + 5]), rng), '<answer>' + pair_fmt(g) + '</answer>')
    for i in range(20):    # where the answer is read from: no tag, box in think only, multi-line answer, unclosed tag, solution without tag
        g = rand_box(rng); p = jitter(g, rng, 20); sol = '<answer>' + pair_fmt(g) + '</answer>'
        k = i % 5
        if k == 0: add('no_answer_tag', 'The box is ' + pair_fmt(p) + '.', sol)
        elif k == 1: add('box_in_think', '<think>first guess ' + pair_fmt(rand_box(rng)) + '</think><answer>' + pair_fmt(p) + '</answer>', sol)
        elif k == 2: add('multiline_answer', '<think>x</think><answer>\n' + pair_fmt(p) + '\n</answer>', sol)
        elif k == 3: add('unclosed_answer', '<think>x</think><answer>' + pair_fmt(p), sol)
        else: add('solution_untagged', wrap(pair_fmt(p), rng), pair_fmt(g))
    for i in range(8):     # multi-line answer after a think that holds another box (the completion search is DOTALL)
        g = rand_box(rng); p = g if i % 2 else jitter(g, rng, 15)
        add('multiline_answer_box_in_think', '<think>not ' + pair_fmt(rand_box(rng)) + '</think><answer>\n' + pair_fmt(p) + '\n</answer>',
            '<answer>' + pair_fmt(g) + '</answer>')
    for i in range(6):     # multi-line solution (the solution search has no DOTALL)
        g = rand_box(rng); add('multiline_solution', wrap(pair_fmt(jitter(g, rng, 10)), rng), '<answer>\n' + pair_fmt(g) + '\n</answer>')
    for i in range(25):    # math-verify shortcut candidates: numbers in think / plain numeric text
        g = rand_box(rng); sol = '<answer>' + pair_fmt(g) + '</answer>'
        k = i % 5
        if k == 0: c = f'The answer is {g[3]}'
        elif k == 1: c = f'<think>The box ends at {g[3]}.</think><answer>{pair_fmt(jitter(g, rng, 10))}</answer>'
        elif k == 2: c = f'<answer>{g[0]}</answer>'
        elif k == 3: c = f'\\boxed{{{g[1]}}}'; sol = f'<answer>{g[1]}</answer>'
        else: c = f'<think>{g[0]}</think><answer>{pair_fmt(rand_box(rng))}</answer>'; sol = f'{g[0]}'
        add('mathverify_probe', c, sol)
    return C

# ---- Detection -----------------------------------------------------------------------------------------------------
def det_list(boxes, confs, quote="'", sep=', '):
    q = quote
    items = [f"{{{q}Position{q}: [{b[0]}, {b[1]}, {b[2]}, {b[3]}], {q}Confidence{q}: {c}}}" for b, c in zip(boxes, confs)]
    return '[' + sep.join(items) + ']'

def small_box(rng):
    x, y = rng.randrange(0, 900), rng.randrange(0, 900); w, h = rng.randrange(20, 200), rng.randrange(20, 200)
    return [x, y, min(1000, x + w), min(1000, y + h)]

def conf(rng): return rng.choice([1, 1.0, 0.9, 0.85, 0.5, 0.3, 0.05, round(rng.random(), 2)])

def detection_cases(seed=2):
    rng = random.Random(seed)
    C = []
    def add(tag, completion, solution): C.append({'tag': tag, 'completion': completion, 'solution': solution})
    def gt_sol(n): g = [small_box(rng) for _ in range(n)]; return g, '<answer>' + det_list(g, [1] * n) + '</answer>'
    for i in range(150):   # random: subsets, jitter, extras, shuffles
        n = rng.randint(1, 5); g, sol = gt_sol(n)
        preds = []
        for b in g:
            r = rng.random()
            if r < 0.15: continue                          # missed
            preds.append(jitter(b, rng, rng.choice([0, 2, 8, 25, 60])))
        for _ in range(rng.choice([0, 0, 1, 2])): preds.append(small_box(rng))   # false positives
        rng.shuffle(preds)
        confs = [conf(rng) for _ in preds]
        if not preds: add('random_empty_pred', wrap('[]', rng), sol); continue
        add('random', wrap(det_list(preds, confs, rng.choice(["'", "'", '"'])), rng), sol)
    for i in range(20):    # exact copies of the gt (confidence 1 and other)
        n = rng.randint(1, 4); g, sol = gt_sol(n)
        add('exact', wrap(det_list(g, [1] * n if i % 2 else [conf(rng) for _ in g]), rng), sol)
    for i in range(25):    # duplicates of the same predicted box
        n = rng.randint(1, 3); g, sol = gt_sol(n); p = [jitter(b, rng, 5) for b in g]
        d = p + [p[0]] * rng.randint(1, 3); cs = [conf(rng) for _ in d]
        add('duplicates', wrap(det_list(d, cs), rng), sol)
    for i in range(20):    # more predictions than gt
        g, sol = gt_sol(1); p = [jitter(g[0], rng, 5)] + [small_box(rng) for _ in range(rng.randint(1, 6))]
        add('more_preds_than_gt', wrap(det_list(p, [conf(rng) for _ in p]), rng), sol)
    for i in range(25):    # truncated lists: cut inside the list, with / without the closing tag
        n = rng.randint(2, 5); g, sol = gt_sol(n); p = [jitter(b, rng, 5) for b in g]
        s = det_list(p, [conf(rng) for _ in p]); cut = rng.randrange(len(s) // 3, len(s) - 1)
        t = rng.choice(THINK) + '<answer>' + s[:cut] + ('</answer>' if i % 2 else '')
        add('truncated', t, sol)
    for i in range(15):    # NaN / inf / odd confidences
        g, sol = gt_sol(rng.randint(1, 3)); p = [jitter(b, rng, 5) for b in g]
        cs = [rng.choice(['NaN', 'Infinity', '-Infinity', '1.5', '-0.2', '"0.9"', 'null', '0']) for _ in p]
        add('odd_confidence', wrap(det_list(p, cs), rng), sol)
    for i in range(12):    # No Objects / empty list, against empty and non-empty gt
        empty_sol = ['<answer>[]</answer>', '<answer>No Objects</answer>', '[]'][i % 3]
        comp = [wrap('No Objects', rng), wrap('No Objects.', rng), wrap('[]', rng), wrap('no objects', rng)][i % 4]
        add('no_objects', comp, empty_sol)
        g, sol = gt_sol(2); add('no_objects_vs_gt', comp, sol)
    for i in range(8):     # predictions against an empty gt
        p = [small_box(rng) for _ in range(rng.randint(1, 3))]
        add('preds_vs_empty_gt', wrap(det_list(p, [conf(rng) for _ in p]), rng), ['<answer>[]</answer>', '<answer>No Objects</answer>'][i % 2])
    for i in range(30):    # formatting: double quotes, [[ ]], newlines, no tag, extra text, list of lists, reversed corners
        n = rng.randint(1, 3); g, sol = gt_sol(n); p = [jitter(b, rng, 5) for b in g]; cs = [conf(rng) for _ in p]; k = i % 10
        if k == 0: a = det_list(p, cs, '"')
        elif k == 1: a = '[' + det_list(p, cs) + ']'
        elif k == 2: a = det_list(p, cs, "'", ',\n')
        elif k == 3: a = None; add('no_answer_tag', det_list(p, cs), sol)
        elif k == 4: a = det_list(p, cs) + ' These are the boxes.'
        elif k == 5: a = '[' + ', '.join(str(b) for b in p) + ']'
        elif k == 6: a = det_list([[b[2], b[3], b[0], b[1]] for b in p], cs)
        elif k == 7: a = det_list(p, cs).replace("'Confidence'", "'confidence'")
        elif k == 8: a = '[' + ', '.join(f"{{'Position': [{b[0]}, {b[1]}, {b[2]}]," f" 'Confidence': {c}}}" for b, c in zip(p, cs)) + ']'
        else: a = '\n' + det_list(p, cs) + '\n'
        if a is not None: add(['double_quotes', 'double_brackets', 'newlines', '', 'trailing_text', 'list_of_lists', 'reversed_corners',
                               'lowercase_key', 'three_coords', 'multiline_answer'][k], wrap(a, rng), sol)
    for i in range(10):    # float coordinates, normalized coordinates, string coordinates
        g, sol = gt_sol(2); p = [jitter(b, rng, 5) for b in g]
        a = [det_list([[v + 0.5 for v in b] for b in p], [1, 1]), det_list([[round(v / 1000, 3) for v in b] for b in p], [1, 0.8]),
             det_list(p, [1, 1]).replace('[', '["', 1)][i % 3]
        add(['float_coords', 'normalized_coords', 'broken_json'][i % 3], wrap(a, rng), sol)
    for i in range(20):    # math-verify shortcut probes: completions whose numbers coincide with the solution's
        g, sol = gt_sol(rng.randint(1, 2)); b = g[0]
        k = i % 4
        if k == 0: c = wrap(det_list([[b[0] + 50, b[1], b[2] + 50, b[3]]], [0.9]), rng)   # same y1, shifted box
        elif k == 1: c = f'The answer is {b[1]}'
        elif k == 2: c = sol
        else: c = wrap(det_list([small_box(rng)], [0.7]), rng)
        add('mathverify_probe', c, sol)
    return C

# ---- Classification ------------------------------------------------------------------------------------------------
CLASSES = ['pink primrose', 'hard-leaved pocket orchid', 'sweet pea', 'english marigold', 'tiger lily', 'moon orchid',
           'Abyssinian', 'american_bulldog', 'great_pyrenees', 'Persian', 'Siamese', 'yorkshire_terrier', 'pug',
           'Boeing 737-800', 'Boeing 747-400', 'A320', 'A321', 'Cessna 172', 'DHC-8-300', 'F-16A/B', 'MD-80',
           '2012 Audi S4 Sedan', '2012 BMW M3 Coupe', '2007 Chevrolet Malibu Sedan', 'AM General Hummer SUV 2000']

def cls_cases(seed=3):
    rng = random.Random(seed)
    C = []
    def add(tag, completion, solution): C.append({'tag': tag, 'completion': completion, 'solution': solution})
    for i in range(300):
        gt = rng.choice(CLASSES); other = rng.choice([c for c in CLASSES if c != gt]); sol = '<answer>' + gt + '</answer>'
        k = i % 15
        if k == 0: add('exact', wrap(gt, rng), sol)
        elif k == 1: add('case_change', wrap(gt.upper() if i % 2 else gt.lower(), rng), sol)
        elif k == 2: add('underscores_spaces', wrap(gt.replace(' ', '_') if ' ' in gt else gt.replace('_', ' '), rng), sol)
        elif k == 3: add('other_class', wrap(other, rng), sol)
        elif k == 4: add('empty_answer', wrap(rng.choice(['', ' ', '\t']), rng), sol)
        elif k == 5: add('multi_class', wrap(', '.join(rng.sample([gt, other, rng.choice(CLASSES)], 3)), rng), sol)
        elif k == 6: add('substring_of_gt', wrap(gt[: max(1, len(gt) // 2)], rng), sol)
        elif k == 7: add('superstring', wrap('It is a ' + gt + ' for sure', rng), sol)
        elif k == 8: add('multiline_answer', '<think>It is ' + rng.choice([gt, other]) + '.</think><answer>\n' + rng.choice([gt, other]) + '\n</answer>', sol)
        elif k == 9: add('no_answer_tag', rng.choice([gt, other, 'This is a ' + other + '.']), sol)
        elif k == 10: add('solution_untagged', wrap(rng.choice([gt, other]), rng), gt)
        elif k == 11: add('multiline_solution', wrap(rng.choice([gt, other]), rng), '<answer>\n' + gt + '\n</answer>')
        elif k == 12: add('hyphen_punct', wrap(gt.replace('-', ' ') + '.', rng), sol)
        elif k == 13: add('two_answer_tags', wrap(other, rng) + '<answer>' + gt + '</answer>', sol)
        else: add('numeric_probe', wrap(rng.choice(['737', '800', '2012', '172', 'A' + str(rng.randint(300, 330))]), rng), sol)
    return C

# ---- Format --------------------------------------------------------------------------------------------------------
def format_cases(seed=4):
    rng = random.Random(seed)
    pieces = ['<think>', '</think>', '<answer>', '</answer>', 'x', ' ', '\n', '42', '<think>a</think>', '<answer>b</answer>', 'Think', '<ANSWER>']
    C = []
    fixed = ['<think>a</think><answer>b</answer>', '<think>a</think>\n\n<answer>b</answer>', ' <think>a</think><answer>b</answer>',
             '<think>a</think><answer>b</answer> ', '<think>a</think><answer>b</answer>\n', '<think>\nmulti\nline\n</think>\n<answer>\n1\n</answer>',
             '<think></think><answer></answer>', '<answer>b</answer>', '<think>a</think>', '<think>a</think>x<answer>b</answer>',
             '<think>a</think><answer>b</answer><answer>c</answer>', '<think>a</think><think>b</think><answer>c</answer>',
             '<think>a<answer>x</answer></think><answer>b</answer>', '<THINK>a</THINK><ANSWER>b</ANSWER>', '', 'plain text',
             '<think>a</think><answer>b', '<think>a</think> \t <answer>b</answer>']
    for f in fixed: C.append({'tag': 'fixed', 'completion': f, 'solution': ''})
    for i in range(250):
        if i % 2: s = '<think>' + ''.join(rng.choice(pieces[4:8]) for _ in range(rng.randint(0, 4))) + '</think>' + rng.choice(['', ' ', '\n', 'x']) + \
                      '<answer>' + ''.join(rng.choice(pieces[4:8]) for _ in range(rng.randint(0, 3))) + '</answer>' + rng.choice(['', '', ' ', '\n', 'x'])
        else: s = ''.join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        if i % 7 == 0: s = rng.choice(['', ' ', '\n']) + s
        C.append({'tag': 'random', 'completion': s, 'solution': ''})
    return C

# ---- Reason-RFT exact answers (counting / geometry) ------------------------------------------------------------------
def answer_cases(seed=5, eval_style=False):
    rng = random.Random(seed)
    C = []
    def add(tag, completion, solution): C.append({'tag': tag, 'completion': completion, 'solution': solution})
    for i in range(330):
        kind = rng.choice(['int', 'int', 'letter', 'expr'])
        if kind == 'int': a = str(rng.randint(0, 12)); wrong = str(int(a) + rng.choice([-1, 1, 2]))
        elif kind == 'letter': a = rng.choice('ABCD'); wrong = rng.choice([c for c in 'ABCD' if c != a])
        else: a = rng.choice(['\\frac{1}{2}', '2\\sqrt{3}', '30', '4.5', '\\frac{3}{4}', '12\\pi']); wrong = rng.choice(['1', '2', '0.5', '\\sqrt{3}'])
        sol = a if eval_style else rng.choice(['<answer>' + a + '</answer>', '<answer> ' + a + ' </answer>', a])
        k = i % 16
        if k == 0: c = wrap(a, rng)
        elif k == 1: c = wrap(' ' + a + ' ', rng)
        elif k == 2: c = wrap(wrong, rng)
        elif k == 3: c = 'The answer is ' + a + '.'
        elif k == 4: c = '\\boxed{' + a + '}'
        elif k == 5: c = a
        elif k == 6: c = '<think>so ' + a + '</think> final: ' + wrong
        elif k == 7: c = wrap(a + '.0' if kind == 'int' else '(' + a + ')', rng)
        elif k == 8: c = '<think>x</think><answer>\n' + a + '\n</answer>'
        elif k == 9: c = wrap(wrong, rng) + '<answer>' + a + '</answer>'
        elif k == 10: c = '<think>x</think><answer>' + a
        elif k == 11: c = wrap('$' + a + '$', rng)
        elif k == 12: c = wrap('The answer is ' + a, rng)
        elif k == 13: c = '<think>The count is ' + wrong + '</think> The answer is ' + a
        elif k == 14: c = wrap('', rng)
        else: c = '$' + a + '$'
        add(['exact', 'spaces', 'wrong', 'no_tag_sentence', 'no_tag_boxed', 'no_tag_bare', 'no_tag_think', 'variant_form', 'multiline_answer',
             'two_answer_tags', 'unclosed_tag', 'latex_dollars', 'answer_sentence', 'no_tag_last', 'empty_answer', 'no_tag_dollars'][k], c, sol)
    return C

# ---- Reason-RFT tolerance ------------------------------------------------------------------------------------------
def tolerance_cases(seed=6):
    rng = random.Random(seed)
    C = []
    def add(tag, completion, solution): C.append({'tag': tag, 'completion': completion, 'solution': solution})
    for i in range(300):
        g = rng.choice([rng.randint(1, 20), rng.randint(20, 500), round(rng.uniform(0.1, 50), 2), -rng.randint(1, 30)])
        e = rng.choice([0, rng.uniform(-0.3, 0.3), rng.uniform(0.04, 0.06), rng.uniform(0.18, 0.22), 0.05, 0.2, -0.05, -0.2])
        p = g * (1 + e); ps = rng.choice([f'{p:.4g}', f'{p:.2f}', str(round(p))])
        add('band', wrap(ps, rng), '<answer>' + str(g) + '</answer>')
    for c, s, t in [('<answer>0</answer>', '<answer>0</answer>', 'gt_zero_exact'), ('<answer>0.0</answer>', '<answer>0</answer>', 'gt_zero_float'),
                    ('<answer>1</answer>', '<answer>0</answer>', 'gt_zero_wrong'), ('<answer>nan</answer>', '<answer>3</answer>', 'nan'),
                    ('<answer>inf</answer>', '<answer>3</answer>', 'inf'), ('<answer>1e1</answer>', '<answer>10</answer>', 'sci'),
                    ('<answer>A</answer>', '<answer>A</answer>', 'letter_exact'), ('<answer>B</answer>', '<answer>A</answer>', 'letter_wrong'),
                    ('The answer is 10', '<answer>10</answer>', 'no_tag'), ('The answer is 10.4', '<answer>10</answer>', 'no_tag_close'),
                    ('<answer>10 apples</answer>', '<answer>10</answer>', 'with_unit'), ('<answer>1,000</answer>', '<answer>1000</answer>', 'comma'),
                    ('<answer>\\frac{1}{2}</answer>', '<answer>0.5</answer>', 'latex'), ('<answer>0.5</answer>', '\\frac{1}{2}', 'gt_latex'),
                    ('<answer> 7 </answer>', ' 7 ', 'spaces'), ('<answer>7</answer>', '7', 'bare_solution'), ('<answer>-0</answer>', '<answer>0</answer>', 'neg_zero'),
                    ('<answer>0</answer>', '<answer>0.0</answer>', 'gt_zero_float2'), ('7', '<answer>7</answer>', 'no_tag_bare'), ('<answer></answer>', '<answer>7</answer>', 'empty')]:
        add(t, c, s)
    return C

# ---- TRANCE --------------------------------------------------------------------------------------------------------
TR_VALUES = {'change_size': ['small', 'medium', 'large'], 'change_color': ['yellow', 'gray', 'cyan', 'blue', 'red'],
             'change_material': ['glass', 'metal', 'rubber'], 'change_shape': ['cube', 'sphere', 'cylinder'],
             'change_position': ['front', 'behind', 'left', 'front_left']}
TR_FUNCS = list(TR_VALUES)

def tr_step(rng, nobj=4, funcs=None):
    f = rng.choice(funcs or TR_FUNCS); return (f, str(rng.randrange(nobj)), rng.choice(TR_VALUES[f]))

def tr_fmt(steps, rng, style=None):
    style = rng.randrange(4) if style is None else style
    if style == 0: return ', '.join(f'{f}({o}, {v})' for f, o, v in steps)
    if style == 1: return ', '.join(f"{f}({o}, '{v}')" for f, o, v in steps)
    if style == 2: return '\n'.join(f'{f}({o},{v})' for f, o, v in steps)
    return ' -> '.join(f'{f}({o}, {v})' for f, o, v in steps)

def tr_mutate(s, rng, nobj):
    f, o, v = s; k = rng.randrange(4)
    if k == 0: return (f, o, rng.choice([x for x in TR_VALUES[f] if x != v]))              # same (func, obj)
    if k == 1: return (f, str((int(o) + rng.randint(1, nobj - 1)) % nobj), v)            # same (func, value)
    if k == 2: return (f, str((int(o) + 1) % nobj), rng.choice(TR_VALUES[f]))            # same func (maybe value)
    g = rng.choice([x for x in TR_FUNCS if x != f]); return (g, o, rng.choice(TR_VALUES[g]))

def trance_cases(seed=7, eval_style=False):
    rng = random.Random(seed)
    C = []
    def add(tag, completion, solution): C.append({'tag': tag, 'completion': completion, 'solution': solution})
    for i in range(330):
        nobj = rng.choice([2, 3, 4, 6]); funcs = rng.sample(TR_FUNCS, rng.choice([1, 2, 2, 3, 5]))
        gt = [tr_step(rng, nobj, funcs) for _ in range(rng.randint(1, 4))]
        if i % 11 == 0 and len(gt) > 1: gt.append(gt[0])                                # duplicate in the solution
        sol_txt = tr_fmt(gt, rng, rng.choice([0, 0, 1]))
        sol = sol_txt if eval_style else rng.choice(['<answer>' + sol_txt + '</answer>', sol_txt])
        k = i % 11
        pred = list(gt)
        if k in (1, 2, 3, 4): pred = [tr_mutate(s, rng, nobj) if rng.random() < 0.6 else s for s in pred]
        if k in (2, 5): pred = pred + [tr_step(rng, nobj, funcs) for _ in range(rng.randint(1, 2))]
        if k in (3, 6): pred = pred[: rng.randint(0, len(pred))] or pred[:1]
        if k == 7: pred = pred + [pred[rng.randrange(len(pred))] for _ in range(rng.randint(1, 3))]   # duplicates in the prediction
        if k == 8: pred = [tr_step(rng, nobj, funcs) for _ in range(rng.randint(1, 4))]
        rng.shuffle(pred)
        body = tr_fmt(pred, rng)
        where = rng.random()
        if k == 9: add('no_answer_tag', 'The steps are ' + body, sol)
        elif k == 10: add('no_answer_tag_think', '<think>Maybe ' + tr_fmt([tr_step(rng, nobj, funcs)], rng) + '.</think> ' + body, sol)
        elif where < 0.1: add('multiline_answer', '<think>x</think><answer>\n' + tr_fmt(pred, rng, 2) + '\n</answer>', sol)
        elif where < 0.15: add('unclosed_answer', '<think>x</think><answer>' + body, sol)
        elif where < 0.2: add('think_has_steps', '<think>' + tr_fmt([tr_step(rng, nobj, funcs) for _ in range(2)], rng) + '</think><answer>' + body + '</answer>', sol)
        else: add(['exact', 'mutated', 'mutated_extra', 'mutated_truncated', 'mutated', 'extra', 'truncated', 'pred_duplicates', 'random'][k], wrap(body, rng), sol)
    for c, s, t in [('<answer></answer>', '<answer>change_size(0, large)</answer>', 'empty_pred'),
                    ('<answer>change_size(0, large)</answer>', '<answer></answer>', 'empty_solution'),
                    ('<answer>I do not know</answer>', 'change_size(0, large)', 'no_triples'),
                    ('<answer>change_size(0, large), change_size(0, large)</answer>', '<answer>change_size(0, large)</answer>', 'dup_only'),
                    ('<answer>change_size(0,large)</answer>', "<answer>change_size(0, 'large')</answer>", 'quote_mismatch'),
                    ("<answer>change_size(0, \"large\")</answer>", '<answer>change_size(0, large)</answer>', 'double_quotes'),
                    ('<answer>change_size( 0, large)</answer>', '<answer>change_size(0, large)</answer>', 'space_before_obj'),
                    ('<answer>change_size(0 , large)</answer>', '<answer>change_size(0, large)</answer>', 'space_before_comma'),
                    ('<answer>change_position(1, front_left)</answer>', '<answer>change_position(1, front_left)</answer>', 'underscore_value'),
                    ('<answer>change_position(1, front-left)</answer>', '<answer>change_position(1, front_left)</answer>', 'hyphen_value'),
                    ('<answer>foo(0, bar)</answer>', '<answer>change_size(0, large)</answer>', 'unknown_func'),
                    ('<answer>change_size(0, large)</answer><answer>change_color(1, red)</answer>', '<answer>change_size(0, large), change_color(1, red)</answer>', 'two_answer_tags'),
                    ('<answer>change_size(0, large)\nchange_color(1, red)</answer>', '<answer>change_size(0, large), change_color(1, red)</answer>', 'multiline_two')]:
        add(t, c, s)
    for i in range(80):    # tie-prone: one or two functions, few objects and values, so several greedy pairings exist
        funcs = rng.sample(TR_FUNCS, 1 + i % 2); nobj = 3
        gt = [tr_step(rng, nobj, funcs) for _ in range(rng.randint(2, 4))]
        pred = [tr_step(rng, nobj, funcs) for _ in range(rng.randint(2, 4))]
        sol_txt = tr_fmt(gt, rng, 0)
        add('tie_prone', wrap(tr_fmt(pred, rng, 0), rng), sol_txt if eval_style else '<answer>' + sol_txt + '</answer>')
    # hand-made ties where the greedy order matters
    for c, s in [('change_size(0, small), change_size(0, medium)', 'change_size(0, large), change_size(1, small)'),
                 ('change_color(0, red), change_color(1, red)', 'change_color(0, blue), change_color(2, red)'),
                 ('change_shape(0, cube), change_shape(0, sphere), change_shape(1, cube)', 'change_shape(0, cylinder), change_shape(2, cube), change_shape(3, sphere)'),
                 ('change_size(0, small), change_color(0, red)', 'change_size(1, small), change_size(0, large)')]:
        add('order_tie', '<answer>' + c + '</answer>', s if eval_style else '<answer>' + s + '</answer>')
    return C

GENERATORS = {'lisa': lisa_cases, 'detection': detection_cases, 'classification': cls_cases, 'format': format_cases,
              'answer': answer_cases, 'answer_eval': lambda: answer_cases(eval_style=True), 'tolerance': tolerance_cases,
              'trance': trance_cases, 'trance_eval': lambda: trance_cases(eval_style=True)}

# ----------------------------------------------------------------------------------------------------------------------
def run_seeds(path, function, kind, cases, seeds, python) -> list[list]:
    with tempfile.TemporaryDirectory() as td:
        spec = os.path.join(td, 'spec.json')
        json.dump({'path': path, 'function': function, 'kind': kind, 'cases': cases}, open(spec, 'w'))
        outs = []
        for s in seeds:
            env = dict(os.environ, PYTHONHASHSEED=str(s)); env.pop('DEBUG_MODE', None)
            r = subprocess.run([python, os.path.abspath(__file__), '--worker', spec], env=env, capture_output=True, text=True, check=True)
            outs.append(json.loads(r.stdout.strip().splitlines()[-1]))
        return outs

def _version(pkg):
    from importlib.metadata import version, PackageNotFoundError
    try: return version(pkg)
    except PackageNotFoundError: return None

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--worker'); ap.add_argument('--visual-rft'); ap.add_argument('--visual-rft-commit')
    ap.add_argument('--reason-rft'); ap.add_argument('--reason-rft-commit'); ap.add_argument('--out')
    ap.add_argument('--hash-seeds', default='0,1,2,3,4,5,6,7,8,9', help='PYTHONHASHSEED values for set-iterating functions')
    ap.add_argument('--other-hash-seeds', default='0,1', help='PYTHONHASHSEED values for the other functions')
    ap.add_argument('--only', default='', help='comma-separated output names to (re)build')
    a = ap.parse_args()
    if a.worker: return worker(a.worker)
    os.makedirs(a.out, exist_ok=True)
    roots = {VRFT: (a.visual_rft, a.visual_rft_commit), RRFT: (a.reason_rft, a.reason_rft_commit)}
    for name, repo, file, function, kind, gen in FUNCS:
        if a.only and name not in a.only.split(','): continue
        root, commit = roots[repo]; path = os.path.join(root, file)
        cases = GENERATORS[gen]()
        seeds = [int(s) for s in (a.hash_seeds if function in SET_ORDER_FUNCS else a.other_hash_seeds).split(',')]
        outs = run_seeds(path, function, kind, cases, seeds, sys.executable)
        n_dep = 0
        for i, case in enumerate(cases):
            vals = [o[i] for o in outs]
            case['expected'] = vals[0]
            distinct = sorted({json.dumps(v, sort_keys=True) for v in vals})
            if len(distinct) > 1:
                n_dep += 1; case['order_dependent'] = True; case['values'] = [json.loads(v) for v in distinct]
        doc = {'upstream': {'repo': repo, 'commit': commit, 'file': file, 'function': function},
               'call': {'trl': TRL_CALL, 'rrft': RRFT_CALL, 'eval': EVAL_CALL}[kind],
               'environment': {'python': sys.version.split()[0], 'math_verify': _version('math-verify'), 'sympy': _version('sympy'),
                               'latex2sympy2_extended': _version('latex2sympy2_extended')},
               'hash_seeds': seeds, 'expected': f'value under PYTHONHASHSEED={seeds[0]}; order_dependent cases list every distinct value in `values`',
               'n_cases': len(cases), 'n_order_dependent': n_dep, 'cases': cases}
        with open(os.path.join(a.out, name + '.json'), 'w', encoding='utf-8') as f:
            f.write('{\n')
            for k in ('upstream', 'call', 'environment', 'hash_seeds', 'expected', 'n_cases', 'n_order_dependent'):
                f.write(f'  {json.dumps(k)}: {json.dumps(doc[k])},\n')
            f.write('  "cases": [\n' + ',\n'.join('    ' + json.dumps(c, ensure_ascii=False) for c in cases) + '\n  ]\n}\n')
        print(f'{name}: {len(cases)} cases, {n_dep} order-dependent', flush=True)

if __name__ == '__main__':
    main()
