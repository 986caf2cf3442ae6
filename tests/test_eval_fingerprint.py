"""factory eval's output is fingerprinted: a re-run with another --limit (or n, benchmarks,
model, sampling) is refused naming what changed, and recomputed with --overwrite (the flag its
hint names exists); the budget each benchmark ran with is recorded in eval.json."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from factory.cli.app import app

torch.set_num_threads(1)


def test_eval_limit_change_is_refused_then_recomputed_with_overwrite(tmp_path, tiny_model):
    out = tmp_path / "ev"
    base = ["eval", "--model", str(tiny_model), "--benchmarks", "math500", "-n", "1", "--max-tokens", "8", "--out", str(out)]
    r = CliRunner().invoke(app, [*base, "--limit", "2"])
    assert r.exit_code == 0, r.output
    rec = json.loads((out / "eval.json").read_text())
    assert rec["results"][0]["problems"] == 2
    budget = rec["budget"]["math500"]
    assert budget["max_tokens"] == 8 and budget["context"] == 4096 and not budget["derived"] and budget["longest_prompt"] > 0
    r = CliRunner().invoke(app, [*base, "--limit", "3"])
    assert r.exit_code == 1, r.output
    assert "holds the output of an earlier `eval` run with other settings (limit 2 -> 3)" in r.output
    assert "pass --overwrite to replace it" in r.output
    assert json.loads((out / "eval.json").read_text())["results"][0]["problems"] == 2  # untouched
    r = CliRunner().invoke(app, [*base, "--limit", "3", "--overwrite"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "eval.json").read_text())["results"][0]["problems"] == 3
    r = CliRunner().invoke(app, [*base, "--limit", "3"])
    assert r.exit_code == 0 and "up to date" in r.output
