"""The documentation site `make docs` builds into `_docs/`: a page for every notebook, every page rendered by a real
headless browser (Debian's chromium) with its figures loaded, no stored errors, and no broken internal link.
The checks are first shown to catch a broken image and a broken link on a tiny site built the same way."""
import base64, html, importlib.util, io, os, re, shutil, subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat, pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / '_docs'
NBS = ROOT / 'nbs'
SITE_URL = 'https://rft-nb.github.io/rft_nb'          # [tool.nbdev] doc_host + doc_baseurl
REPO_URL = 'https://github.com/rft-nb/rft_nb/blob/main/'
CHROMIUM = next((shutil.which(n) for n in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason='chromium not installed (apt-get install -y chromium)')


def _docs_module():
    spec = importlib.util.spec_from_file_location('docs_build', ROOT / 'scripts' / 'docs.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def site():
    if not (SITE / 'index.html').exists():
        if os.environ.get('CI'): pytest.fail('_docs/ is missing: CI must run `make docs` before the tests')
        pytest.skip('no built site: run `make docs` first (`make test` does)')
    return SITE


class Refs(HTMLParser):
    "Every id, every link/image target, and the <img> sources and probe marks of one HTML page."
    def __init__(self):
        super().__init__()
        self.ids, self.refs, self.imgs = set(), [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        if tag == 'a' and a.get('name'): self.ids.add(a['name'])
        for k in ('href', 'src'):
            if a.get(k) and tag in ('a', 'img', 'link', 'script', 'source', 'iframe'): self.refs.append(a[k])
        if tag == 'img': self.imgs.append(a)


def parse(text):
    p = Refs()
    p.feed(text)
    return p


def broken_links(site):
    "Internal links of every page of `site` whose file, or anchor in it, does not exist; with the page they are on."
    pages = sorted(site.rglob('*.html'))
    ids = {p: parse(p.read_text()).ids for p in pages}
    bad = []
    for page in pages:
        for ref in parse(page.read_text()).refs:
            u = urlsplit(ref)
            if u.scheme in ('data', 'mailto', 'javascript'): continue
            if ref.startswith(SITE_URL):
                bad.append((page, ref, 'points at the published site, not at the local page'))
                continue
            if ref.startswith(REPO_URL):            # "source" links: the file (and line) must exist in this repo
                f = ROOT / unquote(u.path[len(urlsplit(REPO_URL).path):])
                line = re.fullmatch(r'L(\d+)', u.fragment or '')
                if not f.is_file(): bad.append((page, ref, 'no such file in the repository'))
                elif line and int(line.group(1)) > len(f.read_text().splitlines()): bad.append((page, ref, 'past the end'))
                continue
            if u.scheme or u.netloc: continue       # other sites: not checked offline
            target = (page.parent / unquote(u.path)).resolve() if u.path else page
            if target.is_dir(): target = target / 'index.html'
            if not target.exists(): bad.append((page, ref, 'no such file'))
            elif u.fragment and target.suffix == '.html' and unquote(u.fragment) not in ids.get(target, set()):
                bad.append((page, ref, 'no such anchor'))
    return bad


PROBE = """<script>
window.addEventListener('load', () => {
  for (const im of document.images) im.setAttribute('data-probe', im.complete && im.naturalWidth > 0 ? 'loaded' : 'broken');
  document.body.setAttribute('data-probed', document.images.length);
});
</script>"""


def render_in_chromium(page, tmp_path):
    "The page's DOM after a headless chromium loaded it; every <img> is marked `loaded` or `broken` by the browser."
    probe = tmp_path / f'probe-{page.stem}.html'
    text = page.read_text()
    probe.write_text(text.replace('<head>', f'<head><base href="{page.parent.as_uri()}/">', 1).replace('</body>', PROBE + '</body>', 1))
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
             '--disable-sync', '--no-first-run', f'--user-data-dir={tmp_path / "profile"}', '--virtual-time-budget=5000']
    r = subprocess.run([CHROMIUM, *flags, '--dump-dom', probe.as_uri()], capture_output=True, text=True, timeout=120)
    assert 'data-probed=' in r.stdout, f'{page}: chromium did not load the page\n{r.stderr[-2000:]}'
    return r.stdout


def image_outputs(nb_path):
    "How many figures the notebook's shown cells hold in their outputs (what its page must show)."
    nb = nbformat.read(nb_path, as_version=4)
    n = 0
    for c in nb.cells:
        if c.cell_type != 'code' or re.search(r'^#\|\s*(hide|include:\s*false|output:\s*false)', c.source, re.M): continue
        n += sum(1 for o in c.get('outputs', []) if any(k.startswith('image/') for k in o.get('data', {})))
    return n


def expected_page(nb_path):
    "Where nbdev puts a notebook's page: `<default_exp>.html` for a module, `<stem>.html` otherwise, beside it."
    src = nb_path.read_text()
    m = re.search(r'#\|\s*default_exp\s+([\w.]+)', src)
    rel = nb_path.relative_to(NBS)
    return rel.parent / (f'{m.group(1)}.html' if m else f'{nb_path.stem}.html')


def notebooks():
    return sorted(p for p in NBS.rglob('*.ipynb') if not any(q.startswith(('.', '_')) for q in p.relative_to(NBS).parts))


# --- the checks catch what they are for, on a tiny site built the same way ---------------------------------------

def _png(color, size=(40, 30)):
    buf = io.BytesIO()
    Image.new('RGB', size, color).save(buf, 'PNG')
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope='module')
def tiny_site(tmp_path_factory):
    "Two processed notebooks as nbdev leaves them (front matter, `#|` options, show_doc markdown) rendered to a site."
    tmp = tmp_path_factory.mktemp('tiny')
    proc = tmp / 'proc'
    (proc / 'tutorials').mkdir(parents=True)
    front = "---\ntitle: Geometry\ndescription: 'Box math: `box_iou`.'\noutput-file: geometry.html\n---\n"
    shown = nbformat.v4.new_code_cell('#| echo: false\n#| output: asis\nshow_doc(box_iou)', outputs=[nbformat.v4.new_output(
        'execute_result', execution_count=1, data={'text/plain': 'x', 'text/markdown':
        '---\n\n[source](https://github.com/rft-nb/rft_nb/blob/main/rft_nb/geometry.py#L1){target="_blank" style="float:right"}'
        '\n\n### box_iou\n\n*IoU.*'})])
    figure = nbformat.v4.new_code_cell('plot()', outputs=[nbformat.v4.new_output('display_data', data={'image/png': _png('red'), 'text/plain': 'fig'})])
    hidden = nbformat.v4.new_code_cell('#| include: false\nsecret()', outputs=[nbformat.v4.new_output('stream', text='SECRET')])
    geo = nbformat.v4.new_notebook(cells=[nbformat.v4.new_raw_cell(front), nbformat.v4.new_markdown_cell(
        '## Use\nSee [the tutorial](tutorials/walk.ipynb#step-one) and [`box_iou`](https://rft-nb.github.io/rft_nb/geometry.html#box_iou).'),
        shown, figure, hidden])
    walk = nbformat.v4.new_notebook(cells=[nbformat.v4.new_raw_cell('---\ntitle: A walk\noutput-file: walk.html\n---\n'),
        nbformat.v4.new_markdown_cell('## Step one\nBack to [geometry](../02_geometry.ipynb#use); [gone](../99_gone.ipynb).'),
        nbformat.v4.new_code_cell('broken()', outputs=[nbformat.v4.new_output('display_data', data={'image/png': 'bm90IGEgcG5n', 'text/plain': 'x'})])])
    nbformat.write(geo, proc / '02_geometry.ipynb')
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# tiny\nSee [geometry](02_geometry.ipynb), [as the README links it](nbs/02_geometry.ipynb).')]),
                   proc / 'index.ipynb')
    nbformat.write(walk, proc / 'tutorials' / 'walk.ipynb')
    out = tmp / 'site'
    _docs_module().render(proc, out, 'tiny', SITE_URL, quiet=True)
    return out


