"""The README's quickstart: `factory run quickstart` runs every stage offline on the shipped real
data and the tiny model, and a second run without --overwrite is a no-op that changes nothing."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from factory.io.dataset import read_manifest, read_table


def check_card(out) -> None:
    """The card and report follow the recorded lineage: both teachers, both branches merging at
    curate, every number equal to the folders' manifests and rows, no absolute path."""
    from collections import Counter

    from publish_lineage import card_table, card_tree

    card = (out / "hub" / "README.md").read_text()
    report = (out / "report.html").read_text()
    assert str(out) not in card and str(out) not in report and str(out.resolve()) not in card
    m = lambda p: read_manifest(out / p).rows  # noqa: E731
    # both branches: the long- and short-CoT traces, generated from the same problems, merge at curate
    tree = card_tree(card)
    top = [ln[4:].split("  ")[0] for ln in tree if ln[:4] in ("├── ", "└── ")]
    assert {"filtered/long_cot", "filtered/short_cot"} <= set(top), tree
    shared = [ln for ln in tree if ln.lstrip("│├└─ ").startswith("problems/math_clean ")]
    assert len(shared) == 2 and "↑ above" in shared[1]
    # every folder once, with its manifest's rows; rejected counts equal the rejected/ folders'
    funnel = {r[0]: r for r in card_table(card, "Funnel")}
    for key in ("problems/math_dedup", "problems/math_clean", "traces/long_cot", "traces/short_cot", "verified/long_cot",
                "verified/short_cot", "filtered/long_cot", "filtered/short_cot"):
        assert int(funnel[key][5].replace(",", "")) == m(key), key
        if (out / key / "rejected").exists():
            assert int(funnel[key][6].replace(",", "")) == m(f"{key}/rejected"), key
    assert int(funnel["sft"][5].replace(",", "")) == m("sft/train") + m("sft/validation")
    drops = Counter()
    for folder, reason, n in card_table(card, "Funnel", after="Rejected rows by reason"):
        drops[folder] += int(n.replace(",", ""))
    for key in ("verified/long_cot", "verified/short_cot", "filtered/long_cot", "filtered/short_cot"):
        assert drops[f"{key}/rejected"] == m(f"{key}/rejected"), key
    # both teachers, read from the rows: traces generated and rows of the set
    teachers = {r[0]: r for r in card_table(card, "Teachers")}
    gen = Counter(t for k in ("traces/long_cot", "traces/short_cot") for t in read_table(out / k).column("teacher").to_pylist())
    assert set(teachers) == set(gen) == {"Sky-T1-math-correct-5K-27B", "Qwen/Qwen2.5-14B-Instruct"}
    for name, n in gen.items():
        assert int(teachers[name][2].replace(",", "")) == n
    assert sum(int(r[6].replace(",", "")) for r in teachers.values()) == m("sft/train") + m("sft/validation")


def test_quickstart_runs_every_stage_and_reruns_as_noop(tmp_path):
    from factory.cli.app import app

    out = tmp_path / "qs"
    r = CliRunner().invoke(app, ["run", "quickstart", "--out", str(out)])
    assert r.exit_code == 0, r.output[-3000:]
    record = json.loads((out / "run.json").read_text())
    assert set(record["summaries"]) == set(record["stages"])
    assert read_manifest(out / "problems" / "math").rows == 100
    assert read_manifest(out / "public" / "long_cot").rows == 100
    # verification kept only correct traces; wrong ones are in rejected/ with their reason
    kept = read_table(out / "verified" / "short_cot")
    assert kept.num_rows > 50 and set(kept.column("verdict_math").to_pylist()) == {"correct"}
    rejected = read_table(out / "verified" / "short_cot" / "rejected")
    assert all(r.startswith("math:") for r in rejected.column("reject_reason").to_pylist())
    # the SFT mix holds journey and shortcut examples with <think> blocks
    train = read_table(out / "sft" / "train")
    kinds = set(train.column("kind").to_pylist())
    assert kinds == {"journey", "shortcut"}
    for msgs in train.column("messages").to_pylist():
        assert msgs[-1]["role"] == "assistant" and msgs[-1]["content"].startswith("<think>\n")
    assert (out / "hub" / "README.md").exists() and (out / "report.html").exists()
    check_card(out)
    assert (out / "student" / "model.safetensors").exists()
    ev = json.loads((out / "eval" / "eval.json").read_text())
    assert {x["benchmark"] for x in ev["results"]} == {"math500", "humaneval"}

    shards = {p: p.read_bytes() for p in (out / "sft" / "train").glob("*.parquet")}
    r2 = CliRunner().invoke(app, ["run", "quickstart", "--out", str(out), "--only", "ingest", "--only", "curate"])
    assert r2.exit_code == 0, r2.output[-3000:]
    assert {p: p.read_bytes() for p in (out / "sft" / "train").glob("*.parquet")} == shards
