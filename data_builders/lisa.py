#!/usr/bin/env python
"""LISA ReasonSeg reasoning grounding -> one grounding row per query (box = bounds of the target polygons).

Raw layout:
    ReasonSeg/train/NAME.jpg
    ReasonSeg/train/NAME.json   {"text": ["query", ...], "is_sentence": true, "shapes": [{"label": "target", "points": [[x, y], ...]}]}
Usage:
    python data_builders/lisa.py ReasonSeg/train --out data/lisa_train
"""
import sys
from rft_nb.data_cli import main

if __name__ == '__main__':
    sys.exit(main(['lisa', *[], *sys.argv[1:]]))
