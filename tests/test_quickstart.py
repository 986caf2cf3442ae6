"""The README's quickstart: `factory run quickstart` runs every stage offline on the shipped real
data and the tiny model, and a second run without --overwrite is a no-op that changes nothing."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from factory.io.dataset import read_manifest, read_table


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
    # the card's funnel shows the real numbers of this run's manifests
    card = (out / "hub" / "README.md").read_text()
    funnel = card.split("## Funnel", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in funnel.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[2].replace(",", "").isdigit():
            rows[cells[1]] = int(cells[2].replace(",", ""))
    m = lambda p: read_manifest(out / p).rows  # noqa: E731
    assert rows["factory run: dedup (problems)"] == m("problems/math_dedup")
    assert rows["factory run: decontaminate (problems)"] == m("problems/math_clean")
    assert rows["math"] == m("verified/long_cot")
    assert rows["language"] == m("filtered/long_cot")
    assert rows["the published set (all splits)"] == m("sft/train") + m("sft/validation")
    assert (out / "student" / "model.safetensors").exists()
    ev = json.loads((out / "eval" / "eval.json").read_text())
    assert {x["benchmark"] for x in ev["results"]} == {"math500", "humaneval"}

    shards = {p: p.read_bytes() for p in (out / "sft" / "train").glob("*.parquet")}
    r2 = CliRunner().invoke(app, ["run", "quickstart", "--out", str(out), "--only", "ingest", "--only", "curate"])
    assert r2.exit_code == 0, r2.output[-3000:]
    assert {p: p.read_bytes() for p in (out / "sft" / "train").glob("*.parquet")} == shards
