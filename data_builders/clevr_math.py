#!/usr/bin/env python
"""CLEVR-Math counting (Reason-RFT visual counting).

Raw layout:
    clevr_math_train.json   [{"id": ..., "image_filename": "CLEVR_train_000000.png", "question": "Subtract all red cubes. How many objects are left?", "label": 4}, ...]
                            ("image" / "problem" / "answer" / "solution" are accepted too)
    images/                 (image root)
Usage:
    python data_builders/clevr_math.py clevr_math_train.json --image-root images --out data/clevr_math_train
"""
import sys
from rft_nb.data_cli import main

if __name__ == '__main__':
    sys.exit(main(['clevr-math', *[], *sys.argv[1:]]))
