"""`factory teacher ...`: teacher utilities."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

teacher_app = typer.Typer(help="Teacher utilities (init-tiny).", no_args_is_help=True)


@teacher_app.command("init-tiny")
def init_tiny(
    out: Annotated[Path, typer.Argument(help="Folder to write the tiny model into.")],
    seed: Annotated[int, typer.Option(help="Seed of the random weights.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing folder.")] = False,
) -> None:
    """Build a tiny RANDOM Qwen3-style model (~1 MB) with a locally trained tokenizer and a ChatML
    template with <think> support. Its output is random text: for offline smoke tests only."""
    from factory.cli.console import out as console

    from factory.generate.teachers.tiny import build_tiny_model

    path = build_tiny_model(out, seed=seed, overwrite=overwrite)
    size = sum(p.stat().st_size for p in path.iterdir()) / 1e6
    console.print(f"[green]tiny model[/] written to {path} ({size:.1f} MB). Its output is random text.")
