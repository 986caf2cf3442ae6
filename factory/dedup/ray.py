"""`factory dedup --executor ray`: every step that touches rows runs on Ray workers; the driver only plans, holds object references, and writes
the two manifests.

Dedup, step by step (each a Ray Data operator or task):
1. read: one task per input shard reads its rows (pyarrow) and numbers them by their global
   position (shard offsets come from the manifest); for `--by problem` on a trace folder the
   rows are grouped by `problem_id` (a Ray Data groupby) into one document per problem;
2. boilerplate: the id-hashed sample (the local run's) is counted in one task;
3. fingerprints: `map_batches` (exact hash, MinHash signature, band hashes), materialised in the
   object store;
4. band grouping: (band key, document) entries plus one exact-hash entry per document go
   through a Ray Data hash shuffle (`repartition(keys=["key"])`); each partition holds every
   entry of its keys and turns buckets into candidate pairs;
5. verification: candidate pairs are joined with the signatures (two Ray Data joins) and kept
   when their estimated Jaccard reaches the threshold;
6. clustering: one task gathers the pairs (proportional to the duplicates, not to the input),
   the documents they name (id, exact hash, correct count, and texts for the family rule and
   the report), and runs the local clustering code: family rule, components, keepers;
7. writing: rows are decorated with their cluster (a broadcast table of the non-singleton
   documents), split into kept and rejected, sorted by (id, position) with a Ray Data sort,
   cut at the shard boundaries (`split_at_indices`, from block metadata), and each shard is
   written by its own task with the dataset writer into the run's scratch folder beside
   `--out`; the driver moves the finished shards into place and writes the manifests.

The shards hold the same rows in the same row groups as the local run's (identical bytes). Paths
given to workers are absolute and lie in the input folder or beside the output folder, so a
cluster whose nodes share that filesystem works; nothing is read from the driver's disk.

Decontamination on Ray lives beside the local engine (factory/dedup/decontam.py `ray_decontam`);
both use factory/dedup/shards.py for positioned reads and per-shard writers.

Measured (bench/dedup.py --driver-memory, 2 cores, local Ray): see the module docstring there.

Exercise: `factory dedup problems/ --out deduped/ --executor ray`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from factory.dedup.shards import rows_dataset, start_ray, write_sorted

_SALT_EXACT = np.uint64(0xE7AC7E7AC7E7AC71)


# ---------------------------------------------------------------------------------------------
# reading rows with their global position (runs on workers)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# documents and fingerprints (workers)
# ---------------------------------------------------------------------------------------------


def _docs_of_rows(t: pa.Table, *, text_col: str, verdicts: list[str], trace_text: bool, answer_col: str | None) -> pa.Table:
    """One document per row: doc (position), doc_id, text, correct, answer."""
    import polars as pl

    from factory.dedup.sign import correct_mask

    b = pl.from_arrow(t)
    assert isinstance(b, pl.DataFrame)
    text = b.select(pl.coalesce(pl.col(text_col), pl.col("completion"))).to_series() if trace_text else b[text_col]
    return pa.table({
        "doc": t.column("_pos"),
        "doc_id": t.column("id").cast(pa.string()),
        "text": text.to_arrow().cast(pa.string()),
        "correct": pa.array(correct_mask(b, verdicts).astype(np.int64)),
        "answer": t.column(answer_col).cast(pa.string()) if answer_col else pa.nulls(t.num_rows, pa.string()),
    })


def _problem_docs(t: pa.Table, *, text_col: str, verdicts: list[str], answer_col: str | None) -> pa.Table:
    """The rows of some problems (every row of each, after a groupby shuffle): one document per
    problem_id at its first row's position, with its text and its count of correct traces."""
    import polars as pl

    from factory.dedup.sign import correct_mask

    b = pl.from_arrow(t)
    assert isinstance(b, pl.DataFrame)
    b = b.with_columns(pl.Series("_ok", correct_mask(b, verdicts).astype(np.int64)))
    g = (b.sort("_pos").group_by("problem_id", maintain_order=True)
         .agg(pl.col("_pos").first().alias("doc"), pl.col(text_col).first().alias("text"), pl.col("_ok").sum().alias("correct"),
              (pl.col(answer_col).first() if answer_col else pl.lit(None, pl.String)).alias("answer")))
    return pa.table({
        "doc": g["doc"].to_arrow().cast(pa.int64()),
        "doc_id": g["problem_id"].to_arrow().cast(pa.string()),
        "text": g["text"].to_arrow().cast(pa.string()),
        "correct": g["correct"].to_arrow().cast(pa.int64()),
        "answer": g["answer"].to_arrow().cast(pa.string()),
    })


