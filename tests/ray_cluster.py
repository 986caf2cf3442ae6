"""A local multi-node Ray cluster for tests: a head node that runs no work (0 CPUs, like a real
head that only schedules) and N worker nodes of 1 CPU each, all real processes on 127.0.0.1
(`ray.cluster_utils.Cluster`: one raylet and object store per node). Each worker node carries a
custom resource of its own (`worker0`, `worker1`, ...) and a shared `worker` resource, so a probe
can pin one task to each node and name them.

Where work ran is recorded by a probe, not guessed: every Ray worker process runs
`install_probe` at start (Ray's `worker_process_setup_hook`), which wraps the functions the
stages run on workers (teacher replicas, scorer actors, dedup/decontamination row readers,
fingerprinting, matching and shard writers) so that each call appends `TAG NODE_ID` to a file in
the probe folder. The wrappers only record; results are those of the wrapped functions.

Used by tests/test_multinode.py.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROBE_ENV = "FACTORY_TEST_RAY_PROBE"

# (module, attribute, tag): what the stages run on Ray workers
PROBED = [
    ("factory.generate.ray", "TeacherReplica.__call__", "generate"),
    ("factory.score.runner", "_RayScorer.__call__", "score"),
    ("factory.dedup.shards", "_read_shards", "read"),
    ("factory.dedup.ray", "_fingerprint", "fingerprint"),
    ("factory.dedup.decontam", "_match", "decontaminate"),
    ("factory.dedup.shards", "_write_shard", "write"),
]


def install_probe() -> None:
    """Ray worker set-up hook: wrap the probed functions of this worker process."""
    folder = os.environ.get(PROBE_ENV)
    if not folder:
        return
    import importlib

    for module, attr, tag in PROBED:
        try:  # a function moved or renamed: no calls get recorded for its tag (the test says so)
            owner: Any = importlib.import_module(module)
            *outer, name = attr.split(".")
            for part in outer:
                owner = getattr(owner, part)
            fn = getattr(owner, name)
        except (ImportError, AttributeError):
            continue
        if getattr(fn, "_probed", False):
            continue
        setattr(owner, name, _recording(fn, tag, folder))


def _recording(fn, tag: str, folder: str):
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        import ray

        node = ray.get_runtime_context().get_node_id()
        # one short line per call, O_APPEND: lines from concurrent processes never interleave
        with open(Path(folder) / f"{os.getpid()}.log", "a", encoding="utf-8") as f:
            f.write(f"{tag} {node} {time.time():.3f}\n")
        return fn(*args, **kwargs)

    wrapped._probed = True  # type: ignore[attr-defined]
    return wrapped


def node_of_each_worker() -> dict[str, str]:
    """{`workerN` resource: node id}, asked of the nodes themselves by one pinned task each."""
    import ray

    @ray.remote(num_cpus=0)
    def where() -> str:
        return ray.get_runtime_context().get_node_id()

    names = sorted(k for n in ray.nodes() if n["Alive"] for k in n["Resources"] if k.startswith("worker") and k != "worker")
    return dict(zip(names, ray.get([where.options(resources={k: 0.01}).remote() for k in names]), strict=True))


@dataclass
class LocalCluster:
    cluster: Any
    head: Any
    workers: list[Any]
    probe: Path
    marks: dict[str, int] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return self.cluster.address

    def calls(self) -> list[tuple[str, str, float]]:
        """Every probed call so far, in time order: (tag, node id, start time)."""
        out = []
        for f in sorted(self.probe.glob("*.log")):
            for line in f.read_text(encoding="utf-8").splitlines():
                tag, node, at = line.split()
                out.append((tag, node, float(at)))
        return sorted(out, key=lambda c: c[2])

    def mark(self, name: str) -> None:
        """Remember how many calls were recorded so far (`nodes_since(name)` counts after it)."""
        self.marks[name] = len(self.calls())  # calls are appended in time order: an index is a moment

    def nodes_since(self, name: str, tag: str | None = None) -> Counter[str]:
        """Calls per node id recorded after `mark(name)` (only `tag`'s when given)."""
        return Counter(node for t, node, _ in self.calls()[self.marks[name]:] if tag is None or t == tag)

    def kill(self, node: Any) -> None:
        """Kill a worker node at once (raylet, object store and its workers: no goodbye)."""
        self.cluster.remove_node(node, allow_graceful=False)
        self.workers.remove(node)


@contextlib.contextmanager
def local_cluster(probe: Path, *, workers: int = 3, object_store_mb: int = 100) -> Iterator[LocalCluster]:
    """Start the cluster and connect this process to it (as `ray.init(address=...)` would on a
    real head); shut everything down afterwards."""
    import ray
    from ray import cloudpickle
    from ray.cluster_utils import Cluster

    ray_cluster = sys.modules[__name__]

    probe.mkdir(parents=True, exist_ok=True)
    store = object_store_mb * 1024 * 1024
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "resources": {"head": 1}, "object_store_memory": store, "include_dashboard": False})
    nodes = [cluster.add_node(num_cpus=1, resources={"worker": 1, f"worker{i}": 1}, object_store_memory=store)
             for i in range(workers)]
    cluster.wait_for_nodes()
    # the hook travels by value: Ray's workers cannot import this tests/ module
    cloudpickle.register_pickle_by_value(ray_cluster)
    try:
        ray.init(address=cluster.address, log_to_driver=False, runtime_env={
            "worker_process_setup_hook": install_probe, "env_vars": {PROBE_ENV: str(probe)}})
        dctx = ray.data.DataContext.get_current()
        dctx.enable_progress_bars = False
        # an actor pool dispatches only once all its actors are up: otherwise the first actor
        # to start (workers import slowly on a busy 2-core box) takes every batch of a small test
        dctx.wait_for_min_actors_s = 600
        deadline = time.time() + 60
        while len([n for n in ray.nodes() if n["Alive"]]) < workers + 1:
            if time.time() > deadline:
                raise RuntimeError("the local Ray cluster did not come up within 60 s")
            time.sleep(0.2)
        yield LocalCluster(cluster, cluster.head_node, nodes, probe)
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        with contextlib.suppress(Exception):
            cloudpickle.unregister_pickle_by_value(ray_cluster)
        cluster.shutdown()
