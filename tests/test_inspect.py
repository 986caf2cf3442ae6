"""`factory inspect`: contract, counts, per-column summaries and folded rows on real ingested
data and on folders with score columns; half-written and truncated folders give the dataset
error; the recipe stage logs the same summary."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from factory.cli.app import app
from factory.schemas.contracts import TRACE_SCHEMA
from factory.schemas.errors import DatasetError
from typer.testing import CliRunner

from factory.ingest.core import ingest
from factory.io.dataset import DatasetWriter, read_manifest, read_table
from factory.io.inspect import fold_text, summarize, summary_text


@pytest.fixture(scope="module")
def traces(package_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("inspect") / "traces"
    ingest([str(package_data / "traces/skyt1_long_cot_math500.jsonl.gz")], out=out, preset="skyt1-traces", limit=40)
    return out


@pytest.fixture(scope="module")
def problems(package_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("inspect") / "problems"
    ingest([str(package_data / "benchmarks/mbpp.jsonl.gz"), ], out=out, preset="mbpp")
    return out


def test_fold_text_keeps_first_and_last_lines():
    lines = [f"line {i} " + "x" * 40 for i in range(100)]
    text = "\n".join(lines)
    folded = fold_text(text)
    head, tail = "\n".join(lines[:3]), "\n".join(lines[-3:])
    assert folded.startswith(head) and folded.endswith(tail)
    assert f"… {len(text) - len(head) - len(tail)} chars folded …" in folded
    assert fold_text("short\ntext") == "short\ntext"
    one_line = "y" * 5000  # a single long line is folded too
    assert "chars folded" in fold_text(one_line) and len(fold_text(one_line)) < 1000


def test_summary_numbers_match_the_data(traces):
    s = summarize(traces, rows=2)
    assert (s["contract"], s["schema_version"], s["rows"], s["shards"]) == ("trace", "1.0", 40, 1)
    assert s["command"].startswith("factory ingest ")
    table = read_table(traces).to_pylist()
    cols = {c["name"]: c for c in s["columns"]}
    levels = [r["level"] for r in table]
    assert (cols["level"]["min"], cols["level"]["max"]) == (min(levels), max(levels))
    assert cols["level"]["mean"] == pytest.approx(sum(levels) / len(levels))
    fr = {}
    for r in table:
        fr[r["finish_reason"]] = fr.get(r["finish_reason"], 0) + 1
    assert cols["finish_reason"]["values"] == dict(sorted(fr.items(), key=lambda kv: (-kv[1], kv[0])))
    assert cols["domain"]["values"] == {"math": 40} and cols["id"]["distinct"] == 40
    assert cols["reasoning"]["nulls"] == sum(r["reasoning"] is None for r in table)
    lens = sorted(len(r["completion"]) for r in table)
    assert cols["completion"]["len_max"] == lens[-1] and cols["completion"]["len_min"] == lens[0]
    assert cols["reasoning_finished"]["true"] == sum(r["reasoning_finished"] for r in table)
    assert len(s["sample"]) == 2 and s["sample"][0]["id"] == table[0]["id"]


def test_cli_inspect_shows_schema_counts_and_folded_rows(traces):
    r = CliRunner().invoke(app, ["inspect", str(traces), "--rows", "2"])
    assert r.exit_code == 0, r.output
    for needle in ("trace (schema version 1.0)", "40 in 1 shard(s)", "factory ingest", "finish_reason", "chars folded",
                   "row 0", "row 1", "label_correct", "Sky-T1-math-correct-5K-27B"):
        assert needle in r.output, needle
    assert "row 2" not in r.output


def test_cli_inspect_code_problems_with_test_styles(problems):
    r = CliRunner().invoke(app, ["inspect", str(problems), "--rows", "1", "--full-check"])
    assert r.exit_code == 0, r.output
    assert "974 in 1 shard(s)" in r.output and "sha256 verified" in r.output and "assert: 974" in r.output


def test_inspect_folder_with_score_columns(tmp_path, traces):
    schema = TRACE_SCHEMA.append(pa.field("score_len", pa.float64())).append(pa.field("verdict_len", pa.bool_()))
    rows = read_table(traces).to_pylist()[:10]
    for i, row in enumerate(rows):
        row["score_len"] = float(i)
        row["verdict_len"] = i % 2 == 0
    with DatasetWriter(tmp_path / "scored", "trace", schema=schema, command="test") as w:
        w.write_rows(rows)
    s = summarize(tmp_path / "scored", rows=1)
    cols = {c["name"]: c for c in s["columns"]}
    assert (cols["score_len"]["min"], cols["score_len"]["mean"], cols["score_len"]["max"]) == (0.0, 4.5, 9.0)
    assert cols["verdict_len"]["true"] == 5
    r = CliRunner().invoke(app, ["inspect", str(tmp_path / "scored"), "--rows", "0"])
    assert r.exit_code == 0 and "score_len" in r.output and "min 0 mean 4.5 max 9" in r.output


def test_half_written_and_truncated_folders_give_the_dataset_error(tmp_path, package_data):
    out = tmp_path / "p"
    ingest([str(package_data / "benchmarks/aime24.jsonl.gz")], out=out, preset="aime24")
    shard = out / read_manifest(out).shards[0].name
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])  # truncated on disk
    r = CliRunner().invoke(app, ["inspect", str(out)])
    assert r.exit_code == 1 and "truncated or overwritten" in r.output
    with pytest.raises(DatasetError, match="truncated"):
        summarize(out)
    shard.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, one bit flipped
    r = CliRunner().invoke(app, ["inspect", str(out), "--full-check"])
    assert r.exit_code == 1 and "sha256" in r.output
    (out / "manifest.json").unlink()  # half-written: shards but no manifest
    r = CliRunner().invoke(app, ["inspect", str(out)])
    assert r.exit_code == 1 and "half-written dataset" in r.output
    r = CliRunner().invoke(app, ["inspect", str(tmp_path / "missing")])
    assert r.exit_code == 1 and "no such dataset folder" in r.output


def test_inspect_stage_validates_and_logs(tmp_path, traces):
    from factory.io.inspect import run as run_inspect
    from factory.io.options import InspectOptions
    from factory.pipeline.recipe import validate_section
    from factory.pipeline.runner import StageContext

    assert validate_section("inspect", {"path": "x", "rows": 1, "full_check": True}) == []
    problems = validate_section("inspect", {"path": 3, "rows": -1, "full_check": "yes", "colour": 1})
    assert len(problems) == 4 and "inspect.colour: unknown key" in problems[-1]
    logs: list[str] = []
    ctx = StageContext(run_dir=tmp_path, log=logs.append, progress=False)
    ctx.summaries["ingest"] = {"out": str(traces)}
    s = run_inspect(InspectOptions(rows=1), ctx)  # no path: every folder an earlier stage wrote
    assert [(d["path"], d["contract"], d["rows"], d["shards"]) for d in s["datasets"]] == [(str(traces), "trace", 40, 1)]
    assert "40 row(s) in 1 shard(s)" in logs[0] and "chars folded" in logs[0]
    assert summary_text(summarize(traces, rows=0)).count("\n") >= 25  # one line per column
    json.dumps(s, default=str)
