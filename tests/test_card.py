"""The dataset card: its shape is pinned by a golden file (regenerate with
`FACTORY_REGEN_GOLDEN=1 python -m pytest tests/test_card.py`), its numbers equal the manifests'
and the rows', and missing parts say "not recorded" instead of crashing."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from publish_lineage import build_lineage

from factory.io.dataset import read_manifest, read_table, write_dataset
from factory.publish.card import build_card
from factory.publish.lineage import FUNNEL_LABELS, gather

GOLDEN = Path(__file__).parent / "golden" / "card.md"


@pytest.fixture(scope="module")
def lineage(tmp_path_factory, package_data) -> dict[str, Path]:
    return build_lineage(tmp_path_factory.mktemp("lineage"), package_data)


def _table_rows(card: str, heading: str) -> list[list[str]]:
    """The first table under a heading, without its header row."""
    section = card.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    table = section[section.index("\n|") + 1:].split("\n\n", 1)[0]
    lines = [ln for ln in table.splitlines() if ln.startswith("| ")]
    return [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines[1:]]


def test_card_matches_the_golden_file(lineage):
    card = build_card(gather(lineage["sft"]), repo_id="factory-demo/quickstart-sft")
    if os.environ.get("FACTORY_REGEN_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(card, encoding="utf-8")
    assert GOLDEN.exists(), "golden card missing: run with FACTORY_REGEN_GOLDEN=1 once"
    assert card == GOLDEN.read_text(encoding="utf-8")
    # no machine paths and no clock time on a card that goes public
    assert str(lineage["sft"].parent) not in card and not re.search(r"\d{4}-\d\d-\d\dT\d\d:", card)


def test_funnel_numbers_equal_the_manifests(lineage):
    card = build_card(gather(lineage["sft"]))
    funnel = _table_rows(card, "Funnel")
    by_step = {row[1].strip("`"): row for row in funnel}
    n = lambda s: int(s.replace(",", ""))  # noqa: E731
    assert [r[0] for r in funnel][:7] == list(FUNNEL_LABELS[:7])
    assert n(by_step["factory generate --backend replay"][2]) == read_manifest(lineage["generated"]).rows
    filt = read_manifest(lineage["filtered"]).stats["funnel"]
    for step in filt["steps"]:
        row = by_step[step["filter"]]
        assert n(row[2]) == step["out"]
        assert [n(row[4]), n(row[5])] == [step["by_domain"]["code"][1], step["by_domain"]["math"][1]]
    assert n(by_step["readability"][2]) == read_manifest(lineage["filtered"]).rows
    assert n(by_step["factory dedup"][2]) == read_manifest(lineage["deduped"]).rows
    assert n(by_step["factory decontaminate"][2]) == read_manifest(lineage["decontaminated"]).rows
    total = sum(read_manifest(lineage["sft"] / s).rows for s in ("train", "validation"))
    assert n(by_step["the published set (all splits)"][2]) == total
    hits = read_manifest(lineage["decontaminated"]).stats["hits_by_benchmark"]
    assert {r[0]: n(r[1]) for r in _table_rows(card, "Decontamination")} == hits
    section = card.split("Drops by reason:", 1)[1].split("\n## ", 1)[0]
    reasons = {m.group(1): int(m.group(2).replace(",", "")) for m in re.finditer(r"^\| (.+?) \| ([\d,]+) \|$", section, re.M)}
    assert reasons["math_verify: fail"] == filt["rejected_by"]["math_verify"]["fail"]
    assert reasons["decontam:math500"] == hits["math500"]


def test_acceptance_teachers_tokens_and_sources_come_from_the_rows(lineage):
    facts = gather(lineage["sft"])
    gen = read_table(lineage["generated"]).to_pylist()
    assert sum(a["generated"] for a in facts.acceptance) == len(gen)
    level5 = [r for r in gen if r["level"] == 5]
    assert next(a for a in facts.acceptance if a["difficulty"] == "level 5")["generated"] == len(level5)
    used = {t for s in ("train", "validation") for r in read_table(lineage["sft"] / s).to_pylist() for t in r["trace_ids"]}
    assert sum(a["used"] for a in facts.acceptance) == len(used)
    assert {t["teacher"] for t in facts.teachers} == {r["teacher"] for r in gen}
    assert all(t["backend"] == "replay" and t["sampling"]["temperature"] == 0.7 for t in facts.teachers)
    assert facts.tokens["reasoning"].size == facts.rows and facts.percentiles("reasoning")["p50"] > 100
    assert {(s, lic) for s, lic, _ in facts.sources} == {("math500", "Apache-2.0"), ("humaneval", "MIT")}
    assert facts.recipe_name == "quickstart" and "stages:" in facts.recipe_yaml
    assert facts.example["messages"][1]["content"].startswith("<think>\n")


def test_without_recorded_lineage_the_card_says_not_recorded_and_lineage_flags_fill_it(package_data, tmp_path):
    paths = build_lineage(tmp_path / "l", package_data, record_lineage=False)
    card = build_card(gather(paths["sft"]))
    for heading in ("Teachers", "Decontamination", "Acceptance by difficulty"):
        assert card.split(f"## {heading}\n\n", 1)[1].startswith("_not recorded_"), heading
    assert "Not recorded: parsed, verified, language-consistent, readable, deduplicated, decontaminated" in card
    # --lineage DECONTAMINATED: the rest is found by following each manifest's `input`
    card = build_card(gather(paths["sft"], lineage=[paths["decontaminated"]]))
    assert "Not recorded:" not in card and "| math500 | 2 |" in card
    assert [r[0] for r in _table_rows(card, "Funnel")][:7] == list(FUNNEL_LABELS[:7])


def test_a_bare_folder_gives_a_card_without_crashing(tmp_path):
    rows = [{"id": "s1", "messages": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}],
             "trace_ids": [], "problem_id": None, "kind": "non_reasoning", "domain": "general", "source": "handmade"}]
    write_dataset(tmp_path / "sft", "sft", rows)
    card = build_card(gather(tmp_path / "sft"))
    assert card.count("_not recorded_") >= 4
    assert "| handmade | not recorded | 1 |" in card
    assert "| answer | 1 | 1 |" in card  # "2": one token, no think block
    assert json.loads(card.split("```json\n", 1)[1].split("\n```", 1)[0])["id"] == "s1"


def test_the_card_of_a_real_pipeline_run_matches_its_manifests(lineage, tmp_path):
    """The shipped traces (replayed) through the real stages: verify -> filter -> dedup ->
    decontaminate -> curate (r1-800k at size 10); the card's numbers are the manifests'."""
    from factory.cli.app import app
    from typer.testing import CliRunner

    aime = Path(__file__).resolve().parents[1] / "factory" / "data" / "benchmarks" / "aime24.jsonl.gz"
    run = CliRunner().invoke
    steps = [
        ["verify", str(lineage["generated"]), "--out", str(tmp_path / "verified")],
        ["filter", str(tmp_path / "verified"), "--out", str(tmp_path / "filtered")],
        ["dedup", str(tmp_path / "filtered"), "--out", str(tmp_path / "deduped")],
        ["decontaminate", str(tmp_path / "deduped"), "--out", str(tmp_path / "decon"), "--no-builtin",
         "--benchmark", f"aime24={aime}:problem"],
        ["curate", "--recipe", "r1-800k", "--traces", str(tmp_path / "decon"), "--out", str(tmp_path / "sft"), "--size", "10"],
    ]
    for args in steps:
        r = run(app, args)
        assert r.exit_code == 0, f"factory {args[0]}: {r.output[-2000:]}"
    facts = gather(tmp_path / "sft", lineage=[tmp_path / "decon"])
    assert [f.path.name for f in facts.lineage] == [lineage["generated"].name, "verified", "filtered", "deduped", "decon"]
    card = build_card(facts)
    rows = _table_rows(card, "Funnel")
    n = lambda s: int(s.replace(",", ""))  # noqa: E731
    expected = [read_manifest(lineage["generated"]).rows]
    for folder in ("verified", "filtered"):
        expected += [s["out"] for s in read_manifest(tmp_path / folder).stats["funnel"]["steps"]]
    expected += [read_manifest(tmp_path / "deduped").rows, read_manifest(tmp_path / "decon").rows]
    curate_funnel = read_manifest(tmp_path / "sft" / "train").stats["funnel"]
    expected += [curate_funnel["traces_in"], curate_funnel["qualifying"], curate_funnel["after_per_problem"]]
    expected.append(sum(read_manifest(tmp_path / "sft" / s).rows for s in ("train", "validation")))
    assert [n(r[2]) for r in rows] == expected
    assert expected[-1] == 10 and curate_funnel["traces_in"] == read_manifest(tmp_path / "decon").rows
    assert {r[0] for r in rows} >= {"generated", "verified", "parsed", "readable", "language-consistent",
                                    "deduplicated", "decontaminated", "mixed"}
    hits = {r[0]: n(r[1]) for r in _table_rows(card, "Decontamination")}
    assert hits == read_manifest(tmp_path / "decon").stats["hits_by_benchmark"]
    assert "name: r1-800k" in card and "curate.mix.size=10" in card
