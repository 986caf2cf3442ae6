"""Dataset folders: the one reader/writer for sharded Parquet (zstd) that every stage uses.

A dataset folder holds `part-NNNNN.parquet` shards and `manifest.json`. Shards are written
under a temporary name (`.part-NNNNN.parquet.tmp`), fsynced, then renamed, so a shard either
exists whole or not at all. The manifest (contract, schema version, row counts, shard sizes
and sha256, the producing command and its parameters) is written last, the same way: a folder
with shards but no manifest is half-written, and readers say so instead of reading it.
Reads stream (Arrow record batches or a polars lazy scan) so memory stays bounded whatever
the folder's size. Appending adds new shards and rewrites the manifest.

The readers also take an object-store URL (`s3://bucket/prefix`, factory.io.store): the same
checks (pending mark, manifest, shard sizes), then shards are read with range requests, one row
group at a time; nothing is copied locally. Writers write local folders; a stage whose output is
a URL is staged locally and uploaded at commit by the stage runner (see factory.io.store for
what an object store guarantees and what it does not).

Exercise: `factory inspect DIR`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from factory.io.files import (
    DISK_ERRNOS,
    atomic_write_text,
    disk_error,
    durable_write_done,
    file_sha256,
)
from factory.io.files import fsync_dir as _fsync_dir
from factory.io.pending import pending_owner
from factory.io.store import is_store_url
from factory.schemas.contracts import CONTRACTS, SCHEMA_VERSION, Contract, contract_for
from factory.schemas.errors import DatasetError

MANIFEST = "manifest.json"
FORMAT = "factory.io.dataset/1"
SHARD_GLOB = "*.parquet"
DEFAULT_ROWS_PER_SHARD = 100_000
DEFAULT_ROW_GROUP_ROWS = 10_000
KNOWN_SCHEMA_VERSIONS = (SCHEMA_VERSION,)


@dataclass
class ShardInfo:
    name: str
    rows: int
    bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "rows": self.rows, "bytes": self.bytes, "sha256": self.sha256}


@dataclass
class Manifest:
    contract: str
    rows: int
    shards: list[ShardInfo]
    command: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION
    stats: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "contract": self.contract,
            "schema_version": self.schema_version,
            "rows": self.rows,
            "shards": [s.to_json() for s in self.shards],
            "command": self.command,
            "params": self.params,
            "stats": self.stats,
            # wall-clock facts live here, never in rows, so shards stay byte-identical
            "run": self.run,
        }

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> Manifest:
        """Parse and check a manifest: its format and schema version, every shard entry (a plain
        file name inside the folder, listed once, with integer rows and bytes), and that the
        shards' rows add up to the recorded total. Every problem names the manifest."""
        hint = "re-run the command that produced this folder (with --overwrite)"
        if not isinstance(data, dict):
            raise DatasetError(f"{where}: expected a JSON object, found {type(data).__name__}", hint=hint)
        if data.get("format") != FORMAT:
            raise DatasetError(f"{where}: not a factory dataset manifest (format {data.get('format')!r}, expected {FORMAT!r})")
        version = data.get("schema_version")
        if version not in KNOWN_SCHEMA_VERSIONS:
            raise DatasetError(
                f"{where}: schema_version {version!r} is not one this factory reads (known: {', '.join(KNOWN_SCHEMA_VERSIONS)})",
                hint="upgrade factory, or re-run the producing stage with this version",
            )
        try:
            shards = data["shards"]
            if not isinstance(shards, list):
                raise TypeError(f"'shards' must be a list, found {type(shards).__name__}")
            infos = []
            for i, s in enumerate(shards):
                if not isinstance(s, dict):
                    raise TypeError(f"shards[{i}] must be an object")
                info = ShardInfo(name=s["name"], rows=s["rows"], bytes=s["bytes"], sha256=s["sha256"])
                if not isinstance(info.name, str) or "/" in info.name or "\\" in info.name or info.name in ("", ".", "..") \
                        or info.name.startswith(".") or not info.name.endswith(".parquet"):
                    raise ValueError(f"shards[{i}].name {info.name!r} is not a shard file name inside the folder")
                for key in ("rows", "bytes"):
                    v = getattr(info, key)
                    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                        raise ValueError(f"shards[{i}].{key} must be a non-negative integer, found {v!r}")
                infos.append(info)
            names = [s.name for s in infos]
            dups = sorted({n for n in names if names.count(n) > 1})
            if dups:
                raise ValueError(f"shard(s) listed more than once: {dups}")
            rows = data["rows"]
            if isinstance(rows, bool) or not isinstance(rows, int):
                raise ValueError(f"'rows' must be an integer, found {rows!r}")
            total = sum(s.rows for s in infos)
            if rows != total:
                raise ValueError(f"'rows' says {rows} but the shards hold {total}")
            contract = data["contract"]
            if contract not in CONTRACTS:
                raise ValueError(f"unknown contract {contract!r}: expected one of {sorted(CONTRACTS)}")
            return cls(
                contract=contract,
                rows=rows,
                shards=infos,
                command=data.get("command"),
                params=data.get("params") or {},
                schema_version=version,
                stats=data.get("stats") or {},
                run=data.get("run") or {},
            )
        except (KeyError, TypeError, ValueError) as e:
            raise DatasetError(f"{where}: malformed manifest ({e})", hint=hint) from None


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    if is_store_url(path):
        return _read_remote_manifest(str(path))
    path = Path(path)
    mpath = path / MANIFEST
    if not path.exists():
        raise DatasetError(f"{path}: no such dataset folder")
    if not path.is_dir():
        raise DatasetError(f"{path}: expected a dataset folder, found a file", hint="pass the folder that holds manifest.json")
    owner = pending_owner(path)
    if owner is not None:
        raise DatasetError(
            f"{path}: half-written: the run writing {owner} did not finish",
            hint="re-run the command that writes it (it resumes or restarts on its own)",
        )
    if not mpath.exists():
        shards = sorted(p.name for p in path.glob(SHARD_GLOB))
        tmps = sorted(p.name for p in path.glob(".*.tmp"))
        if shards or tmps:
            raise DatasetError(
                f"{path}: half-written dataset: {len(shards)} shard(s) and {len(tmps)} temporary file(s) but no {MANIFEST} "
                "(the producing stage was interrupted)",
                hint="re-run the command that produced it: finished shards are kept and the stage resumes",
            )
        raise DatasetError(f"{path}: not a dataset folder (no {MANIFEST})")
    try:
        data = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"{mpath}: corrupted manifest ({e})") from None
    return Manifest.from_json(data, where=str(mpath))


