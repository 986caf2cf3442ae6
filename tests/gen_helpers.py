"""Helpers for the generate tests: Problem folders built from the shipped MATH-500 file
(factory/data/benchmarks/math500_test.jsonl.gz)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from factory.schemas.ids import problem_id

from factory.io.dataset import write_dataset


def math500_rows(package_data: Path, k: int) -> list[dict]:
    rows = []
    with gzip.open(package_data / "benchmarks" / "math500_test.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            rows.append({
                "id": problem_id("math", r["problem"], r["answer"]),
                "source": "math500", "source_id": r.get("unique_id"), "domain": "math", "problem": r["problem"],
                "reference_answer": r["answer"], "reference_solution": r.get("solution"), "tests": None,
                "difficulty": None, "level": int(r["level"]) if r.get("level") is not None else None,
                "language": "en", "license": "MIT", "meta": None,
            })
            if len(rows) >= k:
                break
    return rows


def write_problems(path: Path, rows: list[dict]) -> Path:
    write_dataset(path, "problem", rows)
    return path
