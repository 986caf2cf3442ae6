"""The batch path of `factory ingest`: a batch of JSON Lines (or a Parquet row group) is mapped
as a whole, in one of two ways.

- Column mapping (gsm8k, math500, aime24, aime25, amc23, skyt1-traces, qwen-traces,
  think-traces, when no `--map` is given): Arrow's multi-threaded JSON reader parses the batch,
  and each output column is built from whole input columns. Text that passes through stays an
  Arrow column (never a Python list); GSM8K's `#### N` answers are read by an Arrow regex where
  the line is plain; ids hash bytes Arrow joined, read through memoryviews; Sky-T1's reasoning
  and answer are byte ranges of the completion column's own buffer (`factory.ingest.split_cols`).
  Python runs per row only where it must: the sha256 of each id, the tag search of the Sky-T1
  split, and the reasoning split of the other trace presets (`factory.schemas.text`).
- Row functions over a batch (every other preset, and any `--map`): the preset's own row
  functions map each row of the batch, as the row path would, but in a worker (thread or
  process) and into one Arrow table per batch.

Either way the result is exactly the rows of the row-by-row path (`ingest(..., engine="rows")`,
the reference; tests/test_ingest_batch.py compares the shards byte for byte). Anything the column
mapping is not sure to map the same way (a blank line, invalid UTF-8, deep nesting, a value of an
unexpected type, a missing or null column, a bad value) raises `Fallback`, and the driver maps
that batch row by row, which also produces the exact error message or reject row. The value
checks are the row path's own (`as_text`, `as_integer`, `answer_value`, `gsm8k_answer`, the
splitters), applied per column, and the extra-column and domain rules are
`factory.ingest.report`'s.

`prepare` needs no state of the run, so batches are prepared in worker threads or processes;
`finish` then applies the run's state (problems already written, sample numbering) in order.

Exercise: `python bench/ingest_throughput.py --rows 50000 --only gsm8k`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from factory.ingest.presets import (
    _COMPLETION_COLS,
    ANSWER_FACTS,
    Preset,
    RowFail,
    Split,
    answer_value,
    as_integer,
    as_text,
    gsm8k_answer,
    qwen_sample_meta,
    solution_value,
    split_plain,
    split_skyt1,
    split_think,
)
from factory.ingest.readers import LineBatch, RowError, TableBatch, scratch
from factory.ingest.report import (
    PROBLEM_ONLY_META,
    RESERVED_META,
    WHY_BINARY,
    WHY_NESTED,
    WHY_NONE,
    WHY_TAKEN,
    extra_why,
    ignored_columns,
    infer_domain,
)
from factory.ingest.split_cols import (
    PY_WHITESPACE,
    SplitCols,
    split_skyt1_column,
    split_think_column,
)
from factory.schemas.contracts import DOMAINS, FINISH_REASONS, meta_json


class Fallback(Exception):
    """This batch must be mapped row by row (the reason is for debugging only)."""


_SEP = "\x1f"
_NONE = "\x00"
_EXACT_INT = 2**53  # a JSON integer above this read into a float column has lost digits
# the same characters as an RE2 class
_PY_WS_CLASS = r"[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
MAX_DEPTH = 512  # JSON nesting the batch path hands to Arrow (see _too_deep)

Column = "list[Any] | pa.ChunkedArray | pa.Array"  # a column of values: Python, or Arrow as it is


# ---------------------------------------------------------------------------------------------
# ids: the schemas' sha256 over bytes Arrow joins (no Python string per part)
# ---------------------------------------------------------------------------------------------


def _arrow(values: Any, type_: pa.DataType = pa.string()) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values if values.type == type_ else values.cast(type_)  # large_string -> string: the join kernel's type
    if isinstance(values, Same):
        return pa.repeat(pa.scalar(values.value, type=type_), len(values)) if values.value is not None else pa.nulls(len(values), type_)
    return pa.array(values, type=type_)


def _hashes(joined: pa.Array | pa.ChunkedArray, prefix: str) -> list[str]:
    """prefix + the first 16 hex digits of sha256 of each value's UTF-8 bytes, read in place
    through a memoryview of the Arrow buffer (long completions are never copied)."""
    import numpy as np

    sha = hashlib.sha256
    out: list[str] = []
    chunks = joined.chunks if isinstance(joined, pa.ChunkedArray) else [joined]
    for ch in chunks:
        if not len(ch):
            continue
        if ch.null_count:
            raise ValueError("id parts must not be null")
        width = np.int64 if pa.types.is_large_string(ch.type) or pa.types.is_large_binary(ch.type) else np.int32
        offsets = np.frombuffer(ch.buffers()[1], dtype=width)[ch.offset: ch.offset + len(ch) + 1].tolist()
        data = ch.buffers()[2]
        mv = memoryview(data) if data is not None else memoryview(b"")
        # the first 16 hex digits of the digest are its first 8 bytes in hex
        out.extend([prefix + sha(mv[a:b]).digest()[:8].hex() for a, b in zip(offsets, offsets[1:])])
    return out


def problem_ids(domain: Any, problems: Any, answers: Any) -> list[str]:
    """`factory.schemas.ids.problem_id(domain, problem, answer, None)` for whole columns: the
    same sha256 over the same bytes (parts joined by 0x1f, None as 0x00). `domain` is one
    string or a column."""
    problems = _arrow(problems)
    stripped = pc.utf8_trim(problems, characters=PY_WHITESPACE)  # == str.strip()
    dom = pa.scalar(domain) if isinstance(domain, str) else _arrow(domain)
    ans = pc.fill_null(_arrow(answers), _NONE)
    return _hashes(pc.binary_join_element_wise(dom, stripped, ans, _NONE, _SEP), "p_")


def _offsets(ch: pa.Array) -> tuple[list[int], memoryview]:
    """A string/binary array's value offsets and its data buffer (no copy)."""
    import numpy as np

    if ch.null_count:
        raise ValueError("id parts must not be null")
    width = np.int64 if pa.types.is_large_string(ch.type) or pa.types.is_large_binary(ch.type) else np.int32
    offsets = np.frombuffer(ch.buffers()[1], dtype=width)[ch.offset: ch.offset + len(ch) + 1].tolist()
    data = ch.buffers()[2]
    return offsets, (memoryview(data) if data is not None else memoryview(b""))