def check_folder(path: str | os.PathLike[str], *, full: bool = False) -> Manifest:
    """Return the manifest after checking every shard it lists exists with the recorded size
    (cheap, always) and hash (`full=True`). A truncated or replaced shard is reported, not read."""
    if is_store_url(path):
        return _check_remote_folder(str(path), full=full)
    path = Path(path)
    m = read_manifest(path)
    for s in m.shards:
        p = path / s.name
        if not p.exists():
            raise DatasetError(f"{p}: shard listed in the manifest is missing", hint="re-run the producing stage")
        size = p.stat().st_size
        if size != s.bytes:
            raise DatasetError(
                f"{p}: shard is {size} bytes, the manifest recorded {s.bytes} (truncated or overwritten)",
                hint="re-run the producing stage to rewrite it",
            )
        if full and file_sha256(p) != s.sha256:
            raise DatasetError(f"{p}: shard content does not match the manifest's sha256 (corrupted)")
    return m


def shard_paths(path: str | os.PathLike[str]) -> list[Path]:
    """The shards a manifest names (URLs as `str` for a folder on an object store)."""
    m = check_folder(path)
    if is_store_url(path):
        return [_shard_url(str(path), s.name) for s in m.shards]  # type: ignore[misc]
    return [Path(path) / s.name for s in m.shards]


