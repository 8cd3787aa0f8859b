"`rft-eval` run as installed: which predictions a folder may resume (issue 30 items 1 and 5)."
import json, os, signal, subprocess, sys, time
from pathlib import Path

import pytest

from rft_nb.schema import save_dataset
from rft_nb.synthetic import synthetic_rows

BIN = Path(sys.executable).parent


def rft_eval(args, env, timeout=1200):
    "The installed console script, as a user runs it."
    return subprocess.run([str(BIN / 'rft-eval'), *args], env=env, capture_output=True, text=True, timeout=timeout)

def one_error_line(r, *words):
    "Exit status 2, no traceback, and one `rft-eval: error: ...` line (the last on stderr) naming every one of `words`."
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert 'Traceback' not in r.stderr, r.stderr[-2000:]
    errs = [l for l in lines if l.startswith('rft-eval: error: ')]
    assert len(errs) == 1 and lines[-1] == errs[0], r.stderr[-2000:]
    for w in words: assert w in errs[0], (w, errs[0])
    return errs[0]

def pred_ids(folder) -> list[str]:
    return [json.loads(l)['id'] for l in (Path(folder) / 'predictions.jsonl').read_text().splitlines() if l.strip()]


@pytest.fixture
def work(tmp_path, cache_dir, tiny_path):
    "A settings file, a small counting dataset under data_dir and a LoRA adapter under output_dir (random, so it changes outputs)."
    (tmp_path / 'settings.ini').write_text(f"[paths]\ncache_dir = {cache_dir}\noutput_dir = {tmp_path / 'outputs'}\n"
                                            f"data_dir = {tmp_path / 'data'}\n")
    save_dataset({'test_id': synthetic_rows('counting', 3, 'test_id', size=56),
                  'test_ood': synthetic_rows('counting', 3, 'test_ood', size=56)}, tmp_path / 'data' / 'cnt')
    import torch
    from peft import LoraConfig, get_peft_model
    from rft_nb.models import load_model
    m, _ = load_model(str(tiny_path))
    torch.manual_seed(0)
    get_peft_model(m, LoraConfig(r=4, target_modules=['q_proj', 'v_proj'], init_lora_weights=False)).save_pretrained(
        tmp_path / 'outputs' / 'runs' / 'grpo')
    env = dict(os.environ, RFT_NB_SETTINGS=str(tmp_path / 'settings.ini'), OMP_NUM_THREADS='1', TOKENIZERS_PARALLELISM='false')
    return tmp_path, env


