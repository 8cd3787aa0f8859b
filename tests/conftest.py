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
