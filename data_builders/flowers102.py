#!/usr/bin/env python
"""Oxford Flowers102 few-shot classification.

Raw layout (the .mat files need scipy, which rft_nb does not depend on, so give one of):
    flowers102/CLASS_NAME/image_00001.jpg ...     -> --folder flowers102
    labels.txt with lines "jpg/image_00001.jpg pink primrose"  -> --labels labels.txt --image-root flowers102
Usage:
    python data_builders/flowers102.py --folder flowers102 --k-shot 4 --seed 0 --out data/flowers102_4shot
"""
import sys
from rft_nb.data_cli import main

if __name__ == '__main__':
    sys.exit(main(['classification', *['--domain', 'a flower', '--label-kind', 'species'], *sys.argv[1:]]))
