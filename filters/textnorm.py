"""Text normalisation, word n-gram shingles and their 64-bit hashes, vectorised over batches.

Dedup and decontamination compare *normalised* words so that copies differing only in
presentation match: Unicode NFKC (full-width digits, ligatures, superscripts), case, LaTeX
spacing commands (`\\,` `\\!` `\\quad`) and sizing (`\\left(` -> `(`, `\\bigl`), equivalent
commands (`\\dfrac`/`\\tfrac` -> `\\frac`, `\\le` -> `\\leq`), punctuation and `$` delimiters,
and whitespace. Everything runs as polars expressions (Rust regexes, all cores) and numpy
arithmetic over flat arrays of word hashes, never a Python loop per word: 1M problems of ~60
words are 60M words.

A shingle is `n` consecutive words; its 64-bit hash is a polynomial rolling hash of the words'
64-bit hashes (order matters), finished with the splitmix64 mixer. A text shorter than `n`
words gets one shingle: all of its words (so "Compute 5!" still has a fingerprint).
Hashes come from polars' string hash, which is stable within one polars version (pinned).

Exercise: `factory dedup DIR --out OUT`, `factory decontaminate DIR --out OUT`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

# (regex, replacement) in order; Rust regex syntax (no look-around). Backslashes and braces
# become word separators later, so a command only has to be renamed or blanked; rules with one
# replacement share one pass (each pass is a full scan of the batch).
_LATEX_RULES: tuple[tuple[str, str], ...] = (
    # \dfrac, \tfrac are display variants of \frac (same for \binom)
    (r"\\[dt](frac|binom)\b", " ${1} "),
    # sizing and spacing carry no content: \left( -> (, \bigl, \displaystyle, \, \; \! \quad
    (r"\\(?:left|right|middle|[bB]igg?[lr]?|displaystyle|textstyle|scriptstyle|limits|nolimits)\b|\\(?:q?quad\b|[,;:! ])", " "),
    (r"\\([lg]e|ne)\b", " ${1}q "),  # \le -> leq, \ge -> geq, \ne -> neq
    (r"\\(?:text|textbf|textit|mathrm|mathbf|operatorname|mbox)\s*\{", " "),  # \text{cm} -> cm
    (r"\^\s*\\circ\b|°", " degrees "),
)
# Everything that is not a letter or digit separates words ($, {, }, \, punctuation, spaces).
_NON_WORD = r"[^\p{L}\p{N}]+"
# a run of separators that is not exactly one space (same result as _NON_WORD -> " ")
_SEPARATOR_RUN = r"[^\p{L}\p{N}]*[^\p{L}\p{N} ][^\p{L}\p{N}]*| {2,}"

NumberMode = Literal["keep", "mask"]

# Odd 64-bit multiplier for the polynomial rolling hash (golden-ratio constant).
_POLY = np.uint64(0x9E3779B97F4A7C15)
_WORD_SEED = 0x5EED


def _latex(e: pl.Expr) -> pl.Expr:
    for pattern, repl in _LATEX_RULES:
        e = e.str.replace_all(pattern, repl)
    return e


def _separators(e: pl.Expr, numbers: NumberMode) -> pl.Expr:
    # every run of non-word characters becomes one space; a run that already is one space is
    # left alone (most separators are single spaces: matching only the others is 1.8x faster
    # than rewriting every run, with the same output)
    e = e.str.replace_all(_SEPARATOR_RUN, " ")
    if numbers == "mask":
        e = e.str.replace_all(r"\p{N}+", "0")
    return e.str.strip_chars()


def normalize_expr(expr: pl.Expr, *, numbers: NumberMode = "keep") -> pl.Expr:
    """Polars expression: normalised text (lower-case words separated by single spaces).

    numbers="mask" replaces every digit run by `0`, so a renumbered copy normalises the same
    (used by decontamination; dedup keeps numbers: a renumbered problem is a new problem)."""
    e = expr.fill_null("")
    # NFKC is the identity on ASCII; only the (few) non-ASCII texts need it
    e = pl.when(e.str.len_bytes() != e.str.len_chars()).then(e.str.normalize("NFKC")).otherwise(e)
    return _separators(_latex(e.str.to_lowercase()), numbers)


def _on_rows(s: pl.Series, rows: pl.Series, expr: pl.Expr) -> pl.Series:
    """`expr` (over pl.col("text")) applied to the rows where `rows` is True only, scattered
    back (a when/then would evaluate the expression on every row)."""
    idx = np.flatnonzero(rows.to_numpy())
    if not len(idx):
        return s
    return s.scatter(idx, s.gather(idx).to_frame("text").select(expr).to_series())


def normalize_texts(texts: list[str] | pl.Series, *, numbers: NumberMode = "keep") -> pl.Series:
    """`normalize_expr` over a Series, faster: NFKC runs on the non-ASCII texts only and the
    LaTeX rules on the texts holding a backslash or `°` only (the rules match nothing
    else); gathered and scattered back."""
    s = texts if isinstance(texts, pl.Series) else pl.Series("text", texts, dtype=pl.String)
    s = s.fill_null("").rename("text")
    s = _on_rows(s, s.str.len_bytes() != s.str.len_chars(), pl.col("text").str.normalize("NFKC"))
    s = s.str.to_lowercase()
    latex = s.str.contains("\\", literal=True) | s.str.contains("^", literal=True) | s.str.contains("°", literal=True)
    s = _on_rows(s, latex, _latex(pl.col("text")))
    return s.to_frame().select(_separators(pl.col("text"), numbers)).to_series()


def normalize_text(text: str, *, numbers: NumberMode = "keep") -> str:
    """The same normalisation for one string (tests, reports)."""
    return normalize_texts([text], numbers=numbers)[0]


# English function words: they make n-grams look alike without saying what a problem is about
STOPWORDS = frozenset(
    "a an the of to in on at by for from with as is are was were be been being it its this that these those "
    "and or not no if then than so such what which who whom whose when where why how all any each some "
    "let find compute what's there here do does did has have had can could will would should may might must "
    "we you your i he she they them their our us his her my me".split()
)


@dataclass
class Words:
    """Words of a batch of normalised texts, flattened: `hashes[offsets[i]:offsets[i+1]]` are
    the 64-bit hashes of text i's words."""

    hashes: np.ndarray  # uint64, one per word
    offsets: np.ndarray  # int64, len = n_texts + 1
    # with content=True: True for words that carry meaning (>= 2 characters, at least one
    # letter, not a STOPWORD), False for digits, masked numbers, single letters, "the", "of"
    content: np.ndarray | None = None

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def words_of(normalized: pl.Series, *, content: bool = False) -> Words:
    """Split normalised texts on spaces and hash each word (vectorised, polars)."""
    lists = normalized.str.split(" ")
    # "" splits into [""]: a text with no words has length 0
    lengths = lists.list.len().to_numpy().astype(np.int64)
    empty = (normalized == "").fill_null(True).to_numpy()
    lengths[empty] = 0
    flat = lists.explode()
    if empty.any():  # normalised texts have no empty words otherwise (single spaces, stripped)
        flat = flat.filter(flat.is_not_null() & (flat != ""))
    hashes = flat.hash(seed=_WORD_SEED).to_numpy().astype(np.uint64, copy=False)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] != len(hashes):  # pragma: no cover - would mean the split/explode disagree
        raise AssertionError(f"word count mismatch: {offsets[-1]} != {len(hashes)}")
    flags = None
    if content:
        flags = ((flat.str.len_chars() >= 2) & flat.str.contains(r"\p{L}") & ~flat.is_in(list(STOPWORDS))).to_numpy()
    return Words(hashes=hashes, offsets=offsets, content=flags)


