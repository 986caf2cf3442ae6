"""The contract's floor in bench/ingest_throughput.py (the least work any ingest must do, timed
to bound the ratio to `datasets` that any implementation can reach) is only worth its bound if
it really does that work: here its rows must equal `factory ingest`'s, column for column, on
real shipped rows (GSM8K, Sky-T1) and on `<think>` traces with every form of the split."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from factory.ingest.core import ingest
from factory.io.dataset import read_table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import ingest_throughput  # noqa: E402

DATA = REPO / "factory" / "data"


def _lines(src: Path, n: int) -> list[str]:
    with gzip.open(src, "rt", encoding="utf-8") as f:
        return [line for _, line in zip(range(n), f)]


def _think(path: Path) -> None:
    rows = []
    for i in range(120):
        thought = " ".join(f"step {j}: try {i} + {j}." for j in range(i % 7 + 1))
        completion = [
            f"<think>\n{thought}\n</think>\nThe answer is \\boxed{{{i}}}.",  # complete
            f"  <think>{thought}",  # opened after spaces, never closed: cut in the thought
            f"{thought}</think>\n\\boxed{{{i}}}",  # the prompt held the opening tag
            f"No thinking at all: \\boxed{{{i}}}",  # no thought
            "<think>\n\n</think>\n\n42",  # an empty thought
        ][i % 5]
        # every third problem sampled twice: the samples are numbered per problem in file order
        rows.append({"problem": f"What is {i // 3} + 1?", "model": f"teacher-{i % 2}", "completion": completion})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


CASES = {
    "gsm8k": ("gsm8k", ["id", "source_id", "problem", "reference_answer", "reference_solution"]),
    "think": ("think-traces", ["id", "problem_id", "sample_index", "teacher", "prompt", "completion", "reasoning",
                               "reasoning_finished", "answer", "finish_reason", "problem"]),
    "skyt1": ("skyt1-traces", ["id", "problem_id", "sample_index", "teacher", "prompt", "completion", "reasoning",
                               "reasoning_finished", "answer", "finish_reason", "problem", "reference_answer"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_floor_makes_the_rows_ingest_makes(tmp_path, name):
    preset, columns = CASES[name]
    src = tmp_path / f"{name}.jsonl"
    if name == "gsm8k":
        src.write_text("".join(_lines(DATA / "benchmarks" / "gsm8k_test.jsonl.gz", 300)), encoding="utf-8")
    elif name == "skyt1":
        src.write_text("".join(_lines(DATA / "traces" / "skyt1_long_cot_math500.jsonl.gz", 40)), encoding="utf-8")
    else:
        _think(src)
    parts = ingest_throughput.floor(str(src), preset, str(tmp_path / "floor.parquet"))
    ingest([str(src)], out=tmp_path / "ours", preset=preset, domain="math")

    theirs = pq.read_table(tmp_path / "floor.parquet")
    ours = read_table(tmp_path / "ours")
    assert theirs.num_rows == ours.num_rows > 0
    for col in columns:
        assert theirs.column(col).to_pylist() == ours.column(col).to_pylist(), col
    if name == "think":  # the split's forms all came up, and repeated problems were numbered
        assert set(ours.column("finish_reason").to_pylist()) == {"stop", "length", "unknown"}
        assert max(ours.column("sample_index").to_pylist()) == 2
    # every part the floor times took part, and the parts are what the bench adds up
    needed = {"read", "parse JSON", "problem ids", "columns", "zstd Parquet write"}
    needed |= {"final answer"} if name == "gsm8k" else {"split reasoning", "trace ids"}
    assert needed <= set(parts) and all(v >= 0 for v in parts.values())
