#!/usr/bin/env python
"""Custom JSON / JSONL (Visual-RFT or Reason-RFT shape) -> rft_nb dataset.

Raw layout:
    FILE.json   [{"image": "rel/path.jpg", "problem": "...", "solution": "<answer>...</answer>"}, ...]
                (Reason-RFT shape adds "id"; "image" may be a list; optional "task", "reasoning", "options", "classes")
    IMAGE_ROOT/rel/path.jpg
Usage:
    python data_builders/custom_json.py FILE.json --image-root DIR --out DIR [--task NAME] [--skip-invalid]
"""
import sys
from rft_nb.data_cli import main

if __name__ == '__main__':
    sys.exit(main(['from-json', *[], *sys.argv[1:]]))
