"""A problem folder as GRPOTrainer's train dataset: one row per problem with the `prompt`
(rendered by `factory.rl.prompts`) and the columns the reward functions read, which TRL hands
them for each of the G completions: `problem_id`, `domain`, `reference_answer`, `tests`,
`language`, `meta` (task spec).

Rows that the accuracy reward cannot judge are dropped and counted by reason (every drop has a
name and a count): a math/science row without a reference answer, a code row without tests, a
row naming an unknown task.

Exercise: `factory rl --problems problems/countdown ...`.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from factory.filters.tasks.registry import TASKS, spec_of
from factory.io import dataset as ds
from factory.rl.prompts import PromptBuilder
from factory.schemas.errors import DatasetError

COLUMNS = ["id", "domain", "problem", "reference_answer", "tests", "language", "meta"]


def _unjudgeable(row: dict[str, Any]) -> str | None:
    meta = row.get("meta")
    if spec_of(meta) is not None:
        return None
    try:
        task = (json.loads(meta) or {}).get("task") if meta else None
    except (TypeError, ValueError, AttributeError):
        task = None
    if task is not None:
        return f"unknown task {task!r} (known: {', '.join(sorted(TASKS))})"
    if row.get("domain") == "code":
        return None if row.get("tests") else "code problem without tests"
    ref = row.get("reference_answer")
    return None if ref is not None and str(ref).strip() else f"{row.get('domain')} problem without a reference answer"


def load_problems(
    path: str | Path,
    *,
    prompt: str,
    limit: int | None = None,
    language: str | None = None,
    log: Any = print,
):
    """(datasets.Dataset, funnel dict). `language` overrides every row's target language."""
    import datasets

    path = Path(path)
    m = ds.check_folder(path)
    if m.contract != "problem":
        raise DatasetError(f"{path}: holds {m.contract} rows; `factory rl` needs problem rows",
                           hint="point --problems at a folder from `factory ingest` or `factory tasks`")
    builder = PromptBuilder(prompt)
    rows: list[dict[str, Any]] = []
    dropped: Counter[str] = Counter()
    seen = 0
    for row in ds.iter_rows(path, columns=COLUMNS):
        if limit is not None and seen >= limit:
            break
        seen += 1
        why = _unjudgeable(row)
        if why is not None:
            dropped[why] += 1
            continue
        rows.append({
            "prompt": builder(row),
            "problem_id": row["id"],
            "domain": row["domain"],
            "reference_answer": row.get("reference_answer"),
            "tests": row.get("tests"),
            "language": language or row.get("language") or "en",
            "meta": row.get("meta"),
        })
    funnel = {"problems": seen, "kept": len(rows), "dropped": dict(dropped)}
    for why, k in sorted(dropped.items()):
        log(f"rl data: dropped {k} problem(s): {why}")
    if not rows:
        raise DatasetError(f"{path}: no problem the accuracy reward can judge ({seen} read; dropped: {dict(dropped) or 'none'})",
                           hint="math rows need reference_answer, code rows need tests; `factory tasks` writes task problems")
    if all(r["tests"] is None for r in rows):
        for r in rows:
            r.pop("tests")  # an all-null struct column has no Arrow type to infer
    return datasets.Dataset.from_list(rows), funnel
