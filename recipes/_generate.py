#!/usr/bin/env python
"""Writes the recipes (one YAML per model, task, stage, hardware) from the tables below.
Run `python recipes/_generate.py` after editing a table; the YAML files are what users read and run.
Relative dataset_path, output_dir and model_name_or_path resolve against settings.ini ([paths] data_dir, output_dir).

Recipes named after a paper stage (`visual_rft.yaml`, `reason_rft_zero.yaml`, `reason_rft_stage2_grpo.yaml`) reproduce
the paper: its reward functions (`TASK_REWARDS[task]['paper']` in rft_nb.rewards, value for value the upstream code) and
the settings of its released scripts, with what they left to the TRL version of the day written out. Beside each one,
`<stage>_hardened.yaml` is the recommended recipe: the same settings with our hardened rewards
(`TASK_REWARDS[task]['hardened']`).

Sources (read at the commits the parity data was made from, tests/data/parity/README.md):
- Visual-RFT, github.com/Liuziyu77/Visual-RFT: src/scripts/2B_base65cate_6k.sh (detection), 7B_base65cate_6k.sh
  (num_generations 4 for 7B), 2B_aircraft_4_shot.sh (classification), 2B_lisa_grounding.sh (grounding);
  src/virft/src/open_r1/trainer/grpo_trainer.py (sampling: temperature 1 hard-coded, transformers' GenerationConfig
  otherwise, whose default top_k is 50); TRL of the day (0.14/0.15): lr 1e-6, beta 0.04, max_completion_length 256.
- Reason-RFT, github.com/tanhuajie/Reason-RFT: scripts/train/reason_rft/stage_rl/*.sh and reason_rft_zero/*.sh
  (7 training GPUs, --use_system_prompt false, epochs 1 / 5 / 1 for counting / structure / spatial, task names
  clevr-math / geomath / trance-only-full and default reward_funcs [accuracy, format]);
  train/stage_rl/trainer/mm_grpo_trainer.py (vLLM sampling top_p 0.9, top_k 50); requirements_rl.txt trl==0.15.0
  (lr 1e-6, beta 0.04, temperature 0.9); scripts/train/*sft*/*.sh (LLaMA-Factory: lr 1e-5 cosine, 100 warm-up steps,
  weight decay 0.1, batch 1 x 2 accumulation on 8 GPUs, 1 epoch).

Batch size: both papers' trainers took `per_device_train_batch_size 1` as one *prompt* per GPU, each generating
`num_generations` completions; TRL 1.x counts completions. So one prompt per device per micro-step is
`per_device_train_batch_size = num_generations`. Their optimizer step saw 2 (accumulation) x #GPUs prompts; the 1-GPU
recipes accumulate 2 x #GPUs micro-steps to see the same number. Not reproducible with TRL 1.x: `max_prompt_length`
(1024 / 4096 in their scripts; TRL 1.x does not truncate prompts)."""
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from rft_nb.rewards import TASK_REWARDS  # noqa: E402  (the one table of which reward each task trains with)

from rft_nb.families import FAMILIES  # noqa: E402  (each family's checkpoints, and whether its template opens <think>)


def recipe_name(hub_id: str) -> str:
    "The recipe folder of a checkpoint: 'Qwen/Qwen2.5-VL-3B-Instruct' -> 'qwen25vl_3b'."
    base, size = hub_id.split('/')[-1].lower().removesuffix('-instruct').rsplit('-', 1)
    return base.replace('.', '').replace('-', '') + '_' + size


