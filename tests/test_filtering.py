"""The verify/filter folder runner on real shipped traces: kept + rejected = input, reasons
name the first failing filter, the funnel adds up per filter and per domain and lands in the
manifest, re-running is a no-op, bad input is refused clearly, the CLI commands print the
funnel, and `--executor ray` (local Ray, 2 CPUs) gives the same kept/rejected rows and scores."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from factory.schemas.errors import DatasetError, FactoryError
from trace_rows import mixed_reasoning_rows, rows_from_traces
from typer.testing import CliRunner

from factory.io.dataset import read_manifest, read_table, write_dataset
from factory.score.runner import (
    build_filters,
    filter_specs,
    problem_batches,
    run_filters,
)

CHAIN = ["format", "readability", "language"]


@pytest.fixture(scope="module")
def traces_dir(tmp_path_factory, package_data, test_data):
    rows = rows_from_traces(package_data / "traces" / "skyt1_long_cot_math500.jsonl.gz", limit=40)
    rows += rows_from_traces(package_data / "traces" / "qwen25math_math_cot_100_bo8.jsonl.gz", limit=3)  # 8 samples each
    rows += [r for r in mixed_reasoning_rows(test_data / "text") if json.loads(r["meta"])["drifts"]]
    path = tmp_path_factory.mktemp("filtering") / "traces"
    write_dataset(path, "trace", rows, rows_per_shard=30)  # several shards
    return path


def _frame(path: Path) -> pl.DataFrame:
    return pl.from_arrow(read_table(path))


def test_local_run_splits_rows_and_records_the_funnel(traces_dir, tmp_path):
    out = tmp_path / "out"
    res = run_filters(traces_dir, out, filters=build_filters(CHAIN), batch_rows=16)
    src, kept, rej = _frame(traces_dir), _frame(out), _frame(out / "rejected")
    assert kept.height + rej.height == src.height == res.funnel.rows_in
    assert set(kept["id"]) | set(rej["id"]) == set(src["id"]) and not set(kept["id"]) & set(rej["id"])
    # every kept row passed every filter; every rejected row names the first filter that failed
    for name in CHAIN:
        assert (kept[f"verdict_{name}"].is_in(["ok", "no_text"])).all()
    first_fail = []
    for row in rej.iter_rows(named=True):
        bad = [n for n in CHAIN if row[f"verdict_{n}"] not in ("ok", "no_text")]
        first_fail.append(f"{bad[0]}:{row[f'verdict_{bad[0]}']}")
    assert rej["reject_reason"].to_list() == first_fail
    # the three real drifting traces never make it into the kept rows
    drifts = {r["id"] for r in src.iter_rows(named=True) if json.loads(r["meta"]).get("drifts")}
    assert len(drifts) == 3 and not drifts & set(kept["id"])
    # funnel: in/out chain per filter, per domain, reasons counted; stored in the manifest
    f = res.funnel.to_json()
    steps = f["steps"]
    assert [s["filter"] for s in steps] == CHAIN
    assert steps[0]["in"] == src.height and steps[-1]["out"] == kept.height
    assert all(a["out"] == b["in"] for a, b in zip(steps, steps[1:]))
    assert sum(n for reasons in f["rejected_by"].values() for n in reasons.values()) == rej.height
    assert f["by_domain"]["math"] == {"in": src.height, "out": kept.height}
    m = read_manifest(out)
    assert m.stats["funnel"] == json.loads(json.dumps(f))
    assert m.contract == "trace" and read_manifest(out / "rejected").rows == rej.height
    # score columns are typed in the written Parquet
    assert kept.schema["score_language"] == pl.Float64 and kept.schema["score_format_tokens"] == pl.Int64
    assert kept.schema["sampling"] == src.schema["sampling"]


def test_rerun_is_a_noop_and_conflicts_need_overwrite(traces_dir, tmp_path):
    from factory.pipeline.recipe import run_section

    sec = {"input": str(traces_dir), "out": "out", "filters": ["format"]}
    run_section("filter", sec, run_dir=tmp_path)
    out = tmp_path / "out"
    before = (out / "manifest.json").read_text()
    assert run_section("filter", sec, run_dir=tmp_path)["skipped"] and (out / "manifest.json").read_text() == before
    with pytest.raises(DatasetError, match=r"other settings \(filters \[\"format\"\] -> \[\"format\", \"language\"\]\)") as e:
        run_section("filter", {**sec, "filters": ["format", "language"]}, run_dir=tmp_path)
    assert "--overwrite" in str(e.value)
    res = run_section("filter", {**sec, "filters": ["language"]}, run_dir=tmp_path, overwrite=True)
    assert not res.get("skipped") and [s["filter"] for s in res["funnel"]["steps"]] == ["language"]
    assert "verdict_format" not in _frame(out).columns
    # the engine alone never writes over a dataset
    with pytest.raises(DatasetError, match="already holds a dataset"):
        run_filters(traces_dir, out, filters=build_filters(["format"]))


def test_bad_input_is_refused(traces_dir, tmp_path):
    with pytest.raises(FactoryError, match="unknown filter"):
        build_filters(["format", "nope"])
    with pytest.raises(FactoryError, match="has no option"):
        build_filters(["language"], options={"language": {"treshold": 0.5}})
    problems = tmp_path / "problems"
    write_dataset(problems, "problem", [{"id": "p1", "source": "s", "source_id": None, "domain": "math", "problem": "1+1?", "language": "en"}])
    with pytest.raises(DatasetError, match="expected trace rows"):
        run_filters(problems, tmp_path / "o", filters=build_filters(["format"]))
    with pytest.raises(DatasetError, match="must differ"):
        run_filters(traces_dir, traces_dir, filters=build_filters(["format"]))


def test_batches_keep_a_problems_samples_together(traces_dir):
    batches = list(problem_batches(traces_dir, 5))  # the 8-sample problems straddle 5-row batches
    assert sum(b.height for b in batches) == _frame(traces_dir).height
    seen: dict[str, int] = {}
    for i, b in enumerate(batches):
        for pid in b["problem_id"].unique():
            assert pid not in seen, f"problem {pid} split across batches {seen.get(pid)} and {i}"
            seen[pid] = i


def test_cli_filter_and_verify(traces_dir, tmp_path):
    from factory.cli.app import app

    runner = CliRunner()
    out = tmp_path / "cli"
    res = runner.invoke(app, ["filter", str(traces_dir), "--out", str(out), "--set", "language.threshold=0.9",
                              "--set", "format.max_length_tokens=20000"])
    assert res.exit_code == 0, res.output
    assert "readability" in res.output and "language" in res.output and "rejected" in res.output
    assert read_manifest(out).params["options"]["language"] == {"threshold": 0.9}
    res = runner.invoke(app, ["filter", str(traces_dir), "--out", str(tmp_path / "c2"), "--filters", "format", "--set", "language.threshold=0.9"])
    assert res.exit_code == 1 and "--set: expected knobs of filters in the chain ['format'], found knobs of 'language'" in res.output
    res = runner.invoke(app, ["verify", str(traces_dir), "--out", str(tmp_path / "v"), "--filters", "math", "--workers", "1"])
    assert res.exit_code == 0, res.output
    verified = _frame(tmp_path / "v")
    assert (verified["verdict_math"].is_in(["correct", "pseudo_correct", "skipped"])).all()
    res = runner.invoke(app, ["verify", str(traces_dir), "--out", str(tmp_path / "v2"), "--filters", "bogus"])
    assert res.exit_code == 1 and "--filters[0]: expected one of math, code, format, readability, language, found 'bogus'" in res.output


def test_ray_executor_gives_the_same_output(traces_dir, tmp_path):
    ray = pytest.importorskip("ray")
    chain = ["math", "format", "readability", "language"]  # math uses a worker process pool
    local = run_filters(traces_dir, tmp_path / "local", filters=build_filters(chain, common={"workers": 1}), batch_rows=64)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        specs = filter_specs(chain, common={"workers": 1})
        dist = run_filters(traces_dir, tmp_path / "ray", filters=build_filters(chain, common={"workers": 1}),
                           executor="ray", batch_rows=64, actors=2, specs=specs)
    finally:
        ray.shutdown()
    for sub in ("", "rejected"):
        a, b = _frame(tmp_path / "local" / sub), _frame(tmp_path / "ray" / sub)
        assert a.columns == b.columns
        assert a["id"].to_list() == b["id"].to_list()
        score_cols = [c for c in a.columns if c.startswith(("score_", "verdict_")) or c == "reject_reason"]
        assert a.select(score_cols).equals(b.select(score_cols))
    assert local.funnel.to_json() == dist.funnel.to_json()


def test_recipe_stages_validate_and_run(traces_dir, tmp_path):
    from factory.pipeline.recipe import run_section, validate_section

    bad = {"input": "", "out": "o", "filters": ["format", "nope"], "set": {"language": {"threshold": 0.5}},
           "executor": "spark", "workers": 0, "colour": "red"}
    problems = validate_section("filter", bad)
    for expected in ("filter.colour: unknown key", "filter.input: expected a non-empty string", "filter.filters[1]",
                     "filter.executor", "filter.workers"):
        assert any(p.startswith(expected) for p in problems), (expected, problems)
    assert validate_section("filter", {"input": "a", "out": "b", "filters": ["format"], "set": {"language": {"threshold": 0.5}}}) == [
        "filter.set: expected knobs of filters in the chain ['format'], found knobs of 'language'"]
    assert any("threshold" in p for p in validate_section("filter", {"input": "a", "out": "b", "set": {"language": {"threshold": 2.0}}}))
    assert any("no option" in p for p in validate_section("filter", {"input": "a", "out": "b", "set": {"format": {"max_tokenz": 1}}}))
    assert validate_section("verify", {"input": "traces", "out": "verified", "filters": ["math"]}) == []

    logs: list[str] = []
    section = {"input": str(traces_dir), "out": "verified", "filters": ["math"], "workers": 1}
    s1 = run_section("verify", section, run_dir=tmp_path, log=logs.append)
    assert s1["rows_in"] == _frame(traces_dir).height and not s1.get("skipped")
    f = {"input": "verified", "out": "filtered", "set": {"language": {"threshold": 0.9}}}
    s2 = run_section("filter", f, run_dir=tmp_path, log=logs.append)
    assert s2["rows_in"] == s1["rows_out"] and s2["filters"] == ["format", "readability", "language"]
    assert any("filter funnel" in line and "readability" in line for line in logs)
    again = run_section("filter", f, run_dir=tmp_path, log=logs.append)
    assert again["skipped"] and again["rows_out"] == s2["rows_out"]


def test_verify_names_rows_it_cannot_judge_and_strict_fails(tmp_path):
    from factory.io.dataset import write_dataset
    from factory.pipeline.recipe import run_section
    from factory.schemas.errors import DatasetError
    from trace_rows import trace_row

    rows = [trace_row(question=f"What is {i} + 4 - {i}?", domain="general", completion="<think>x</think> \\boxed{4}", gold="4") for i in range(3)]
    rows += [trace_row(question=f"What is {i} + 5 - {i}?", completion="<think>x</think> \\boxed{5}", gold="5") for i in range(2)]
    write_dataset(tmp_path / "t", "trace", rows)
    logs: list[str] = []
    s = run_section("verify", {"input": "t", "out": "v", "filters": ["math"], "workers": 1}, run_dir=tmp_path, log=logs.append)
    assert s["unjudged"] == {"domain general": 3}
    assert any("3 row(s) cannot be judged by math (domain general 3)" in line and "--strict" in line for line in logs)
    with pytest.raises(DatasetError, match="cannot be judged"):
        run_section("verify", {"input": "t", "out": "v2", "filters": ["math"], "strict": True, "workers": 1}, run_dir=tmp_path)
    assert not (tmp_path / "v2" / "manifest.json").exists()
