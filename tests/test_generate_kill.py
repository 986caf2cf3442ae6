"""Exactly-once under SIGKILL: a generation subprocess is killed at a random point after some
shards exist; re-running the same command yields exactly problems x n rows, none repeated,
none lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from gen_helpers import math500_rows, write_problems

import pytest
from typer.testing import CliRunner

from factory.cli.app import app
from factory.generate.core import GenerateOptions, run_generate
from factory.schemas.errors import DatasetError
from factory.io.dataset import check_folder, read_table


def test_sigkill_then_resume_gives_exactly_problems_times_n(tiny_model, package_data, tmp_path):
    problems = write_problems(tmp_path / "problems", math500_rows(package_data, 24))
    out = tmp_path / "traces"
    args = ["--teacher", str(tiny_model), "--problems", str(problems), "--out", str(out), "-n", "2",
            "--max-tokens", "24", "--seed", "11", "--batch-size", "4", "--flush-rows", "4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "factory.cli.app", "generate", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kill_after = random.Random().randint(1, 5)  # of 12 shards: a random point mid-run
    deadline = time.time() + 120
    try:
        while len(list(out.glob("part-*.parquet"))) < kill_after:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "no shards appeared"
            time.sleep(0.02)
        time.sleep(random.Random().uniform(0, 0.3))
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "manifest.json").exists(), "the run finished before it was killed"
    partial = len(list(out.glob("part-*.parquet")))
    assert partial >= kill_after

    # the killed folder reads as half-written until the same command runs again
    with pytest.raises(DatasetError, match="half-written"):
        check_folder(out)
    res = CliRunner().invoke(app, ["generate", *args])
    assert res.exit_code == 0, res.output
    assert "resuming" in res.output
    opts = GenerateOptions(teacher=str(tiny_model), backend="transformers", problems=str(problems), out=str(out), n=2,
                           max_tokens=24, seed=11, batch_size=4, flush_rows=4)
    m = check_folder(out, full=True)
    summary = {"resumed": m.run["rows_resumed"], "generated": m.run["rows_generated"]}
    t = read_table(out, columns=["problem_id", "sample_index", "completion"])
    keys = list(zip(t.column("problem_id").to_pylist(), t.column("sample_index").to_pylist()))
    assert m.rows == len(keys) == 48 and len(set(keys)) == 48  # exactly problems x n, no duplicates
    assert summary["resumed"] >= 4 * kill_after and summary["resumed"] + summary["generated"] == 48
    assert not list(out.glob(".*.tmp"))

    # the resumed samples are the ones an uninterrupted run draws (per-sample seeds)
    ref = tmp_path / "ref"
    run_generate(GenerateOptions(**{**opts.__dict__, "out": str(ref)}), log=lambda m: None, progress=False)
    r = read_table(ref, columns=["problem_id", "sample_index", "completion"])
    assert dict(zip(zip(r.column("problem_id").to_pylist(), r.column("sample_index").to_pylist()),
                    r.column("completion").to_pylist())) == dict(zip(keys, t.column("completion").to_pylist()))
