#!/usr/bin/env python
"""ShareRobot (RoboBrain) affordance or trajectory JSON -> `affordance` rows (one box) or `trajectory` rows (a trace).

Raw layout (LLaVA-style; the first question / answer turn is the sample, as FlagEvalMM reads it):
    [{"id", "image": "path" | ["path"], "conversations": [{"from": "human", "value": "<image>\\nYou are a robot ... The task is \\"...\\". ..."},
                                                         {"from": "gpt", "value": "[[0.781, 0.305], [0.688, 0.344], ...]"}]}]
Usage:
    python data_builders/sharerobot.py trajectory ShareRobot/trajectory/test.json --image-root ShareRobot/images --out data/sharerobot_trajectory
    python data_builders/sharerobot.py affordance ShareRobot/affordance/test.json --image-root ShareRobot/images --out data/sharerobot_affordance
"""
import sys
from rft_nb.data_cli import main

if __name__ == '__main__':
    if len(sys.argv) < 2 or sys.argv[1] not in ('affordance', 'trajectory'):
        sys.exit('usage: sharerobot.py affordance|trajectory FILE --image-root DIR [--out DIR] [--coords auto|norm1|pixel]')
    sys.exit(main([f'sharerobot-{sys.argv[1]}', *sys.argv[2:]]))
