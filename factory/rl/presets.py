"""GRPO presets from published runs. Each is a starting point: any `GRPOConfig` field can be
overridden (`factory rl --preset r1-zero --set learning_rate=1e-6 --set num_generations=8`).

A preset says how many distinct prompts one optimizer step sees (`prompts_per_step`) and how
many optimizer steps one generation round feeds (`steps_per_rollout`); the gradient
accumulation is derived at run time from the number of processes, so the global batch stays
the published one on any machine:

    completions per step = prompts_per_step * num_generations
    gradient_accumulation_steps = ceil(completions per step / (per_device_train_batch_size * processes))
    steps_per_generation = gradient_accumulation_steps * steps_per_rollout   (TRL counts micro-batches)

| preset | source | lr | G | prompts/step | max completion | KL beta | rewards (weights) |
|---|---|---|---|---|---|---|---|
| r1-zero | DeepSeek-R1-Zero (Nature 2025, suppl. "Training details") | 3e-6 | 16 | 32 | 32768 | 0.001 | accuracy, format (1, 1) |
| r1-reasoning | DeepSeek-R1's reasoning RL after cold start (same paper, §2.3.2) | 3e-6 | 16 | 32 | 32768 | 0.001 | accuracy, language (1, 1) |
| tinyzero-countdown | TinyZero (Pan et al. 2025), scripts/train_tiny_zero.sh + its GRPO runs | 1e-6 | 5 | 128 | 1024 | 0.001 | accuracy, format (0.9, 0.1) |
| openr1-grpo | open-r1 recipes/Qwen2.5-1.5B-Instruct/grpo/config_demo.yaml | 2e-5 | 16 | 28 | 1024 | 0.04 | accuracy, format (1, 1) |
| tiny | CPU smoke runs on the tiny random model | 1e-3 | 4 | 2 | 16 | 0.04 | accuracy, format, language |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from factory.schemas.errors import FactoryError


@dataclass(frozen=True)
class RLPreset:
    description: str
    rewards: tuple[str, ...]
    reward_weights: tuple[float, ...]
    prompt: str  # a template of factory.rl.prompts (r1-zero, tinyzero, openr1) or a generate preset
    prompts_per_step: int
    steps_per_rollout: int = 1
    grpo: dict[str, Any] = field(default_factory=dict)  # GRPOConfig fields


PRESETS: dict[str, RLPreset] = {
    # DeepSeek-R1 (Nature 645, 2025), Supplementary "Training details of DeepSeek-R1-Zero": lr 3e-6,
    # KL coefficient 0.001, rollout temperature 1, 16 outputs per question, max length 32,768
    # (65,536 after step 8.2k), 32 unique questions per step (batch 512); each rollout of 8,192
    # outputs is split into 16 mini-batches trained for one inner epoch; the reference model is
    # replaced by the policy every 400 steps. Rule rewards: accuracy + format, summed.
    "r1-zero": RLPreset(
        description="DeepSeek-R1-Zero: pure RL from a base model, accuracy + format rewards",
        rewards=("accuracy", "format"), reward_weights=(1.0, 1.0), prompt="r1-zero",
        prompts_per_step=32, steps_per_rollout=16,
        grpo=dict(learning_rate=3e-6, beta=0.001, temperature=1.0, num_generations=16, max_completion_length=32768,
                  per_device_train_batch_size=16, sync_ref_model=True, ref_model_sync_steps=400,
                  ref_model_mixup_alpha=1.0, lr_scheduler_type="constant", warmup_steps=0.0, num_train_epochs=1),
    ),
    # DeepSeek-R1 §2.3.2 "Reasoning-oriented RL" after the cold-start SFT: the same large-scale RL,
    # with a language-consistency reward (share of target-language words in the CoT) summed with
    # the accuracy reward to stop language mixing.
    "r1-reasoning": RLPreset(
        description="DeepSeek-R1 reasoning RL after cold start: accuracy + language consistency",
        rewards=("accuracy", "language"), reward_weights=(1.0, 1.0), prompt="deepseek-r1",
        prompts_per_step=32, steps_per_rollout=16,
        grpo=dict(learning_rate=3e-6, beta=0.001, temperature=1.0, num_generations=16, max_completion_length=32768,
                  per_device_train_batch_size=16, sync_ref_model=True, ref_model_sync_steps=400,
                  ref_model_mixup_alpha=1.0, lr_scheduler_type="constant", warmup_steps=0.0, num_train_epochs=1),
    ),
    # TinyZero (github.com/Jiayi-Pan/TinyZero, scripts/train_tiny_zero.sh, veRL): Qwen2.5-3B base,
    # actor lr 1e-6, 256 prompts per rollout in PPO mini-batches of 128 (2 updates per rollout),
    # prompt <= 256 / response <= 1024 tokens, KL coefficient 0.001, 15 epochs; its GRPO runs set
    # algorithm.adv_estimator=grpo with rollout.n=5 (TinyZero issue #23). Reward: 1 for a right
    # equation, 0.1 for a well-formed wrong one (verl/utils/reward_score/countdown.py) = 0.9 * accuracy
    # + 0.1 * format here.
    "tinyzero-countdown": RLPreset(
        description="TinyZero Countdown: GRPO from a base model on an exact arithmetic reward",
        rewards=("accuracy", "format"), reward_weights=(0.9, 0.1), prompt="tinyzero",
        prompts_per_step=128, steps_per_rollout=2,
        grpo=dict(learning_rate=1e-6, beta=0.001, temperature=1.0, num_generations=5, max_completion_length=1024,
                  per_device_train_batch_size=10, lr_scheduler_type="constant", warmup_steps=0.0, num_train_epochs=15),
    ),
    # open-r1 (github.com/huggingface/open-r1) recipes/Qwen2.5-1.5B-Instruct/grpo/config_demo.yaml:
    # lr 2e-5 cosine with 10% warm-up, 16 generations, completions <= 1024 tokens, 16 per device x 4
    # accumulation on 7 training GPUs (= 448 completions = 28 prompts per step), one epoch, rewards
    # accuracy + format, its system prompt. beta 0.04 was TRL's default when the recipe was
    # published (TRL 1.x defaults to 0.0).
    "openr1-grpo": RLPreset(
        description="open-r1 GRPO demo: an instruct model on math with accuracy + format rewards",
        rewards=("accuracy", "format"), reward_weights=(1.0, 1.0), prompt="openr1",
        prompts_per_step=28,
        grpo=dict(learning_rate=2e-5, beta=0.04, num_generations=16, max_completion_length=1024,
                  per_device_train_batch_size=16, lr_scheduler_type="cosine", warmup_steps=0.1, num_train_epochs=1,
                  temperature=0.7),
    ),
    # CPU smoke runs on the tiny random model: a few short completions, big steps so parameters move.
    "tiny": RLPreset(
        description="CPU smoke runs on the tiny random model",
        rewards=("accuracy", "format", "language"), reward_weights=(1.0, 1.0, 1.0), prompt="deepseek-r1",
        prompts_per_step=2,
        grpo=dict(learning_rate=1e-3, beta=0.04, temperature=1.0, num_generations=4, max_completion_length=16,
                  per_device_train_batch_size=4, lr_scheduler_type="constant", warmup_steps=0.0, num_train_epochs=1,
                  gradient_checkpointing=False, save_steps=2, logging_steps=1),
    ),
}

# Settings every preset shares unless overridden: log every step, keep two checkpoints.
COMMON: dict[str, Any] = dict(logging_steps=1, save_strategy="steps", save_steps=50, save_total_limit=2,
                              report_to="none", disable_tqdm=True, dataloader_num_workers=0)


def get_preset(name: str) -> RLPreset:
    if name not in PRESETS:
        raise FactoryError(f"--preset: expected one of {sorted(PRESETS)}, found {name!r}")
    return PRESETS[name]
