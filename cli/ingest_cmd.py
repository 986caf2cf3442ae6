"""`factory ingest INPUT... --preset NAME --out DIR`: turn problem and trace files into a
factory dataset folder and print the counts (read, written, rejected by reason)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from factory.cli.console import out

_PRESET_HELP = (
    "Input format: gsm8k, math500, aime24, aime25, amc23, humaneval, mbpp, apps, skyt1-traces, "
    "qwen-traces, think-traces, messages, problems (generic). Guessed from the file name/columns when left out."
)


def ingest_command(
    inputs: Annotated[list[str], typer.Argument(help="Files (.jsonl[.gz], .json, .parquet, .csv), datasets save_to_disk folders, or hf:OWNER/NAME[:CONFIG]:SPLIT.", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output dataset folder.")],
    preset: Annotated[Optional[str], typer.Option("--preset", "-p", help=_PRESET_HELP)] = None,
    to: Annotated[Optional[Literal["problem", "trace"]], typer.Option("--to", help="Row kind to write (default: the preset's).")] = None,
    map_: Annotated[Optional[list[str]], typer.Option("--map", "-m", help="DEST=COLUMN, e.g. --map problem=question --map reference_answer=answer --map meta.url=link.")] = None,
    on_error: Annotated[Literal["fail", "skip"], typer.Option("--on-error", help="fail: stop at the first bad row; skip: send bad rows to <out>/rejected/rejects.jsonl.")] = "fail",
    limit: Annotated[Optional[int], typer.Option("--limit", help="Read at most N input rows (all inputs together).", min=1)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing dataset at --out.")] = False,
    domain: Annotated[Optional[str], typer.Option("--domain", help="math | code | science | puzzle | general (overrides the preset).")] = None,
    source: Annotated[Optional[str], typer.Option("--source", help="Source name stored on every row.")] = None,
    license_: Annotated[Optional[str], typer.Option("--license", help="License stored on every row.")] = None,
    language: Annotated[Optional[str], typer.Option("--language", help="Language code stored on every row (default en).")] = None,
    teacher: Annotated[Optional[str], typer.Option("--teacher", help="Teacher name for trace rows (default: the file's model column, else 'unknown').")] = None,
) -> None:
    """Turn problem sets and existing trace sets into a factory dataset folder.

    Presets (--preset; guessed from the file name or columns when left out):
    gsm8k, math500, aime24, aime25, amc23 (math problems with answers);
    humaneval, mbpp, apps (code problems with assert / stdin-stdout / call tests);
    skyt1-traces, qwen-traces (Qwen2.5-Math evaluation outputs with the authors' labels);
    think-traces (<think> completions), messages (chat messages), problems (any problem table).

    Bad rows stop the run with file, line and field (--on-error fail) or go to
    <out>/rejected/rejects.jsonl (--on-error skip); the counts are printed and kept in the manifest.
    """
    from rich.table import Table

    from factory.ingest.core import ingest

    r = ingest(
        inputs, out=out_dir, preset=preset, to=to, maps=map_ or [], on_error=on_error, limit=limit,
        mode="overwrite" if overwrite else "create", domain=domain, source=source, license=license_,
        language=language, teacher=teacher,
    )
    t = Table(title=f"ingest -> {r.out} ({r.contract} rows)")
    for col in ("input", "preset", "read", "written", "rejected"):
        t.add_column(col, justify="left" if col in ("input", "preset") else "right", overflow="fold")
    for s in r.inputs:
        t.add_row(s.path, s.preset, str(s.rows_read), str(s.rows_written), str(s.rows_rejected))
    if len(r.inputs) > 1:
        t.add_row("total", "", str(r.rows_read), str(r.rows_written), str(r.rows_rejected))
    out.print(t)
    if r.rows_rejected:
        by = ", ".join(f"{k} {v}" for k, v in r.rejected_by_reason.items())
        out.print(f"rejected {r.rows_rejected} row(s): {by} -> {r.rejects_file}")
    if r.duplicates:
        out.print(f"skipped {r.duplicates} repeated problem row(s) (same id as a row already written)")
    if r.limited:
        out.print(f"stopped after --limit {limit} input rows")
    out.print(f"wrote {r.rows_written} {r.contract} row(s) to {r.out}")
