import os, sys, pytest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='session')
def cache_dir(tmp_path_factory):
    "One cache folder for the whole test session (tiny models are built once)."
    d = os.environ.get('RFT_NB_TEST_CACHE')
    return Path(d) if d else tmp_path_factory.mktemp('cache')

@pytest.fixture(scope='session')
def tiny_path(cache_dir):
    from rft_nb.models import tiny_model_path
    return tiny_model_path('tiny-qwen2-vl', cache_dir=cache_dir)


def counting_env(cache_dir, root: Path, **extra) -> dict:
    "Settings in `root` pointing at temporary folders, a small synthetic counting dataset, and the environment to run scripts in."
    from rft_nb.synthetic import build_synthetic
    st = root / 'settings.ini'
    st.write_text(f"[paths]\ncache_dir = {cache_dir}\noutput_dir = {root / 'outputs'}\ndata_dir = {root / 'data'}\n"
                  f"[model]\nbase_model = tiny-qwen2-vl\n")
    build_synthetic('counting', root / 'data' / 'counting', n_train=24, n_test=8, size=112)
    e = dict(os.environ, RFT_NB_SETTINGS=str(st), TOKENIZERS_PARALLELISM='false', OMP_NUM_THREADS='1', **extra)
    for k in ('WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'ACCELERATE_CONFIG', 'NUM_MACHINES', 'MACHINE_RANK'): e.pop(k, None)
    return e
