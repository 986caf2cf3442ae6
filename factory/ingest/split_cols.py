"""The reasoning split of completions over a whole Arrow column (the batch path of `factory
ingest`): Sky-T1 tags exactly as `presets.split_skyt1` splits one string, and `<think>` tags
(DeepSeek-R1, QwQ, Qwen3) exactly as `presets.split_think` does.

The thought and the solution are substrings of the completion between tags, stripped. No Python
runs per row: every "<" of the batch's UTF-8 buffer is found in one vectorised numpy pass, the
tags among them by comparing the bytes that follow (the tags are ASCII, so a match in valid
UTF-8 bytes is a match of the same characters), and each row's first tag after a given offset is
picked by `numpy.searchsorted` — the same searches `split_skyt1`/`split_think` make with
`str.find`, for all rows at once. The reasoning and answer columns are views of byte ranges of
the completion column's own buffer (an Arrow string_view array built by numpy), copied once by
Arrow and stripped with `str.strip()`'s characters. The leading whitespace before an opening
`<think>` is measured by Arrow (`utf8_ltrim` with `str.isspace()`'s characters, which is what
the regex `^\\s*<think>` skips). (Arrow's own `find_substring` read these texts at a fifth of the
speed of `bytes.find`; a `bytes.find` per row and tag was the previous form.) Tests compare both
with the string splitters on invented edge cases (tests/test_ingest_split_cols.py).

Exercise: `python bench/ingest_throughput.py --only skyt1 think --rows 20000`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from factory.ingest.presets import BOS, BOT, EOS, EOT
from factory.schemas.text import THINK_CLOSE, THINK_OPEN

_LB, _LE, _LBS = len(BOT), len(EOT), len(BOS)  # ASCII tags: characters == bytes
# what str.strip() strips: every code point whose str.isspace() is true
PY_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
                 "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


@dataclass
class SplitCols:
    """The split of every completion: reasoning and answer as Arrow columns, the rest per row."""

    reasoning: pa.Array
    answer: pa.Array
    finished: list[bool]
    finish_reason: list[str]
    form: list[str]


def _ranges_column(data: pa.Buffer | None, starts: Any, ends: Any, valid: Any) -> pa.Array:
    """The bytes [starts[i], ends[i]) of `data` stripped, null where not valid or empty.

    The ranges become an Arrow string_view array over `data` itself (16-byte views built by
    numpy: a string of up to 12 bytes is held inside its view, a longer one by its offset), which
    Arrow then copies into one string column: no Python object per row. `data` is a string
    column's buffer (under 2 GiB) and the ranges of one call do not overlap, so 32-bit offsets
    and lengths hold them."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.where(np.asarray(valid, dtype=np.bool_), np.asarray(ends, dtype=np.int64) - starts, 0)
    n = len(starts)
    if data is None or len(data) == 0:
        data, lengths = pa.py_buffer(b"\0"), np.zeros(n, dtype=np.int64)
    a = np.frombuffer(data, dtype=np.uint8)
    views = np.zeros((n, 16), dtype=np.uint8)
    views[:, 0:4] = lengths.astype("<i4").view(np.uint8).reshape(n, 4)
    head = a[np.minimum(starts[:, None] + np.arange(12), len(a) - 1)]  # the first 12 bytes of each range
    head[np.arange(12) >= lengths[:, None]] = 0  # a short string's view is zero past its end
    views[:, 4:16] = head
    long_ = lengths > 12  # prefix (the first 4 bytes, already there), buffer 0, offset
    views[long_, 8:12] = 0
    views[long_, 12:16] = starts[long_].astype("<i4").view(np.uint8).reshape(-1, 4)
    arr = pa.Array.from_buffers(pa.string_view(), n, [None, pa.py_buffer(views), data])
    trimmed = pc.utf8_trim(arr.cast(pa.string()), characters=PY_WHITESPACE)  # == str.strip()
    # empty after stripping -> null (`_clean`): the validity bitmap set on the same buffers
    keep = pc.greater(pc.binary_length(trimmed), 0)
    if keep.offset or trimmed.offset:
        keep, trimmed = keep.take(pa.array(range(len(keep)))), trimmed.take(pa.array(range(len(trimmed))))
    return pa.Array.from_buffers(pa.string(), len(trimmed), [keep.buffers()[1], *trimmed.buffers()[1:]])


