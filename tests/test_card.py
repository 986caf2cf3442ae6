"""The dataset card follows the recorded lineage (stage.json) as a DAG: both branches and where
they merge, every folder once, rejected counts equal to each rejected/ folder's rows, teachers
(and their sampling and system prompts) read from the rows, no absolute path. Its shape is pinned
by a golden file (regenerate with `FACTORY_REGEN_GOLDEN=1 python -m pytest tests/test_card.py`);
its numbers are recomputed here from the folders' own rows."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest
from publish_lineage import COST, GPU_HOURS, QWEN, SKY, HandRun, build_lineage, card_table, card_tree

from factory.io.dataset import DatasetWriter, read_manifest, read_table, write_dataset
from factory.pipeline.runner import StageContext, run_stage
from factory.publish.card import build_card
from factory.publish.facts import gather
from factory.publish.report import render_html

GOLDEN = Path(__file__).parent / "golden" / "card.md"


@pytest.fixture(scope="module")
def lineage(tmp_path_factory, package_data) -> dict[str, Path]:
    return build_lineage(tmp_path_factory.mktemp("run"), package_data)


@pytest.fixture(scope="module")
def card(lineage) -> str:
    return build_card(gather(lineage["sft"]), repo_id="factory-demo/quickstart-sft")


table_rows = card_table


def n(s: str) -> int:
    return int(s.replace(",", ""))


def test_card_matches_the_golden_file(card, lineage):
    if os.environ.get("FACTORY_REGEN_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(card, encoding="utf-8")
    assert GOLDEN.exists(), "golden card missing: run with FACTORY_REGEN_GOLDEN=1 once"
    assert card == GOLDEN.read_text(encoding="utf-8")


def test_no_absolute_path_and_no_clock_time(card, lineage):
    from factory.data import DATA_DIR

    root = lineage["sft"].parent
    page = render_html(gather(lineage["sft"]))
    for text in (card, page):
        for p in (root, root.resolve(), DATA_DIR, Path.home(), Path.cwd()):
            assert str(p) not in text
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", card)
    # the shipped files the run read are named as package data
    assert "@data/traces/skyt1_long_cot_math500.jsonl.gz" in card


def test_the_lineage_is_drawn_as_branches_that_merge(card):
    tree = card_tree(card)
    names = [re.sub(r"^[│├└─ ]*", "", ln).split("  ")[0] for ln in tree]
    assert names[0] == "sft"
    # the published set reads four folders: both filtered branches, the code branch, and the
    # long-CoT branch's rejected part (wrong attempts for journeys)
    top_level = [re.sub(r"^[├└]── ", "", ln).split("  ")[0] for ln in tree if re.match(r"^[├└]── ", ln)]
    assert top_level == ["filtered/long_cot", "filtered/short_cot", "verified/code", "verified/long_cot/rejected"]
    # both trace branches were generated from the same problems: drawn once, then referred to
    assert names.count("problems/math_clean") == 2 and names.count("problems/math_dedup") == 1
    second = [ln for ln in tree if "problems/math_clean" in ln][1]
    assert "↑ above" in second and "kept" not in second
    assert "↑ the rejected/ part of verified/long_cot" in tree[-1]


def test_every_folder_once_with_the_manifests_numbers(card, lineage):
    rows = {r[0]: r for r in table_rows(card, "Funnel")}
    assert len(rows) == len(table_rows(card, "Funnel"))  # each folder once
    for key, path in lineage.items():
        if key == "sft":
            continue
        m = read_manifest(path)
        r = rows[key]
        assert n(r[5]) == m.rows, key
        if (path / "rejected").exists():
            rej = read_manifest(path / "rejected").rows
            assert n(r[6]) == rej and n(r[4]) == m.rows + rej, key
    assert n(rows["sft"][5]) == sum(read_manifest(lineage["sft"] / s).rows for s in ("train", "validation"))
    # the merge: curate read four folders
    assert rows["sft"][3].count(",") == 3 and "verified/long_cot/rejected" in rows["sft"][3]
    # rows left after each filter, from the rows: format, readability, language on the long-CoT branch
    kept = read_table(lineage["filtered/long_cot"]).num_rows
    assert rows["filtered/long_cot"][8].endswith(f"language {kept:,}")


def test_rejected_counts_equal_the_rejected_folders(card, lineage):
    drops = table_rows(card, "Funnel", after="Rejected rows by reason")
    by_folder: dict[str, Counter] = {}
    for folder, reason, rows in drops:
        by_folder.setdefault(folder.removesuffix("/rejected"), Counter())[reason] += n(rows)
    for key, path in lineage.items():
        if (path / "rejected").exists() and read_manifest(path / "rejected").rows:
            reasons = Counter(read_table(path / "rejected").column("reject_reason").to_pylist())
            assert by_folder[key] == reasons, key
            assert sum(by_folder[key].values()) == read_manifest(path / "rejected").rows
    assert by_folder["problems/math_dedup"] == {"dedup:exact": 2}  # the real dedup removed the two copies
    assert by_folder["problems/math_clean"] == {"decontam:mybench": 2}


def test_teachers_come_from_the_rows_with_cost_per_accepted_sample(card, lineage):
    facts = gather(lineage["sft"])
    gen = [r for k in ("traces/long_cot", "traces/short_cot", "traces/code") for r in read_table(lineage[k]).to_pylist()]
    teacher_of = {r["id"]: r["teacher"] for r in gen}
    assert {t.name for t in facts.teachers} == {r["teacher"] for r in gen}  # one row per teacher, not per seed
    sft = [r for s in ("train", "validation") for r in read_table(lineage["sft"] / s).to_pylist()]
    accepted = Counter(teacher_of[r["trace_ids"][-1]] for r in sft)
    for t in facts.teachers:
        assert t.generated == sum(r["teacher"] == t.name for r in gen)
        assert t.accepted == accepted[t.name]
    by = {t.name: t for t in facts.teachers}
    for key, label in (("verified/long_cot", "verify: math"), ("filtered/long_cot", "filter: language")):
        assert by[SKY].kept[label] == read_table(lineage[key]).num_rows
    assert "filter: format" not in by[QWEN].kept  # the short-CoT branch does not run the format filter
    assert by[QWEN].gpu_hours == pytest.approx(GPU_HOURS) and by[QWEN].cost == pytest.approx(COST)
    assert by[QWEN].tokens == sum(r["completion_tokens"] for r in gen if r["teacher"] == QWEN)
    assert by[SKY].cost is None and by[SKY].tokens_estimated_rows == by[SKY].generated
    rows = {r[0]: r for r in table_rows(card, "Teachers")}
    assert rows[QWEN][8] == f"${COST / accepted[QWEN]:,.4f}" and float(rows[QWEN][7]) == pytest.approx(GPU_HOURS / accepted[QWEN], rel=1e-3)
    assert rows[SKY][5] == "not recorded" and n(rows[SKY][6]) == accepted[SKY]
    sampling = table_rows(card, "Teachers", after="Sampling parameters")
    assert len(sampling) == 3 and all("seed=0" in r[2] and "temperature=0.7" in r[2] for r in sampling)
    assert {r[0]: r[3] for r in sampling}[QWEN].startswith("Please reason step by step")


def test_acceptance_and_the_rest_come_from_the_rows(lineage):
    facts = gather(lineage["sft"])
    gen = [r for k in ("traces/long_cot", "traces/short_cot", "traces/code") for r in read_table(lineage[k]).to_pylist()]
    assert sum(a["generated"] for a in facts.acceptance) == len(gen)
    level5 = next(a for a in facts.acceptance if a["difficulty"] == "level 5")
    assert level5["generated"] == sum(r["level"] == 5 for r in gen)
    sft = [r for s in ("train", "validation") for r in read_table(lineage["sft"] / s).to_pylist()]
    assert sum(a["used"] for a in facts.acceptance) == len({r["trace_ids"][-1] for r in sft})
    assert facts.tokens["reasoning"].size == facts.rows and facts.percentiles("reasoning")["p50"] > 100
    assert {(s, lic) for s, lic, _ in facts.sources} == {("math500", "Apache-2.0"), ("humaneval", "MIT")}
    assert facts.recipe_name == "quickstart" and "shortest-correct" in facts.recipe_yaml
    assert facts.example["messages"][1]["content"].startswith("<think>\n")
    # score_language counted once, at the folders that scored it (kept + rejected)
    scored = sum(read_manifest(lineage[k]).rows + read_manifest(lineage[k] / "rejected").rows
                 for k in ("verified/long_cot", "verified/short_cot", "verified/code"))
    assert facts.language_scores.size == scored


def _hand(root: Path, kind: str, inputs: list[Path], out: Path, write) -> None:
    ctx = StageContext(stage=kind, command=f"factory {kind}", log=lambda s: None, progress=False)
    run_stage(kind, HandRun(inputs=[str(p) for p in inputs], out=str(out)), ctx, lambda o, c: write(Path(o.out)))


def _traces(teacher: str, n_rows: int, tag: str) -> list[dict]:
    from trace_rows import trace_row

    return [trace_row(question=f"{tag}: what is {i}+{i}?", completion=f"<think>\n{i}+{i}={2 * i}\n</think>\n\n{2 * i}",
                      gold=str(2 * i), teacher=teacher) for i in range(n_rows)]


def test_two_branches_merging_count_once(tmp_path):
    """A handmade DAG: one problem folder, two generate branches (a local model given by path,
    and a served model), each filtered, merged by one curate-like stage that also reads a
    rejected/ part. Every number once; the local model's absolute path never shows."""
    root = tmp_path / "run"
    model = root / "models" / "teacher-tiny"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    probs = root / "problems"
    write_dataset(probs, "problem", [{"id": f"p{i}", "source": "hand", "domain": "math", "problem": f"what is {i}+{i}?",
                                      "reference_answer": str(2 * i), "language": "en"} for i in range(4)])
    a_rows, b_rows = _traces(str(model), 4, "a"), _traces("served/model-b", 3, "b")

    def gen(rows):
        def write(out: Path) -> dict:
            with DatasetWriter(out, "trace") as w:
                w.write_rows(rows)
                w.run.update({"gpus": 1, "gpu_hours": 0.5, "cost_usd": {"total": 2.0}})
            return {}
        return write

    def filt(rows, drop):
        def write(out: Path) -> dict:
            write_dataset(out, "trace", rows[drop:])
            rej = [{**r, "reject_reason": "language:mixed"} for r in rows[:drop]]
            import pyarrow as pa
            from factory.schemas.contracts import TRACE_SCHEMA

            with DatasetWriter(out / "rejected", "trace", schema=TRACE_SCHEMA.append(pa.field("reject_reason", pa.string()))) as w:
                w.write_rows(rej)
            return {}
        return write

    _hand(root, "generate", [probs, model], root / "gen_a", gen(a_rows))
    _hand(root, "generate", [probs], root / "gen_b", gen(b_rows))
    _hand(root, "filter", [root / "gen_a"], root / "filt_a", filt(a_rows, 1))
    _hand(root, "filter", [root / "gen_b"], root / "filt_b", filt(b_rows, 2))
    kept = a_rows[1:] + b_rows[2:]

    def merge(out: Path) -> dict:
        rows = [{"id": f"s{i}", "messages": [{"role": "user", "content": r["prompt"]},
                                             {"role": "assistant", "content": f"<think>\nok\n</think>\n\n{r['answer']}"}],
                 "trace_ids": [r["id"]], "kind": "shortcut", "domain": "math", "source": "hand"} for i, r in enumerate(kept)]
        write_dataset(out / "train", "sft", rows)
        return {}

    _hand(root, "curate", [root / "filt_a", root / "filt_b", root / "filt_b" / "rejected"], root / "sft", merge)
    facts = gather(root / "sft")
    funnel = {r.key: r for r in facts.funnel}
    assert set(funnel) == {"problems", "models/teacher-tiny", "gen_a", "gen_b", "filt_a", "filt_b", "sft"}
    assert [e.node for e in facts.lineage.nodes["gen_a"].inputs] == ["problems", "models/teacher-tiny"]
    assert [(e.node, e.part) for e in facts.lineage.nodes["sft"].inputs] == [("filt_a", "."), ("filt_b", "."), ("filt_b", "rejected")]
    assert (funnel["filt_a"].rows, funnel["filt_a"].rejected, funnel["filt_b"].rows, funnel["filt_b"].rejected) == (3, 1, 1, 2)
    assert funnel["sft"].rows == 4
    by = {t.name: t for t in facts.teachers}
    assert set(by) == {"models/teacher-tiny", "served/model-b"}  # the model folder named relative to the run
    assert (by["models/teacher-tiny"].generated, by["models/teacher-tiny"].kept["filter: language"], by["models/teacher-tiny"].accepted) == (4, 3, 3)
    assert (by["served/model-b"].generated, by["served/model-b"].accepted) == (3, 1)
    assert by["served/model-b"].per_accepted(by["served/model-b"].cost) == pytest.approx(2.0)
    card, page = build_card(facts), render_html(facts)
    tree = card.split("```text\n", 1)[1].split("\n```", 1)[0]
    assert tree.count("problems ") == 2 and tree.count("↑") == 2  # problems shared by both branches; filt_b's part
    for text in (card, page):
        assert str(tmp_path) not in text and str(model) not in text