# name -> checkpoint: the papers' models (Qwen2-VL, Qwen2.5-VL), then the families people fine-tune now, as the family
# records list them (`ModelFamily.checkpoints` in rft_nb.families).
MODELS = {recipe_name(ck): ck for f in FAMILIES.values() for ck in f.checkpoints}
# The newer models get the papers' settings unchanged, so that a result on them is comparable with the papers' on
# Qwen2-VL / Qwen2.5-VL: the same pixel cap (the processors' own minimum, 256 x 256 for Qwen3-VL / Qwen3.5, still
# applies), learning rate, KL, sampling and batch. Visual-RFT's one model-size rule (4 generations instead of 8 for
# its 7B) is applied to every model above 4B. A family whose chat template opens <think> in the generation prompt
# (`ModelFamily.think_in_prompt`: Qwen3.5): the papers' format reward (`format_paper`) scores 0 on every completion of
# such a model, so use the hardened recipe there.
THINKING = {recipe_name(ck) for f in FAMILIES.values() if f.think_in_prompt for ck in f.checkpoints}
LARGE = {m for m in MODELS if m.rsplit('_', 1)[1] in ('7b', '8b', '9b')}
REASON_TASKS = {'counting': 'counting', 'structure': 'geometry', 'spatial': 'trance'}  # recipe folder -> row task
VISUAL_TASKS = {'detection': 'detection', 'classification': 'classification', 'grounding': 'grounding'}
REASON_EPOCHS = {'counting': 1, 'structure': 5, 'spatial': 1}           # their task1 / task2 / task3 RL scripts
VISUAL_EPOCHS = {'detection': 2, 'classification': 1, 'grounding': 6}   # base65cate_6k, aircraft_4_shot, lisa_grounding
PAPER_GPUS = {'visual': 8, 'reason': 7}                                 # training processes in their scripts
HARDWARE = {  # 1 GPU: Unsloth QLoRA; 8 GPUs: full fine-tuning through accelerate + DeepSpeed ZeRO-3
    '1gpu_qlora': dict(backend='auto', use_lora=True, load_in_4bit=True, lora_r=16, lora_alpha=32,
                       gradient_checkpointing=True, bf16=True),
    '8gpu_full': dict(backend='trl', use_lora=False, load_in_4bit=False, gradient_checkpointing=True, bf16=True)}
COMMON = dict(seed=42, logging_steps=1, save_strategy='steps', save_steps=100, save_total_limit=3,
              report_to=['tensorboard'])
# Reason-RFT (arXiv 2503.20752): their scripts plus the TRL 0.15 defaults they ran with, written down.
REASON_GRPO = dict(learning_rate=1.0e-6, beta=0.04, temperature=0.9, top_p=0.9, top_k=50, num_generations=8,
                   max_completion_length=512, image_max_pixels=480000, use_system_prompt=False, loss_type='grpo',
                   scale_rewards='group', epsilon=0.2, num_iterations=1, lr_scheduler_type='linear', warmup_steps=0,
                   rollout_log_steps=10)
REASON_SFT = dict(learning_rate=1.0e-5, lr_scheduler_type='cosine', warmup_steps=100, weight_decay=0.1,
                  num_train_epochs=1, image_max_pixels=480000, use_system_prompt=True, per_device_train_batch_size=1)
# Visual-RFT (arXiv 2503.01785): their scripts plus the TRL 0.14/0.15 GRPO defaults of the day, written down.
VISUAL_GRPO = dict(learning_rate=1.0e-6, beta=0.04, temperature=1.0, top_p=1.0, top_k=50, max_completion_length=256,
                   image_max_pixels=401408, use_system_prompt=False, loss_type='grpo', scale_rewards='group',
                   epsilon=0.2, num_iterations=1, lr_scheduler_type='linear', warmup_steps=0, rollout_log_steps=10)


def accumulation(hw: str, paper: str) -> int:
    "Micro-steps per optimizer step: theirs (2) on 8 GPUs, 2 x their GPU count on one GPU (the same prompts per step)."
    return 2 if hw == '8gpu_full' else 2 * PAPER_GPUS[paper]


def write(path, d, comment):
    path.parent.mkdir(parents=True, exist_ok=True)
    head = ''.join(f"# {line}\n" for line in comment.splitlines())
    path.write_text(head + yaml.safe_dump(d, sort_keys=False))


