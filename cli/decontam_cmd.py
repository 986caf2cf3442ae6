"""Output of `factory decontaminate DIR --out OUT` (flags: factory.dedup.options.DecontamOptions): drop (or flag) rows that share word n-grams with a
benchmark (the shipped MATH-500, AIME 2024/2025, AMC 2023, GSM8K, HumanEval, MBPP, plus
`--benchmark NAME=PATH[:COLUMN]`); prints hits per benchmark with the matching n-gram."""

from __future__ import annotations

from factory.cli.console import out


def present(summary: dict, opts) -> None:
    """Print hits per benchmark with a matching n-gram; the manifest keeps the same stats."""
    if summary.get("skipped"):
        out.print(f"up to date: {opts.out} (same input and options; pass --overwrite to redo it)")
        return
    print_decontam_report(summary)
    verb = "rejected" if opts.action == "drop" else "flagged"
    out.print(f"wrote {summary['rows_out']} rows to {opts.out}; {summary['contaminated']} {verb}")


def print_decontam_report(stats: dict) -> None:
    from rich.table import Table

    t = Table(title=f"decontamination ({stats['ngram']}-grams, action {stats['action']}): {stats['rows_in']} rows in, {stats['contaminated']} contaminated")
    t.add_column("benchmark")
    t.add_column("items", justify="right")
    t.add_column("hits", justify="right")
    t.add_column("example: row <- item: matching n-gram", overflow="fold")
    for b, n in stats["hits_by_benchmark"].items():
        ex = stats.get("examples", {}).get(b, [])
        t.add_row(b, str(stats["benchmark_items"].get(b, 0)), str(n), "\n".join(f"{e['id']} <- {e['item']}: {e['ngram']!r}" for e in ex[:2]))
    out.print(t)
