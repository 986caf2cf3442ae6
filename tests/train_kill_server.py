"""Kill `factory train` after every file it writes, then re-run it: the driver of
tests/test_train_faults.py (run as a script; prints one JSON line per case).

Every file write under --out is a boundary: a Python `open` for writing (counted when closed),
`torch.save` (optimizer, scheduler, RNG states, training args), safetensors' `save_file` (the
weights), and factory's own durable writes (pending mark, stage record). The tokenizer's
`tokenizer.json` is written from Rust and is not counted; a kill after it is the kill after the
next counted write.

One process imports torch, transformers and TRL once, runs the uninterrupted run itself (which
warms every lazy import), and forks a child per run after that (CPU only, one torch thread), so
the ~40 boundaries cost about two seconds each, not an interpreter start each. For k = 1, 2, ...: a child runs the command and SIGKILLs itself after
its k-th write; the parent records whether the output then reads as half-written; a second
child re-runs the same command; the parent compares its final weights with the uninterrupted
run's. It stops at the first k the run completes without reaching.

Usage: python tests/train_kill_server.py WORK_DIR DATA.parquet [extra factory train args]
"""

from __future__ import annotations

import builtins
import io
import json
import os
import signal
import sys
from pathlib import Path

OUT: list[Path] = []  # the --out of the run in progress (set per child)
_open = io.open


def _done() -> None:
    from factory.io.files import durable_write_done

    durable_write_done()


def _under(p) -> bool:
    try:
        return bool(OUT) and Path(os.fspath(p)).resolve().is_relative_to(OUT[0])
    except (TypeError, ValueError, OSError):
        return False


class _Counted:
    """A file opened for writing under --out: counts as one write when it is closed."""

    def __init__(self, f):
        self._f = f

    def __getattr__(self, k):
        return getattr(self._f, k)

    def __iter__(self):
        return iter(self._f)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        if not self._f.closed:
            self._f.close()
            _done()


def _counting_open(file, mode="r", *a, **k):
    f = _open(file, mode, *a, **k)
    if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+") and _under(file):
        return _Counted(f)
    return f


def _after(fn, pos: int, key: str):
    def wrapped(*a, **k):
        r = fn(*a, **k)
        target = a[pos] if len(a) > pos else k.get(key)
        if isinstance(target, (str, os.PathLike)) and _under(target):
            _done()
        return r

    return wrapped


def _install() -> None:
    builtins.open = io.open = _counting_open
    import safetensors.torch
    import torch

    torch.save = _after(torch.save, 1, "f")
    safetensors.torch.save_file = _after(safetensors.torch.save_file, 1, "filename")


def _run(args: list[str], out: Path, kill_after: int | None, log: Path) -> int:
    """Fork a child running `factory train ARGS`; its exit code, or -signal."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            OUT[:] = [out.resolve()]
            if kill_after is None:
                os.environ.pop("FACTORY_KILL_AFTER_WRITES", None)
            else:
                os.environ["FACTORY_KILL_AFTER_WRITES"] = str(kill_after)
            from factory.cli.app import app

            try:
                app(["train", *args, "--out", str(out)], prog_name="factory")
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _run_here(args: list[str], out: Path, log: Path) -> int:
    """The uninterrupted run, in this process: it also imports and warms everything the
    children use (the trainer, its callbacks, plotting), so each fork starts ready. torch runs
    one thread here (OMP_NUM_THREADS=1), so no thread pool is lost across the forks."""
    import contextlib

    from factory.cli.app import app

    OUT[:] = [out.resolve()]
    with open(log, "w") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        try:
            app(["train", *args, "--out", str(out)], prog_name="factory")
            return 0
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else 1


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def _same(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def main() -> None:
    work, data, extra = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    _install()
    import torch

    torch.set_num_threads(1)
    # everything heavy imported once, before any fork (no torch op runs in this process)
    import datasets  # noqa: F401
    import transformers  # noqa: F401
    import trl  # noqa: F401

    import factory.cli.app  # noqa: F401
    import factory.train.core  # noqa: F401
    from factory.io.pending import PENDING
    from factory.io.record import RECORD, fingerprint
    from factory.pipeline.runner import _has_content
    from factory.schemas.errors import DatasetError

    args = ["--data", data, *extra]
    ref = work / "ref"
    rc = _run_here(args, ref, work / "ref.log")
    if rc != 0:
        print(json.dumps({"case": "ref", "rc": rc, "log": (work / "ref.log").read_text()[-3000:]}), flush=True)
        return
    want = _weights(ref)
    step = json.loads((ref / "training_log.json").read_text())["log_history"][-1].get("step")
    print(json.dumps({"case": "ref", "rc": 0, "step": step}), flush=True)
    k = 1
    while k <= 200:
        out = work / f"k{k}"
        rc = _run(args, out, k, work / f"k{k}.log")
        case = {"case": k, "kill_rc": rc}
        if rc == 0:
            case["completed_unkilled"] = True
            print(json.dumps(case), flush=True)
            break
        case["pending"] = (out / PENDING).exists()
        case["committed"] = (out / RECORD).exists() and not case["pending"]
        case["content"] = _has_content(out)  # anything but the runner's own marks
        if not case["committed"] and case["content"]:
            # a reader (eval --model, train --student) takes the folder as an input: refused
            try:
                fingerprint(out)
                case["read_as_complete"] = True
            except DatasetError as e:
                case["read_as_complete"] = False
                case["refusal"] = str(e)
        rc2 = _run(args, out, None, work / f"k{k}.rerun.log")
        case["rerun_rc"] = rc2
        if rc2 == 0:
            got = _weights(out)
            case["same_weights"] = _same(got, want)
            case["step"] = json.loads((out / "training_log.json").read_text())["log_history"][-1].get("step")
            case["leftover_tmp"] = sorted(p.name for p in out.rglob(".*.tmp"))
            text = (work / f"k{k}.rerun.log").read_text()
            case["from_checkpoint"] = next((ln.split("resuming from ", 1)[1].strip() for ln in text.splitlines()
                                            if "resuming from checkpoint-" in ln), None)
            case["up_to_date"] = "is up to date" in text
        else:
            case["rerun_log"] = (work / f"k{k}.rerun.log").read_text()[-3000:]
        print(json.dumps(case), flush=True)
        import shutil

        shutil.rmtree(out, ignore_errors=True)  # keep the disk use to one case at a time
        k += 1


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    main()
