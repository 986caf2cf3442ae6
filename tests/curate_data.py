"""Trace folders for curate tests, built from the REAL shipped traces (factory/data/traces):
Sky-T1 long CoT (500) and Qwen2.5-14B-Instruct short CoT (500) on the same MATH-500 problems
(joined by `idx`), and the 100 x 8 best-of-N file. Thought/answer are split the way the ingest
presets do (Sky-T1: thought block / what follows it; plain short CoT: reasoning null, answer =
the completion). `verdict_math` comes from the AUTHORS' correctness labels (`score`), standing
in for `factory verify` so these tests do not depend on the verifier's run time.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
from factory.schemas.contracts import TRACE_SCHEMA
from factory.schemas.ids import problem_id, trace_id

from factory.io.dataset import DatasetWriter

TRACES = Path(__file__).resolve().parents[1] / "factory" / "data" / "traces"
FILES = {
    "skyt1": "skyt1_long_cot_math500.jsonl.gz",
    "qwen": "qwen25_14b_instruct_short_cot_math500.jsonl.gz",
    "bo8": "qwen25math_math_cot_100_bo8.jsonl.gz",
}


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


@functools.lru_cache(maxsize=None)
def trace_rows(which: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Trace rows of one shipped file (cached: treat as read-only)."""
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
    """A trace folder; every verdict_* key of the rows becomes a string column."""
    extra = sorted({k for r in rows for k in r if k.startswith("verdict_")})
    schema = TRACE_SCHEMA
    for c in extra:
        schema = schema.append(pa.field(c, pa.string()))
    full = [{**{c: None for c in extra}, **r} for r in rows]
    with DatasetWriter(path, "trace", schema=schema, command="tests") as w:
        w.write_table(pa.Table.from_pylist(full, schema=schema))
    return path


def score_with_filters(rows: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """Add the REAL filters' verdict columns (factory.filters.registry) to trace rows."""
    import polars as pl
    from factory.filters.registry import FILTERS

    df = pl.DataFrame(rows, infer_schema_length=None)
    out = [dict(r) for r in rows]
    for name in names:
        verdicts = FILTERS[name]().score(df)[f"verdict_{name}"].to_list()
        for r, v in zip(out, verdicts):
            r[f"verdict_{name}"] = v
    return out


def code_trace_rows() -> list[dict[str, Any]]:
    """The 5 real APPS problems with the CodeRL authors' executed programs (83): `verdict_code`
    is `pass` when the authors' run passed the unit tests, else `wrong_answer`. A program is
    the model's whole output, so the completion is that program in a python code fence."""
    import ast

    rows = []
    src_path = Path(__file__).resolve().parents[1] / "factory" / "data" / "benchmarks" / "apps_train_sample_coderl.jsonl.gz"
    with gzip.open(src_path, "rt", encoding="utf-8") as f:
        for line in f:
            src = json.loads(line)
            lit = lambda v: v if isinstance(v, (dict, list)) else ast.literal_eval(v)  # noqa: E731
            io = lit(src["input_output"])
            meta = lit(src["metadata"])
            tests = {"style": "call" if io.get("fn_name") else "stdin_stdout", "fn_name": io.get("fn_name"),
                     "inputs": [json.dumps(x) if not isinstance(x, str) else x for x in io["inputs"]],
                     "outputs": [json.dumps(x) if not isinstance(x, str) else x for x in io["outputs"]],
                     "asserts": [], "setup_code": None, "starter_code": src.get("starter_code") or None,
                     "time_limit_s": None}
            pid = problem_id("code", src["question"], None, tests)
            for i, g in enumerate(lit(src["gen_solutions"])):
                text = f"```python\n{g['code'].rstrip()}\n```"
                rows.append({
                    "id": trace_id(pid, i, "coderl", text), "problem_id": pid, "sample_index": i, "teacher": "coderl",
                    "backend": "replay", "sampling": None, "system_prompt": None, "prompt": src["question"],
                    "completion": text, "reasoning": None, "reasoning_finished": False, "answer": text,
                    "finish_reason": "stop", "prompt_tokens": None, "completion_tokens": None, "domain": "code",
                    "source": "apps", "problem": src["question"], "reference_answer": None, "tests": tests,
                    "difficulty": meta.get("difficulty"), "level": None, "language": "en", "license": "MIT",
                    "meta": None, "verdict_code": "pass" if g["result"] is True else "wrong_answer",
                })
    return rows


# Handmade (written for these tests): the shipped real data has no science or puzzle traces.
_HANDMADE = [
    ("science", "How many protons are in the nucleus of a carbon-12 atom?", "6",
     "Carbon has atomic number 6, and the atomic number counts the protons.\n\nSo carbon-12 has 6 protons "
     "(and 6 neutrons, since 12 - 6 = 6).", "A carbon-12 nucleus has $\\boxed{6}$ protons."),
    ("science", "A car accelerates from rest at 3 m/s^2. How fast is it moving after 4 seconds, in m/s?", "12",
     "Starting from rest, v = a t.\n\nWith a = 3 m/s^2 and t = 4 s, v = 3 * 4 = 12 m/s.",
     "The car moves at $\\boxed{12}$ m/s."),
    ("puzzle", "A farmer has 17 sheep and all but 9 run away. How many sheep does the farmer have left?", "9",
     "\"All but 9 run away\" means every sheep except 9 ran away.\n\nSo 9 sheep remain; the 17 is a distraction.",
     "The farmer has $\\boxed{9}$ sheep left."),
]


def handmade_science_rows() -> list[dict[str, Any]]:
    rows = []
    for domain, q, gold, reasoning, answer in _HANDMADE:
        pid = problem_id(domain, q, gold, None)
        text = f"<think>\n{reasoning}\n</think>\n\n{answer}"
        rows.append({
            "id": trace_id(pid, 0, "handmade", text), "problem_id": pid, "sample_index": 0, "teacher": "handmade",
            "backend": "replay", "sampling": None, "system_prompt": None, "prompt": q, "completion": text,
            "reasoning": reasoning, "reasoning_finished": True, "answer": answer, "finish_reason": "stop",
            "prompt_tokens": None, "completion_tokens": None, "domain": domain, "source": "handmade", "problem": q,
            "reference_answer": gold, "tests": None, "difficulty": None, "level": None, "language": "en",
            "license": "Apache-2.0", "meta": None, "verdict_math": "correct",
        })
    return rows


def shipped_trace_folder(tmp: Path, which: str, *, limit: int | None = None) -> Path:  # noqa: D103
    return write_traces(tmp / f"traces_{which}", trace_rows(which, limit=limit))
