#!/usr/bin/env python
"""FGVC-Aircraft few-shot classification.

Raw layout:
    fgvc-aircraft-2013b/data/images_variant_trainval.txt   lines "1025794 707-320" (image id, variant)
    fgvc-aircraft-2013b/data/images/1025794.jpg
Usage:
    python data_builders/fgvc_aircraft.py --root fgvc-aircraft-2013b --subset trainval --k-shot 4 --out data/aircraft_4shot
"""
import argparse, sys, tempfile
from pathlib import Path
from rft_nb.builders import main

def run(argv=None):
    "Write the dataset's own list as an (image, label) file, then build with `rft-data classification --labels`."
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument('--root', required=True, help='fgvc-aircraft-2013b folder (data/images_variant_SUBSET.txt, data/images/)')
    ap.add_argument('--subset', default='trainval', choices=['train', 'val', 'trainval', 'test'])
    a, rest = ap.parse_known_args()
    root = Path(a.root) / 'data'; pairs = []
    for line in (root / f"images_variant_{a.subset}.txt").read_text().splitlines():
        if line.strip():
            img, variant = line.strip().split(' ', 1)
            pairs.append((f"{img}.jpg", variant.strip()))
    image_root = root / 'images' 
    with tempfile.TemporaryDirectory() as d:
        labels = Path(d) / 'labels.txt'
        labels.write_text(''.join(f"{img} {lab}\n" for img, lab in pairs))
        return main(['classification', *['--domain', 'an aircraft', '--label-kind', 'model'], '--labels', str(labels), '--image-root', str(image_root), *rest])

if __name__ == '__main__':
    sys.exit(run())
