"""The `inspect` recipe stage: log a summary of dataset folders (contract, counts, column
summaries, a few rows) — the same as `factory inspect`.

    inspect:
      path: problems            # optional: a folder or a list; default: every folder earlier stages wrote
      rows: 2                   # optional: rows to print (default 2)
      full_check: false         # optional: verify shard hashes too

Exercise: `factory run quickstart --out runs/quickstart`.
"""

from __future__ import annotations

from typing import Any

from factory.pipeline.legacy import StageContext, unknown_keys

KEYS = {"path", "rows", "full_check"}


def validate(section: dict[str, Any], path: str) -> list[str]:
    problems: list[str] = unknown_keys(section, path, KEYS)
    p = section.get("path")
    if p is not None and not (isinstance(p, str) and p) and not (
        isinstance(p, list) and p and all(isinstance(x, str) and x for x in p)
    ):
        problems.append(f"{path}.path: expected a folder path or a list of them, found {p!r}")
    rows = section.get("rows")
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 0):
        problems.append(f"{path}.rows: expected a non-negative integer, found {rows!r}")
    fc = section.get("full_check")
    if fc is not None and not isinstance(fc, bool):
        problems.append(f"{path}.full_check: expected true or false, found {fc!r}")
    return problems


def run(section: dict[str, Any], ctx: StageContext) -> dict[str, Any]:
    from factory.io.inspect import summarize, summary_text
    from factory.schemas.errors import RecipeError

    p = section.get("path")
    if p is None:
        # every dataset folder an earlier stage reported, in order
        paths = [s["out"] for s in ctx.summaries.values() if isinstance(s, dict) and isinstance(s.get("out"), str)]
        if not paths:
            raise RecipeError(["inspect.path: no earlier stage wrote a dataset folder; give `path`"])
    else:
        paths = [str(ctx.path(x)) for x in ([p] if isinstance(p, str) else p)]
    result: dict[str, Any] = {"datasets": []}
    for folder in paths:
        s = summarize(folder, rows=section.get("rows", 2), full_check=section.get("full_check", False))
        ctx.log(summary_text(s))
        result["datasets"].append({"path": s["path"], "contract": s["contract"], "rows": s["rows"], "shards": s["shards"]})
    return result