def content_counts(words: Words, sh: Shingles, n: int) -> np.ndarray:
    """Number of content words in each n-word shingle (Words built with content=True)."""
    if words.content is None:
        raise ValueError("words_of(..., content=True) is needed")
    csum = np.concatenate([[0], np.cumsum(words.content, dtype=np.int64)])
    doc = np.repeat(np.arange(len(sh.offsets) - 1), np.diff(sh.offsets))
    first = words.offsets[:-1][doc] + sh.starts.astype(np.int64)
    last = np.minimum(first + n, words.offsets[1:][doc])
    return csum[last] - csum[first]


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads every input bit over the output (uint64 in, uint64 out)."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


@dataclass
class Shingles:
    """Shingle hashes of a batch, flattened like Words; `starts[k]` is the word position (within
    its text) where shingle k begins, used to print the matching n-gram in reports."""

    hashes: np.ndarray  # uint64
    offsets: np.ndarray  # int64, len = n_texts + 1
    starts: np.ndarray  # int32 word index inside the text


def shingle_hashes(words: Words, n: int, *, short: Literal["whole", "skip"] = "whole") -> Shingles:
    """Hashes of every n-word window of every text, vectorised over the whole batch.

    short="whole": a text with 1..n-1 words gets one shingle of all its words (its length is
    part of the hash, so it can only equal another whole text of the same words);
    short="skip": such texts get no shingles."""
    if n < 1:
        raise ValueError(f"n must be >= 1, found {n}")
    w = words.hashes
    lengths = words.lengths
    n_texts = len(lengths)
    total = len(w)
    doc_of = np.repeat(np.arange(n_texts, dtype=np.int64), lengths)
    pos = np.arange(total, dtype=np.int64) - words.offsets[:-1][doc_of] if total else np.zeros(0, np.int64)
    # h_i(p) = hash of words p..p+i, built up one word at a time; windows that would cross
    # into the next text are masked out below.
    m = max(total - n + 1, 0)
    h = w[:m].copy() if m else np.zeros(0, np.uint64)
    short_mask = (lengths > 0) & (lengths < n)
    short_hash = np.zeros(n_texts, dtype=np.uint64)
    short_start = words.offsets[:-1]
    with np.errstate(over="ignore"):
        # texts shorter than n words: the same recurrence, stopped at their own length
        if short == "whole" and short_mask.any():
            idx = np.nonzero(short_mask)[0]
            sh = w[short_start[idx]].copy()
            for i in range(1, n - 1):
                more = lengths[idx] > i
                if not more.any():
                    break
                sh[more] = sh[more] * _POLY + w[short_start[idx[more]] + i]
            short_hash[idx] = sh ^ (lengths[idx].astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93))
        for i in range(1, n):
            h *= _POLY
            h += w[i : i + m]
    valid = np.zeros(m, dtype=bool)
    if m:
        valid = pos[:m] <= (lengths[doc_of[:m]] - n)
    full_hashes = h[valid]
    full_doc = doc_of[:m][valid]
    full_start = pos[:m][valid]
    if short == "whole" and short_mask.any():
        idx = np.nonzero(short_mask)[0]
        all_doc = np.concatenate([full_doc, idx])
        all_hash = np.concatenate([full_hashes, short_hash[idx]])
        all_start = np.concatenate([full_start, np.zeros(len(idx), np.int64)])
        order = np.argsort(all_doc, kind="stable")
        full_doc, full_hashes, full_start = all_doc[order], all_hash[order], all_start[order]
    counts = np.bincount(full_doc, minlength=n_texts) if n_texts else np.zeros(0, np.int64)
    offsets = np.zeros(n_texts + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Shingles(hashes=mix64(full_hashes), offsets=offsets, starts=full_start.astype(np.int32))


# A text longer than this (in characters) is normalised and shingled piece by piece (about this
# many characters a piece): the vectorised batch path holds ~40 bytes per word at once (word
# strings, hashes, positions, windows), 2+ GB for one 50 MB text of short words.
LONG_TEXT_CHARS = 1 << 20
_CUT_AT = re.compile(r"[A-Za-z0-9]\s+(?=[A-Za-z0-9])")
_SPACE = re.compile(r"\s")


def text_pieces(text: str, *, size: int = LONG_TEXT_CHARS) -> Iterator[str]:
    """A long raw text cut into pieces of about `size` characters, each cut after a whitespace
    run between two ASCII letters or digits. No normalisation rule reads across such a space
    (the LaTeX rules need a backslash, brace or caret beside it; NFKC and case are per
    character), so the pieces' normalised words, in order, are the whole text's normalised
    words. Such a cut is looked for in the 64K characters after `size`, then before it; then
    any whitespace; a text with no whitespace at all is cut at `size` (one word split in two)."""
    i, n = 0, len(text)
    window = 1 << 16
    while i < n:
        if n - i <= size:
            yield text[i:]
            return
        end = i + size
        m = _CUT_AT.search(text, end, min(n, end + window))
        if m is None and n <= end + window:
            yield text[i:]  # no safe cut in what is left: one slightly bigger piece
            return
        cut = m.end() if m is not None else 0
        if not cut:
            last = None
            for last in _CUT_AT.finditer(text, max(i, end - window), end):
                pass
            cut = last.end() if last is not None and last.end() > i else 0
        if not cut:
            m = _SPACE.search(text, end, min(n, end + window))
            cut = m.end() if m is not None else end
        yield text[i:cut]
        i = cut


def normalized_pieces(text: str, *, size: int = LONG_TEXT_CHARS, numbers: NumberMode = "keep") -> Iterator[pl.Series]:
    """`normalize_texts` of a long text, one piece at a time (one-element Series, never empty):
    " ".join of the pieces is the normalised whole text."""
    for piece in text_pieces(text, size=size):
        norm = normalize_texts([piece], numbers=numbers)
        if norm[0]:
            yield norm


def long_exact_hash(text: str, *, size: int = LONG_TEXT_CHARS) -> np.uint64:
    """`exact_hashes` of one long text, normalised and hashed piece by piece: the same value as
    `exact_hashes(normalize_texts([text]))` without a whole normalised copy in memory."""
    h = hashlib.blake2b(digest_size=8, person=_EXACT_PERSON)
    held: list[str] = []  # pieces kept while the normalised text may still be short
    total = 0
    for p in normalized_pieces(text, size=size):
        piece = p[0]
        total += len(piece.encode()) + (1 if total else 0)
        if held is not None:
            held.append(piece)
            if total > LONG_TEXT_CHARS:
                h.update(" ".join(held).encode())
                held = None
        else:
            h.update(b" " + piece.encode())
    if held is not None:
        return exact_hashes(pl.Series("text", [" ".join(held)], dtype=pl.String))[0]
    return np.uint64(int.from_bytes(h.digest(), "little"))


def text_shingles(texts: list[str] | pl.Series, n: int, *, numbers: NumberMode = "keep") -> Shingles:
    """Normalise, split, and shingle a batch of raw texts in one call."""
    return shingle_hashes(words_of(normalize_texts(texts, numbers=numbers)), n)


_EXACT_PERSON = b"factory-exact"


def exact_hashes(normalized: pl.Series) -> np.ndarray:
    """64-bit hash of each whole normalised text (exact dedup key): polars' string hash, or, for
    a normalised text over LONG_TEXT_CHARS bytes, 8 bytes of BLAKE2b, which `long_exact_hash`
    computes piece by piece (so a long text has one key whichever path read it)."""
    s = normalized.fill_null("")
    out = s.hash(seed=0xE1AC7).to_numpy().astype(np.uint64, copy=False)
    big = np.flatnonzero((s.str.len_bytes() > LONG_TEXT_CHARS).to_numpy())
    if len(big):
        out = out.copy()
        for i in big.tolist():
            h = hashlib.blake2b(s[i].encode(), digest_size=8, person=_EXACT_PERSON)
            out[i] = np.uint64(int.from_bytes(h.digest(), "little"))
    return out
