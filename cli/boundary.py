"""The CLI's ONE error boundary. Every command is wrapped by `guarded`: a `FactoryError`
becomes one red line on stderr and exit code 1; anything else is a bug and gets the same short
line plus a pointer to `--debug`. Tracebacks are shown only with `--debug` (or FACTORY_DEBUG=1)
and never with local variables, which may hold API tokens.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

import typer
from factory.schemas.errors import FactoryError

_state = {"debug": False}


def set_debug(flag: bool) -> None:
    _state["debug"] = flag


def debug_enabled() -> bool:
    return _state["debug"] or os.environ.get("FACTORY_DEBUG") == "1"


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        from factory.cli.console import err

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except FactoryError as e:
            if debug_enabled():
                raise
            err.print(f"[bold red]error:[/] {_escape(str(e))}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("[bold red]interrupted[/] (finished work is kept; re-run the same command to resume)")
            raise typer.Exit(130) from None
        except Exception as e:  # a bug: still one line, with the way to see more
            if debug_enabled():
                raise
            err.print(
                f"[bold red]internal error:[/] {type(e).__name__}: {_escape(str(e))}\n"
                "  re-run with --debug for the traceback, and please report it"
            )
            raise typer.Exit(1) from None

    return run


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)

