"""The hack watch: each detector on hand-written completions, the hack table's signs, the run trends, and GRPO on the tiny
model stopped by a hackable paper reward while the hardened reward trains on (`rft-grpo`, run as a command)."""
import json, os, subprocess, sys
from pathlib import Path
import pytest

from rft_nb.hack_watch import (SIGNS, DETECTORS, HackWatch, HackStop, completion_signs, run_trends, no_answer, many_classes,
                               huge_box, duplicates, points_outside, repeated_ngrams, accuracy_rewards, format_rewards)
from rft_nb.rewards import HACKS

BIN = Path(sys.executable).parent
FLOWERS = ['moon orchid|phalaenopsis', 'rose', 'desert rose|adenium', 'tulip']
CLS = dict(solution='<answer>rose</answer>', classes=FLOWERS)
BOX = "{'Position': %s, 'Confidence': 1}"
DET = dict(solution='<answer>[' + BOX % [100, 100, 200, 200] + ']</answer>', image_size=[640, 480], box_convention='norm1000')

def boxes(*bs): return '<answer>[' + ', '.join(BOX % list(b) for b in bs) + ']</answer>'

# ---------------------------------------------------------------- each detector: (completion, row, shows the sign?)
CASES = {
    'no_answer': [('<think>hmm</think><answer></answer>', CLS, True), ('It is a rose.', CLS, True),
                  ('<think>a</think><answer>rose</answer><answer>tulip</answer>', CLS, True),
                  ('<think>petals</think><answer>rose</answer>', CLS, False)],
    'many_classes': [('<answer>rose or tulip</answer>', CLS, True), ('the phalaenopsis, maybe an adenium', CLS, True),
                     ('<answer>desert rose</answer>', CLS, False), ('<answer>rose</answer>', dict(solution='<answer>rose</answer>'), False)],
    'huge_box': [(boxes([0, 0, 1000, 1000]), DET, True), (boxes([100, 100, 200, 200], [5, 5, 990, 995]), DET, True),
                 (boxes([0, 0, 1000, 1000]), dict(DET, solution='<answer>[' + BOX % [0, 0, 900, 900] + ']</answer>'), False),
                 (boxes([0, 0, 600, 600]), DET, False),
                 ('<answer>(0,0),(1000,1000)</answer>', dict(solution='<answer>(10,20),(300,400)</answer>'), True)],
    'duplicates': [(boxes([100, 100, 200, 200], [100, 100, 200, 200]), DET, True),
                   (boxes([100, 100, 200, 200], [102, 101, 200, 201]), DET, True),
                   (boxes([100, 100, 200, 200], [150, 100, 250, 200]), DET, False),
                   ('<answer>change_color(0, red), change_color(0, red)</answer>', {}, True),
                   ('<answer>change_color(0, red), change_size(1, small)</answer>', {}, False)],
    'points_outside': [('<answer>[(40, -3)]</answer>', dict(image_size=[112, 112], point_convention='pixel'), True),
                       ('<answer>[(1200, 500)]</answer>', dict(image_size=[112, 112], point_convention='norm1000'), True),
                       ('<answer>[(40, 3), (111, 111)]</answer>', dict(image_size=[112, 112], point_convention='pixel'), False),
                       ('<answer>[(40, -3)]</answer>', dict(image_size=[112, 112]), False)],          # not a pointing row
    'repeated_ngrams': [('<think>' + 'the red one ' * 6 + '</think><answer>3</answer>', {}, True),
                        ('<think>two red squares and one blue circle make three</think><answer>3</answer>', {}, False)],
}

@pytest.mark.parametrize('sign,text,row,shows', [(s, t, r, y) for s, cs in CASES.items() for t, r, y in cs],
                         ids=[f"{s}-{i}" for s, cs in CASES.items() for i in range(len(cs))])
def test_detector(sign, text, row, shows):
    assert DETECTORS[sign](text, row) is shows
    assert (sign in completion_signs(text, row)) is shows

def test_every_completion_sign_has_cases_and_a_record():
    assert set(CASES) == set(DETECTORS) == {s for s, x in SIGNS.items() if x.level == 'completion'}
    for cs in CASES.values(): assert {y for _, _, y in cs} == {True, False}

def test_unreadable_output_shows_nothing():
    for junk in [None, 12, '', '<answer>[{', "<answer>[{'Position': [1e400, 'x']}]</answer>", '\x00' * 50]:
        assert completion_signs(junk if isinstance(junk, str) else str(junk), DET) in ([], ['no_answer'])

# ---------------------------------------------------------------- the hack table names the sign that catches each hack
@pytest.mark.parametrize('h', [h for h in HACKS if h['sign']], ids=[f"{h['name']}-{h['paper']}" for h in HACKS if h['sign']])
def test_hack_table_signs(h):
    assert h['sign'] in completion_signs(h['completion'], h['kwargs'])

