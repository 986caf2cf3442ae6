"""Format and readability filters on real shipped traces and handmade edge cases: every verdict
names its rule, raw <think> tags are parsed when reasoning/answer were not split, scores are
typed columns and thresholds are knobs; repetition separates a real trace from a synthetic loop
and flags the real looping traces."""

from __future__ import annotations

import json

import polars as pl
import pyarrow as pa
import pytest
from factory.filters.format import (
    FormatFilter,
    ReadabilityFilter,
    compression_ratio,
    repeated_ngram_share,
)
from factory.schemas.contracts import TRACE_SCHEMA
from trace_rows import mixed_reasoning_rows, rows_from_traces, trace_row


def _frame(rows):
    return pl.from_arrow(pa.Table.from_pylist(rows, schema=TRACE_SCHEMA))


@pytest.fixture(scope="module")
def skyt1(package_data):
    return rows_from_traces(package_data / "traces" / "skyt1_long_cot_math500.jsonl.gz")


def _raw_row(completion, *, domain="math", finish="stop", tokens=None, split=False):
    row = trace_row(question="What is 2+2?", completion=completion, gold="4", domain=domain)
    if not split:  # as a backend that did not split the thought would write it
        row["reasoning"] = None
        row["answer"] = None
        row["reasoning_finished"] = True
    row["finish_reason"] = finish
    row["completion_tokens"] = tokens
    return row


def test_format_verdicts_on_raw_tags():
    cases = {
        "ok": _raw_row("<think>2 and 2 make 4.</think>The answer is \\boxed{4}."),
        "ok_prompt_opened": _raw_row("2 and 2 make 4.</think>\n\\boxed{4}"),  # template put <think> in the prompt
        "not_stopped": _raw_row("<think>2 and 2 make 4.</think>\\boxed{4}", finish="length"),
        "no_think": _raw_row("The answer is \\boxed{4}."),
        "unclosed_think": _raw_row("<think>2 and 2 make 4, so the answer is \\boxed{4}"),
        "malformed_think": _raw_row("<think>a</think><think>b</think>\\boxed{4}"),
        "empty_reasoning": _raw_row("<think>  \n </think>\\boxed{4}"),
        "no_answer": _raw_row("<think>2 and 2 make 4.</think>   "),
        "no_boxed": _raw_row("<think>2 and 2 make 4.</think>The answer is 4."),
        "code_ok_without_box": _raw_row("<think>loop</think>```python\nprint(4)\n```", domain="code"),
        "too_long": _raw_row("<think>2 and 2 make 4.</think>\\boxed{4}", tokens=50_000),
    }
    f = FormatFilter()
    scores = f.score(_frame(list(cases.values())))
    got = dict(zip(cases, scores["verdict_format"].to_list()))
    expected = {k: ("ok" if k.startswith(("ok", "code_ok")) else k) for k in cases}
    assert got == expected
    assert f.keep(scores).to_list() == [v == "ok" for v in expected.values()]
    assert scores.schema["score_format_tokens"] == pl.Int64
    assert scores.schema["score_format_boxed"] == pl.Boolean
    assert scores.schema["score_format_think"] == pl.String


def test_thresholds_are_knobs_on_the_same_scores():
    rows = [_raw_row("<think>a b c</think>\\boxed{4}", tokens=t) for t in (5, 500, 5000)]
    scores = FormatFilter().score(_frame(rows))
    assert FormatFilter(min_length_tokens=100, max_length_tokens=1000).keep(scores).to_list() == [False, True, False]
    assert FormatFilter().keep(scores).to_list() == [True, True, True]
    lax = FormatFilter(require_think=False, require_boxed_for_math=False, require_stop=False)
    raw = _frame([_raw_row("just 4", finish="length")])
    assert lax.keep(lax.score(raw)).to_list() == [True]
    with pytest.raises(ValueError, match="max_length_tokens"):
        FormatFilter(min_length_tokens=10, max_length_tokens=5)


def test_format_on_real_skyt1_traces(skyt1):
    """The Sky-T1 file's documented shapes: 178 complete, 94 stop inside the thought (no end tag),
    210 with no tags at all, 16 with an unclosed solution block."""
    df = _frame(skyt1)
    scores = FormatFilter().score(df)
    think = scores["score_format_think"].value_counts().sort("score_format_think")
    counts = dict(think.iter_rows())
    assert counts["missing"] == 210
    assert counts["unclosed"] == 94
    verdicts = dict(scores["verdict_format"].value_counts().iter_rows())
    assert verdicts["ok"] > 150
    # a row is kept only if it is closed, stopped, has an answer and a box
    ok = df.filter(scores["verdict_format"] == "ok")
    assert ok["answer"].str.contains(r"\\boxed").all()
    assert (ok["finish_reason"] == "stop").all()


