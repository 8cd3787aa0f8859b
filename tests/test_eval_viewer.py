"The rollout viewer in a real headless browser (Debian's chromium): rows render, images load, URL filters work; plots are real images."
import base64, io, json, shutil, subprocess
import pytest
from PIL import Image

from rft_nb.report import write_rollout_viewer, plot_curves, draw_boxes, PRED_COLOR, GT_COLOR

CHROMIUM = next((shutil.which(n) for n in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason='chromium not installed (apt-get install -y chromium); the viewer browser test needs it')

RED, BLUE = (255, 0, 0), (0, 0, 255)

def _b64(color):
    buf = io.BytesIO(); Image.new('RGB', (64, 64), color).save(buf, 'PNG'); return base64.b64encode(buf.getvalue()).decode()

@pytest.fixture
def viewer(tmp_path):
    "Eight rollouts: hacked ones (empty answer, accuracy 1 under the paper rule) on red images, honest ones on blue."
    ro = []
    for i in range(8):
        hack = i % 2 == 0
        ro.append(dict(step=i // 2, id=f'cls-{i}', prompt='Which flower is this? <image>',
                       completion='<think>hm</think><answer></answer>' if hack else f'<think>petals</think><answer>rose {i}</answer>',
                       image=_b64(RED if hack else BLUE), rewards={'accuracy': 1.0 if hack else float(i % 3 == 1), 'format': 1.0}))
    (tmp_path / 'ro.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in ro) + '{"torn": ')
    return write_rollout_viewer(tmp_path / 'ro.jsonl')

def _chromium(tmp_path, *args, timeout=60):
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
             '--disable-sync', '--no-first-run', f'--user-data-dir={tmp_path / "profile"}', '--virtual-time-budget=5000']
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=timeout)

def _count(png, color, tol=8):
    im = Image.open(png).convert('RGB')
    return sum(1 for p in im.getdata() if all(abs(a - b) <= tol for a, b in zip(p, color)))

@needs_chromium
def test_viewer_screenshot_shows_rows_and_images(viewer, tmp_path):
    shot = tmp_path / 'shot.png'
    _chromium(tmp_path, '--window-size=1280,1400', f'--screenshot={shot}', viewer.as_uri())
    im = Image.open(shot).convert('RGB')
    assert im.size == (1280, 1400)
    assert len(set(im.resize((320, 350)).getdata())) > 50                       # not blank
    # images are put in place by the page's script from its inline store: both colours visible means
    # the script ran and the rows rendered (each thumbnail is 64x64 px)
    assert _count(shot, RED) > 3 * 64 * 64 and _count(shot, BLUE) > 3 * 64 * 64

@needs_chromium
def test_viewer_filters_from_url(viewer, tmp_path):
    # accuracy >= 1 and no answer text: the reward hacks only
    r = _chromium(tmp_path, '--dump-dom', viewer.as_uri() + '#reward=accuracy&min=1&q=<answer></answer>')
    dom = r.stdout
    assert 'showing 4 of 8' in dom, dom[-2000:]
    assert dom.count('class="row hidden"') == 4
    shot = tmp_path / 'hacks.png'
    _chromium(tmp_path, '--window-size=1280,1400', f'--screenshot={shot}', viewer.as_uri() + '#reward=accuracy&min=1&q=<answer></answer>')
    assert _count(shot, RED) > 3 * 64 * 64 and _count(shot, BLUE) == 0           # only the hacked rows remain on screen
    # excluding text, and sorting
    dom = _chromium(tmp_path, '--dump-dom', viewer.as_uri() + '#q=!rose&sort=0:asc').stdout
    assert 'showing 4 of 8' in dom

def test_viewer_is_self_contained(viewer):
    txt = viewer.read_text()
    assert txt.count('<tr class="row"') == 8
    assert txt.count('"data:image/png;base64,') == 2                             # two distinct images, each inlined once
    assert '<script src' not in txt and 'http://' not in txt and 'https://' not in txt and '<link' not in txt

def test_plots_are_real_images(tmp_path):
    hist = [{'step': s, 'reward': s / 10, 'rewards/accuracy/mean': s / 20} for s in range(1, 11)]
    (tmp_path / 'trainer_state.json').write_text(json.dumps({'log_history': hist}))
    plot_curves(tmp_path, out=tmp_path / 'c.png')
    im = Image.open(tmp_path / 'c.png')
    assert im.size[0] > 500 and len(set(im.convert('RGB').resize((100, 50)).getdata())) > 10
    b = draw_boxes(Image.new('RGB', (50, 50), 'white'), [[5, 5, 20, 20, 0.5]], [[30, 30, 45, 45]])
    assert b.getpixel((5, 12)) == PRED_COLOR and b.getpixel((30, 40)) == GT_COLOR