def write_grpo_pair(path, d, task, comment):
    "The paper recipe at `path` and its hardened sibling `<stem>_hardened.yaml`."
    paper, hardened = TASK_REWARDS[task]['paper'], TASK_REWARDS[task]['hardened']
    note = f"Paper-exact rewards ({', '.join(paper)}): reproduces the paper. Recommended: {path.stem}_hardened.yaml"
    if path.relative_to(HERE).parts[0] in THINKING:
        note += "\nThis model's template opens <think> in the generation prompt: format_paper scores 0 on it (use the hardened recipe)"
    write(path, dict(d, reward_funcs=paper), f"{comment}\n{note}")
    out = d['output_dir'] + '_hardened'
    write(path.with_name(path.stem + '_hardened.yaml'), dict(d, reward_funcs=hardened, output_dir=out),
          f"{comment}\nHardened rewards ({', '.join(hardened)}), otherwise the paper's settings (recommended)")


def main():
    for m, ck in MODELS.items():
        for hw, hwd in HARDWARE.items():
            base = dict(model_name_or_path=ck, **COMMON, **hwd)
            for folder, task in REASON_TASKS.items():
                data = f"reason_rft/{folder}"
                sft = dict(base, dataset_path=data, dataset_split='train', **REASON_SFT,
                           gradient_accumulation_steps=accumulation(hw, 'visual'))   # their SFT: 8 GPUs x 2
                grpo = dict(base, dataset_path=data, dataset_split='train', **REASON_GRPO,
                            per_device_train_batch_size=REASON_GRPO['num_generations'],
                            gradient_accumulation_steps=accumulation(hw, 'reason'),
                            num_train_epochs=REASON_EPOCHS[folder])
                d = HERE / m / folder / hw
                if hw == '8gpu_full': launch = 'their 7 training processes: launch with --num_processes 7 to match'
                else: launch = 'one GPU: 14 micro-steps per optimizer step, as their 7 GPUs x 2'
                write(d / 'ans_sft.yaml', dict(sft, sft_mode='ans', output_dir=f"{m}/{folder}/ans_sft"),
                      f"Reason-RFT ANS-SFT baseline: {m}, {folder}, {hw}")
                write(d / 'cot_sft.yaml', dict(sft, sft_mode='cot', output_dir=f"{m}/{folder}/cot_sft"),
                      f"Reason-RFT CoT-SFT baseline: {m}, {folder}, {hw}")
                write_grpo_pair(d / 'reason_rft_zero.yaml', dict(grpo, output_dir=f"{m}/{folder}/reason_rft_zero"),
                                task, f"Reason-RFT-Zero (GRPO from the base model): {m}, {folder}, {hw} ({launch})")
                write(d / 'reason_rft_stage1_sft.yaml',
                      dict(sft, sft_mode='cot', stage_part='sft', stage_sft_fraction=0.1,
                           output_dir=f"{m}/{folder}/reason_rft_stage1"),
                      f"Reason-RFT stage 1: CoT-SFT on a reproducible 10% subset: {m}, {folder}, {hw}")
                stage1 = f"{m}/{folder}/reason_rft_stage1" + ('' if hw == '8gpu_full' else '/merged')
                stage2 = dict(grpo, stage_part='rl', stage_sft_fraction=0.1, model_name_or_path=stage1,
                              output_dir=f"{m}/{folder}/reason_rft_stage2")
                write_grpo_pair(d / 'reason_rft_stage2_grpo.yaml', stage2, task,
                                f"Reason-RFT stage 2: GRPO on the other 90%, from stage 1: {m}, {folder}, {hw} ({launch})")
            gen = 4 if m in LARGE else 8  # Visual-RFT used 4 generations for 7B
            for folder, task in VISUAL_TASKS.items():
                g = dict(base, dataset_path=f"visual_rft/{folder}", dataset_split='train', **VISUAL_GRPO,
                         num_generations=gen, per_device_train_batch_size=gen,
                         gradient_accumulation_steps=accumulation(hw, 'visual'), num_train_epochs=VISUAL_EPOCHS[folder],
                         output_dir=f"{m}/{folder}/visual_rft")
                if hw == '8gpu_full': where = '8 GPUs x 2, as theirs'
                else: where = 'one GPU: 16 micro-steps per optimizer step, as their 8 GPUs x 2'
                write_grpo_pair(HERE / m / folder / hw / 'visual_rft.yaml', g, task,
                                f"Visual-RFT GRPO: {m}, {folder}, {hw} ({where})")
    # stage-1 recipes on one GPU must save merged weights for stage 2 to start from
    for p in HERE.glob('*/*/1gpu_qlora/reason_rft_stage1_sft.yaml'):
        d = yaml.safe_load(p.read_text())
        d['merge_adapter'] = True
        write(p, d, p.read_text().splitlines()[0][2:])


