"""`factory generate --executor ray`: teacher replicas as a Ray Data actor pool.

The driver does what the local executor does — reads problems, skips finished (problem, sample)
keys before dispatch, renders prompts — and hands the remaining requests to
`map_batches(TeacherReplica, compute=ActorPoolStrategy(size=replicas))`: one replica per GPU
(`num_gpus=1`), or per node for a tensor-parallel vLLM teacher (`num_gpus=tp`). Results stream
back as replicas finish batches and the driver writes them through the same durable writer, so
shards, rows and the resume guarantee are the same as a local run. Ray attaches to a running
cluster when RAY_ADDRESS is set, else it starts a local one.

Exercise: `factory generate --executor ray --replicas 2 --teacher DIR --problems P --out T`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from factory.generate.teachers.base import Completion, Request, sampling_of


class TeacherReplica:
    """One teacher per Ray actor (loaded once, lazily, on the first batch)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from factory.generate.options import GenerateOptions
        from factory.generate.teachers import make_teacher

        self.opts = GenerateOptions(**spec)
        self.teacher = make_teacher(self.opts)
        self.sampling = sampling_of(self.opts)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        reqs = [Request(**json.loads(s)) for s in batch["request"]]
        results = self.teacher.generate(reqs, self.sampling)
        out: dict[str, list[Any]] = {"i": [], "pos": [], "completion": []}
        for i, comps in zip(batch["i"], results):
            for j, c in enumerate(comps):
                out["i"].append(int(i))
                out["pos"].append(j)
                out["completion"].append(json.dumps(dataclasses.asdict(c)))
        return out


def _gpus_per_replica(opts, ray) -> float:
    if opts.gpus_per_replica is not None:
        return float(opts.gpus_per_replica)
    if opts.backend == "vllm":
        return float(opts.tensor_parallel_size)
    if opts.backend == "transformers" and ray.cluster_resources().get("GPU", 0) > 0:
        return 1.0
    return 0.0


def run_on_ray(opts, work: list[Request], on_completion: Callable[[Request, int, Completion, str], None], *,
               log: Callable[[str], None] = print) -> int:
    """Generate `work` on a Ray actor pool; call on_completion on the driver for every sample.
    Returns the number of GPUs the pool held."""
    from factory.pipeline.ray_setup import start_ray

    if not work:
        return 0
    ray = start_ray()  # joins RAY_ADDRESS's cluster, else starts a local one; quiet Ray Data logs
    gpus = _gpus_per_replica(opts, ray)
    if opts.backend == "transformers":
        per_batch = max(1, opts.batch_size // opts.n)
    elif opts.backend == "vllm":
        per_batch = 256  # vLLM schedules inside the batch; bigger keeps the GPU busy
    elif opts.backend == "openai":
        per_batch = max(1, opts.concurrency)
    else:
        per_batch = 1024
    items = [{"i": k, "request": json.dumps(dataclasses.asdict(r))} for k, r in enumerate(work)]
    spec = {**dataclasses.asdict(opts), "executor": "local"}
    log(f"ray: {opts.replicas} teacher replica(s), {gpus:g} GPU(s) each, {len(work)} requests in batches of {per_batch}")
    ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), 4 * opts.replicas)))
    ds = ds.map_batches(
        TeacherReplica,
        fn_constructor_kwargs={"spec": spec},
        batch_size=per_batch,
        compute=ray.data.ActorPoolStrategy(size=opts.replicas),
        num_gpus=gpus or None,
        num_cpus=1 if not gpus else None,
    )
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        for i, pos, comp in zip(batch["i"], batch["pos"], batch["completion"]):
            req = work[int(i)]
            on_completion(req, int(pos), Completion(**json.loads(comp)), opts.teacher)
    return int(gpus * opts.replicas)
