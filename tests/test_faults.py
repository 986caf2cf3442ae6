"""Faults: one writer per output folder, a kill at every write boundary, a full disk.

- Two writers: for EVERY stage with an output, a second run on a folder another process is
  writing is refused at once, naming the holder's pid and command.
- Kill at every boundary: verify, filter, dedup and curate each run in a subprocess that kills
  itself (SIGKILL) right after its k-th durable write (FACTORY_KILL_AFTER_WRITES=k: a shard
  renamed into place, a manifest, a stage record), for every k. After each kill no reader takes
  the output as complete unless the run committed it, and the next plain run completes with
  exactly the rows (ids) of an uninterrupted run.
- Disk full: a stage writing into a tiny tmpfs fails with one clear line naming the folder and
  the free space, and leaves no shard with a final name that does not read back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from curate_data import shipped_trace_folder

from factory.io.dataset import check_folder, read_table
from factory.io.record import RECORD
from factory.pipeline.runner import StageContext, run_stage
from factory.pipeline.stages import STAGES
from factory.schemas.errors import DatasetError
from factory.schemas.options import options_of

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


# -- one writer per folder -------------------------------------------------------------------------
def _placeholder_options(cls: type, out: Path):
    kw = {}
    for o in options_of(cls):
        if o.role == "output":
            kw[o.name] = str(out)
        elif o.required:
            kw[o.name] = ["x"] if "list" in str(o.type) else "x"
    return cls(**kw)


@pytest.mark.parametrize("name", [n for n, (cls, _) in STAGES.items() if any(o.role == "output" for o in options_of(cls))
                                  and not getattr(cls, "OUTPUT_IS_FILE", False)])
def test_a_second_writer_is_refused_for_every_stage(name, tmp_path):
    cls, run = STAGES[name]
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom factory.io.lock import folder_lock\n"
         f"with folder_lock({str(out)!r}, command='factory {name} (the first run)'):\n"
         "    print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "held"
        ran = []
        with pytest.raises(DatasetError, match=rf"another run is writing this folder \(pid {holder.pid}: factory {name} \(the first run\)"):
            run_stage(name, _placeholder_options(cls, out), StageContext(stage=name, log=lambda m: None), lambda o, c: ran.append(1) or {})
        assert not ran
    finally:
        holder.kill()
        holder.wait()


# -- a kill at every write boundary ----------------------------------------------------------------
@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("faults")
    traces = shipped_trace_folder(d, "skyt1", limit=12)
    return {"traces": traces, "dir": d}


def _cli(args: list[str], *, kill_after: int | None = None) -> subprocess.CompletedProcess:
    env = dict(ENV)
    if kill_after is not None:
        env["FACTORY_KILL_AFTER_WRITES"] = str(kill_after)
    return subprocess.run([sys.executable, "-m", "factory.cli.app", *args], env=env, capture_output=True, text=True, timeout=300)


def _ids(folder: Path) -> list[str]:
    return sorted(read_table(folder, columns=["id"]).column("id").to_pylist())


def _committed(out: Path) -> bool:
    return (out / RECORD).exists() and not (out / ".factory-run.json").exists()


CASES = {
    "verify": lambda i, o: ["verify", str(i["traces"]), "-o", str(o), "--filters", "math", "--workers", "1"],
    "filter": lambda i, o: ["filter", str(i["traces"]), "-o", str(o), "--filters", "readability,language"],
    "dedup": lambda i, o: ["dedup", str(i["traces"]), "-o", str(o), "--by", "trace"],
    "curate": lambda i, o: ["curate", "--recipe", "journey", "--traces", str(i["traces"]), "-o", str(o),
                            "--set", "mix.allow_short=true"],
}


@pytest.mark.parametrize("stage", list(CASES))
def test_a_kill_after_every_write_then_a_rerun_gives_the_uninterrupted_rows(stage, inputs, tmp_path):
    ref = tmp_path / "ref"
    r = _cli(CASES[stage](inputs, ref))
    assert r.returncode == 0, r.stderr[-2000:]
    parts = [p for p in (ref, ref / "rejected", ref / "train", ref / "validation") if (p / "manifest.json").exists()]
    want = {p.relative_to(ref): _ids(p) for p in parts}
    k = 1
    while True:
        out = tmp_path / f"k{k}"
        r = _cli(CASES[stage](inputs, out), kill_after=k)
        if r.returncode == 0:
            break  # no k-th write: every boundary has been tried
        assert r.returncode == -9, (k, r.stderr[-2000:])
        # after the kill nothing reads as complete unless the run committed it
        for rel in want:
            folder = out / rel
            if _committed(out):
                assert _ids(folder) == want[rel]
            else:
                with pytest.raises(DatasetError):
                    check_folder(folder)
        r = _cli(CASES[stage](inputs, out))
        assert r.returncode == 0, (k, r.stderr[-2000:])
        for rel, ids in want.items():
            assert _ids(out / rel) == ids, (stage, k, rel)
        assert _committed(out) and not list(out.rglob(".*.tmp"))
        k += 1
    assert k > 3, f"{stage}: only {k - 1} write boundaries were tried"


# -- a full disk -------------------------------------------------------------------------------
def _small_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return r.returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root (CI runs as root)")
def test_disk_full_is_one_clear_line_and_no_bad_shard_is_final(inputs, tmp_path):
    small = tmp_path / "small"
    if not _small_tmpfs(small, "600k"):
        pytest.skip("this kernel refuses a tmpfs mount here")
    try:
        # a real ingest of 30k rows (~6 MB of Parquet) into 600 KB
        src = tmp_path / "big.jsonl"
        src.write_text("".join(json.dumps({"question": f"What is {i} + {i}? " + "word " * 40, "answer": f"#### {2 * i}"}) + "\n"
                               for i in range(30_000)))
        r = _cli(["ingest", str(src), "--preset", "gsm8k", "-o", str(small / "out")])
        assert r.returncode == 1, r.stdout + r.stderr
        err = r.stderr + r.stdout
        assert "No space left on device" in err and "free on that filesystem" in err and str(small / "out") in err, err
        assert "internal error" not in err and "Traceback" not in err
        for shard in (small / "out").glob("part-*.parquet"):  # any shard with its final name reads back whole
            pq.ParquetFile(shard).metadata
        with pytest.raises(DatasetError):
            check_folder(small / "out")
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(small)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