if __name__ == '__main__': main()

# ---------------------------------------------------------------- spatial referring (RoboRefer-style), 2B-4B of each family
# Stage 1 CoT-SFT, stage 2 GRPO with outcome rewards or outcome + process rewards (rft_nb.embodied_rewards).
# Data: `rft-data refspatial RefSpatial/2D/reasoning_template_qa.json --image-root RefSpatial/2D/image --depth-root
# RefSpatial/2D/depth --point-format family --points-only --out data/embodied/refspatial` (each model is asked in its own
# point convention; depth is the second image), and `rft-data embodied-synthetic pointing --out data/embodied-pointing`
# (chains of thought with intermediate points: the only rows the process reward scores).
SPATIAL_MODELS = {m: MODELS[m] for m in ('qwen2vl_2b', 'qwen25vl_3b', 'qwen3vl_2b', 'qwen3vl_4b', 'qwen35_2b')}
SPATIAL_REWARDS = {'outcome': ['format', 'pointing', 'point_distance'],
                   'process': ['format', 'pointing', 'point_distance', 'spatial_process']}
SPATIAL_BATCH = dict(per_device_train_batch_size=8, gradient_accumulation_steps=2)   # both hardware setups
SPATIAL_SFT = dict(learning_rate=1.0e-5, lr_scheduler_type='cosine', warmup_steps=100, num_train_epochs=1, image_max_pixels=401408,
                   sft_mode='cot', stage_part='sft', stage_sft_fraction=0.5)
SPATIAL_GRPO = dict(learning_rate=1.0e-6, beta=0.04, temperature=1.0, num_generations=8, max_completion_length=384,
                    image_max_pixels=401408, loss_type='grpo', scale_rewards='group', epsilon=0.2, num_iterations=1,
                    num_train_epochs=1, rollout_log_steps=10, stage_part='rl', stage_sft_fraction=0.5)

def spatial_main():
    for m, ck in SPATIAL_MODELS.items():
        for hw, hwd in HARDWARE.items():
            base = dict(model_name_or_path=ck, **COMMON, use_system_prompt=True, **hwd, **SPATIAL_BATCH)
            d = HERE / m / 'spatial_referring' / hw
            for data in ('embodied/refspatial', 'embodied-pointing'):
                tag = 'refspatial' if data == 'embodied/refspatial' else 'synthetic'
                sft = dict(base, dataset_path=data, dataset_split='train', **SPATIAL_SFT, output_dir=f"{m}/spatial_referring/{tag}/cot_sft")
                if hw == '1gpu_qlora': sft['merge_adapter'] = True
                write(d / f'{tag}_stage1_cot_sft.yaml', sft, f"Spatial referring stage 1, CoT-SFT on half of {data}: {m}, {hw}")
                start = f"{m}/spatial_referring/{tag}/cot_sft" + ('/merged' if hw == '1gpu_qlora' else '')
                for arm, rewards in SPATIAL_REWARDS.items():
                    g = dict(base, dataset_path=data, dataset_split='train', reward_funcs=rewards, **SPATIAL_GRPO,
                             model_name_or_path=start, output_dir=f"{m}/spatial_referring/{tag}/grpo_{arm}")
                    write(d / f'{tag}_stage2_rft_{arm}.yaml', g, f"Spatial referring stage 2, GRPO ({arm} rewards) on the other half of {data}: {m}, {hw}")

if __name__ == '__main__': spatial_main()