def test_tiny_site_pages_options_and_links(tiny_site):
    geo = (tiny_site / 'geometry.html').read_text()
    assert (tiny_site / 'tutorials' / 'walk.html').is_file() and (tiny_site / 'site.css').is_file()
    assert '<h1 class="title">Geometry</h1>' in geo and '<code>box_iou</code>' in geo.split('<main>')[1].split('</header>')[0]
    assert 'show_doc' not in geo and 'SECRET' not in geo and 'secret()' not in geo and '#|' not in geo   # options applied
    assert '>plot<' in geo                                                                                # shown code stays
    assert '{target=' not in geo and 'target="_blank"' in geo                                             # pandoc attributes
    assert 'id="box_iou"' in geo and 'href="tutorials/walk.html#step-one"' in geo and 'href="geometry.html#box_iou"' in geo
    assert 'href="../geometry.html#use"' in (tiny_site / 'tutorials' / 'walk.html').read_text()
    assert (tiny_site / 'index.html').read_text().split('<main>')[1].count('href="geometry.html"') == 2   # the index is the README: repository paths too
    bad = broken_links(tiny_site)
    assert [(p.name, ref, why) for p, ref, why in bad] == [('walk.html', '../99_gone.ipynb', 'no such file')]


@needs_chromium
def test_tiny_site_images_load_or_are_caught(tiny_site, tmp_path):
    geo = parse(render_in_chromium(tiny_site / 'geometry.html', tmp_path))
    assert [i['data-probe'] for i in geo.imgs] == ['loaded']
    assert geo.imgs[0]['src'].startswith('data:image/png;base64,')
    walk = parse(render_in_chromium(tiny_site / 'tutorials' / 'walk.html', tmp_path))
    assert [i['data-probe'] for i in walk.imgs] == ['broken']                   # a PNG that is not one is caught


