"""`factory verify IN --out OUT`: check answers — the math verifier and the code verifier
(sandboxed) by default, or any registered filters with `--filters`. Same folder layout and
funnel as `factory filter`: kept rows in OUT, wrong/unverifiable rows in OUT/rejected/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from factory.cli.console import err
from factory.cli.filter_cmd import Executor, parse_filter_names, run_and_print

DEFAULT_VERIFIERS = ("math", "code")


def verify_command(
    input_dir: Annotated[Path, typer.Argument(help="Trace dataset folder.", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder (kept rows; rejected rows go to OUT/rejected/).")],
    filters: Annotated[Optional[str], typer.Option("--filters", help="Comma-separated verifiers, in chain order (default: math,code).")] = None,
    executor: Annotated[Executor, typer.Option("--executor", help="local: this process (+ the verifiers' worker processes); ray: Ray Data map_batches.")] = "local",
    workers: Annotated[int, typer.Option("--workers", help="Worker processes per verifier (local) or Ray actors (ray).", min=1)] = 2,
    batch_rows: Annotated[int, typer.Option("--batch-rows", help="Rows per scored batch.", min=1)] = 1000,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing dataset at --out.")] = False,
) -> None:
    """Verify answers (math: cascade of answer matching; code: tests in a sandbox)."""
    from factory.filters.registry import FILTERS
    from factory.schemas.errors import FactoryError

    if filters is None:
        names = [n for n in DEFAULT_VERIFIERS if n in FILTERS]
        missing = [n for n in DEFAULT_VERIFIERS if n not in FILTERS]
        if not names:
            raise FactoryError(
                f"no verifier is registered: expected {list(DEFAULT_VERIFIERS)} in filters/registry.py, found {sorted(FILTERS)}",
                hint="pass --filters with registered names",
            )
        if missing:
            err.print(f"[yellow]verifier(s) {missing} not registered; running {names}[/yellow]")
    else:
        names = parse_filter_names(filters)
    run_and_print(input_dir=input_dir, out_dir=out_dir, names=names, options={}, executor=executor,
                  workers=workers, batch_rows=batch_rows, overwrite=overwrite, command="factory verify")