def _sample(t: pa.Table, *, rate: float, cut: int) -> pa.Table:
    import polars as pl

    from factory.dedup.sign import _sampled

    pick = _sampled(pl.from_arrow(t.column("doc_id")).cast(pl.String), rate, np.uint64(cut))
    return t.filter(pa.array(pick))


def _fingerprint(t: pa.Table, *, ngram: int, params, boilerplate) -> pa.Table:
    import polars as pl

    from factory.dedup.sign import fingerprint, order_keys

    texts = pl.from_arrow(t.column("text")).cast(pl.String)
    fp = fingerprint(texts, ngram=ngram, params=params, boilerplate=boilerplate)
    cols: dict[str, Any] = {
        "doc": t.column("doc"), "doc_id": t.column("doc_id"), "correct": t.column("correct"),
        "okey": pa.array(order_keys(pl.from_arrow(t.column("doc_id"))), pa.uint64()),
        "exact": pa.array(fp.exact, pa.uint64()), "has": pa.array(fp.has_shingles),
    }
    if fp.sigs is not None and fp.bands is not None:
        k, nb = fp.sigs.shape[1], fp.bands.shape[1]
        cols["sig"] = pa.FixedSizeListArray.from_arrays(pa.array(fp.sigs.reshape(-1), pa.uint32()), k)
        cols["bands"] = pa.FixedSizeListArray.from_arrays(pa.array(fp.bands.reshape(-1), pa.uint64()), nb)
    return pa.table(cols)


def _entries(t: pa.Table) -> pa.Table:
    """(key, doc, okey, kind) per band of every document with shingles (kind 0), plus one
    exact-hash entry per document (kind 1)."""
    from factory.filters.textnorm import mix64

    docs = t.column("doc").to_numpy()
    okey = t.column("okey").to_numpy()
    exact = t.column("exact").to_numpy()
    keys = [mix64(exact ^ _SALT_EXACT)]
    dd, oo, kk = [docs], [okey], [np.ones(len(docs), np.int8)]
    if "bands" in t.column_names:
        has = t.column("has").to_numpy(zero_copy_only=False)
        nb = t.column("bands").type.list_size
        bands = t.column("bands").combine_chunks().flatten().to_numpy().reshape(-1, nb)[has]
        keys.append(bands.reshape(-1))
        dd.append(np.repeat(docs[has], nb))
        oo.append(np.repeat(okey[has], nb))
        kk.append(np.zeros(len(bands) * nb, np.int8))
    return pa.table({"key": pa.array(np.concatenate(keys), pa.uint64()), "doc": pa.array(np.concatenate(dd), pa.int64()),
                     "okey": pa.array(np.concatenate(oo), pa.uint64()), "kind": pa.array(np.concatenate(kk), pa.int8())})


