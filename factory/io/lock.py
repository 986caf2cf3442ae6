"""One writer per output folder: an advisory `fcntl` lock held for a stage's whole run.

`folder_lock(OUT)` takes an exclusive, non-blocking `flock` on `OUT/.factory.lock` and writes the
holder's pid, command and start time into it. A second writer is refused at once with the
holder's pid and command. The kernel drops the lock when the holder exits, however it exits
(SIGKILL included), so a stale lock never blocks the next run: the file may stay, the lock does
not. Locks are per machine: several machines writing one shared folder are not detected.

An output on an object store (`s3://...`) cannot hold a lock file that the kernel releases: the
stage runner takes this same lock on a local folder keyed by the URL
(`~/.cache/factory/locks/<hash of the URL>`, factory.io.store). It keeps two runs on one machine
from writing one URL; runs on two machines writing one URL are not detected (give each machine
its own prefix).

Exercise: start `factory verify IN -o OUT` twice at once; the second exits 1 naming the first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from factory.schemas.errors import DatasetError

LOCK_NAME = ".factory.lock"

# folders this process holds: taking one again (a stage's engine inside the runner) is a no-op
_HELD: dict[Path, int] = {}


def _command() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300] if sys.argv else "?"


@contextlib.contextmanager
def folder_lock(path: str | os.PathLike[str], *, command: str | None = None) -> Iterator[Path]:
    """Hold the write lock of `path` (created if missing) until the block ends."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise DatasetError(f"{p}: expected an output folder, found a file", hint="choose another --out")
    p.mkdir(parents=True, exist_ok=True)
    key = p.resolve()
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield p
        finally:
            _HELD[key] -= 1
        return
    lock = p / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            raise DatasetError(
                f"{p}: another run is writing this folder (pid {holder.get('pid', '?')}: "
                f"{holder.get('command', '?')}, since {holder.get('started', '?')})",
                hint="wait for it to finish, or write to another --out",
            ) from None
        info = {"pid": os.getpid(), "command": command or _command(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        _HELD[key] = 1
        try:
            yield p
        finally:
            _HELD.pop(key, None)
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def folder_locks(paths: list[Path], *, command: str | None = None) -> Iterator[None]:
    """Lock several folders (an output and its parts) in a fixed order, all or none."""
    with contextlib.ExitStack() as stack:
        for p in sorted({Path(p) for p in paths}, key=str):
            stack.enter_context(folder_lock(p, command=command))
        yield


def _read_holder(fd: int) -> dict:
    try:
        raw = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        return json.loads(raw) if raw else {}
    except (OSError, ValueError):
        return {}
