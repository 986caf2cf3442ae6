"""`factory train --data DIR --student MODEL --out DIR [--preset NAME] [--lora] [--set k=v]...`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def train_cmd(
    data: Annotated[Path, typer.Option("--data", help="Curated SFT folder (with train/ and validation/).")],
    student: Annotated[str, typer.Option("--student", help="Student model: a local folder or a Hub id.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder: checkpoints, the student, its card.")],
    preset: Annotated[str, typer.Option("--preset", help="sky-t1 | openr1-distill | s1 | limo | tiny")] = "s1",
    set_: Annotated[list[str], typer.Option("--set", help="Override a preset value, e.g. learning_rate=2e-5.")] = [],
    lora: Annotated[bool, typer.Option("--lora", help="Train LoRA adapters (peft), merged into the saved student.")] = False,
    chat_template: Annotated[Path | None, typer.Option("--chat-template", help="Jinja chat template file to use.")] = None,
    no_resume: Annotated[bool, typer.Option("--no-resume", help="Ignore checkpoints already in --out.")] = False,
    preflight_only: Annotated[bool, typer.Option("--preflight-only", help="Only check the student's template.")] = False,
) -> None:
    """Distil a student with TRL's SFTTrainer (template preflight first; resumes from checkpoints)."""
    from factory.cli.console import err
    from factory.cli.console import out as console

    if preflight_only:
        from transformers import AutoTokenizer, GenerationConfig

        from factory.train.preflight import preflight

        tok = AutoTokenizer.from_pretrained(student)
        try:
            gc = GenerationConfig.from_pretrained(student)
        except OSError:
            gc = None
        rep = preflight(tok, generation_config=gc, chat_template=chat_template.read_text() if chat_template else None)
        console.print(f"[green]preflight ok[/]: end-of-turn {rep.eot_token!r} trained and stops generation; "
                      f"{'patched template' if rep.patched else 'template as is'}")
        return
    from factory.train.core import train

    res = train(data=data, student=student, out=out, preset=preset, overrides=list(set_), lora=lora,
                chat_template_file=chat_template, resume=not no_resume, log=lambda m: err.print(m))
    first, last = (res.losses[0], res.losses[-1]) if res.losses else (float("nan"), float("nan"))
    console.print(f"[green]trained[/] {res.global_step} steps, loss {first:.3f} → {last:.3f}, "
                  f"{res.tokens_per_second:.0f} tokens/s, packing efficiency "
                  f"{res.packing_efficiency if res.packing_efficiency is not None else 'n/a'}; student in {res.out}")
