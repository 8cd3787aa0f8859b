#!/usr/bin/env python
"""Writes the paper recipes (one YAML per model, task, stage, hardware) from the tables below.
Run `python recipes/_generate.py` after editing a table; the YAML files are what users read and run.
Relative dataset_path, output_dir and model_name_or_path resolve against settings.ini ([paths] data_dir, output_dir).
Settings the papers left to the TRL version of the day are written out explicitly."""
from pathlib import Path
import yaml

HERE = Path(__file__).parent
MODELS = {  # name -> (checkpoint, box convention family, max_pixels used by the papers)
    'qwen2vl_2b': 'Qwen/Qwen2-VL-2B-Instruct', 'qwen2vl_7b': 'Qwen/Qwen2-VL-7B-Instruct',
    'qwen25vl_3b': 'Qwen/Qwen2.5-VL-3B-Instruct', 'qwen25vl_7b': 'Qwen/Qwen2.5-VL-7B-Instruct'}
REASON_TASKS = {'counting': ['format', 'counting'], 'structure': ['format', 'choice'], 'spatial': ['format', 'trance']}
VISUAL_TASKS = {'detection': ['format', 'detection'], 'classification': ['format', 'classification'], 'grounding': ['format', 'grounding']}
HARDWARE = {  # 1 GPU: Unsloth QLoRA; 8 GPUs: full fine-tuning through accelerate + DeepSpeed ZeRO-3
    '1gpu_qlora': dict(backend='auto', use_lora=True, load_in_4bit=True, lora_r=16, lora_alpha=32, gradient_checkpointing=True, bf16=True),
    '8gpu_full': dict(backend='trl', use_lora=False, load_in_4bit=False, gradient_checkpointing=True, bf16=True)}
COMMON = dict(seed=42, logging_steps=1, save_strategy='steps', save_steps=100, save_total_limit=3, report_to=['tensorboard'], use_system_prompt=True)
# Reason-RFT (arXiv 2503.20752): TRL 0.15 defaults of the day, written down.
REASON_GRPO = dict(learning_rate=1.0e-6, beta=0.04, temperature=0.9, num_generations=8, max_completion_length=512,
                   image_max_pixels=480000, loss_type='grpo', scale_rewards='group', epsilon=0.2, num_iterations=1,
                   lr_scheduler_type='linear', warmup_steps=0, num_train_epochs=1, rollout_log_steps=10)
REASON_SFT = dict(learning_rate=1.0e-5, lr_scheduler_type='cosine', warmup_steps=100, num_train_epochs=1, image_max_pixels=480000)
# Visual-RFT (arXiv 2503.01785): GRPO defaults of TRL 0.14, written down.
VISUAL_GRPO = dict(learning_rate=1.0e-6, beta=0.04, temperature=1.0, num_generations=8, max_completion_length=512,
                   image_max_pixels=401408, loss_type='grpo', scale_rewards='group', epsilon=0.2, num_iterations=1,
                   num_train_epochs=2, rollout_log_steps=10)
BATCH = {'1gpu_qlora': dict(per_device_train_batch_size=8, gradient_accumulation_steps=2),
         '8gpu_full': dict(per_device_train_batch_size=8, gradient_accumulation_steps=2)}

def write(path, d, comment):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {comment}\n" + yaml.safe_dump(d, sort_keys=False))

