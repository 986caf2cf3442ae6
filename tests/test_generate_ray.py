"""`--executor ray` on a local Ray (2 CPUs) with two tiny-model replicas gives the same row set
as the local run, and resumes the same way (finished keys are skipped before dispatch)."""

from __future__ import annotations

import pytest
from gen_helpers import math500_rows, write_problems

from factory.generate.core import GenerateOptions, run_generate
from factory.io.dataset import check_folder, read_table

ray = pytest.importorskip("ray")  # the `ray` extra; installed with make test


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()  # another module of the session may have started it
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


def _rows(path):
    return {(r["problem_id"], r["sample_index"]): r for r in read_table(path).to_pylist()}


def test_ray_executor_gives_the_local_row_set_and_resumes(local_ray, tiny_model, package_data, tmp_path):
    problems = write_problems(tmp_path / "problems", math500_rows(package_data, 50))
    base = dict(teacher=str(tiny_model), backend="transformers", problems=str(problems), n=4, max_tokens=8, seed=5,
                batch_size=32)
    local = tmp_path / "local"
    run_generate(GenerateOptions(**base, out=str(local)), log=lambda m: None, progress=False)
    # start the ray folder with 10 problems done locally: the ray run must skip them
    distributed = tmp_path / "ray"
    run_generate(GenerateOptions(**base, out=str(distributed), limit=10), log=lambda m: None, progress=False)
    s = run_generate(GenerateOptions(**base, out=str(distributed), executor="ray", replicas=2),
                     log=lambda m: None, progress=False)
    assert s["resumed"] == 40 and s["generated"] == 160 and s["run"]["executor"] == "ray"
    m = check_folder(distributed, full=True)
    assert m.rows == 200
    a, b = _rows(local), _rows(distributed)
    assert set(a) == set(b) and len(b) == 200  # same (problem, sample) pairs, no duplicates
    # per-sample seeds: the replicas drew the same samples as the local run
    same = sum(a[k]["completion"] == b[k]["completion"] for k in a)
    assert same >= 190, same
