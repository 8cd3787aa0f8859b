#!/usr/bin/env python
"""TRANCE spatial transformation (Reason-RFT).

Raw layout:
    trance.json   [{"id": ..., "initial": "0001_init.png", "final": "0001_final.png",
                    "transformations": [{"obj_idx": 0, "attr": "color", "val": "red"}, ...]}, ...]
                  (steps may also be strings "change_color(0, red)", or a "solution" text)
    images/       (image root)
Usage:
    python data_builders/trance.py trance.json --image-root images --out data/trance_train
"""
import sys
from rft_nb.data_cli import main

if __name__ == '__main__':
    sys.exit(main(['trance', *[], *sys.argv[1:]]))