def iter_batches(
    path: str | os.PathLike[str],
    *,
    columns: list[str] | None = None,
    batch_size: int = 10_000,
) -> Iterator[pa.RecordBatch]:
    """Stream record batches shard by shard (bounded memory: one row group at a time)."""
    m = check_folder(path)
    for s in m.shards:
        p = _shard_url(str(path), s.name) if is_store_url(path) else Path(path) / s.name
        try:
            pf = pq.ParquetFile(_source(p))
            if pf.metadata.num_rows != s.rows:
                raise DatasetError(f"{p}: shard holds {pf.metadata.num_rows} rows, the manifest recorded {s.rows}",
                                   hint="re-run the producing stage")
            _check_shard_columns(p, pf.schema_arrow.names, m.contract)
            yield from pf.iter_batches(batch_size=batch_size, columns=columns)
        except (pa.ArrowInvalid, OSError) as e:
            raise DatasetError(f"{p}: unreadable shard ({e})", hint="re-run the producing stage") from None


def iter_rows(path: str | os.PathLike[str], *, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    for batch in iter_batches(path, columns=columns):
        yield from batch.to_pylist()


def read_table(path: str | os.PathLike[str], *, columns: list[str] | None = None) -> pa.Table:
    """Read a whole folder into memory; for small folders. Prefer iter_batches/scan."""
    paths = shard_paths(path)
    m = read_manifest(path)
    if not paths:
        return contract_for(m.contract).schema.empty_table() if m.contract in ("problem", "trace", "sft") else pa.table({})
    return pa.concat_tables([pq.read_table(_source(p), columns=columns) for p in paths], promote_options="default")


def scan(path: str | os.PathLike[str]):
    """A polars LazyFrame over the folder's shards (streams on collect)."""
    import polars as pl

    m = check_folder(path)
    if is_store_url(path):
        return _scan_remote(str(path), m)
    paths = [Path(path) / s.name for s in m.shards]
    if not paths:
        return pl.from_arrow(contract_for(m.contract).schema.empty_table()).lazy()
    for p in paths:  # footers only: a foreign shard is refused before any query runs on it
        _check_shard_columns(p, pq.read_schema(p).names, m.contract)
    return pl.scan_parquet([str(p) for p in paths])


# -- folders on an object store (factory.io.store) ---------------------------------------------
def _shard_url(url: str, name: str) -> str:
    return url.rstrip("/") + "/" + name


def _source(p: Any) -> Any:
    """What pyarrow opens: a local path as is, a URL as a range-reading file object."""
    if is_store_url(p):
        from factory.io.store import open_input

        return open_input(str(p))
    return p


def _read_remote_manifest(url: str) -> Manifest:
    """read_manifest for a URL: the same refusals (pending mark of the folder or its parent,
    shards without a manifest, a corrupted manifest), read from the store."""
    from factory.io import store
    from factory.io.pending import PENDING

    url = url.rstrip("/")
    parent = url.rsplit("/", 1)[0]
    for cand in (url, parent) if parent.count("/") >= 2 and not parent.endswith(":/") else (url,):
        if store.read_bytes(store.join(cand, PENDING)) is not None:
            raise DatasetError(f"{url}: half-written: the run writing {cand} did not finish",
                               hint="re-run the command that writes it (it resumes or restarts on its own)")
    raw = store.read_bytes(store.join(url, MANIFEST))
    if raw is None:
        names = store.list_files(url)
        shards = [n for n in names if "/" not in n and n.endswith(".parquet")]
        if shards:
            raise DatasetError(
                f"{url}: half-written dataset: {len(shards)} shard(s) but no {MANIFEST} (the producing stage was interrupted)",
                hint="re-run the command that produced it")
        if not names:
            raise DatasetError(f"{url}: no such dataset folder (nothing under that prefix)",
                               hint="check the bucket and prefix, or run the stage that writes it")
        raise DatasetError(f"{url}: not a dataset folder (no {MANIFEST})")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"{url}/{MANIFEST}: corrupted manifest ({e})") from None
    return Manifest.from_json(data, where=f"{url}/{MANIFEST}")


