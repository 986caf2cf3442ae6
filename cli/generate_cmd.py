"""Output of `factory generate` (its flags come from factory.generate.options.GenerateOptions)."""

from __future__ import annotations

from typing import Any


def present(summary: dict[str, Any], opts: Any) -> None:
    from factory.cli.console import out

    if summary.get("skipped") or summary.get("noop"):
        out.print(f"up to date: {opts.out} holds all {summary.get('rows', '?')} trace rows (nothing to do)")
        return
    out.print(f"[green]done:[/] {summary['rows']} trace rows in {opts.out}")