_BOT, _EOT, _BOS, _EOS = (t.encode() for t in (BOT, EOT, BOS, EOS))


def _text_bytes(texts: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Buffer | None, np.ndarray, np.ndarray, np.ndarray]:
    """(the column as one string array, its data buffer, that buffer as a numpy byte array up to
    the last row's end, each row's start and end offsets in it), all without copying the text."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if texts.type != pa.string():
        texts = texts.cast(pa.string())
    n = len(texts)
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int32)[texts.offset: texts.offset + n + 1].astype(np.int64)
    buf = texts.buffers()[2]
    a = np.frombuffer(buf, dtype=np.uint8) if buf is not None else np.zeros(0, dtype=np.uint8)
    return texts, buf, a[: int(offsets[-1])], offsets[:-1], offsets[1:]


class _Tags:
    """The tags of one batch's text: every "<" found once, each tag's places on demand."""

    def __init__(self, a: np.ndarray, lo: int) -> None:
        self.a = a
        self.lt = np.flatnonzero(a[lo:] == 0x3C) + lo
        self._at: dict[bytes, np.ndarray] = {}

    def first(self, tag: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Per row, the first `tag` at or after starts[i] that ends by ends[i], or -1."""
        at = self._at.get(tag)
        if at is None:
            at = self._at[tag] = _tag_at(self.a, self.lt, tag)
        return _first_in_row(at, len(tag), starts, ends)


def split_skyt1_column(texts: pa.Array | pa.ChunkedArray) -> SplitCols:
    """`split_skyt1` over every completion of a string column (no nulls): the searches of
    `split_skyt1` and `schemas.text._split_sky` on byte offsets (the tags are ASCII, so a match in
    valid UTF-8 bytes is a match of the same characters), for all rows at once."""
    texts, buf, a, i0, i1 = _text_bytes(texts)
    tags = _Tags(a, int(i0[0]) if len(i0) else 0)
    bot, eot, bos = tags.first(_BOT, i0, i1), tags.first(_EOT, i0, i1), tags.first(_BOS, i0, i1)
    no_tags = (bot < 0) & (eot < 0) & (bos < 0)
    b0 = np.where(bot >= 0, bot + _LB, i0)  # the thought starts after its tag, or at the start
    end = tags.first(_EOT, b0, i1)  # the thought's end tag after its start
    sol = tags.first(_BOS, b0, i1)  # else the solution's tag ends it
    cut = ~no_tags & (end < 0) & (sol < 0)  # opened, never closed: cut in the thought
    closed_thought = end >= 0
    rest = np.where(closed_thought, end + _LE, sol + _LBS)
    s = tags.first(_BOS, rest, i1)  # after a closed thought, the solution starts after its tag
    rest = np.where(closed_thought & (s >= 0), s + _LBS, rest)
    has_answer = ~no_tags & ~cut
    e = tags.first(_EOS, np.where(has_answer, rest, i1), i1)
    r_end = np.where(no_tags | cut, i1, np.where(closed_thought, end, sol))
    reasoning = _ranges_column(buf, np.where(no_tags, i0, b0), r_end, np.ones(len(i0), dtype=np.bool_))
    answer = _ranges_column(buf, rest, np.where(e >= 0, e, i1), has_answer)
    # is there an end tag after the first solution tag? (the one found above when the answer starts there)
    after_bos = bos + _LBS
    closed = np.where(rest == after_bos, e >= 0, tags.first(_EOS, np.where(bos >= 0, after_bos, i1), i1) >= 0)
    form = np.where(no_tags, "no_tags", np.where(cut, "cut_in_thought", np.where(
        bos >= 0, np.where(closed, "complete", "cut_in_solution"), "no_solution")))
    reason = np.where(no_tags, "unknown", np.where(cut, "length", np.where(
        bos >= 0, np.where(closed, "stop", "length"), "unknown")))
    return SplitCols(reasoning, answer, has_answer.tolist(), reason.tolist(), form.tolist())