def _bucket_pairs(t: pa.Table) -> pa.Table:
    """One hash partition (every entry of its keys) -> candidate pairs (a, b, kind): the local
    run's bucket_pairs, members of a big bucket ordered by (okey, doc) as there."""
    from factory.dedup.lsh import _ENTRY, bucket_pairs, sort_entries

    out_a, out_b, out_k = [], [], []
    if t.num_rows:
        key, doc = t.column("key").to_numpy(), t.column("doc").to_numpy()
        okey, kind = t.column("okey").to_numpy(), t.column("kind").to_numpy()
        uniq, dense = np.unique(doc, return_inverse=True)
        first = np.zeros(len(uniq), np.int64)
        first[dense] = np.arange(len(doc))
        rank = np.empty(len(uniq), np.int64)
        rank[np.lexsort((uniq, okey[first]))] = np.arange(len(uniq))
        for k in (0, 1):
            sel = kind == k
            if sel.sum() < 2:
                continue
            arr = np.empty(int(sel.sum()), dtype=_ENTRY)
            arr["key"], arr["doc"] = key[sel], dense[sel]
            p = bucket_pairs(sort_entries(arr), rank=rank)
            out_a.append(uniq[p[:, 0]])
            out_b.append(uniq[p[:, 1]])
            out_k.append(np.full(len(p), k, np.int8))
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
    return pa.table({"a": pa.array(cat(out_a, np.int64)), "b": pa.array(cat(out_b, np.int64)), "kind": pa.array(cat(out_k, np.int8))})


def _verify(t: pa.Table, *, threshold: float) -> pa.Table:
    if not t.num_rows:
        return pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.int64())})
    k = t.column("sig_a").type.list_size
    sa = t.column("sig_a").combine_chunks().flatten().to_numpy().reshape(-1, k)
    sb = t.column("sig_b").combine_chunks().flatten().to_numpy().reshape(-1, k)
    ok = np.mean(sa == sb, axis=1) >= threshold
    return pa.table({"a": t.column("a").filter(pa.array(ok)), "b": t.column("b").filter(pa.array(ok))})


# ---------------------------------------------------------------------------------------------
# tasks (workers)
# ---------------------------------------------------------------------------------------------


def _boilerplate_task(sampled, cfg) -> np.ndarray:
    """The local boilerplate rule on the sampled documents (distinct texts counted once)."""
    from factory.dedup.sign import _boilerplate_rule, _sample_part, prepare

    seen: set[int] = set()
    parts = []
    for b in sampled.iter_batches(batch_format="pyarrow", batch_size=cfg.batch_size):
        prep = prepare(b.column("text").to_pylist(), ngram=cfg.ngram)
        part = _sample_part(prep, np.arange(b.num_rows), seen)
        if part is not None:
            parts.append(part)
    return _boilerplate_rule(parts, len(seen), cfg, lambda _: None)


def _verify_task(cand, fp, *, threshold: float) -> pa.Table:
    """Verified candidate pairs: the signatures of the candidates' documents only are gathered
    (streamed from the fingerprints, filtered), then compared."""
    from factory.dedup.lsh import verify_pairs

    pairs = _pairs_of(cand)
    need = np.unique(pairs.reshape(-1))
    sigs, docs = [], []
    for b in fp.select_columns(["doc", "sig"]).iter_batches(batch_format="pyarrow", batch_size=None):
        d = b.column("doc").to_numpy()
        sel = np.flatnonzero(np.isin(d, need))
        if len(sel):
            k = b.column("sig").type.list_size
            sigs.append(b.column("sig").combine_chunks().flatten().to_numpy().reshape(-1, k)[sel])
            docs.append(d[sel])
    order = np.argsort(np.concatenate(docs)) if docs else np.zeros(0, np.int64)
    dense = np.concatenate(docs)[order] if docs else np.zeros(0, np.int64)
    table = np.concatenate(sigs)[order] if sigs else np.zeros((0, 1), np.uint32)
    kept, _ = verify_pairs(np.searchsorted(dense, pairs), table, threshold)
    got = dense[kept] if len(kept) else np.zeros((0, 2), np.int64)
    return pa.table({"a": pa.array(got[:, 0], pa.int64()), "b": pa.array(got[:, 1], pa.int64())})


def _pairs_of(ds) -> np.ndarray:
    if isinstance(ds, pa.Table):
        return np.stack([ds.column("a").to_numpy(), ds.column("b").to_numpy()], axis=1).astype(np.int64)
    parts = [np.stack([b.column("a").to_numpy(), b.column("b").to_numpy()], axis=1)
             for b in ds.iter_batches(batch_format="pyarrow", batch_size=None) if b.num_rows]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros((0, 2), np.int64)


