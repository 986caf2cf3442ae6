"""Benchmark decontamination: word n-gram overlap between a dataset and a benchmark registry.

The registry holds the benchmarks shipped in `factory/data/benchmarks/` (MATH-500, AIME 2024,
AIME 2025, AMC 2023, GSM8K test, HumanEval, MBPP; read from their raw JSONL fields) plus any
user files (`NAME=PATH[:COLUMN]`, JSONL/JSON/Parquet) or dataset folders. Texts are normalised
with the dedup normaliser, digits masked (`numbers="mask"`: a renumbered copy of a benchmark
problem is still that problem), and cut into word n-grams (default 8) hashed to 64 bits.

Rules, and why:
- An n-gram that occurs in `common_items` (default 3) or more different benchmark items is
  boilerplate ("express your answer as a common fraction in ...") and is not indexed, so
  problems that merely share an instruction with a benchmark are kept. Nor is an n-gram with
  fewer than `min_content_words` (default 3) content words (two or more characters, a letter,
  not a stop word such as "the", "of", "what"):
  with digits masked, Asymptote code ("draw((0,0)--(10,0))") is "draw 0 0 0 0 ..." in every
  figure of every benchmark.
- A row is contaminated by an item when they share at least min(`min_matches`, the item's
  n-gram count, the row's n-gram count) distinct n-grams (default 2: one shared 8-gram can be
  a coincidence at a phrase boundary) AND the shared n-grams are at least `min_overlap`
  (default 0.2) of the shorter text's n-grams: a reworded or renumbered copy shares most of
  them, while AIME problems sharing "where m and n are relatively prime positive integers"
  share under 15%.
- Texts shorter than n words have no n-gram: a short row matches an item when the two
  normalised texts are equal (digits kept: "Compute 5!" is not "Compute 6!"), and a short
  item of at least `short_min_words` words (default 4) matches a row that contains all of its
  words in order (digits kept). An item whose every n-gram is boilerplate ("What is the value
  of $513^2 - 487^2$?") is matched on its whole text the same way.

Rows get `score_decontam` (the largest fraction of an item's n-grams found in the row),
`verdict_decontam` (clean | contaminated) and the evidence (`score_decontam_benchmark`,
`..._item`, `..._ngram`). `action="drop"` (default) moves contaminated rows to
`OUT/rejected/` with `reject_reason = decontam:<benchmark>`; `action="flag"` keeps them all.

`executor="ray"` matches and writes on Ray workers (`ray_decontam` below, with the shard helpers
of factory/dedup/shards.py): the driver builds the benchmark index (benchmark data, not input
rows), broadcasts it, and writes the manifests; it reads no rows. Kept and rejected rows are
sorted by their input position and written one shard per task: the local run's shards, byte for
byte.

Exercise: `factory decontaminate problems/ --out clean/ --ngram 13 --benchmark mine=extra.jsonl`.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from factory.data import DATA_DIR
from factory.dedup.options import DecontamOptions
from factory.filters.textnorm import (
    content_counts,
    normalize_texts,
    shingle_hashes,
    words_of,
)
from factory.io.dataset import DatasetWriter, check_folder, iter_batches, shard_paths
from factory.schemas.errors import DatasetError, InputError
from factory.schemas.options import check_some, defaults

Action = Literal["drop", "flag"]
BENCHMARK_DIR = DATA_DIR / "benchmarks"

# name -> (file, id field (None = line number), text field). Raw fields of the shipped copies.
BUILTIN: dict[str, tuple[str, str | None, str]] = {
    "math500": ("math500_test.jsonl.gz", "unique_id", "problem"),
    "aime24": ("aime24.jsonl.gz", "id", "problem"),
    "aime25": ("aime25.jsonl.gz", "id", "problem"),
    "amc23": ("amc23.jsonl.gz", "id", "problem"),
    "gsm8k": ("gsm8k_test.jsonl.gz", None, "question"),
    "humaneval": ("HumanEval.jsonl.gz", "task_id", "prompt"),
    "mbpp": ("mbpp.jsonl.gz", "task_id", "text"),
}
TEXT_COLUMNS = ("problem", "question", "prompt", "text", "input", "instruction")
ID_COLUMNS = ("id", "unique_id", "task_id", "problem_id", "idx")

EXTRA_FIELDS = [
    pa.field("score_decontam", pa.float64()),
    pa.field("verdict_decontam", pa.string()),
    pa.field("score_decontam_benchmark", pa.string()),
    pa.field("score_decontam_item", pa.string()),
    pa.field("score_decontam_ngram", pa.string()),
]


# the user-facing settings are declared once, in DecontamOptions: DecontamConfig takes their
# defaults and checks from there (lists as tuples; the built-ins without "none")
_OPTS = defaults(DecontamOptions)
_SHARED = ("ngram", "common_items", "min_matches", "min_content_words", "min_overlap", "action", "executor")


@dataclass(frozen=True)
class DecontamConfig:
    ngram: int = _OPTS["ngram"]
    common_items: int = _OPTS["common_items"]
    min_matches: int = _OPTS["min_matches"]
    # an item of fewer words than n is matched by its whole normalised text (at least this many words)
    short_min_words: int = 4
    min_content_words: int = _OPTS["min_content_words"]
    min_overlap: float = _OPTS["min_overlap"]
    action: Action = _OPTS["action"]
    fields: tuple[str, ...] = tuple(_OPTS["fields"])
    builtin: tuple[str, ...] = tuple(b for b in _OPTS["builtin"] if b != "none")
    batch_size: int = 10_000
    # local: this process; ray: rows matched and written on Ray workers (the driver reads no rows)
    executor: Literal["local", "ray"] = _OPTS["executor"]

    def problems(self) -> list[str]:
        out = check_some(DecontamOptions, {k: getattr(self, k) for k in _SHARED})
        unknown = [b for b in self.builtin if b not in BUILTIN]
        if unknown:
            out.append(f"benchmarks: unknown built-in {unknown}; expected names from {sorted(BUILTIN)}")
        if not self.fields:
            out.append("fields: expected at least one text column")
        return out


@dataclass
class BenchmarkItem:
    benchmark: str
    item_id: str
    text: str


# ---------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputError(f"not valid JSON ({e.msg})", path=str(path), line=i) from None
    return rows


def load_builtin(name: str) -> list[BenchmarkItem]:
    fname, id_field, text_field = BUILTIN[name]
    rows = _read_jsonl(BENCHMARK_DIR / fname)
    out = []
    for i, r in enumerate(rows):
        item_id = str(r[id_field]) if id_field else str(i)
        out.append(BenchmarkItem(name, item_id, str(r[text_field])))
    return out


def load_user_benchmark(spec: str) -> list[BenchmarkItem]:
    """`NAME=PATH[:COLUMN]`: a JSONL/JSON/Parquet file or a dataset folder (column `problem`)."""
    if "=" not in spec:
        raise InputError(f"benchmark: expected NAME=PATH[:COLUMN], found {spec!r}", hint="e.g. --benchmark olympiad=olympiad.jsonl:question")
    name, _, rest = spec.partition("=")
    name = name.strip()
    column = None
    path = Path(rest)
    if not path.exists() and ":" in rest:
        p, _, column = rest.rpartition(":")
        path = Path(p)
    if not name:
        raise InputError(f"benchmark: empty NAME in {spec!r}")
    if not path.exists():
        raise InputError("benchmark file or folder not found", path=str(path))
    if path.is_dir():
        check_folder(path)
        cols = None
        rows = []
        for rb in iter_batches(path, columns=cols):
            rows.extend(rb.to_pylist())
    elif path.name.endswith((".parquet", ".pq")):
        rows = pq.read_table(path).to_pylist()
    elif path.name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        rows = _read_jsonl(path)
    elif path.name.endswith(".json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = data if isinstance(data, list) else data.get("data", data.get("rows", []))
    else:
        raise InputError("benchmark: expected a .jsonl[.gz], .json or .parquet file or a dataset folder", path=str(path))
    if not rows:
        raise InputError("benchmark holds no rows", path=str(path))
    if column is None:
        column = next((c for c in TEXT_COLUMNS if c in rows[0]), None)
        if column is None:
            raise InputError(
                f"no text column found (looked for {list(TEXT_COLUMNS)}; columns: {sorted(rows[0])})",
                path=str(path),
                hint=f"name it: --benchmark {name}={path}:COLUMN",
            )
    elif column not in rows[0]:
        raise InputError(f"column not found (columns: {sorted(rows[0])})", path=str(path), field=column)
    id_col = next((c for c in ID_COLUMNS if c in rows[0]), None)
    out = []
    for i, r in enumerate(rows):
        t = r.get(column)
        if t is None:
            continue
        out.append(BenchmarkItem(name, str(r[id_col]) if id_col else str(i), str(t)))
    return out


@dataclass
class Index:
    """n-gram -> benchmark items, plus the short-item rules."""

    ngram: int
    items: list[BenchmarkItem]
    keys: np.ndarray  # sorted uint64 n-gram hashes (boilerplate removed)
    item_of: np.ndarray  # int64 item index per key entry
    item_ngrams: np.ndarray  # int64, distinct indexed n-grams per item
    short_whole: dict[int, list[int]]  # hash of whole normalised text (digits kept) -> items
    short_by_len: dict[int, tuple[np.ndarray, np.ndarray]]  # L -> (sorted L-gram hashes, items)
    dropped_common: int = 0
    per_benchmark: dict[str, int] = field(default_factory=dict)
    dropped_low_info: int = 0


def build_index(items: list[BenchmarkItem], cfg: DecontamConfig) -> Index:
    n = cfg.ngram
    texts = [it.text for it in items]
    mwords = words_of(normalize_texts(texts, numbers="mask"), content=True)
    masked = shingle_hashes(mwords, n, short="skip")
    counts = np.diff(masked.offsets)
    item_idx = np.repeat(np.arange(len(items), dtype=np.int64), counts)
    # n-grams of mostly numbers and symbols (Asymptote code: "draw 0 0 0 0 0 0 0") say nothing
    # about which problem they come from: index only n-grams with >= min_content_words words
    informative = content_counts(mwords, masked, n) >= min(cfg.min_content_words, n)
    low_info = int((~informative).sum())
    masked = type(masked)(masked.hashes[informative], masked.offsets, masked.starts[informative])
    item_idx = item_idx[informative]
    # distinct (hash, item) pairs, then drop hashes present in >= common_items items
    pairs = np.unique(np.stack([masked.hashes.view(np.int64), item_idx], axis=1), axis=0) if len(item_idx) else np.empty((0, 2), np.int64)
    h = pairs[:, 0].view(np.uint64) if len(pairs) else np.zeros(0, np.uint64)
    uniq, inv, n_items = np.unique(h, return_inverse=True, return_counts=True)
    keep = n_items[inv] < cfg.common_items
    dropped = int((n_items >= cfg.common_items).sum())
    h, it = h[keep], pairs[keep, 1] if len(pairs) else np.zeros(0, np.int64)
    order = np.argsort(h, kind="stable")
    item_ngrams = np.bincount(it, minlength=len(items)).astype(np.int64)
    # short items (fewer than n words): whole text and contained word sequences, digits kept
    plain_norm = normalize_texts(texts)
    w = words_of(plain_norm)
    lengths = w.lengths
    short_whole: dict[int, list[int]] = defaultdict(list)
    short_by_len: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    # items with no usable n-gram (shorter than n words, or every n-gram is boilerplate) are
    # matched on their whole text instead
    short = np.nonzero((lengths > 0) & ((lengths < n) | (item_ngrams == 0)))[0]
    if len(short):
        whole = _whole_hashes(plain_norm[short.tolist()])
        for i, hv in zip(short.tolist(), whole.tolist()):
            short_whole[hv].append(i)
        for L in sorted(set(lengths[short].tolist())):
            if L < cfg.short_min_words or L >= n:
                continue
            idx = short[lengths[short] == L]
            sh = shingle_hashes(words_of(plain_norm[idx.tolist()]), int(L), short="skip")
            o = np.argsort(sh.hashes, kind="stable")
            short_by_len[int(L)] = (sh.hashes[o], idx[np.repeat(np.arange(len(idx)), np.diff(sh.offsets))][o])
    per = Counter(it.benchmark for it in items)
    return Index(n, items, h[order], it[order], item_ngrams, dict(short_whole), short_by_len, dropped, dict(per), low_info)


def _whole_hashes(norm: pl.Series) -> np.ndarray:
    return norm.fill_null("").hash(seed=0xD0C5).to_numpy().astype(np.uint64, copy=False)


def registry(cfg: DecontamConfig, user: list[str] | None = None) -> list[BenchmarkItem]:
    items: list[BenchmarkItem] = []
    for name in cfg.builtin:
        items.extend(load_builtin(name))
    for spec in user or []:
        items.extend(load_user_benchmark(spec))
    if not items:
        raise InputError("no benchmarks to check against", hint="keep the built-in ones or pass --benchmark NAME=PATH")
    return items


# ---------------------------------------------------------------------------------------------
# matching
# ---------------------------------------------------------------------------------------------


@dataclass
class Hit:
    item: int
    matches: int
    overlap: float
    ngram: str


def match_texts(texts: list[str] | pl.Series, index: Index, cfg: DecontamConfig) -> list[Hit | None]:
    """Best hit (most shared n-grams, then largest overlap, then registry order) per text."""
    n = index.ngram
    masked_norm = normalize_texts(texts, numbers="mask")
    # masking maps a digit run to "0", so word positions agree with the plain normalisation
    plain = normalize_texts(texts)
    sh = shingle_hashes(words_of(masked_norm), n, short="skip")
    n_texts = len(sh.offsets) - 1
    best: list[Hit | None] = [None] * n_texts
    doc_ngrams = np.diff(sh.offsets)
    if len(index.keys) and len(sh.hashes):
        pos = np.searchsorted(index.keys, sh.hashes)
        pos_c = np.minimum(pos, len(index.keys) - 1)
        found = index.keys[pos_c] == sh.hashes
        if found.any():
            doc_of = np.repeat(np.arange(n_texts), doc_ngrams)
            hit_k = np.nonzero(found)[0]
            # expand every key occurrence (an n-gram can belong to up to common_items-1 items)
            lo = np.searchsorted(index.keys, sh.hashes[hit_k], side="left")
            hi = np.searchsorted(index.keys, sh.hashes[hit_k], side="right")
            reps = hi - lo
            k_rep = np.repeat(hit_k, reps)
            # index entries lo..hi-1 of every hit, without a Python loop
            entry = np.repeat(lo - np.concatenate([[0], np.cumsum(reps)[:-1]]), reps) + np.arange(int(reps.sum()))
            d = doc_of[k_rep]
            item = index.item_of[entry]
            # distinct (doc, item, hash) -> count per (doc, item); remember where each was seen
            trip, seen_at = np.unique(np.stack([d, item, sh.hashes[k_rep].view(np.int64)], axis=1), axis=0, return_index=True)
            where = k_rep[seen_at]
            di, first, cnt = np.unique(trip[:, :2], axis=0, return_index=True, return_counts=True)
            words_cache: dict[int, list[str]] = {}
            for (doc, it), c, f in zip(di.tolist(), cnt.tolist(), first.tolist()):
                need = min(cfg.min_matches, int(index.item_ngrams[it]), int(doc_ngrams[doc]))
                if c < max(need, 1):
                    continue
                overlap = c / max(int(index.item_ngrams[it]), 1)
                # the shared n-grams must cover min_overlap of the shorter text's n-grams: a
                # copy shares most of them, two problems sharing a phrase only a few
                if c < cfg.min_overlap * max(min(int(index.item_ngrams[it]), int(doc_ngrams[doc])), 1):
                    continue
                cur = best[doc]
                if cur is None or (c, overlap) > (cur.matches, cur.overlap):
                    start = int(sh.starts[where[f]])
                    ws = words_cache.setdefault(doc, plain[doc].split(" "))
                    best[doc] = Hit(int(it), int(c), float(overlap), " ".join(ws[start : start + n]))
    # short items and short texts: whole-text equality and contained word sequences, digits kept
    if index.short_whole or index.short_by_len:
        w = words_of(plain)
        lengths = w.lengths
        short_docs = np.nonzero(lengths > 0)[0]
        if len(short_docs) and index.short_whole:
            wh = _whole_hashes(plain[short_docs.tolist()])
            for doc, hv in zip(short_docs.tolist(), wh.tolist()):
                items = index.short_whole.get(hv)
                if items and best[doc] is None:
                    best[doc] = Hit(items[0], 1, 1.0, plain[doc])
        for L, (keys, items) in index.short_by_len.items():
            sh_l = shingle_hashes(w, L, short="skip")
            if not len(sh_l.hashes):
                continue
            pos = np.minimum(np.searchsorted(keys, sh_l.hashes), len(keys) - 1)
            found = np.nonzero(keys[pos] == sh_l.hashes)[0]
            if not len(found):
                continue
            doc_of = np.repeat(np.arange(n_texts), np.diff(sh_l.offsets))
            for k in found.tolist():
                doc = int(doc_of[k])
                if best[doc] is None:
                    start = int(sh_l.starts[k])
                    best[doc] = Hit(int(items[pos[k]]), 1, 1.0, " ".join(plain[doc].split(" ")[start : start + L]))
    return best


# ---------------------------------------------------------------------------------------------
# the stage
# ---------------------------------------------------------------------------------------------


@dataclass
class DecontamResult:
    stats: dict[str, Any]
    out: Path


def run_decontam(
    input_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    cfg: DecontamConfig,
    *,
    benchmarks: list[str] | None = None,
    mode: Literal["create", "overwrite"] = "create",
    command: str = "factory decontaminate",
    log: Callable[[str], None] | None = None,
    examples_per_benchmark: int = 3,
    extra_params: dict[str, Any] | None = None,
) -> DecontamResult:
    problems = cfg.problems()
    if problems:
        raise InputError("invalid decontamination settings: " + "; ".join(problems))
    log = log or (lambda s: None)
    t0 = time.time()
    input_path, out_path = Path(input_path), Path(out_path)
    m = check_folder(input_path)
    if mode == "create" and ((out_path / "manifest.json").exists() or any(out_path.glob("*.parquet"))):
        raise DatasetError(f"{out_path}: output folder already holds a dataset", hint="choose another --out, or pass --overwrite to replace it")
    paths = shard_paths(input_path)
    if paths:
        schema = pq.read_schema(paths[0]).remove_metadata()
    else:
        from factory.schemas.contracts import contract_for

        schema = contract_for(m.contract).schema
    missing = [f for f in cfg.fields if f not in schema.names]
    if missing:
        raise InputError(f"text column(s) {missing} not found (columns: {schema.names})", path=str(input_path))
    index = build_index(registry(cfg, benchmarks), cfg)
    log(f"benchmark index: {len(index.items)} items, {len(index.keys)} {cfg.ngram}-grams ({index.dropped_common} common ones skipped)")
    kept_schema = _extend(schema, EXTRA_FIELDS)
    rej_schema = _extend(kept_schema, [pa.field("reject_reason", pa.string())])
    params = {
        "input": str(input_path),
        "ngram": cfg.ngram,
        "common_items": cfg.common_items,
        "min_matches": cfg.min_matches,
        "short_min_words": cfg.short_min_words,
        "min_content_words": cfg.min_content_words,
        "min_overlap": cfg.min_overlap,
        "action": cfg.action,
        "fields": list(cfg.fields),
        "benchmarks": sorted(index.per_benchmark),
    }
    params.update(extra_params or {})
    hits_by_bench: Counter[str] = Counter()
    examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rows_in = rows_out = 0
    with (
        DatasetWriter(out_path, m.contract, mode=mode, command=command, params=params, schema=kept_schema) as w,
        DatasetWriter(out_path / "rejected", m.contract, mode=mode, command=command, params=params, schema=rej_schema) as wr,
    ):
        if cfg.executor == "ray":
            rows_in, rows_out, hits_by_bench, examples = ray_decontam(
                input_path, out_path, cfg, index, w, wr, workdir=out_path.parent, examples_per_benchmark=examples_per_benchmark, log=log)
        else:
            # whole row groups to the writers (the same shards, byte for byte, as the Ray path's)
            from factory.dedup.shards import Aligned

            kept_out, rej_out = Aligned(w), Aligned(wr)
            for rb in iter_batches(input_path, batch_size=cfg.batch_size):
                t, best = score_batch(pa.Table.from_batches([rb]), index, cfg)
                rows_in += t.num_rows
                ids = t.column("id").to_pylist()
                for i, h in enumerate(best):
                    if h is None:
                        continue
                    b = index.items[h.item].benchmark
                    hits_by_bench[b] += 1
                    if len(examples[b]) < examples_per_benchmark:
                        examples[b].append(_example(ids[i], index, h))
                keep_t, rej_t = split_batch(t, best, cfg)
                rows_out += keep_t.num_rows
                if keep_t.num_rows:
                    kept_out.write(keep_t.select(kept_schema.names).cast(kept_schema))
                if rej_t is not None and rej_t.num_rows:
                    rej_out.write(rej_t.select(rej_schema.names).cast(rej_schema))
            kept_out.flush()
            rej_out.flush()
        contaminated = sum(hits_by_bench.values())
        stats = {
            "rows_in": rows_in,
            "rows_out": rows_out,
            "rows_rejected": rows_in - rows_out,
            "contaminated": contaminated,
            "action": cfg.action,
            "hits_by_benchmark": {b: hits_by_bench.get(b, 0) for b in sorted(index.per_benchmark)},
            "rejected_by": {f"decontam:{b}": c for b, c in sorted(hits_by_bench.items())} if cfg.action == "drop" else {},
            "examples": dict(examples),
            "benchmark_items": dict(sorted(index.per_benchmark.items())),
            "indexed_ngrams": int(len(index.keys)),
            "common_ngrams_skipped": index.dropped_common,
            "low_information_ngrams_skipped": index.dropped_low_info,
            "ngram": cfg.ngram,
            "seconds": round(time.time() - t0, 3),
        }
        w.stats.update(stats)
        wr.stats.update({"rows": stats["rows_rejected"], "rejected_by": stats["rejected_by"]})
    return DecontamResult(stats, out_path)


def _example(row_id: str, index: Index, h: Hit) -> dict[str, Any]:
    return {"id": row_id, "item": index.items[h.item].item_id, "ngram": h.ngram, "matches": h.matches, "overlap": round(h.overlap, 3)}


def score_batch(t: pa.Table, index: Index, cfg: DecontamConfig) -> tuple[pa.Table, list[Hit | None]]:
    """A batch of rows with this run's score_decontam* columns (old ones replaced), and the best
    hit of each row (None: clean)."""
    best: list[Hit | None] = [None] * t.num_rows
    for f in cfg.fields:
        col = t.column(f).to_pylist()
        for i, h in enumerate(match_texts([c or "" for c in col], index, cfg)):
            if h is not None and (best[i] is None or (h.matches, h.overlap) > (best[i].matches, best[i].overlap)):
                best[i] = h
    # re-checking a checked folder: this run's columns replace the old ones
    t = t.drop_columns([f.name for f in EXTRA_FIELDS + [pa.field("reject_reason", pa.string())] if f.name in t.column_names])
    t = t.append_column("score_decontam", pa.array([0.0 if h is None else round(h.overlap, 6) for h in best], pa.float64()))
    t = t.append_column("verdict_decontam", pa.array(["clean" if h is None else "contaminated" for h in best], pa.string()))
    t = t.append_column("score_decontam_benchmark", pa.array([None if h is None else index.items[h.item].benchmark for h in best], pa.string()))
    t = t.append_column("score_decontam_item", pa.array([None if h is None else index.items[h.item].item_id for h in best], pa.string()))
    t = t.append_column("score_decontam_ngram", pa.array([None if h is None else h.ngram for h in best], pa.string()))
    return t, best


def split_batch(t: pa.Table, best: list[Hit | None], cfg: DecontamConfig) -> tuple[pa.Table, pa.Table | None]:
    """(kept rows, rejected rows with reject_reason, or None with action flag)."""
    if cfg.action != "drop":
        return t, None
    bad = pa.array([h is not None for h in best], pa.bool_())
    rej_t = t.filter(bad)
    rej_t = rej_t.append_column("reject_reason", pa.array([f"decontam:{b}" for b in rej_t.column("score_decontam_benchmark").to_pylist()], pa.string()))
    return t.filter(pa.compute.invert(bad)), rej_t


# ---------------------------------------------------------------------------------------------
# decontamination on Ray
# ---------------------------------------------------------------------------------------------


_INDEX_CACHE: dict[Any, Any] = {}  # a worker fetches the broadcast index once


def _match(t: pa.Table, *, index_ref, cfg) -> pa.Table:
    """Rows scored against the broadcast benchmark index, with `_bad`, `_reason` and the
    evidence the report needs (`_matches`, `_overlap`)."""
    import ray

    ref = index_ref[0]
    index = _INDEX_CACHE.get(ref)
    if index is None:
        _INDEX_CACHE.clear()
        index = _INDEX_CACHE[ref] = ray.get(ref)
    t, best = score_batch(t, index, cfg)
    bad = pa.array([h is not None for h in best], pa.bool_())
    t = t.append_column("_bad", bad)
    t = t.append_column("reject_reason", pc.if_else(bad, pc.binary_join_element_wise("decontam:", t.column("score_decontam_benchmark"), ""),
                                                     pa.scalar(None, pa.string())))
    t = t.append_column("_matches", pa.array([0 if h is None else h.matches for h in best], pa.int64()))
    return t.append_column("_overlap", pa.array([0.0 if h is None else h.overlap for h in best], pa.float64()))


def _where_bad(t: pa.Table, *, bad: bool) -> pa.Table:
    m = t.column("_bad")
    return t.filter(m if bad else pc.invert(m))


def _evidence_task(hits, *, per_benchmark: int) -> tuple[dict[str, int], dict[str, list[dict[str, Any]]]]:
    """Hits per benchmark and the first examples of each in row order (the local run's)."""
    import polars as pl

    parts = [pl.from_arrow(b) for b in hits.iter_batches(batch_format="pyarrow", batch_size=None) if b.num_rows]
    if not parts:
        return {}, {}
    df = pl.concat(parts).sort("_pos")
    counts = {b: int(n) for b, n in df.group_by("score_decontam_benchmark").len().iter_rows()}
    examples: dict[str, list[dict[str, Any]]] = {}
    for r in df.iter_rows(named=True):
        ex = examples.setdefault(r["score_decontam_benchmark"], [])
        if len(ex) < per_benchmark:
            ex.append({"id": r["id"], "item": r["score_decontam_item"], "ngram": r["score_decontam_ngram"],
                       "matches": r["_matches"], "overlap": round(r["_overlap"], 3)})
    return counts, examples


def ray_decontam(input_path: Path, out_path: Path, cfg, index, w, wr, *, workdir: Path, examples_per_benchmark: int,
                 log: Callable[[str], None]):
    """Rows matched on workers against the broadcast index, kept/rejected rows sorted by
    position and written shard by shard; returns (rows in, rows out, hits, examples)."""
    from collections import Counter

    from factory.dedup.scratch import scratch_dir
    from factory.dedup.shards import rows_dataset, start_ray, write_sorted

    ray = start_ray()
    rows, n_rows = rows_dataset(ray, Path(input_path).resolve(), columns=None, batch_size=cfg.batch_size)
    if rows is None:
        return 0, 0, Counter(), {}
    dctx = ray.data.DataContext.get_current()
    old_max = dctx.target_max_block_size
    dctx.target_max_block_size = None
    try:
        with scratch_dir(Path(workdir).resolve(), log=log) as scratch:
            scored = rows.map_batches(_match, batch_format="pyarrow", batch_size=cfg.batch_size,
                                      fn_kwargs={"index_ref": [ray.put(index)], "cfg": cfg}).materialize()
            hits = scored.map_batches(_where_bad, batch_format="pyarrow", batch_size=None, fn_kwargs={"bad": True})
            counts, examples = ray.get(ray.remote(num_cpus=0)(_evidence_task).remote(
                hits.select_columns(["_pos", "id", "score_decontam_benchmark", "score_decontam_item", "score_decontam_ngram", "_matches", "_overlap"]),
                per_benchmark=examples_per_benchmark))
            if cfg.action == "drop":
                kept = scored.map_batches(_where_bad, batch_format="pyarrow", batch_size=None, fn_kwargs={"bad": False})
                write_sorted(ray, hits, out=out_path / "rejected", scratch=scratch, name="rejected", writer=wr, sort_keys=["_pos"], log=log)
            else:
                kept = scored
            write_sorted(ray, kept, out=out_path, scratch=scratch, name="kept", writer=w, sort_keys=["_pos"], log=log)
    finally:
        dctx.target_max_block_size = old_max
    return n_rows, sum(s.rows for s in w.shards), Counter(counts), examples


def _extend(schema: pa.Schema, extra: list[pa.Field]) -> pa.Schema:
    out = schema
    for f in extra:
        if f.name in out.names:
            out = out.remove(out.get_field_index(f.name))
        out = out.append(f)
    return out


def check_registry() -> dict[str, int]:
    """Items per built-in benchmark (used by `factory decontaminate --list`)."""
    if not BENCHMARK_DIR.is_dir():
        raise DatasetError(f"{BENCHMARK_DIR}: the shipped benchmark copies are missing", hint="reinstall factory")
    return {name: len(load_builtin(name)) for name in BUILTIN}


def report_lines(stats: dict[str, Any]) -> list[str]:
    """The decontamination report as plain lines (recipe logs; the command prints tables)."""
    verb = "dropped" if stats["action"] == "drop" else "flagged"
    lines = [
        f"decontaminate ({stats['ngram']}-grams vs {sum(stats['benchmark_items'].values())} benchmark items): "
        f"{stats['rows_in']} rows in, {stats['contaminated']} {verb}, {stats['rows_out']} kept",
        "  hits per benchmark: " + ", ".join(f"{b} {n}" for b, n in stats["hits_by_benchmark"].items()),
    ]
    for b, exs in stats.get("examples", {}).items():
        for e in exs[:2]:
            lines.append(f"  {b} item {e['item']} <- row {e['id']}: {e['matches']} shared n-grams, e.g. {e['ngram']!r}")
    return lines


def run(opts: DecontamOptions, ctx: Any) -> dict[str, Any]:
    """The decontaminate stage (`factory decontaminate` and a recipe's `decontaminate:` section)."""
    cfg = DecontamConfig(ngram=opts.ngram, action=opts.action, min_matches=opts.min_matches, common_items=opts.common_items,
                         min_overlap=opts.min_overlap, min_content_words=opts.min_content_words, fields=tuple(opts.fields),
                         builtin=tuple(b for b in opts.builtin if b != "none"), executor=opts.executor)
    specs = []
    for spec in opts.benchmarks:  # NAME=PATH[:COLUMN]; a recipe's paths are relative to its run folder
        name, _, rest = spec.partition("=")
        path, colon, column = rest.rpartition(":") if ":" in rest and not rest.startswith("@") else (rest, "", "")
        specs.append(f"{name}={ctx.path(path)}{colon}{column}")
    r = run_decontam(opts.input, opts.out, cfg, benchmarks=specs, mode="create" if ctx.mode == "create" else "overwrite",
                     command=ctx.command, log=ctx.log)
    if not ctx.progress:
        for line in report_lines(r.stats):
            ctx.log(line)
    return {"out": str(opts.out), **r.stats}
