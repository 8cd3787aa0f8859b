#!/usr/bin/env python
"""Build the documentation site from the notebooks into `_docs/` (nbdev's `doc_path`), offline.

`nbdev-docs` renders with Quarto, and Quarto cannot be installed here: the `quarto-cli` package on PyPI is
a 4.7 kB source archive whose build downloads the Quarto binary from GitHub, which no machine of this
project can reach (Debian has no Quarto package either). So the site is built in two steps:

1. nbdev's own doc processing (`nbdev.serve.proc_nbs`, the step `nbdev-docs` runs before Quarto): hidden
   cells dropped, `show_doc` for every exported name, backticked names linked to their docs, written to
   `_proc/`.
2. What Quarto would then do, for the cell options nbdev emits: each processed notebook rendered by
   nbconvert to HTML (`echo: false` hides the code, `output: false` the outputs, `include: false` both,
   `#|` lines are dropped), figures embedded as data URLs, links to `.ipynb` and to the published site
   (`doc_host` + `doc_baseurl`) rewritten to the local pages, headings given pandoc's identifiers (the
   anchors nbdev's links point at), and a sidebar in nbdev's order (index, notebooks, then one section
   per subfolder).

Usage: `python scripts/docs.py [--out DIR]` (`make docs`). Prints the build time.
"""
import argparse, html, posixpath, re, shutil, time
from pathlib import Path
from urllib.parse import urlsplit

import nbformat, yaml
from bs4 import BeautifulSoup
from nbconvert import HTMLExporter
from nbconvert.filters import markdown2html
from pygments.formatters import HtmlFormatter

