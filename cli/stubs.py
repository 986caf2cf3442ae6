"""Commands that are part of the product but not built yet: each says so plainly, names the
issue that tracks it, and exits non-zero. A module replaces its stub when the command lands."""

from __future__ import annotations

import typer
from factory.schemas.errors import NotBuiltYetError

EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def not_built(name: str, issue: int, what: str):
    def command(ctx: typer.Context) -> None:
        raise NotBuiltYetError(
            f"`factory {name}` is not built yet ({what}; tracked in issue {issue})",
            hint="see `factory --help` for the commands that work today",
        )

    command.__doc__ = f"(not built yet) {what}."
    return command
