"""Output of `factory filter` and `factory verify` (their flags come from
factory.score.options): the funnel table (in -> out per filter and per domain, first-rejection
reasons) and where the kept and rejected rows went."""

from __future__ import annotations

from typing import Any


def present(summary: dict[str, Any], opts: Any) -> None:
    from factory.cli.console import out
    from factory.score.runner import funnel_table

    name = "verify" if "strict" in opts.__dataclass_fields__ else "filter"
    if summary.get("skipped"):
        out.print(f"up to date: {opts.out} (same input and chain; pass --overwrite to redo it)")
    out.print(funnel_table(summary.get("funnel") or {}, title=f"factory {name} funnel"))
    rejected = summary.get("rows_in", 0) - summary.get("rows_out", 0)
    out.print(f"wrote {summary.get('rows_out', 0)} kept rows to {opts.out}, {rejected} rejected rows to {opts.out}/rejected")
