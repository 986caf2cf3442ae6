"""Output of `factory eval` (its flags come from factory.eval.options.EvalOptions): the results
table, or the JSON record with `--json`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

EXTRA = {"as_json": (Annotated[bool, typer.Option("--json", help="Print the JSON record instead of the table.")], False)}


def present(summary: dict[str, Any], opts: Any, as_json: bool = False) -> None:
    from factory.cli.console import out as console

    from factory.eval.core import results_table

    record = summary.get("record")
    if record is None:  # up to date: the record is on disk
        from pathlib import Path

        record = json.loads((Path(opts.out) / "eval.json").read_text())
    if as_json:
        typer.echo(json.dumps(record, indent=2))
        return
    console.print(results_table(record))
    console.print(f"written: {opts.out}/eval.json" + (" (up to date: nothing re-run)" if summary.get("skipped") else ""))
