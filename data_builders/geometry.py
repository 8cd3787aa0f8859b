#!/usr/bin/env python
"""Geometry structure perception (Geometry3K / GeoQA-like; Reason-RFT).

Raw layout, either
    geo.json   [{"id": ..., "image": "1.png", "question": "...", "choices": ["3", "4", "5", "6"], "answer": "C"}, ...]  (--image-root DIR)
or a Geometry3K folder:
    geometry3k/train/0/data.json {"problem_text", "choices", "answer": "B"} + img_diagram.png
Usage:
    python data_builders/geometry.py geometry3k/train --out data/geometry_train
"""
import sys
from rft_nb.data_cli import main

if __name__ == '__main__':
    sys.exit(main(['geometry', *[], *sys.argv[1:]]))
