"""Issue 30 items 8 and 9, through the installed commands: one rule for relative paths (errors name every place looked),
settings typos in the environment, and `rft-sft --help` that shows the project's options first."""
import subprocess, sys
from pathlib import Path

from test_input_errors import clean_env, one_error_line

BIN = Path(sys.executable).parent


def run(cmd, args, env, cwd, timeout=600):
    return subprocess.run([str(BIN / cmd), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)

def settings_root(tmp_path) -> tuple[Path, Path]:
    "(root holding settings.ini with relative data_dir / output_dir, a working folder below it that is not root)."
    (tmp_path / 'settings.ini').write_text("[paths]\ndata_dir = data\noutput_dir = outputs\n")
    (tmp_path / 'work').mkdir()
    return tmp_path, tmp_path / 'work'


def test_relative_out_goes_under_its_settings_folder(tmp_path):
    "rft-data --out NAME writes under [paths] data_dir (as rft-eval --out and output_dir go under output_dir), not the current folder."
    root, cwd = settings_root(tmp_path)
    r = run('rft-data', ['synthetic', 'counting', '--n-train', '4', '--n-test', '2', '--size', '56', '--out', 'cnt'], clean_env(), cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (root / 'data' / 'cnt' / 'build_report.json').is_file() and not (cwd / 'cnt').exists()
    assert str(root / 'data' / 'cnt') in r.stdout


def test_not_found_names_every_place_looked(tmp_path):
    "A dataset or run that is neither in the current folder nor under its settings folder: one error line naming both places."
    root, cwd = settings_root(tmp_path)
    env = clean_env()
    for cmd, args, what in [('rft-eval', ['--data', 'nope'], 'dataset'),
                            ('rft-sft', ['--dataset_path', 'nope', '--output_dir', 'x'], 'dataset_path'),
                            ('rft-report', ['nope'], 'run')]:
        key = 'output_dir' if cmd == 'rft-report' else 'data_dir'
        one_error_line(run(cmd, args, env, cwd), cmd, f"{what} 'nope' not found", str(cwd / 'nope'), '(the current folder)',
                       str(root / {'data_dir': 'data', 'output_dir': 'outputs'}[key] / 'nope'),
                       f'[paths] {key}', str(root / 'settings.ini'))


def test_a_misspelt_settings_variable_is_an_error(tmp_path):
    "RFT_NB_PATHS_DATA_DR is refused, as --set paths.data_dr is; the project's other RFT_NB_ variables are not settings."
    _, cwd = settings_root(tmp_path)
    args = ['synthetic', 'counting', '--n-train', '2', '--n-test', '1', '--size', '56', '--out', 'c']
    one_error_line(run('rft-data', args, clean_env(RFT_NB_PATHS_DATA_DR='/x'), cwd), 'rft-data', '$RFT_NB_PATHS_DATA_DR',
                   'is not a setting', 'RFT_NB_PATHS_DATA_DIR')
    one_error_line(run('rft-data', ['--set', 'paths.data_dr=/x', *args], clean_env(), cwd), 'rft-data', 'paths.data_dr')
    assert run('rft-data', args, clean_env(RFT_NB_CPU='1', RFT_NB_WHEELS='/w'), cwd).returncode == 0


def test_train_help_shows_ours_first(tmp_path):
    "`rft-sft --help` is short and names --config, --dry-run, --settings, --set; `--help-all` is TRL's full list; --set works."
    _, cwd = settings_root(tmp_path)
    for cmd in ('rft-sft', 'rft-grpo'):
        r = run(cmd, ['--help'], clean_env(), cwd)
        assert r.returncode == 0, r.stderr[-3000:]
        assert len(r.stdout.splitlines()) < 120, len(r.stdout.splitlines())
        for opt in ('--config', '--dry-run', '--settings', '--set', '--help-all', '--dataset_path', '--output_dir', '--max_steps'):
            assert opt in r.stdout, (cmd, opt)
        assert r.stdout.index('--config') < r.stdout.index('--dataset_path') < r.stdout.index('--max_steps')
    r = run('rft-grpo', ['--help-all'], clean_env(), cwd)
    assert r.returncode == 0 and len(r.stdout.splitlines()) > 500 and '--adam_beta1' in r.stdout
    one_error_line(run('rft-sft', ['--set', 'paths.data_dr=/x', '--dataset_path', 'd'], clean_env(), cwd), 'rft-sft', 'paths.data_dr')
    one_error_line(run('rft-sft', ['--set', 'paths.data_dir=/nowhere', '--dataset_path', 'd', '--output_dir', 'x'], clean_env(), cwd),
                   'rft-sft', "dataset_path 'd' not found", '/nowhere/d')
