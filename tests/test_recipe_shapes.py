"""Each shipped recipe makes what its namesake made: its output on the shipped traces is checked
against the published dataset's shape.

- sky-t1-17k (NovaSky-AI/Sky-T1_data_17k, 17K rows): Sky-T1's system prompt; assistant turns
  `<|begin_of_thought|>` long reasoning with self-verification `<|end_of_thought|>`
  `<|begin_of_solution|>` a worked solution `<|end_of_solution|>`; 10K math / 5K code / 1K
  science+puzzle; QwQ (a reasoning model) traces, so the thought is far longer than a short CoT.
- s1k (simplescaling/s1K: 1,000 rows of question, thinking_trajectories, attempt): 1K examples,
  long thinking, hard (a weak model fails them), longest traces preferred, an attempt after it.
- r1-800k (DeepSeek-R1 §2.3.3: ~600K reasoning + ~200K non-reasoning): `<think>` format, 3:1,
  long rejection-sampled CoT passing language/readability filters; non-reasoning without a
  chain of thought for trivial prompts (self-cognition) and a short one otherwise.
- journey (O1 Replication Journey): wrong attempt -> reflection -> correct solution, 1:1 with
  shortcut examples.

Inputs: the shipped real MATH-500 traces (Sky-T1 long CoT, Qwen2.5-14B short CoT) and handmade
long-CoT code/science traces (tests/recipe_data.py: the real data has none)."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from curate_data import score_with_filters, trace_rows, write_traces
from factory.cli.app import app
from factory.recipes.loader import list_recipes, load_recipe
from recipe_data import handmade_long_code_rows, handmade_long_science_rows
from typer.testing import CliRunner

from factory.curate.sft import SKY_T1_SYSTEM_PROMPT, approx_tokens, parse_assistant
from factory.io.dataset import read_table

SHORT_COT_TEACHERS = {"Qwen/Qwen2.5-14B-Instruct"}
SELF_CHECK = re.compile(r"\bwait\b|double-check|let me (check|verify|make sure)|\bverify\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("shapes")
    math = list(trace_rows("skyt1")) + list(trace_rows("qwen"))
    short = [approx_tokens(r["completion"]) for r in trace_rows("qwen")]
    return {
        "tmp": tmp, "by_id": {r["id"]: r for r in math + handmade_long_code_rows() + handmade_long_science_rows()},
        "short_median": statistics.median(short),
        "math": write_traces(tmp / "math", math),
        "code": write_traces(tmp / "code", handmade_long_code_rows()),
        "science": write_traces(tmp / "science", handmade_long_science_rows()),
    }


def _curate(out: Path, *args: str) -> list[dict]:
    res = CliRunner().invoke(app, ["curate", *args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return read_table(out / "train").to_pylist() + read_table(out / "validation").to_pylist()


def _words(text: str) -> int:
    """Prose words of a solution, boxes and LaTeX commands left out."""
    text = re.sub(r"\\boxed\{[^{}]*\}|\\[A-Za-z]+|```.*?```", " ", text, flags=re.DOTALL)
    return len(re.findall(r"[A-Za-z]{2,}", text))


def test_every_shipped_recipe_has_a_shape_test():
    assert set(list_recipes()) - {"quickstart", "r1-pipeline"} <= {"sky-t1-17k", "s1k", "r1-800k", "journey"}


def test_handmade_programs_pass_their_tests():
    for r in handmade_long_code_rows():
        program = r["answer"].split("```python\n")[1].split("```")[0]
        for given, expected in zip(r["tests"]["inputs"], r["tests"]["outputs"]):
            got = subprocess.run([sys.executable, "-c", program], input=given, capture_output=True, text=True,
                                 timeout=20).stdout.strip()
            assert got == expected, (r["problem"], given, got)


def test_sky_t1_17k_shape(data):
    recipe = load_recipe("sky-t1-17k").sections["curate"]
    assert recipe["mix"]["size"] == 16000 and recipe["output"]["format"] == "sky-t1"
    rows = _curate(data["tmp"] / "sky", "--recipe", "sky-t1-17k", "--traces", str(data["math"]),
                   "--traces", str(data["code"]), "--traces", str(data["science"]), "--size", "16")
    assert sorted(r["domain"] for r in rows) == ["code"] * 5 + ["math"] * 10 + ["puzzle" if any(
        r["domain"] == "puzzle" for r in rows) else "science"]
    thoughts = []
    for r in rows:
        assert [m["role"] for m in r["messages"]] == ["system", "user", "assistant"]
        assert r["messages"][0]["content"] == SKY_T1_SYSTEM_PROMPT
        content = r["messages"][-1]["content"]
        assert re.fullmatch(r"<\|begin_of_thought\|>\n\n.+\n\n<\|end_of_thought\|>\n\n<\|begin_of_solution\|>\n\n.+"
                            r"\n\n<\|end_of_solution\|>", content, flags=re.DOTALL), content[:200]
        thought, solution = parse_assistant(content, fmt="sky-t1")
        src = data["by_id"][r["trace_ids"][0]]
        assert src["teacher"] not in SHORT_COT_TEACHERS  # a reasoning model's trace, never a short CoT
        assert approx_tokens(thought) >= 256 and approx_tokens(solution) >= 32 and _words(solution) >= 10
        assert src.get("verdict_math", src.get("verdict_code")) in ("correct", "pass")
        thoughts.append(thought)
    math_thoughts = [approx_tokens(parse_assistant(r["messages"][-1]["content"], fmt="sky-t1")[0])
                     for r in rows if r["domain"] == "math"]
    assert statistics.median(math_thoughts) >= 2 * data["short_median"]  # far above the short-CoT median
    assert sum(bool(SELF_CHECK.search(t)) for t in thoughts) >= 0.8 * len(thoughts)  # self-verification
    assert len({r["problem_id"] for r in rows}) == len(rows)  # one trace per problem


def test_sky_t1_17k_never_takes_a_short_cot(data, tmp_path):
    """Only short CoT for a problem: that problem is dropped by name, not wrapped in thought tags."""
    qwen = write_traces(tmp_path / "qwen", list(trace_rows("qwen", limit=40)))
    res = CliRunner().invoke(app, ["curate", "--recipe", "sky-t1-17k", "--traces", str(qwen), "--out",
                                   str(tmp_path / "o"), "--size", "16"])
    assert res.exit_code == 1 and "mix bucket 'math': quota 10 but only 0 candidate(s) available" in res.output
    assert "reasoning_too_short" in res.output


def test_s1k_shape(data):
    recipe = load_recipe("s1k").sections["curate"]
    assert recipe["mix"]["size"] == 1000  # s1K: 1,000 examples
    rows = _curate(data["tmp"] / "s1k", "--recipe", "s1k", "--traces", str(data["math"]), "--traces", str(data["code"]),
                   "--traces", str(data["science"]), "--size", "8")
    assert len(rows) == 8
    weak = {r["problem_id"]: r["verdict_math"] for r in trace_rows("qwen")}
    lengths = []
    for r in rows:
        thinking, attempt = parse_assistant(r["messages"][-1]["content"], fmt="think")
        assert r["messages"][-1]["content"].startswith("<think>\n")
        assert weak[r["problem_id"]] == "wrong"  # hard: the weak model fails it
        assert approx_tokens(thinking) >= 256 and approx_tokens(attempt) >= 32
        lengths.append(approx_tokens(thinking))
    assert statistics.median(lengths) >= 2 * data["short_median"]
    # the longest qualifying traces are preferred: none left out is longer than one chosen
    chosen = {r["trace_ids"][0] for r in rows}
    pool = {r["id"]: approx_tokens(r["reasoning"]) + approx_tokens(r["answer"]) for r in trace_rows("skyt1")
            if r["verdict_math"] == "correct" and r["answer"] and weak[r["problem_id"]] == "wrong"
            and approx_tokens(r["reasoning"]) >= 256 and approx_tokens(r["answer"]) >= 32}
    assert chosen <= set(pool) and len(pool) > len(chosen)
    assert max(n for i, n in pool.items() if i not in chosen) <= min(pool[i] for i in chosen)


def test_r1_800k_shape(data, tmp_path):
    recipe = load_recipe("r1-800k").sections["curate"]
    assert recipe["mix"]["size"] == 800_000
    assert [b["fraction"] for b in recipe["mix"]["buckets"]] == [0.75, 0.25]  # ~600K : ~200K
    scored = write_traces(tmp_path / "scored", score_with_filters(
        list(trace_rows("skyt1", limit=200)) + list(trace_rows("qwen", limit=200)), ["language", "readability"]))
    rows = _curate(tmp_path / "r1", "--recipe", "r1-800k", "--traces", str(scored), "--size", "40")
    reasoning = [r for r in rows if r["kind"] == "shortcut"]
    other = [r for r in rows if r["kind"] == "non_reasoning"]
    assert len(reasoning) == 30 and len(other) == 10
    long_, short_ = [], []
    for r in reasoning:
        content = r["messages"][-1]["content"]
        assert re.fullmatch(r"<think>\n.+\n</think>\n\n.+", content, flags=re.DOTALL)
        thought, summary = parse_assistant(content, fmt="think")
        src = data["by_id"][r["trace_ids"][0]]
        assert src["teacher"] not in SHORT_COT_TEACHERS and src["verdict_math"] == "correct"
        assert approx_tokens(thought) >= 256 and approx_tokens(summary) >= 16
        long_.append(approx_tokens(thought))
    assert statistics.median(long_) >= 2 * data["short_median"]
    for r in other:
        content = r["messages"][-1]["content"]
        meta = json.loads(r["meta"])
        if meta["task"] == "self_cognition":
            assert content.startswith("<think>\n\n</think>\n\n")  # trivial prompt: no chain of thought
        thought, _ = parse_assistant(content, fmt="think")
        short_.append(approx_tokens(thought))
    assert max(short_) < min(long_)  # non-reasoning: none or a short chain of thought


def test_journey_shape(data):
    rows = _curate(data["tmp"] / "journey", "--recipe", "journey", "--traces", str(data["math"]))
    kinds = [r["kind"] for r in rows]
    assert kinds.count("journey") == kinds.count("shortcut") > 50
    for r in rows:
        if r["kind"] != "journey":
            continue
        meta = json.loads(r["meta"])
        thought, _ = parse_assistant(r["messages"][-1]["content"], fmt="think")
        wrong_part, rest = thought.split(meta["transition"])
        assert wrong_part.strip() and rest.strip()
        assert meta["wrong_answer"] is None or f"${meta['wrong_answer']}$" in meta["transition"]
