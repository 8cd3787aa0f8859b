#!/usr/bin/env python
"""Oxford-IIIT Pets37 few-shot classification.

Raw layout:
    oxford-iiit-pet/annotations/list.txt   lines "Abyssinian_100 1 1 1" (image name, class id, species, breed id)
    oxford-iiit-pet/images/Abyssinian_100.jpg
Usage:
    python data_builders/pets37.py --root oxford-iiit-pet --k-shot 4 --out data/pets37_4shot
    (also accepts --folder / --labels like the other classification builders)
"""
import argparse, sys, tempfile
from pathlib import Path
from rft_nb.builders import main

def run(argv=None):
    "Write the dataset's own list as an (image, label) file, then build with `rft-data classification --labels`."
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument('--root', required=True, help='oxford-iiit-pet folder (annotations/list.txt, images/)')
    ap.add_argument('--list', default='annotations/list.txt', help='annotation list inside --root (list.txt, trainval.txt or test.txt)')
    a, rest = ap.parse_known_args()
    root = Path(a.root); pairs = []
    for line in (root / a.list).read_text().splitlines():
        if not line.strip() or line.startswith('#'): continue
        name = line.split()[0]
        pairs.append((f"{name}.jpg", name.rsplit('_', 1)[0].replace('_', ' ')))
    image_root = root / 'images' 
    with tempfile.TemporaryDirectory() as d:
        labels = Path(d) / 'labels.txt'
        labels.write_text(''.join(f"{img} {lab}\n" for img, lab in pairs))
        return main(['classification', *['--domain', 'a pet', '--label-kind', 'breed'], '--labels', str(labels), '--image-root', str(image_root), *rest])

if __name__ == '__main__':
    sys.exit(run())
