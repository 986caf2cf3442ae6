"""Multi-node Ray: the stages on a local cluster of a head (no CPUs) and three 1-CPU worker nodes
(real raylets on 127.0.0.1, tests/ray_cluster.py), driven through the `factory` CLI the way a
user drives a real cluster.

- generate (tiny-model replicas), verify, filter and dedup run with `--executor ray`, and
  decontaminate with its engine's `executor="ray"` (DecontamConfig; `factory decontaminate` has
  no --executor flag yet), and give the local executor's output byte for byte: the same shard
  files (sha256), rows, ids and scores, and the same manifests apart from run facts (timings,
  the command line, the folders' own paths, the executor options themselves). A probe records the
  node of every call the stages make on workers: nothing ran on the head, and generate, verify,
  filter and dedup ran on more than one node (decontaminate's few tasks on this small input
  were seen on a single worker node: it is only required to run on workers).
- curate has no Ray path (it is one lazy polars scan on the driver): it runs on the cluster
  run's folders and gives the same SFT folders as on the local run's, so the folders a cluster
  writes are ordinary dataset folders.
- A worker node is killed while generate runs on it (after its replica has finished batches,
  before the run ends): the stage completes, every (problem, sample) is written exactly once, and
  the shards equal the local run's.

About 2 minutes on a 2-core machine (cluster start ~10 s; the tiny model; a few hundred rows).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest
from curate_data import trace_rows
from factory.schemas.contracts import TRACE_SCHEMA
from gen_helpers import math500_rows, write_problems

from factory.dedup.decontam import DecontamConfig, run_decontam
from factory.io.dataset import DatasetWriter, check_folder, read_table

ray = pytest.importorskip("ray")  # the `ray` extra (make test installs it)

from ray_cluster import local_cluster, node_of_each_worker

# manifest keys that describe the run, not the data: timings live in `run`, the command line
# names the executor; params that name the folders (each run has its own) or only choose where
# work runs
RUN_STATS = {"seconds", "bucket_partitions"}  # timings; how many partitions the executor's shuffle used
RUN_PARAMS = {"input", "out", "executor", "replicas", "gpus_per_replica", "workers", "actors", "cpus_per_actor", "pool", "memory_budget"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with local_cluster(tmp_path_factory.mktemp("probe"), workers=3) as c:
        yield c


def cli(*args: str) -> str:
    from factory.cli.app import app
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, list(args))
    assert r.exit_code == 0, f"factory {' '.join(args)} exited {r.exit_code}:\n{r.output[-3000:]}"
    return r.output


def same_folders(a: Path, b: Path, *, arrival_order: bool = False) -> list[str]:
    """Every dataset folder under `a` (itself, rejected/, train/, ...) equals its twin under `b`:
    shard files byte for byte, manifests apart from run facts. Returns the folders compared.

    `arrival_order`: the folder's rows are written in the order results arrive (generate, so
    that a killed run keeps every finished sample): then the rows, every column, are compared
    in id order and the shard bytes are not."""
    seen = []
    for ma in sorted(a.rglob("manifest.json")):
        rel = ma.parent.relative_to(a)
        mb = b / rel / "manifest.json"
        assert mb.exists(), f"{b / rel}: missing"
        ja, jb = (json.loads(p.read_text()) for p in (ma, mb))
        for j in (ja, jb):
            j.pop("run"), j.pop("command")
            j["stats"] = {k: v for k, v in (j.get("stats") or {}).items() if k not in RUN_STATS}
            j["params"] = {k: v for k, v in (j.get("params") or {}).items() if k not in RUN_PARAMS}
        if arrival_order:
            ta, tb = (read_table(p).sort_by("id") for p in (a / rel, b / rel))
            assert ta.equals(tb), f"{rel}: rows differ"
            for j in (ja, jb):
                j.pop("shards")  # how rows fall into shards depends on when they arrived (time-based flushes)
        assert ja == jb, f"{rel}: manifests differ"
        for s in [] if arrival_order else ja["shards"]:
            assert (a / rel / s["name"]).read_bytes() == (b / rel / s["name"]).read_bytes(), f"{rel}/{s['name']}"
        check_folder(b / rel, full=True)
        seen.append(str(rel))
    assert seen, f"{a}: no dataset folder"
    return seen


@pytest.fixture(scope="module")
def problems(tmp_path_factory, package_data):
    return write_problems(tmp_path_factory.mktemp("problems") / "p", math500_rows(package_data, 24))


def _generate(problems: Path, teacher: Path, out: Path, *extra: str) -> str:
    # batch = one problem's n samples: no padding, so a batch's samples do not depend on which
    # other problems share it (the local and Ray executors group problems differently)
    return cli("generate", "--teacher", str(teacher), "--problems", str(problems), "-o", str(out), "--backend",
               "transformers", "--n", "2", "--batch-size", "2", "--max-tokens", "12", "--seed", "3", *extra)


@pytest.fixture(scope="module")
def local_generated(problems, tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("generated") / "local"
    _generate(problems, tiny_model, out)
    return out


def test_the_cluster_has_three_one_cpu_worker_nodes(cluster):
    nodes = node_of_each_worker()
    assert len(set(nodes.values())) == 3, nodes
    assert cluster.head.node_id not in nodes.values()
    assert ray.cluster_resources()["CPU"] == 3


def test_generate_on_the_cluster_equals_local(cluster, problems, tiny_model, local_generated, tmp_path):
    cluster.mark("generate")
    out = _generate(problems, tiny_model, tmp_path / "ray", "--executor", "ray", "--replicas", "3")
    assert "3 teacher replica(s)" in out
    per_node = cluster.nodes_since("generate", "generate")
    assert len(per_node) >= 2, f"replicas ran on {dict(per_node)}"
    assert cluster.head.node_id not in per_node
    assert same_folders(local_generated, tmp_path / "ray", arrival_order=True) == ["."]
    assert read_table(tmp_path / "ray").num_rows == 48


def test_verify_filter_dedup_decontaminate_on_the_cluster_equal_local_and_curate_reads_them(cluster, tmp_path):
    # in 4 shards: Ray reads a shard per task, so several shards let the readers spread too
    traces = tmp_path / "traces"
    with DatasetWriter(traces, "trace", rows_per_shard=20, row_group_rows=20) as w:
        w.write_table(pa.Table.from_pylist(trace_rows("skyt1", limit=80), schema=TRACE_SCHEMA))
    assert len(check_folder(traces).shards) == 4
    chain = {  # stage -> (arguments after the input, probe tags it must have spread)
        # batches of 32 rows, 2 actors (Ray: one CPU of the three stays free for the reads)
        "verify": (["--filters", "math", "--workers", "2", "--batch-rows", "32"], ["score"]),
        "filter": (["--filters", "format,readability,language", "--workers", "2", "--batch-rows", "32"], ["score"]),
        "dedup": (["--by", "trace", "--threshold", "0.8"], ["read", "fingerprint", "write"]),
        # decontaminate: its few tasks (one read per shard, one match, one writer) were seen to run
        # on one worker node on this input: it must run on workers, not necessarily several
        "decontaminate": (["--builtin", "math500", "--action", "flag"], ["read", "decontaminate", "write"]),
    }
    for executor in ("local", "ray"):
        src = traces
        for stage, (args, tags) in chain.items():
            if stage == "decontaminate":
                src = traces  # Ray reads one shard per task: the 4-shard input spreads, a 1-shard one cannot
            out = tmp_path / executor / stage
            cluster.mark(stage)
            if stage == "decontaminate" and executor == "ray":  # no CLI flag: the engine's own executor
                run_decontam(src, out, DecontamConfig(builtin=("math500",), action="flag", executor="ray"),
                             command="factory decontaminate (executor ray)")
            else:
                cli(stage, str(src), "-o", str(out), *args, *(["--executor", "ray"] if executor == "ray" else []))
            if executor == "ray":
                calls = cluster.nodes_since(stage)
                assert calls, f"{stage}: no work ran on the cluster"
                assert cluster.head.node_id not in calls
                spread = {t: cluster.nodes_since(stage, t) for t in tags}
                assert all(spread.values()), f"{stage}: no probed call for {[t for t in tags if not spread[t]]} " \
                    "(a function in tests/ray_cluster.py PROBED moved?)"
                if stage != "decontaminate":
                    assert max(len(c) for c in spread.values()) >= 2, f"{stage}: ran on one node only: {spread}"
                compared = same_folders(tmp_path / "local" / stage, out)
                assert "." in compared and (stage in ("decontaminate",) or "rejected" in compared), (stage, compared)
            src = out
    # scores and verdicts made on the cluster are the local ones (same_folders compared bytes;
    # this says what those bytes hold)
    verified = read_table(tmp_path / "ray" / "verify")
    assert "verdict_math" in verified.column_names and verified.num_rows > 0
    # curate has no Ray path: run it on each chain's verified, filtered, deduplicated folder
    for executor in ("local", "ray"):
        cli("curate", "--recipe", "sky-t1-17k", "--traces", str(tmp_path / executor / "dedup"),
            "-o", str(tmp_path / executor / "sft"), "--set", "mix.allow_short=true")
    assert {"train", "validation"} <= set(same_folders(tmp_path / "local" / "sft", tmp_path / "ray" / "sft"))


def test_a_worker_node_lost_mid_generate_leaves_every_sample_exactly_once(cluster, problems, tiny_model, local_generated,
                                                                         tmp_path):
    """Runs last: it kills one of the module's worker nodes."""
    cluster.mark("kill")
    killed: dict[str, object] = {}
    by_id = {n.node_id: n for n in cluster.workers}

    def kill_when_busy() -> None:
        deadline = time.time() + 300
        while time.time() < deadline:
            busy = [n for n, k in cluster.nodes_since("kill", "generate").items() if k >= 2 and n in by_id]
            if busy:  # a replica on this node has finished a batch and started the next
                killed["node"] = busy[0]
                cluster.kill(by_id[busy[0]])
                killed["at"] = time.time()
                return
            time.sleep(0.05)

    t = threading.Thread(target=kill_when_busy, daemon=True)
    t.start()
    _generate(problems, tiny_model, tmp_path / "ray", "--executor", "ray", "--replicas", "2")
    t.join(timeout=5)
    assert killed, "no node ran a batch (nothing was killed)"
    calls = cluster.nodes_since("kill", "generate")
    # batches still started after the kill, on the nodes left (the victim's worker processes may
    # begin one more call in the instant their raylet dies: those results are lost and redone)
    after = [node for tag, node, at in cluster.calls() if tag == "generate" and at > killed["at"] + 0.5]
    assert [n for n in after if n != killed["node"]], "the run had no work left when the node was killed"
    assert sum(calls.values()) >= 24  # every problem's batch ran (lost batches ran again elsewhere)
    # the stage finished after the kill, on the nodes left
    assert read_table(tmp_path / "ray").num_rows == 48
    rows = read_table(tmp_path / "ray", columns=["problem_id", "sample_index"]).to_pylist()
    keys = [(r["problem_id"], r["sample_index"]) for r in rows]
    assert len(set(keys)) == len(keys) == 48  # exactly once
    assert same_folders(local_generated, tmp_path / "ray", arrival_order=True) == ["."]
    assert len([n for n in ray.nodes() if n["Alive"]]) == 3  # head + the two survivors
