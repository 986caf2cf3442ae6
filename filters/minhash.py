"""MinHash signatures and LSH band hashes, vectorised with numpy over flat shingle arrays.

A signature has `num_perm` 32-bit slots; slot i is min over the text's shingles of
h_i(x) = (a_i * x + b_i) mod 2^32 with a_i odd (a bijection of 32-bit keys), where x is the top
half of the splitmix-mixed 64-bit shingle hash, so keys already look uniformly random. One
block of shingles costs one SIMD multiply, one add and one `np.minimum.reduceat` per
permutation, on cache-sized blocks (4,096 shingles x num_perm x 4 bytes = 2 MB), instead of
datasketch's per-document Python calls. On edited MATH-500 problems the Jaccard estimate has
the same error as datasketch's (RMSE 0.040 vs 0.039 at 128 permutations; theory 0.039). Two texts agree on a slot with probability ~ their Jaccard
similarity, so the fraction of equal slots estimates it.

LSH splits a signature into `bands` bands of `rows` slots and hashes each band to 64 bits;
texts sharing a band hash are candidate duplicates. P(candidate | Jaccard s) =
1 - (1 - s^rows)^bands; `optimal_bands_rows` picks (bands, rows) for a threshold the way
datasketch does (minimise equally weighted false-positive and false-negative areas).

Exercise: `factory dedup DIR --out OUT --threshold 0.8 --num-perm 128`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from factory.filters.textnorm import Shingles, mix64

EMPTY_SLOT = np.uint32(0xFFFFFFFF)  # slot value of a text with no shingles
_BLOCK_SHINGLES = 4096
_POLY = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class MinHashParams:
    num_perm: int = 128
    bands: int = 0
    rows: int = 0
    seed: int = 1
    threshold: float = 0.8
    # weight of false negatives when choosing bands x rows (false positives get 1 - this);
    # 0.5 is datasketch's choice; a pipeline that verifies candidates can favour recall
    fn_weight: float = 0.5

    def resolved(self) -> MinHashParams:
        """Fill bands/rows from the threshold when not given."""
        if self.num_perm < 2:
            raise ValueError(f"num_perm must be >= 2, found {self.num_perm}")
        if self.bands and self.rows:
            if self.bands * self.rows > self.num_perm:
                raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm {self.num_perm}")
            return self
        b, r = optimal_bands_rows(self.threshold, self.num_perm, fp_weight=1 - self.fn_weight, fn_weight=self.fn_weight)
        return MinHashParams(self.num_perm, b, r, self.seed, self.threshold, self.fn_weight)


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of the hash family, derived from the seed only (same seed -> same signatures)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x4D494E48]))
    a = (rng.integers(0, 2**31, size=num_perm, dtype=np.uint64) * 2 + 1).astype(np.uint32)  # odd
    b = rng.integers(0, 2**32, size=num_perm, dtype=np.uint64).astype(np.uint32)
    return a, b


def signatures(sh: Shingles, num_perm: int, seed: int) -> np.ndarray:
    """(n_texts, num_perm) uint32 MinHash signatures; texts without shingles get EMPTY_SLOT."""
    a, b = permutations(num_perm, seed)
    n_texts = len(sh.offsets) - 1
    out = np.full((n_texts, num_perm), EMPTY_SLOT, dtype=np.uint32)
    counts = np.diff(sh.offsets)
    nonempty = np.nonzero(counts)[0]
    if not len(nonempty):
        return out
    x = shingle_keys(sh.hashes)
    # (num_perm, block) layout: the multiply is one SIMD pass and reduceat runs along
    # contiguous memory (measured 0.7 ns per (shingle, permutation) vs 4.3 ns row-major)
    buf = np.empty((num_perm, _BLOCK_SHINGLES), dtype=np.uint32)
    starts = sh.offsets[nonempty]
    ends = sh.offsets[nonempty + 1]
    a_col, b_col = a[:, None], b[:, None]
    i = 0
    while i < len(nonempty):
        # whole texts in blocks of about _BLOCK_SHINGLES shingles
        lo = starts[i]
        j = max(int(np.searchsorted(ends, lo + _BLOCK_SHINGLES, side="right")), i + 1)
        hi = ends[j - 1]
        m = int(hi - lo)
        if m > _BLOCK_SHINGLES:
            # one text longer than a block: running minimum over blocks (a block the size of
            # the text was num_perm x 4 bytes per shingle: 4 GB for 8M shingles)
            out[nonempty[i]] = min_hashes(x[lo:hi], a_col, b_col, buf)
        else:
            blk = buf[:, :m]
            np.multiply(a_col, x[None, lo:hi], out=blk)  # wraps mod 2^32 by design
            blk += b_col
            out[nonempty[i:j]] = np.minimum.reduceat(blk, starts[i:j] - lo, axis=1).T
        i = j
    return out


def min_hashes(x: np.ndarray, a_col: np.ndarray, b_col: np.ndarray, buf: np.ndarray | None = None) -> np.ndarray:
    """The signature (num_perm,) of ONE text from its uint32 shingle keys `x`, in blocks of
    _BLOCK_SHINGLES (memory: one block, whatever the text's length)."""
    num_perm = a_col.shape[0]
    if buf is None:
        buf = np.empty((num_perm, _BLOCK_SHINGLES), dtype=np.uint32)
    sig = np.full(num_perm, EMPTY_SLOT, dtype=np.uint32)
    for lo in range(0, len(x), _BLOCK_SHINGLES):
        part = x[lo : lo + _BLOCK_SHINGLES]
        blk = buf[:, : len(part)]
        np.multiply(a_col, part[None, :], out=blk)
        blk += b_col
        np.minimum(sig, blk.min(axis=1), out=sig)
    return sig


def shingle_keys(hashes: np.ndarray) -> np.ndarray:
    """The uint32 key MinHash permutes: the top 32 bits of the (splitmix-mixed) shingle hash."""
    return (hashes >> np.uint64(32)).astype(np.uint32)


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n_texts, bands) uint64: the hash of each band's `rows` slots (band index salted in)."""
    n = sig.shape[0]
    out = np.empty((n, bands), dtype=np.uint64)
    s = sig.astype(np.uint64)
    with np.errstate(over="ignore"):
        for j in range(bands):
            h = np.full(n, np.uint64(j + 1) * np.uint64(0xA24BAED4963EE407), dtype=np.uint64)
            for c in range(j * rows, (j + 1) * rows):
                h = h * _POLY + s[:, c]
            out[:, j] = mix64(h)
    return out


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Fraction of equal slots, row by row (arrays of shape (k, num_perm) or (num_perm,))."""
    return np.mean(sig_a == sig_b, axis=-1)


def _integrate(f, a: float, b: float, steps: int = 200) -> float:
    x = np.linspace(a, b, steps + 1)
    y = f(x)
    return float(np.sum((y[1:] + y[:-1]) * 0.5 * np.diff(x)))


@functools.lru_cache(maxsize=64)
def optimal_bands_rows(threshold: float, num_perm: int, *, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising fp_weight*FP-area + fn_weight*FN-area around the threshold
    (the rule datasketch's MinHashLSH uses, so both tools index with the same bands)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), found {threshold}")
    best, best_err = (1, num_perm), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = _integrate(lambda s: 1 - (1 - s ** r) ** b, 0.0, threshold)
            fn = _integrate(lambda s: 1 - (1 - (1 - s ** r) ** b), threshold, 1.0)
            err = fp * fp_weight + fn * fn_weight
            if err < best_err:
                best_err, best = err, (b, r)
    return best


def candidate_probability(s: float | np.ndarray, bands: int, rows: int):
    """P(two texts of Jaccard s share at least one band)."""
    return 1 - (1 - np.asarray(s) ** rows) ** bands
