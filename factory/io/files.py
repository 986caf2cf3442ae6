"""Small durable-file helpers shared by every writer: atomic text writes, directory fsync, file
hashes, and the one translation of disk-full and I/O errors into a clear `DatasetError` that
names the folder and its free space.

Exercise: any stage; `python -m pytest -q tests/test_faults.py`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

from factory.schemas.errors import DatasetError

# Fault injection for tests: FACTORY_KILL_AFTER_WRITES=N makes the process SIGKILL itself right
# after its Nth durable write (a shard renamed into place, a manifest, a stage record or mark):
# how tests show that a kill at every boundary leaves nothing a reader takes as complete.
_writes = [0]


def durable_write_done() -> None:
    n = os.environ.get("FACTORY_KILL_AFTER_WRITES")
    if n:
        _writes[0] += 1
        if _writes[0] >= int(n):
            import signal

            os.kill(os.getpid(), signal.SIGKILL)


# errors that mean "the disk or filesystem cannot take this write", not "a bug"
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG}


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a small text file atomically: temporary name, fsync, rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno in DISK_ERRNOS:
            raise disk_error(e, path.parent) from None
        raise
    fsync_dir(path.parent)
    durable_write_done()


def file_sha256(path: Path, *, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def free_bytes(path: Path) -> int | None:
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def human_bytes(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def disk_error(e: OSError, folder: Path | str | None = None) -> DatasetError:
    """`OSError` from a write -> one clear line: what failed, where, and the free space there."""
    where = Path(folder) if folder is not None else Path(e.filename).parent if e.filename else Path.cwd()
    why = os.strerror(e.errno) if e.errno else str(e)
    return DatasetError(
        f"{where}: cannot write ({why}); {human_bytes(free_bytes(where))} free on that filesystem",
        hint="free some space (or choose another --out), then re-run the same command: finished work is kept",
    )
