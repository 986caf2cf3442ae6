"""Dedup's family rule: near-duplicate problems that are different questions after a shared
preamble (multi-part contest sets), or that have different reference answers, are kept and
marked with meta.family_id; real duplicates are still removed. Invented families, the rule's
pieces, and a trimmed real sample: the OlympiadBench multi-part sets (ARML's escape room and
ARMLopolis) that dedup used to cut down (tests/data/dedup/olympiadbench_families.jsonl.gz)."""

from __future__ import annotations

import gzip
import json

import pytest
from factory.schemas.ids import problem_id

from factory.dedup.core import DedupConfig, run_dedup
from factory.dedup.family import answers_differ, doc_infos, question_differs
from factory.io.dataset import read_manifest, read_table, write_dataset

# an invented multi-part set: one long shared statement, then a question per row
PREAMBLE = (
    "A robot stands on the first of a row of $m$ lamps, all of which are dark at the start. Every second the robot "
    "chooses exactly $j$ different lamps and toggles each of them, so a dark lamp lights up and a lit lamp goes dark. "
    "The robot wins as soon as every lamp in the row is lit at the end of a second. Let $T(m, j)$ be the smallest "
    "number of seconds after which the robot can have won, for positive integers $m$ and $j$ with $j \\leq m$, and "
    "let $T(m, j)$ be infinite when the robot can never win. For example $T(3,1)=3$, since a single lamp changes "
    "each second and three lamps must be lit. The lamps are labelled 1 to $m$ from left to right.\n"
)
PARTS = [  # (question, answer): several parts share an answer, as in the real sets
    ("Compute $T(6,1)$.", "6"),
    ("Compute $T(6,2)$.", "3"),
    ("Compute $T(7,3)$.", "3"),
    ("Compute $T(9,5)$.", "3"),
    ("Find $T(2001,501)$.", "5"),
    ("Find, in terms of $m$, the value of $T(m, m-2)$ for $m \\geq 5$.", "3"),
]


def _row(text: str, answer: str | None, source: str = "test", meta: str | None = None) -> dict:
    return dict(id=problem_id("math", text, answer), source=source, source_id=None, domain="math", problem=text,
                reference_answer=answer, language="en", meta=meta)


def _info(text: str, answer: str | None = None):
    return doc_infos([text], [answer])[0]


def _meta(row: dict) -> dict:
    return json.loads(row["meta"]) if row.get("meta") else {}


# --- the rule's pieces ------------------------------------------------------------------------


def test_answers_differ_compares_values_not_spelling():
    assert not answers_differ("3", "3")
    assert not answers_differ("\\frac{1}{2}", "0.5")
    assert not answers_differ("$\\dfrac12$", "1/2")
    assert not answers_differ("12,000", "12000")
    assert not answers_differ(None, "3") and not answers_differ("", "3")  # no answer: no evidence
    assert answers_differ("5", "3")
    assert answers_differ("1,3", "1,2")
    assert answers_differ("\\frac{1+\\sqrt{1+8n}}{2}", "136")
    assert answers_differ("(312,123,231)", "41352,42351,51342")


def test_question_rule_separates_questions_from_rewordings_and_typos():
    a = _info(PREAMBLE + "Compute $T(6,2)$.")
    assert question_differs(a, _info(PREAMBLE + "Compute $T(7,3)$."), preamble=0.5)  # other numbers
    assert question_differs(a, _info(PREAMBLE + "Compute $T(m, 2)$ for even $m$."), preamble=0.5)  # a symbol
    assert question_differs(_info(PREAMBLE + "Evaluate $\\sin(T(6,2))$."), _info(PREAMBLE + "Evaluate $\\cos(T(6,2))$."), preamble=0.5)
    # the same question reworded, or with a remark added: one question
    assert not question_differs(a, _info(PREAMBLE + "Find $T(6,2)$."), preamble=0.5)
    assert not question_differs(a, _info(PREAMBLE + "Compute $T(6,2)$. Justify your answer."), preamble=0.5)
    # a number changed early (not after a shared preamble): a copy with a typo, not a new part
    typo = PREAMBLE.replace("$T(3,1)=3$", "$T(4,1)=4$", 1) + "Compute $T(6,2)$."
    assert question_differs(a, _info(typo), preamble=0.95) is False
    early = PREAMBLE.replace("first of a row", "second of a row", 1).replace("A robot", "A robot 2", 1) + "Compute $T(6,2)$."
    assert not question_differs(_info(early), a, preamble=0.5)


# --- invented families end to end -------------------------------------------------------------


