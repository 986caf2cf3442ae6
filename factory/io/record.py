"""Stage records: what made an output folder, written by the stage runner, read by resume and
by the dataset card's lineage.

A stage run writes two small files into its output folder:

- `.factory-run.json` (pending) FIRST: the run's key (stage, options, input fingerprints), pid
  and command. While it exists the folder and its parts (`rejected/`, `train/`, ...) are
  half-written: readers refuse them ("half-written: re-run the command").
- `stage.json` (the record) LAST, then the pending file is removed: the key again, each input's
  path (relative to the output folder, so a moved run folder still resolves) and fingerprint,
  the parts written with their fingerprints, the stage's summary and its timings.

The key decides what a re-run does (factory.pipeline.runner): same key and a record -> nothing
to do; same key and a pending file -> resume (or restart) on its own; another key -> refuse and
name what changed, unless `--overwrite`.

A fingerprint names content, not paths: a dataset folder's is the hash of its contract and shard
hashes (from its manifest), a multi-part output's the hash of its parts', a file's the hash of
its bytes, a plain folder's (a model) the hash of its file names, sizes and edges. A folder on
an object store (`s3://...`) gets the same fingerprint as its local copy (from its manifest or
record, read from the store); a single object's is its size and ETag.

Exercise: `factory dedup IN -o OUT` twice (the second says it is up to date).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from factory.io.dataset import read_manifest
from factory.io.files import atomic_write_text, durable_write_done, fsync_dir
from factory.io.pending import PENDING, mark_writing, pending_owner, unmark_writing
from factory.io.store import is_store_url
from factory.schemas.errors import DatasetError

RECORD = "stage.json"
RECORD_FORMAT = "factory.stage/1"
_EDGE = 1 << 16  # bytes hashed at each end of a large file in a plain folder (model weights)


def is_remote(path: str | os.PathLike[str]) -> bool:
    return "://" in str(path)


def fingerprint(path: str | os.PathLike[str]) -> str:
    """Content fingerprint of an input: dataset folder, stage output, file, plain folder, or id."""
    s = str(path)
    if is_store_url(s):
        return _store_fingerprint(s)
    if s.startswith("hf:") or is_remote(s):
        return "id:" + s
    p = Path(s)
    if not p.exists():
        return "missing:" + s
    if p.is_file():
        return "file:" + _file_sha256(p)
    owner = pending_owner(p)
    if owner is not None:  # a model or stage folder whose run was killed: never read as complete
        raise DatasetError(f"{p}: half-written: the run writing {owner} did not finish",
                           hint="re-run the command that writes it (it resumes or restarts on its own)")
    if (p / "manifest.json").exists():
        return _dataset_fingerprint(read_manifest(p))
    rec = read_record(p)
    if rec is not None and rec.get("parts"):
        return _stage_fingerprint(rec["parts"])
    h = hashlib.sha256()
    for f in sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".")):
        size = f.stat().st_size
        h.update(f"{f.relative_to(p)}\0{size}\0".encode())
        with open(f, "rb") as fh:
            h.update(fh.read(_EDGE))
            if size > 2 * _EDGE:
                fh.seek(-_EDGE, os.SEEK_END)
                h.update(fh.read(_EDGE))
    return "folder:" + h.hexdigest()[:32]


def _dataset_fingerprint(m: Any) -> str:
    """A dataset folder's content: its contract and its shards' sha256 (from the manifest)."""
    h = hashlib.sha256(m.contract.encode())
    for shard in m.shards:
        h.update(shard.sha256.encode())
    return "dataset:" + h.hexdigest()[:32]


def _stage_fingerprint(parts: dict[str, str]) -> str:
    """A multi-part stage output's content: its parts' fingerprints, as its record lists them."""
    h = hashlib.sha256()
    for name, fp in sorted(parts.items()):
        h.update(f"{name}={fp}\n".encode())
    return "stage:" + h.hexdigest()[:32]


def _store_fingerprint(url: str) -> str:
    """fingerprint() of a URL on an object store, without downloading shards."""
    from factory.io import store

    url = url.rstrip("/")
    if store.read_bytes(store.join(url, "manifest.json")) is not None:
        return _dataset_fingerprint(read_manifest(url))
    recd = read_record(url)
    if recd is not None and recd.get("parts"):
        return _stage_fingerprint(recd["parts"])
    listing = store.list_files(url)
    if listing:  # a plain prefix (a model folder): names and sizes
        return "prefix:" + hashlib.sha256("\n".join(f"{k}\0{v}" for k, v in sorted(listing.items())).encode()).hexdigest()[:32]
    try:
        return "object:" + store.object_tag(url)
    except FileNotFoundError:
        return "missing:" + url


def _file_sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while b := f.read(1 << 20):
            h.update(b)
    return h.hexdigest()[:32]


def _read_json(path: Path | str) -> dict[str, Any] | None:
    try:
        if is_store_url(path):
            from factory.io import store

            raw = store.read_bytes(str(path))
            if raw is None:
                return None
            data = json.loads(raw.decode("utf-8"))
        else:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: unreadable stage record ({e})", hint="re-run the command with --overwrite") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object, found {type(data).__name__}", hint="re-run the command with --overwrite")
    return data


def _child(out: str | os.PathLike[str], name: str) -> Path | str:
    return f"{str(out).rstrip('/')}/{name}" if is_store_url(out) else Path(out) / name


def read_record(out: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The stage record of a folder (local or on an object store), or None."""
    rec = _read_json(_child(out, RECORD))
    if rec is not None and rec.get("format") != RECORD_FORMAT:
        raise DatasetError(f"{_child(out, RECORD)}: not a factory stage record (format {rec.get('format')!r})")
    return rec