ROOT = Path(__file__).resolve().parents[1]
STYLE = """
body { margin: 0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; color: #212529; display: flex; }
nav.sidebar { width: 250px; flex: none; padding: 1.2rem 1rem; border-right: 1px solid #dee2e6; height: 100vh;
  position: sticky; top: 0; overflow-y: auto; box-sizing: border-box; font-size: 0.92rem; }
nav.sidebar a { display: block; padding: 0.15rem 0.3rem; color: #343a40; text-decoration: none; border-radius: 3px; }
nav.sidebar a:hover { background: #e9ecef; }
nav.sidebar a.active { background: #2780e3; color: #fff; }
nav.sidebar .section { margin-top: 0.8rem; font-weight: 600; color: #6c757d; text-transform: capitalize; }
nav.sidebar .site-title { font-size: 1.2rem; font-weight: 700; margin-bottom: 0.8rem; }
main { flex: 1; min-width: 0; max-width: 960px; padding: 1.5rem 2.5rem 4rem; }
header .description { color: #6c757d; font-size: 1.1rem; }
a { color: #2780e3; }
pre, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.88em; }
div.highlight pre, .output_text pre, .output_stream pre { background: #f8f9fa; padding: 0.6rem 0.8rem;
  border-radius: 4px; overflow-x: auto; }
.output_text pre, .output_stream pre { background: #fff; border-left: 3px solid #dee2e6; }
.output_error pre { background: #fff5f5; }
.input_area { margin: 0.8rem 0 0.3rem; }
.output_png img, .output_jpeg img, .output_svg svg, .rendered_html img { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #dee2e6; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f8f9fa; }
.anchor-link { visibility: hidden; margin-left: 0.3rem; text-decoration: none; }
h1:hover .anchor-link, h2:hover .anchor-link, h3:hover .anchor-link, h4:hover .anchor-link { visibility: visible; }
hr { border: 0; border-top: 1px solid #dee2e6; margin: 1.5rem 0 0.5rem; }
"""
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – {site}</title>
<meta name="description" content="{description_attr}">
<link rel="stylesheet" href="{root}site.css">
</head>
<body>
<nav class="sidebar">
<div class="site-title"><a href="{root}index.html">{site}</a></div>
{nav}
</nav>
<main>
<header><h1 class="title">{title}</h1>
<div class="description">{description}</div></header>
{body}
</main>
</body>
</html>
"""
OPTION = re.compile(r'^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$')
PANDOC_LINK_ATTRS = re.compile(r'\[([^\]]*)\]\(([^)\s]+)\)\{([^}]*)\}')
CELL_KEYS = {'cell_type', 'id', 'metadata', 'source', 'outputs', 'execution_count', 'attachments'}
ATTR = re.compile(r'([\w-]+)="([^"]*)"')


def pandoc_id(text, seen):
    "The identifier pandoc (and so Quarto) gives a heading; `seen` de-duplicates within a page as pandoc does."
    s = re.sub(r'[^\w\s.-]', '', text.strip().lower())
    s = re.sub(r'\s+', '-', s)
    s = re.sub(r'^[^a-z]+', '', s) or 'section'
    base, n = s, 0
    while s in seen:
        n += 1
        s = f'{base}-{n}'
    seen.add(s)
    return s


def _attrs_link(m):
    "A pandoc link with attributes (`[source](url){target=\"_blank\" ...}`, as nbdev writes) as an HTML link."
    attrs = ' '.join(f'{k}="{html.escape(v)}"' for k, v in ATTR.findall(m.group(3)))
    return f'<a href="{html.escape(m.group(2))}" {attrs}>{m.group(1)}</a>'


def cell_options(cell):
    "Quarto cell options (`#| key: value`) as a dict, and the source without those lines."
    opts, keep = {}, []
    for line in cell.source.splitlines():
        m = OPTION.match(line)
        if m: opts[m.group(1)] = str(m.group(2)).strip().lower()
        elif not line.startswith('#|'): keep.append(line)
    return opts, '\n'.join(keep).strip('\n')


def prepare(nb):
    "Apply the Quarto cell options nbdev emits; returns the page's title and description from the front matter."
    front, cells = {}, []
    for cell in nb.cells:
        for k in set(cell) - CELL_KEYS: del cell[k]  # nbdev's own marks (`has_sd`) are not nbformat
        cell.metadata.pop('execution', None)  # nbdev's timings (floats where nbformat wants strings)
        if cell.cell_type == 'raw' and cell.source.lstrip().startswith('---'):
            front.update(yaml.safe_load(cell.source.strip().strip('-')) or {})
            continue
        if cell.cell_type == 'markdown':
            cell.source = PANDOC_LINK_ATTRS.sub(_attrs_link, cell.source)
        if cell.cell_type != 'code':
            cells.append(cell)
            continue
        opts, cell.source = cell_options(cell)
        if opts.get('include') == 'false': continue
        if opts.get('output') == 'false': cell.outputs = []
        if opts.get('echo') == 'false' or not cell.source:
            cell.metadata.setdefault('transient', {})['remove_source'] = True
        for o in cell.outputs:
            md = o.get('data', {}).get('text/markdown')
            if md: o['data']['text/markdown'] = PANDOC_LINK_ATTRS.sub(_attrs_link, md)
        if cell.source or cell.outputs: cells.append(cell)
    nb.cells = cells
    return front


def page_name(proc_nb, nbs):
    "Where Quarto writes a notebook's page: its front matter's `output-file`, beside the notebook."
    nb = nbformat.read(proc_nb, as_version=4)
    front = {}
    if nb.cells and nb.cells[0].cell_type == 'raw' and nb.cells[0].source.lstrip().startswith('---'):
        front = yaml.safe_load(nb.cells[0].source.strip().strip('-')) or {}
    rel = proc_nb.relative_to(nbs)
    return rel.parent / front.get('output-file', rel.with_suffix('.html').name), front


def nav_html(pages, current, root):
    "The sidebar: index first, then top-level notebooks in file order, then a section per subfolder."
    def key(src): return (len(src.parts) > 1, src.parts[:-1], src.name != 'index.ipynb', src.name)
    out, section = [], ()
    for src in sorted(pages, key=key):
        out_path, title = pages[src]
        if src.parts[:-1] != section:
            section = src.parts[:-1]
            out.append(f'<div class="section">{html.escape("/".join(section))}</div>')
        active = ' class="active"' if out_path == current else ''
        out.append(f'<a href="{root}{out_path.as_posix()}"{active}>{html.escape(title)}</a>')
    return '\n'.join(out)


def relative(target, page):
    "`target` (site-relative) as seen from `page` (site-relative)."
    up = '../' * (len(page.parts) - 1)
    return up + target.as_posix()


def fix_links(soup, page, src, pages_by_nb, site_url):
    "Local links: `.ipynb` and the published site's URLs to the local pages; headings get pandoc's identifiers."
    seen, renamed = set(), {}
    for h in soup.find_all(re.compile(r'^h[1-6]$')):
        old = h.get('id')
        for a in h.find_all('a', class_='anchor-link'): a.extract()
        new = pandoc_id(h.get_text(), seen)
        h['id'] = new
        if old: renamed[old] = new
        anchor = soup.new_tag('a', href=f'#{new}', attrs={'class': 'anchor-link'})
        anchor.string = '¶'
        h.append(anchor)
    for a in soup.find_all('a', href=True):
        href = a['href']
        if href.startswith('#'):
            a['href'] = '#' + renamed.get(href[1:], href[1:])
            continue
        if site_url and href.startswith(site_url):
            a['href'] = relative(Path(href[len(site_url):].lstrip('/') or 'index.html'), page)
            continue
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path.endswith('.ipynb'): continue
        target = pages_by_nb.get(posixpath.normpath(posixpath.join(src.parent.as_posix(), parts.path)))
        if target is None and src.as_posix() == 'index.ipynb' and parts.path.startswith('nbs/'):
            target = pages_by_nb.get(posixpath.normpath(parts.path[len('nbs/'):]))  # the index is the README: repository paths
        if target is None: continue  # left as it is: the link check reports it
        a['href'] = relative(target, page) + (f'#{parts.fragment}' if parts.fragment else '')


def copy_local_assets(soup, proc_dir, src, out, page):
    "Files a page refers to by a relative path (images in markdown) are copied beside the page."
    for tag, attr in (('img', 'src'), ('a', 'href'), ('source', 'src')):
        for el in soup.find_all(tag, **{attr: True}):
            parts = urlsplit(el[attr])
            if parts.scheme or parts.netloc or not parts.path or parts.path.endswith(('.html', '.ipynb')): continue
            f = (proc_dir / src.parent / parts.path)
            if f.is_file():
                dest = out / page.parent / parts.path
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, dest)


def render(proc_dir, out, site_title, site_url='', quiet=False):
    "Render every processed notebook under `proc_dir` to a page of the site in `out`. Returns the pages built."
    proc_dir, out = Path(proc_dir), Path(out)
    proc = sorted(p for p in proc_dir.rglob('*.ipynb') if not any(q.startswith('.') for q in p.parts))
    pages = {}
    for p in proc:
        src = p.relative_to(proc_dir)
        page, front = page_name(p, proc_dir)
        pages[src] = (page, str(front.get('title') or src.stem))
    pages_by_nb = {src.as_posix(): page for src, (page, _) in pages.items()}
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / 'site.css').write_text(STYLE + HtmlFormatter(style='default').get_style_defs('.highlight'))
    exporter = HTMLExporter(template_name='basic', exclude_input_prompt=True, exclude_output_prompt=True)
    for p in proc:
        src = p.relative_to(proc_dir)
        page = pages[src][0]
        nb = nbformat.read(p, as_version=4)
        front = prepare(nb)
        body, _ = exporter.from_notebook_node(nb)
        soup = BeautifulSoup(body, 'html.parser')
        fix_links(soup, page, src, pages_by_nb, site_url)
        copy_local_assets(soup, proc_dir, src, out, page)
        desc = str(front.get('description') or '')
        desc_html = BeautifulSoup(markdown2html(desc), 'html.parser')
        fix_links(desc_html, page, src, pages_by_nb, site_url)
        root = '../' * (len(page.parts) - 1)
        text = PAGE.format(title=html.escape(pages[src][1]), site=html.escape(site_title), root=root,
                           description_attr=html.escape(desc), description=str(desc_html),
                           nav=nav_html(pages, page, root), body=str(soup))
        (out / page).parent.mkdir(parents=True, exist_ok=True)
        (out / page).write_text(text)
        if not quiet: print(f'{src} -> {out.name}/{page.as_posix()}')
    return [out / page for page, _ in pages.values()]


def build(out=None, n_workers=2, quiet=False):
    "nbdev's doc processing of the notebooks into `_proc/`, then the site into `out` (default `_docs/`)."
    from nbdev.config import get_config
    from nbdev.serve import proc_nbs
    cfg = get_config()
    proc_dir = proc_nbs(str(cfg.nbs_path), n_workers=n_workers)
    site_url = f'{cfg.doc_host}{cfg.doc_baseurl}'.rstrip('/') if cfg.get('doc_host') else ''
    return render(proc_dir, out or cfg.doc_path, cfg.get('title', cfg.lib_name), site_url, quiet=quiet)


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', help="output folder (default: nbdev's doc_path, _docs)")
    ap.add_argument('--n-workers', type=int, default=2, help="nbdev's notebook processing workers")
    args = ap.parse_args()
    t0 = time.time()
    built = build(args.out, args.n_workers)
    print(f'docs: {len(built)} pages in {time.time() - t0:.1f} s')
