"""The mix engine (factory.curate.mix) and the per-problem / difficulty selection of factory.curate.core:
exact quotas, seeded determinism, up/down-sampling, balancing, and every shortfall path
reporting how many candidates were available."""

from __future__ import annotations

import polars as pl
import pytest
from factory.recipes.curate_spec import curate_config

from factory.curate.core import per_problem, select_traces
from factory.curate.mix import (
    Bucket,
    QuotaError,
    allocate,
    auto_size,
    largest_remainder,
    quotas,
    water_fill,
)


def _cands(spec: dict[str, int]) -> pl.DataFrame:
    """spec: {"kind/domain": n} -> n candidates with that kind and domain."""
    rows = []
    for kd, n in spec.items():
        kind, domain = kd.split("/")
        for i in range(n):
            rows.append({"key": f"{kd}-{i}", "kind": kind, "domain": domain, "source": "s", "teacher": "t",
                         "level": None, "difficulty": None, "n_tokens": 100 + i})
    return pl.DataFrame(rows, schema={"key": pl.String, "kind": pl.String, "domain": pl.String, "source": pl.String,
                                      "teacher": pl.String, "level": pl.Int32, "difficulty": pl.String,
                                      "n_tokens": pl.Int64})


R1_BUCKETS = [{"name": "reasoning", "match": {"kind": ["shortcut"]}, "fraction": 0.75},
              {"name": "non_reasoning", "match": {"kind": ["non_reasoning"]}, "fraction": 0.25}]


def test_largest_remainder_is_exact():
    assert largest_remainder([0.75, 0.25], 40) == [30, 10]
    assert largest_remainder([0.75, 0.25], 7) == [5, 2]
    assert largest_remainder([10, 5, 1], 16) == [10, 5, 1]
    assert largest_remainder([1, 1, 1], 10) == [4, 3, 3]
    for total in range(0, 50):
        assert sum(largest_remainder([0.625, 0.3125, 0.0625], total)) == total


def test_quotas_mix_counts_and_fractions():
    bs = [Bucket("a", {}, count=3), Bucket("b", {}, fraction=0.5), Bucket("c", {}, fraction=0.5)]
    assert quotas(bs, 11) == [3, 6, 5]
    with pytest.raises(QuotaError, match="mix.size: expected an integer"):
        quotas(bs, None)


def test_allocate_exact_and_seeded():
    c = _cands({"shortcut/math": 100, "non_reasoning/general": 50})
    sel, rep = allocate(c, R1_BUCKETS, size=40, seed=0, allow_short=False)
    assert sel.filter(pl.col("kind") == "shortcut").height == 30
    assert sel.filter(pl.col("kind") == "non_reasoning").height == 10
    assert [b["available"] for b in rep["buckets"]] == [100, 50]
    again, _ = allocate(c.reverse(), R1_BUCKETS, size=40, seed=0, allow_short=False)
    assert again["key"].to_list() == sel["key"].to_list()  # input order does not matter
    other, _ = allocate(c, R1_BUCKETS, size=40, seed=1, allow_short=False)
    assert other["key"].to_list() != sel["key"].to_list()  # the seed does


def test_shortfall_reports_every_short_bucket_with_available_counts():
    c = _cands({"shortcut/math": 20, "non_reasoning/general": 3})
    with pytest.raises(QuotaError) as e:
        allocate(c, R1_BUCKETS, size=40, seed=0, allow_short=False)
    msg = str(e.value)
    assert "mix bucket 'reasoning': quota 30 but only 20 candidate(s) available" in msg
    assert "mix bucket 'non_reasoning': quota 10 but only 3 candidate(s) available" in msg
    assert "allow_short" in msg


def test_allow_short_is_a_recorded_warning_not_silent():
    c = _cands({"shortcut/math": 20, "non_reasoning/general": 50})
    sel, rep = allocate(c, R1_BUCKETS, size=40, seed=0, allow_short=True)
    assert sel.height == 30
    assert rep["warnings"] == ["SHORT MIX: mix bucket 'reasoning': quota 30 but only 20 candidate(s) available"]
    assert rep["buckets"][0]["short_by"] == 10


def test_upsample_repeats_in_order_and_empty_bucket_still_fails():
    c = _cands({"shortcut/math": 4})
    b = [{"name": "all", "match": {}, "count": 10, "upsample": True}]
    sel, rep = allocate(c, b, size=10, seed=0, allow_short=False)
    assert sel.height == 10 and rep["buckets"][0]["upsampled"] == 6
    assert sel["repeat"].to_list() == [0] * 4 + [1] * 4 + [2] * 2
    assert sel["key"].to_list()[:4] == sel["key"].to_list()[4:8]
    with pytest.raises(QuotaError, match="quota 10 but only 0 candidate.*upsampling cannot fill an empty bucket"):
        allocate(_cands({"shortcut/math": 0}), b, size=10, seed=0, allow_short=False)


def test_balance_water_fills_across_domains():
    assert water_fill(9, {"a": 1, "b": 10, "c": 10}) == {"a": 1, "b": 4, "c": 4}
    assert water_fill(10, {"a": 100, "b": 100, "c": 100}) in ({"a": 4, "b": 3, "c": 3}, {"a": 3, "b": 4, "c": 3}, {"a": 3, "b": 3, "c": 4})
    c = _cands({"shortcut/math": 50, "shortcut/code": 2, "shortcut/science": 50})
    b = [{"name": "hard", "match": {}, "fraction": 1.0, "balance": "domain", "prefer": "longest"}]
    sel, rep = allocate(c, b, size=12, seed=0, allow_short=False)
    counts = dict(sel.group_by("domain").len().iter_rows())
    assert counts == {"code": 2, "math": 5, "science": 5}
    assert rep["buckets"][0]["by_domain"]["code"] == {"available": 2, "taken": 2}
    # prefer longest: the 5 math picks are the 5 longest math candidates
    assert sorted(sel.filter(pl.col("domain") == "math")["n_tokens"].to_list()) == [145, 146, 147, 148, 149]


