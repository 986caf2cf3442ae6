"""Output of `factory curate` (its flags come from factory.curate.options.CurateOptions): the
mix report (funnel, quotas met, journey yield, warnings)."""

from __future__ import annotations

from typing import Any


def present(summary: dict[str, Any], opts: Any) -> None:
    from factory.cli.console import out
    from factory.curate.core import print_report

    if summary.get("skipped"):
        out.print(f"up to date: {opts.out} ({summary.get('train_rows')} train rows; same inputs and spec — pass --overwrite to redo it)")
        return
    print_report(summary["report"], lambda m: out.print(m, markup=False))
    out.print(f"[green]done:[/] {summary['train_rows']} train + {summary['validation_rows']} validation rows → {opts.out}")
