"""The explicit task registry: name -> module (make_problem, problem_text, check_completion).
Add a task: write its module, import it here, add one line to TASKS."""

from __future__ import annotations

import json
from functools import lru_cache
from types import ModuleType
from typing import Any

from factory.filters.tasks import countdown, multiplication
from factory.filters.tasks.countdown import Check

TASKS: dict[str, ModuleType] = {
    countdown.NAME: countdown,
    multiplication.NAME: multiplication,
}


@lru_cache(maxsize=65_536)
def spec_of(meta: str | None) -> dict[str, Any] | None:
    """The task spec held in a problem row's `meta` JSON, or None for a non-task row.
    Cached: the G generations of a prompt (and every epoch) carry the same meta string."""
    if not meta:
        return None
    try:
        data = json.loads(meta)
    except (TypeError, ValueError):
        return None
    if isinstance(data, dict) and data.get("task") in TASKS:
        return data
    return None


def check(completion: str, spec: dict[str, Any]) -> Check:
    task = spec.get("task")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {sorted(TASKS)}")
    return TASKS[task].check_completion(completion, spec)