def test_a_folder_without_records_gives_a_card_that_says_not_recorded(tmp_path):
    rows = [{"id": "s1", "messages": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}],
             "trace_ids": [], "problem_id": None, "kind": "non_reasoning", "domain": "general", "source": "handmade"}]
    write_dataset(tmp_path / "sft", "sft", rows)
    card = build_card(gather(tmp_path / "sft"))
    for heading in ("Lineage", "Teachers", "Decontamination", "Acceptance by difficulty"):
        assert card.split(f"## {heading}\n\n", 1)[1].startswith("_not recorded_"), heading
    assert "## Funnel" not in card  # one folder: nothing to follow
    assert "| handmade | not recorded | 1 |" in card
    assert "| answer | 1 | 1 |" in card  # "2": one token (ceil(1 / 4)), no think block
    assert json.loads(card.split("```json\n", 1)[1].split("\n```", 1)[0])["id"] == "s1"


def test_a_re_made_input_is_noted(tmp_path, lineage):
    """A folder re-run after the ones made from it: the card says their numbers describe the
    earlier version (the recorded fingerprint no longer matches)."""
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(lineage["sft"].parent, root, symlinks=True)
    t = read_table(root / "filtered" / "short_cot")
    shutil.rmtree(root / "filtered" / "short_cot" / "rejected")
    (root / "filtered" / "short_cot" / "stage.json").unlink()
    for p in (root / "filtered" / "short_cot").glob("*"):
        p.unlink()
    write_dataset(root / "filtered" / "short_cot", "trace", t.slice(1))
    card = build_card(gather(root / "sft"))
    assert "`sft` was made from an earlier version of `filtered/short_cot`" in card
