"""The CLI's ONE error boundary. Every command is wrapped by `guarded`: a `FactoryError`
becomes one red line on stderr and exit code 1; anything else is a bug and gets the same short
line plus a pointer to `--debug`. Tracebacks are shown only with `--debug` (or FACTORY_DEBUG=1)
and never with local variables, which may hold API tokens.

SIGTERM and SIGHUP (a scheduler's preemption, `kill PID`, a closed terminal) behave like Ctrl-C:
while a command runs they raise `Terminated` (a KeyboardInterrupt), so every stage unwinds the
way it does on Ctrl-C — finished shards and checkpoints are kept, the folder stays resumable —
and the command prints one line and exits 128 + the signal number (143 for SIGTERM), the
shell's convention for "killed by a signal".

Exercise: `factory generate ... & sleep 5; kill %1` then the same command again (it resumes).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any, Callable

import typer
from factory.schemas.errors import FactoryError

_state = {"debug": False}


def set_debug(flag: bool) -> None:
    _state["debug"] = flag


def debug_enabled() -> bool:
    return _state["debug"] or os.environ.get("FACTORY_DEBUG") == "1"


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived while a command ran (handled exactly like Ctrl-C)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def terminate_like_ctrl_c() -> Iterator[None]:
    """While the block runs, SIGTERM/SIGHUP raise `Terminated` in the main thread. A process
    forked inside the block (multiprocessing workers) inherits the handler: there it restores the
    default action and re-sends the signal, so `pool.terminate()` still ends its workers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def handler(signum: int, frame: Any) -> None:
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Terminated(signum)

    old = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):
            old[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, h in old.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, h)


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        from factory.cli.console import err

        try:
            with terminate_like_ctrl_c():
                return fn(*args, **kwargs)
        except Terminated as e:
            err.print(f"[bold red]terminated[/] ({signal.Signals(e.signum).name}; finished work is kept: "
                      "re-run the same command to resume)")
            raise typer.Exit(128 + e.signum) from None
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

