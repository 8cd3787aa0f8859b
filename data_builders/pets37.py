#!/usr/bin/env python
"""Oxford-IIIT Pets37 few-shot classification.

Raw layout:
    oxford-iiit-pet/annotations/list.txt   lines "Abyssinian_100 1 1 1" (image name, class id, species, breed id)
    oxford-iiit-pet/images/Abyssinian_100.jpg
Usage:
    python data_builders/pets37.py --root oxford-iiit-pet --k-shot 4 --out data/pets37_4shot
    (also accepts --folder / --labels like the other classification builders)
"""
import argparse, sys
from pathlib import Path
from rft_nb.data_cli import main

def run(argv=None):
    "Build with `rft-data classification` on the dataset's own list (`--label-format pets37`: breed from the image name)."
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument('--root', required=True, help='oxford-iiit-pet folder (annotations/list.txt, images/)')
    ap.add_argument('--list', default='annotations/list.txt', help='annotation list inside --root (list.txt, trainval.txt or test.txt)')
    a, rest = ap.parse_known_args(argv)
    root = Path(a.root)
    return main(['classification', '--domain', 'a pet', '--label-kind', 'breed', '--labels', str(root / a.list), '--label-format', 'pets37',
                 '--image-root', str(root / 'images'), *rest])

if __name__ == '__main__':
    sys.exit(run())