# --- the real site ---------------------------------------------------------------------------------------------

def test_every_notebook_has_its_page(site):
    for nb in notebooks():
        page = site / expected_page(nb)
        assert page.is_file(), f'{nb.relative_to(ROOT)} has no page {page.relative_to(ROOT)}: run `make docs`'
        md = '\n'.join(c.source for c in nbformat.read(nb, as_version=4).cells if c.cell_type == 'markdown')
        title = re.search(r'^# (.+)$', md, re.M)
        h1 = re.search(r'<h1 class="title">(.*?)</h1>', page.read_text())
        assert h1 and title and html.unescape(h1.group(1)) == title.group(1).strip(), (nb, h1, title)


def test_no_broken_internal_links(site):
    bad = broken_links(site)
    assert not bad, '\n'.join(f'{p.relative_to(site)}: {ref} ({why})' for p, ref, why in bad)
    n_links = sum(len(parse(p.read_text()).refs) for p in site.rglob('*.html'))
    assert n_links > 100                                                       # the check saw the site's links


def test_no_stored_errors(site):
    for page in site.rglob('*.html'):
        assert 'output_error' not in page.read_text(), f'{page.relative_to(site)} shows a stored exception'


@needs_chromium
def test_every_page_renders_with_its_figures(site, tmp_path):
    for nb in notebooks():
        page = site / expected_page(nb)
        dom = parse(render_in_chromium(page, tmp_path))
        broken = [i.get('src', '')[:80] for i in dom.imgs if i.get('data-probe') != 'loaded']
        assert not broken, f'{page.relative_to(site)}: images that did not load: {broken}'
        n_figs = image_outputs(nb)
        n_loaded = sum(1 for i in dom.imgs if i.get('data-probe') == 'loaded')
        assert n_loaded >= n_figs, f'{page.relative_to(site)} shows {n_loaded} images, its notebook holds {n_figs} figures'
        assert len(dom.ids) > 3, f'{page.relative_to(site)} rendered almost nothing'