def trace_ids(pids: Any, indexes: Any, teachers: Any, completions: Any) -> list[str]:
    """`factory.schemas.ids.trace_id` for whole columns (an int part is hashed as its JSON text).
    The short parts are joined by Arrow ("pid 0x1f index 0x1f teacher 0x1f"); the completion is
    fed to the same sha256 after them from its own buffer: long completions are not copied
    into a joined column first (hashlib releases the GIL while it reads them)."""
    idx = pc.cast(_arrow(indexes, pa.int64()), pa.string())
    heads = pc.binary_join_element_wise(_arrow(pids), idx, _arrow(teachers), "", _SEP)
    if isinstance(heads, pa.ChunkedArray):
        heads = heads.combine_chunks()
    texts = _arrow(completions)
    if len(heads) != len(texts):
        raise ValueError("id parts of different lengths")
    hoff, hmv = _offsets(heads)
    sha = hashlib.sha256
    out: list[str] = []
    row = 0
    for ch in texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]:
        if not len(ch):
            continue
        toff, tmv = _offsets(ch)
        for k in range(len(ch)):
            h = sha(hmv[hoff[row]:hoff[row + 1]])
            h.update(tmv[toff[k]:toff[k + 1]])
            out.append("t_" + h.digest()[:8].hex())  # the first 16 hex digits of the digest
            row += 1
    return out


# ---------------------------------------------------------------------------------------------
# parsing a batch and reading its columns with the row path's semantics
# ---------------------------------------------------------------------------------------------


_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}\n")


def _too_deep(data: bytes, n_lines: int, newlines: Any = None) -> bool:
    """Whether any line may nest deeper than MAX_DEPTH. Arrow's JSON type inference takes time
    quadratic in the depth (2,000 levels: 2 s; 8,000: over a minute) and its parser crashes the
    process near 17,000; Python's stops near 1,000 with an error. Brackets inside strings count
    too, so this errs towards the row path, never the other way. `newlines`: the newline
    offsets when the caller has them (LineBatch found them already)."""
    import numpy as np

    a = np.frombuffer(data, dtype=np.uint8)
    m = scratch(len(a))
    # "[" (0x5B) and "{" (0x7B) are the only bytes that OR 0x20 turns into 0x7B: one pass for both
    np.bitwise_or(a, 0x20, out=m)
    opener = np.equal(m, 0x7B, out=m.view(np.bool_))
    if int(np.count_nonzero(opener)) - n_lines < MAX_DEPTH:  # every line opens one object: most batches stop here
        return False
    # a line cannot nest deeper than it has openers, so only lines with more than MAX_DEPTH of
    # them (LaTeX-heavy traces: a few per batch) are followed bracket by bracket
    opens = np.flatnonzero(opener)
    ends = np.flatnonzero(np.equal(a, 0x0A, out=m.view(np.bool_))) if newlines is None else newlines
    if not len(ends) or ends[-1] != len(a) - 1:
        ends = np.append(ends, len(a))  # the last line has no newline
    per_line = np.diff(np.searchsorted(opens, ends), prepend=0)
    for i in np.flatnonzero(per_line > MAX_DEPTH).tolist():
        start = int(ends[i - 1]) + 1 if i else 0
        r = np.frombuffer(data[start:int(ends[i])].translate(None, _NOT_BRACKET), dtype=np.uint8)
        step = (r == 0x5B).view(np.int8) + (r == 0x7B).view(np.int8)
        step -= (r == 0x5D).view(np.int8) + (r == 0x7D).view(np.int8)
        if int(np.cumsum(step, dtype=np.int32).max()) > MAX_DEPTH:
            return True
    return False


def parse(batch: LineBatch | TableBatch) -> pa.Table:
    """The batch as an Arrow table, one row per line, or Fallback."""
    import pyarrow.json as pj

    if isinstance(batch, TableBatch):  # Parquet: already a table
        if batch.error is not None or not batch.table.num_rows:
            raise Fallback("read error")
        return batch.table

    if batch.error is not None or not batch.data or not batch.plain():
        raise Fallback("blank/BOM/indented line or read error")
    data = batch.data
    # Arrow's JSON reader keeps invalid UTF-8 inside strings; the row path reports its line and
    # offset. Arrow's own check (binary -> string cast) rejects what Python's decoder does
    # (bad bytes, overlongs, surrogates, cut sequences) at several times its speed.
    if not data.isascii():
        try:  # one binary value over the batch's own bytes (no copy), validated by the cast
            import numpy as np

            offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int32).tobytes())
            pa.Array.from_buffers(pa.binary(), 1, [None, offsets, pa.py_buffer(data)]).cast(pa.string())
        except pa.ArrowInvalid:
            raise Fallback("invalid UTF-8") from None
    if _too_deep(data, batch.line_count(), batch.newline_offsets()):
        raise Fallback("deep nesting")
    try:
        # one block, one thread: batches are already parsed in parallel (worker threads or
        # processes), and Arrow's own threads only competed with them (150 ms vs 106 ms for
        # 8 MB on two busy cores); one block also holds a line of any length
        table = pj.read_json(pa.py_buffer(data), read_options=pj.ReadOptions(block_size=len(data) + 1, use_threads=False))
    except Exception as e:  # Arrow raises ArrowInvalid and others: any doubt goes row by row
        raise Fallback(f"Arrow JSON: {e}") from None
    if table.num_rows != batch.line_count():  # two objects on a line, which json.loads rejects
        raise Fallback("row count")
    return table


_SCALARS = (pa.string(), pa.large_string(), pa.int64(), pa.float64(), pa.bool_(), pa.null())


def _plain_type(t: pa.DataType) -> bool:
    """Types whose Python values equal what `json.loads` gives (floats checked separately)."""
    if t in _SCALARS:
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _plain_type(t.value_type)
    return False  # structs (absent keys read as null), timestamps (inferred from strings), ...


def _nested_type(t: pa.DataType) -> bool:
    return pa.types.is_nested(t)  # list, large_list, fixed_size_list, struct, map, union


