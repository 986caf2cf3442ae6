"""`factory recipes list | show NAME | validate NAME_OR_FILE [--set key.sub=value]...`:
the shipped recipes, their YAML (with overrides applied), and full up-front validation that
reports every problem at once."""

from __future__ import annotations

from typing import Annotated

import typer
from factory.cli.console import out

recipes_app = typer.Typer(help="List, show and validate recipes.", no_args_is_help=True)


@recipes_app.command("list")
def list_cmd() -> None:
    """The shipped recipes with their one-line descriptions."""
    from factory.recipes.loader import list_recipes, load_recipe

    for name in list_recipes():
        r = load_recipe(name)
        out.print(f"{name:<14} {r.description}")


@recipes_app.command("show")
def show_cmd(
    name: Annotated[str, typer.Argument(help="Shipped recipe name or a .yaml file.")],
    set_: Annotated[list[str], typer.Option("--set", help="Override: key.sub=value (repeatable).")] = [],
) -> None:
    """Print a recipe: its file as written, or the effective recipe when --set is given."""
    from factory.recipes.loader import load_recipe

    r = load_recipe(name, overrides=list(set_))
    if not set_:
        out.print(r.text, markup=False, end="")
        return
    import yaml

    out.print(f"# {r.path} with overrides: {', '.join(set_)}", markup=False)
    out.print(yaml.safe_dump(r.to_dict(), sort_keys=False, allow_unicode=True, width=110), markup=False, end="")


@recipes_app.command("validate")
def validate_cmd(
    name: Annotated[str, typer.Argument(help="Shipped recipe name or a .yaml file.")],
    set_: Annotated[list[str], typer.Option("--set", help="Override: key.sub=value (repeatable).")] = [],
) -> None:
    """Check the whole recipe (every stage section); list every problem at once."""
    from factory.recipes.loader import load_recipe
    from factory.schemas.errors import RecipeError

    from factory.pipeline.recipe import validate_recipe

    r = load_recipe(name, overrides=list(set_))
    problems = validate_recipe(r)
    if problems:
        raise RecipeError(problems, source=str(r.path))
    out.print(f"[green]valid:[/] recipe {r.name} ({r.path}); stages: {', '.join(r.stages)}")
