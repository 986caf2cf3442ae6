"""Output of `factory report DIR -o report.html` (its flags come from
factory.publish.options.ReportOptions): a self-contained HTML report with plots (lineage,
funnel, teachers, token lengths, mix, acceptance by difficulty, language consistency)."""

from __future__ import annotations

from typing import Any

from factory.cli.console import out


def present(summary: dict[str, Any], opts: Any) -> None:
    out.print(f"wrote {opts.out}")
