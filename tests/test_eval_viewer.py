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

def _training_rollouts(tmp_path, n_prompts=2, g=4):
    "Rollouts as `RolloutRecorder` writes them: no image per completion, one thumbnail per prompt beside them."
    from rft_nb.rollouts import image_thumbnail
    ro, ims = [], []
    for k in range(n_prompts):
        ims.append(dict(id=f'det-{k}', thumb=image_thumbnail(Image.new('RGB', (64, 64), BLUE)), task='detection',
                        image_size=[64, 64], box_convention='norm1000'))
        for j in range(g):
            ans = "[{'Position': [100, 100, 600, 900], 'Confidence': 0.9}]" if j == 0 else 'No Objects'
            ro.append(dict(step=1, id=f'det-{k}', prompt='Find the squares.', completion=f'<think>x</think><answer>{ans}</answer>',
                           rewards={'detection': float(j == 0)}, group='keep'))
    (tmp_path / 'rollouts.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in ro))
    (tmp_path / 'rollouts_images.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in ims))
    return write_rollout_viewer(tmp_path / 'rollouts.jsonl')

def test_training_rollouts_inline_each_thumbnail_once(tmp_path):
    txt = _training_rollouts(tmp_path, n_prompts=3, g=4).read_text()
    assert txt.count('<tr class="row"') == 12 and txt.count('data:image/jpeg;base64,') == 3
    assert txt.count('<rect ') == 3                                               # the completion with a box, per prompt
    assert '<rect x="6.4" y="6.4" width="32.0" height="51.2"' in txt              # 0-1000 back to the 64 px image

@needs_chromium
def test_viewer_shows_thumbnail_with_box(tmp_path):
    "In a browser: the thumbnail (blue) is drawn from the page's store and the predicted box (red) on it."
    page = _training_rollouts(tmp_path, n_prompts=1, g=2)
    shot = tmp_path / 'thumb.png'
    _chromium(tmp_path, '--window-size=1280,600', f'--screenshot={shot}', page.as_uri())
    assert _count(shot, BLUE, tol=40) > 60 * 60                                   # the 112 px thumbnail, at least once
    assert _count(shot, (230, 0, 0), tol=40) > 100                                # the box outline

def test_ten_thousand_rollouts_page_is_bounded(tmp_path):
    "10,000 rollouts of 1,250 prompts: each thumbnail once; the page stays around 11 MB, 5,000 rows by default."
    from rft_nb.rollouts import image_thumbnail
    from rft_nb.synthetic import counting_rows
    rows = list(counting_rows(1250, 'train', 0, 112))
    ims = [dict(id=r['id'], thumb=image_thumbnail(r['images'][0]), task='counting', image_size=r['image_size']) for r in rows]
    ro = [dict(step=1 + k // 4, id=r['id'], prompt=r['problem'], rewards={'format': 1.0, 'counting': float(j % 2)}, group='keep',
               completion=f"<think>I see {j % 3 + 1} circles and 2 triangles. In total there are {j % 3 + 3}.</think><answer>{j % 3 + 3}</answer>")
          for k, r in enumerate(rows) for j in range(8)]
    (tmp_path / 'rollouts.jsonl').write_text(''.join(json.dumps(x) + '\n' for x in ro))
    (tmp_path / 'rollouts_images.jsonl').write_text(''.join(json.dumps(x) + '\n' for x in ims))
    full = write_rollout_viewer(tmp_path / 'rollouts.jsonl', tmp_path / 'full.html', max_rows=None)
    capped = write_rollout_viewer(tmp_path / 'rollouts.jsonl', tmp_path / 'capped.html')
    mb = lambda p: p.stat().st_size / 2 ** 20
    assert full.read_text().count('data:image/jpeg;base64,') == 1250
    assert 8 < mb(full) < 14 and mb(capped) < 7, (mb(full), mb(capped))
