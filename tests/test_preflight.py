"Data preflight (issue 26): counts against the real processor and TRL's collator, rows named, training's refusal, the CLIs."
import json, os, subprocess, sys
from pathlib import Path
import pytest, yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LONG = 5     # the row given a long chain of thought
BIG = 2      # the row given an image above the tiny processors' max_pixels (50,176 for Qwen2-VL / 2.5-VL, 65,536 for Qwen3-VL)


def rows(n=8, size=112):
    "Synthetic counting rows; row BIG has a 448x336 image, row LONG a chain of thought twelve times longer."
    from rft_nb.synthetic import make_synthetic
    rs = list(make_synthetic('counting', n, size=size))
    rs[BIG]['images'] = [rs[BIG]['images'][0].resize((448, 336))]
    rs[BIG]['image_size'] = [448, 336]
    rs[LONG]['reasoning'] = ' '.join([rs[LONG]['reasoning']] * 12)
    return rs


def dataset(n=8):
    import datasets
    from rft_nb.schema import FEATURES
    return datasets.Dataset.from_list(rows(n), features=FEATURES)


def counter_for(name, cache_dir):
    from rft_nb.models import tiny_model_path, load_processor
    from rft_nb.families import ModelView, family_of
    from rft_nb.preflight import token_counter
    path = tiny_model_path(name, cache_dir=cache_dir)
    proc = load_processor(path)
    view = ModelView.of(family_of(path), proc)
    return token_counter(proc, view), proc, view


@pytest.mark.parametrize('name', ['tiny-qwen2-vl', 'tiny-qwen2.5-vl', 'tiny-qwen3-vl'])
def test_counts_equal_the_processor_and_trls_collator(name, cache_dir):
    "Prompt tokens = the processor's GRPO prompt; prompt + answer = the sequence TRL's SFT collator trains on; per row."
    from trl.data_utils import prepare_multimodal_messages
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling
    from rft_nb.preflight import measure_rows
    from rft_nb.rows import to_sft_rows, to_grpo_rows
    counter, proc, view = counter_for(name, cache_dir)
    ds = dataset()
    sft_rows, grpo_rows = to_sft_rows(ds, 'cot', view=view), to_grpo_rows(ds, view=view)
    collate = DataCollatorForVisionLanguageModeling(proc)
    measured = measure_rows(ds, counter, 'sft')
    for i, m in enumerate(measured):
        g = grpo_rows[i]
        prompt = proc.apply_chat_template(conversation=[prepare_multimodal_messages(g['prompt'], images=g['images'])],
                                          add_generation_prompt=True, tokenize=True, return_dict=True)
        assert m.prompt_tokens == len(prompt['input_ids'][0]), (name, i)
        assert m.total == len(collate([dict(sft_rows[i])])['input_ids'][0]), (name, i)
    assert counter.extra == 0
    assert measured[BIG].image_tokens > measured[0].image_tokens and measured[BIG].seen != measured[BIG].size


def test_report_names_the_rows_a_limit_cuts_or_shrinks(cache_dir):
    "Exactly the rows past max_length, past max_pixels, and (GRPO) with CoT answers past max_completion_length, by index and id."
    from rft_nb.preflight import data_report, format_data_report, report_json
    counter, _, _ = counter_for('tiny-qwen2-vl', cache_dir)
    ds = dataset()
    ids = ds['id']
    full = data_report(ds, counter, 'sft', where='d')
    totals = sorted((r.total for r in full.splits['train'].rows), reverse=True)
    limit = totals[2]                                # the two longest rows (LONG, then BIG) are past it
    rep = data_report(ds, counter, 'sft', max_length=limit, where='d')
    s = rep.splits['train']
    assert [r.index for r in s.cut] == [LONG, BIG] and [r.id for r in s.cut] == [ids[LONG], ids[BIG]]
    assert [r.index for r in s.shrunk] == [BIG] and s.shrunk[0].size == (448, 336)
    assert rep.problem.startswith(f"d split 'train': max_length={limit} would cut 2 of 8 rows")
    assert f"row {LONG} (id '{ids[LONG]}')" in rep.problem and f"at least {totals[0]}" in rep.problem
    text = format_data_report(rep)
    assert f"CUT by max_length {limit}: 2 rows" in text and f"SHRUNK (image above max_pixels 50,176): 1 row: row {BIG}" in text
    assert full.problem is None and not full.splits['train'].cut          # no limit: nothing cut
    one = data_report(ds.remove_columns('split'), counter, 'sft', max_length=limit, where='d')   # one table, no splits
    assert list(one.splits) == [''] and one.problem.startswith(f"d: max_length={limit} would cut 2 of 8 rows")
    grpo = data_report(ds, counter, 'grpo', max_completion_length=60, where='d')
    assert [r.index for r in grpo.splits['train'].long_answers] == [LONG] and grpo.problem is None
    assert report_json(grpo)['splits']['train']['long_answers'][0][:2] == [LONG, ids[LONG]]