def read_pending(out: str | os.PathLike[str]) -> dict[str, Any] | None:
    return _read_json(_child(out, PENDING))


def begin(out: Path, key: dict[str, Any], *, command: str) -> None:
    """Mark `out` as being written (before any part of it is touched)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / RECORD).unlink(missing_ok=True)
    body = {"format": RECORD_FORMAT, "key": key, "pid": os.getpid(), "command": command,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_text(out / PENDING, json.dumps(body, indent=2, default=str) + "\n")
    mark_writing(out)


def commit(out: Path, record: dict[str, Any]) -> None:
    """Write the record, then drop the pending mark: from here on the folder is complete."""
    atomic_write_text(out / RECORD, json.dumps({"format": RECORD_FORMAT, **record}, indent=2, default=str) + "\n")
    (out / PENDING).unlink(missing_ok=True)
    fsync_dir(out)
    durable_write_done()
    unmark_writing(out)


def release(out: Path) -> None:
    """The run failed: the pending mark stays (the folder is half-written), this process is done."""
    unmark_writing(out)


def parts_of(out: Path) -> dict[str, str]:
    """Fingerprints of every dataset folder inside `out` (itself as ".", and its sub-folders)."""
    parts = {}
    if (out / "manifest.json").exists():
        parts["."] = fingerprint(out)
    for sub in sorted(q for q in out.iterdir() if q.is_dir() and (q / "manifest.json").exists()):
        parts[sub.name] = fingerprint(sub)
    return parts


def describe_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two run keys, in words (`threshold 0.8 -> 0.9`, `input changed`)."""
    changes = []
    if old.get("stage") != new.get("stage"):
        changes.append(f"stage {old.get('stage')} -> {new.get('stage')}")
    oo, no = old.get("options") or {}, new.get("options") or {}
    for k in sorted(set(oo) | set(no)):
        if oo.get(k) != no.get(k):
            changes.append(f"{k} {_short(oo.get(k))} -> {_short(no.get(k))}")
    oi = [(i.get("option"), i.get("fingerprint")) for i in old.get("inputs") or []]
    ni = [(i.get("option"), i.get("fingerprint")) for i in new.get("inputs") or []]
    if oi != ni:
        names = sorted({o for o, _ in oi} ^ {o for o, _ in ni} | {o for (o, f) in ni if (o, f) not in oi})
        changes.append("input " + ", ".join(n for n in names if n) + " changed" if names else "inputs changed")
    return changes


def _short(v: Any) -> str:
    s = json.dumps(v, default=str)
    return s if len(s) <= 40 else s[:37] + "..."
