#!/usr/bin/env python
"""RefCOCO-style referring grounding.

Raw layout:
    refs.json   [{"image": "COCO_train2014_000000000009.jpg", "sentence": "the dog on the left", "bbox": [x, y, w, h]}, ...]
    train2014/  (image root)
Usage:
    python data_builders/refcoco.py refs.json --image-root train2014 --bbox-format xywh --out data/refcoco
"""
import sys
from rft_nb.data_cli import main

if __name__ == '__main__':
    sys.exit(main(['refcoco', *[], *sys.argv[1:]]))
