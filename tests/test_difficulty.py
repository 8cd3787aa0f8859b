"`rft-difficulty` as a user runs it: pass rates of a model over training prompts, resumable, read back by a GRPO recipe."
import json, os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, '-c', 'import sys; from rft_nb.difficulty import difficulty_main; sys.argv[0] = "rft-difficulty"; sys.exit(difficulty_main())']

def test_cli_writes_pass_rates_and_resumes(cache_dir, tmp_path):
    from rft_nb.synthetic import build_synthetic
    build_synthetic('counting', tmp_path / 'data' / 'counting', n_train=10, n_test=2, size=64)
    env = dict(os.environ, RFT_NB_PATHS_CACHE_DIR=str(cache_dir), RFT_NB_PATHS_OUTPUT_DIR=str(tmp_path / 'outputs'),
               RFT_NB_PATHS_DATA_DIR=str(tmp_path / 'data'), OMP_NUM_THREADS='1', TOKENIZERS_PARALLELISM='false')
    args = ['--model', 'tiny-qwen2-vl', '--data', 'counting', '--stage-part', 'rl', '--stage-sft-fraction', '0.2', '--k', '2',
            '--max-new-tokens', '8', '--batch-size', '4', '--out', str(tmp_path / 'diff'), '--no-progress']
    p = subprocess.run(CLI + args, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    recs = [json.loads(l) for l in (tmp_path / 'diff' / 'difficulty.jsonl').read_text().splitlines()]
    assert len(recs) == 8 and all(r['n'] == 2 and r['pass_rate'] == r['passed'] / 2 for r in recs)   # the 80% RL part of 10 rows
    assert all(len((tmp_path / 'diff' / f'sample-{j}.jsonl').read_text().splitlines()) == 8 for j in range(2))
    assert 'prompts, pass@2' in p.stdout and 'difficulty_file' in p.stdout
    before = (tmp_path / 'diff' / 'sample-0.jsonl').read_text()
    p = subprocess.run(CLI + args, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)   # resumed: nothing regenerated
    assert p.returncode == 0 and (tmp_path / 'diff' / 'sample-0.jsonl').read_text() == before
    p = subprocess.run(CLI + args[:-4] + ['--temperature', '0', '--out', str(tmp_path / 'greedy')], env=env, capture_output=True,
                       text=True, timeout=600, cwd=ROOT)
    assert p.returncode == 2 and 'temperature' in p.stderr and 'Traceback' not in p.stderr
