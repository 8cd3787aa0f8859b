#!/usr/bin/env python
"""Stanford Cars196 few-shot classification.

Raw layout (the devkit .mat files need scipy; use the common folder export or a label file):
    car_data/train/CLASS NAME/00001.jpg ...   -> --folder car_data/train
    labels.csv with columns image,label       -> --labels labels.csv --image-root cars_train
Usage:
    python data_builders/cars196.py --folder car_data/train --k-shot 4 --out data/cars196_4shot
"""
import sys
from rft_nb.data_cli import main

if __name__ == '__main__':
    sys.exit(main(['classification', *['--domain', 'a car', '--label-kind', 'model'], *sys.argv[1:]]))
