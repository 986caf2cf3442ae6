"""Decontamination: edited copies of the shipped benchmarks (reworded, renumbered, reformatted)
are found with the right benchmark, item and n-gram; distinct problems sharing boilerplate are
kept; short-text rules; user benchmarks; flag vs drop; traces; command and recipe stage."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from factory.schemas.ids import problem_id
from typer.testing import CliRunner

from factory.dedup.decontam import (
    BUILTIN,
    DecontamConfig,
    build_index,
    match_texts,
    registry,
    run_decontam,
)
from factory.io.dataset import read_manifest, read_table, write_dataset


def _bench(package_data: Path, name: str) -> list[dict]:
    with gzip.open(package_data / "benchmarks" / BUILTIN[name][0], "rt") as f:
        return [json.loads(line) for line in f]


def _row(text: str, source: str = "test") -> dict:
    return dict(id=problem_id("math", text, None), source=source, source_id=None, domain="math", problem=text,
                reference_answer=None, language="en")


def _renumber(text: str) -> str:
    return re.sub(r"\d+", lambda m: str(int(m.group()) * 3 + 1), text)


HEADER = (
    "Solve the following math problem efficiently and clearly. The last line of your response should be of the "
    "following format: 'Therefore, the final answer is: $\\boxed{ANSWER}$. I hope it is correct' (without quotes) "
    "where ANSWER is just the final number or expression that solves the problem. Think step by step before answering."
)

CLEAN = [
    "A bag contains 4 green and 9 yellow tokens. Two tokens are drawn at random without replacement. What is the probability that both are yellow? Express your answer as a common fraction.",
    "Mira folds a square sheet of paper with side 12 cm along a diagonal and then cuts off a corner triangle with legs 3 cm. What is the area of the remaining piece? Express your answer in simplest radical form.",
    "How many ordered pairs of positive integers $(a,b)$ satisfy $a^2 + b^2 = 425$ with $a < b$? Enter your answer as an integer.",
    "The sum of three consecutive odd integers is 147. What is the product of the smallest and the largest of them?",
    "Write a function that returns the number of vowels in a given string, ignoring case and counting y only at the end of a word.",
    "A cyclist rides 18 km east, then 24 km north, and then returns in a straight line to the start. How long is the whole trip in kilometres?",
    HEADER + "\n\nLet $f(x) = 3x^2 - 5x + 2$. Find the positive difference between the roots of $f(x) = 0$.",
    HEADER + "\n\nA rectangle has perimeter 46 and diagonal 17. What is its area?",
    HEADER + "\n\nFind the remainder when $7^{2024}$ is divided by 11.",
]


def _contaminated(package_data: Path) -> list[tuple[str, str, str, str]]:
    """(text, benchmark, item id, edit kind) of edited benchmark copies."""
    gsm = _bench(package_data, "gsm8k")
    m5 = _bench(package_data, "math500")
    out = []
    for i in (0, 7, 42):
        q = gsm[i]["question"]
        words = q.split()
        words[3], words[len(words) // 2] = "several", "exactly"  # reworded: two words swapped for others
        out.append((" ".join(words), "gsm8k", str(i), "reworded"))
        out.append((_renumber(q), "gsm8k", str(i), "renumbered"))
        out.append(("  " + q.upper().replace(" ", "\n  "), "gsm8k", str(i), "reformatted"))
    fracs = [p for p in m5 if "\\frac" in p["problem"] and len(p["problem"].split()) > 25][:3]
    for p in fracs:
        text = p["problem"].replace("\\frac", "\\dfrac").replace("(", "\\left(").replace(")", "\\right)")
        out.append((text, "math500", p["unique_id"], "reformatted"))
        out.append((_renumber(p["problem"]), "math500", p["unique_id"], "renumbered"))
    for name in ("aime24", "aime25", "amc23"):
        # a problem with words besides its numbers ("What is the value of 2^3 - 1^3 + ...?"
        # renumbered is a different problem, and is matched only as a whole text)
        p = [p for p in _bench(package_data, name) if len(p["problem"].split()) >= 30][1]
        out.append((_renumber(p["problem"]), name, str(p["id"]), "renumbered"))
    he = _bench(package_data, "humaneval")[5]
    out.append((he["prompt"].replace("    ", "\t"), "humaneval", he["task_id"], "reformatted"))
    mb = _bench(package_data, "mbpp")[10]
    out.append((mb["text"].replace("Write a function", "Write a python function"), "mbpp", str(mb["task_id"]), "reworded"))
    return out


@pytest.fixture(scope="module")
def index():
    cfg = DecontamConfig()
    return build_index(registry(cfg), cfg), cfg


def test_edited_benchmark_copies_are_found(package_data, index):
    idx, cfg = index
    cases = _contaminated(package_data)
    hits = match_texts([c[0] for c in cases], idx, cfg)
    for (text, bench, item, kind), h in zip(cases, hits):
        assert h is not None, (bench, item, kind)
        assert (idx.items[h.item].benchmark, idx.items[h.item].item_id) == (bench, item), kind
        assert len(h.ngram.split()) == cfg.ngram and h.ngram in re.sub(r"\s+", " ", h.ngram)
    assert {c[3] for c in cases} == {"reworded", "renumbered", "reformatted"}


def test_distinct_problems_sharing_boilerplate_are_kept(index):
    idx, cfg = index
    assert match_texts(CLEAN, idx, cfg) == [None] * len(CLEAN)
    assert idx.dropped_common > 0  # boilerplate n-grams exist in the registry and are skipped


def test_short_texts_use_whole_text_and_containment(index, tmp_path):
    idx, cfg = index
    short_item = "Compute $\\dbinom{31}{28}$."  # MATH-500, 4 words
    common_item = "What is the value of $513^2 - 487^2$?"  # every 8-gram is boilerplate
    hits = match_texts([short_item, "compute \\binom{31}{28}", "Compute $\\dbinom{31}{27}$.", common_item,
                        "What is the value of $513^2 - 480^2$?", "Compute 5!"], idx, cfg)
    assert hits[0] is not None and hits[1] is not None and idx.items[hits[0].item].benchmark == "math500"
    assert hits[2] is None  # a different number is a different short problem
    assert hits[3] is not None and hits[4] is None
    assert hits[5] is None
    # a short user item (6 words < 8) is found inside a longer text, in order, digits kept
    (tmp_path / "mine.jsonl").write_text(json.dumps({"qid": "q1", "question": "Evaluate the integral of x squared"}) + "\n")
    cfg2 = DecontamConfig(builtin=())
    from factory.dedup.decontam import load_user_benchmark

    idx2 = build_index(load_user_benchmark(f"mine={tmp_path / 'mine.jsonl'}:question"), cfg2)
    h = match_texts(["Please evaluate the integral of x squared from 0 to 1.", "Evaluate the integral of x cubed from 0 to 1."], idx2, cfg2)
    assert h[0] is not None and h[0].ngram == "evaluate the integral of x squared" and h[1] is None


def test_stage_drops_and_reports_per_benchmark(package_data, tmp_path):
    cases = _contaminated(package_data)
    rows = [_row(t, "contaminated") for t, *_ in cases] + [_row(t, "clean") for t in CLEAN]
    write_dataset(tmp_path / "in", "problem", rows, rows_per_shard=7)
    r = run_decontam(tmp_path / "in", tmp_path / "out", DecontamConfig())
    kept, rej = read_table(tmp_path / "out"), read_table(tmp_path / "out" / "rejected")
    assert sorted(kept.column("source").to_pylist()) == ["clean"] * len(CLEAN)
    assert rej.num_rows == len(cases) and set(rej.column("verdict_decontam").to_pylist()) == {"contaminated"}
    want = {}
    for _, b, _, _ in cases:
        want[b] = want.get(b, 0) + 1
    assert {b: n for b, n in r.stats["hits_by_benchmark"].items() if n} == want
    assert sorted(set(rej.column("reject_reason").to_pylist())) == sorted(f"decontam:{b}" for b in want)
    assert read_manifest(tmp_path / "out").stats["hits_by_benchmark"]["gsm8k"] == 9
    ex = r.stats["examples"]["gsm8k"][0]
    assert ex["item"] in {"0", "7", "42"} and len(ex["ngram"].split()) == 8
    # flag: every row kept, verdicts recorded; 13-grams still find the copies
    r = run_decontam(tmp_path / "in", tmp_path / "flag", DecontamConfig(action="flag", ngram=13))
    t = read_table(tmp_path / "flag")
    assert t.num_rows == len(rows) and t.column("verdict_decontam").to_pylist().count("contaminated") >= len(cases) - 3
    assert r.stats["rows_rejected"] == 0


def test_trace_folder_user_benchmarks_command_and_stage(package_data, tmp_path):
    from factory.cli.app import app

    from factory.pipeline.recipe import run_section, validate_section

    # real Sky-T1 traces are answers to MATH-500 problems: every one is contaminated
    with gzip.open(package_data / "traces" / "skyt1_long_cot_math500.jsonl.gz", "rt") as f:
        sky = [json.loads(next(f)) for _ in range(10)]
    rows = [_row(s["question"], "sky") for s in sky] + [_row(t, "clean") for t in CLEAN[:3]]
    write_dataset(tmp_path / "p", "problem", rows)
    res = CliRunner().invoke(app, ["decontaminate", str(tmp_path / "p"), "--out", str(tmp_path / "o"), "--builtin", "math500"])
    assert res.exit_code == 0, res.output
    assert "math500" in res.output and "10 contaminated" in res.output
    # a user benchmark: a dataset folder and a jsonl with its own text column
    (tmp_path / "extra.jsonl").write_text("\n".join(json.dumps({"id": f"x{i}", "body": t}) for i, t in enumerate(CLEAN[:2])) + "\n")
    res = CliRunner().invoke(app, ["decontaminate", str(tmp_path / "p"), "--out", str(tmp_path / "o2"), "--builtin", "none",
                                   "--benchmark", f"mine={tmp_path / 'extra.jsonl'}:body", "--benchmark", f"folder={tmp_path / 'p'}"])
    assert res.exit_code == 0, res.output
    st = read_manifest(tmp_path / "o2").stats
    assert st["contaminated"] == len(rows) and st["hits_by_benchmark"]["mine"] == 2 and st["hits_by_benchmark"]["folder"] == len(rows) - 2
    res = CliRunner().invoke(app, ["decontaminate", str(tmp_path / "p"), "--out", str(tmp_path / "o3"), "--benchmark", "nofile"])
    assert res.exit_code == 1 and "NAME=PATH" in res.output
    res = CliRunner().invoke(app, ["decontaminate", str(tmp_path / "p"), "--out", str(tmp_path / "o4"), "--benchmark", f"x={tmp_path / 'extra.jsonl'}"])
    assert res.exit_code == 1 and "no text column" in res.output
    # a trace folder: a clean problem whose reasoning quotes a GSM8K problem, checked on both fields
    q = _bench(package_data, "gsm8k")[5]["question"]
    trace = dict(id="t_1", problem_id="p_1", sample_index=0, teacher="t", backend="replay", sampling=None, system_prompt=None,
                 prompt=CLEAN[3], completion="x", reasoning="This reminds me of: " + q, reasoning_finished=True, answer="1",
                 finish_reason="stop", prompt_tokens=None, completion_tokens=None, domain="math", source="s", problem=CLEAN[3],
                 reference_answer=None, tests=None, difficulty=None, level=None, language="en", license=None, meta=None)
    write_dataset(tmp_path / "t", "trace", [trace])
    assert run_decontam(tmp_path / "t", tmp_path / "t1", DecontamConfig()).stats["contaminated"] == 0
    st = run_decontam(tmp_path / "t", tmp_path / "t2", DecontamConfig(fields=("problem", "reasoning"))).stats
    assert st["hits_by_benchmark"]["gsm8k"] == 1 and st["examples"]["gsm8k"][0]["item"] == "5"
    # recipe stage
    probs = validate_section("decontaminate", {"input": "p", "out": "q", "builtin": ["math501"], "nram": 3})
    assert any("decontaminate.nram: unknown key" in p for p in probs) and any("math501" in p for p in probs)
    logs: list[str] = []
    s = run_section("decontaminate", {"input": "p", "out": "clean"}, run_dir=tmp_path, seed=1, log=logs.append)
    assert s["contaminated"] == 10 and any("hits per benchmark" in x for x in logs)
    assert run_section("decontaminate", {"input": "p", "out": "clean"}, run_dir=tmp_path, seed=1, log=logs.append)["skipped"]
