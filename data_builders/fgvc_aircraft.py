#!/usr/bin/env python
"""FGVC-Aircraft few-shot classification.

Raw layout:
    fgvc-aircraft-2013b/data/images_variant_trainval.txt   lines "1025794 707-320" (image id, variant)
    fgvc-aircraft-2013b/data/images/1025794.jpg
Usage:
    python data_builders/fgvc_aircraft.py --root fgvc-aircraft-2013b --subset trainval --k-shot 4 --out data/aircraft_4shot
"""
import argparse, sys
from pathlib import Path
from rft_nb.data_cli import main

def run(argv=None):
    "Build with `rft-data classification` on the dataset's own list (`--label-format fgvc-aircraft`: 'ID VARIANT' lines)."
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument('--root', required=True, help='fgvc-aircraft-2013b folder (data/images_variant_SUBSET.txt, data/images/)')
    ap.add_argument('--subset', default='trainval', choices=['train', 'val', 'trainval', 'test'])
    a, rest = ap.parse_known_args(argv)
    root = Path(a.root) / 'data'
    return main(['classification', '--domain', 'an aircraft', '--label-kind', 'model', '--labels', str(root / f"images_variant_{a.subset}.txt"),
                 '--label-format', 'fgvc-aircraft', '--image-root', str(root / 'images'), *rest])

if __name__ == '__main__':
    sys.exit(run())
