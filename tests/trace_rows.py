"""Build Trace-contract rows from the real shipped traces (factory/data/traces/*.jsonl.gz and
tests/data/text/mixed_reasoning) for filter tests. Deliberately independent of the ingest
stage (built in parallel): it splits the Sky-T1 format itself, the way ingest would.

Each source row holds `code` (the model outputs, one per sample) and `gt` (the gold answer);
`score` (the authors' correctness labels) is kept in `meta` for tests that want it.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

from factory.schemas.contracts import CONTRACTS
from factory.schemas.ids import problem_id, trace_id

_OPEN = re.compile(r"<think>|<\|begin_of_thought\|>")
_CLOSE = re.compile(r"</think>|<\|end_of_thought\|>")
_SOLUTION_TAGS = re.compile(r"<\|(?:begin|end)_of_solution\|>")


def split_completion(text: str) -> tuple[str | None, bool, str | None]:
    """(reasoning, reasoning_finished, answer) from a raw completion with <think> or Sky-T1 tags."""
    close = _CLOSE.search(text)
    opened = _OPEN.search(text)
    if close is None:
        if opened is None:
            return None, True, text.strip()  # no thought at all: the whole text is the answer
        return text[opened.end() :].strip(), False, None  # cut off inside the thought
    start = opened.end() if opened is not None and opened.start() < close.start() else 0
    reasoning = text[start : close.start()].strip()
    answer = _SOLUTION_TAGS.sub("", text[close.end() :]).strip()
    return reasoning, True, answer


def trace_row(
    *,
    question: str,
    completion: str,
    gold: str | None,
    sample_index: int = 0,
    teacher: str = "real",
    source: str = "math500",
    domain: str = "math",
    language: str = "en",
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    reasoning, finished, answer = split_completion(completion)
    pid = problem_id(domain, question, gold, None)
    stopped = finished and (answer is not None) and ("<|begin_of_solution|>" not in completion or "<|end_of_solution|>" in completion)
    row = {
        "id": trace_id(pid, sample_index, teacher, completion),
        "problem_id": pid,
        "sample_index": sample_index,
        "teacher": teacher,
        "backend": "replay",
        "sampling": None,
        "system_prompt": None,
        "prompt": question,
        "completion": completion,
        "reasoning": reasoning,
        "reasoning_finished": finished,
        "answer": answer,
        "finish_reason": "stop" if stopped else "length",
        "prompt_tokens": None,
        "completion_tokens": None,
        "domain": domain,
        "source": source,
        "problem": question,
        "reference_answer": gold,
        "tests": None,
        "difficulty": None,
        "level": None,
        "language": language,
        "license": "Apache-2.0",
        "meta": json.dumps(meta or {}, sort_keys=True),
    }
    return CONTRACTS["trace"].validate_row(row)


def rows_from_traces(path: Path, *, limit: int | None = None, teacher: str | None = None) -> list[dict[str, Any]]:
    """Rows of one shipped trace file (`code` = list of outputs, `gt` = gold answer)."""
    out: list[dict[str, Any]] = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f):
            if limit is not None and n >= limit:
                break
            rec = json.loads(line)
            labels = rec.get("score") or []
            for k, text in enumerate(rec["code"]):
                out.append(
                    trace_row(
                        question=rec["question"],
                        completion=text,
                        gold=str(rec["gt"]),
                        sample_index=k,
                        teacher=teacher or path.name.split(".jsonl")[0],
                        meta={"idx": rec["idx"], "label": bool(labels[k]) if k < len(labels) else None},
                    )
                )
    return out


def mixed_reasoning_rows(text_dir: Path) -> list[dict[str, Any]]:
    """Every row of the three real trace files in text/mixed_reasoning; meta.drifts marks the
    three whose output contains Chinese."""
    rows: list[dict[str, Any]] = []
    for fname in ("skyt1_reflection-1.0-32b_aime24.jsonl.gz", "skyt1_corrupt-0.7-32b_amc23.jsonl.gz"):
        with gzip.open(text_dir / "mixed_reasoning" / fname, "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                rec = json.loads(line)
                text = rec["code"][0]
                rows.append(
                    trace_row(question=rec["question"], completion=text, gold=str(rec["gt"]), teacher=fname.split(".")[0],
                              meta={"file": fname, "row": i, "drifts": has_cjk(text)})
                )
    fname = "qwen2.5-32b-instruct_cw0.1_math500.json.gz"
    data = json.loads(gzip.open(text_dir / "mixed_reasoning" / fname, "rt", encoding="utf-8").read())
    for i, (problem, rec) in enumerate(data.items()):
        # the response continues a thought begun in the prompt: it holds the rest of the thought
        text = rec["responses"]["0.0"]["content"]
        rows.append(
            trace_row(question=problem, completion=text, gold=str(rec["answer"]), teacher="qwen2.5-32b-cw0.1",
                      meta={"file": fname, "row": i, "drifts": has_cjk(text)})
        )
    return rows


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" or "\u3040" <= ch <= "\u30ff" or "\uac00" <= ch <= "\ud7af" for ch in text)