def test_training_keeps_or_refuses_max_length(cache_dir):
    "Unset: None (no truncation, as before); set and every row fits: kept as set; set too small: refused before loading."
    from rft_nb.recipe import RFTSFTConfig, parse_config
    from rft_nb.train_data import sft_max_length
    from rft_nb.preflight import TruncationError
    _, _, view = counter_for('tiny-qwen2-vl', cache_dir)
    from rft_nb.models import tiny_model_path
    path = tiny_model_path('tiny-qwen2-vl', cache_dir=cache_dir)
    ds = dataset()
    base = ['--output_dir', '/tmp/unused', '--dataset_path', 'd']
    assert sft_max_length(parse_config(RFTSFTConfig, base), ds, path, view) is None
    assert sft_max_length(parse_config(RFTSFTConfig, base + ['--max_length', '1024']), ds, path, view) == 1024  # chosen: kept
    with pytest.raises(TruncationError, match=rf"max_length=200 would cut .* row {LONG} .* Set max_length to at least"):
        sft_max_length(parse_config(RFTSFTConfig, base + ['--max_length', '200']), ds, path, view)



def test_grpo_vllm_context_refused_before_loading(cache_dir):
    "TRL's vLLM engine: a vllm_max_model_length below a prompt + max_completion_length is refused, naming that row; others pass."
    import tempfile
    from rft_nb.recipe import RFTGRPOConfig
    from rft_nb.train_data import vllm_context_check
    from rft_nb.preflight import TruncationError, measure_rows
    from rft_nb.models import tiny_model_path
    counter, _, view = counter_for('tiny-qwen2-vl', cache_dir)
    path = tiny_model_path('tiny-qwen2-vl', cache_dir=cache_dir)
    ds = dataset()
    prompts = sorted((r.prompt_tokens for r in measure_rows(ds, counter, 'grpo')), reverse=True)
    assert max(range(8), key=lambda i: measure_rows(ds.select([i]), counter, 'grpo')[0].prompt_tokens) == BIG
    def args(limit): return RFTGRPOConfig(output_dir=tempfile.mkdtemp(), dataset_path='d', use_cpu=True, bf16=False,
                                          per_device_train_batch_size=4, num_generations=4, max_completion_length=48,
                                          vllm_max_model_length=limit)
    vllm_context_check(args(prompts[0] + 48), ds, path, view, 'trl_vllm')          # the longest prompt + 48 fits exactly
    vllm_context_check(args(prompts[0]), ds, path, view, 'transformers')           # no vLLM, no context to check
    with pytest.raises(TruncationError, match=rf"vllm_max_model_length={prompts[0] + 47} would cut 1 of 8 rows .*row {BIG} "):
        vllm_context_check(args(prompts[0] + 47), ds, path, view, 'trl_vllm')

