"""The `report` recipe stage: `factory report` driven by a recipe section.

    report:
      input: sft              # dataset folder (default: the `out` of the recipe's curate stage)
      out: report.html        # relative to the run folder (default: INPUT/report.html)
      lineage: [traces]       # optional upstream folders for the funnel and acceptance plots

Exercise: `factory run quickstart --out runs/quickstart` (ends with a report).
"""

from __future__ import annotations

from typing import Any

from factory.pipeline.legacy import StageContext
from factory.publish.stage import _check_common, input_folder, lineage_of

KEYS = {"input", "out", "lineage"}


def validate(section: dict[str, Any], path: str) -> list[str]:
    problems = _check_common(section, path, KEYS)
    out = section.get("out")
    if isinstance(out, str) and not out.endswith((".html", ".htm")):
        problems.append(f"{path}.out: expected an .html file path, found {out!r}")
    return problems


def run(section: dict[str, Any], ctx: StageContext) -> dict[str, Any]:
    from factory.publish.report import write_report

    src = input_folder(section, ctx, "report")
    out = ctx.path(section["out"]) if section.get("out") else src / "report.html"
    path = write_report(src, out, lineage=lineage_of(section, ctx, src))
    ctx.log(f"report: wrote {path}")
    return {"out": str(path)}
