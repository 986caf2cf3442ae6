"""recipes/r1-pipeline.yaml runs end to end offline (tiny model, tiny budgets): R1-Zero RL ->
cold-start traces from that policy -> verify/filter -> curate -> SFT -> reasoning RL with the
language reward -> rejection sampling -> the 800K-style mix -> the distilled student -> eval; each
stage reads what the one before it wrote."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from factory.io.dataset import read_manifest, read_table


@pytest.mark.slow
def test_r1_pipeline_recipe_runs_end_to_end(tmp_path):
    from factory.cli.app import app

    out = tmp_path / "r1"
    r = CliRunner().invoke(app, ["run", "r1-pipeline", "--out", str(out)])
    assert r.exit_code == 0, r.output[-4000:]
    record = json.loads((out / "run.json").read_text())
    s = record["summaries"]
    assert set(s) == set(record["stages"])
    # both RL stages trained (R1-Zero from the base model; reasoning RL from the cold-start SFT model)
    assert s["rl/zero"]["steps"] == 2 and s["rl/reasoning"]["steps"] == 2
    zero = json.loads((out / "policy" / "r1_zero" / "rl_log.json").read_text())
    reasoning = json.loads((out / "policy" / "r1_reasoning" / "rl_log.json").read_text())
    assert zero["rewards"] == ["accuracy", "format"] and reasoning["rewards"] == ["accuracy", "language"]
    assert all("rewards/language/mean" in h for h in reasoning["log_history"] if "reward" in h)
    assert "policy/cold_start" in (out / "policy" / "r1_reasoning" / "README.md").read_text().replace("\\", "/")
    # the policies wrote the traces that were verified and filtered
    cold = read_table(out / "traces" / "cold_start")
    assert cold.num_rows == 16 and "r1_zero" in cold.column("teacher")[0].as_py()
    assert "r1_reasoning" in read_table(out / "traces" / "rejection").column("teacher")[0].as_py()
    verified = read_manifest(out / "verified" / "cold_start").rows + read_manifest(out / "verified" / "cold_start" / "rejected").rows
    assert verified == 16
    # cold-start SFT set -> the SFT model that reasoning RL started from
    assert read_manifest(out / "sft" / "cold_start" / "train").rows > 0
    assert (out / "policy" / "cold_start" / "model.safetensors").exists()
    # the final mix holds verified reasoning (shortcut) and non-reasoning rows, with <think> blocks
    mix = read_table(out / "sft" / "r1_800k" / "train")
    assert {"shortcut", "non_reasoning"} <= set(mix.column("kind").to_pylist())
    for msgs in mix.column("messages").to_pylist():
        assert msgs[-1]["role"] == "assistant" and msgs[-1]["content"].startswith("<think>")
    assert (out / "student" / "model.safetensors").exists()
    ev = json.loads((out / "eval" / "eval.json").read_text())
    assert [x["benchmark"] for x in ev["results"]] == ["math500"]