def test_resume_is_keyed_on_what_made_the_predictions(work, tiny_path):
    root, env = work
    base = ['--model', str(tiny_path), '--data', 'cnt', '--preset', 'greedy', '--max-new-tokens', '6', '--no-progress']
    adapter = str(root / 'outputs' / 'runs' / 'grpo')
    r = rft_eval(base, env)
    assert r.returncode == 0, r.stderr[-2000:]
    base_out = root / 'outputs' / 'eval' / tiny_path.name / 'cnt'
    assert len(pred_ids(base_out)) == 6
    base_preds = (base_out / 'predictions.jsonl').read_bytes()

    # baseline, then fine-tuned, both with the default --out: two folders, the adapter's run records its adapter
    r = rft_eval(base + ['--adapter', adapter], env)
    assert r.returncode == 0, r.stderr[-2000:]
    ad_out = root / 'outputs' / 'eval' / f'{tiny_path.name}+runs-grpo' / 'cnt'
    assert ad_out.is_dir() and ad_out != base_out
    assert json.loads((ad_out / 'eval_config.json').read_text())['adapter'] == adapter
    assert json.loads((ad_out / 'results.json').read_text())['n'] == 6
    assert (base_out / 'predictions.jsonl').read_bytes() == base_preds                   # the baseline's folder untouched

    # the adapter into the baseline's folder, or other sampling: refused, naming what differs; nothing written
    one_error_line(rft_eval(base + ['--adapter', adapter, '--out', str(base_out)], env),
                   'predictions.jsonl', 'another run', 'adapter: None -> ' + adapter, '--overwrite')
    one_error_line(rft_eval(base + ['--temperature', '0.7', '--out', str(base_out)], env), 'sampling.temperature: 0.0 -> 0.7')
    assert (base_out / 'predictions.jsonl').read_bytes() == base_preds

    # a retrained adapter (same folder, other weights) is another run too
    w = Path(adapter) / 'adapter_model.safetensors'
    saved = w.read_bytes()
    w.write_bytes(saved[:-4] + b'\0\0\0\0')
    one_error_line(rft_eval(base + ['--adapter', adapter], env), 'adapter: same name, other files')
    w.write_bytes(saved)

    # --overwrite starts afresh: the folder now holds the adapter's own completions
    r = rft_eval(base + ['--adapter', adapter, '--out', str(base_out), '--overwrite'], env)
    assert r.returncode == 0, r.stderr[-2000:]
    comps = lambda d: [json.loads(l)['completion'] for l in (d / 'predictions.jsonl').read_text().splitlines()]
    assert comps(base_out) == comps(ad_out)
    assert json.loads((base_out / 'results.json').read_text())['meta']['adapter'] == adapter

    # the same run again resumes: nothing generated twice
    before = (ad_out / 'predictions.jsonl').read_bytes()
    r = rft_eval(base + ['--adapter', adapter], env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (ad_out / 'predictions.jsonl').read_bytes() == before


def test_resume_after_kill_as_installed(work, tiny_path):
    root, env = work
    out = root / 'run'
    argv = ['--model', str(tiny_path), '--data', 'cnt', '--out', str(out), '--preset', 'greedy', '--max-new-tokens', '24',
            '--batch-size', '1', '--no-progress']
    p = subprocess.Popen([str(BIN / 'rft-eval'), *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    pred = out / 'predictions.jsonl'
    t0 = time.time()
    try:
        while time.time() - t0 < 1200:
            if pred.is_file() and len(pred.read_bytes().splitlines()) >= 2: break
            if p.poll() is not None: break
            time.sleep(0.02)
        assert p.poll() is None, 'inference finished before it could be killed'
        os.kill(p.pid, signal.SIGKILL)
    finally:
        if p.poll() is None: os.kill(p.pid, signal.SIGKILL)
        p.wait()
    before = pred_ids(out)
    assert 2 <= len(before) < 6
    one_error_line(rft_eval(argv + ['--seed', '5'], env), 'sampling.seed: 0 -> 5')            # another run may not finish it
    r = rft_eval(argv, env)                                                                    # the same run may
    assert r.returncode == 0, r.stderr[-2000:]
    ids = pred_ids(out)
    assert ids[:len(before)] == before and len(ids) == len(set(ids)) == 6
    assert json.loads((out / 'results.json').read_text())['n'] == 6


def test_silent_emptiness_refused(work, tiny_path):
    "A split the dataset lacks, or a --family the checkpoint contradicts, is an error rather than an empty or misread evaluation."
    root, env = work
    save_dataset([{**r, 'split': 'test'} for r in synthetic_rows('counting', 2, 'test_id', size=56)], root / 'data' / 'flat')  # one table, split 'test'
    base = ['--model', str(tiny_path), '--preset', 'greedy', '--max-new-tokens', '4', '--no-progress']
    one_error_line(rft_eval(base + ['--data', 'flat', '--split', 'test_id'], env), "field 'split'", 'test_id', 'test')
    one_error_line(rft_eval(base + ['--data', 'cnt', '--split', 'val'], env), "field 'split'", 'val', 'test_id, test_ood')
    one_error_line(rft_eval(base + ['--data', 'cnt', '--family', 'qwen2.5-vl'], env), '--family qwen2.5-vl', 'qwen2-vl')
    assert not (root / 'outputs' / 'eval').exists()
    r = rft_eval(base + ['--data', 'flat', '--split', 'test', '--family', 'qwen2_vl'], env)   # the checkpoint's own family is fine
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((root / 'outputs' / 'eval' / tiny_path.name / 'flat' / 'results.json').read_text())['n'] == 2
