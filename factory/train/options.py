"""The options of `factory train`, declared once (its flags and the recipe's `train:` section
are derived from `TrainOptions`).

Exercise: `factory train --help`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from factory.schemas.options import opt

Preset = Literal["sky-t1", "openr1-distill", "s1", "limo", "tiny"]


@dataclass(kw_only=True)
class TrainOptions:
    """Distil a student with TRL's SFTTrainer (template preflight first; resumes from checkpoints)."""

    RESUMABLE: ClassVar[bool] = True

    data: str = opt(help="Curated SFT folder (with train/ and validation/) or any SFT dataset folder.", role="input")
    student: str = opt(help="Student model: a local folder or a Hub id (recipes: tiny builds the tiny random model).", role="input", hub_ok=True)
    out: str = opt(help="Output folder: checkpoints, the student, its card.", role="output", short="-o")
    preset: Preset = opt("s1", help="Hyper-parameters of a published run (see factory/train/presets.py).")
    set: dict[str, Any] = opt(default_factory=dict, help="Override a preset value: KEY=VALUE (repeatable), e.g. learning_rate=2e-5.")
    lora: bool = opt(False, help="Train LoRA adapters (peft), merged into the saved student.")
    chat_template: str | None = opt(None, help="Jinja chat template file to use.", role="input")
    resume: bool = opt(True, help="Resume from the latest checkpoint of an unfinished run in --out.", identity=False)
