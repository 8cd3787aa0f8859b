#!/usr/bin/env python
"""Custom JSON whose solution is a point list, a trace or a mask file -> `pointing` / `trajectory` rows.

    [{"id": "a1", "image": "kitchen.jpg", "depth": "kitchen_depth.png", "question": "Point to the free space left of the mug.",
      "solution": [[0.31, 0.62]], "mask": "kitchen_free_mask.png"},
     {"id": "t1", "image": "desk.jpg", "question": "Move the pen into the cup.", "task": "trajectory",
      "solution": [[0.2, 0.7], [0.35, 0.5], [0.6, 0.45]]}]
Points are in --point-convention (default norm1: [0, 1]); a mask alone (no solution) makes the answer a point inside it.
Usage:
    python data_builders/embodied_json.py my_points.json --image-root my_images --out data/my_points
"""
import sys
from rft_nb.data_cli import main

if __name__ == '__main__':
    sys.exit(main(['embodied-json', *sys.argv[1:]]))
