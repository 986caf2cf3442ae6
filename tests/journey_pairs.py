r"""Real wrong/correct trace pairs for journey learning, with REVIEWED verdicts (not the authors'
labels): one model right and the other wrong on the same problem.

- MATH-500: Sky-T1 long CoT vs Qwen2.5-14B-Instruct short CoT (factory/data/traces), verdicts =
  the authors' labels corrected by tests/data/math_label_errors.json (a colleague's hand review,
  50 rows); gold = the
  MATH-500 `answer` field (the files' `gt` went through the source grader's normalisation, which
  damaged some: `10,\!080` became `10,80`).
- OlympiadBench: Qwen2.5-14B-Instruct vs gemma-2-27b-it short CoT (tests/data/dev, reviewed
  verdict `correct`; gold = `gold_fixed` where the stored one was damaged).

Used by tests/test_journey.py and bench/journey_yield.py.
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Any

from curate_data import trace_rows
from factory.schemas.ids import problem_id, trace_id

DATA = Path(__file__).resolve().parent / "data"
REPO = DATA.parents[1]

def _reviewed_math500() -> dict[tuple[str, int], bool]:
    rows = json.loads((DATA / "math_label_errors.json").read_text())["rows"]
    return {(r["file"], int(r["idx"])): bool(r["correct"]) for r in rows if int(r.get("sample", 0)) == 0}


@functools.cache
def math500_pairs() -> tuple[list[tuple[dict, dict]], dict[str, str]]:
    """(wrong row, correct row) per MATH-500 problem where exactly one of the two models is right."""
    fixed = _reviewed_math500()
    files = {"skyt1": "skyt1_long_cot_math500", "qwen": "qwen25_14b_instruct_short_cot_math500"}
    by_pid: dict[str, list[dict]] = {}
    ref: dict[str, str] = {}
    with gzip.open(REPO / "factory" / "data" / "traces" / f"{files['qwen']}.jsonl.gz", "rt", encoding="utf-8") as f:
        answer = {int(src["idx"]): src["answer"] for src in map(json.loads, f)}
    for which, fname in files.items():
        for r in trace_rows(which):
            idx = int(json.loads(r["meta"])["idx"])
            ok = fixed.get((fname, idx), r["verdict_math"] == "correct")
            row = {**r, "verdict_math": "correct" if ok else "wrong", "reference_answer": answer[idx]}
            by_pid.setdefault(r["problem_id"], []).append(row)
            ref[r["problem_id"]] = answer[idx]
    return _pairs(by_pid), ref


@functools.cache
def olympiad_rows() -> tuple[dict[str, Any], ...]:
    """The 1,350 reviewed OlympiadBench outputs as trace rows (short CoT: the output is the answer
    part; reasoning null)."""
    out = []
    with gzip.open(DATA / "dev" / "olympiadbench.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            src = json.loads(line)
            gold = src.get("gold_fixed") or src["gold"]
            pid = problem_id("math", src["question"], gold, None)
            teacher = {"qwen25_14b_instruct": "Qwen/Qwen2.5-14B-Instruct", "gemma2_27b_it": "google/gemma-2-27b-it"}.get(
                src["model"], src["model"])
            text = src["output"]
            out.append({
                "id": trace_id(pid, 0, teacher, text), "problem_id": pid, "sample_index": 0, "teacher": teacher,
                "backend": "replay", "sampling": None, "system_prompt": None, "prompt": src["question"],
                "completion": text, "reasoning": None, "reasoning_finished": False, "answer": text,
                "finish_reason": "stop", "prompt_tokens": None, "completion_tokens": None, "domain": "math",
                "source": "olympiadbench", "problem": src["question"], "reference_answer": gold, "tests": None,
                "difficulty": None, "level": None, "language": "en", "license": "Apache-2.0",
                "meta": json.dumps({"idx": src["idx"]}), "verdict_math": "correct" if src["correct"] else "wrong",
            })
    return tuple(out)


@functools.cache
def olympiad_pairs() -> tuple[list[tuple[dict, dict]], dict[str, str]]:
    by_pid: dict[str, list[dict]] = {}
    ref: dict[str, str] = {}
    for r in olympiad_rows():
        by_pid.setdefault(r["problem_id"], []).append(r)
        ref[r["problem_id"]] = r["reference_answer"]
    return _pairs(by_pid), ref


def _pairs(by_pid: dict[str, list[dict]]) -> list[tuple[dict, dict]]:
    pairs = []
    for rows in by_pid.values():
        wrong = [r for r in rows if r["verdict_math"] == "wrong"]
        right = [r for r in rows if r["verdict_math"] == "correct"]
        if len(rows) == 2 and len(wrong) == 1 and len(right) == 1:
            pairs.append((wrong[0], right[0]))
    return pairs
