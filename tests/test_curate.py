"""`factory curate` end to end on the shipped real traces: r1-800k and sky-t1-17k give exactly
the requested proportions at small --size, the same recipe + seed gives byte-identical shards,
train/validation never share a problem, and every shortfall or bad input is reported clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from curate_data import (
    code_trace_rows,
    handmade_science_rows,
    score_with_filters,
    trace_rows,
    write_traces,
)
from factory.cli.app import app
from recipe_data import handmade_long_code_rows, handmade_long_science_rows
from typer.testing import CliRunner

from factory.curate.sft import SKY_T1_SYSTEM_PROMPT, parse_assistant
from factory.io.dataset import read_manifest, read_table

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("curate")
    math = list(trace_rows("skyt1", limit=150)) + list(trace_rows("qwen", limit=150))
    # r1-800k's rejection rules read the REAL language and readability filters' verdicts
    scored = score_with_filters(math, ["language", "readability"])
    return {
        "tmp": tmp,
        "math": write_traces(tmp / "math", scored),
        "code": write_traces(tmp / "code", code_trace_rows()),
        "science": write_traces(tmp / "science", handmade_science_rows()),
        # long-CoT recipes (sky-t1-17k) take reasoning traces only: handmade ones for code/science
        "code_long": write_traces(tmp / "code_long", handmade_long_code_rows()),
        "science_long": write_traces(tmp / "science_long", handmade_long_science_rows()),
        "unscored": write_traces(tmp / "unscored", [{k: v for k, v in r.items() if k != "verdict_math"}
                                                    for r in trace_rows("qwen", limit=20)]),
    }


def _curate(*args: str):
    return runner.invoke(app, ["curate", *args])


def _rows(out: Path) -> list[dict]:
    return read_table(out / "train").to_pylist() + read_table(out / "validation").to_pylist()


def test_r1_800k_gives_exactly_three_to_one(data):
    out = data["tmp"] / "r1"
    res = _curate("--recipe", "r1-800k", "--traces", str(data["math"]), "--out", str(out), "--size", "40")
    assert res.exit_code == 0, res.output
    rows = _rows(out)
    kinds = [r["kind"] for r in rows]
    assert kinds.count("shortcut") == 30 and kinds.count("non_reasoning") == 10 and len(rows) == 40
    src = {r["id"]: r for r in trace_rows("skyt1", limit=150) + trace_rows("qwen", limit=150)}
    for r in rows:
        content = r["messages"][-1]["content"]
        assert parse_assistant(content, fmt="think") is not None, content[:200]
        if r["kind"] == "shortcut":
            assert src[r["trace_ids"][0]]["verdict_math"] == "correct"
        else:
            assert r["trace_ids"] == [] and r["domain"] == "general"
            meta = json.loads(r["meta"])
            assert meta["synthetic"]  # what is synthetic is recorded on the row
            if meta["task"] == "self_cognition":
                assert content.startswith("<think>\n\n</think>\n\n") and "Factory-R1" in content
            else:
                assert r["source"] == "ntrex128" and r["license"] == "CC-BY-SA-4.0"
    m = read_manifest(out / "train")
    assert m.stats["mix"]["buckets"][0]["quota"] == 30 and m.stats["funnel"]["dropped"]
    assert "assistant_tokens_est" in m.stats["train"] and "by_difficulty" in m.stats["train"]
    assert "bucket reasoning: quota 30" in res.output
    res = _curate("--recipe", "r1-800k", "--traces", str(data["math"]), "--out", str(data["tmp"] / "r1b"), "--size", "7")
    assert res.exit_code == 0, res.output
    assert sorted(r["kind"] for r in _rows(data["tmp"] / "r1b")) == ["non_reasoning"] * 2 + ["shortcut"] * 5


def test_r1_rejection_rules_drop_by_name(data):
    out = data["tmp"] / "r1-report"
    res = _curate("--recipe", "r1-800k", "--traces", str(data["math"]), "--out", str(out), "--size", "8")
    assert res.exit_code == 0, res.output
    dropped = json.loads((out / "curate_report.json").read_text())["funnel"]["dropped"]
    rows = trace_rows("skyt1", limit=150) + trace_rows("qwen", limit=150)
    assert dropped["not_correct:verdict_math"] == sum(r["verdict_math"] != "correct" for r in rows)
    assert dropped.get("where:verdict_readability", 0) > 0  # real repetition loops in Sky-T1 traces


def test_sky_t1_17k_gives_exactly_ten_five_one(data):
    out = data["tmp"] / "sky"
    res = _curate("--recipe", "sky-t1-17k", "--traces", str(data["math"]), "--traces", str(data["code_long"]),
                  "--traces", str(data["science_long"]), "--out", str(out), "--size", "16",
                  "--set", "per_problem.policy=all-correct")
    assert res.exit_code == 0, res.output
    rows = _rows(out)
    by_domain = {d: sum(r["domain"] == d for r in rows) for d in ("math", "code", "science", "puzzle")}
    assert by_domain["math"] == 10 and by_domain["code"] == 5 and by_domain["science"] + by_domain["puzzle"] == 1
    code_src = {r["id"]: r for r in handmade_long_code_rows()}
    for r in rows:
        assert r["messages"][0] == {"role": "system", "content": SKY_T1_SYSTEM_PROMPT}
        content = r["messages"][-1]["content"]
        assert content.startswith("<|begin_of_thought|>") and content.endswith("<|end_of_solution|>")
        assert parse_assistant(content, fmt="sky-t1") is not None
        if r["domain"] == "code":
            t = code_src[r["trace_ids"][0]]
            assert t["verdict_code"] == "pass" and t["tests"]["inputs"]
        if r["domain"] == "math":
            assert json.loads(r["meta"])["difficulty"] in ("level-3", "level-4", "level-5")


def test_same_recipe_and_seed_give_byte_identical_shards(data):
    args = ["--recipe", "r1-800k", "--traces", str(data["math"]), "--size", "24",
            "--set", "output.validation_fraction=0.25"]
    outs = []
    for name, extra in (("a", []), ("b", []), ("c", ["--seed", "1"])):
        out = data["tmp"] / f"det-{name}"
        res = _curate(*args, *extra, "--out", str(out))
        assert res.exit_code == 0, res.output
        outs.append(out)

    def shards(out):
        return {f"{split}/{p.name}": p.read_bytes() for split in ("train", "validation")
                for p in sorted((out / split).glob("*.parquet"))}

    a, b, c = (shards(o) for o in outs)
    assert a and a == b
    assert a != c  # another seed draws another mix


def test_split_is_by_problem(data):
    out = data["tmp"] / "split"
    res = _curate("--recipe", "sky-t1-17k", "--traces", str(data["math"]), "--traces", str(data["code_long"]),
                  "--traces", str(data["science_long"]), "--out", str(out), "--size", "32",
                  "--set", "per_problem.policy=all-correct", "--set", "output.validation_fraction=0.3")
    assert res.exit_code == 0, res.output
    train, val = read_table(out / "train").to_pylist(), read_table(out / "validation").to_pylist()
    assert train and val
    assert not {r["problem_id"] for r in train} & {r["problem_id"] for r in val}
    # all-correct keeps several programs per code problem: they stay together
    assert len({r["problem_id"] for r in train + val if r["domain"] == "code"}) < sum(r["domain"] == "code" for r in train + val)


def test_quota_shortfall_says_how_many_were_available(data):
    out = data["tmp"] / "s1k"
    res = _curate("--recipe", "s1k", "--traces", str(data["math"]), "--out", str(out))
    assert res.exit_code == 1
    assert "mix bucket 'hard': quota 1000 but only" in res.output and "candidate(s) available" in res.output
    avail = int(res.output.split("quota 1000 but only ")[1].split(" ")[0])
    assert 0 < avail < 150
    res = _curate("--recipe", "s1k", "--traces", str(data["math"]), "--out", str(out), "--set", "mix.allow_short=true")
    assert res.exit_code == 0, res.output
    assert f"WARNING: SHORT MIX: mix bucket 'hard': quota 1000 but only {avail} candidate(s) available" in res.output
    assert read_manifest(out / "train").stats["warnings"] == [
        f"SHORT MIX: mix bucket 'hard': quota 1000 but only {avail} candidate(s) available"]


def test_s1k_keeps_only_problems_the_weak_model_missed(data):
    out = data["tmp"] / "s1k-small"
    res = _curate("--recipe", "s1k", "--traces", str(data["math"]), "--traces", str(data["science"]),
                  "--out", str(out), "--size", "4")
    assert res.exit_code == 0, res.output
    rows = _rows(out)
    assert len(rows) == 4
    weak = {r["problem_id"]: r["verdict_math"] for r in trace_rows("qwen", limit=150)}
    for r in rows:
        assert weak[r["problem_id"]] == "wrong"  # hard: the weak model got it wrong
        assert json.loads(r["meta"])["teacher"] == "Sky-T1-math-correct-5K-27B"


def test_missing_verdicts_and_bad_inputs_are_clear_errors(data):
    res = _curate("--recipe", "journey", "--traces", str(data["unscored"]), "--out", str(data["tmp"] / "x1"))
    assert res.exit_code == 1
    assert "no trace folder has the column(s) ['verdict_math']" in res.output and "factory verify" in res.output
    res = _curate("--recipe", "journey", "--traces", str(data["tmp"] / "nope"), "--out", str(data["tmp"] / "x2"))
    assert res.exit_code == 1 and "no such dataset folder" in res.output
    res = _curate("--recipe", "journey", "--sft", str(data["math"]), "--out", str(data["tmp"] / "x3"))
    assert res.exit_code == 1 and "given as sft but holds trace rows" in res.output
    res = _curate("--recipe", "journey", "--traces", str(data["math"]), "--out", str(data["tmp"] / "x4"),
                  "--set", "mix.buckets.0.fraction=2")
    assert res.exit_code == 1
    assert "spec key mix.buckets[0].fraction: expected a number in [0, 1], found 2" in res.output


def test_sft_folders_mix_in_as_non_reasoning(data):
    from factory.curate.sft import make_row
    from factory.io.dataset import write_dataset

    sft_dir = data["tmp"] / "my_sft"
    rows = [make_row(user=f"Write a haiku about the number {i}.", assistant=f"<think>\n\n</think>\n\nHaiku {i}",
                     system=None, kind="non_reasoning", domain="general", source="my-writing", trace_ids=[],
                     problem_id=None, language="en", license="CC0-1.0") for i in range(12)]
    write_dataset(sft_dir, "sft", rows)
    recipe = data["tmp"] / "mine.yaml"
    recipe.write_text(
        "# factory curate --recipe mine.yaml --traces T --sft S --out O\n"
        "name: mine\nseed: 3\nstages: [curate]\ncurate:\n"
        "  mix:\n    size: 10\n    buckets:\n"
        "      - {name: math, match: {kind: shortcut}, fraction: 0.5}\n"
        "      - {name: writing, match: {source: my-writing}, fraction: 0.5}\n")
    out = data["tmp"] / "mine"
    res = _curate("--recipe", str(recipe), "--traces", str(data["math"]), "--sft", str(sft_dir), "--out", str(out))
    assert res.exit_code == 0, res.output
    got = _rows(out)
    writing = [r for r in got if r["source"] == "my-writing"]
    assert len(writing) == 5 and all(r["messages"][-1]["content"].startswith("<think>\n\n</think>") for r in writing)
    assert {r["id"] for r in writing} <= {r["id"] for r in rows}


def test_problem_folders_supply_missing_levels(data):
    from curate_data import write_traces as wt

    from factory.io.dataset import write_dataset

    src = list(trace_rows("qwen", limit=60))
    traces = wt(data["tmp"] / "nolevel", [{**r, "level": None} for r in src])
    problems = data["tmp"] / "problems"
    write_dataset(problems, "problem", [
        {"id": r["problem_id"], "source": "math500", "source_id": None, "domain": "math", "problem": r["problem"],
         "reference_answer": r["reference_answer"], "reference_solution": None, "tests": None, "difficulty": None,
         "level": r["level"], "language": "en", "license": "MIT", "meta": None} for r in src])
    recipe = data["tmp"] / "levels.yaml"
    recipe.write_text("# factory curate --recipe levels.yaml --traces T --problems P --out O\n"
                      "name: levels\nseed: 0\nstages: [curate]\ncurate:\n"
                      "  select: {all: {correct: {verdict_math: correct}, level: {ge: 4}}}\n"
                      "  mix: {size: auto, buckets: [{name: all, fraction: 1.0}]}\n")
    out = data["tmp"] / "levels"
    res = _curate("--recipe", str(recipe), "--traces", str(traces), "--problems", str(problems), "--out", str(out))
    assert res.exit_code == 0, res.output
    expected = {r["id"] for r in src if r["verdict_math"] == "correct" and r["level"] >= 4}
    got = _rows(out)
    assert {r["trace_ids"][0] for r in got} == expected
    assert {json.loads(r["meta"])["difficulty"] for r in got} <= {"level-4", "level-5"}
    report = json.loads((out / "curate_report.json").read_text())
    assert report["funnel"]["problems_given"] == 60
    assert report["funnel"]["dropped"]["level_out_of_bounds"] == sum(
        r["verdict_math"] == "correct" and r["level"] < 4 for r in src)


def test_journey_traces_pass_the_same_quality_checks(data):
    recipe = data["tmp"] / "jq.yaml"
    recipe.write_text("# factory curate --recipe jq.yaml --traces T --out O\n"
                      "name: jq\nseed: 0\nstages: [curate]\ncurate:\n"
                      "  select: {all: {correct: {verdict_math: correct}, where: {verdict_readability: ok}}}\n"
                      "  journey: {cut: conclusion}\n"
                      "  mix: {size: auto, buckets: [{name: j, match: {kind: journey}, fraction: 1.0}]}\n")
    out = data["tmp"] / "jq"
    res = _curate("--recipe", str(recipe), "--traces", str(data["math"]), "--out", str(out))
    assert res.exit_code == 0, res.output
    scored = {r["id"]: r for r in score_with_filters(list(trace_rows("skyt1", limit=150)), ["readability"])}
    scored.update({r["id"]: r for r in score_with_filters(list(trace_rows("qwen", limit=150)), ["readability"])})
    rows = _rows(out)
    assert rows and all(r["kind"] == "journey" for r in rows)
    for r in rows:
        assert [scored[t]["verdict_readability"] for t in r["trace_ids"]] == ["ok", "ok"]
    report = json.loads((out / "curate_report.json").read_text())["journey"]
    assert report["traces_failing_quality_checks"] > 0  # real repetition loops were kept out


def test_scan_rule_matches_split_trace_on_real_and_edge_rows():
    """The scan decides `has_final` on whole columns (polars); rendering uses `split_trace`
    (Python). They must agree on every row, or a chosen trace could not be rendered."""
    import polars as pl

    from factory.curate.sft import split_trace, trace_facts, trace_facts_exprs, trace_facts_staged

    rows = [(r["completion"], r["reasoning"], r["answer"]) for w in ("skyt1", "qwen", "bo8") for r in trace_rows(w)]
    rows += [(r["completion"], r["reasoning"], r["answer"]) for r in code_trace_rows()]
    rows += [  # invented edge cases
        ("", None, None), ("x", "  \n ", "  "), ("x", "thought", None), ("x", "thought", " \n"),
        ("x", None, "We add.\n\n**Final Answer:**\n\n$12$"), ("x", None, "Working.\n\nThe answer is 7."),
        ("x", None, "所以答案是 13"), ("x", None, "Some steps, no conclusion."), ("x", None, "```\nno close"),
        ("x", None, "Code:\n```python\nprint(1)\n```"), ("x", None, "<|end_of_solution|>"),
        ("x", None, "Answer: B"), ("x", None, "FINAL ANSWER: 3"), ("x", None, "\\fbox{2}"),
        ("<think>\nLet me think.\n</think>\n\nSo $\\boxed{4}$.", None, None), ("Just \\boxed{4}", None, None),
    ]
    df = pl.DataFrame({"completion": [c for c, _, _ in rows], "reasoning": [r for _, r, _ in rows],
                       "answer": [a for _, _, a in rows]}, schema={"completion": pl.String, "reasoning": pl.String,
                                                                   "answer": pl.String})
    e = trace_facts_exprs()
    got = df.select(*(e[k].alias(k) for k in ("has_final", "est_tokens", "reasoning_tokens", "solution_tokens",
                                               "needs_completion")))
    parts, staged = trace_facts_staged()  # the scan's two-step form gives the same facts
    assert df.lazy().with_columns(parts).select(*(staged[k].alias(k) for k in got.columns)).collect().equals(got)
    mismatches = []
    for (c, r, a), *facts, n in zip(rows, *(got[k] for k in got.columns)):
        expect_final = split_trace(c or "", r, a)[1] is not None
        if n:
            assert trace_facts(c, r, a)[0] == expect_final
        elif facts[0] != expect_final or tuple(facts) != trace_facts(c, r, a):
            mismatches.append((r and r[:40], a and a[-60:], facts, expect_final))
    assert not mismatches, mismatches[:5]
    # the paragraph-start walk equals the regex rule it replaces
    import re

    from factory.curate.sft import _paragraph_start

    def by_regex(text, pos):
        start = 0
        for m in re.finditer(r"\n\s*\n", text[:pos]):
            start = m.end()
        return start

    for text in [c for c, _, _ in rows[:300]] + ["a\n\n\nb \n \n c\n\\boxed{1}", "\n\nx", "x\n \t\n\ny"]:
        for pos in range(0, len(text) + 1, max(1, len(text) // 7)):
            assert _paragraph_start(text, pos) == by_regex(text, pos), (text[:80], pos)
    assert sum(got["has_final"]) > 100 and sum(not f for f in got["has_final"]) > 10  # both outcomes are exercised
    assert sum(t > 0 for t in got["reasoning_tokens"]) > 100 and sum(t == 0 for t in got["reasoning_tokens"]) > 100


def test_seeded_hashes_equal_stable_hash():
    from factory.curate.sft import seeded_hashes
    from factory.schemas.ids import stable_hash

    keys = ["t_1", "", "é😀", "a\x1fb", None]
    for parts in [(0, "mix", "math"), (7, "split"), ("x", None, 3.5, {"b": 1, "a": [1]})]:
        assert seeded_hashes(parts, keys) == [stable_hash(*parts, k) for k in keys]


def test_fast_row_ids_and_meta_equal_the_contract_functions():
    from factory.curate.sft import fast_meta_json, fast_sft_id
    from factory.schemas.contracts import meta_json
    from factory.schemas.ids import sft_id

    hostile = ["", "plain", 'quote " and \\ backslash', "tab\tnew\nline\r\x00\x1f\x7f", "é 答案 😀 \u2028 \ud7ff",
               "<think>\n\\boxed{\\frac{1}{2}}\n</think>", "{}[],:"]
    for a in hostile:
        for b in hostile:
            msgs = [{"role": "user", "content": a}, {"role": "assistant", "content": b}]
            for kind in ("shortcut", "journey", "é"):
                assert fast_sft_id(msgs, kind) == sft_id(msgs, kind)
            assert fast_sft_id([{"role": "system", "content": b}, *msgs], "x") == sft_id([{"role": "system", "content": b}, *msgs], "x")
            meta = {"teacher": a, "difficulty": b, "a": None}
            assert fast_meta_json(meta) == meta_json(meta)
    for meta in ({"n": 3, "x": "y"}, {"wrong": [1, 2]}, None, {}, {"t": True}):
        assert fast_meta_json(meta) == meta_json(meta)


def test_mix_rows_equal_the_row_dicts_they_replace():
    """MixRows (columns) gives the same table, split and report as make_row dicts through
    pa.Table.from_pylist, split_by_problem and mix_report."""
    import pyarrow as pa

    from factory.curate.sft import MixRows, make_row, mix_report, split_by_problem
    from factory.schemas.contracts import SFT_SCHEMA

    src = trace_rows("qwen", limit=30)
    mix, rows, diff = MixRows(len(src) + 2), [], {}
    for i, t in enumerate(src):
        kw = dict(user=t["problem"], assistant=f"<think>\n{t['answer']}\n</think>\n\nok {i}",
                  system="sys" if i % 3 == 0 else None, kind="shortcut", domain="math", source="s",
                  trace_ids=[t["id"]], problem_id=t["problem_id"] if i % 5 else None, language="en", license=None,
                  meta={"teacher": t["teacher"], "difficulty": f"level-{i % 4}" if i % 2 else None}, repeat=i % 2)
        rows.append(make_row(**kw))
        mix.put(i, **kw, difficulty=kw["meta"]["difficulty"])
        diff[rows[-1]["id"]] = kw["meta"]["difficulty"]
    for j, extra in enumerate((make_row(user="Who are you?", assistant="<think>\n\n</think>\n\nA model.", system=None,
                                        kind="non_reasoning", domain="general", source="self", trace_ids=[],
                                        problem_id=None, language="zh", license="CC0-1.0", meta={"task": "sc", "n": 1}),
                               make_row(user="q", assistant="a", system=None, kind="journey", domain="math", source="s",
                                        trace_ids=["a", "b"], problem_id=src[0]["problem_id"], language=None,
                                        license=None, meta=None))):
        rows.append(extra)
        mix.put_row(len(src) + j, extra)
        diff[extra["id"]] = None
    assert mix.table(list(range(len(rows)))).equals(pa.Table.from_pylist(rows, schema=SFT_SCHEMA))
    for fraction in (0.0, 0.2, 0.5):
        train, val = split_by_problem(rows, fraction=fraction, seed=3)
        ti, vi = mix.split(fraction=fraction, seed=3)
        assert [rows[i] for i in ti] == train and [rows[i] for i in vi] == val
        assert mix.report(ti) == mix_report(train, diff) and mix.report(vi) == mix_report(val, diff)


def test_polars_render_equals_split_trace_render_byte_for_byte():
    """The fetch renders the assistant turn with polars (`render_stages`) and builds the bytes of
    its row id there (`id_bytes_expr`): both must equal the Python rules (split_trace,
    render_assistant, _pairs_id) on every row polars takes, and the rows it leaves to Python
    must be the ones it cannot do. Real traces, hostile edge cases, and seeded random texts made of
    the pieces the rules look at (boxes, fences, cues, blank lines of every whitespace kind,
    U+001C-U+001F that only Python counts as whitespace, tags, non-ASCII)."""
    import hashlib
    import random

    import polars as pl

    from factory.curate.sft import (
        _FENCE,
        _pairs_id,
        id_bytes_expr,
        render_assistant,
        render_stages,
        split_trace,
    )

    rows = [(r["reasoning"], r["answer"]) for w in ("skyt1", "qwen", "bo8") for r in trace_rows(w)]
    rows += [(r["reasoning"], r["answer"]) for r in code_trace_rows()]
    rows += [
        (None, "\\boxed{1}"), (None, "x\n\n\\fbox{2}"), (None, "a\n \t\n\\boxed{1} b\n\n c"), ("  ", "\\boxed{3}"),
        (None, "p\n\n\\boxed{1}\n\nq \\fbox{2} r\n\ns"), (None, "p\n\n\\fbox{1}\n\nq \\boxed{2}"), (None, "\\boxed"),
        (None, "é 答案\n\u3000\n$\\boxed{é}$\n\u2028\nend"), (None, "x\n\x1c\n\\boxed{1}"), (None, "x\x1f\\boxed{1}"),
        (None, "a\r\n\r\n\\boxed{1}\r\n\r\nb"), (None, "a\n\x85\n\\boxed{1}"), (None, "```py\nx\n``` y ```\nz\n```"),
        (None, "```\nunclosed"), (None, "The answer is 4."), (None, "<think>t</think>\\boxed{1}"), ("t", "a"),
        ("t\n", " \\boxed{1} "), ("t", "  "), ("t", None), (None, None), ("", ""), (None, "\\boxed{1}\n\n"),
        (None, "\n\n\\boxed{x}"), (None, "a\n\n\n\\boxed{x}\n \n\n"), (None, "\\fbox{a}\\boxed{b}"), ("\x1d", "\\boxed{1}"),
    ]
    rng = random.Random(7)
    pieces = ["\\boxed{7}", "\\fbox{x}", "\\box", "boxed", "```", "```python\n", "Final Answer: ", "The answer is ",
              "答案", "\n", "\n\n", "\n \n", "\n\t\n", "\r\n", "\u2028", "\u3000", "\xa0", "\x85", "\x1c", "\x1f", " ",
              "<think>", "</think>", "word ", "é", "😀", '"', "\\", "\x00", "$"]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        rows.append((text if rng.random() < 0.2 else None, text) if rng.random() < 0.7 else
                    ("".join(rng.choice(pieces) for _ in range(4)), text))
    df = pl.DataFrame({"reasoning": [r for r, _ in rows], "answer": [a for _, a in rows],
                       "user": [f"Q{i} \"é\"\n" for i in range(len(rows))]}, schema={c: pl.String for c in ("reasoning", "answer", "user")})
    for fmt in ("think", "sky-t1", "plain"):
        lf = df.lazy()
        for stage in render_stages("reasoning", "answer", fmt=fmt):
            lf = lf.with_columns(stage)
        for system in (None, 'sys "prompt"\n'):
            got = lf.with_columns(id_bytes_expr(pl.col("user"), pl.col("_asst"), system=system, kind="shortcut")
                                  .alias("_hin")).collect()
            taken = 0
            for (r, a), user, asst, hin in zip(rows, df["user"], got["_asst"], got["_hin"]):
                reasoning, answer = split_trace("", r, a)
                if asst is None:  # left to Python: a text polars cannot do alike, or no box/fence answer
                    assert answer is None or any(ch in (r or "") + (a or "") for ch in "<\x1c\x1d\x1e\x1f") or not (
                        (r or "").strip() or "\\boxed" in a or "\\fbox" in a or _FENCE.search(a)), (r, a)
                    assert hin is None
                    continue
                taken += 1
                assert asst == render_assistant(reasoning, answer, fmt=fmt), (fmt, r, a)
                msgs = ((("system", system),) if system else ()) + (("user", user), ("assistant", asst))
                assert "s_" + hashlib.sha256(hin).hexdigest()[:16] == _pairs_id(msgs, "shortcut")
            assert taken > 1500


def test_train_rows_written_in_row_group_steps_give_the_same_shards(tmp_path):
    """curate hands the train rows to the writer one row group at a time (so the Arrow columns of
    the next rows are built while these are compressed): the writer must cut the same row groups
    and shards, so the same bytes, as from one table."""
    import pyarrow as pa

    from factory.io.dataset import DatasetWriter

    n = 103
    table = pa.table({"id": [f"s_{i:04d}" for i in range(n)], "x": [f"é{i}" * (i % 7) for i in range(n)]})
    shards = []
    for name, step in (("whole", n), ("steps", 10)):
        with DatasetWriter(tmp_path / name, "sft", schema=table.schema, command="test", rows_per_shard=45,
                           row_group_rows=10, validate=False) as w:
            for i in range(0, n, step):
                w.write_table(table.slice(i, step))
        shards.append([p.read_bytes() for p in sorted((tmp_path / name).glob("*.parquet"))])
    assert len(shards[0]) == 3 and shards[0] == shards[1]