_OPEN, _CLOSE = THINK_OPEN.encode(), THINK_CLOSE.encode()
_NONE = np.iinfo(np.int64).max // 2  # "no tag" sentinel, past any buffer


def _tag_at(a: np.ndarray, lt: np.ndarray, tag: bytes) -> np.ndarray:
    """Where `tag` (an ASCII tag starting with "<") starts in the byte array `a`, given every
    "<" of the range searched (`lt`, sorted): each candidate kept while its next bytes match."""
    at = lt[lt + len(tag) <= len(a)]
    for k in range(1, len(tag)):
        at = at[a[at + k] == tag[k]]
    return at


def _first_in_row(at: np.ndarray, size: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per row, the first of the sorted tag offsets `at` inside [starts[i], ends[i]) with the
    whole tag (`size` bytes) in the row, or -1."""
    if not len(at):
        return np.full(len(starts), -1, dtype=np.int64)
    first = np.append(at, _NONE)[np.searchsorted(at, starts, side="left")]
    # the first one past the start either ends inside the row or no later one does
    return np.where(first + size <= ends, first, -1)


def split_think_column(texts: pa.Array | pa.ChunkedArray) -> SplitCols | None:
    """`split_think` (no reasoning field) over every completion of a string column (no nulls);
    None when a completion carries Sky-T1 tags (split_reasoning then reads them as Sky-T1: the
    caller splits that batch per row)."""
    texts, buf, a, starts, ends = _text_bytes(texts)
    tags = _Tags(a, int(starts[0]) if len(starts) else 0)
    for tag in (_BOT, _EOT, _BOS):  # split_reasoning's test for the Sky-T1 form comes first
        if bool(np.any(tags.first(tag, starts, ends) >= 0)):
            return None
    # `^\\s*<think>`: the tag right after the leading whitespace (str.isspace() characters)
    stripped = pc.utf8_ltrim(texts, characters=PY_WHITESPACE)
    has_open = pc.starts_with(stripped, THINK_OPEN).to_numpy(zero_copy_only=False)
    lead = pc.binary_length(texts).to_numpy(zero_copy_only=False) - pc.binary_length(stripped).to_numpy(zero_copy_only=False)
    body = np.where(has_open, starts + lead + len(_OPEN), starts)  # after the tag, or at the start (prefilled)
    close = tags.first(_CLOSE, body, ends)
    closed = close >= 0
    finished = closed | ~has_open  # an opened thought never closed was cut; no thought at all finished
    reasoning = _ranges_column(buf, body, np.where(closed, close, ends), has_open | closed)
    answer = _ranges_column(buf, np.where(closed, close + len(_CLOSE), starts), ends, finished)
    has_reasoning = reasoning.is_valid().to_numpy(zero_copy_only=False)
    has_answer = answer.is_valid().to_numpy(zero_copy_only=False)
    # split_think: no thought (none, or an empty one) -> no_think; cut -> length; else by the opening tag
    form = np.where(~has_reasoning, "no_think", np.where(~finished, "cut_in_thought",
                                                          np.where(has_open, "complete", "prefilled_open_tag")))
    reason = np.where(~has_reasoning, "unknown", np.where(~finished, "length", np.where(has_answer, "stop", "unknown")))
    return SplitCols(reasoning, answer, finished.tolist(), reason.tolist(), form.tolist())


__all__ = ["SplitCols", "split_skyt1_column", "split_think_column"]
