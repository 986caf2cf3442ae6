"""Dedup's scratch folder beside `--out`: made per run, removed on any exit, and swept when a
killed run could not remove its own.

A run's scratch (signatures, spilled LSH buckets, output partitions: 7.9 MB per 16K rows) is
`.dedup-<pid>-<random>/` next to the output folder, with `owner.json` (pid, process start time,
host, command). It is removed when the run ends, by an exception, Ctrl-C, or SIGTERM/SIGHUP
(turned into `SystemExit(128 + signal)` while the run holds the scratch, so `finally` blocks run).
SIGKILL cannot be caught: the next dedup run whose output lies in the same folder removes every
`.dedup-*` folder whose owner is gone — its pid is not running, or is running but started at
another time (the pid was reused). Folders of a live run, and folders made on another host (a
shared filesystem: a pid there means nothing here), are left alone. A folder from before
owner.json existed (`.dedup-<random>`) is removed once it is a day old.

Exercise: kill -9 a running `factory dedup IN -o OUT`; the next `factory dedup ... -o OUT2` with
OUT2 beside OUT logs "removed scratch of run <pid> (no longer running)".
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

PREFIX = ".dedup-"
OWNER = "owner.json"
LEGACY_MAX_AGE_S = 24 * 3600
_NAME = re.compile(r"^\.dedup-(\d+)-")


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or None
    where /proc is not there: with the pid it names one process, even after pid reuse."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after it
    return raw[raw.rfind(")") + 2 :].split()[19]


def owner_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    if start is not None:
        now = _start_time(pid)
        if now is not None and now != start:
            return False  # the pid now belongs to another process
    return True


def sweep(parent: Path, *, log: Callable[[str], None] = lambda _: None) -> list[Path]:
    """Remove the scratch folders in `parent` whose run is gone; returns them."""
    removed: list[Path] = []
    try:
        entries = [p for p in parent.iterdir() if p.name.startswith(PREFIX) and p.is_dir()]
    except OSError:
        return removed
    host = socket.gethostname()
    for p in entries:
        try:
            owner = json.loads((p / OWNER).read_text())
        except (OSError, ValueError):
            owner = None
        m = _NAME.match(p.name)
        if owner is None and m is None:
            # made before scratch folders named their owner: removed once clearly stale
            try:
                stale = time.time() - p.stat().st_mtime > LEGACY_MAX_AGE_S
            except OSError:
                continue
            if stale:
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
                log(f"removed old dedup scratch {p} (older than a day, no owner recorded)")
            continue
        pid = int(owner["pid"]) if owner else int(m.group(1))
        if owner and owner.get("host") not in (None, host):
            continue  # another machine's run on a shared filesystem
        if owner_alive(pid, owner.get("start") if owner else None):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
        log(f"removed scratch of dedup run {pid} (no longer running): {p}")
    return removed


@contextlib.contextmanager
def _signals_exit() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise SystemExit(128 + signal) so cleanup runs
    (only the main thread can set handlers; elsewhere the block runs without them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old: dict[int, object] = {}

    def handler(signum, frame):
        prev = old.get(signum)
        if callable(prev):
            prev(signum, frame)
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            old[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):
            pass
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


@contextlib.contextmanager
def scratch_dir(parent: Path, *, log: Callable[[str], None] = lambda _: None) -> Iterator[Path]:
    """A fresh scratch folder in `parent` (after sweeping dead runs' folders), removed on exit."""
    parent = Path(parent)
    sweep(parent, log=log)
    pid = os.getpid()
    d = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{pid}-", dir=parent))
    try:
        info = {"pid": pid, "start": _start_time(pid), "host": socket.gethostname(),
                "command": " ".join(sys.argv)[:300], "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (d / OWNER).write_text(json.dumps(info))
        with _signals_exit():
            yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