@pytest.fixture(scope='module')
def ws(tmp_path_factory, cache_dir):
    "A settings file, the environment running this checkout's package, and a dataset with one row longer than the rest."
    from rft_nb.schema import save_dataset
    root = tmp_path_factory.mktemp('preflight')
    st = root / 'settings.ini'
    st.write_text(f"[paths]\ncache_dir = {cache_dir}\noutput_dir = {root / 'outputs'}\ndata_dir = {root / 'data'}\n"
                  "[model]\nbase_model = tiny-qwen2-vl\n")
    env = dict(os.environ, RFT_NB_SETTINGS=str(st), TOKENIZERS_PARALLELISM='false', OMP_NUM_THREADS='1',
               PYTHONPATH=str(ROOT))   # the installed console scripts import this checkout's rft_nb
    for k in ('WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'ACCELERATE_CONFIG'): env.pop(k, None)
    rs = rows()
    save_dataset({'train': rs, 'test_id': [{**r, 'id': r['id'] + '-t', 'split': 'test_id'} for r in rs[:3]]},
                 root / 'data' / 'counting')
    recipe = yaml.safe_load((ROOT / 'recipes/tiny/counting_cot_sft.yaml').read_text())
    recipe.update(model_name_or_path='tiny-qwen2-vl', dataset_path='counting', output_dir='sft', max_steps=1,
                  save_strategy='no', merge_adapter=False, per_device_train_batch_size=2)
    (root / 'sft.yaml').write_text(yaml.safe_dump(recipe))
    grpo = yaml.safe_load((ROOT / 'recipes/tiny/counting_grpo.yaml').read_text())
    grpo.update(model_name_or_path='tiny-qwen2-vl', dataset_path='counting', output_dir='grpo')
    (root / 'grpo.yaml').write_text(yaml.safe_dump(grpo))
    return dict(root=root, env=env, recipe=root / 'sft.yaml', grpo=root / 'grpo.yaml')


def run(cmd, *args, ws):
    exe = BIN / cmd
    assert exe.is_file(), f"{exe} is not installed (pip install -e .)"
    return subprocess.run([str(exe), *map(str, args)], cwd=ws['root'], env=ws['env'], capture_output=True, text=True, timeout=900)


def one_error(r, cmd):
    assert r.returncode == 2, f"exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    assert 'Traceback' not in r.stderr, r.stderr[-3000:]
    errs = [l for l in r.stderr.splitlines() if 'error:' in l]
    assert len(errs) == 1 and errs[0].startswith(f"{cmd}: error: "), r.stderr[-3000:]
    return errs[0]


def test_plan_data_cli(ws):
    "rft-plan --data: exit 0 with the spreads, the shrunk row named and memory for the longest row; exit 2 on a cutting max_length."
    r = run('rft-plan', ws['recipe'], '--data', '--gpu', 'L4', '--json', ws=ws)
    assert r.returncode == 0, r.stderr[-3000:]
    j = json.loads(r.stdout)
    train = j['data']['splits']['train']
    assert train['rows'] == 8 and [x[0] for x in train['shrunk']] == [BIG] and train['cut'] == []
    s = j['setup']
    seq = s['prompt_text_tokens'] + s['images_per_sample'] * (s['image_tokens'] + 2) + s['completion_tokens']
    assert seq == train['sequence']['max'] and j['data']['problem'] is None    # the plan's sequence: the longest real row
    longest = train['sequence']['max']
    r = run('rft-plan', ws['recipe'], '--data', '--', '--max_length', longest - 1, ws=ws)
    err = one_error(r, 'rft-plan')
    assert f"max_length={longest - 1} would cut 1 of 8 rows" in err and f"row {LONG} (id " in err
    assert f"CUT by max_length {longest - 1}: 1 row: row {LONG}" in r.stdout and 'verdict  FITS' in r.stdout
    # GRPO through TRL's vLLM (--backend trl on the GPU box): memory for the longest prompt, and vLLM's context checked
    r = run('rft-plan', ws['grpo'], '--data', '--backend', 'trl', '--json', ws=ws)
    assert r.returncode == 0, r.stderr[-3000:]
    j = json.loads(r.stdout)
    s, prompts = j['setup'], j['data']['splits']['train']['prompt_tokens']
    assert s['rollout'] == 'vllm-colocate' and s['completion_tokens'] == 48
    assert s['prompt_text_tokens'] + s['images_per_sample'] * (s['image_tokens'] + 2) == prompts['max']
    r = run('rft-plan', ws['grpo'], '--data', '--backend', 'trl', '--', '--vllm_max_model_length', prompts['max'] + 47, ws=ws)
    err = one_error(r, 'rft-plan')
    assert f"vllm_max_model_length={prompts['max'] + 47} would cut 1 of 8 rows" in err and f"row {BIG} (id " in err


def test_plan_memory_follows_the_longest_row(ws, tmp_path):
    "The same recipe on data whose longest row is shorter plans less activation memory: the batch is the data's, not a guess."
    from rft_nb.plan import plan_data
    from rft_nb.plan_facts import facts_for, resolve_model, GIB
    from rft_nb.plan_memory import activation_bytes
    rs = rows()
    rs[LONG]['reasoning'] = rs[0]['reasoning']
    from rft_nb.schema import save_dataset
    save_dataset({'train': rs}, tmp_path / 'short')
    old = os.environ.get('RFT_NB_SETTINGS')
    os.environ['RFT_NB_SETTINGS'] = ws['env']['RFT_NB_SETTINGS']
    try:
        long_rep, long_plan = plan_data(ws['recipe'], 'L4')
        short_rep, short_plan = plan_data(ws['recipe'], 'L4', extra_args=['--dataset_path', str(tmp_path / 'short')])
        dims = facts_for(resolve_model('tiny-qwen2-vl')).dims
    finally:
        if old is None: os.environ.pop('RFT_NB_SETTINGS')
        else: os.environ['RFT_NB_SETTINGS'] = old
    assert long_plan.setup.seq_tokens == long_rep.longest().total > short_plan.setup.seq_tokens == short_rep.longest().total
    assert long_rep.longest().index == LONG
    for p in (long_plan, short_plan):   # the activations of per_device_train_batch_size sequences of the longest row
        s = p.setup
        want = activation_bytes(dims, s.per_device_batch * s.seq_tokens, s.dtype_bytes, s.gradient_checkpointing, s.seq_tokens)
        assert p.parts_gib['activations'] == pytest.approx(want / GIB)
    assert long_plan.parts_gib['activations'] > 1.9 * short_plan.parts_gib['activations']


def test_sft_cli_refuses_then_trains(ws):
    "rft-sft: a max_length one short of the longest row exits 2 naming it (no run folder); exactly the longest trains."
    out = ws['root'] / 'outputs' / 'sft'
    r = run('rft-plan', ws['recipe'], '--data', '--json', ws=ws)
    longest = json.loads(r.stdout)['data']['splits']['train']['sequence']['max']
    r = run('rft-sft', '--config', ws['recipe'], '--max_length', longest - 1, ws=ws)
    err = one_error(r, 'rft-sft')
    assert f"max_length={longest - 1} would cut 1 of 8 rows" in err and f"Set max_length to at least {longest}" in err
    assert not (out / 'adapter_model.safetensors').exists()
    r = run('rft-sft', '--config', ws['recipe'], '--max_length', longest, ws=ws)
    assert r.returncode == 0 and '"steps": 1' in r.stdout, r.stderr[-3000:]