def main():
    for m, ck in MODELS.items():
        gen = 4 if m.endswith('7b') else 8  # Visual-RFT used 4 generations for 7B
        for hw, hwd in HARDWARE.items():
            base = dict(model_name_or_path=ck, **COMMON, **hwd, **BATCH[hw])
            for task, rewards in REASON_TASKS.items():
                data = f"reason_rft/{task}"
                sft = dict(base, dataset_path=data, dataset_split='train', **REASON_SFT)
                grpo = dict(base, dataset_path=data, dataset_split='train', reward_funcs=rewards, **REASON_GRPO)
                d = HERE / m / task / hw
                write(d / 'ans_sft.yaml', dict(sft, sft_mode='ans', output_dir=f"{m}/{task}/ans_sft"), f"Reason-RFT ANS-SFT baseline: {m}, {task}, {hw}")
                write(d / 'cot_sft.yaml', dict(sft, sft_mode='cot', output_dir=f"{m}/{task}/cot_sft"), f"Reason-RFT CoT-SFT baseline: {m}, {task}, {hw}")
                write(d / 'reason_rft_zero.yaml', dict(grpo, output_dir=f"{m}/{task}/reason_rft_zero"), f"Reason-RFT-Zero (GRPO from the base model): {m}, {task}, {hw}")
                write(d / 'reason_rft_stage1_sft.yaml', dict(sft, sft_mode='cot', stage_part='sft', stage_sft_fraction=0.1,
                      output_dir=f"{m}/{task}/reason_rft_stage1"), f"Reason-RFT stage 1: CoT-SFT on a reproducible 10% subset: {m}, {task}, {hw}")
                write(d / 'reason_rft_stage2_grpo.yaml', dict(grpo, stage_part='rl', stage_sft_fraction=0.1,
                      model_name_or_path=f"{m}/{task}/reason_rft_stage1" + ('' if hw == '8gpu_full' else '/merged'),
                      output_dir=f"{m}/{task}/reason_rft_stage2"), f"Reason-RFT stage 2: GRPO on the other 90%, from stage 1: {m}, {task}, {hw}")
            for task, rewards in VISUAL_TASKS.items():
                g = dict(base, dataset_path=f"visual_rft/{task}", dataset_split='train', reward_funcs=rewards, **VISUAL_GRPO)
                g['num_generations'] = gen
                write(HERE / m / task / hw / 'visual_rft.yaml', dict(g, output_dir=f"{m}/{task}/visual_rft"), f"Visual-RFT GRPO: {m}, {task}, {hw}")
    # stage-1 recipes on one GPU must save merged weights for stage 2 to start from
    for p in HERE.glob('*/*/1gpu_qlora/reason_rft_stage1_sft.yaml'):
        d = yaml.safe_load(p.read_text()); d['merge_adapter'] = True
        write(p, d, p.read_text().splitlines()[0][2:])

if __name__ == '__main__': main()

# ---------------------------------------------------------------- spatial referring (RoboRefer-style), 2B-4B of each family
# Stage 1 CoT-SFT, stage 2 GRPO with outcome rewards or outcome + process rewards (rft_nb.embodied_rewards).
# Data: `rft-data refspatial RefSpatial/2D/reasoning_template_qa.json --image-root RefSpatial/2D/image --depth-root
# RefSpatial/2D/depth --point-format family --points-only --out data/embodied/refspatial` (each model is asked in its own
# point convention; depth is the second image), and `rft-data embodied-synthetic pointing --out data/embodied-pointing`
# (chains of thought with intermediate points: the only rows the process reward scores).
SPATIAL_MODELS = {'qwen2vl_2b': 'Qwen/Qwen2-VL-2B-Instruct', 'qwen25vl_3b': 'Qwen/Qwen2.5-VL-3B-Instruct',
                  'qwen3vl_2b': 'Qwen/Qwen3-VL-2B-Instruct', 'qwen3vl_4b': 'Qwen/Qwen3-VL-4B-Instruct', 'qwen35_2b': 'Qwen/Qwen3.5-2B'}
SPATIAL_REWARDS = {'outcome': ['format', 'pointing', 'point_distance'],
                   'process': ['format', 'pointing', 'point_distance', 'spatial_process']}
SPATIAL_SFT = dict(learning_rate=1.0e-5, lr_scheduler_type='cosine', warmup_steps=100, num_train_epochs=1, image_max_pixels=401408,
                   sft_mode='cot', stage_part='sft', stage_sft_fraction=0.5)
SPATIAL_GRPO = dict(learning_rate=1.0e-6, beta=0.04, temperature=1.0, num_generations=8, max_completion_length=384,
                    image_max_pixels=401408, loss_type='grpo', scale_rewards='group', epsilon=0.2, num_iterations=1,
                    num_train_epochs=1, rollout_log_steps=10, stage_part='rl', stage_sft_fraction=0.5)

def spatial_main():
    for m, ck in SPATIAL_MODELS.items():
        for hw, hwd in HARDWARE.items():
            base = dict(model_name_or_path=ck, **COMMON, **hwd, **BATCH[hw])
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