def _binary_type(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)


def _has_float(t: pa.DataType) -> bool:
    if pa.types.is_floating(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _has_float(t.value_type)
    return False


def _big_float(v: Any) -> bool:
    if isinstance(v, float):
        return abs(v) >= _EXACT_INT
    if isinstance(v, list):
        return any(_big_float(x) for x in v)
    return False


def _ambiguous_float(v: Any) -> bool:
    """A whole-number float may have been a JSON integer (`1` vs `1.0`), which Python keeps
    apart (meta JSON writes them differently)."""
    if isinstance(v, float):
        return v.is_integer()
    if isinstance(v, list):
        return any(_ambiguous_float(x) for x in v)
    return False


def _is_text(t: pa.DataType) -> bool:
    return t == pa.string() or t == pa.large_string()


def _any_blank(arr: pa.ChunkedArray | pa.Array) -> bool:
    """Whether any value is empty or whitespace only (what `as_text` refuses when required).
    A blank value is empty or starts with a whitespace character, so only the values whose
    first byte can start one (numpy, over the offsets) go to the regex, which then stops at
    their first other character: long texts are not copied or read."""
    import numpy as np

    suspects = []
    for ch in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
        if not len(ch):
            continue
        if ch.null_count or not _is_text(ch.type) or ch.buffers()[2] is None:
            suspects.append(ch)  # (nulls, or all values empty): the regex decides
            continue
        width = np.int64 if pa.types.is_large_string(ch.type) else np.int32
        offsets = np.frombuffer(ch.buffers()[1], dtype=width)[ch.offset: ch.offset + len(ch) + 1]
        starts = offsets[:-1]
        if bool((offsets[1:] == starts).any()):
            return True  # an empty value
        a = np.frombuffer(ch.buffers()[2], dtype=np.uint8)
        lead = np.flatnonzero(_blank_lead()[a[starts]])
        if len(lead):
            suspects.append(ch.take(pa.array(lead, type=pa.int64())))
    return any(bool(pc.any(pc.match_substring_regex(s, "^" + _PY_WS_CLASS + "*$")).as_py()) for s in suspects)


@functools.cache
def _blank_lead() -> Any:
    """Per byte value, whether a string starting with that byte may start with a character
    `str.isspace()` accepts: the ASCII ones, and the UTF-8 lead bytes of U+0085 and U+00A0
    (0xC2), U+1680 (0xE1), U+2000-U+205F (0xE2) and U+3000 (0xE3)."""
    import numpy as np

    table = np.zeros(256, dtype=np.bool_)
    table[[c for c in range(128) if chr(c).isspace()]] = True
    table[[0xC2, 0xE1, 0xE2, 0xE3]] = True
    return table


def py(values: Any) -> list[Any]:
    """A column's values as a Python list (Arrow columns converted once, on demand)."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.to_pylist()
    return values


def by_rows(values: Any, rows: list[int]) -> Any:
    """values[r] for r in rows (input rows -> output rows), keeping an Arrow column Arrow."""
    n = len(values)
    if len(rows) == n and (not rows or rows[-1] == n - 1) and rows == list(range(n)):
        return values
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.take(pa.array(rows, type=pa.int64()))
    if isinstance(values, Same):
        return Same(values.value, len(rows))
    return [values[r] for r in rows]


class Cols:
    """The columns of one parsed batch, read the way `RowView` reads one row (no --map).
    Every column a read takes is remembered in `used`; the others are the extra columns."""

    def __init__(self, table: pa.Table, batch: LineBatch | TableBatch) -> None:
        self.table = table
        # Parquet rows are what the row path sees (`to_pylist`, every column in every row);
        # JSON read by Arrow loses "absent" vs null and 1 vs 1.0, so those need care
        self.json = isinstance(batch, LineBatch)
        self.n = table.num_rows
        self.names = set(table.schema.names)
        self.first_row = batch.first_row
        self.batch = batch
        self.used: set[str] = set()
        self._dicts: list[dict[str, Any]] | None = None

    def _python_values(self, col: str) -> list[Any]:
        """One column as `json.loads` reads it (for floats that may have been JSON integers)."""
        if self._dicts is None:
            try:
                self._dicts = [json.loads(line) for line in self.batch.lines]
            except (ValueError, RecursionError):
                raise Fallback("json.loads disagrees with Arrow") from None
        return [d.get(col) for d in self._dicts]

    def column(self, default: str | tuple[str, ...] | None, *, required: bool) -> tuple[str | None, pa.ChunkedArray | None]:
        """(column, Arrow values) of the first candidate column the batch has. A row takes the
        first candidate column it has, even when its value is null; Arrow reads an absent key
        and a null alike, so a candidate with nulls and a later candidate present is
        ambiguous: Fallback."""
        cols = () if default is None else (default,) if isinstance(default, str) else default
        present = [c for c in cols if c in self.names]
        if not present:
            if required:
                raise Fallback("missing column")
            return None, None
        col = present[0]
        self.used.add(col)
        arr = self.table.column(col)
        if arr.null_count and (required or (len(present) > 1 and self.json)):
            raise Fallback("null or absent value")
        if self.json and not _plain_type(arr.type):
            raise Fallback(f"column type {arr.type}")
        return col, arr

    def get(self, default: str | tuple[str, ...] | None, *, required: bool, exact: bool = False) -> tuple[str | None, list[Any] | None]:
        """(column, Python values), None when no candidate column exists (and not required).
        `exact`: values kept as they are (meta), so a whole-number float (JSON `4` or `4.0`?) is
        read again with json.loads; text and integer conversions give the same for both below
        2**53."""
        col, arr = self.column(default, required=required)
        if arr is None:
            return None, None
        vals = arr.to_pylist()
        if self.json and _has_float(arr.type):
            if exact and any(_ambiguous_float(v) for v in vals):
                return col, self._python_values(col)  # type: ignore[arg-type]
            if any(_big_float(v) for v in vals):
                raise Fallback("integers beyond float precision")
        return col, vals

    def text(self, default: str | tuple[str, ...] | None, *, required: bool = True, nonempty: bool = True) -> Any:
        """`as_text` over a column: a text column comes back as the Arrow column itself (as_text
        returns a string unchanged, or fails)."""
        col, arr = self.column(default, required=required)
        if arr is None:
            return Same(None, self.n)
        if _is_text(arr.type):
            if required and nonempty and _any_blank(arr):
                raise Fallback("empty text")
            return arr
        if pa.types.is_integer(arr.type):  # as_text's str(int) for every value (never blank), by Arrow
            return pc.cast(arr, pa.string())
        try:
            return [as_text(col, v, required=required, nonempty=nonempty) for v in self.get(default, required=required)[1]]  # type: ignore[union-attr]
        except RowFail as e:
            raise Fallback(e.message) from None

    def integer(self, default: str | tuple[str, ...] | None) -> Any:
        col, arr = self.column(default, required=False)
        if arr is None:
            return Same(None, self.n)
        if pa.types.is_integer(arr.type) and len(arr) > arr.null_count:
            lo, hi = pc.min_max(arr).values()
            if -(2**31) <= lo.as_py() and hi.as_py() <= 2**31 - 1:
                return arr.cast(pa.int32())
        try:
            return [as_integer(col, v) for v in self.get(default, required=False)[1]]  # type: ignore[union-attr]
        except RowFail as e:
            raise Fallback(e.message) from None

    def raw(self, default: str | tuple[str, ...] | None) -> list[Any]:
        _, vals = self.get(default, required=False, exact=True)
        return [None] * self.n if vals is None else vals

    def answer(self, default: str | tuple[str, ...], metas: list[dict[str, Any]], *, required: bool = False) -> Any:
        """`_answer` over a column: text stripped (by Arrow, with str.strip()'s characters);
        a list of answers per row as `answer_value` reads it, the list kept in meta."""
        col, arr = self.column(default, required=required)
        if arr is None:
            return Same(None, self.n)
        if _is_text(arr.type):
            if required and _any_blank(arr):
                raise Fallback("empty answer")
            return pc.utf8_trim(arr, characters=PY_WHITESPACE)
        texts = []
        try:
            for m, v in zip(metas, self.get(default, required=required)[1]):  # type: ignore[arg-type]
                text, many = answer_value(col, v, required=required)
                if many is not None:
                    m["reference_answers"] = many
                texts.append(text)
        except RowFail as e:
            raise Fallback(e.message) from None
        return texts

    def solution(self, default: str | tuple[str, ...], metas: list[dict[str, Any]]) -> Any:
        """`_solution` over a column: text as it is; a list of solutions per row, the first as
        the reference and all of them in meta."""
        col, arr = self.column(default, required=False)
        if arr is None:
            return Same(None, self.n)
        if _is_text(arr.type):
            return arr
        texts = []
        try:
            for m, v in zip(metas, self.get(default, required=False)[1]):  # type: ignore[arg-type]
                text, many = solution_value(col, v)
                if many is not None:
                    m["reference_solutions"] = many
                texts.append(text)
        except RowFail as e:
            raise Fallback(e.message) from None
        return texts

    def answer_facts(self, metas: list[dict[str, Any]]) -> None:
        """`_answer_facts` over the batch: unit and answer_type into meta (not null or empty)."""
        for key in ANSWER_FACTS:
            for m, v in zip(metas, self.raw(key)):
                if v is not None and v != "":
                    m[key] = v

    def extras(self, metas: list[dict[str, Any]], ignored: dict[str, str], mode: str) -> Counter:
        """`report.add_extras` over the batch: the columns no read took, into each row's meta,
        counted per column and reason. Must run after every read."""
        counts: Counter = Counter()
        for col in self.table.schema.names:
            if col in self.used:
                continue
            arr = self.table.column(col)
            filled = len(arr) - arr.null_count
            if not filled or pa.types.is_null(arr.type):
                continue
            # the reasons that hold for every value of the column, as extra_why decides them
            why = ignored[col] if col in ignored else WHY_NONE if mode == "none" else \
                WHY_BINARY if _binary_type(arr.type) else WHY_NESTED if mode == "scalars" and _nested_type(arr.type) else None
            if why is not None:
                counts["not_kept", col, why] += filled
                continue
            if self.json:
                vals = self.get(col, required=False, exact=True)[1] if _plain_type(arr.type) else self._python_values(col)
            else:
                vals = arr.to_pylist()
            if col in RESERVED_META:
                counts["not_kept", col, WHY_TAKEN] += filled
                continue
            nested = _nested_type(arr.type) or not self.json and pa.types.is_dictionary(arr.type)
            kept = taken = 0
            for m, v in zip(metas, vals):  # type: ignore[arg-type]
                if v is None:
                    continue
                if nested:  # per value, as the row path decides it
                    why = extra_why(col, v, m, ignored, mode)
                    if why is not None:
                        counts["not_kept", col, why] += 1
                        continue
                elif col in m:  # a scalar column: only a meta key of that name can stop it
                    taken += 1
                    continue
                m[col] = v
                kept += 1
            if kept:
                counts["kept", col] += kept
            if taken:
                counts["not_kept", col, WHY_TAKEN] += taken
        return counts


# ---------------------------------------------------------------------------------------------
# problem columns per preset (mirror the row functions in factory.ingest.presets)
# ---------------------------------------------------------------------------------------------

Part = dict[str, Any]  # problem, reference_answer, reference_solution, source_id, difficulty, level, meta (one value per row)

# A plain final `#### N`: not glued to another "#", one space, then printable non-space ASCII
# to the very end. `gsm8k_answer`'s regex takes the FIRST "####" whose rest is whitespace, one
# line, whitespace; an earlier "####" qualifies only if no newline stands between it (after
# its whitespace) and the final one, which _GSM8K_EARLIER finds (whitespace as str.isspace()).
_GSM8K_FINAL = r"(?:^|[^#])#### (?P<a>[!-~]+)$"
_GSM8K_EARLIER = "####" + _PY_WS_CLASS + r"*[^\n]*#### [!-~]+$"


def gsm8k_answers(worked: Any) -> Any:
    """`gsm8k_answer` over a column: where the text ends in a plain `#### N` line that is the
    regex's first match, N without commas, read by Arrow (an Arrow column comes back when every
    row is plain); any other row goes through `gsm8k_answer` itself (tests compare both on
    invented edge cases)."""
    if not isinstance(worked, (pa.Array, pa.ChunkedArray)):
        return [gsm8k_answer(w) for w in worked]
    found = pc.struct_field(pc.extract_regex(worked, _GSM8K_FINAL), [0])
    plain = pc.and_kleene(pc.is_valid(found), pc.invert(pc.match_substring_regex(worked, _GSM8K_EARLIER)))
    answers = pc.replace_substring(found, ",", "")
    if pc.all(plain).as_py():
        return answers
    out = answers.to_pylist()
    texts = None
    for i, ok in enumerate(plain.to_pylist()):
        if not ok:
            if texts is None:
                texts = worked.to_pylist()
            out[i] = gsm8k_answer(texts[i])
    return out


def gsm8k_cols(c: Cols) -> Part:
    worked = c.text("answer")
    answers = gsm8k_answers(worked)
    missing = answers.null_count if isinstance(answers, (pa.Array, pa.ChunkedArray)) else answers.count(None)
    if missing:
        raise Fallback("no '#### N'")
    return {"problem": c.text("question"), "reference_answer": answers, "reference_solution": worked,
            "source_id": pc.cast(pa.array(range(c.first_row - 1, c.first_row - 1 + c.n), pa.int64()), pa.string()),
            "difficulty": Same(None, c.n), "level": Same(None, c.n), "meta": [{} for _ in range(c.n)]}


def math500_cols(c: Cols) -> Part:
    meta: list[dict[str, Any]] = [{} for _ in range(c.n)]
    subject = c.text("subject", required=False)
    for m, s in zip(meta, py(subject)):
        if s:
            m["subject"] = s
    return {"problem": c.text("problem"), "reference_answer": c.answer("answer", meta, required=True),
            "reference_solution": c.solution("solution", meta), "source_id": c.text("unique_id", required=False),
            "difficulty": Same(None, c.n), "level": c.integer("level"), "meta": meta}


def competition_cols(c: Cols) -> Part:
    extra = [(key, c.raw(key)) for key in ("url", "contest", "problem_number")]
    meta = [{key: vals[i] for key, vals in extra if vals[i] is not None} for i in range(c.n)]
    return {"problem": c.text("problem"), "reference_answer": c.answer("answer", meta, required=True),
            "reference_solution": c.solution("solution", meta), "source_id": c.text("id", required=False),
            "difficulty": Same(None, c.n), "level": Same(None, c.n), "meta": meta}


def qwen_eval_cols(c: Cols) -> Part:
    idx = c.raw("idx")
    meta: list[dict[str, Any]] = [{"idx": i} if i is not None else {} for i in idx]
    c.answer_facts(meta)
    return {"problem": c.text("question"), "reference_answer": c.answer(("answer", "gt"), meta),
            "reference_solution": c.solution("solution", meta), "source_id": c.text("idx", required=False),
            "difficulty": Same(None, c.n), "level": c.integer("level"), "meta": meta}


def think_cols(c: Cols) -> Part:
    meta: list[dict[str, Any]] = [{} for _ in range(c.n)]
    c.answer_facts(meta)
    return {"problem": c.text(("problem", "question", "prompt", "instruction")),
            "reference_answer": c.answer(("reference_answer", "gt", "gold", "ground_truth", "answer"), meta),
            "reference_solution": c.solution("solution", meta), "source_id": c.text(("source_id", "id", "idx"), required=False),
            "level": c.integer("level"), "difficulty": c.text("difficulty", required=False), "meta": meta}


# ---------------------------------------------------------------------------------------------
# trace columns: one dict of lists, one entry per trace, with `row` = the input row's position
# ---------------------------------------------------------------------------------------------


def _qwen_eval_trace_cols(c: Cols, part: Part, splitter: Callable[[str], Split]) -> Part:
    col, code = c.column("code", required=True)
    assert code is not None and col is not None
    list_of_text = pa.types.is_list(code.type) and code.type.value_type == pa.string()
    if list_of_text:  # each row a list of strings (a null row was refused above; a null sample is the row path's error)
        if any(ch.flatten().null_count for ch in code.chunks):
            raise Fallback("null sample")
        lengths = pc.list_value_length(code).to_pylist()
        flat = pa.chunked_array([ch.flatten() for ch in code.chunks], type=pa.string())
        texts = None  # Python strings only where a splitter needs them
    else:
        samples = code.to_pylist()
        samples = [[s] if type(s) is str else s for s in samples]  # a single string is a list of one
        if any(not isinstance(s, list) or not all(type(x) is str for x in s) for s in samples):
            raise Fallback("code is not a list of strings")
        lengths = [len(s) for s in samples]
        texts = [x for s in samples for x in s]
        flat = None
    extra = {}
    for name in ("score", "pred", "pred_score"):
        vals = c.raw(name)
        for arr, k in zip(vals, lengths):
            if arr is not None and (not isinstance(arr, list) or len(arr) != k):
                raise Fallback(f"{name} length")
        extra[name] = vals
    system = [s or None for s in py(c.text("system", required=False, nonempty=False))]
    prompt = c.text(("query", "question"))
    teacher = py(c.text("model", required=False))
    rows: list[int] = []
    index: list[int] = []
    metas: list[dict[str, Any]] = []
    for r, k in enumerate(lengths):
        scores, preds, rewards = extra["score"][r], extra["pred"][r], extra["pred_score"][r]
        idx = part["meta"][r].get("idx")
        rows.extend([r] * k)
        index.extend(range(k))
        metas.extend(qwen_sample_meta(scores, preds, rewards, i, idx) for i in range(k))
    return {
        "row": rows, "sample_index": index, "teacher": [teacher[r] for r in rows], "system_prompt": [system[r] for r in rows],
        # required, so never empty: the row path's `prompt or problem` never applies
        "prompt": by_rows(prompt, rows),
        "completion": flat if flat is not None else texts,
        "split": split_column(flat if texts is None else texts, splitter), "meta": metas,
    }


def split_column(texts: Any, splitter: Callable[[str], Split]) -> SplitCols:
    """The splitter over a column of completions: Sky-T1 tags by Arrow over an Arrow column
    (`factory.ingest.split_cols`), otherwise the splitter per Python string."""
    if splitter is split_skyt1 and isinstance(texts, (pa.Array, pa.ChunkedArray)):
        return split_skyt1_column(texts)
    return _split_list([(splitter(t), None) for t in py(texts)])


def _split_list(splits: list[tuple[Split, str | None]]) -> SplitCols:
    """(Split, finish_reason given by the input or None) per row, as columns."""
    return SplitCols(reasoning=[s.reasoning for s, _ in splits], answer=[s.answer for s, _ in splits],  # type: ignore[arg-type]
                     finished=[bool(s.reasoning_finished) for s, _ in splits],
                     finish_reason=[fr or s.finish_reason for s, fr in splits], form=[s.form for s, _ in splits])


def skyt1_trace_cols(c: Cols, part: Part) -> Part:
    return _qwen_eval_trace_cols(c, part, split_skyt1)


def qwen_trace_cols(c: Cols, part: Part) -> Part:
    return _qwen_eval_trace_cols(c, part, split_plain)


def think_trace_cols(c: Cols, part: Part) -> Part:
    texts = c.text(_COMPLETION_COLS)
    reasoning = py(c.text(("reasoning", "reasoning_content"), required=False, nonempty=False))
    correct = c.raw(("correct", "is_correct", "label"))
    index = py(c.integer("sample_index"))
    prompt = c.text("prompt", required=False)
    system = c.text(("system_prompt", "system"), required=False, nonempty=False)
    teacher = c.text(("teacher", "model"), required=False)
    _, finish = c.get(("finish_reason", "stop_reason"), required=False)
    if finish is not None and any(f is not None and f not in ("stop", "length", "error", "unknown") for f in finish):
        raise Fallback("finish_reason")
    # whole columns unless a row carries its own reasoning field (or Sky-T1 tags): then per row
    split = None
    if isinstance(texts, (pa.Array, pa.ChunkedArray)) and all(rf is None or not rf.strip() for rf in reasoning):
        split = split_think_column(texts)
    if split is not None:
        if finish is not None:  # the input's own finish_reason wins where it has one
            split.finish_reason = [fr or s for fr, s in zip(finish, split.finish_reason)]
    else:
        split = _split_list([(split_think(t, reasoning_field=rf), None if finish is None else finish[r])  # type: ignore[arg-type]
                             for r, (t, rf) in enumerate(zip(py(texts), reasoning))])
    return {
        "row": list(range(c.n)),
        "sample_index": [i if i is not None else -1 for i in index],
        "teacher": teacher,
        "system_prompt": system if isinstance(system, Same) and system.value is None else [s or None for s in py(system)],
        "prompt": _or(prompt, part["problem"]),
        "completion": texts,
        "split": split,
        "meta": [{"label_correct": x} if isinstance(x, bool) else {} for x in correct],
    }


def _or(first: Any, then: Any) -> Any:
    """`a or b` row by row (a null or empty `a` gives `b`): an absent column gives `then` as it
    is, two Arrow columns give one."""
    if isinstance(first, Same) and first.value is None:
        return then
    if isinstance(first, (pa.Array, pa.ChunkedArray)) and isinstance(then, (pa.Array, pa.ChunkedArray)):
        keep = pc.fill_null(pc.greater(pc.binary_length(first), 0), False)
        return pc.if_else(keep, first, then.cast(first.type))
    return [a or b for a, b in zip(py(first), py(then))]


def _teachers(given: str | None, values: Any) -> Any:
    """`given or x or "unknown"` row by row: one name for every row, or an Arrow column of
    names kept as it is when none is null or empty."""
    if given:
        return Same(given, len(values))
    if isinstance(values, Same):
        return Same(values.value or "unknown", len(values))
    if isinstance(values, (pa.Array, pa.ChunkedArray)) and not values.null_count and \
            not pc.any(pc.equal(pc.binary_length(values), 0)).as_py():
        return values
    return [x or "unknown" for x in py(values)]


PROBLEM_COLS: dict[str, Callable[[Cols], Part]] = {
    "gsm8k": gsm8k_cols, "math500": math500_cols, "aime24": competition_cols, "aime25": competition_cols,
    "amc23": competition_cols, "skyt1-traces": qwen_eval_cols, "qwen-traces": qwen_eval_cols, "think-traces": think_cols,
}
TRACE_COLS: dict[str, Callable[[Cols, Part], Part]] = {
    "skyt1-traces": skyt1_trace_cols, "qwen-traces": qwen_trace_cols, "think-traces": think_trace_cols,
}


def supports(preset: Preset, kind: str, maps: dict[str, str]) -> bool:
    """Whether this preset/kind maps whole columns (otherwise a batch goes through the preset's
    row functions, `prepare_rows`)."""
    if maps or preset.name not in PROBLEM_COLS:
        return False
    return kind == "problem" or preset.name in TRACE_COLS


# ---------------------------------------------------------------------------------------------
# a whole batch: input columns -> output table (mirrors rows._context and rows.convert_row)
# ---------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """A batch mapped as far as it can be without the run's state (so it can be made in a
    worker): the output table before dedup (problems) or with the samples to number still
    open (traces: sample_index -1, their ids left to `finish`)."""

    table: pa.Table
    rows: list[int]  # per output row, the input row (position in the batch) it came from
    n_input: int  # rows read (lines that are not blank)
    problem_ids: list[str]  # problems: each row's id, for the run's dedup
    open_rows: list[int]  # trace rows whose sample_index the run's counters give
    open_pids: list[str]
    open_teachers: Any  # a list, an Arrow column or Same
    open_completions: Any  # their texts: an Arrow column (or a list on the row path)
    extras: Counter = field(default_factory=Counter)  # extra-column counts (factory.ingest.report)


def prepare(batch: LineBatch | TableBatch, preset_name: str, kind: str, consts: Any) -> Prepared:
    """The stateless part of a batch (runs in a worker thread or process for large inputs)."""
    from factory.ingest.presets import PRESETS

    preset = PRESETS[preset_name]
    if not supports(preset, kind, consts.maps):
        return prepare_rows(batch, preset, kind, consts)
    return prepare_cols(batch, preset, kind, consts)


def prepare_rows(batch: LineBatch | TableBatch, preset: Preset, kind: str, consts: Any) -> Prepared:
    """The preset's row functions over every row of the batch (`rows.convert_row`), into one
    table; a bad row sends the whole batch to the row path (which fails or rejects it)."""
    from factory.ingest.rows import convert_row
    from factory.schemas.contracts import PROBLEM_SCHEMA, TRACE_SCHEMA

    if batch.error is not None:
        raise Fallback("read error")
    rows: list[dict[str, Any]] = []
    sources: list[int] = []
    extras: Counter = Counter()
    n = 0
    for item in batch.items():
        if isinstance(item, RowError):
            raise Fallback(item.reason)
        try:
            out = convert_row(item, preset, kind, consts.maps, consts, None, extras)  # type: ignore[arg-type]
        except RowFail:
            raise Fallback("bad row") from None
        rows.extend(out)
        sources.extend([n] * len(out))
        n += 1
    schema = PROBLEM_SCHEMA if kind == "problem" else TRACE_SCHEMA
    if kind == "problem":
        return Prepared(pa.Table.from_pylist(rows, schema=schema), sources, n, [r["id"] for r in rows], [], [], [], [], extras)
    open_rows = [k for k, r in enumerate(rows) if r["sample_index"] < 0]
    opened = [rows[k] for k in open_rows]
    for r in opened:
        r["sample_index"] = 0  # numbered by `finish`
    return Prepared(pa.Table.from_pylist(rows, schema=schema), sources, n, [], open_rows, [r["problem_id"] for r in opened],
                    [r["teacher"] for r in opened], [r["completion"] for r in opened], extras)


def prepare_cols(batch: LineBatch | TableBatch, preset: Preset, kind: str, consts: Any) -> Prepared:
    """Whole columns (see the module docstring); Fallback where the row path must decide."""
    from factory.ingest.rows import source_value
    from factory.schemas.contracts import PROBLEM_SCHEMA, TRACE_SCHEMA

    c = Cols(parse(batch), batch)
    part = PROBLEM_COLS[preset.name](c)
    source: Any
    if consts.source is not None:
        source = Same(consts.source or "unknown", c.n)
    else:
        col, vals = c.get(preset.source_columns, required=False)
        try:
            source = Same(preset.source or "unknown", c.n) if vals is None else \
                [source_value(col, v, preset.source) or "unknown" for v in vals]
        except RowFail:
            raise Fallback("source") from None
    if consts.infers_domain(preset):
        answers, solutions = py(part["reference_answer"]), py(part["reference_solution"])
        domain: Any = [infer_domain(preset.domain, p, a, s, None) for p, a, s in zip(py(part["problem"]), answers, solutions)]
    else:
        domain = consts.domain if consts.domain is not None else preset.domain
        if domain not in DOMAINS:
            raise Fallback("domain")
    license_ = consts.license if consts.license is not None else preset.license
    language = (consts.language if consts.language is not None else "en") or "en"
    pids = problem_ids(domain if isinstance(domain, str) else pa.array(domain, pa.string()), part["problem"], part["reference_answer"])
    domains = Same(domain, c.n) if isinstance(domain, str) else domain

    if kind == "problem":
        extras = c.extras(part["meta"], ignored_columns(preset, "problem"), consts.extra_columns)
        cols = {"id": pids, "source": source, "source_id": part["source_id"], "domain": domains,
                "problem": part["problem"], "reference_answer": part["reference_answer"],
                "reference_solution": part["reference_solution"], "tests": Same(None, c.n),
                "difficulty": part["difficulty"], "level": part["level"], "language": Same(language, c.n),
                "license": Same(license_, c.n), "meta": _meta_column(part["meta"])}
        return Prepared(_table(cols, PROBLEM_SCHEMA), list(range(c.n)), c.n, pids, [], [], [], [], extras)

    t = TRACE_COLS[preset.name](c, part)
    extras = c.extras(part["meta"], ignored_columns(preset, "trace"), consts.extra_columns)
    rows = t["row"]
    teachers = _teachers(consts.teacher, t["teacher"])
    splits: SplitCols = t["split"]
    finish_reasons = splits.finish_reason
    if any(f not in FINISH_REASONS for f in finish_reasons):
        raise Fallback("finish_reason")
    source_ids = py(part["source_id"])
    metas = []
    pmetas = part["meta"]
    by_form: dict[str, str | None] = {}  # the meta of a row that holds nothing but its format
    for r, form, m in zip(rows, splits.form, t["meta"]):
        pm, sid = pmetas[r], source_ids[r]
        if not pm and sid is None:  # the usual think/replay row: its format and the sample's own facts
            if m:
                metas.append(_meta_json({"format": form, **m}))
            else:
                text = by_form.get(form, _MISSING)
                if text is _MISSING:
                    text = by_form[form] = _meta_json({"format": form})
                metas.append(text)
            continue
        tm = {k: v for k, v in pm.items() if k not in PROBLEM_ONLY_META}
        tm["format"] = form
        tm.update(m)
        if sid is not None:
            tm.setdefault("source_id", sid)
        metas.append(_meta_json(tm))
    indexes = t["sample_index"]
    tpids = by_rows(pids, rows)
    open_rows = [k for k, i in enumerate(indexes) if i < 0]
    completions = t["completion"]
    if open_rows:  # their ids wait for their sample numbers (finish); the texts stay in Arrow
        texts = _arrow(completions)
        ids = [""] * len(rows)
        closed = [k for k, i in enumerate(indexes) if i >= 0]
        if closed:
            for k, tid in zip(closed, trace_ids([tpids[k] for k in closed], [indexes[k] for k in closed],
                                                by_rows(teachers, closed), texts.take(pa.array(closed, pa.int64())))):
                ids[k] = tid
        open_completions = texts if len(open_rows) == len(rows) else texts.take(pa.array(open_rows, pa.int64()))
    else:
        ids = trace_ids(tpids, indexes, teachers, completions)
        open_completions = []
    m = len(rows)
    cols = {
        "id": ids, "problem_id": tpids, "sample_index": [max(i, 0) for i in indexes], "teacher": teachers,
        "backend": Same("replay", m), "sampling": Same(None, m), "system_prompt": t["system_prompt"], "prompt": t["prompt"],
        "completion": completions, "reasoning": splits.reasoning,
        "reasoning_finished": splits.finished, "answer": splits.answer,
        "finish_reason": finish_reasons, "prompt_tokens": Same(None, m), "completion_tokens": Same(None, m),
        "domain": by_rows(domains, rows), "source": by_rows(source, rows), "problem": by_rows(part["problem"], rows),
        "reference_answer": by_rows(part["reference_answer"], rows), "tests": Same(None, m),
        "difficulty": by_rows(part["difficulty"], rows), "level": by_rows(part["level"], rows),
        "language": Same(language, m), "license": Same(license_, m), "meta": metas,
    }
    return Prepared(_table(cols, TRACE_SCHEMA), rows, c.n, [], open_rows, [tpids[k] for k in open_rows],
                    by_rows(teachers, open_rows), open_completions, extras)


def prepare_or_none(batch: LineBatch | TableBatch, preset_name: str, kind: str, consts: Any) -> Prepared | None:
    """`prepare`, with None for a batch that must go row by row (the worker pool's task)."""
    try:
        return prepare(batch, preset_name, kind, consts)
    except Fallback:
        return None


def convert(batch: LineBatch | TableBatch, preset: Preset, kind: str, consts: Any, counters: dict[str, int],
            seen: set[str] | None) -> tuple[pa.Table, list[int], int]:
    """(output table, output rows per input row, duplicates dropped). Raises Fallback before
    changing `counters` or `seen` when any row needs the row path."""
    return finish(prepare(batch, preset.name, kind, consts), counters, seen)


def finish(p: Prepared, counters: dict[str, int], seen: set[str] | None) -> tuple[pa.Table, list[int], int]:
    """Apply the run's state: drop problems already written (`seen`), number the samples of
    trace rows that do not carry one (`counters`). Cannot fail."""
    table, rows = p.table, p.rows
    dups = 0
    if seen is not None:
        ids = p.problem_ids
        if seen.isdisjoint(ids) and len(set(ids)) == len(ids):  # the usual case, at C speed
            seen.update(ids)
        else:
            keep = []
            for k, pid in enumerate(ids):
                if pid in seen:
                    dups += 1
                else:
                    seen.add(pid)
                    keep.append(k)
            if dups:
                table = table.take(pa.array(keep, type=pa.int64()))
                rows = [rows[k] for k in keep]
    elif p.open_rows:
        indexes = number_samples(p.open_pids, counters)
        new_ids = trace_ids(p.open_pids, indexes, p.open_teachers, p.open_completions)
        if len(p.open_rows) == table.num_rows:  # no row numbered its samples (the usual case)
            index_col, id_col = indexes, new_ids
        else:
            index_col = table.column("sample_index").to_pylist()
            id_col = table.column("id").to_pylist()
            for k, i, tid in zip(p.open_rows, indexes, new_ids):
                index_col[k] = i
                id_col[k] = tid
        schema = table.schema
        table = table.set_column(schema.get_field_index("sample_index"), schema.field("sample_index"),
                                 pa.array(index_col, type=pa.int32()))
        table = table.set_column(schema.get_field_index("id"), schema.field("id"), pa.array(id_col, type=pa.string()))
    counts = [0] * p.n_input
    for r in rows:
        counts[r] += 1
    return table, counts, dups


def number_samples(pids: list[str], counters: dict[str, int]) -> list[int]:
    """One sample per row: each row's index among its problem's samples, in order, continuing
    the run's `counters` (next index per problem id), which it advances."""
    indexes = []
    for pid in pids:
        i = counters.get(pid, 0)
        counters[pid] = i + 1
        indexes.append(i)
    return indexes


def _meta_column(metas: list[dict[str, Any]]) -> Any:
    """The meta JSON of each row; all empty (GSM8K without extra columns) -> one null column."""
    if not any(metas):
        return Same(None, len(metas))
    return [_meta_json(m) for m in metas]


_META_CACHE: dict[tuple, str | None] = {}
_HASHABLE = (str, int, float, bool, type(None))


def _meta_json(meta: dict[str, Any]) -> str | None:
    """`meta_json(meta)`, remembered for the few distinct metas of scalars a file repeats
    (the key holds each value's type: True == 1 == 1.0 as dict keys, not in JSON)."""
    if not meta:
        return None  # meta_json's answer for an empty meta
    key = []
    for k, v in meta.items():
        if type(v) not in _HASHABLE:
            return meta_json(meta)
        key.append((k, type(v), v))
    cache_key = tuple(key)
    text = _META_CACHE.get(cache_key, _MISSING)
    if text is _MISSING:
        text = meta_json(meta)
        if len(_META_CACHE) < 10_000:
            _META_CACHE[cache_key] = text
    return text  # type: ignore[return-value]


_MISSING: Any = object()


class Same(list):
    """n copies of one value: the output column is built by Arrow, not from n Python objects."""

    __slots__ = ("value",)

    def __init__(self, value: Any, n: int) -> None:
        super().__init__([value] * n)
        self.value = value


def _column(values: Any, f: pa.Field) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values if values.type == f.type else values.cast(f.type)
    if isinstance(values, Same) and not pa.types.is_nested(f.type):  # (pa.nulls of a struct has null children)
        if values.value is None:
            return pa.nulls(len(values), type=f.type)
        return pa.repeat(pa.scalar(values.value, type=f.type), len(values))
    return pa.array(values, type=f.type)


def _table(cols: dict[str, Any], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_arrays([_column(cols[f.name], f) for f in schema], schema=schema)


__all__ = ["Fallback", "Prepared", "convert", "finish", "number_samples", "parse", "prepare", "prepare_cols",
           "prepare_or_none", "prepare_rows", "problem_ids", "supports", "trace_ids"]