def _cluster_task(exact_ds, near_ds, fp_ds, docs_ds, *, n_docs: int, cfg, params, top: int, key_by: str) -> tuple[pa.Table, dict[str, Any]]:
    """The local clustering on the documents named by some pair: returns the cluster table of
    those documents (doc, doc_id, cluster_id, kept, exact_dup, family_id) and the statistics."""
    import polars as pl

    from factory.dedup.clusters import _Families, _top_families, cluster, top_clusters
    from factory.dedup.family import doc_infos

    exact_pairs = _pairs_of(exact_ds)
    near = _pairs_of(near_ds) if near_ds is not None else np.zeros((0, 2), np.int64)
    near = np.unique(np.sort(near, axis=1), axis=0) if len(near) else near
    involved = np.unique(np.concatenate([exact_pairs.reshape(-1), near.reshape(-1)]))
    n = len(involved)
    info = pl.DataFrame({"doc": involved})
    cols = ["doc", "doc_id", "exact", "correct"]
    got = [pl.from_arrow(b).filter(pl.col("doc").is_in(involved))
           for b in fp_ds.select_columns(cols).iter_batches(batch_format="pyarrow", batch_size=None)]
    got = pl.concat(got) if got else pl.DataFrame(schema={"doc": pl.Int64, "doc_id": pl.String, "exact": pl.UInt64, "correct": pl.Int64})
    info = info.join(got, on="doc", how="left").sort("doc")
    doc_ids = info["doc_id"]
    exact = info["exact"].to_numpy().astype(np.uint64)
    correct = info["correct"].to_numpy().astype(np.int64) if cfg.keep != "smallest_id" else np.zeros(n, np.int64)
    rank_order = pl.DataFrame({"id": doc_ids, "h": exact, "i": np.arange(n)}).sort(["id", "h", "i"])["i"].to_numpy()
    rank = np.empty(n, np.int64)
    rank[rank_order] = np.arange(n)
    dense = lambda p: np.searchsorted(involved, p)  # noqa: E731
    ex_d, near_d = dense(exact_pairs), dense(near)
    # texts: whole for the family rule (near-pair documents), 300 characters for the report
    near_docs = np.unique(near.reshape(-1))
    texts: dict[int, str] = {}
    answers_raw: dict[int, str | None] = {}
    for b in docs_ds.select_columns(["doc", "text", "answer"]).iter_batches(batch_format="pyarrow", batch_size=None):
        d = b.column("doc").to_numpy()
        sel = np.flatnonzero(np.isin(d, involved))
        if not len(sel):
            continue
        sub = b.take(pa.array(sel))
        docs = sub.column("doc").to_numpy()
        dense_i = np.searchsorted(involved, docs).tolist()
        full = np.isin(docs, near_docs).tolist()
        for i, f, text, ans in zip(dense_i, full, sub.column("text").to_pylist(), sub.column("answer").to_pylist()):
            texts[i] = (text or "") if f else (text or "")[:300]
            answers_raw[i] = ans

    def family_info(pairs: np.ndarray):
        need = np.unique(pairs.reshape(-1)).tolist()
        infos = doc_infos([texts.get(d) for d in need], [answers_raw.get(d) for d in need])
        return dict(zip(need, infos)), {d: (texts.get(d) or "")[-200:] for d in need}

    cl = cluster(n, ex_d, near_d, correct=correct, rank=rank, rank_order=rank_order, exact=exact, cfg=cfg, family_info=family_info)
    cl.singletons = n_docs - n
    stats = cl.doc_stats(cfg, params)
    by_id = {str(doc_ids[i]): texts.get(i, "") for i in range(n)}
    stats["top_clusters"] = top_clusters(cl.labels, cl.keeper, doc_ids, top=top, texts_for=lambda ids: {k: by_id.get(k, "") for k in ids})
    fam: _Families | None = cl.fam
    stats["top_families"] = _top_families(fam, doc_ids, cl.answers, cl.tails, rank, top=top) if fam is not None else []
    ids = doc_ids.to_arrow().cast(pa.string())
    fam_doc = fam.doc if fam is not None else np.full(n, -1)
    table = pa.table({
        key_by: pa.array(involved, pa.int64()) if key_by == "doc" else ids,
        "cluster_id": ids.take(pa.array(cl.keeper)),
        "kept": pa.array(cl.is_kept),
        "exact_dup": pa.array(cl.exact_dup),
        "family_id": ids.take(pa.array(np.where(fam_doc >= 0, fam_doc, 0), mask=fam_doc < 0)) if n else pa.array([], pa.string()),
    })
    return table, stats


