#!/usr/bin/env python
"""LVIS detection (Visual-RFT rare categories) -> per-(image, category) detection rows.

Raw layout:
    lvis_v1_train.json   (COCO-like JSON; images carry coco_url, categories synonyms/frequency)
    train2017/*.jpg      (the COCO images; the file name is taken from coco_url)
Usage:
    python data_builders/lvis.py lvis_v1_train.json --image-root train2017 --categories horse_buggy die kitchen_table --k-shot 10 --out data/lvis_rare
"""
import sys
from rft_nb.data_cli import main

if __name__ == '__main__':
    sys.exit(main(['lvis', *[], *sys.argv[1:]]))
