"""Trace folders for curate tests, built from the REAL shipped traces (factory/data/traces):
Sky-T1 long CoT (500) and Qwen2.5-14B-Instruct short CoT (500) on the same MATH-500 problems
(joined by `idx`), and the 100 x 8 best-of-N file. Thought/answer are split the way the ingest
presets do (Sky-T1: thought block / what follows it; plain short CoT: reasoning null, answer =
the completion). `verdict_math` comes from the AUTHORS' correctness labels (`score`), standing
in for `factory verify` so these tests do not depend on the verifier's run time.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa

from factory.dataset import write_dataset, DatasetWriter
from factory.schemas.contracts import TRACE_SCHEMA
from factory.schemas.ids import problem_id, trace_id

TRACES = Path(__file__).resolve().parents[1] / "factory" / "data" / "traces"
FILES = {
    "skyt1": "skyt1_long_cot_math500.jsonl.gz",
    "qwen": "qwen25_14b_instruct_short_cot_math500.jsonl.gz",
    "bo8": "qwen25math_math_cot_100_bo8.jsonl.gz",
}
SCHEMA = TRACE_SCHEMA.append(pa.field("verdict_math", pa.string()))


def _split_skyt1(text: str) -> tuple[str | None, str | None, bool]:
    if "<|end_of_thought|>" in text:
        thought, rest = text.split("<|end_of_thought|>", 1)
        reasoning = thought.replace("<|begin_of_thought|>", "", 1).strip() or None
        if "<|begin_of_solution|>" in rest:
            sol = rest.split("<|begin_of_solution|>", 1)[1].split("<|end_of_solution|>", 1)[0].strip()
            return reasoning, sol or None, True
        return reasoning, rest.strip() or None, True
    return text.replace("<|begin_of_thought|>", "", 1).strip() or None, None, False


def _level(v: Any) -> int | None:
    if isinstance(v, int):
        return v
    m = re.search(r"\d+", str(v or ""))
    return int(m.group()) if m else None


def trace_rows(which: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    rows = []
    with gzip.open(TRACES / FILES[which], "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f):
            if limit is not None and line_no >= limit:
                break
            src = json.loads(line)
            gold = str(src["gt"])
            pid = problem_id("math", src["question"], gold, None)
            teacher = src.get("model") or "qwen2.5-math-bo8"
            for i, text in enumerate(src["code"]):
                if which == "skyt1":
                    reasoning, answer, finished = _split_skyt1(text)
                else:
                    reasoning, answer, finished = None, text.strip() or None, False
                rows.append({
                    "id": trace_id(pid, i, teacher, text), "problem_id": pid, "sample_index": i,
                    "teacher": teacher, "backend": "replay", "sampling": None,
                    "system_prompt": src.get("system"), "prompt": src["question"], "completion": text,
                    "reasoning": reasoning, "reasoning_finished": finished, "answer": answer,
                    "finish_reason": "stop" if answer else "unknown",
                    "prompt_tokens": None, "completion_tokens": None,
                    "domain": "math", "source": "math500" if which != "bo8" else "math",
                    "problem": src["question"], "reference_answer": gold, "tests": None,
                    "difficulty": None, "level": _level(src.get("level")), "language": "en",
                    "license": "Apache-2.0" if which != "bo8" else "MIT",
                    "meta": json.dumps({"idx": src["idx"]}),
                    "verdict_math": "correct" if src["score"][i] else "wrong",
                })
    return rows


def write_traces(path: Path, rows: list[dict[str, Any]]) -> Path:
    with DatasetWriter(path, "trace", schema=SCHEMA, command="tests") as w:
        w.write_table(pa.Table.from_pylist(rows, schema=SCHEMA))
    return path


def shipped_trace_folder(tmp: Path, which: str, *, limit: int | None = None) -> Path:
    return write_traces(tmp / f"traces_{which}", trace_rows(which, limit=limit))