def _check_remote_folder(url: str, *, full: bool) -> Manifest:
    from factory.io import store

    m = _read_remote_manifest(url)
    sizes = store.list_files(url.rstrip("/"))  # one listing for every shard's size
    for s in m.shards:
        u = _shard_url(url, s.name)
        if s.name not in sizes:
            raise DatasetError(f"{u}: shard listed in the manifest is missing", hint="re-run the producing stage")
        if sizes[s.name] != s.bytes:
            raise DatasetError(f"{u}: shard is {sizes[s.name]} bytes, the manifest recorded {s.bytes} (truncated or overwritten)",
                               hint="re-run the producing stage to rewrite it")
        if full:
            import hashlib

            h = hashlib.sha256()
            with store.open_input(u) as f:
                while b := f.read(1 << 22):
                    h.update(b)
            if h.hexdigest() != s.sha256:
                raise DatasetError(f"{u}: shard content does not match the manifest's sha256 (corrupted)")
    return m


def _scan_remote(url: str, m: Manifest):
    """A polars LazyFrame over remote shards: a pyarrow dataset on the same fsspec client
    (range reads, column projection; the footers are checked first, like local shards)."""
    import polars as pl
    import pyarrow.dataset as pads
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    from factory.io import store

    if not m.shards:
        return pl.from_arrow(contract_for(m.contract).schema.empty_table()).lazy()
    fs, root = store.filesystem(url)
    files = [f"{root.rstrip('/')}/{s.name}" for s in m.shards]
    for s, f in zip(m.shards, files, strict=True):
        with fs.open(f, "rb") as fh:
            _check_shard_columns(_shard_url(url, s.name), pq.read_schema(fh).names, m.contract)  # type: ignore[arg-type]
    ds = pads.dataset(files, format="parquet", filesystem=PyFileSystem(FSSpecHandler(fs)))
    return pl.scan_pyarrow_dataset(ds)


def _check_shard_columns(p: Path, names: list[str], contract: str) -> None:
    missing = [n for n in CONTRACTS[contract].schema.names if n not in names]
    if missing:
        raise DatasetError(f"{p}: shard lacks the {contract} contract's column(s) {missing} (a foreign shard?)",
                           hint="re-run the producing stage")


