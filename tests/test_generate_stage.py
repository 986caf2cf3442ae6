"""The generate recipe stage (replay of shipped real traces + live tiny-model generation) through
`factory run`, its up-front validation, and the replay teacher's matching rules."""

from __future__ import annotations

import json

import pytest
from factory.schemas.errors import MissingDependencyError, RecipeError

from factory.generate.core import GenerateOptions, run_generate
from factory.io.dataset import read_manifest, read_table
from factory.pipeline.recipe import run_recipe, validate_section

RECIPE = """
name: gen-test
seed: 3
stages: [ingest, ingest/traces, generate/replay, generate]
ingest: {inputs: ["@data/benchmarks/math500_test.jsonl.gz"], preset: math500, out: problems, limit: 6}
ingest/traces: {inputs: ["@data/traces/skyt1_long_cot_math500.jsonl.gz"], preset: skyt1-traces, out: skyt1, limit: 4}
generate/replay: {teacher: skyt1, backend: replay, problems: problems, out: replayed, n: 2}
generate: {teacher: "@tiny", problems: problems, out: traces, n: 2, max_tokens: 8, prompt: sky-t1}
"""


def test_recipe_replays_real_traces_and_generates_live(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    run_dir = tmp_path / "run"
    record = run_recipe(recipe, out=run_dir, log=lambda m: None)
    assert record["summaries"]["generate"]["rows"] == 12 and record["summaries"]["generate"]["generated"] == 12
    live = read_table(run_dir / "traces").to_pylist()
    assert {r["sampling"]["seed"] is not None for r in live} == {True}
    assert json.loads(live[0]["sampling"]["extra"])["run_seed"] == 3  # the recipe's seed
    assert live[0]["system_prompt"].startswith("Your role as an assistant")
    # replay: 4 problems have one real Sky-T1 trace each; the other samples are counted, not invented
    source = {(r["problem_id"], r["sample_index"]): r for r in read_table(run_dir / "skyt1").to_pylist()}
    replayed = read_table(run_dir / "replayed").to_pylist()
    assert len(replayed) == len(source) == 4
    m = read_manifest(run_dir / "replayed")
    assert m.stats["skipped"] == {"replay_missing": 6 * 2 - 4}
    for r in replayed:
        src = source[(r["problem_id"], r["sample_index"])]
        assert r["completion"] == src["completion"] and r["teacher"] == src["teacher"] and r["backend"] == "replay"
        # the source's own reasoning split is kept (ingest knew how its prompt opened the thought)
        assert (r["reasoning"], r["answer"], r["reasoning_finished"]) == (src["reasoning"], src["answer"], src["reasoning_finished"])
        assert r["reasoning"] and "<|" not in r["reasoning"] and "<|" not in (r["answer"] or "")
    assert sum(r["reasoning_finished"] and bool(r["answer"]) for r in replayed) >= 1
    # a re-run is a no-op for both generate stages
    before = (run_dir / "replayed" / "manifest.json").read_text()
    record = run_recipe(recipe, out=run_dir, log=lambda m: None)
    assert record["summaries"]["generate"]["skipped"] and record["summaries"]["generate/replay"]["skipped"]
    assert (run_dir / "replayed" / "manifest.json").read_text() == before


def test_stage_validation_reports_every_problem():
    problems = validate_section("generate", {"teacher": 3, "out": "x", "backend": "gpt", "n": 0, "temprature": 1.0, "prompt": "r9"})
    text = "\n".join(problems)
    for needle in ["generate.teacher: expected a non-empty string, found 3", "generate.problems: expected a non-empty string, found nothing (required)",
                   "generate.backend: expected one of transformers, vllm, openai, replay, found 'gpt'",
                   "generate.n: expected an integer >= 1, found 0", "generate.temprature: unknown key"]:
        assert needle in text, (needle, text)
    # cross-field checks run once the types are right
    assert validate_section("generate", {"teacher": "t", "problems": "p", "out": "o", "backend": "openai", "prompt": "r9"}) == [
        "generate.base_url: expected the server's URL with backend openai (e.g. http://localhost:8000/v1), found nothing",
        "generate.prompt: expected a preset (deepseek-r1, qwq, qwen, sky-t1) or a .jinja file, found 'r9'"]


def test_recipe_with_a_bad_generate_section_fails_before_running(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("name: bad\nseed: 0\nstages: [generate]\ngenerate: {teacher: t, problems: p, out: o, top_p: high}\n")
    with pytest.raises(RecipeError, match="generate.top_p"):
        run_recipe(recipe, out=tmp_path / "run", log=lambda m: None)


def test_vllm_backend_without_vllm_says_how_to_install(tmp_path, monkeypatch, package_data):
    import sys

    from gen_helpers import math500_rows, write_problems

    monkeypatch.setitem(sys.modules, "vllm", None)  # as if not installed
    problems = write_problems(tmp_path / "p", math500_rows(package_data, 2))
    with pytest.raises(MissingDependencyError) as e:
        run_generate(GenerateOptions(teacher="m", backend="vllm", problems=str(problems), out=str(tmp_path / "o")),
                     log=lambda m: None, progress=False)
    assert "pip install 'factory[vllm]'" in str(e.value)
    assert not (tmp_path / "o" / "manifest.json").exists()
