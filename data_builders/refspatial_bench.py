#!/usr/bin/env python
"""RefSpatial-Bench -> a dataset with splits location / placement / unseen (the mask is the ground truth).

Raw layout (git clone https://huggingface.co/datasets/BAAI/RefSpatial-Bench):
    RefSpatial-Bench/{Location,Placement,Unseen}/question.json   [{"id", "prompt", "object", "suffix", "rgb_path", "mask_path", "category", "step"}]
    RefSpatial-Bench/{Location,Placement,Unseen}/image/...   .../mask/...
Usage (the benchmark's prompt, [0, 1] points for every model; --point-format family asks each model in its own convention):
    python data_builders/refspatial_bench.py RefSpatial-Bench --out data/refspatial_bench
    rft-eval --data data/refspatial_bench --model ...      # metrics: pointing / success, success_theirs, skipped
"""
import sys
from rft_nb.data_cli import main

if __name__ == '__main__':
    sys.exit(main(['refspatial-bench', *sys.argv[1:]]))
