"""Documents -> fingerprints: normalise, shingle, MinHash and band each text of a batch, the
boilerplate rule's sample and count, and the per-document keys every executor computes the same
way (local threads or processes, Ray workers).

A batch is normalised and shingled as flat arrays (`prepare`), then MinHashed (`sign`); a text
over LONG_TEXT_CHARS is streamed piece by piece with the same fingerprints (`long_signature`), so
one huge row costs the memory of one piece.

Exercise: `factory dedup problems/ --out deduped/` (factory/dedup/core.py runs these).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from factory.filters.minhash import (
    EMPTY_SLOT,
    MinHashParams,
    band_hashes,
    min_hashes,
    permutations,
    shingle_keys,
    signatures,
)
from factory.filters.textnorm import (
    LONG_TEXT_CHARS,
    Shingles,
    Words,
    exact_hashes,
    long_exact_hash,
    mix64,
    normalize_texts,
    normalized_pieces,
    shingle_hashes,
    words_of,
)

CORRECT_VERDICTS = frozenset({"correct", "pass", "passed", "true", "ok", "yes"})


@dataclass
class Fingerprints:
    exact: np.ndarray  # (n,) uint64
    bands: np.ndarray | None  # (n, bands) uint64
    sigs: np.ndarray | None  # (n, num_perm) uint32
    has_shingles: np.ndarray  # (n,) bool


def fingerprint(
    texts: list[str] | pl.Series, *, ngram: int, params: MinHashParams | None, boilerplate: np.ndarray | None = None
) -> Fingerprints:
    """Exact hash, signature and band hashes of each text. Shingles in `boilerplate` (sorted
    uint64) are left out of the signature unless a text has nothing else."""
    if params is None:
        s, long = _split_long(texts)
        exact = exact_hashes(normalize_texts(s))
        exact = exact.copy() if long else exact  # polars' buffer is read-only
        for i, t in long.items():
            exact[i] = long_exact_hash(t)
        return Fingerprints(exact, None, None, np.ones(len(texts), dtype=bool))
    prep = prepare(texts, ngram=ngram)
    return sign(prep, params=params, boilerplate=boilerplate)


@dataclass
class Prepared:
    """A batch normalised and shingled, before MinHash (the boilerplate rule needs shingles).
    Texts over LONG_TEXT_CHARS are in `long` (raw) with no shingles here: `sign` MinHashes them
    piece by piece, so one huge row costs memory of one piece, not of its whole text."""

    exact: np.ndarray  # (n,) uint64
    shingles: Shingles  # short="whole"
    short: np.ndarray  # (n,) bool: 1..ngram-1 words (one whole-text shingle)
    ngram: int = 5
    long: dict[int, str] = field(default_factory=dict)


def _split_long(texts: list[str] | pl.Series) -> tuple[pl.Series, dict[int, str]]:
    """(the batch with texts over LONG_TEXT_CHARS bytes blanked, {index: long raw text})."""
    s = texts if isinstance(texts, pl.Series) else pl.Series("text", texts, dtype=pl.String)
    big = s.str.len_bytes().fill_null(0) > LONG_TEXT_CHARS
    if not big.any():
        return s, {}
    idx = np.flatnonzero(big.to_numpy())
    long = {int(i): s[int(i)] for i in idx}
    # a new Series (when/then), never an in-place scatter into the caller's batch column
    s = s.rename("text").to_frame().select(pl.when(big).then(pl.lit("")).otherwise(pl.col("text")).alias("text")).to_series()
    return s, long


def prepare(texts: list[str] | pl.Series, *, ngram: int) -> Prepared:
    s, long = _split_long(texts)
    norm = normalize_texts(s)
    words = words_of(norm)
    lengths = words.lengths
    exact = exact_hashes(norm)
    exact = exact.copy() if long else exact  # polars' buffer is read-only
    for i, t in long.items():
        exact[i] = long_exact_hash(t)
    return Prepared(exact, shingle_hashes(words, ngram), (lengths > 0) & (lengths < ngram), ngram, long)


def sign(prep: Prepared, *, params: MinHashParams, boilerplate: np.ndarray | None = None) -> Fingerprints:
    sh = prep.shingles
    if boilerplate is not None and len(boilerplate) and len(sh.hashes):
        sh = drop_shingles(sh, boilerplate)
    sig = signatures(sh, params.num_perm, params.seed)
    has = np.diff(sh.offsets) > 0
    for i, text in prep.long.items():
        sig[i], has[i] = long_signature(text, ngram=prep.ngram, params=params, boilerplate=boilerplate)
    return Fingerprints(prep.exact, band_hashes(sig, params.bands, params.rows), sig, has)


def long_signature(text: str, *, ngram: int, params: MinHashParams, boilerplate: np.ndarray | None = None,
                   piece: int = LONG_TEXT_CHARS) -> tuple[np.ndarray, bool]:
    """MinHash signature of one long text, streamed: normalised and shingled a piece at a time
    (the last ngram-1 words carried into the next piece, so the shingles are exactly the whole
    text's), boilerplate shingles dropped unless nothing else is left, a running minimum per
    permutation. Memory: one piece (~1M characters) whatever the text's length."""
    a, b = permutations(params.num_perm, params.seed)
    a_col, b_col = a[:, None], b[:, None]
    buf = np.empty((params.num_perm, 4096), dtype=np.uint32)

    def run(drop: np.ndarray | None) -> tuple[np.ndarray, int, int]:
        sig = np.full(params.num_perm, EMPTY_SLOT, dtype=np.uint32)
        carry = np.zeros(0, np.uint64)
        total = kept = 0
        for norm in normalized_pieces(text, size=piece):
            w = words_of(norm).hashes
            total += len(w)
            seq = np.concatenate([carry, w]) if len(carry) else w
            if len(seq) >= ngram:
                sh = shingle_hashes(Words(seq, np.array([0, len(seq)], dtype=np.int64)), ngram).hashes
                if drop is not None and len(drop):
                    pos = np.minimum(np.searchsorted(drop, sh), len(drop) - 1)
                    sh = sh[drop[pos] != sh]
                if len(sh):
                    kept += len(sh)
                    np.minimum(sig, min_hashes(shingle_keys(sh), a_col, b_col, buf), out=sig)
            carry = seq[max(0, len(seq) - (ngram - 1)) :] if ngram > 1 else np.zeros(0, np.uint64)
        if 0 < total < ngram:  # fewer words than a shingle: one whole-text shingle
            sh = shingle_hashes(Words(carry, np.array([0, len(carry)], dtype=np.int64)), ngram).hashes
            sig = min_hashes(shingle_keys(sh), a_col, b_col, buf)
            kept = 1
        return sig, total, kept

    sig, total, kept = run(boilerplate)
    if total and not kept:
        sig, total, kept = run(None)  # every shingle is boilerplate: the text still needs a fingerprint
    return sig, kept > 0


def select_texts(sh: Shingles, idx: np.ndarray) -> Shingles:
    """The shingles of texts `idx` only (vectorised gather of their ranges)."""
    counts = np.diff(sh.offsets)[idx]
    offsets = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat = np.repeat(sh.offsets[:-1][idx] - offsets[:-1], counts) + np.arange(offsets[-1], dtype=np.int64)
    return Shingles(sh.hashes[flat], offsets, sh.starts[flat])


def drop_shingles(sh: Shingles, drop: np.ndarray) -> Shingles:
    """Remove the shingles in `drop` (sorted) from each text, except from texts that would be
    left with none (a text that IS the boilerplate still needs a fingerprint)."""
    pos = np.minimum(np.searchsorted(drop, sh.hashes), len(drop) - 1)
    hit = drop[pos] == sh.hashes
    if not hit.any():
        return sh
    n = len(sh.offsets) - 1
    doc = np.repeat(np.arange(n), np.diff(sh.offsets))
    kept_per_doc = np.bincount(doc[~hit], minlength=n)
    keep = ~hit | (kept_per_doc[doc] == 0)
    counts = np.bincount(doc[keep], minlength=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Shingles(sh.hashes[keep], offsets, sh.starts[keep])


def _boilerplate_rule(parts: list[np.ndarray], n_texts: int, cfg: Any, log: Callable[[str], None]) -> np.ndarray:
    """Shingles (each counted once per distinct sampled text) found in enough of the texts."""
    if not parts:
        return np.zeros(0, np.uint64)
    values, df = np.unique(np.concatenate(parts), return_counts=True)
    need = max(cfg.boilerplate_min_docs, int(np.ceil(cfg.boilerplate * n_texts)))
    out = np.sort(values[df >= need])
    if len(out):
        log(f"boilerplate: {len(out)} shingle(s) found in >= {need} of {n_texts} sampled distinct texts are left out of signatures")
    return out


def _sample_cut(src: Any, cfg: Any) -> tuple[float, np.uint64]:
    rate = min(1.0, cfg.boilerplate_sample / max(src.rows, 1))
    return rate, np.uint64(min(int(rate * 2**64), 2**64 - 1))


def _sampled(keys: pl.Series, rate: float, cut: np.uint64) -> np.ndarray:
    """The boilerplate sample: documents whose key hashes below the cut (order independent)."""
    return (keys.hash(seed=0xB0B).to_numpy() <= cut) if rate < 1.0 else np.ones(len(keys), dtype=bool)


def _sample_part(prep: Prepared, idx: np.ndarray, seen: set[int]) -> np.ndarray | None:
    """The boilerplate rule's share of one prepared batch: the distinct shingles of each sampled
    text (`idx`) whose normalised text is not in `seen` yet (exact repeats count once; `seen`
    is updated), texts of 1..ngram-1 words left out (they have no n-gram)."""
    if prep.long:  # a long text is not sampled: one text cannot make a shingle common, and its
        idx = idx[~np.isin(idx, np.fromiter(prep.long, dtype=np.int64))]  # millions would crowd the sample
    ex = prep.exact[idx].tolist()
    fresh = np.asarray([i for i, h in zip(idx.tolist(), ex) if h not in seen and not seen.add(h)], dtype=np.int64)
    fresh = fresh[~prep.short[fresh]] if len(fresh) else fresh
    return distinct_per_text(select_texts(prep.shingles, fresh)) if len(fresh) else None


def distinct_per_text(sh: Shingles) -> np.ndarray:
    """The shingle hashes of a batch with each text's repeats removed (a shingle counts once
    per text). One argsort of hash XOR a per-text salt: equal keys are exactly the repeats
    within one text (a cross-text collision of 64-bit keys has probability ~n^2/2^65); 4.5x
    faster than np.lexsort on (text, hash)."""
    if not len(sh.hashes):
        return sh.hashes
    doc = np.repeat(np.arange(len(sh.offsets) - 1, dtype=np.uint64), np.diff(sh.offsets))
    key = sh.hashes ^ mix64(doc + np.uint64(1))
    order = np.argsort(key)
    k = key[order]
    first = np.ones(len(k), dtype=bool)
    first[1:] = k[1:] != k[:-1]
    return sh.hashes[order[first]]


def _worker_init() -> None:
    # one worker per core: keep each worker's own thread pools to one thread
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _fingerprint_job(texts: list[str], ngram: int, params: MinHashParams | None, boilerplate: np.ndarray | None) -> Fingerprints:
    return fingerprint(texts, ngram=ngram, params=params, boilerplate=boilerplate)


def correct_mask(batch: pl.DataFrame, verdict_columns: list[str]) -> np.ndarray:
    ok = np.zeros(batch.height, dtype=bool)
    for c in verdict_columns:
        col = batch[c]
        if col.dtype == pl.Boolean:
            ok |= col.fill_null(False).to_numpy()
        else:
            ok |= col.cast(pl.String).str.to_lowercase().is_in(list(CORRECT_VERDICTS)).fill_null(False).to_numpy()
    return ok


def order_keys(doc_ids: pl.Series) -> np.ndarray:
    """64-bit key of each document id (orders the members of very large buckets)."""
    return doc_ids.cast(pl.String).hash(seed=0x0BDE).to_numpy().astype(np.uint64, copy=False)
