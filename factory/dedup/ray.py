"""`factory dedup --executor ray`: fingerprints with Ray Data `map_batches`, LSH bucket grouping
as a Ray hash shuffle (`repartition(keys=["key"])`, Ray Data's groupby shuffle), then the same
candidate pairing, verification, components and keep rule as the local run — so both give the
same clusters (tested on a local Ray with 2 CPUs).

Documents are read from the dataset folder by the driver (streaming) and handed to Ray as Arrow
blocks; signatures come back into a memory-mapped file in document order; only bucket entries
whose key has two or more documents come back from the shuffle.

Exercise: `factory dedup problems/ --out deduped/ --executor ray`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from factory.schemas.errors import MissingDependencyError


def _fingerprint_batch(batch: pa.Table, *, ngram: int, params, boilerplate) -> pa.Table:
    from factory.dedup.core import fingerprint

    fp = fingerprint(batch.column("text").to_pylist(), ngram=ngram, params=params, boilerplate=boilerplate)
    cols: dict[str, Any] = {"doc": batch.column("doc"), "exact": pa.array(fp.exact, pa.uint64()), "has": pa.array(fp.has_shingles)}
    if fp.sigs is not None and fp.bands is not None:
        k, b = fp.sigs.shape[1], fp.bands.shape[1]
        cols["sig"] = pa.FixedSizeListArray.from_arrays(pa.array(fp.sigs.reshape(-1), pa.uint32()), k)
        cols["bands"] = pa.FixedSizeListArray.from_arrays(pa.array(fp.bands.reshape(-1), pa.uint64()), b)
    return pa.table(cols)


def _entries(batch: pa.Table) -> pa.Table:
    """One (band key, doc) row per band of every document that has shingles."""
    has = batch.column("has").to_numpy(zero_copy_only=False)
    bands = batch.column("bands")
    b = bands.type.list_size
    keys = bands.combine_chunks().flatten().to_numpy().reshape(-1, b)[has]
    docs = batch.column("doc").to_numpy()[has]
    return pa.table({"key": pa.array(keys.reshape(-1), pa.uint64()), "doc": pa.array(np.repeat(docs, b), pa.int64())})


def _shared_keys(batch: pa.Table) -> pa.Table:
    """Within one hash partition (all entries of its keys): keep keys held by >= 2 documents."""
    if batch.num_rows == 0:
        return batch
    keys = batch.column("key").to_numpy()
    docs = batch.column("doc").to_numpy()
    order = np.lexsort((docs, keys))
    keys, docs = keys[order], docs[order]
    _, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
    keep = counts[inv] >= 2
    return pa.table({"key": pa.array(keys[keep], pa.uint64()), "doc": pa.array(docs[keep], pa.int64())})


class _Entries:
    """BucketStore-shaped holder of the entries the shuffle sent back."""

    partitions = 1

    def __init__(self, entries: np.ndarray) -> None:
        self._entries = entries

    def groups(self):
        from factory.dedup.lsh import sort_entries

        yield sort_entries(self._entries)

    def close(self) -> None:
        self._entries = None


def ray_fingerprints(docs_iter, cfg, params, sig_path: Path, *, log: Callable[[str], None], boilerplate: np.ndarray | None = None):
    try:
        import ray
        import ray.data
    except ImportError:
        raise MissingDependencyError("ray", extra="ray", purpose="--executor ray") from None
    from factory.dedup.core import Pass1
    from factory.dedup.lsh import _ENTRY

    if not ray.is_initialized():
        # a local Ray on this machine; set RAY_ADDRESS to join a cluster instead
        ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    tables = []
    n_docs = 0
    for docs, texts in docs_iter:
        tables.append(pa.table({"doc": pa.array(docs, pa.int64()), "text": texts.to_arrow().cast(pa.string())}))
        n_docs += len(docs)
    exact = np.zeros(n_docs, dtype=np.uint64)
    k = params.num_perm if params is not None else 0
    if not n_docs:
        return Pass1(_Entries(np.empty(0, dtype=_ENTRY)), exact, 0)
    ds = ray.data.from_arrow(tables)
    fp = ds.map_batches(
        _fingerprint_batch, batch_format="pyarrow", batch_size=cfg.batch_size, fn_kwargs={"ngram": cfg.ngram, "params": params, "boilerplate": boilerplate}
    ).materialize()
    sigs = np.memmap(sig_path, dtype=np.uint32, mode="w+", shape=(n_docs, max(k, 1)))
    for batch in fp.iter_batches(batch_format="pyarrow", batch_size=None):
        docs = batch.column("doc").to_numpy()
        exact[docs] = batch.column("exact").to_numpy()
        if k:
            sigs[docs] = batch.column("sig").combine_chunks().flatten().to_numpy().reshape(-1, k)
    sigs.flush()
    del sigs
    entries = np.empty(0, dtype=_ENTRY)
    if params is not None:
        blocks = max(2, min(64, n_docs * params.bands // 500_000 + 2))
        shuffled = (
            fp.map_batches(_entries, batch_format="pyarrow", batch_size=cfg.batch_size)
            .repartition(blocks, keys=["key"])  # hash shuffle: every entry of a key lands in one block
            .map_batches(_shared_keys, batch_format="pyarrow", batch_size=None)
        )
        parts = []
        # a hash partition must reach _shared_keys as ONE block (all entries of its keys), so
        # block splitting is off while this shuffle runs
        dctx = ray.data.DataContext.get_current()
        old_max = dctx.target_max_block_size
        dctx.target_max_block_size = None
        try:
            for batch in shuffled.iter_batches(batch_format="pyarrow", batch_size=None):
                arr = np.empty(batch.num_rows, dtype=_ENTRY)
                arr["key"] = batch.column("key").to_numpy()
                arr["doc"] = batch.column("doc").to_numpy()
                parts.append(arr)
        finally:
            dctx.target_max_block_size = old_max
        if parts:
            entries = np.concatenate(parts)
    log(f"ray: {n_docs} documents fingerprinted, {len(entries)} bucket entries shared by 2+ documents")
    return Pass1(_Entries(entries), exact, n_docs)
