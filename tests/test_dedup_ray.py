"""Dedup and decontamination on Ray (a local Ray with 2 CPUs): the same shards, byte for byte,
and the same report as the local run, while the driver reads no rows (the row readers are
patched to fail in this process) and hands workers only absolute paths (the test runs from
another working directory with relative paths)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factory.schemas.contracts import TRACE_SCHEMA
from factory.schemas.ids import problem_id

from factory.dedup.core import DedupConfig, run_dedup
from factory.dedup.decontam import DecontamConfig, run_decontam
from factory.io.dataset import DatasetWriter, read_manifest, write_dataset

ray = pytest.importorskip("ray")

STATS = ("rows_in", "rows_out", "rows_rejected", "documents", "documents_kept", "rejected_by", "clusters", "cluster_sizes",
         "verified_pairs", "exact_duplicate_documents", "near_duplicate_documents", "top_clusters", "boilerplate_shingles",
         "family_pairs", "kept_by_family_rule", "families", "family_documents", "family_rows", "top_families")


@pytest.fixture(scope="module")
def local_ray():
    # address="local": a Ray of its own, even where another cluster runs on this machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def refuse_row_reads(monkeypatch) -> None:
    """Every way this process could read Parquet rows fails (Ray's workers are other processes)."""
    from factory.dedup import core, decontam
    from factory.io import dataset

    def refuse(*a, **k):
        raise AssertionError("the driver read rows")

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", refuse)
    monkeypatch.setattr(pq.ParquetFile, "read", refuse)
    monkeypatch.setattr(pq.ParquetFile, "read_row_group", refuse)
    monkeypatch.setattr(pq, "read_table", refuse)
    for mod in (dataset, core, decontam):
        monkeypatch.setattr(mod, "iter_batches", refuse)


def _hashes(path: Path) -> list[str]:
    return [s.sha256 for s in read_manifest(path).shards] + [s.sha256 for s in read_manifest(path / "rejected").shards]


def _row(text: str, answer: str | None, source: str = "t") -> dict:
    return dict(id=problem_id("math", text, answer), source=source, source_id=None, domain="math", problem=text,
                reference_answer=answer, language="en")


@pytest.fixture(scope="module")
def problems(tmp_path_factory, package_data, test_data):
    """MATH-500 problems with planted copies (exact, reworded) and the real OlympiadBench
    multi-part sets (the family rule), in several shards."""
    with gzip.open(package_data / "benchmarks" / "math500_test.jsonl.gz", "rt") as f:
        probs = [json.loads(line) for line in f][:300]
    rows = [_row(p["problem"], p["answer"], "math500") for p in probs]
    for p in probs[:10]:
        rows.append(_row("  " + p["problem"].upper() + " ", p["answer"], "exact"))
    for p in probs[10:30]:
        rows.append(_row("Please " + p["problem"].replace(" the ", " this ", 1), p["answer"], "reworded"))
    with gzip.open(test_data / "dedup" / "olympiadbench_families.jsonl.gz", "rt") as f:
        rows += [_row(it["question"], it["gt"], "olympiad") for it in map(json.loads, f)]
    d = tmp_path_factory.mktemp("problems")
    write_dataset(d / "in", "problem", rows, rows_per_shard=90)
    run_dedup(d / "in", d / "local", DedupConfig())
    return d


def test_ray_dedup_equals_local_and_reads_no_rows_on_the_driver(problems, local_ray, monkeypatch):
    refuse_row_reads(monkeypatch)
    monkeypatch.chdir(problems)  # relative paths: workers must get absolute ones
    r = run_dedup(Path("in"), Path("ray"), DedupConfig(executor="ray"))
    assert _hashes(problems / "ray") == _hashes(problems / "local")
    local = read_manifest(problems / "local").stats
    assert {k: r.stats[k] for k in STATS} == {k: local[k] for k in STATS}
    assert r.stats["rows_rejected"] >= 20 and r.stats["families"] >= 5  # copies removed, families kept
    assert read_manifest(problems / "ray").run["executor"] == "ray"
    assert not [p for p in problems.iterdir() if p.name.startswith(".dedup-")]  # scratch removed


def test_ray_verification_by_joins_equals_the_task_path(problems, local_ray):
    r = run_dedup(problems / "in", problems / "joins", DedupConfig(executor="ray", ray_task_pairs=1))
    assert _hashes(problems / "joins") == _hashes(problems / "local")
    assert r.stats["verified_pairs"] == read_manifest(problems / "local").stats["verified_pairs"]


def test_ray_dedup_of_traces_by_problem_keeps_the_most_correct(tmp_path, package_data, local_ray, monkeypatch):
    with gzip.open(package_data / "benchmarks" / "math500_test.jsonl.gz", "rt") as f:
        probs = [json.loads(line)["problem"] for line in f][:40]
    schema = TRACE_SCHEMA.append(pa.field("verdict_math", pa.string()))

    def trace(pid, text, i, verdict):
        return dict(id=f"t_{pid}_{i}", problem_id=pid, sample_index=i, teacher="t", backend="replay", sampling=None,
                    system_prompt=None, prompt=text, completion=f"c {pid} {i}", reasoning=f"r {pid} {i}", reasoning_finished=True,
                    answer="1", finish_reason="stop", prompt_tokens=None, completion_tokens=None, domain="math", source="s",
                    problem=text, reference_answer="1", tests=None, difficulty=None, level=None, language="en", license=None,
                    meta=None, verdict_math=verdict)

    rows = []
    for k, text in enumerate(probs):
        rows += [trace(f"p{k:03d}", text, i, "correct" if (i + k) % 3 else "wrong") for i in range(3)]
    for k in range(5):  # copies of problems 0..4 with more correct traces: they are kept instead
        rows += [trace(f"q{k:03d}", "Please " + probs[k], i, "correct") for i in range(3)]
    with DatasetWriter(tmp_path / "traces", "trace", schema=schema, rows_per_shard=50) as w:
        w.write_rows(rows)
    local = run_dedup(tmp_path / "traces", tmp_path / "local", DedupConfig()).stats
    refuse_row_reads(monkeypatch)
    r = run_dedup(tmp_path / "traces", tmp_path / "ray", DedupConfig(executor="ray"))
    assert _hashes(tmp_path / "ray") == _hashes(tmp_path / "local")
    assert {k: r.stats[k] for k in STATS} == {k: local[k] for k in STATS}
    # 45 problems; the 5 copies have more correct traces: the originals' 15 rows go
    assert r.stats["documents"] == 45 and r.stats["rows_rejected"] == 15
    assert {x.split("_")[1][0] for x in _ids(tmp_path / "ray" / "rejected")} == {"p"}


def _ids(path: Path) -> list[str]:
    import pyarrow.dataset as pads

    return pads.dataset([str(path / s.name) for s in read_manifest(path).shards]).to_table(columns=["id"]).column("id").to_pylist()


def test_ray_decontamination_equals_local(tmp_path, package_data, local_ray, monkeypatch):
    action = "drop"
    with gzip.open(package_data / "benchmarks" / "math500_test.jsonl.gz", "rt") as f:
        probs = [json.loads(line)["problem"] for line in f]
    with gzip.open(package_data / "benchmarks" / "gsm8k_test.jsonl.gz", "rt") as f:
        gsm = [json.loads(line)["question"] for line in f][:40]
    rows = [_row(p.replace("2", "7"), None, "renumbered") for p in probs[:15]]  # contaminated
    rows += [_row(f"A farmer plants {i} rows of {i + 4} trees; how many trees are there in all, counting {i} extra?", None, "clean")
             for i in range(60)]
    rows += [_row(q, None, "gsm8k") for q in gsm]
    write_dataset(tmp_path / "in", "problem", rows, rows_per_shard=40)
    cfg = DecontamConfig(action=action, builtin=("math500", "gsm8k"))
    local = run_decontam(tmp_path / "in", tmp_path / "local", cfg)
    refuse_row_reads(monkeypatch)
    ray_r = run_decontam(tmp_path / "in", tmp_path / "ray", DecontamConfig(action=action, builtin=("math500", "gsm8k"), executor="ray"))
    assert _hashes(tmp_path / "ray") == _hashes(tmp_path / "local")
    keys = ("rows_in", "rows_out", "rows_rejected", "contaminated", "hits_by_benchmark", "rejected_by", "examples")
    assert {k: ray_r.stats[k] for k in keys} == {k: local.stats[k] for k in keys}
    assert local.stats["contaminated"] >= 50
