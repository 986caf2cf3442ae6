"""Dedup's scratch beside --out is removed on any exit: normal end, SIGTERM (the run exits 143
and removes it), and SIGKILL (the next run removes it after checking the pid is gone); a live
run's, another host's and a reused pid's folders are told apart."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from factory.schemas.ids import problem_id

from factory.dedup.core import DedupConfig, run_dedup
from factory.dedup.scratch import OWNER, _start_time, sweep
from factory.io.dataset import write_dataset


def _rows(n: int = 300) -> list[dict]:
    out = []
    for i in range(n):
        text = f"A tank holds {i + 3} litres and loses {i % 7 + 1} litres an hour; after {i % 5 + 2} hours how many litres are left in tank {i}?"
        out.append(dict(id=problem_id("math", text, None), source="t", source_id=None, domain="math", problem=text,
                        reference_answer=None, language="en"))
    return out


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    write_dataset(tmp_path / "in", "problem", _rows())
    (tmp_path / "runs").mkdir()
    return tmp_path


def _scratch(parent: Path) -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.name.startswith(".dedup-"))


def _start_paused_run(data: Path, out: str) -> subprocess.Popen:
    """A dedup run in a child process that stops (sleeps) while writing its output, after its
    scratch folder is made and used; prints READY then."""
    script = textwrap.dedent(f"""
        import sys, time
        import factory.dedup.core as core
        real = core._write_sorted
        def paused(*a, **k):
            print("READY", flush=True)
            time.sleep(120)
            return real(*a, **k)
        core._write_sorted = paused
        core.run_dedup({str(data / 'in')!r}, {str(data / 'runs' / out)!r}, core.DedupConfig(bucket_partitions=4))
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "READY", p.stderr.read()
    return p


def test_a_finished_run_leaves_no_scratch(data):
    run_dedup(data / "in", data / "runs" / "a", DedupConfig(bucket_partitions=4, output_partitions=2))
    assert _scratch(data / "runs") == []


def test_sigterm_removes_the_scratch_and_exits_143(data):
    p = _start_paused_run(data, "t")
    (left,) = _scratch(data / "runs")
    owner = json.loads((left / OWNER).read_text())
    assert owner["pid"] == p.pid and owner["host"] == socket.gethostname()
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=60) == 128 + signal.SIGTERM
    assert _scratch(data / "runs") == []
    assert not (data / "runs" / "t" / "manifest.json").exists()


def test_sigkill_leftover_is_removed_by_the_next_run_after_its_pid_is_gone(data):
    p = _start_paused_run(data, "k")
    (left,) = _scratch(data / "runs")
    assert any(left.rglob("*.bin")) or (left / "signatures.u32").exists()  # real scratch content
    # while the killed-to-be run is alive, another run leaves its scratch alone
    logs: list[str] = []
    run_dedup(data / "in", data / "runs" / "other", DedupConfig(), log=logs.append)
    assert _scratch(data / "runs") == [left] and not any("removed scratch" in x for x in logs)
    p.kill()
    p.wait(timeout=60)
    assert _scratch(data / "runs") == [left]  # SIGKILL: nothing could clean up
    logs.clear()
    run_dedup(data / "in", data / "runs" / "next", DedupConfig(), log=logs.append)
    assert _scratch(data / "runs") == []
    assert any(f"removed scratch of dedup run {p.pid}" in x for x in logs), logs


def test_sweep_tells_live_dead_reused_and_foreign_owners_apart(tmp_path):
    def folder(name: str, owner: dict | None, *, age_s: float = 0) -> Path:
        d = tmp_path / name
        d.mkdir()
        if owner is not None:
            (d / OWNER).write_text(json.dumps(owner))
        if age_s:
            t = time.time() - age_s
            os.utime(d, (t, t))
        return d

    me = os.getpid()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    host = socket.gethostname()
    live = folder(f".dedup-{me}-live", {"pid": me, "start": _start_time(me), "host": host})
    gone = folder(f".dedup-{dead_pid}-gone", {"pid": dead_pid, "start": "1", "host": host})
    reused = folder(f".dedup-{me}-reused", {"pid": me, "start": "1", "host": host})  # same pid, other process
    foreign = folder(f".dedup-{dead_pid}-far", {"pid": dead_pid, "start": "1", "host": host + "-elsewhere"})
    unowned = folder(f".dedup-{dead_pid}-noowner", None)  # killed before owner.json was written
    young_legacy = folder(".dedup-abc123", None)
    old_legacy = folder(".dedup-def456", None, age_s=3 * 24 * 3600)
    other = folder("not-dedup", None)
    removed = set(sweep(tmp_path))
    assert removed == {gone, reused, unowned, old_legacy}
    assert all(p.exists() for p in (live, foreign, young_legacy, other))