def test_split_columns_win_over_raw_parsing(skyt1):
    closed = next(r for r in skyt1 if r["reasoning"] and r["reasoning_finished"] and r["answer"])
    row = dict(closed)
    row["reasoning_finished"] = False  # the generator said the thought never closed
    scores = FormatFilter().score(_frame([closed, row]))
    assert scores["score_format_think"].to_list() == ["closed", "unclosed"]


def test_readability_real_trace_vs_synthetic_loop(skyt1):
    real = next(r for r in skyt1 if r["reasoning"] and len(r["reasoning"]) > 3000 and r["finish_reason"] == "stop")
    loop_unit = "Alternatively, perhaps I need to consider that the problem is intended to be solved differently. "
    loop = dict(real)
    loop["reasoning"] = real["reasoning"][:1500] + loop_unit * 60
    ratio_real, ratio_loop = compression_ratio(real["reasoning"]), compression_ratio(loop["reasoning"])
    share_real, top_real = repeated_ngram_share(real["reasoning"])
    share_loop, top_loop = repeated_ngram_share(loop["reasoning"])
    assert ratio_loop > 2 * ratio_real
    assert share_loop > 0.6 > share_real
    assert top_loop >= 50 > top_real
    f = ReadabilityFilter()
    scores = f.score(_frame([real, loop]))
    assert scores["verdict_readability"].to_list() == ["ok", "repetition"]
    assert scores.schema["score_readability_compression"] == pl.Float64
    assert scores.schema["score_readability_top_ngram_count"] == pl.Int64


def test_readability_rules_name_the_failure():
    rows = [
        _raw_row("<think>" + "\n\n".join(f"Step {i}: we add {i} and {i + 1} to get {2 * i + 1}." for i in range(20)) + "</think>\\boxed{4}", split=True),
        _raw_row("<think>" + " ".join(f"w{i}" for i in range(900)) + "</think>\\boxed{4}", split=True),
        _raw_row("<think>Let me check with code.\n```python\nprint(2+2)\n```\nIt prints 4.</think>\\boxed{4}", split=True),
        _raw_row("<think>Let me check with code.\n```python\nprint(2+2)\n```\nIt prints 4.</think>done", domain="code", split=True),
    ]
    scores = ReadabilityFilter().score(_frame(rows))
    assert scores["verdict_readability"].to_list() == ["ok", "long_paragraph", "code_in_math", "ok"]
    assert scores["score_readability_max_paragraph_words"][1] == 900
    assert scores["score_readability_code_blocks"][2] == 1
    # paragraph limits are knobs applied to the same scores
    assert ReadabilityFilter(max_paragraph_words=1000, max_paragraph_chars=10_000).keep(scores).to_list() == [True, True, False, True]
    assert ReadabilityFilter(allow_code_in_math=True).keep(scores).to_list() == [True, False, True, True]


def test_readability_flags_real_loops(test_data):
    """The two real traces documented as degenerate loops are flagged; the real looping Sky-T1
    rows it flags are almost all wrong by the authors' labels."""
    rows = mixed_reasoning_rows(test_data / "text")
    df = _frame(rows)
    scores = ReadabilityFilter().score(df)
    metas = [json.loads(m) for m in df["meta"]]
    by = {(m["file"], m["row"]): v for m, v in zip(metas, scores["verdict_readability"])}
    assert by[("skyt1_reflection-1.0-32b_aime24.jsonl.gz", 4)] == "repetition"
    assert by[("qwen2.5-32b-instruct_cw0.1_math500.json.gz", 488)] == "repetition"
    loops = [m for m, v in zip(metas, scores["verdict_readability"]) if v == "repetition"]
    assert 5 <= len(loops) <= 60  # a minority of 570 rows


def test_repetition_flags_agree_with_labels(skyt1):
    df = _frame(skyt1)
    scores = ReadabilityFilter().score(df)
    labels = [json.loads(m)["label"] for m in df["meta"]]
    flagged = [lab for lab, v in zip(labels, scores["verdict_readability"]) if v == "repetition"]
    assert len(flagged) >= 20
    assert sum(1 for lab in flagged if lab is False) >= 0.9 * len(flagged)


def test_unknown_finish_reason_is_a_knob():
    rows = [_raw_row("<think>2 and 2 make 4.</think>\\boxed{4}", finish=f) for f in ("stop", "unknown", "length", "error")]
    scores = FormatFilter().score(_frame(rows))
    assert scores["verdict_format"].to_list() == ["ok", "ok", "not_stopped", "not_stopped"]
    strict = FormatFilter(accept_unknown_finish=False)
    assert strict.keep(scores).to_list() == [True, False, False, False]