def test_size_auto_is_largest_feasible():
    bs = [Bucket("j", {}, fraction=0.5), Bucket("s", {}, fraction=0.5)]
    assert auto_size(bs, [33, 505]) == 66
    assert auto_size([Bucket("j", {}, fraction=0.25), Bucket("s", {}, fraction=0.75)], [10, 25]) == 33
    c = _cands({"journey/math": 7, "shortcut/math": 100})
    b = [{"name": "j", "match": {"kind": "journey"}, "fraction": 0.5},
         {"name": "s", "match": {"kind": "shortcut"}, "fraction": 0.5}]
    sel, rep = allocate(c, [dict(x, match={"kind": [x["match"]["kind"]]}) for x in b], size="auto", seed=0,
                        allow_short=False)
    assert rep["size"] == 14 and sel.height == 14


def _meta(rows):
    return pl.DataFrame(rows, schema={"id": pl.String, "problem_id": pl.String, "teacher": pl.String,
                                      "domain": pl.String, "source": pl.String, "level": pl.Int32,
                                      "difficulty": pl.String, "n_tokens": pl.Int64, "has_final": pl.Boolean,
                                      "has_tests": pl.Boolean, "finish_reason": pl.String,
                                      "verdict_math": pl.String})


def _rows(pid, verdicts, lengths, teacher="t"):
    return [{"id": f"{pid}-{teacher}-{i}", "problem_id": pid, "teacher": teacher, "domain": "math", "source": "s",
             "level": 3, "difficulty": None, "n_tokens": n, "has_final": True, "has_tests": False,
             "finish_reason": "stop", "verdict_math": v} for i, (v, n) in enumerate(zip(verdicts, lengths))]


def test_per_problem_policies():
    kept = _meta(_rows("p1", ["correct"] * 5, [50, 10, 40, 20, 30]) + _rows("p2", ["correct"] * 2, [7, 9]))
    assert per_problem(kept, "shortest-correct", 1, seed=0)["n_tokens"].to_list() == [10, 7]
    assert per_problem(kept, "longest-correct", 1, seed=0)["n_tokens"].to_list() == [50, 9]
    assert per_problem(kept, "all-correct", 1, seed=0).height == 7
    k2 = per_problem(kept, "k-per-problem", 2, seed=0)
    assert dict(k2.group_by("problem_id").len().iter_rows()) == {"p1": 2, "p2": 2}
    assert per_problem(kept, "k-per-problem", 2, seed=0)["id"].to_list() == k2["id"].to_list()
    div = per_problem(kept, "diverse", 3, seed=0)
    assert div.filter(pl.col("problem_id") == "p1")["n_tokens"].to_list() == [10, 30, 50]  # spread over lengths


def test_pass_rate_difficulty_keeps_middle_band_and_names_drops():
    # 8 samples per problem: pass rates 1/8, 4/8, 7/8
    rows = (_rows("easy", ["correct"] * 7 + ["wrong"], [10] * 8)
            + _rows("mid", ["correct"] * 4 + ["wrong"] * 4, [10] * 8)
            + _rows("hard", ["correct"] + ["wrong"] * 7, [10] * 8))
    cfg = curate_config({"select": {"all": {"correct": {"verdict_math": "correct"}, "pass_rate": {"gt": 0.2, "lt": 0.8}}},
                         "difficulty": {"from": "pass_rate"},
                         "mix": {"size": 1, "buckets": [{"name": "a", "fraction": 1.0}]}})
    meta, drops = select_traces(_meta(rows), cfg)
    kept = meta.filter(pl.col("drop").is_null())
    assert set(kept["problem_id"].to_list()) == {"mid"} and kept.height == 4
    assert drops == {"not_correct:verdict_math": 12, "pass_rate_out_of_bounds": 8}
    labels = dict(meta.select("problem_id", "difficulty_label").unique().iter_rows())
    assert labels == {"easy": "easy", "mid": "medium", "hard": "hard"}


def test_pass_rate_from_weak_teacher_only():
    rows = (_rows("p1", ["wrong", "wrong"], [10, 10], teacher="weak") + _rows("p1", ["correct"], [99], teacher="strong")
            + _rows("p2", ["correct", "wrong"], [10, 10], teacher="weak") + _rows("p2", ["correct"], [99], teacher="strong")
            + _rows("p3", ["correct"], [99], teacher="strong"))
    cfg = curate_config({"select": {"all": {"correct": {"verdict_math": "correct"}, "pass_rate": {"le": 0.0}}},
                         "difficulty": {"from": "pass_rate", "teachers": ["weak"]},
                         "mix": {"size": 1, "buckets": [{"name": "a", "fraction": 1.0}]}})
    meta, drops = select_traces(_meta(rows), cfg)
    kept = meta.filter(pl.col("drop").is_null())
    # p1: the weak model never solved it -> its strong trace is kept; p2 solved once; p3 unknown
    assert kept["id"].to_list() == ["p1-strong-0"]
    # dropped by pass rate: p2 weak correct, p2 strong, p3 strong (no weak samples: unknown is not hard)
    assert drops == {"not_correct:verdict_math": 3, "pass_rate_out_of_bounds": 3}
