"""`factory decontaminate DIR --out OUT`: drop (or flag) rows that share word n-grams with a
benchmark (the shipped MATH-500, AIME 2024/2025, AMC 2023, GSM8K, HumanEval, MBPP, plus
`--benchmark NAME=PATH[:COLUMN]`); prints hits per benchmark with the matching n-gram."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from factory.cli.console import err, out


def decontaminate_command(
    input_dir: Annotated[Path, typer.Argument(help="Problem or trace dataset folder.", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder (contaminated rows go to OUT/rejected/ with --action drop).")],
    ngram: Annotated[int, typer.Option("--ngram", help="Words per n-gram (8 by default; 13 is the GPT-3 choice).", min=2)] = 8,
    action: Annotated[Literal["drop", "flag"], typer.Option("--action", help="drop: move contaminated rows to rejected/; flag: keep them with verdict_decontam.")] = "drop",
    benchmark: Annotated[Optional[list[str]], typer.Option("--benchmark", "-b", help="Extra benchmark NAME=PATH[:COLUMN] (.jsonl[.gz], .json, .parquet or a dataset folder); repeatable.")] = None,
    builtin: Annotated[Optional[list[str]], typer.Option("--builtin", help="Only these built-in benchmarks (default all: math500, aime24, aime25, amc23, gsm8k, humaneval, mbpp).")] = None,
    no_builtin: Annotated[bool, typer.Option("--no-builtin", help="Check only the --benchmark files.")] = False,
    field: Annotated[Optional[list[str]], typer.Option("--field", help="Text column(s) to check (default: problem; add e.g. --field reasoning for traces).")] = None,
    min_matches: Annotated[int, typer.Option("--min-matches", help="Distinct shared n-grams needed to call a row contaminated.", min=1)] = 2,
    common_items: Annotated[int, typer.Option("--common-items", help="Skip n-grams found in this many benchmark items or more (boilerplate).", min=2)] = 3,
    min_overlap: Annotated[float, typer.Option("--min-overlap", help="Shared n-grams must be at least this fraction of the shorter text's n-grams.", min=0.0, max=1.0)] = 0.2,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing dataset at --out.")] = False,
) -> None:
    """Remove benchmark problems (reworded, renumbered or reformatted copies too) by n-gram overlap."""
    from factory.dedup.decontam import BUILTIN, DecontamConfig, run_decontam

    cfg = DecontamConfig(
        ngram=ngram, action=action, min_matches=min_matches, common_items=common_items, min_overlap=min_overlap,
        fields=tuple(field or ["problem"]), builtin=() if no_builtin else tuple(builtin or BUILTIN),
    )
    r = run_decontam(input_dir, out_dir, cfg, benchmarks=benchmark or [], mode="overwrite" if overwrite else "create", log=lambda s: err.print(s))
    print_decontam_report(r.stats)
    verb = "rejected" if action == "drop" else "flagged"
    out.print(f"wrote {r.stats['rows_out']} rows to {r.out}; {r.stats['contaminated']} {verb}")


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