def _of_kind(t: pa.Table, *, kind: int) -> pa.Table:
    return t.filter(pc.equal(t.column("kind"), kind)).select(["a", "b"])


def _where_kept(t: pa.Table, *, kept: bool) -> pa.Table:
    m = t.column("_kept")
    return t.filter(m if kept else pc.invert(m))


_MAPPING_CACHE: dict[Any, Any] = {}


def _decorate(t: pa.Table, *, mapping_ref, key_by: str, doc_key: str) -> pa.Table:
    """Every row with its cluster: cluster_id, reject_reason, duplicate_of, meta.family_id,
    and `_kept`. Rows of documents in no pair are their own cluster."""
    import polars as pl
    import ray

    from factory.dedup.clusters import _set_family

    ref = mapping_ref[0]
    mapping = _MAPPING_CACHE.get(ref)
    if mapping is None:
        _MAPPING_CACHE.clear()
        mapping = _MAPPING_CACHE[ref] = pl.from_arrow(ray.get(ref))
    t = t.drop_columns([c for c in ("cluster_id", "reject_reason", "duplicate_of") if c in t.column_names])
    own = t.column(doc_key).cast(pa.string())
    keys = pl.DataFrame({key_by: pl.from_arrow(t.column("_pos") if key_by == "doc" else own).alias(key_by)})
    if key_by == "doc":
        keys = keys.with_columns(pl.col("doc").cast(pl.Int64))
    hit = keys.join(mapping, on=key_by, how="left", maintain_order="left")
    cluster = pa.array(hit["cluster_id"].fill_null(pl.from_arrow(own)).to_arrow()).cast(pa.string())
    kept = pa.array(hit["kept"].fill_null(True).to_numpy())
    exact_dup = hit["exact_dup"].fill_null(False).to_numpy()
    fam = hit["family_id"].to_arrow().cast(pa.string())
    t = _set_family(t, fam if fam.null_count < len(fam) else None)
    reason = pa.array(np.where(exact_dup, "dedup:exact", "dedup:near"), pa.string())
    t = t.append_column("cluster_id", cluster)
    t = t.append_column("reject_reason", pc.if_else(kept, pa.scalar(None, pa.string()), reason))
    t = t.append_column("duplicate_of", pc.if_else(kept, pa.scalar(None, pa.string()), cluster))
    t = t.append_column("_kept", kept)
    t = t.append_column("_family", pc.is_valid(fam))
    return t


# ---------------------------------------------------------------------------------------------
# the dedup stage on Ray (driver)
# ---------------------------------------------------------------------------------------------


def ray_dedup(src, out_path: Path, cfg, params, *, workdir: Path, mode, command: str, log: Callable[[str], None], top: int,
              run_params: dict[str, Any], t0: float):
    from factory.dedup.clusters import EXTRA_KEPT, EXTRA_REJECTED, DedupResult, _extend
    from factory.io.dataset import DatasetWriter

    ray = start_ray()
    dctx = ray.data.DataContext.get_current()
    old_max = dctx.target_max_block_size
    # a hash partition must reach its UDF as ONE block (every entry of its keys): no splitting
    dctx.target_max_block_size = None
    try:
        src_path = Path(src.path).resolve()
        trace_docs = src.contract == "trace" and src.by == "problem"
        answer_col = "reference_answer" if "reference_answer" in src.schema.names else None
        cols = ["id", src.text_column] + list(src.verdict_columns)
        if src.contract == "trace":
            cols += ["problem_id", "completion"]
        if answer_col:
            cols.append(answer_col)
        cols = list(dict.fromkeys(cols))
        rows, n_rows = rows_dataset(ray, src_path, columns=cols, batch_size=cfg.batch_size)
        kept_schema, rej_schema = _extend(src.schema, EXTRA_KEPT), _extend(src.schema, EXTRA_REJECTED)
        with (
            DatasetWriter(out_path, src.contract, mode=mode, command=command, params=run_params, schema=kept_schema) as w,
            DatasetWriter(out_path / "rejected", src.contract, mode=mode, command=command, params=run_params, schema=rej_schema) as wr,
        ):
            stats = _ray_dedup_body(ray, rows, n_rows, src, cfg, params, trace_docs=trace_docs, answer_col=answer_col, w=w, wr=wr,
                                    out_path=out_path, workdir=workdir, log=log, top=top, t0=t0)
            w.stats.update(stats)
            wr.stats.update({"rows": stats["rows_rejected"], "rejected_by": stats["rejected_by"]})
            w.run.update({"executor": "ray", "memory_budget": cfg.memory_budget})
        return DedupResult(stats=stats, out=out_path)
    finally:
        dctx.target_max_block_size = old_max