class DatasetWriter:
    """Write a dataset folder shard by shard; memory stays at one row group.

    mode: "create" (the folder must be empty or absent), "overwrite" (remove old shards first),
    "append" (keep finished shards, add new ones), "resume" (like append but the folder may be
    half-written: finished shards are kept, temporary files removed).

    Use as a context manager; the manifest is written by `close()` only when no exception
    escaped, so an interrupted stage leaves a half-written folder that readers refuse.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        contract: str | Contract,
        *,
        mode: Literal["create", "overwrite", "append", "resume"] = "create",
        command: str | None = None,
        params: dict[str, Any] | None = None,
        rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
        schema: pa.Schema | None = None,
        shard_prefix: str = "part",
        validate: bool = True,
    ) -> None:
        self.path = Path(path)
        self.contract = contract if isinstance(contract, Contract) else contract_for(contract)
        self.schema = schema or self.contract.schema
        self.command = command
        self.params = dict(params or {})
        self.rows_per_shard = rows_per_shard
        self.row_group_rows = row_group_rows
        self.shard_prefix = shard_prefix
        self.validate = validate
        self.stats: dict[str, Any] = {}
        self.run: dict[str, Any] = {}
        self.shards: list[ShardInfo] = []
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None
        self._final: Path | None = None
        self._rows_in_shard = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._t0 = time.time()
        self._closed = False
        self._prepare(mode)

    # -- setup ------------------------------------------------------------------------------
    def _prepare(self, mode: str) -> None:
        p = self.path
        if p.exists() and not p.is_dir():
            raise DatasetError(f"{p}: expected a folder, found a file")
        p.mkdir(parents=True, exist_ok=True)
        for tmp in p.glob(".*.tmp"):
            tmp.unlink()
        existing = sorted(p.glob(SHARD_GLOB))
        has_manifest = (p / MANIFEST).exists()
        if mode == "create":
            if existing or has_manifest:
                raise DatasetError(
                    f"{p}: output folder already holds a dataset ({len(existing)} shard(s))",
                    hint="choose another --out, or pass --overwrite to replace it",
                )
        elif mode == "overwrite":
            for s in existing:
                s.unlink()
            if has_manifest:
                (p / MANIFEST).unlink()
        elif mode == "append":
            if has_manifest:
                m = check_folder(p)
                if m.contract != self.contract.name:
                    raise DatasetError(f"{p}: holds {m.contract} rows, cannot append {self.contract.name} rows")
                self.shards = list(m.shards)
                self.stats = m.stats
            elif existing:
                raise DatasetError(f"{p}: half-written dataset (shards but no manifest); use resume mode to keep them")
        elif mode == "resume":
            known = {}
            if has_manifest:
                m = read_manifest(p)
                known = {s.name: s for s in m.shards}
                (p / MANIFEST).unlink()  # the folder is being written again: readers must wait
            for s in existing:
                info = known.get(s.name)
                if info is not None and info.bytes == s.stat().st_size:
                    self.shards.append(info)
                    continue
                try:
                    rows = pq.ParquetFile(s).metadata.num_rows
                except Exception:
                    s.unlink()  # a shard that never finished cannot be trusted
                    continue
                self.shards.append(ShardInfo(s.name, rows, s.stat().st_size, file_sha256(s)))
        else:
            raise ValueError(f"unknown mode {mode!r}")

    # -- writing ----------------------------------------------------------------------------
    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards) + self._rows_in_shard + self._pending_rows

    def _next_shard_name(self) -> str:
        taken = {s.name for s in self.shards}
        i = len(self.shards)
        while True:
            name = f"{self.shard_prefix}-{i:05d}.parquet"
            if name not in taken and not (self.path / name).exists():
                return name
            i += 1

    def write_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        self.write_table(pa.Table.from_pylist(rows, schema=self.schema))

    def write_table(self, table: pa.Table | pa.RecordBatch) -> None:
        try:
            self._write_table(table)
        except OSError as e:
            if e.errno in DISK_ERRNOS:
                self.abort()
                raise disk_error(e, self.path) from None
            raise

    def _write_table(self, table: pa.Table | pa.RecordBatch) -> None:
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if self.validate and self.schema is self.contract.schema:
            self.contract.validate_table(table, where=str(self.path))
        if table.schema != self.schema:
            try:
                table = table.select(self.schema.names).cast(self.schema)
            except (pa.ArrowInvalid, KeyError, pa.ArrowTypeError) as e:
                raise DatasetError(f"{self.path}: rows do not match the output schema: {e}") from None
        for batch in table.to_batches(max_chunksize=self.row_group_rows):
            self._pending.append(batch)
            self._pending_rows += batch.num_rows
            if self._pending_rows >= self.row_group_rows:
                self._flush_pending()

    def _flush_pending(self) -> None:
        while self._pending_rows:
            room = self.rows_per_shard - self._rows_in_shard
            tbl = pa.Table.from_batches(self._pending, schema=self.schema)
            take = tbl.slice(0, room)
            rest = tbl.slice(room)
            if self._writer is None:
                self._open_shard()
            assert self._writer is not None
            self._writer.write_table(take, row_group_size=self.row_group_rows)
            self._rows_in_shard += take.num_rows
            self._pending = rest.to_batches() if rest.num_rows else []
            self._pending_rows = rest.num_rows
            if self._rows_in_shard >= self.rows_per_shard:
                self._finish_shard()

    def _open_shard(self) -> None:
        name = self._next_shard_name()
        self._final = self.path / name
        self._tmp = self.path / f".{name}.tmp"
        self._writer = pq.ParquetWriter(
            self._tmp, self.schema, compression="zstd", write_statistics=True, use_dictionary=True
        )
        self._rows_in_shard = 0

    def _finish_shard(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        assert self._tmp is not None and self._final is not None
        with open(self._tmp, "rb+") as f:
            os.fsync(f.fileno())
        # never give a shard its final name unless it is whole: its footer must read back
        # with the rows written (a full disk can leave a truncated file without an error)
        try:
            rows = pq.ParquetFile(self._tmp).metadata.num_rows
        except (pa.ArrowInvalid, OSError) as e:
            raise DatasetError(f"{self._tmp}: the shard just written does not read back ({e})",
                               hint="check the disk (free space, errors), then re-run the command") from None
        if rows != self._rows_in_shard:
            raise DatasetError(f"{self._tmp}: the shard just written holds {rows} rows, expected {self._rows_in_shard}",
                               hint="check the disk (free space, errors), then re-run the command")
        os.replace(self._tmp, self._final)
        _fsync_dir(self.path)
        durable_write_done()
        self.shards.append(
            ShardInfo(self._final.name, self._rows_in_shard, self._final.stat().st_size, file_sha256(self._final))
        )
        self._writer = None
        self._tmp = self._final = None
        self._rows_in_shard = 0

    def flush(self) -> None:
        """Make every row written so far durable as a finished shard (used by resumable stages)."""
        try:
            self._flush_pending()
            self._finish_shard()
        except OSError as e:
            if e.errno in DISK_ERRNOS:
                self.abort()
                raise disk_error(e, self.path) from None
            raise

    def close(self) -> Manifest:
        if self._closed:
            raise DatasetError(f"{self.path}: writer already closed")
        self.flush()
        self._closed = True
        self.run.setdefault("finished_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.run.setdefault("seconds", round(time.time() - self._t0, 3))
        m = Manifest(
            contract=self.contract.name,
            rows=sum(s.rows for s in self.shards),
            shards=self.shards,
            command=self.command,
            params=self.params,
            stats=self.stats,
            run=self.run,
        )
        atomic_write_text(self.path / MANIFEST, json.dumps(m.to_json(), indent=2, ensure_ascii=False, default=str) + "\n")
        return m

    def abort(self) -> None:
        """Drop the shard in progress; finished shards stay for a resume. No manifest."""
        if self._writer is not None:
            try:
                self._writer.close()
            except (OSError, pa.ArrowException):
                pass  # the shard is dropped anyway; the error that got us here is the one to report
            finally:
                if self._tmp is not None:
                    self._tmp.unlink(missing_ok=True)
        self._writer = None
        self._closed = True

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_dataset(
    path: str | os.PathLike[str],
    contract: str,
    rows: Iterable[dict[str, Any]] | pa.Table,
    *,
    mode: Literal["create", "overwrite", "append"] = "create",
    command: str | None = None,
    params: dict[str, Any] | None = None,
    stats: dict[str, Any] | None = None,
    rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
) -> Manifest:
    """Write rows (dicts or an Arrow table) as a complete dataset folder in one call."""
    with DatasetWriter(path, contract, mode=mode, command=command, params=params, rows_per_shard=rows_per_shard) as w:
        if isinstance(rows, pa.Table):
            w.write_table(rows)
        else:
            buf: list[dict[str, Any]] = []
            for r in rows:
                buf.append(r)
                if len(buf) >= w.row_group_rows:
                    w.write_rows(buf)
                    buf = []
            w.write_rows(buf)
        if stats:
            w.stats.update(stats)
    return read_manifest(path)
