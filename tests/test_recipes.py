"""Recipes: every shipped recipe validates and opens with the command that runs it; validation
reports every problem at once with exact messages; `key.sub=value` overrides work; the
`recipes` and `run` commands use them."""

from __future__ import annotations

import pytest
from factory.cli.app import app
from factory.recipes.curate_spec import validate_curate
from factory.recipes.loader import RECIPES_DIR, list_recipes, load_recipe
from factory.schemas.errors import RecipeError
from typer.testing import CliRunner

from factory.pipeline.recipe import validate_recipe

runner = CliRunner()
MINE = {"r1-800k", "sky-t1-17k", "s1k", "journey"}


def test_the_issue_recipes_are_shipped():
    assert MINE <= set(list_recipes())


@pytest.mark.parametrize("name", list_recipes())
def test_every_shipped_recipe_validates_and_has_a_header_command(name):
    r = load_recipe(name)
    assert validate_recipe(r) == []
    header = []
    for line in r.text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    assert any("factory " in line for line in header), f"{name}: the header comment must give the command that runs it"


def test_validation_reports_every_problem_with_exact_messages(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nseed: 1\nstages: [curate]\ncurate:\n"
        "  selct: {}\n"
        "  per_problem: {policy: best}\n"
        "  budget: {max_tokens: -5}\n"
        "  journey: {cut: middle, earlier_fraction: 2}\n"
        "  mix:\n    size: 10\n    buckets:\n"
        "      - {name: a, match: {kind: journey}, fraction: 0.7}\n"
        "      - {name: a, match: {domian: [math]}, fraction: 0.6, count: 3}\n"
        "  output: {format: markdown}\n")
    r = load_recipe(bad)
    assert validate_recipe(r) == [
        "curate.per_problem.policy: expected one of all-correct, shortest-correct, longest-correct, k-per-problem, "
        "diverse, found 'best'",
        "curate.budget.max_tokens: expected an integer >= 1, found -5",
        "curate.journey.cut: expected one of conclusion, earlier, found 'middle'",
        "curate.journey.earlier_fraction: expected a number in [0.05, 0.95], found 2",
        "curate.mix.buckets[1].match.domian: unknown key (expected one of: difficulty, domain, kind, level, source, teacher)",
        "curate.mix.buckets[1]: expected exactly one of count/fraction, found both",
        "curate.mix.buckets: expected unique bucket names, found duplicates ['a']",
        "curate.mix.buckets: expected fractions summing to at most 1, found 1.3",
        "curate.output.format: expected one of think, sky-t1, plain, found 'markdown'",
        "curate.selct: unknown key (expected one of: budget, difficulty, journey, mix, non_reasoning, out, output, "
        "per_problem, problems, recipe, seed, select, sft, size, sources, traces)",
    ]
    res = runner.invoke(app, ["recipes", "validate", str(bad)])
    assert res.exit_code == 1
    assert "is invalid (10 problems)" in res.output
    assert "curate.output.format: expected one of think, sky-t1, plain, found 'markdown'" in res.output


def test_required_keys_and_cross_checks():
    assert validate_curate({}, "curate") == [
        "curate.mix: expected a mapping, found nothing (required key is missing)"]
    assert validate_curate({"mix": {"size": "auto", "buckets": [{"name": "j", "match": {"kind": "journey"}, "count": 3}]}},
                           "curate") == [
        "curate.mix.size: expected an integer when a bucket has a fixed count, found 'auto'",
        "curate.journey: expected a journey section because a bucket matches kind journey, found nothing"]
    assert validate_curate({"select": {"maths": {"correct": {"verdict_math": []}}},
                            "mix": {"buckets": []}}, "curate") == [
        "curate.select.maths (key): expected one of all, math, code, science, puzzle, general, found 'maths'",
        "curate.select.maths.correct.verdict_math: expected a list of a string, integer or boolean (at least 1), "
        "found 0 item(s)",
        "curate.mix.buckets: expected a list of a mapping (at least 1), found 0 item(s)"]


