"`rft-grpo` run as installed into a folder an earlier run used: each run's logs hold its own steps once (issue 30 item 6)."
import json, shutil, subprocess, sys
from collections import Counter
from pathlib import Path

from conftest import counting_env

BIN = Path(sys.executable).parent
ARGS = ['--dataset_path', 'counting', '--output_dir', 'again', '--logging_steps', '1', '--report_to', 'none',
        '--gradient_checkpointing', 'false', '--seed', '0', '--per_device_train_batch_size', '4', '--num_generations', '4',
        '--max_completion_length', '6', '--reward_funcs', 'format', 'counting', '--rollout_log_steps', '1', '--save_steps', '1']


def rft_grpo(args, env, cwd):
    r = subprocess.run([str(BIN / 'rft-grpo'), *ARGS, *args], env=env, capture_output=True, text=True, timeout=2400, cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    return r

def steps(path) -> Counter:
    return Counter(json.loads(l)['step'] for l in Path(path).read_text().splitlines() if l.strip())


def test_rerun_and_resume_keep_one_record_per_step(cache_dir, tmp_path):
    env = counting_env(cache_dir, tmp_path)
    out = tmp_path / 'outputs' / 'again'
    rft_grpo(['--max_steps', '2'], env, tmp_path)
    assert steps(out / 'rollouts.jsonl') == {1: 4, 2: 4} and steps(out / 'sampling.jsonl') == {1: 1, 2: 1}

    r = rft_grpo(['--max_steps', '2'], env, tmp_path)                    # the same command again: a fresh run, fresh logs
    assert steps(out / 'rollouts.jsonl') == {1: 4, 2: 4} and steps(out / 'sampling.jsonl') == {1: 1, 2: 1}
    assert 'earlier logs cleared' in r.stderr + r.stdout

    shutil.rmtree(out / 'checkpoint-2')                                  # as if killed after step 2 logged, before it saved
    rft_grpo(['--max_steps', '3', '--resume_from_checkpoint', 'true'], env, tmp_path)
    assert steps(out / 'rollouts.jsonl') == {1: 4, 2: 4, 3: 4}           # step 2 redone once, not twice
    assert steps(out / 'sampling.jsonl') == {1: 1, 2: 1, 3: 1}