def test_invented_family_is_kept_and_marked_while_real_copies_go(tmp_path):
    rows = [_row(PREAMBLE + q, a, "parts") for q, a in PARTS]
    # a real duplicate of part 2 (reworded verb, same answer) and an exact copy of part 1
    copy = _row(PREAMBLE + "Find $T(6,2)$.", "3", "copy")
    exact = _row("  " + PREAMBLE.upper() + "compute $T(6,1)$ ", "6", "exact")
    rows += [copy, exact]
    write_dataset(tmp_path / "in", "problem", rows)
    r = run_dedup(tmp_path / "in", tmp_path / "out", DedupConfig())
    kept = read_table(tmp_path / "out").to_pylist()
    rej = read_table(tmp_path / "out" / "rejected").to_pylist()
    assert sorted(x["source"] for x in rej) == ["copy", "exact"] or sorted(x["source"] for x in rej) == ["copy", "parts"]
    assert len(kept) == len(PARTS) and len(rej) == 2
    # every part's question survives (the exact copy of part 1 may be the kept one of its pair)
    kept_questions = {x["problem"].strip().lower()[-40:] for x in kept}
    assert len(kept_questions) == len(PARTS)
    fams = {_meta(x).get("family_id") for x in kept}
    assert len(fams) == 1 and None not in fams  # one family, every member marked
    fam_id = fams.pop()
    assert fam_id in {x["id"] for x in kept}
    assert fam_id == min(x["id"] for x in kept)  # named by its first kept problem in id order
    s = r.stats
    assert s["rows_rejected"] == 2 and s["families"] == 1 and s["family_documents"] == len(PARTS) + 2
    assert s["family_pairs"]["answer"] > 0 and s["family_pairs"]["question"] > 0
    assert s["kept_by_family_rule"] == len(PARTS) - 1  # without the rule one cluster keeps one part
    assert s["top_families"][0]["family_id"] == fam_id and s["top_families"][0]["size"] == len(PARTS) + 2
    assert read_manifest(tmp_path / "out").stats["families"] == 1
    # the rule off: the whole set is one cluster of near-duplicates
    off = run_dedup(tmp_path / "in", tmp_path / "off", DedupConfig(family="none"))
    assert off.stats["rows_out"] == 1 and off.stats["families"] == 0 and off.stats["kept_by_family_rule"] == 0
    # answers only: the parts with answer 3 collapse to one (their questions are not compared)
    ans = run_dedup(tmp_path / "in", tmp_path / "ans", DedupConfig(family="answer"))
    assert ans.stats["rows_out"] == len({a for _, a in PARTS})
    assert ans.stats["family_pairs"]["question"] == 0


def test_a_cluster_never_joins_two_answers_through_a_row_without_one(tmp_path):
    """A (answer 5) ~ B (no answer) ~ C (answer 3): the near links A-B and B-C alone would put A
    and C in one cluster; the rebuilt cluster keeps A and C apart and B joins one of them."""
    a = _row(PREAMBLE + "Compute the value for the first case of the set.", "5", "a")
    b = _row(PREAMBLE + "Compute the value for the first case of the set, please.", None, "b")
    c = _row(PREAMBLE + "Compute the value for the first case of the set, then stop.", "3", "c")
    write_dataset(tmp_path / "in", "problem", [a, b, c])
    r = run_dedup(tmp_path / "in", tmp_path / "out", DedupConfig())
    kept = {x["source"]: x for x in read_table(tmp_path / "out").to_pylist()}
    rej = read_table(tmp_path / "out" / "rejected").to_pylist()
    assert {"a", "c"} <= set(kept) and [x["source"] for x in rej] == ["b"]
    assert rej[0]["duplicate_of"] in {a["id"], c["id"]}
    assert _meta(kept["a"])["family_id"] == _meta(kept["c"])["family_id"]
    assert r.stats["family_pairs"]["answer"] == 1 and r.stats["families"] == 1


def test_stale_family_marks_are_replaced_and_other_meta_kept(tmp_path):
    rows = [_row(PREAMBLE + q, a, "parts", meta=json.dumps({"contest": "invented"})) for q, a in PARTS[:3]]
    rows.append(_row("What is the sum of the first ten positive odd integers?", "100", "alone",
                     meta=json.dumps({"family_id": "p_old", "contest": "x"}, sort_keys=True)))
    write_dataset(tmp_path / "in", "problem", rows)
    run_dedup(tmp_path / "in", tmp_path / "out", DedupConfig())
    kept = read_table(tmp_path / "out").to_pylist()
    metas = {x["source"]: [_meta(y) for y in kept if y["source"] == x["source"]] for x in kept}
    assert all(m["contest"] == "invented" and m["family_id"].startswith("p_") for m in metas["parts"])
    assert metas["alone"] == [{"contest": "x"}]  # a family mark this run did not find is removed
    # re-deduping the output with the rule off: the kept part's mark is stale and goes
    run_dedup(tmp_path / "out", tmp_path / "again", DedupConfig(family="none"))
    again = read_table(tmp_path / "again").to_pylist()
    assert all("family_id" not in _meta(x) for x in again) and len(again) == 2


