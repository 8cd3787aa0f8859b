"""Data-layer speed figures (prints, does not assert).

    python benchmarks/data_bench.py [--n-images 1000] [--size 448] [--rows 100000]

1. Synthetic generation, one core, images/s at --size px, per family (PNG, compress_level=1).
2. Custom JSON of --rows rows -> dataset on disk: wall time and peak RSS of the build (run in a subprocess).
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path

def synth(n, size):
    from rft_nb.synthetic import synthetic_rows, GENERATORS
    for fam in GENERATORS:
        split = 'train'
        t = time.perf_counter(); k = sum(len(r['images']) for r in synthetic_rows(fam, n, split, seed=0, size=size))
        dt = time.perf_counter() - t
        print(f"synthetic {fam:<15} {size}px: {k / dt:8.1f} images/s ({n} rows, {dt:.2f} s)")

CHILD = r'''
import sys, time, resource
t = time.perf_counter()
from rft_nb.builders import from_json
ds = from_json(sys.argv[1], sys.argv[2], sys.argv[3])
dt = time.perf_counter() - t
print(ds.num_rows, dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
'''

def custom_json(rows, n_images=1000):
    from PIL import Image
    d = Path(tempfile.mkdtemp()); (d / 'img').mkdir()
    for i in range(n_images): Image.new('RGB', (320 + i % 7, 240), (i % 255, 0, 0)).save(d / f'img/{i:05d}.jpg')
    data = [{'id': f'r{i}', 'image': f'{i % n_images:05d}.jpg', 'problem': f'How many objects are there in picture {i}?',
             'solution': f'<answer>{i % 10}</answer>'} for i in range(rows)]
    (d / 'rows.json').write_text(json.dumps(data)); del data
    r = subprocess.run([sys.executable, '-c', CHILD, str(d / 'rows.json'), str(d / 'img'), str(d / 'out')], capture_output=True, text=True, check=True)
    n, dt, rss_kb = r.stdout.split()[-3:]
    print(f"custom JSON {int(n)} rows ({n_images} distinct images) -> dataset on disk: {float(dt):.1f} s wall (incl. imports), "
          f"peak RSS {int(rss_kb) / 1024:.0f} MB")

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--n-images', type=int, default=1000); ap.add_argument('--size', type=int, default=448)
    ap.add_argument('--rows', type=int, default=100_000); ap.add_argument('--distinct-images', type=int, default=1000)
    a = ap.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    synth(a.n_images, a.size)
    custom_json(a.rows, a.distinct_images)
