"""Output of `factory inspect PATH... [--rows 3] [--full-check]` (flags: factory.io.options.InspectOptions): show a dataset folder's contract, schema
version, producing command, counts, per-column summaries and a few rows (long text folded)."""

from __future__ import annotations

from factory.cli.console import out


def present(summary: dict, opts) -> None:
    """Print each folder's summary: header, one line per column, a few rows in panels."""

    for s in summary["datasets"]:
        _show(s, full_check=opts.full_check)


def _show(s: dict, *, full_check: bool) -> None:
    import json

    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    from factory.io.inspect import column_line, format_value
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
