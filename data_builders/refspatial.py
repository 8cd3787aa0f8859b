#!/usr/bin/env python
"""RefSpatial (RoboRefer's training data) -> one row per question / answer turn; point answers become `pointing` rows.

Raw layout (LLaVA-style JSON; image / depth are file names, or lists, relative to the two folders):
    RefSpatial/2D/reasoning_template_qa.json   [{"id", "image", "depth", "conversations": [{"from": "human", "value": "<image>\\n..."},
                                                                                          {"from": "gpt", "value": "[(0.461, 0.527)]"}]}]
    RefSpatial/2D/image/...   RefSpatial/2D/depth/...
Usage (depth as the second image; each model asked in its own point convention):
    python data_builders/refspatial.py RefSpatial/2D/reasoning_template_qa.json --image-root RefSpatial/2D/image \\
        --depth-root RefSpatial/2D/depth --point-format family --points-only --out data/embodied/refspatial
"""
import sys
from rft_nb.data_cli import main

if __name__ == '__main__':
    sys.exit(main(['refspatial', *sys.argv[1:]]))
