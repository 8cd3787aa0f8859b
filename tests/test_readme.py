"""The README as a reader meets it: its links open files of this checkout, and its CPU pipeline block runs as written.

README.md is generated from nbs/index.ipynb; these tests only read it."""
import json, os, re, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / 'README.md').read_text()
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
UNPUBLISHED = 'rft-nb.github.io'


def shell_block(text: str, heading: str) -> str:
    "The first ```bash block under the `## heading` of `text`."
    sec = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert sec, f"README has no section '## {heading}'"
    m = re.search(r"^```bash\n(.*?)^```", sec.group(1), re.M | re.S)
    assert m, f"section '## {heading}' has no bash block"
    return m.group(1)


def test_relative_links_resolve():
    links = LINK.findall(README)
    rel = [l for l in links if not re.match(r'[a-z][a-z0-9+.-]*:', l) and not l.startswith('#')]
    assert len(rel) >= 30, rel   # the notebook map and the tutorials
    missing = [l for l in rel if not (ROOT / l.split('#')[0]).exists()]
    assert not missing, f"README links to files that are not in the checkout: {missing}"


def test_no_link_to_the_unpublished_site():
    assert UNPUBLISHED not in README
    assert 'make docs' in README and '_docs/' in README


def test_shell_block_extraction():
    text = "## A\n```bash\necho a\n```\n## On a CPU\ntext\n```bash\necho one\necho two\n```\n```bash\nno\n```\n## C\n"
    assert shell_block(text, 'On a CPU') == "echo one\necho two\n"
    with pytest.raises(AssertionError): shell_block(text, 'C')


CPU_PIPELINE = 'The pipeline on a CPU, with the tiny model'

def test_cpu_pipeline_block_runs_as_written(tmp_path, cache_dir):
    "The block, word for word, in a fresh folder laid out like a checkout after `make install` (no data, no outputs)."
    block = shell_block(README, CPU_PIPELINE)
    assert 'rft-grpo' in block and 'rft-eval' in block
    (tmp_path / '.venv').symlink_to(Path(sys.prefix))        # what `make install` leaves in a checkout
    (tmp_path / 'recipes').symlink_to(ROOT / 'recipes')
    (tmp_path / 'settings.ini').write_text((ROOT / 'settings.ini').read_text())
    env = dict(os.environ, OMP_NUM_THREADS='1', TOKENIZERS_PARALLELISM='false',
               RFT_NB_PATHS_CACHE_DIR=str(cache_dir))      # the tiny model built once per test session
    for k in ('RFT_NB_SETTINGS', 'VIRTUAL_ENV', 'WORLD_SIZE', 'RANK', 'LOCAL_RANK'): env.pop(k, None)
    r = subprocess.run(['bash', '-e', '-o', 'pipefail', '-c', block], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=3600)   # generous: a shared 2-core machine can be 10x slower than idle
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-4000:]}"
    res = json.loads((tmp_path / 'outputs' / 'eval' / 'grpo' / 'results.json').read_text())
    test_id = res['metrics']['counting']['test_id']
    assert test_id['n'] == 16 and 0 <= test_id['acc'] <= 100, test_id
    assert '| ID | 16 |' in r.stdout and '| grpo |' in r.stdout   # rft-eval's table, then rft-report's
    assert (tmp_path / 'outputs' / 'tiny' / 'counting' / 'grpo' / 'rollouts.jsonl').is_file()
