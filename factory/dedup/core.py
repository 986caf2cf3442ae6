"""Exact and MinHash-LSH near-duplicate removal over a Problem or Trace dataset folder.

Two streaming passes over the input's shards, memory bounded by `memory_budget`:

1. Documents -> fingerprints. A document is a problem (`by="problem"`, the default: a Problem
   row, or the distinct problems of a Trace folder) or one trace's text (`by="trace"`). Each
   batch of documents is normalised, hashed whole (exact key), shingled (word n-grams) and
   MinHashed on all cores (worker threads by default: polars and numpy release the GIL, and
   threads need no start-up or pickling; spawned processes with `pool="processes"`; or Ray
   Data `map_batches`); band hashes go to a BucketStore (spilled to disk past the budget),
   signatures to a file, from which only candidates' rows are read back for verification.
2. Buckets -> candidate pairs -> verified pairs (estimated Jaccard >= threshold) + exact pairs
   -> the family rule (factory/dedup/family.py: verified near pairs of problems whose reference
   answers differ, or that ask another question after a shared preamble, are a family, not
   duplicates) -> connected components -> one keeper per component: the most verified-correct
   traces (a `verdict_*` column saying correct/pass), ties to the smallest id. Every row then
   gets `cluster_id` (the keeper's id), family members `meta.family_id`; a removed row goes to
   `OUT/rejected/` with `reject_reason` (`dedup:exact` or `dedup:near`) and `duplicate_of`.

A text over LONG_TEXT_CHARS (1M characters) is normalised, shingled and MinHashed a piece at a
time with the same fingerprints (filters/textnorm.py `text_pieces`), so the budget holds for
any row size: one 50 MB row of two-letter words took dedup to 4.3 GB before, 0.55 GB now.

Output rows are written in id order (range-partitioned by id rank when they exceed the
budget), so the output bytes do not depend on shard order or on the number of workers.

Measured (bench/dedup.py, 2 cores): 1,000,000 synthetic problems in 15 s with a peak of 0.69 GB
under `--memory-budget 1GB`; worker threads instead of spawned processes took the 1M run from
44 s to 15 s and a 60k-document run from 1.33 s to 0.76 s (peak 388 -> 59 MB).

Exercise: `factory dedup problems/ --out deduped/ --threshold 0.8 --memory-budget 2GB`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from factory.dedup.clusters import (
    EXTRA_KEPT,
    EXTRA_REJECTED,
    DedupResult,
    _extend,
    _set_family,
    _top_families,
    cluster,
    top_clusters,
)
from factory.dedup.family import DocInfo, doc_infos
from factory.dedup.lsh import (
    BucketStore,
    bucket_pairs,
    components,
    exact_pairs,
    verify_pairs,
    verify_pairs_from_file,
)
from factory.dedup.options import DedupOptions
from factory.dedup.scratch import scratch_dir
from factory.dedup.shards import Aligned
from factory.dedup.sign import (
    Fingerprints,
    _boilerplate_rule,
    _fingerprint_job,
    _sample_cut,
    _sample_part,
    _sampled,
    _worker_init,
    correct_mask,
    fingerprint,
    order_keys,
    prepare,
    sign,
)
from factory.filters.minhash import MinHashParams
from factory.io.dataset import (
    DatasetWriter,
    check_folder,
    iter_batches,
    read_manifest,
    shard_paths,
)
from factory.schemas.errors import DatasetError, InputError
from factory.schemas.options import check_some, defaults
from factory.schemas.sizes import parse_size

By = Literal["problem", "trace"]
Method = Literal["exact", "minhash"]
KeepRule = Literal["most_correct", "smallest_id"]
Executor = Literal["local", "ray"]

VERDICT_COLUMNS = ("verdict_math", "verdict_code")


# the user-facing settings are declared once, in DedupOptions: DedupConfig takes their defaults
# and their checks from there (verify as a bool, memory_budget in bytes)
_OPTS = defaults(DedupOptions)
_SHARED = ("by", "method", "ngram", "num_perm", "bands", "rows", "threshold", "seed", "keep", "family", "text_field",
           "boilerplate", "workers", "pool", "executor")


@dataclass(frozen=True)
class DedupConfig:
    """The engine's settings: those a user sets (DedupOptions) plus tuning knobs for tests and
    benches (batch sizes, partitions, the family rule's parameters)."""

    by: By = _OPTS["by"]
    method: Method = _OPTS["method"]
    ngram: int = _OPTS["ngram"]
    num_perm: int = _OPTS["num_perm"]
    bands: int = _OPTS["bands"]
    rows: int = _OPTS["rows"]
    threshold: float = _OPTS["threshold"]
    seed: int = _OPTS["seed"]
    verify: bool = _OPTS["verify"] == "jaccard"
    keep: KeepRule = _OPTS["keep"]
    text_field: str | None = _OPTS["text_field"]
    memory_budget: int = parse_size(_OPTS["memory_budget"]) or 0
    workers: int = _OPTS["workers"]
    executor: Executor = _OPTS["executor"]
    batch_size: int = 10_000
    pool: Literal["threads", "processes"] = _OPTS["pool"]
    # shingles in >= this fraction of distinct texts (and >= boilerplate_min_docs of them) are
    # shared boilerplate, left out of signatures; 0 turns it off
    boilerplate: float = _OPTS["boilerplate"]
    boilerplate_min_docs: int = 20
    # 5,000 sampled texts: a shingle in 1% of all texts is seen ~50 +- 7 times
    boilerplate_sample: int = 5_000
    # 0 = derived from memory_budget; set to force spilling (tests, tuning)
    bucket_partitions: int = 0
    output_partitions: int = 0
    # Ray: up to this many candidate pairs are verified in one task holding their documents'
    # signatures, more by two Ray Data joins; 0 = what fits a quarter of memory_budget
    ray_task_pairs: int = 0
    # the family rule (factory/dedup/family.py): near-duplicate problems whose reference answers
    # differ ("answer"), or that also ask a different question after a shared preamble
    # ("answer+question", the default), are kept and marked with meta.family_id; "none" drops
    # every verified near-duplicate as before. Applies to --by problem.
    family: Literal["answer+question", "answer", "none"] = _OPTS["family"]
    # rule 2 needs the common word prefix to cover at least this fraction of the shorter text
    family_preamble: float = 0.5

    def problems(self) -> list[str]:
        """Every invalid setting at once (run_dedup's check; the user-facing ones by DedupOptions' rules)."""
        values = {k: getattr(self, k) for k in _SHARED}
        values["verify"] = {True: "jaccard", False: "none"}.get(self.verify, self.verify)
        values["memory_budget"] = f"{self.memory_budget}B" if isinstance(self.memory_budget, int) else self.memory_budget
        out = check_some(DedupOptions, values)
        if not (0.0 <= float(self.family_preamble) <= 1.0):
            out.append(f"family_preamble: expected a fraction in [0, 1], found {self.family_preamble!r}")
        if self.batch_size < 1:
            out.append(f"batch_size: expected >= 1, found {self.batch_size}")
        return out

    def minhash(self) -> MinHashParams:
        # candidates are verified by estimated Jaccard, so the bands can favour recall (12 x 10
        # at 0.8: P(candidate | J=0.85) = 0.93 vs 0.69 with datasketch's 9 x 13) while the
        # verification step restores precision
        fn_weight = 0.8 if self.verify else 0.5
        return MinHashParams(self.num_perm, self.bands, self.rows, self.seed, self.threshold, fn_weight).resolved()


# ---------------------------------------------------------------------------------------------
# fingerprints of one batch of documents (runs in worker threads or processes)
# ---------------------------------------------------------------------------------------------


def boilerplate_shingles(src: Source, cfg: DedupConfig, *, log: Callable[[str], None]) -> np.ndarray:
    """Shingles found in at least `boilerplate` (a fraction) of the distinct texts, and in at
    least `boilerplate_min_docs` of them: a shared instruction header or closing sentence.
    Counted on a sample chosen by hashing each document's id, so the result depends on the
    set of documents, never on their order; exact repeats count once, so a problem copied
    many times is not mistaken for boilerplate."""
    if cfg.method != "minhash" or cfg.boilerplate <= 0 or src.rows == 0:
        return np.zeros(0, np.uint64)
    key = "problem_id" if (src.contract == "trace" and src.by == "problem") else "id"
    rate, cut = _sample_cut(src, cfg)
    # sampled texts are gathered into groups of ~32 MB, each normalised and shingled on all
    # cores (threads: polars and numpy release the GIL)
    from concurrent.futures import ThreadPoolExecutor

    workers = _workers(cfg)
    seen: set[int] = set()
    parts: list[np.ndarray] = []
    group: list[pl.Series] = []
    group_bytes = 0

    def flush(pool: ThreadPoolExecutor) -> None:
        nonlocal group, group_bytes
        texts = pl.concat(group)
        group, group_bytes = [], 0
        step = -(-len(texts) // workers)
        for prep in pool.map(lambda i: prepare(texts[i : i + step], ngram=cfg.ngram), range(0, len(texts), step)):
            part = _sample_part(prep, np.arange(len(prep.exact)), seen)
            if part is not None:
                parts.append(part)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for rb in iter_batches(src.path, columns=list(dict.fromkeys([key, src.text_column])), batch_size=cfg.batch_size):
            b = pl.from_arrow(rb)
            assert isinstance(b, pl.DataFrame)
            pick = _sampled(b[key], rate, cut)
            if pick.any():
                group.append(b[src.text_column].filter(pl.Series(pick)))
                group_bytes += int(group[-1].str.len_bytes().sum() or 0)
                if group_bytes >= 32 << 20:
                    flush(pool)
        if group:
            flush(pool)
    n_texts = len(seen)
    return _boilerplate_rule(parts, n_texts, cfg, log)


# ---------------------------------------------------------------------------------------------
# reading documents
# ---------------------------------------------------------------------------------------------


@dataclass
class Source:
    path: Path
    contract: str
    rows: int
    schema: pa.Schema
    verdict_columns: list[str]
    text_column: str
    by: By


def open_source(path: str | os.PathLike[str], cfg: DedupConfig) -> Source:
    path = Path(path)
    m = check_folder(path)
    if m.contract not in ("problem", "trace"):
        raise DatasetError(f"{path}: dedup reads problem or trace folders, found a {m.contract} folder")
    paths = shard_paths(path)
    if paths:
        schema = pq.read_schema(paths[0])
    else:
        from factory.schemas.contracts import contract_for

        schema = contract_for(m.contract).schema
    if cfg.by == "trace" and m.contract != "trace":
        raise InputError(
            f"--by trace needs a trace folder, found a {m.contract} folder",
            path=str(path),
            hint="use --by problem for problem folders",
        )
    text_col = cfg.text_field or ("problem" if cfg.by == "problem" else "reasoning")
    if text_col not in schema.names:
        raise InputError(f"text column {text_col!r} not found (columns: {schema.names})", path=str(path), field=text_col)
    verdicts = [c for c in VERDICT_COLUMNS if c in schema.names]
    return Source(path, m.contract, m.rows, schema, verdicts, text_col, cfg.by)


@dataclass
class DocIndex:
    """Per-document and per-row arrays gathered in pass 1."""

    doc_ids: list[pl.Series] = field(default_factory=list)  # id of each document (problem_id for traces by problem)
    row_doc: list[np.ndarray] = field(default_factory=list)  # document index of each input row
    row_ids: list[pl.Series] = field(default_factory=list)
    correct: list[np.ndarray] = field(default_factory=list)  # per document (finalised later)


def iter_docs(src: Source, cfg: DedupConfig, index: DocIndex) -> Iterator[tuple[np.ndarray, pl.Series]]:
    """Yield (doc indices, texts) of new documents, batch by batch, filling `index`."""
    cols = ["id", src.text_column] + src.verdict_columns
    if src.contract == "trace":
        cols += ["problem_id", "completion"]
    cols = list(dict.fromkeys(cols))
    seen: dict[str, int] = {}
    n_docs = 0
    correct_by_doc: list[int] = []
    for rb in iter_batches(src.path, columns=cols, batch_size=cfg.batch_size):
        b = pl.from_arrow(rb)
        assert isinstance(b, pl.DataFrame)
        ok = correct_mask(b, src.verdict_columns)
        index.row_ids.append(b["id"])
        if src.contract == "trace" and src.by == "problem":
            # a document per distinct problem_id; its text is the (copied) problem statement
            pids = b["problem_id"].to_list()
            row_doc = np.empty(b.height, dtype=np.int64)
            new_idx, new_pos = [], []
            for i, pid in enumerate(pids):
                d = seen.get(pid)
                if d is None:
                    d = seen[pid] = n_docs
                    n_docs += 1
                    correct_by_doc.append(0)
                    new_idx.append(d)
                    new_pos.append(i)
                row_doc[i] = d
                if ok[i]:
                    correct_by_doc[d] += 1
            index.row_doc.append(row_doc)
            if new_pos:
                sel = b[new_pos]
                index.doc_ids.append(sel["problem_id"])
                yield np.asarray(new_idx, dtype=np.int64), sel[src.text_column]
        else:
            docs = np.arange(n_docs, n_docs + b.height, dtype=np.int64)
            n_docs += b.height
            index.row_doc.append(docs)
            index.doc_ids.append(b["id"])
            correct_by_doc.extend(ok.astype(np.int64).tolist())
            text = b[src.text_column]
            if src.by == "trace" and "completion" in b.columns and cfg.text_field is None:
                # a trace without a separate reasoning field is judged by its whole completion
                text = b.select(pl.coalesce(pl.col(src.text_column), pl.col("completion"))).to_series()
            yield docs, text
    index.correct = [np.asarray(correct_by_doc, dtype=np.int64)]


# ---------------------------------------------------------------------------------------------
# the stage
# ---------------------------------------------------------------------------------------------


def run_dedup(
    input_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    cfg: DedupConfig,
    *,
    mode: Literal["create", "overwrite"] = "create",
    command: str = "factory dedup",
    log: Callable[[str], None] | None = None,
    top: int = 10,
    extra_params: dict[str, Any] | None = None,
) -> DedupResult:
    problems = cfg.problems()
    if problems:
        raise InputError("invalid dedup settings: " + "; ".join(problems))
    log = log or (lambda s: None)
    t0 = time.time()
    src = open_source(input_path, cfg)
    out_path = Path(out_path)
    if mode == "create" and ((out_path / "manifest.json").exists() or any(out_path.glob("*.parquet"))):
        # say so before the work, not after it
        raise DatasetError(f"{out_path}: output folder already holds a dataset", hint="choose another --out, or pass --overwrite to replace it")
    params = cfg.minhash() if cfg.method == "minhash" else None
    # scratch beside --out (same filesystem as the output), removed on any exit; a killed run's
    # is swept by the next run (factory/dedup/scratch.py)
    scratch = contextlib.ExitStack()
    # (absolute: Ray workers have their own working directory)
    parent = out_path.resolve().parent
    workdir = scratch.enter_context(scratch_dir(parent if parent.exists() else Path(tempfile.gettempdir()), log=log))
    try:
        if cfg.executor == "ray":
            from factory.dedup.ray import ray_dedup

            return ray_dedup(src, out_path, cfg, params, workdir=workdir, mode=mode, command=command, log=log, top=top,
                             run_params=_run_params(cfg, src, params, extra_params), t0=t0)
        index = DocIndex()
        # -- pass 1: fingerprints ------------------------------------------------------------
        n_bands = params.bands if params else 0
        # an entry is 16 bytes; sorting a partition needs ~3x its size; a quarter of the budget
        partitions = cfg.bucket_partitions or max(1, int(np.ceil(src.rows * max(n_bands, 1) * 16 * 3 / (cfg.memory_budget * 0.25))))
        sig_path = workdir / "signatures.u32"
        docs_iter = iter_docs(src, cfg, index)
        input_bytes = sum(p.stat().st_size for p in shard_paths(src.path))
        if _one_pass(src, cfg, params, input_bytes):
            # small input: shingle every document once, take the boilerplate rule's sample from
            # those shingles, then MinHash (no separate sampling pass over the input)
            store = BucketStore(partitions=partitions, workdir=workdir)
            fps = _one_pass_fingerprints(docs_iter, src, cfg, params, sig_path, store, index, log)
            boiler = fps.boilerplate
        else:
            boiler = boilerplate_shingles(src, cfg, log=log)
            store = BucketStore(partitions=partitions, workdir=workdir)
            fps = _local_fingerprints(docs_iter, cfg, params, sig_path, src.rows, store, boiler)
        store, exact, n_docs = fps.store, fps.exact, fps.n_docs
        t_fp = time.time() - t0
        log(f"fingerprinted {n_docs} documents in {t_fp:.1f}s ({store.partitions} bucket partition(s))")
        correct = index.correct[0] if index.correct else np.zeros(0, np.int64)
        doc_ids = pl.concat(index.doc_ids) if index.doc_ids else pl.Series("id", [], dtype=pl.String)
        if cfg.keep == "smallest_id":
            correct = np.zeros_like(correct)
        # rank: position in (id, exact hash) order -> tie-breaks that ignore input order
        rank_order = pl.DataFrame({"id": doc_ids, "h": exact, "i": np.arange(n_docs)}).sort(["id", "h", "i"])["i"].to_numpy()
        rank = np.empty(n_docs, dtype=np.int64)
        rank[rank_order] = np.arange(n_docs)
        # members of a bucket too big for all pairs are linked in (id hash, first seen) order:
        # a key every executor can compute per document (Ray partitions see no global rank)
        bucket_rank = np.empty(n_docs, dtype=np.int64)
        bucket_rank[np.lexsort((np.arange(n_docs), order_keys(doc_ids)))] = np.arange(n_docs)

        # -- pairs -> components -> keepers --------------------------------------------------
        pairs_exact = exact_pairs(exact)
        candidates = 0
        near_pairs = np.empty((0, 2), dtype=np.int64)
        if params is not None:
            found, batch = [], []
            batch_len = 0

            def check(batch: list[np.ndarray]) -> np.ndarray:
                p = np.concatenate(batch)
                if not cfg.verify:
                    return p
                return verify_pairs_from_file(p, sig_path, n_docs, params.num_perm, params.threshold)

            for part in store.groups():
                p = bucket_pairs(part, rank=bucket_rank)
                candidates += len(p)
                batch.append(p)
                batch_len += len(p)
                if batch_len >= 4_000_000:  # verified in batches: bounded memory for pairs
                    found.append(check(batch))
                    batch, batch_len = [], 0
            if batch:
                found.append(check(batch))
            store.close()
            near_pairs = np.unique(np.concatenate(found), axis=0) if found and sum(map(len, found)) else near_pairs
        cl = cluster(n_docs, pairs_exact, near_pairs, correct=correct, rank=rank, rank_order=rank_order, exact=exact, cfg=cfg,
                     family_info=lambda pairs: _family_info(src, cfg, doc_ids, pairs))
        labels, keeper, is_kept_doc, exact_dup, fam = cl.labels, cl.keeper, cl.is_kept, cl.exact_dup, cl.fam
        t_cluster = time.time() - t0 - t_fp
        log(f"clustered: {candidates} candidate pair(s), {len(near_pairs)} verified, {int(is_kept_doc.sum())} of {n_docs} documents kept ({t_cluster:.1f}s)")
        cl.log_family(log)

        # -- pass 2: write -------------------------------------------------------------------
        row_doc = np.concatenate(index.row_doc) if index.row_doc else np.zeros(0, np.int64)
        row_ids = pl.concat(index.row_ids) if index.row_ids else pl.Series("id", [], dtype=pl.String)
        n_rows = len(row_doc)
        row_rank_order = (
            pl.DataFrame({"id": row_ids, "d": rank[row_doc] if n_rows else np.zeros(0, np.int64), "i": np.arange(n_rows)})
            .sort(["id", "d", "i"])["i"]
            .to_numpy()
        )
        row_rank = np.empty(n_rows, dtype=np.int64)
        row_rank[row_rank_order] = np.arange(n_rows)
        kept_schema = _extend(src.schema, EXTRA_KEPT)
        rej_schema = _extend(src.schema, EXTRA_REJECTED)
        run_params = _run_params(cfg, src, params, extra_params)
        row_kept = is_kept_doc[row_doc] if n_rows else np.zeros(0, bool)
        row_exact = exact_dup[row_doc] if n_rows else np.zeros(0, bool)
        # Arrow strings, not a numpy object array of Python str (~75 MB per 1M rows)
        cluster_of_row = doc_ids.to_arrow().cast(pa.string()).take(pa.array(keeper[row_doc])) if n_rows else pa.array([], pa.string())
        family_of_row = None
        if fam is not None and n_rows:
            fd = fam.doc[row_doc]
            family_of_row = doc_ids.to_arrow().cast(pa.string()).take(pa.array(np.where(fd >= 0, fd, 0), mask=fd < 0))
        # rows of a kept problem can still repeat one trace id; each row stays
        # a zstd shard expands ~8x in memory as Arrow; one output partition gets a quarter of the budget
        out_parts = cfg.output_partitions or max(1, int(np.ceil(input_bytes * 8 / (cfg.memory_budget * 0.25))))
        with (
            DatasetWriter(out_path, src.contract, mode=mode, command=command, params=run_params, schema=kept_schema) as w,
            DatasetWriter(out_path / "rejected", src.contract, mode=mode, command=command, params=run_params, schema=rej_schema) as wr,
        ):
            _write_sorted(
                src, cfg, row_rank, row_kept, row_exact, cluster_of_row, kept_schema, rej_schema, w, wr, out_parts, workdir,
                family_of_row=family_of_row,
            )
            stats = {
                "rows_in": int(n_rows),
                "rows_out": int(row_kept.sum()),
                "rows_rejected": int(n_rows - row_kept.sum()),
                **cl.doc_stats(cfg, params),
                "rejected_by": {k: v for k, v in (("dedup:exact", int((~row_kept & row_exact).sum())), ("dedup:near", int((~row_kept & ~row_exact).sum()))) if v},
                "candidate_pairs": int(candidates),
                "bucket_partitions": int(store.partitions),
                "output_partitions": int(out_parts),
                "top_clusters": top_clusters(labels, keeper, doc_ids, top=top, texts_for=lambda ids: _doc_texts(src, cfg, ids)),
                "seconds": {"fingerprint": round(t_fp, 3), "cluster": round(t_cluster, 3)},
            }
            stats["boilerplate_shingles"] = int(len(boiler))
            # kept rows that carry a family_id (a removed copy of a member carries it too)
            stats["family_rows"] = int((family_of_row.is_valid().to_numpy(zero_copy_only=False) & row_kept).sum()) if family_of_row is not None else 0
            stats["top_families"] = _top_families(fam, doc_ids, cl.answers, cl.tails, rank, top=top) if fam is not None else []
            stats["seconds"]["total"] = round(time.time() - t0, 3)
            w.stats.update(stats)
            wr.stats.update({"rows": stats["rows_rejected"], "rejected_by": stats["rejected_by"]})
            w.run.update({"workers": _workers(cfg), "pool": cfg.pool, "executor": cfg.executor, "memory_budget": cfg.memory_budget})
        return DedupResult(stats=stats, out=out_path)
    finally:
        scratch.close()


def _run_params(cfg: DedupConfig, src: Source, params: MinHashParams | None, extra: dict[str, Any] | None) -> dict[str, Any]:
    """What the manifest records as the run's parameters (settings that change the output)."""
    out = {k: v for k, v in asdict(cfg).items() if k not in ("workers", "memory_budget", "executor", "bucket_partitions", "output_partitions", "batch_size", "pool", "ray_task_pairs")}
    out["input"] = str(src.path)
    out.update(extra or {})
    if params is not None:
        out.update(bands=params.bands, rows=params.rows)
    return out


def cluster_texts(texts: list[str], cfg: DedupConfig | None = None) -> np.ndarray:
    """The dedup core on an in-memory list of texts, without dataset I/O: the cluster label of
    each text (the index of its cluster's first text). Same normalisation, boilerplate rule,
    fingerprints, LSH, verification and components as `run_dedup` (used by bench/dedup.py to
    compare like with like against datasketch, which also works on in-memory texts)."""
    cfg = cfg or DedupConfig()
    params = cfg.minhash() if cfg.method == "minhash" else None
    n = len(texts)
    series = pl.Series("text", texts, dtype=pl.String)
    workers = _workers(cfg)
    step = max(1, min(cfg.batch_size, -(-n // workers)))
    chunks = [(np.arange(i, min(i + step, n)), series[i : i + step]) for i in range(0, n, step)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        if params is None:
            fps = list(pool.map(lambda c: fingerprint(c[1], ngram=cfg.ngram, params=None), chunks))
        else:
            preps = list(pool.map(lambda c: prepare(c[1], ngram=cfg.ngram), chunks))
            boiler = np.zeros(0, np.uint64)
            if cfg.boilerplate > 0 and n:
                # the boilerplate rule on a prefix sample (texts have no ids to hash here)
                seen: set[int] = set()
                parts = []
                for (docs, _), prep in zip(chunks, preps):
                    part = _sample_part(prep, np.arange(int(np.clip(cfg.boilerplate_sample - docs[0], 0, len(docs)))), seen)
                    if part is not None:
                        parts.append(part)
                boiler = _boilerplate_rule(parts, len(seen), cfg, lambda _: None)
            fps = list(pool.map(lambda prep: sign(prep, params=params, boilerplate=boiler), preps))
    exact = np.concatenate([f.exact for f in fps]) if fps else np.zeros(0, np.uint64)
    pairs = [exact_pairs(exact)]
    if params is not None and fps:
        store = BucketStore()
        for (docs, _), f in zip(chunks, fps):
            store.add(f.bands[f.has_shingles], docs[f.has_shingles])
        sigs = np.concatenate([f.sigs for f in fps])
        for part in store.groups():
            p = bucket_pairs(part)
            if cfg.verify and len(p):
                p, _ = verify_pairs(p, sigs, params.threshold)
            pairs.append(p)
        store.close()
    labels = components(n, np.concatenate(pairs))
    # label = smallest member index (deterministic, readable)
    first_of = np.full(labels.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(first_of, labels, np.arange(n))
    return first_of[labels]


def _workers(cfg: DedupConfig) -> int:
    return cfg.workers if cfg.workers > 0 else (os.cpu_count() or 1)


@dataclass
class Pass1:
    store: Any  # .groups() yields entries grouped by key; .close(); .partitions
    exact: np.ndarray
    n_docs: int
    boilerplate: np.ndarray | None = None  # set by the one-pass path


# the one-pass path keeps a small input's shingles in memory (~8 bytes a word, ~1.5x the text)
ONE_PASS_MAX_ROWS = 40_000


def _one_pass(src: Source, cfg: DedupConfig, params: MinHashParams | None, input_bytes: int) -> bool:
    """Small problem inputs on this machine's threads: one read, one normalisation."""
    if params is None or cfg.boilerplate <= 0 or cfg.executor != "local" or cfg.pool != "threads":
        return False
    # the sampling pass reads the raw text column; a trace document's text can differ from it
    # (reasoning falls back to the completion), so only documents whose text is that column
    if not (src.contract == "problem" or src.by == "problem"):
        return False
    # zstd Parquet of text expands ~4-8x; the shingles take ~1.5x the text
    return src.rows <= ONE_PASS_MAX_ROWS and input_bytes * 8 * 3 <= cfg.memory_budget // 4


def _one_pass_fingerprints(
    docs_iter, src: Source, cfg: DedupConfig, params: MinHashParams, sig_path: Path, store: BucketStore, index: DocIndex,
    log: Callable[[str], None],
) -> Pass1:
    """`boilerplate_shingles` + `_local_fingerprints` with each document normalised and
    shingled once: the same sample (keys hashed below the cut, distinct texts counted once,
    texts of 1..ngram-1 words left out), so the same boilerplate and output."""
    from concurrent.futures import ThreadPoolExecutor

    workers = _workers(cfg)
    rate, cut = _sample_cut(src, cfg)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        chunks = []  # (docs, sampled mask, future of Prepared)
        for docs, texts in docs_iter:
            keys = index.doc_ids[-1]  # iter_docs appends this batch's document keys before yielding
            picked = _sampled(keys, rate, cut)
            step = -(-len(docs) // workers)
            chunks += [(docs[i : i + step], picked[i : i + step], pool.submit(prepare, texts[i : i + step], ngram=cfg.ngram))
                       for i in range(0, len(docs), step)]
        preps = [(d, m, f.result()) for d, m, f in chunks]
        seen: set[int] = set()
        parts = []
        for _, m, prep in preps:
            part = _sample_part(prep, np.flatnonzero(m), seen)
            if part is not None:
                parts.append(part)
        boiler = _boilerplate_rule(parts, len(seen), cfg, log)
        futs = [(d, pool.submit(sign, prep, params=params, boilerplate=boiler)) for d, _, prep in preps]
        with open(sig_path, "wb") as sig_file:
            consume = _Sink(store, sig_file)
            for d, fut in futs:
                consume(d, fut.result())
    return consume.result(boiler)


class _Sink:
    """Takes fingerprints in document order: exact hashes kept, band hashes to the store,
    signatures appended to the signature file."""

    def __init__(self, store: BucketStore, sig_file) -> None:
        self.store, self.sig_file = store, sig_file
        self.exact_parts: list[np.ndarray] = []
        self.n_docs = 0

    def __call__(self, docs: np.ndarray, fp: Fingerprints) -> None:
        self.exact_parts.append(fp.exact)
        self.n_docs += len(docs)
        if fp.bands is not None and fp.sigs is not None:
            keep = fp.has_shingles  # texts without words are left to exact dedup
            self.store.add(fp.bands[keep], docs[keep])
            self.sig_file.write(np.ascontiguousarray(fp.sigs).tobytes())

    def result(self, boilerplate: np.ndarray | None = None) -> Pass1:
        exact = np.concatenate(self.exact_parts) if self.exact_parts else np.zeros(0, np.uint64)
        return Pass1(self.store, exact, self.n_docs, boilerplate)


def _local_fingerprints(
    docs_iter, cfg: DedupConfig, params: MinHashParams | None, sig_path: Path, n_rows: int, store: BucketStore, boilerplate: np.ndarray
) -> Pass1:
    with open(sig_path, "wb") as sig_file:
        consume = _Sink(store, sig_file)

        workers = _workers(cfg)
        if workers <= 1:
            for docs, texts in docs_iter:
                consume(docs, fingerprint(texts, ngram=cfg.ngram, params=params, boilerplate=boilerplate))
        elif cfg.pool == "threads":
            # threads (polars and the numpy kernels release the GIL): no worker start-up
            # (spawn + imports, ~1-2 s on a busy 2-core box) and no pickling of texts and
            # signatures; bounded in-flight chunks = bounded memory, consumed in order
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=workers) as tpool:
                pending = []
                for docs, texts in docs_iter:
                    step = -(-len(docs) // workers)
                    pending += [
                        (docs[i : i + step], tpool.submit(fingerprint, texts[i : i + step], ngram=cfg.ngram, params=params, boilerplate=boilerplate))
                        for i in range(0, len(docs), step)
                    ]
                    while len(pending) > 2 * workers:
                        d, fut = pending.pop(0)
                        consume(d, fut.result())
                for d, fut in pending:
                    consume(d, fut.result())
        else:
            import multiprocessing as mp

            # spawn, not fork: the parent runs polars/rayon thread pools that fork would copy mid-flight
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_worker_init) as pool:
                pending: list[tuple[np.ndarray, Any]] = []
                for docs, texts in docs_iter:
                    pending.append((docs, pool.submit(_fingerprint_job, texts.to_list(), cfg.ngram, params, boilerplate)))
                    # bounded in-flight batches = bounded memory; results consumed in submission order
                    while len(pending) > 2 * workers:
                        d, fut = pending.pop(0)
                        consume(d, fut.result())
                for d, fut in pending:
                    consume(d, fut.result())
    return consume.result()


def _write_sorted(src, cfg, row_rank, row_kept, row_exact, cluster_of_row, kept_schema, rej_schema, w, wr, out_parts, workdir, *, family_of_row=None) -> None:
    """Second pass: decorate every input row and write it in id order (range partitions by
    rank so that only one partition is in memory at a time)."""
    n = len(row_rank)
    kept_out, rej_out = Aligned(w), Aligned(wr)
    parts: list[list[pa.Table]] = [[] for _ in range(out_parts)]
    part_files: list[pq.ParquetWriter | None] = [None] * out_parts
    spill = out_parts > 1
    pos = 0
    for rb in iter_batches(src.path, batch_size=cfg.batch_size):
        k = rb.num_rows
        sl = slice(pos, pos + k)
        pos += k
        t = pa.Table.from_batches([rb])
        # re-deduping a deduped folder: this run's columns replace the old ones
        t = t.drop_columns([c for c in ("cluster_id", "reject_reason", "duplicate_of") if c in t.column_names])
        t = _set_family(t, family_of_row.slice(sl.start, k) if family_of_row is not None else None)
        kept_here = pa.array(row_kept[sl])
        cluster = cluster_of_row.slice(sl.start, k)
        reason = pc.if_else(pa.array(row_exact[sl]), "dedup:exact", "dedup:near")
        t = t.append_column("cluster_id", cluster)
        t = t.append_column("reject_reason", pc.if_else(kept_here, pa.scalar(None, pa.string()), reason))
        t = t.append_column("duplicate_of", pc.if_else(kept_here, pa.scalar(None, pa.string()), cluster))
        t = t.append_column("_rank", pa.array(row_rank[sl]))
        t = t.append_column("_kept", pa.array(row_kept[sl]))
        p = (row_rank[sl] * out_parts // max(n, 1)).astype(np.int64)
        for i in np.unique(p):
            sub = t.filter(pa.array(p == i))
            if spill:
                if part_files[i] is None:
                    part_files[i] = pq.ParquetWriter(workdir / f"out-{i:05d}.parquet", sub.schema)
                part_files[i].write_table(sub)
            else:
                parts[i].append(sub)
    if pos != n:
        raise DatasetError(f"{src.path}: the folder changed while dedup was reading it ({pos} rows now, {n} before)")
    for i in range(out_parts):
        if spill:
            if part_files[i] is None:
                continue
            part_files[i].close()
            tbl = pq.read_table(workdir / f"out-{i:05d}.parquet")
            os.unlink(workdir / f"out-{i:05d}.parquet")
        else:
            if not parts[i]:
                continue
            tbl = pa.concat_tables(parts[i])
            parts[i] = []
        # rank order, taken and written a slice at a time (a whole sorted copy of the
        # partition, then filtered copies, tripled its memory)
        order = np.argsort(tbl.column("_rank").to_numpy())
        kept_mask = tbl.column("_kept").to_numpy(zero_copy_only=False)
        for lo in range(0, len(order), cfg.batch_size):
            idx = order[lo : lo + cfg.batch_size]
            keep = kept_mask[idx]
            if keep.any():
                kept_out.write(tbl.take(pa.array(idx[keep])).select(kept_schema.names).cast(kept_schema))
            if not keep.all():
                rej_out.write(tbl.take(pa.array(idx[~keep])).select(rej_schema.names).cast(rej_schema))
        del tbl
    kept_out.flush()
    rej_out.flush()


def _family_info(src: Source, cfg: DedupConfig, doc_ids: pl.Series, pairs: np.ndarray) -> tuple[dict[int, DocInfo], dict[int, str]]:
    """DocInfo (normalised word hashes, math flags, reference answer) of every document in a
    verified near pair, by one pass over the input reading only those documents' rows; plus the
    last 200 characters of each text (the question, for the report). Held as arrays: ~9 bytes
    a word of the near-duplicate documents only."""
    need = np.unique(pairs.reshape(-1))
    key = "problem_id" if src.contract == "trace" else "id"
    ans_col = "reference_answer" if "reference_answer" in src.schema.names else None
    want = pl.DataFrame({"_k": doc_ids.gather(need).cast(pl.String), "_d": need})
    cols = list(dict.fromkeys([key, src.text_column] + ([ans_col] if ans_col else [])))
    info: dict[int, DocInfo] = {}
    tails: dict[int, str] = {}
    for rb in iter_batches(src.path, columns=cols, batch_size=cfg.batch_size):
        b = pl.from_arrow(rb)
        assert isinstance(b, pl.DataFrame)
        hit = b.join(want, left_on=key, right_on="_k", how="inner")
        if not hit.height:
            continue
        hit = hit.filter(~pl.col("_d").is_in(list(info))).unique("_d", keep="first", maintain_order=True)
        texts = hit[src.text_column].to_list()
        ans = hit[ans_col].to_list() if ans_col else [None] * hit.height
        for d, t, di in zip(hit["_d"].to_list(), texts, doc_infos(texts, ans)):
            info[d] = di
            tails[d] = (t or "")[-200:]
    return info, tails


def _doc_texts(src: Source, cfg: DedupConfig, ids: set[str]) -> dict[str, str]:
    key = "problem_id" if (src.contract == "trace" and src.by == "problem") else "id"
    out: dict[str, str] = {}
    if not ids:
        return out
    fallback = src.by == "trace" and cfg.text_field is None and "completion" in src.schema.names
    cols = [key, src.text_column] + (["completion"] if fallback else [])
    for rb in iter_batches(src.path, columns=list(dict.fromkeys(cols)), batch_size=cfg.batch_size):
        b = pl.from_arrow(rb)
        hit = b.filter(pl.col(key).is_in(list(ids)))
        # the same text the fingerprints saw (a trace without reasoning: its completion)
        text = hit.select(pl.coalesce(pl.col(src.text_column), pl.col("completion"))).to_series() if fallback else hit[src.text_column]
        for k, t in zip(hit[key].to_list(), text.to_list()):
            out.setdefault(k, t or "")
    return out


def read_stats(out_path: str | os.PathLike[str]) -> dict[str, Any]:
    return read_manifest(out_path).stats


def report_lines(stats: dict[str, Any], *, examples: int = 3) -> list[str]:
    """The dedup report as plain lines (recipe logs; the command prints it as tables)."""
    lines = [
        f"dedup ({stats.get('method')}, by {stats.get('by')}): {stats['rows_in']} rows in, {stats['rows_out']} kept, "
        f"{stats['rows_rejected']} rejected ({', '.join(f'{k} {v}' for k, v in stats.get('rejected_by', {}).items()) or 'none'})",
        f"  documents {stats['documents']} -> {stats['documents_kept']} kept; clusters {stats['clusters']}; "
        f"candidate pairs {stats['candidate_pairs']}, verified {stats['verified_pairs']}",
        "  cluster sizes: " + ", ".join(f"{k}: {v}" for k, v in stats.get("cluster_sizes", {}).items()),
    ]
    fp = stats.get("family_pairs") or {}
    if stats.get("families"):
        lines.append(
            f"  family rule ({stats.get('family_rule')}): {sum(fp.values())} near-duplicate pair(s) are different problems "
            f"(answers differ {fp.get('answer', 0)}, question differs {fp.get('question', 0)}); "
            f"{stats.get('kept_by_family_rule', 0)} problem(s) kept, {stats['families']} familie(s) marked in meta.family_id"
        )
    for f in stats.get("top_families", [])[:examples]:
        lines.append(f"  family {f['family_id']} ({f['size']} problems): " + "; ".join(
            f"{m['answer']!r} <- ...{m['question'][-60:]!r}" for m in f["members"][:3]))
    for c in stats.get("top_clusters", [])[:examples]:
        lines.append(f"  cluster {c['cluster_id']} ({c['size']} members) kept: {c['kept']['text'][:100]!r}")
        for e in c["examples"][:2]:
            lines.append(f"      dup {e['id']}: {e['text'][:100]!r}")
    return lines


def run(opts: DedupOptions, ctx: Any) -> dict[str, Any]:
    """The dedup stage (`factory dedup` and a recipe's `dedup:` section; see factory.pipeline.runner)."""
    cfg = DedupConfig(
        by=opts.by, method=opts.method, ngram=opts.ngram, num_perm=opts.num_perm, bands=opts.bands, rows=opts.rows,
        threshold=opts.threshold, seed=opts.seed, verify=opts.verify == "jaccard", keep=opts.keep,
        family=opts.family, text_field=opts.text_field, boilerplate=opts.boilerplate, memory_budget=parse_size(opts.memory_budget),
        workers=opts.workers, pool=opts.pool, executor=opts.executor,
    )
    r = run_dedup(opts.input, opts.out, cfg, mode="create" if ctx.mode == "create" else "overwrite", command=ctx.command, log=ctx.log)
    if not ctx.progress:
        for line in report_lines(r.stats):
            ctx.log(line)
    return {"out": str(opts.out), **r.stats}
