"""The options of `factory rl` and `factory tasks`, declared once (factory.schemas.options): the
commands' flags and the recipe sections `rl:` / `tasks:` are derived from these dataclasses.

Exercise: `factory rl --help`, `factory tasks --help`, `factory recipes validate r1-pipeline`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from factory.schemas.options import opt

Preset = Literal["r1-zero", "r1-reasoning", "tinyzero-countdown", "openr1-grpo", "tiny"]
Reward = Literal["accuracy", "format", "language", "length", "overlong"]
Task = Literal["countdown", "multiplication"]
_REWARDS = "Rewards"
_PERF = "Performance"


@dataclass(kw_only=True)
class RLOptions:
    """GRPO (TRL GRPOTrainer) on the factory's verifiers: accuracy from the math cascade, the code
    sandbox or a task checker, format, language consistency and length rewards, with presets from
    R1-Zero, DeepSeek-R1, TinyZero and open-r1. Resumes a killed run from its newest complete
    checkpoint."""

    RESUMABLE: ClassVar[bool] = True

    input: str = opt(help="Problem folder: math with reference answers, code with tests, or `factory tasks` output.",
                     role="input", argument=True)
    model: str = opt(help="Policy to train: a local model folder or a Hub id; @tiny builds the tiny random model "
                          "(offline smoke runs).", role="input", hub_ok=True)
    out: str = opt(help="Output folder: checkpoints, the trained policy, rl_log.json, rl_curve.png, its card.",
                   role="output", short="-o")
    preset: Preset = opt("r1-zero", help="GRPO settings, rewards and prompt of a published run (factory/rl/presets.py).")
    rewards: list[Reward] | None = opt(None, help="Rewards instead of the preset's (repeatable): accuracy, format, "
                                                  "language, length (Kimi k1.5), overlong (DAPO).", panel=_REWARDS)
    reward_weights: list[float] | None = opt(None, help="One weight per reward, in order (repeatable; default: the "
                                                        "preset's, or 1 each).", panel=_REWARDS)
    prompt: str | None = opt(None, help="Prompt template: r1-zero, tinyzero, openr1, a generate preset (deepseek-r1, "
                                        "qwq, qwen, sky-t1) or a .jinja file (default: the preset's).")
    language: str | None = opt(None, help="Target language of the language reward (default: each problem's language).",
                               panel=_REWARDS)
    overlong_buffer: int | None = opt(None, help="overlong reward: the last N tokens before max_completion_length in which "
                                                 "the penalty grows to -1 (default: a quarter of it).", ge=1, panel=_REWARDS)
    limit: int | None = opt(None, help="Use only the first N problems.", ge=1)
    set: dict[str, Any] = opt(default_factory=dict, help="Any GRPOConfig field (TRL), or prompts_per_step / "
                                                         "steps_per_rollout: KEY=VALUE, repeatable.")
    seed: int = opt(42, help="Training seed (sampling, data order, LoRA initialisation).")
    lora: bool = opt(False, help="Train LoRA adapters (peft), merged into the saved policy.")
    vllm: Literal["auto", "on", "off"] = opt("auto", help="Generate with vLLM in colocate mode: auto = when it is "
                                                          "installed and a GPU is visible.", identity=False, panel=_PERF)

    def cross_checks(self) -> list[tuple[str, str]]:
        out = []
        if self.rewards is not None and len(set(self.rewards)) != len(self.rewards):
            out.append(("rewards", f"expected each reward once, found {self.rewards}"))
        if self.reward_weights is not None:
            from factory.rl.presets import PRESETS

            names = self.rewards if self.rewards is not None else list(PRESETS[self.preset].rewards)
            if len(self.reward_weights) != len(names):
                out.append(("reward_weights", f"expected {len(names)} weights (one per reward: {', '.join(names)}), "
                                              f"found {len(self.reward_weights)}"))
        if self.prompt is not None:
            from factory.generate.prompts import PRESETS as GENERATE_PRESETS
            from factory.rl.prompts import TEMPLATES

            if self.prompt not in TEMPLATES and self.prompt not in GENERATE_PRESETS \
                    and not self.prompt.endswith((".jinja", ".j2", ".jinja2")):
                out.append(("prompt", f"expected one of {', '.join([*TEMPLATES, *GENERATE_PRESETS])} or a .jinja file, "
                                      f"found {self.prompt!r}"))
        if self.set:
            from factory.rl.config import override_problems

            out.extend(("set", p) for p in override_problems(self.set))
        return out


@dataclass(kw_only=True)
class TasksOptions:
    """Write seeded TinyZero task problems (Countdown, multiplication) with exact, sandbox-free
    verifiers: a problem folder for `factory rl` (and generate / verify)."""

    task: Task = opt(help="countdown or multiplication.", argument=True)
    n: int = opt(help="Number of (distinct) problems.", ge=1, le=10_000_000, short="-n")
    out: str = opt(help="Problem folder to write.", role="output", short="-o")
    seed: int = opt(0, help="Generation seed: problem i depends only on (seed, i).")
    min_numbers: int = opt(3, help="countdown: fewest numbers per problem.", ge=2, le=8, panel="Countdown")
    max_numbers: int = opt(4, help="countdown: most numbers per problem.", ge=2, le=8, panel="Countdown")
    min_number: int = opt(1, help="countdown: smallest number.", ge=0, panel="Countdown")
    max_number: int = opt(99, help="countdown: largest number.", ge=1, panel="Countdown")
    min_target: int = opt(1, help="countdown: smallest target.", panel="Countdown")
    max_target: int = opt(100, help="countdown: largest target.", panel="Countdown")
    min_digits: int = opt(2, help="multiplication: fewest digits per operand.", ge=1, le=30, panel="Multiplication")
    max_digits: int = opt(4, help="multiplication: most digits per operand.", ge=1, le=30, panel="Multiplication")

    def cross_checks(self) -> list[tuple[str, str]]:
        out = []
        for lo, hi in (("min_numbers", "max_numbers"), ("min_number", "max_number"), ("min_target", "max_target"),
                       ("min_digits", "max_digits")):
            if getattr(self, lo) > getattr(self, hi):
                out.append((hi, f"expected >= {lo} ({getattr(self, lo)}), found {getattr(self, hi)}"))
        return out


COUNTDOWN_ONLY = ("min_numbers", "max_numbers", "min_number", "max_number", "min_target", "max_target")
MULTIPLICATION_ONLY = ("min_digits", "max_digits")
