"""`factory inspect PATH [--rows 3] [--full-check]`: show a dataset folder's contract, schema
version, producing command, counts, per-column summaries and a few rows (long text folded)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from factory.cli.console import out


def inspect_command(
    path: Annotated[Path, typer.Argument(help="A dataset folder (holds manifest.json and part-*.parquet).", show_default=False)],
    rows: Annotated[int, typer.Option("--rows", "-n", help="How many rows to print.", min=0)] = 3,
    full_check: Annotated[bool, typer.Option("--full-check", help="Also verify every shard's sha256 against the manifest.")] = False,
) -> None:
    """Show a dataset folder's schema, counts, column summaries and a few rows."""
    import json

    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    from factory.io.inspect import column_line, format_value, summarize

    s = summarize(path, rows=rows, full_check=full_check)
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column(overflow="fold")
    head.add_row("dataset", escape(s["path"]))
    head.add_row("contract", f"{s['contract']} (schema version {s['schema_version']})")
    head.add_row("rows", f"{s['rows']} in {s['shards']} shard(s), {s['bytes']:,} bytes" + (" — sha256 verified" if full_check else ""))
    head.add_row("command", escape(s["command"] or "?"))
    stats = {k: v for k, v in (s["stats"] or {}).items() if k != "inputs"}
    if stats:
        head.add_row("stats", escape(json.dumps(stats, ensure_ascii=False, default=str)))
    out.print(head)
    # one plain line per column (no table cells): long summaries stay on one greppable line
    out.print("[bold]columns[/]")
    width = max(len(c["name"]) for c in s["columns"]) if s["columns"] else 0
    for info in s["columns"]:
        out.print(f"  [cyan]{info['name']:<{width}}[/]  {escape(info['type']):<12}  {escape(column_line(info))}")
    for i, row in enumerate(s["sample"]):
        body = Table.grid(padding=(0, 1))
        body.add_column(style="cyan", no_wrap=True)
        body.add_column()
        for k, v in row.items():
            body.add_row(k, escape(format_value(v)))
        out.print(Panel(body, title=f"row {i}", title_align="left"))