def test_hack_table_signs_cover_the_watch():
    assert {h['sign'] for h in HACKS} - {None} == set(DETECTORS) - {'repeated_ngrams'}   # repetition: no reward closes it to 0

# ---------------------------------------------------------------- rewarded only; trends; check
def test_only_rewarded_completions_count():
    w = HackWatch('warn', ['visual_rft_cls', 'format_paper'])
    comps = ['<answer></answer>', '<answer></answer>', '<answer>rose, tulip</answer>', '<answer>rose</answer>']
    rew = [{'visual_rft_cls': 1.0, 'format_paper': 0.0}, {'visual_rft_cls': 0.0, 'format_paper': 1.0},
           {'visual_rft_cls': None, 'format_paper': 1.0}, {'visual_rft_cls': 1.0, 'format_paper': 0.0}]
    assert w.observe(comps, [CLS] * 4, rew) == [['no_answer'], [], [], []]
    v = w.values({})
    assert v['hack/no_answer'] == 0.25 and v['hack/many_classes'] == 0.0 and 'hack/format_only' not in v
    assert w.tallies() == [0] + [0] * len(DETECTORS)             # reset for the next window

def test_reward_roles():
    assert accuracy_rewards(['format', 'visual_rft_cls', 'repetition_penalty', 'my_python_reward']) == ['visual_rft_cls', 'my_python_reward']
    assert format_rewards(['format', 'format_paper', 'classification', 'length']) == ['format', 'format_paper']

def hist(**cols):
    n = len(next(iter(cols.values())))
    return [{k: v[i] for k, v in cols.items()} for i in range(n)]

def test_run_trends():
    flat = hist(format=[0.2] * 6, accuracy=[0.3] * 6, length=[100] * 6, clipped=[1.0] * 6)
    assert run_trends(flat) == dict(format_only=0.0, length_collapse=0.0, length_limit=0.0)
    fmt = run_trends(hist(format=[0.1, 0.1, 0.1, 0.9, 1.0, 1.0], accuracy=[0.1] * 6))
    assert fmt['format_only'] == pytest.approx(0.8667, abs=1e-3) and fmt['format_only'] >= SIGNS['format_only'].threshold
    both = run_trends(hist(format=[0.1, 0.1, 0.1, 0.9, 1.0, 1.0], accuracy=[0.1, 0.1, 0.1, 0.8, 0.9, 0.9]))
    assert both['format_only'] < SIGNS['format_only'].threshold          # accuracy rose with format: learning, not hacking
    short = run_trends(hist(length=[300, 280, 290, 40, 30, 20]))
    assert short == {'length_collapse': pytest.approx(1 - 30 / 290)} and short['length_collapse'] >= SIGNS['length_collapse'].threshold
    cut = run_trends(hist(clipped=[0.0, 0.1, 0.0, 0.5, 0.7, 0.8]))
    assert cut['length_limit'] == pytest.approx(2 / 3 - 0.1 / 3)
    assert run_trends(flat[:5]) == {}

def test_check_warns_once_and_stop_keeps_the_first(caplog):
    w = HackWatch('stop', ['visual_rft_cls'])
    with caplog.at_level('WARNING', logger='rft_nb.hack_watch'):
        for step in (1, 2):
            w.observe(['<answer></answer>'] * 2, [CLS] * 2, [{'visual_rft_cls': 1.0}] * 2)
            events = w.check(w.values({}), step)
            assert [e.sign for e in events] == ['no_answer'] and events[0].value == 1.0
    assert len([r for r in caplog.records if 'no_answer' in r.message]) == 1
    assert w.stop.step == 1 and w.stop.examples == ['<answer></answer>', '<answer></answer>']
    msg = str(HackStop(w.stop, '/runs/x/checkpoint-1'))
    assert 'no_answer at step 1' in msg and '/runs/x/checkpoint-1' in msg and "e.g. '<answer></answer>'" in msg
    assert 'the hack table: empty answer (paid by visual_rft_cls, closed by classification)' in msg
    assert 'paid by format' not in msg                                      # a hack the paper reward does not pay is not listed
    with pytest.raises(ValueError, match='off, warn, stop'): HackWatch('halt')

def test_warn_never_stops():
    w = HackWatch('warn', ['visual_rft_cls'])
    w.observe(['<answer></answer>'], [CLS], [{'visual_rft_cls': 1.0}])
    assert w.check(w.values({}), 1) and w.stop is None


# ---------------------------------------------------------------- GRPO on the tiny model, as a command
LETTERS = ['A', 'B', 'C', 'D']

