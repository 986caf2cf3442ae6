"""`factory report DIR [--out report.html] [--lineage DIR]...`: a self-contained HTML report
with plots (funnel, token lengths, mix, acceptance by difficulty, language consistency)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from factory.cli.console import out


def report(
    src: Annotated[Path, typer.Argument(help="SFT output folder (train/, validation/) or any dataset folder.", show_default=False)],
    out_file: Annotated[Path | None, typer.Option("--out", help="HTML file to write [default: DIR/report.html].")] = None,
    lineage: Annotated[list[Path] | None, typer.Option("--lineage", help="An upstream dataset folder to read funnels from (repeatable).")] = None,
) -> None:
    """Write an HTML report with embedded plots of a dataset folder and its lineage."""
    from factory.publish.report import write_report

    path = write_report(src, out_file or Path(src) / "report.html", lineage=list(lineage or []))
    out.print(f"wrote {path}")
