"""Output of `factory ingest` (its flags come from factory.ingest.options.IngestOptions): the
counts per input (read, written, rejected by reason) and where the rows went."""

from __future__ import annotations

from typing import Any

from factory.cli.console import out


def present(summary: dict[str, Any], opts: Any) -> None:
    from rich.table import Table

    if summary.get("skipped"):
        out.print(f"up to date: {opts.out} ({summary.get('rows_written')} rows; same inputs and options — pass --overwrite to redo it)")
        return
    t = Table(title=f"ingest -> {opts.out} ({summary['contract']} rows)")
    for col in ("input", "preset", "read", "written", "rejected"):
        t.add_column(col, justify="left" if col in ("input", "preset") else "right", overflow="fold")
    for s in summary["inputs"]:
        t.add_row(s["path"], s["preset"], str(s["rows_read"]), str(s["rows_written"]), str(s["rows_rejected"]))
    if len(summary["inputs"]) > 1:
        t.add_row("total", "", str(summary["rows_read"]), str(summary["rows_written"]), str(summary["rows_rejected"]))
    out.print(t)
    if summary["rows_rejected"]:
        by = ", ".join(f"{k} {v}" for k, v in summary["rejected_by_reason"].items())
        out.print(f"rejected {summary['rows_rejected']} row(s): {by} -> {summary['rejects_file']}")
    if summary.get("duplicates"):
        out.print(f"skipped {summary['duplicates']} repeated problem row(s) (same id as a row already written)")
    if summary.get("limited"):
        out.print(f"stopped after --limit {opts.limit} input rows")
    out.print(f"wrote {summary['rows_written']} {summary['contract']} row(s) to {opts.out}")