def test_traces_by_problem_use_the_trace_reference_answer(tmp_path):
    from factory.schemas.contracts import TRACE_SCHEMA

    from factory.io.dataset import DatasetWriter

    def trace(pid, q, ans, i):
        text = PREAMBLE + q
        return dict(id=f"t_{pid}_{i}", problem_id=pid, sample_index=i, teacher="t", backend="replay", sampling=None,
                    system_prompt=None, prompt=text, completion="c", reasoning="r", reasoning_finished=True, answer=ans,
                    finish_reason="stop", prompt_tokens=None, completion_tokens=None, domain="math", source="s",
                    problem=text, reference_answer=ans, tests=None, difficulty=None, level=None, language="en",
                    license=None, meta=None)

    rows = [trace("p_a", "Compute $T(6,1)$.", "6", i) for i in range(2)] + [trace("p_b", "Compute $T(2001,501)$.", "5", i) for i in range(2)]
    rows += [trace("p_c", "Find $T(6,1)$.", "6", 0)]  # a copy of p_a's problem
    with DatasetWriter(tmp_path / "traces", "trace", schema=TRACE_SCHEMA) as w:
        w.write_rows(rows)
    r = run_dedup(tmp_path / "traces", tmp_path / "out", DedupConfig())
    kept = read_table(tmp_path / "out").to_pylist()
    assert sorted({x["problem_id"] for x in kept}) == ["p_a", "p_b"] and r.stats["rows_rejected"] == 1
    assert {_meta(x)["family_id"] for x in kept} == {"p_a"}  # all four rows of the family marked
    assert r.stats["family_rows"] == 4  # kept rows marked (the rejected copy carries the mark too)
    rej = read_table(tmp_path / "out" / "rejected").to_pylist()
    assert [(_meta(x)["family_id"], x["duplicate_of"]) for x in rej] == [("p_a", "p_a")]


# --- the real sample --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def olympiad(test_data, tmp_path_factory):
    with gzip.open(test_data / "dedup" / "olympiadbench_families.jsonl.gz", "rt", encoding="utf-8") as f:
        items = [json.loads(line) for line in f]
    d = tmp_path_factory.mktemp("olympiad")
    rows = [_row(it["question"], it["gt"], "olympiadbench") for it in items]
    write_dataset(d / "in", "problem", rows)
    return d, items


def test_no_multi_part_question_with_its_own_answer_is_dropped(olympiad):
    d, items = olympiad
    r = run_dedup(d / "in", d / "out", DedupConfig())
    kept = read_table(d / "out").to_pylist()
    assert r.stats["rows_rejected"] == 0 and len(kept) == len(items) == 23
    # the multi-part sets are families: the escape-room set E(n, k) is one family of 8
    assert r.stats["families"] == 8 and r.stats["family_documents"] == 23
    sizes = sorted((f["size"] for f in r.stats["top_families"]), reverse=True)
    assert sizes[0] == 8 and sum(sizes) == 23
    escape = [x for x in kept if "escape room" in x["problem"]]
    assert len(escape) == 8 and len({_meta(x)["family_id"] for x in escape}) == 1
    answers = {x["reference_answer"] for x in escape}
    assert {"76", "5", "3", "6"} <= answers
    # 3 of the 15 rows the old rule dropped share their answer with a sibling: kept by the question rule
    assert r.stats["family_pairs"]["question"] >= 3 and r.stats["kept_by_family_rule"] == 15
    # without the rule, dedup drops 15 of these 23 (what it did on MATH-500 + GSM8K + OlympiadBench)
    off = run_dedup(d / "in", d / "off", DedupConfig(family="none"))
    assert off.stats["rows_rejected"] == 15
    dropped = read_table(d / "off" / "rejected").to_pylist()
    by_id = {x["id"]: x for x in kept}
    distinct = [x for x in dropped if answers_differ(x["reference_answer"], by_id[x["duplicate_of"]]["reference_answer"])]
    assert len(distinct) >= 12  # the issue counted 12 with a different reference answer
    # and every one of the 15 is another question than the row it was "a duplicate of"
    for x in dropped:
        keeper = by_id[x["duplicate_of"]]
        assert x["id"] in by_id and (x in distinct or question_differs(_info(x["problem"]), _info(keeper["problem"]), preamble=0.5))


def test_the_family_rule_is_an_option_of_the_command_and_of_recipes(olympiad, tmp_path):
    from typer.testing import CliRunner

    from factory.cli.app import app
    from factory.pipeline.recipe import run_section

    d, items = olympiad
    r = CliRunner().invoke(app, ["dedup", str(d / "in"), "-o", str(tmp_path / "cli_off"), "--family", "none"])
    assert r.exit_code == 0, r.output
    assert read_manifest(tmp_path / "cli_off").rows == len(items) - 15
    r = CliRunner().invoke(app, ["dedup", str(d / "in"), "-o", str(tmp_path / "bad"), "--family", "some"])
    assert r.exit_code != 0 and "--family" in r.output and "answer+question" in r.output, r.output
    run_section("dedup", {"input": str(d / "in"), "out": "rec", "family": "answer"}, run_dir=tmp_path)
    assert read_manifest(tmp_path / "rec").stats["family_pairs"]["question"] == 0
