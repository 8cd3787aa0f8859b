#!/usr/bin/env python
"""COCO detection (Visual-RFT open-vocabulary / few-shot) -> per-(image, category) detection rows.

Raw layout:
    annotations/instances_train2017.json   (COCO JSON: images[file_name,width,height], annotations[bbox xywh], categories)
    train2017/000000000009.jpg ...          (the image root)
Usage (COCO 65 base / 15 novel, or 8 categories k-shot):
    python data_builders/coco.py annotations/instances_train2017.json --image-root train2017 --out data/coco_base \
        --novel airplane bus cat dog cow elephant umbrella tie snowboard skateboard cup knife cake couch keyboard sink scissors --use base
    python data_builders/coco.py ... --categories bus train fire_hydrant stop_sign cat dog bed toilet --k-shot 4 --seed 0
"""
import sys
from rft_nb.data_cli import main

if __name__ == '__main__':
    sys.exit(main(['coco', *[], *sys.argv[1:]]))