def test_overrides_reach_nested_keys_and_list_items():
    r = load_recipe("r1-800k", overrides=["curate.mix.size=40", "curate.mix.buckets.1.fraction=0.2",
                                          "curate.non_reasoning.self_cognition.model_name=Tiny-R1", "seed=7"])
    c = r.section("curate")
    assert c["mix"]["size"] == 40 and c["mix"]["buckets"][1]["fraction"] == 0.2 and r.seed == 7
    assert c["non_reasoning"]["self_cognition"]["model_name"] == "Tiny-R1"
    assert validate_recipe(r) == []
    r = load_recipe("sky-t1-17k", overrides=["curate.mix.size=0", "curate.select.math.lvl=3"])
    assert validate_recipe(r) == [
        "curate.select.math.lvl: unknown key (expected one of: correct, difficulty, finish_reasons, level, min_reasoning_tokens, "
        "min_solution_tokens, pass_rate, "
        "require_answer, require_tests, scores, sources, teachers, where)",
        "curate.mix.size: expected an integer >= 1 or 'auto', found 0"]
    with pytest.raises(RecipeError, match="override 'curate.mix': expected key.sub=value"):
        load_recipe("s1k", overrides=["curate.mix"])


def test_recipes_commands():
    res = runner.invoke(app, ["recipes", "list"])
    assert res.exit_code == 0
    for name in MINE:
        assert name in res.output
    res = runner.invoke(app, ["recipes", "show", "journey"])
    assert res.exit_code == 0 and res.output == (RECIPES_DIR / "journey.yaml").read_text()
    res = runner.invoke(app, ["recipes", "show", "journey", "--set", "curate.journey.cut=earlier"])
    assert res.exit_code == 0 and "cut: earlier" in res.output
    res = runner.invoke(app, ["recipes", "validate", "sky-t1-17k"])
    assert res.exit_code == 0 and "valid" in res.output
    res = runner.invoke(app, ["recipes", "validate", "sky-t1-17k", "--set", "curate.output.format=md"])
    assert res.exit_code == 1 and "curate.output.format: expected one of think, sky-t1, plain, found 'md'" in res.output
    res = runner.invoke(app, ["recipes", "validate", "no-such-recipe"])
    assert res.exit_code == 1 and "shipped recipes:" in res.output


def test_factory_run_runs_the_curate_stage(tmp_path):
    from curate_data import trace_rows, write_traces

    run_dir = tmp_path / "run"
    write_traces(run_dir / "traces", list(trace_rows("qwen", limit=40)))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "# factory run r.yaml --out RUN\nname: r\nseed: 0\nstages: [curate]\ncurate:\n"
        "  sources: [{kind: traces, path: traces, name: math500-qwen}]\n  out: sft\n"
        "  mix:\n    size: 10\n    buckets: [{name: all, fraction: 1.0}]\n")
    res = runner.invoke(app, ["run", str(recipe), "--out", str(run_dir)])
    assert res.exit_code == 0, res.output
    from factory.io.dataset import read_table

    rows = read_table(run_dir / "sft" / "train").to_pylist()
    assert len(rows) == 10 and {r["source"] for r in rows} == {"math500-qwen"}


def test_a_folder_named_like_the_recipe_does_not_shadow_it(tmp_path, monkeypatch):
    """`curate --recipe journey --out journey` then `publish journey`, run where a folder `journey`
    exists: the name is the shipped recipe (a path is one only when it ends in .yaml). This died
    with `internal error: IsADirectoryError` when the recipe name was looked up as a path first."""
    from curate_data import shipped_trace_folder
    from typer.testing import CliRunner

    from factory.cli.app import app

    traces = shipped_trace_folder(tmp_path, "bo8", limit=80)  # 10 problems x 8 samples: right and wrong ones
    monkeypatch.chdir(tmp_path)
    (tmp_path / "journey").mkdir()  # e.g. left by an earlier run's --out journey
    r = CliRunner().invoke(app, ["curate", "--recipe", "journey", "--traces", str(traces), "--out", "journey",
                                 "--set", "mix.allow_short=true"])
    assert r.exit_code == 0, r.output
    assert "internal error" not in r.output and (tmp_path / "journey" / "train" / "manifest.json").exists()
    r = CliRunner().invoke(app, ["publish", "journey", "--dry-run", "--out", "hub"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "hub" / "README.md").exists()
    # a .yaml path is a file: a missing one is a plain error, not a lookup of the name
    r = CliRunner().invoke(app, ["curate", "--recipe", "journey.yaml", "--traces", str(traces), "--out", "j2"])
    assert r.exit_code == 1 and "internal error" not in r.output and "journey.yaml" in r.output, r.output