@pytest.fixture(scope='module')
def letters(cache_dir, tiny_path, tmp_path_factory):
    """A classification set whose classes are the letters A-D: Visual-RFT's substring rule (`gt in answer`) pays any text
    holding the letter, so the random tiny model's answer-less babble earns reward from the first step."""
    from rft_nb.schema import save_dataset
    from rft_nb.synthetic import classification_rows
    root = tmp_path_factory.mktemp('hackwatch')
    rows = []
    for i, r in enumerate(classification_rows(8, 'train', 0, 56)):
        k = LETTERS[i % 4]
        rows.append(dict(r, problem='Which letter, A, B, C or D, names this flower?', solution=f'<answer>{k}</answer>', answer=k,
                         category=k, classes=LETTERS))
    save_dataset({'train': rows}, root / 'data' / 'letters')
    st = root / 'settings.ini'
    st.write_text(f"[paths]\ncache_dir = {cache_dir}\noutput_dir = {root / 'outputs'}\ndata_dir = {root / 'data'}\n"
                  f"[model]\nbase_model = tiny-qwen2-vl\n")
    env = dict(os.environ, RFT_NB_SETTINGS=str(st), TOKENIZERS_PARALLELISM='false', OMP_NUM_THREADS='1')
    for k in ('WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'ACCELERATE_CONFIG'): env.pop(k, None)
    return root, env

def grpo(root, env, out, *rewards, extra=()):
    args = ['--model_name_or_path', 'tiny-qwen2-vl', '--dataset_path', 'letters', '--output_dir', out, '--max_steps', '4',
            '--per_device_train_batch_size', '8', '--num_generations', '4', '--max_completion_length', '16',
            '--logging_steps', '1', '--report_to', 'none', '--gradient_checkpointing', 'false', '--seed', '0',
            '--use_system_prompt', 'false', '--save_strategy', 'no', '--hack_watch', 'stop', '--reward_funcs', *rewards, *extra]
    return subprocess.run([str(BIN / 'rft-grpo'), *args], cwd=root, env=env, capture_output=True, text=True, timeout=600)

def test_paper_reward_is_stopped_hardened_is_not(letters):
    root, env = letters
    p = grpo(root, env, 'paper', 'visual_rft_cls', 'format_paper')
    assert p.returncode == 3, f"exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}"
    assert 'Traceback' not in p.stderr
    assert 'rft-grpo: stopped: hack watch: no_answer at step 1' in p.stderr
    assert 'e.g. ' in p.stderr and 'checkpoint saved: ' in p.stderr
    out = root / 'outputs' / 'paper'
    assert (out / 'checkpoint-1' / 'trainer_state.json').is_file() and not (out / 'checkpoint-2').exists()
    logs = json.loads((out / 'trainer_state.json').read_text())['log_history']
    assert logs[0]['hack/no_answer'] >= SIGNS['no_answer'].threshold
    rows = [json.loads(l) for l in (out / 'rollouts.jsonl').read_text().splitlines()]
    assert any('no_answer' in r.get('hacks', []) for r in rows)
    assert all(r['rewards']['visual_rft_cls'] > 0 for r in rows if r.get('hacks'))       # only paid completions are flagged

    h = grpo(root, env, 'hardened', 'format', 'classification')
    assert h.returncode == 0, f"exit {h.returncode}\n{h.stdout[-2000:]}\n{h.stderr[-4000:]}"
    assert 'hack watch' not in h.stderr
    summary = json.loads(h.stdout[h.stdout.rindex('{\n "backend"'):])
    assert summary['steps'] == 4
    logs = json.loads((root / 'outputs' / 'hardened' / 'trainer_state.json').read_text())['log_history']
    watched = [l for l in logs if 'hack/no_answer' in l]
    assert len(watched) == 4 and all(l[f'hack/{s}'] == 0.0 for l in watched for s in DETECTORS)

    r = subprocess.run([str(BIN / 'rft-report'), '--train', 'paper', '--rollouts', 'paper/rollouts.jsonl'], cwd=root, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / 'hack_watch.png').is_file() and 'hack watch:' in r.stdout
    page = (out / 'rollouts.html').read_text()
    assert 'class="row hack"' in page and 'no_answer' in page

def test_ignored_signs_are_logged_but_quiet():
    w = HackWatch('stop', ['visual_rft_cls'], ignore=['many_classes'])
    w.observe(['<answer>rose, tulip</answer>'], [CLS], [{'visual_rft_cls': 1.0}])
    v = w.values({})
    assert v['hack/many_classes'] == 1.0 and w.check(v, 1) == [] and w.stop is None
    with pytest.raises(ValueError, match='unknown sign.*many_class; the signs: no_answer, many_classes'):
        HackWatch('warn', ignore=['many_class'])

@pytest.mark.parametrize('flags,expect', [(['--hack_watch', 'halt'], 'hack_watch must be one of off, warn, stop'),
                                          (['--hack_watch_ignore', 'huge_boxes'], 'hack_watch_ignore: unknown sign(s) huge_boxes; the signs: ')])
def test_bad_watch_options_fail_before_training(letters, flags, expect):
    root, env = letters
    p = grpo(root, env, 'bad', 'visual_rft_cls', extra=flags)
    assert p.returncode == 2 and 'Traceback' not in p.stderr, p.stderr[-3000:]
    assert f'rft-grpo: error: {expect}' in p.stderr
    assert not (root / 'outputs' / 'bad').exists()
