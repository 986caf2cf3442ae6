"""Output shards that do not depend on who writes them: `Aligned` feeds a DatasetWriter whole
row groups, so the n-th shard holds the same rows in the same row groups (the same bytes)
whether one process writes every shard in order or a Ray task writes only that one; and the Ray
side of dataset folders for the dedup engines: rows read by workers with their global position,
datasets written one shard per task and moved into place.

Exercise: `factory dedup problems/ --out deduped/ --executor ray`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from factory.io.dataset import DatasetWriter


class Aligned:
    """Feeds a DatasetWriter tables of exactly `row_group_rows` rows (the last one shorter), so
    the n-th output shard and its row groups hold the same rows, in the same groups, whoever
    writes it: this process in order, or a Ray worker writing only that shard (identical bytes)."""

    def __init__(self, writer: DatasetWriter) -> None:
        self.w, self.size = writer, writer.row_group_rows
        self.buf: list[pa.Table] = []
        self.rows = 0

    def write(self, t: pa.Table) -> None:
        self.buf.append(t)
        self.rows += t.num_rows
        if self.rows >= self.size:
            whole = pa.concat_tables(self.buf)
            cut = self.rows - self.rows % self.size
            for lo in range(0, cut, self.size):
                # one chunk per column: Parquet's page boundaries follow Arrow's chunks, so the
                # same rows arriving in other pieces would encode to other bytes
                self.w.write_table(whole.slice(lo, self.size).combine_chunks())
            rest = whole.slice(cut)
            self.buf, self.rows = ([rest] if rest.num_rows else []), rest.num_rows

    def flush(self) -> None:
        if self.rows:
            self.w.write_table(pa.concat_tables(self.buf).combine_chunks())
        self.buf, self.rows = [], 0


def start_ray():
    """Ray from the one set-up (factory.pipeline.ray_setup: joins RAY_ADDRESS, else starts locally)."""
    from factory.pipeline.ray_setup import start_ray as _start

    return _start()


def shard_items(path: Path) -> tuple[list[dict[str, Any]], int]:
    """One item per shard: its absolute path and the global position of its first row."""
    from factory.io.dataset import check_folder

    m = check_folder(path)
    items, off = [], 0
    for s in m.shards:
        items.append({"path": str((Path(path) / s.name).resolve()), "offset": off})
        off += s.rows
    return items, off


def _read_shards(items: pa.Table, *, columns: list[str] | None, batch_size: int):
    for path, off in zip(items.column("path").to_pylist(), items.column("offset").to_pylist()):
        pos = int(off)
        for rb in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=columns):
            t = pa.Table.from_batches([rb])
            yield t.append_column("_pos", pa.array(np.arange(pos, pos + t.num_rows, dtype=np.int64)))
            pos += t.num_rows


def rows_dataset(ray, path: Path, *, columns: list[str] | None, batch_size: int):
    items, n = shard_items(path)
    if not items:
        return None, 0
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    return ds.map_batches(_read_shards, batch_format="pyarrow", batch_size=1,
                          fn_kwargs={"columns": columns, "batch_size": batch_size}), n


def _write_shard(ds, folder: str, contract: str, schema: pa.Schema, rows_per_shard: int, row_group_rows: int) -> dict[str, Any]:
    """One output shard, written by the dataset writer (temporary name, verified footer, rename)
    into its own folder; returns its shard info and row counts by reject reason / family."""
    counts: dict[str, int] = {}
    with DatasetWriter(folder, contract, mode="create", schema=schema, rows_per_shard=rows_per_shard, row_group_rows=row_group_rows) as w:
        out = Aligned(w)
        for b in ds.iter_batches(batch_format="pyarrow", batch_size=row_group_rows):
            if "reject_reason" in schema.names:
                for item in pc.value_counts(b.column("reject_reason")).to_pylist():
                    if item["values"] is not None:
                        counts[item["values"]] = counts.get(item["values"], 0) + int(item["counts"])
            if "_family" in b.column_names:
                counts["_family"] = counts.get("_family", 0) + int(pc.sum(b.column("_family")).as_py() or 0)
            out.write(b.select(schema.names).cast(schema))
        out.flush()
    s = w.shards[0] if w.shards else None
    return {"shard": None if s is None else s.to_json(), "counts": counts}


def write_sorted(ray, ds, *, out: Path, scratch: Path, name: str, writer, sort_keys: list[str], log: Callable[[str], None]) -> dict[str, int]:
    """Sort `ds` by `sort_keys` (Ray Data sort), cut it at the writer's shard boundaries and write
    each shard in its own task; the finished shards are moved into `writer`'s folder (same
    filesystem: the scratch folder is beside --out) and listed in its manifest."""
    from factory.io.dataset import ShardInfo

    ds = ds.materialize()
    n = ds.count()  # block metadata; no rows read here
    srt = ds.sort(sort_keys).materialize() if n else ds
    per = writer.rows_per_shard
    cuts = list(range(per, n, per))
    pieces = srt.split_at_indices(cuts) if cuts else [srt]
    task = ray.remote(_write_shard)
    futs = [task.remote(p, str(scratch / f"{name}-{j:05d}"), writer.contract.name, writer.schema, per, writer.row_group_rows)
            for j, p in enumerate(pieces)]
    totals: dict[str, int] = {}
    for j, res in enumerate(ray.get(futs)):
        for k, v in res["counts"].items():
            totals[k] = totals.get(k, 0) + v
        if res["shard"] is None:
            continue
        info = ShardInfo(**res["shard"])
        final = f"{writer.shard_prefix}-{j:05d}.parquet"
        os.replace(scratch / f"{name}-{j:05d}" / info.name, out / final)
        writer.shards.append(ShardInfo(final, info.rows, info.bytes, info.sha256))
    log(f"ray: wrote {n} rows to {out} in {len(pieces)} shard task(s)")
    return totals
