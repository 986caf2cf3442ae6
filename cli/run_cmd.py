"""`factory run RECIPE --out DIR [--set key=value]... [--only STAGE]... [--overwrite]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def run_cmd(
    recipe: Annotated[str, typer.Argument(help="Shipped recipe name (see `factory recipes list`) or a .yaml file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: every stage writes inside it.")] = Path("runs/run"),
    set_: Annotated[list[str], typer.Option("--set", help="Override a recipe key: key.sub=value (repeatable).")] = [],
    only: Annotated[list[str], typer.Option("--only", help="Run only these stages (repeatable).")] = [],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace outputs of earlier runs in --out.")] = False,
) -> None:
    """Run the stages a recipe names, in order."""
    from factory.cli.console import err
    from factory.cli.console import out as console

    from factory.pipeline.recipe import run_recipe

    record = run_recipe(recipe, out=out, overrides=list(set_), overwrite=overwrite, only=list(only) or None,
                        log=lambda m: err.print(m))
    console.print(f"[green]done:[/] recipe {record['recipe']} → {out} (stages: {', '.join(record['stages'])})")
