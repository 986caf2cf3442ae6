"""A kill after every file `factory train` writes, then a re-run: the re-run completes and its
student is bit-identical to an uninterrupted run's; after each kill, the half-written output is
refused as an input (what `eval --model` or `train --student` would read). The cases run in
tests/train_kill_server.py (one process forking a child per run).

Before this test: a kill right after the pending mark's temporary file left a folder the re-run
refused ("already holds files that no finished train run wrote"), and a kill while the tiny
student was being built left a `.base-tiny` without its chat template, which every re-run
refused. Both are fixed (the runner ignores its own mark's temporary; the tiny model is built
under a temporary name and renamed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_train_data import _parquet, _rows

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
SERVER = Path(__file__).with_name("train_kill_server.py")


def test_a_kill_after_every_file_train_writes_then_a_rerun_gives_the_uninterrupted_student(tmp_path, package_data):
    data = _parquet(tmp_path / "msgs.parquet", _rows(package_data, 16))
    work = tmp_path / "w"
    work.mkdir()
    r = subprocess.run([sys.executable, str(SERVER), str(work), str(data), "--student", "tiny", "--set", "max_steps=4",
                        "--set", "save_steps=2", "--set", "num_train_epochs=10"],
                       env={**ENV, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}, capture_output=True, text=True,
                       timeout=1500, cwd=tmp_path)
    cases = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert r.returncode == 0 and cases, r.stderr[-3000:]
    ref, kills, last = cases[0], cases[1:-1], cases[-1]
    assert ref == {"case": "ref", "rc": 0, "step": 4}, ref
    assert last.get("completed_unkilled"), last  # every boundary was tried
    assert len(kills) >= 30, f"only {len(kills)} write boundaries"  # 2 checkpoints + the base model + the student
    for c in kills:
        assert c["kill_rc"] == -9, c
        if not c["committed"] and c["content"]:
            assert c["read_as_complete"] is False and "half-written" in c["refusal"], c
        assert c["rerun_rc"] == 0, c
        assert c["same_weights"] and c["step"] == 4 and c["leftover_tmp"] == [], c
    # the kills landed in every phase: before any checkpoint, between them, in the final save, after the commit
    assert sum(not c["committed"] for c in kills) >= 30 and kills[-1]["committed"] and not kills[0]["content"]
    # re-runs resumed from the newest complete checkpoint: from none, from checkpoint-2, from checkpoint-4
    resumed = [c["from_checkpoint"] for c in kills]
    assert None in resumed and "checkpoint-2" in resumed and "checkpoint-4" in resumed, resumed
    assert kills[-1]["up_to_date"]  # killed after its record: the re-run has nothing to do