def _ray_dedup_body(ray, rows, n_rows, src, cfg, params, *, trace_docs, answer_col, w, wr, out_path, workdir, log, top, t0) -> dict[str, Any]:
    from factory.dedup.sign import _sample_cut

    zero = {"rows_in": 0, "rows_out": 0, "rows_rejected": 0, "documents": 0, "documents_kept": 0, "by": cfg.by, "method": cfg.method,
            "rejected_by": {}, "clusters": 0, "cluster_sizes": {}, "candidate_pairs": 0, "verified_pairs": 0, "top_clusters": []}
    if rows is None:
        return zero
    trace_text = src.by == "trace" and "completion" in src.schema.names and cfg.text_field is None
    doc_kw = {"text_col": src.text_column, "verdicts": list(src.verdict_columns), "answer_col": answer_col}
    if trace_docs:
        docs = rows.groupby("problem_id").map_groups(_problem_docs, batch_format="pyarrow", fn_kwargs=doc_kw)
    else:
        docs = rows.map_batches(_docs_of_rows, batch_format="pyarrow", batch_size=None, fn_kwargs={**doc_kw, "trace_text": trace_text})
    docs = docs.materialize()
    n_docs = docs.count()
    # -- boilerplate (the local run's sample and rule, in one task) -----------------------------
    boiler = np.zeros(0, np.uint64)
    if params is not None and cfg.boilerplate > 0 and n_docs:
        rate, cut = _sample_cut(src, cfg)  # the local run's rate (from the row count) and cut
        sampled = docs.map_batches(_sample, batch_format="pyarrow", batch_size=None, fn_kwargs={"rate": rate, "cut": int(cut)})
        # num_cpus=0: the task mostly waits on the Ray Data tasks it starts (no deadlock on 1 CPU)
        boiler = ray.get(ray.remote(num_cpus=0)(_boilerplate_task).remote(sampled, cfg))
        if len(boiler):
            log(f"boilerplate: {len(boiler)} shingle(s) left out of signatures")
    # -- fingerprints ---------------------------------------------------------------------------
    fp = docs.map_batches(_fingerprint, batch_format="pyarrow", batch_size=cfg.batch_size,
                          fn_kwargs={"ngram": cfg.ngram, "params": params, "boilerplate": boiler}).materialize()
    t_fp = time.time() - t0
    log(f"ray: {n_docs} documents fingerprinted ({t_fp:.1f}s)")
    # -- band grouping: one hash shuffle of (key, doc) entries ----------------------------------
    n_bands = params.bands if params is not None else 0
    parts = max(2, min(256, n_docs * (n_bands + 1) // 1_000_000 + 2))
    pairs = (fp.map_batches(_entries, batch_format="pyarrow", batch_size=cfg.batch_size)
             .repartition(parts, keys=["key"])
             .map_batches(_bucket_pairs, batch_format="pyarrow", batch_size=None)).materialize()
    exact_ds = pairs.map_batches(_of_kind, batch_format="pyarrow", batch_size=None, fn_kwargs={"kind": 1}).materialize()
    cand = pairs.map_batches(_of_kind, batch_format="pyarrow", batch_size=None, fn_kwargs={"kind": 0}).materialize()
    candidates = cand.count()
    log(f"ray: band grouping: {candidates} candidate pair(s) in {parts} partition(s) ({time.time() - t0:.1f}s)")
    near_ds = None
    if params is not None:
        near_ds = cand.select_columns(["a", "b"])
        task_pairs = cfg.ray_task_pairs or cfg.memory_budget // 4 // (2 * params.num_perm * 4)
        if cfg.verify and candidates and candidates <= task_pairs:
            # few candidates: one task keeps the signatures of their documents only (a join's
            # two shuffles of every signature cost more than that)
            near_ds = ray.remote(num_cpus=0)(_verify_task).remote(cand, fp, threshold=params.threshold)
        elif cfg.verify and candidates:
            jp = max(2, min(64, candidates // 200_000 + 2))
            sig = fp.select_columns(["doc", "sig"])
            near_ds = (near_ds.join(sig.rename_columns({"doc": "a", "sig": "sig_a"}), join_type="inner", num_partitions=jp, on=("a",))
                       .join(sig.rename_columns({"doc": "b", "sig": "sig_b"}), join_type="inner", num_partitions=jp, on=("b",))
                       .map_batches(_verify, batch_format="pyarrow", batch_size=None, fn_kwargs={"threshold": params.threshold}))
        if hasattr(near_ds, "materialize"):
            near_ds = near_ds.materialize()
        log(f"ray: verifying candidates ({time.time() - t0:.1f}s)")
    # -- clustering, on a worker ----------------------------------------------------------------
    key_by = "doc_id" if trace_docs else "doc"
    task = ray.remote(num_returns=2, num_cpus=0)(_cluster_task)
    mapping_ref, stats_ref = task.remote(exact_ds, near_ds, fp, docs, n_docs=n_docs, cfg=cfg, params=params, top=top, key_by=key_by)
    stats = ray.get(stats_ref)
    t_cluster = time.time() - t0 - t_fp
    log(f"ray: clustered: {candidates} candidate pair(s), {stats['verified_pairs']} verified, "
        f"{stats['documents_kept']} of {n_docs} documents kept ({t_cluster:.1f}s)")
    # -- writing, on workers --------------------------------------------------------------------
    full, _ = rows_dataset(ray, Path(src.path).resolve(), columns=None, batch_size=cfg.batch_size)
    doc_key = "problem_id" if trace_docs else "id"
    dec = full.map_batches(_decorate, batch_format="pyarrow", batch_size=cfg.batch_size,
                           fn_kwargs={"mapping_ref": [mapping_ref], "key_by": key_by, "doc_key": doc_key})
    kept = dec.map_batches(_where_kept, batch_format="pyarrow", batch_size=None, fn_kwargs={"kept": True})
    rej = dec.map_batches(_where_kept, batch_format="pyarrow", batch_size=None, fn_kwargs={"kept": False})
    kc = write_sorted(ray, kept, out=out_path, scratch=workdir, name="kept", writer=w, sort_keys=["id", "_pos"], log=log)
    rc = write_sorted(ray, rej, out=out_path / "rejected", scratch=workdir, name="rejected", writer=wr, sort_keys=["id", "_pos"], log=log)
    rows_out = sum(s.rows for s in w.shards)
    rows_rej = sum(s.rows for s in wr.shards)
    out = {
        "rows_in": int(n_rows),
        "rows_out": int(rows_out),
        "rows_rejected": int(rows_rej),
        **stats,
        "rejected_by": {k: rc[k] for k in ("dedup:exact", "dedup:near") if rc.get(k)},
        "candidate_pairs": int(candidates),
        "bucket_partitions": int(parts),
        "output_partitions": len(w.shards) + len(wr.shards),
        "boilerplate_shingles": len(boiler),
        "family_rows": int(kc.get("_family", 0)),
        "seconds": {"fingerprint": round(t_fp, 3), "cluster": round(t_cluster, 3), "total": round(time.time() - t0, 3)},
    }
    return out
