"""The options of `factory train`, declared once (its flags and the recipe's `train:` section
are derived from `TrainOptions`).

Exercise: `factory train --help`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from factory.schemas.options import opt

Preset = Literal["sky-t1", "openr1-distill", "s1", "limo", "tiny"]

_DATA, _HUB = "Data", "Hugging Face Hub"
_REPO = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


@dataclass(kw_only=True)
class TrainOptions:
    """Distil a student with TRL's SFTTrainer on any dataset with a conversational `messages`
    column (template preflight first; eval_loss on a validation split; resumes from the last
    complete checkpoint of a killed run; optional upload of the student to the Hub)."""

    RESUMABLE: ClassVar[bool] = True

    data: str = opt(help="Training data with a TRL `messages` column: a curate output (train/ + validation/), a factory SFT "
                         "folder, a .parquet or .jsonl file, a `datasets` save_to_disk folder, or a Hub dataset id.",
                    role="input", hub_ok=True, panel=_DATA)
    student: str = opt(help="Student model: a local folder, a Hub id, or `tiny` (a tiny RANDOM model built on the spot, "
                            "for smoke runs; it trains with the tiny preset unless --preset says otherwise).",
                       role="input", hub_ok=True)
    out: str = opt(help="Output folder: checkpoints, the student, its card, training_log.json.", role="output", short="-o")
    preset: Preset | None = opt(None, help="Hyper-parameters of a published run (see factory/train/presets.py); default s1 "
                                           "(tiny with --student tiny).")
    set: dict[str, Any] = opt(default_factory=dict, help="A preset key or ANY field of TRL's SFTConfig/TrainingArguments: "
                                                         "KEY=VALUE (repeatable), e.g. learning_rate=2e-5, report_to=tensorboard, bf16=true.")
    lora: bool = opt(False, help="Train LoRA adapters (peft), merged into the saved student.")
    chat_template: str | None = opt(None, help="Chat template: a .jinja file, or the name of a shipped one (chatml_think).",
                                    role="input")
    validation_data: str | None = opt(None, help="Validation rows for eval_loss (same formats as --data); default: the "
                                                 "data's own validation split, if any.", role="input", hub_ok=True, panel=_DATA)
    validation_split: float | None = opt(None, help="Hold out this share of the training rows for eval_loss (seeded by the "
                                                    "preset's seed).", gt=0, lt=1, panel=_DATA)
    resume: bool = opt(True, help="Resume from the latest complete checkpoint of an unfinished run in --out.", identity=False)
    push_to_hub: str | None = opt(None, help="After training, upload the student (weights, tokenizer, card, logs) to this "
                                             "Hub model repo ORG/NAME.", identity=False, panel=_HUB)
    hub_private: bool = opt(False, help="Create the model repo as private.", identity=False, panel=_HUB)
    push_dry_run: bool = opt(False, help="With --push-to-hub: check the repo id and list what would be uploaded; no network.",
                             identity=False, panel=_HUB)

    def preset_name(self) -> str:
        if self.preset is not None:
            return self.preset
        from pathlib import Path

        return "tiny" if self.student == "tiny" and not Path(self.student).exists() else "s1"

    def cross_checks(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.validation_data and self.validation_split:
            out.append(("validation_split", "give either a validation share or --validation-data, not both"))
        if self.push_to_hub is not None and not _REPO.fullmatch(self.push_to_hub):
            out.append(("push_to_hub", f"expected a Hub model repo ORG/NAME, found {self.push_to_hub!r}"))
        if self.push_dry_run and self.push_to_hub is None:
            out.append(("push_dry_run", "expected --push-to-hub ORG/NAME beside it (the repo the dry run checks)"))
        if self.chat_template is not None:
            from factory.train.templates import template_problem

            problem = template_problem(self.chat_template)
            if problem:
                out.append(("chat_template", problem))
        from factory.train.settings import check_overrides

        out.extend(check_overrides(self.preset_name(), self.set))
        return out
