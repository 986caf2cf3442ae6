"""The batch path of `factory ingest`: a batch of JSON Lines is parsed at once by Arrow's
multi-threaded JSON reader (a Parquet batch is already Arrow), and each output column is built
from whole input columns: one list comprehension per column for what needs Python (answer
extraction, sha256 ids, the reasoning split of `factory.schemas.text`), Arrow arrays reused as they
are for text that passes through, instead of one `RowView` and one dict per row.

It gives exactly the rows of the row-by-row path (`ingest(..., engine="rows")`, the reference;
tests/test_ingest_batch.py compares the shards byte for byte on every shipped file). Anything it
is not sure to map the same way (a blank line, invalid UTF-8, a value of an unexpected type, a
missing or null column, a bad value, a `--map`) raises `Fallback`, and the driver maps that
batch row by row, which also produces the exact error message or reject row. The value checks
are the row path's own (`as_text`, `as_integer`, `gsm8k_answer`, the splitters), per column.

`prepare` needs no state of the run, so large inputs prepare batches in worker processes;
`finish` then applies the run's state (problems already written, sample numbering) in order.

Presets with a batch mapping: gsm8k, math500, aime24, aime25, amc23, skyt1-traces, qwen-traces,
think-traces. The others (code sets, chat messages, generic tables) map row by row.

Exercise: `python bench/ingest_throughput.py --rows 50000`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from factory.ingest.presets import (
    _COMPLETION_COLS,
    Preset,
    RowFail,
    Split,
    as_integer,
    as_text,
    gsm8k_answer,
    qwen_sample_meta,
    split_plain,
    split_skyt1,
    split_think,
)
from factory.ingest.readers import LineBatch, TableBatch
from factory.schemas.contracts import DOMAINS, FINISH_REASONS, meta_json


class Fallback(Exception):
    """This batch must be mapped row by row (the reason is for debugging only)."""


_SEP = b"\x1f"
_NONE = b"\x00"
_EXACT_INT = 2**53  # a JSON integer above this read into a float column has lost digits


def problem_ids(domain: str, problems: list[str], answers: list[str | None]) -> list[str]:
    """`factory.schemas.ids.problem_id(domain, problem, answer, None)` for whole columns: the
    same sha256 over the same bytes (parts joined by 0x1f, None as 0x00)."""
    head = domain.encode("utf-8") + _SEP
    sha = hashlib.sha256
    tail = _SEP + _NONE  # tests: None
    # the first 16 hex digits of the digest are its first 8 bytes in hex
    return [
        "p_" + sha(head + p.strip().encode("utf-8") + _SEP + (a.encode("utf-8") if a is not None else _NONE) + tail).digest()[:8].hex()
        for p, a in zip(problems, answers)
    ]


def trace_ids(pids: list[str], indexes: list[int], teachers: list[str], completions: list[str]) -> list[str]:
    """`factory.schemas.ids.trace_id` for whole columns (an int part is hashed as its JSON text)."""
    sha = hashlib.sha256
    return [
        "t_" + sha(f"{p}\x1f{i}\x1f{t}\x1f".encode("utf-8") + c.encode("utf-8")).digest()[:8].hex()
        for p, i, t, c in zip(pids, indexes, teachers, completions)
    ]


# ---------------------------------------------------------------------------------------------
# parsing a batch and reading its columns with the row path's semantics
# ---------------------------------------------------------------------------------------------


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
        try:
            pa.array([data], type=pa.binary()).cast(pa.string())
        except pa.ArrowInvalid:
            raise Fallback("invalid UTF-8") from None
    try:
        try:
            # blocks parse in parallel; a line longer than a block needs one block for all
            table = pj.read_json(pa.py_buffer(data), read_options=pj.ReadOptions(block_size=max(1 << 20, len(data) // 8 + 1)))
        except pa.ArrowInvalid as e:
            if "straddl" not in str(e):
                raise
            table = pj.read_json(pa.py_buffer(data), read_options=pj.ReadOptions(block_size=len(data) + 1))
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


class Backed(list):
    """A column's Python values that are exactly an Arrow string column's (no conversion
    changed a value): the output table takes the Arrow column as it is, without a copy."""

    __slots__ = ("arrow",)

    def __init__(self, values: list[Any], arrow: pa.ChunkedArray) -> None:
        super().__init__(values)
        self.arrow = arrow if arrow.type == pa.string() else arrow.cast(pa.string())


def by_rows(values: list[Any], rows: list[int]) -> list[Any]:
    """values[r] for r in rows (input rows -> output rows), keeping the Arrow column."""
    if len(rows) == len(values) and (not rows or rows[-1] == len(rows) - 1) and rows == list(range(len(rows))):
        return values
    out = [values[r] for r in rows]
    if isinstance(values, Backed):
        return Backed(out, values.arrow.take(pa.array(rows, type=pa.int64())))
    return out


class Cols:
    """The columns of one parsed batch, read the way `RowView` reads one row (no --map)."""

    def __init__(self, table: pa.Table, batch: LineBatch | TableBatch) -> None:
        self.table = table
        # Parquet rows are what the row path sees (`to_pylist`, every column in every row);
        # JSON read by Arrow loses "absent" vs null and 1 vs 1.0, so those need care
        self.json = isinstance(batch, LineBatch)
        self.n = table.num_rows
        self.names = set(table.schema.names)
        self.first_row = batch.first_row
        self.batch = batch
        self._dicts: list[dict[str, Any]] | None = None

    def _python_values(self, col: str) -> list[Any]:
        """One column as `json.loads` reads it (for floats that may have been JSON integers)."""
        if self._dicts is None:
            try:
                self._dicts = [json.loads(line) for line in self.batch.lines]
            except ValueError:
                raise Fallback("json.loads disagrees with Arrow") from None
        return [d.get(col) for d in self._dicts]

    def get(self, default: str | tuple[str, ...] | None, *, required: bool, exact: bool = False) -> tuple[str | None, list[Any] | None]:
        """(column, values), the values None when no candidate column exists (and not required).
        A row takes the first candidate column it has, even when its value is null; Arrow reads
        an absent key and a null alike, so a candidate with nulls and a later candidate present
        is ambiguous: Fallback. `exact`: values kept as they are (meta), so a whole-number float
        (JSON `4` or `4.0`?) is read again with json.loads; text and integer conversions give
        the same for both below 2**53."""
        cols = () if default is None else (default,) if isinstance(default, str) else default
        present = [c for c in cols if c in self.names]
        if not present:
            if required:
                raise Fallback("missing column")
            return None, None
        col = present[0]
        arr = self.table.column(col)
        if arr.null_count and (required or (len(present) > 1 and self.json)):
            raise Fallback("null or absent value")
        if not self.json:
            return col, arr.to_pylist()
        if not _plain_type(arr.type):
            raise Fallback(f"column type {arr.type}")
        vals = arr.to_pylist()
        if _has_float(arr.type):
            if exact and any(_ambiguous_float(v) for v in vals):
                return col, self._python_values(col)
            if any(_big_float(v) for v in vals):
                raise Fallback("integers beyond float precision")
        return col, vals

    def text(self, default: str | tuple[str, ...] | None, *, required: bool = True, nonempty: bool = True) -> list[str | None]:
        col, vals = self.get(default, required=required)
        if vals is None:
            return [None] * self.n
        try:
            out = [v if type(v) is str and (not nonempty or not required or v.strip()) else
                   as_text(col, v, required=required, nonempty=nonempty) for v in vals]
        except RowFail as e:
            raise Fallback(e.message) from None
        arr = self.table.column(col)
        if arr.type in (pa.string(), pa.large_string()):  # as_text returns a string as it is (or fails)
            return Backed(out, arr)
        return out

    def integer(self, default: str | tuple[str, ...] | None) -> list[int | None]:
        col, vals = self.get(default, required=False)
        if vals is None:
            return [None] * self.n
        try:
            return [as_integer(col, v) for v in vals]
        except RowFail as e:
            raise Fallback(e.message) from None

    def raw(self, default: str | tuple[str, ...] | None) -> list[Any]:
        _, vals = self.get(default, required=False, exact=True)
        return [None] * self.n if vals is None else vals

    def answer(self, default: str | tuple[str, ...], *, required: bool = False) -> list[str | None]:
        return [s.strip() if s is not None else None for s in self.text(default, required=required)]


# ---------------------------------------------------------------------------------------------
# problem columns per preset (mirror the row functions in ingest_presets)
# ---------------------------------------------------------------------------------------------

Part = dict[str, list[Any]]  # problem, reference_answer, reference_solution, source_id, difficulty, level, meta


def _none(c: Cols) -> list[None]:
    return [None] * c.n


def gsm8k_cols(c: Cols) -> Part:
    worked = c.text("answer")
    answers = [gsm8k_answer(w) for w in worked]  # type: ignore[arg-type]
    if None in answers:
        raise Fallback("no '#### N'")
    return {"problem": c.text("question"), "reference_answer": answers, "reference_solution": worked,
            "source_id": [str(r - 1) for r in range(c.first_row, c.first_row + c.n)],
            "difficulty": _none(c), "level": _none(c), "meta": [{}] * c.n}


def math500_cols(c: Cols) -> Part:
    subject = c.text("subject", required=False)
    return {"problem": c.text("problem"), "reference_answer": c.answer("answer", required=True),
            "reference_solution": c.text("solution", required=False), "source_id": c.text("unique_id", required=False),
            "difficulty": _none(c), "level": c.integer("level"), "meta": [{"subject": s} if s else {} for s in subject]}


def competition_cols(c: Cols) -> Part:
    extra = [(key, c.raw(key)) for key in ("url", "contest", "problem_number")]
    meta = [{key: vals[i] for key, vals in extra if vals[i] is not None} for i in range(c.n)]
    return {"problem": c.text("problem"), "reference_answer": c.answer("answer", required=True),
            "reference_solution": c.text("solution", required=False), "source_id": c.text("id", required=False),
            "difficulty": _none(c), "level": _none(c), "meta": meta}


def qwen_eval_cols(c: Cols) -> Part:
    idx = c.raw("idx")
    return {"problem": c.text("question"), "reference_answer": c.answer(("answer", "gt")),
            "reference_solution": c.text("solution", required=False), "source_id": c.text("idx", required=False),
            "difficulty": _none(c), "level": c.integer("level"), "meta": [{"idx": i} if i is not None else {} for i in idx]}


def think_cols(c: Cols) -> Part:
    return {"problem": c.text(("problem", "question", "prompt", "instruction")),
            "reference_answer": c.answer(("reference_answer", "gt", "gold", "ground_truth", "answer")),
            "reference_solution": c.text("solution", required=False), "source_id": c.text(("source_id", "id", "idx"), required=False),
            "difficulty": c.text("difficulty", required=False), "level": c.integer("level"), "meta": [{}] * c.n}


# ---------------------------------------------------------------------------------------------
# trace columns: one dict of lists, one entry per trace, with `row` = the input row's position
# ---------------------------------------------------------------------------------------------


def _qwen_eval_trace_cols(c: Cols, part: Part, splitter: Callable[[str], Split]) -> Part:
    col, samples = c.get("code", required=True)
    assert samples is not None and col is not None
    code = c.table.column(col)
    if any(type(s) is str for s in samples):
        samples = [[s] if type(s) is str else s for s in samples]  # a single string is a list of one
    if any(not isinstance(s, list) or not all(type(x) is str for x in s) for s in samples):
        raise Fallback("code is not a list of strings")
    extra = {}
    for name in ("score", "pred", "pred_score"):
        vals = c.raw(name)
        for arr, s in zip(vals, samples):
            if arr is not None and (not isinstance(arr, list) or len(arr) != len(s)):
                raise Fallback(f"{name} length")
        extra[name] = vals
    system = [s or None for s in c.text("system", required=False, nonempty=False)]
    prompt = c.text(("query", "question"))
    teacher = c.text("model", required=False)
    out: Part = {k: [] for k in ("row", "sample_index", "teacher", "system_prompt", "prompt", "completion", "split", "meta")}
    for r, texts in enumerate(samples):
        scores, preds, rewards = extra["score"][r], extra["pred"][r], extra["pred_score"][r]
        idx = part["meta"][r].get("idx")
        for i, text in enumerate(texts):
            out["row"].append(r)
            out["sample_index"].append(i)
            out["teacher"].append(teacher[r])
            out["system_prompt"].append(system[r])
            out["prompt"].append(prompt[r] or part["problem"][r])
            out["completion"].append(text)
            out["split"].append((splitter(text), None))
            out["meta"].append(qwen_sample_meta(scores, preds, rewards, i, idx))
    if pa.types.is_list(code.type) and code.type.value_type == pa.string():  # each sample a string, checked above
        out["completion"] = Backed(out["completion"], pa.chunked_array([ch.flatten() for ch in code.chunks], type=pa.string()))
    if isinstance(prompt, Backed):  # required, so never empty: the `or problem` above never applied
        out["prompt"] = by_rows(prompt, out["row"])
    return out


def skyt1_trace_cols(c: Cols, part: Part) -> Part:
    return _qwen_eval_trace_cols(c, part, split_skyt1)


def qwen_trace_cols(c: Cols, part: Part) -> Part:
    return _qwen_eval_trace_cols(c, part, split_plain)


def think_trace_cols(c: Cols, part: Part) -> Part:
    texts = c.text(_COMPLETION_COLS)
    reasoning = c.text(("reasoning", "reasoning_content"), required=False, nonempty=False)
    correct = c.raw(("correct", "is_correct", "label"))
    index = c.integer("sample_index")
    prompt = c.text("prompt", required=False)
    system = c.text(("system_prompt", "system"), required=False, nonempty=False)
    teacher = c.text(("teacher", "model"), required=False)
    _, finish = c.get(("finish_reason", "stop_reason"), required=False)
    if finish is not None and any(f is not None and f not in ("stop", "length", "error", "unknown") for f in finish):
        raise Fallback("finish_reason")
    return {
        "row": list(range(c.n)),
        "sample_index": [i if i is not None else -1 for i in index],
        "teacher": teacher,
        "system_prompt": [s or None for s in system],
        "prompt": [p or q for p, q in zip(prompt, part["problem"])],
        "completion": texts,
        "split": [(split_think(t, reasoning_field=rf), None if finish is None else finish[r])  # type: ignore[arg-type]
                  for r, (t, rf) in enumerate(zip(texts, reasoning))],
        "meta": [{"label_correct": x} if isinstance(x, bool) else {} for x in correct],
    }


PROBLEM_COLS: dict[str, Callable[[Cols], Part]] = {
    "gsm8k": gsm8k_cols, "math500": math500_cols, "aime24": competition_cols, "aime25": competition_cols,
    "amc23": competition_cols, "skyt1-traces": qwen_eval_cols, "qwen-traces": qwen_eval_cols, "think-traces": think_cols,
}
TRACE_COLS: dict[str, Callable[[Cols, Part], Part]] = {
    "skyt1-traces": skyt1_trace_cols, "qwen-traces": qwen_trace_cols, "think-traces": think_trace_cols,
}


def supports(preset: Preset, kind: str, maps: dict[str, str]) -> bool:
    """Whether this preset/kind has a batch mapping (a --map always goes row by row)."""
    if maps or preset.name not in PROBLEM_COLS:
        return False
    return kind == "problem" or preset.name in TRACE_COLS


# ---------------------------------------------------------------------------------------------
# a whole batch: input columns -> output table (mirrors ingest._context and ingest._convert)
# ---------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """A batch mapped as far as it can be without the run's state (so it can be made in a
    worker process): the output table before dedup (problems) or with the samples to number
    still open (traces: sample_index -1, their ids left to `finish`)."""

    table: pa.Table
    rows: list[int]  # per output row, the input row (position in the batch) it came from
    n_input: int
    problem_ids: list[str]  # problems: each row's id, for the run's dedup
    open_rows: list[int]  # trace rows whose sample_index the run's counters give
    open_pids: list[str]
    open_teachers: list[str]
    open_completions: list[str]


def convert(batch: LineBatch | TableBatch, preset: Preset, kind: str, consts: Any, counters: dict[str, int],
            seen: set[str] | None) -> tuple[pa.Table, list[int], int]:
    """(output table, output rows per input row, duplicates dropped). Raises Fallback before
    changing `counters` or `seen` when any row needs the row path."""
    return finish(prepare(batch, preset.name, kind, consts), counters, seen)


def prepare(batch: LineBatch | TableBatch, preset_name: str, kind: str, consts: Any) -> Prepared:
    """The stateless part of `convert` (runs in a worker process when the input is large)."""
    from factory.ingest.presets import PRESETS
    from factory.schemas.contracts import PROBLEM_SCHEMA, TRACE_SCHEMA

    preset = PRESETS[preset_name]
    c = Cols(parse(batch), batch)
    part = PROBLEM_COLS[preset.name](c)
    domain = consts.domain if consts.domain is not None else preset.domain
    if domain not in DOMAINS:
        raise Fallback("domain")
    source: list[str]
    if consts.source is not None:
        source = Same(consts.source or "unknown", c.n)
    elif preset.source_column:
        _, col = c.get(preset.source_column, required=False)
        col = col if col is not None else [None] * c.n
        source = [(v if isinstance(v, str) and v else preset.source) or "unknown" for v in col]
    else:
        source = Same(preset.source or "unknown", c.n)
    license_ = consts.license if consts.license is not None else preset.license
    language = (consts.language if consts.language is not None else "en") or "en"
    pids = problem_ids(domain, part["problem"], part["reference_answer"])

    if kind == "problem":
        cols = {"id": pids, "source": source, "source_id": part["source_id"], "domain": Same(domain, c.n),
                "problem": part["problem"], "reference_answer": part["reference_answer"],
                "reference_solution": part["reference_solution"], "tests": Same(None, c.n),
                "difficulty": part["difficulty"], "level": part["level"], "language": Same(language, c.n),
                "license": Same(license_, c.n), "meta": [_meta_json(m) for m in part["meta"]]}
        return Prepared(_table(cols, PROBLEM_SCHEMA), list(range(c.n)), c.n, pids, [], [], [], [])

    t = TRACE_COLS[preset.name](c, part)
    rows = t["row"]
    teachers = [consts.teacher or x or "unknown" for x in t["teacher"]]
    splits = t["split"]
    finish_reasons = [fr or s.finish_reason for s, fr in splits]
    if any(f not in FINISH_REASONS for f in finish_reasons):
        raise Fallback("finish_reason")
    metas = []
    for r, s, m in zip(rows, splits, t["meta"]):
        tm = {**part["meta"][r], "format": s[0].form, **m}
        if part["source_id"][r] is not None:
            tm.setdefault("source_id", part["source_id"][r])
        metas.append(_meta_json(tm))
    indexes = t["sample_index"]
    tpids = [pids[r] for r in rows]
    open_rows = [k for k, i in enumerate(indexes) if i < 0]
    if open_rows:  # their ids wait for their sample numbers (finish)
        ids = [""] * len(rows)
        closed = [k for k, i in enumerate(indexes) if i >= 0]
        for k, tid in zip(closed, trace_ids([tpids[k] for k in closed], [indexes[k] for k in closed],
                                            [teachers[k] for k in closed], [t["completion"][k] for k in closed])):
            ids[k] = tid
    else:
        ids = trace_ids(tpids, indexes, teachers, t["completion"])
    m = len(rows)
    cols = {
        "id": ids, "problem_id": tpids, "sample_index": [max(i, 0) for i in indexes], "teacher": teachers,
        "backend": ["replay"] * m, "sampling": [None] * m, "system_prompt": t["system_prompt"], "prompt": t["prompt"],
        "completion": t["completion"], "reasoning": [s.reasoning for s, _ in splits],
        "reasoning_finished": [bool(s.reasoning_finished) for s, _ in splits], "answer": [s.answer for s, _ in splits],
        "finish_reason": finish_reasons, "prompt_tokens": [None] * m, "completion_tokens": [None] * m,
        "domain": [domain] * m, "source": [source[r] for r in rows], "problem": by_rows(part["problem"], rows),
        "reference_answer": [part["reference_answer"][r] for r in rows], "tests": [None] * m,
        "difficulty": [part["difficulty"][r] for r in rows], "level": [part["level"][r] for r in rows],
        "language": [language] * m, "license": [license_] * m, "meta": metas,
    }
    return Prepared(_table(cols, TRACE_SCHEMA), rows, c.n, [], open_rows, [tpids[k] for k in open_rows],
                    [teachers[k] for k in open_rows], [t["completion"][k] for k in open_rows])


def prepare_or_none(batch: LineBatch | TableBatch, preset_name: str, kind: str, consts: Any) -> Prepared | None:
    """`prepare`, with None for a batch that must go row by row (the worker pool's task)."""
    try:
        return prepare(batch, preset_name, kind, consts)
    except Fallback:
        return None


def finish(p: Prepared, counters: dict[str, int], seen: set[str] | None) -> tuple[pa.Table, list[int], int]:
    """Apply the run's state: drop problems already written (`seen`), number the samples of
    trace rows that do not carry one (`counters`). Cannot fail."""
    table, rows = p.table, p.rows
    dups = 0
    if seen is not None:
        keep = []
        for k, pid in enumerate(p.problem_ids):
            if pid in seen:
                dups += 1
            else:
                seen.add(pid)
                keep.append(k)
        if dups:
            table = table.take(pa.array(keep, type=pa.int64()))
            rows = [rows[k] for k in keep]
    elif p.open_rows:
        indexes = []
        for pid in p.open_pids:  # one sample per row: number the samples of each problem in order
            i = counters.get(pid, 0)
            counters[pid] = i + 1
            indexes.append(i)
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


def _column(values: list[Any], f: pa.Field) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, Backed):
        return values.arrow
    if isinstance(values, Same) and not pa.types.is_nested(f.type):  # (pa.nulls of a struct has null children)
        if values.value is None:
            return pa.nulls(len(values), type=f.type)
        return pa.repeat(pa.scalar(values.value, type=f.type), len(values))
    return pa.array(values, type=f.type)


def _table(cols: dict[str, list[Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_arrays([_column(cols[f.name], f) for f in schema], schema=schema)


__all__ = ["Fallback", "Prepared", "convert", "finish", "parse", "prepare", "prepare_or_none", "problem_ids", "supports", "trace_ids"]
