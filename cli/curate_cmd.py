"""`factory curate --recipe NAME|FILE [--traces DIR]... [--problems DIR]... [--sft DIR]... --out DIR
[--size N] [--set key.sub=value]... [--overwrite]`: build an SFT mix from a recipe's `curate:`
section. Folders given on the command line replace the recipe's sources of the same kind, so a
shipped recipe runs on your own data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def curate_cmd(
    recipe: Annotated[str, typer.Option("--recipe", help="Shipped recipe name (`factory recipes list`) or a .yaml file.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder: OUT/train and OUT/validation (sft datasets).")],
    traces: Annotated[list[Path], typer.Option("--traces", help="Trace dataset folder (repeatable).")] = [],
    problems: Annotated[list[Path], typer.Option("--problems", help="Problem dataset folder (repeatable).")] = [],
    sft: Annotated[list[Path], typer.Option("--sft", help="SFT dataset folder to mix in (repeatable).")] = [],
    size: Annotated[Optional[int], typer.Option("--size", min=1, help="Total examples (scales every fraction quota).")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="Override a recipe key: key.sub=value (repeatable).")] = [],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier mix in --out.")] = False,
) -> None:
    """Assemble an SFT mix (quotas, journey learning, non-reasoning data) from a recipe."""
    from factory.cli.console import err
    from factory.cli.console import out as console
    from factory.recipes.curate_spec import curate_config, validate_curate
    from factory.recipes.loader import load_recipe
    from factory.schemas.errors import RecipeError

    from factory.curate.core import curate, print_report
    from factory.curate.stage import make_rewrite

    overrides = list(set_) + ([f"curate.mix.size={size}"] if size is not None else [])
    r = load_recipe(recipe, overrides=overrides)
    if "curate" not in r.sections:
        raise RecipeError([f"curate: expected a curate section in recipe {r.name}, found nothing"], source=str(r.path))
    problems_found = validate_curate(r.section("curate"), "curate")
    if problems_found:
        raise RecipeError(problems_found, source=str(r.path))
    cfg = curate_config(r.section("curate"))
    report = curate(
        cfg, seed=r.seed, out=out, inputs={"traces": traces, "problems": problems, "sft": sft}, base=Path.cwd(),
        overwrite=overwrite, rewrite=make_rewrite(cfg.get("journey")),
        command="factory curate", log=lambda m: err.print(m, markup=False),
        params={"recipe": r.name, "seed": r.seed, "overrides": overrides,
                "traces": [str(p) for p in traces], "problems": [str(p) for p in problems], "sft": [str(p) for p in sft]},
    )
    print_report(report, lambda m: console.print(m, markup=False))
    console.print(f"[green]done:[/] {report['train']['rows']} train + {report['validation']['rows']} validation rows → {out}")
