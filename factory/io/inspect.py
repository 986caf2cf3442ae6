"""`factory inspect PATH`: what a dataset folder holds — contract, schema version, producing
command, row and shard counts, per-column summaries and a few rows with long text folded.

Summaries are computed in one streaming pass over Arrow batches (nulls; distinct values for
low-cardinality strings such as domain/source/finish_reason; exact distinct counts for short
strings such as ids; min/mean/max for numbers; length percentiles for long text; lengths of
lists), so memory stays bounded by one batch plus one integer per row of text. The folder is checked first (`check_folder`), so a half-written or
truncated folder gives the dataset error instead of a summary. Works on any factory folder,
including ones with score/verdict columns added by filters.

Exercise: `factory inspect runs/quickstart/problems --rows 2`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from factory.io.dataset import check_folder, iter_batches
from factory.schemas.contracts import CONTRACTS

LOW_CARDINALITY = 20  # a string column with at most this many distinct values shows them all
LONG_TEXT = 80  # a string column whose longest value exceeds this gets length percentiles
FOLD_CHARS = 600
FOLD_LINES = 12
BATCH_ROWS = 5_000  # rows per summary step: a few MB of text per column


def fold_text(text: str, *, max_chars: int = FOLD_CHARS, max_lines: int = FOLD_LINES, keep_lines: int = 3) -> str:
    """Keep the first and last lines of long text: "first…\\n… N chars folded …\\n…last"."""
    if len(text) <= max_chars and text.count("\n") < max_lines:
        return text
    lines = text.split("\n")
    if len(lines) > 2 * keep_lines:
        head = "\n".join(lines[:keep_lines])
        tail = "\n".join(lines[-keep_lines:])
    else:
        head, tail = text[: max_chars // 3], ""
    budget = max_chars // 2
    if len(head) > budget:
        head = head[:budget]
    if len(tail) > budget:
        tail = tail[-budget:]
    folded = len(text) - len(head) - len(tail)
    if folded <= 0:
        return text
    return f"{head}\n… {folded} chars folded …" + (f"\n{tail}" if tail else "")


class _Column:
    """Running summary of one column, fed one Arrow batch at a time (bounded memory: counters,
    a capped set for short strings, and one int32 per row for text lengths)."""

    def __init__(self, name: str, type_: Any) -> None:
        import pyarrow as pa

        self.name, self.type = name, type_
        t = type_
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            self.kind = "string"
        elif pa.types.is_boolean(t):
            self.kind = "bool"
        elif pa.types.is_integer(t) or pa.types.is_floating(t):
            self.kind = "number"
        elif pa.types.is_list(t) or pa.types.is_large_list(t):
            self.kind = "list"
        elif pa.types.is_struct(t):
            self.kind = "struct"
        else:
            self.kind = str(t)
        self.nulls = 0
        self.count = 0
        self.mn: Any = None
        self.mx: Any = None
        self.total = 0.0
        self.trues = 0
        self.lengths: list[Any] = []
        self.values: dict[str, int] | None = {}  # exact value counts while few distinct values
        self.hashes: list[Any] | None = []
        self.max_len = 0
        self.has_style = self.kind == "struct" and any(type_.field(i).name == "style" for i in range(type_.num_fields))

    def add(self, col: Any) -> None:
        import pyarrow.compute as pc

        self.nulls += col.null_count
        valid = len(col) - col.null_count
        self.count += valid
        if self.kind == "number" and valid:
            mm = pc.min_max(col).as_py()
            self.mn = mm["min"] if self.mn is None else min(self.mn, mm["min"])
            self.mx = mm["max"] if self.mx is None else max(self.mx, mm["max"])
            self.total += float(pc.sum(col).as_py() or 0)
        elif self.kind == "bool":
            self.trues += int(pc.sum(col).as_py() or 0)
        elif self.kind == "string":
            lens = pc.drop_null(pc.utf8_length(col)).to_numpy(zero_copy_only=False).astype("int32")
            self.lengths.append(lens)
            if len(lens):
                self.max_len = max(self.max_len, int(lens.max()))
            self._count_values(col)
            if self.hashes is not None:
                if self.max_len > LONG_TEXT:
                    self.hashes = None  # long text: distinctness is the dedup stage's job
                else:
                    # 64-bit hashes, not the strings: 8 bytes per row, so a million ids cost 8 MB
                    import polars as pl

                    self.hashes.append(pl.from_arrow(pc.drop_null(col)).hash(seed=0).to_numpy())
        elif self.kind == "list":
            self.lengths.append(pc.drop_null(pc.list_value_length(col)).to_numpy(zero_copy_only=False).astype("int64"))
        elif self.kind == "struct" and self.has_style:
            self._count_values(pc.struct_field(col, "style"))

    def _count_values(self, col: Any) -> None:
        if self.values is None:
            return
        vc = col.value_counts()
        for item in vc.to_pylist():
            key = "null" if item["values"] is None else str(item["values"])
            self.values[key] = self.values.get(key, 0) + int(item["counts"])
        if len(self.values) > LOW_CARDINALITY:
            self.values = None

    def result(self) -> dict[str, Any]:
        import numpy as np

        info: dict[str, Any] = {"name": self.name, "type": str(self.type), "kind": self.kind, "nulls": self.nulls}
        if self.kind == "struct":
            info["type"] = f"struct({self.type.num_fields} fields)"
        if self.kind == "number":
            info.update(min=self.mn, max=self.mx, mean=(self.total / self.count) if self.count else None)
        elif self.kind == "bool":
            info["true"] = self.trues
        elif self.kind in ("string", "list"):
            lens = np.concatenate(self.lengths) if self.lengths else np.zeros(0, dtype="int32")
            if len(lens):
                q = np.percentile(lens, [50, 90, 99], method="nearest")
                info.update(len_min=int(lens.min()), len_mean=float(lens.mean()), len_p50=int(q[0]), len_p90=int(q[1]),
                            len_p99=int(q[2]), len_max=int(lens.max()))
        if self.kind == "string":
            if self.hashes is not None:
                found = _count_unique(np.concatenate(self.hashes)) if self.hashes else 0
                info["distinct"] = found + (1 if self.nulls else 0)  # null counts as one value, as in polars
            # listing values helps only when they repeat (domain, source, finish_reason), not for ids
            if self.values is not None and self.max_len <= LONG_TEXT and len(self.values) < self.nulls + self.count:
                info["values"] = dict(sorted(self.values.items(), key=lambda kv: (-kv[1], kv[0])))
        if self.kind == "struct" and self.has_style and self.values is not None and self.nulls < self.nulls + self.count:
            info["values"] = dict(sorted(self.values.items(), key=lambda kv: (-kv[1], kv[0])))
        return info


def _count_unique(values: Any) -> int:
    if not len(values):
        return 0
    values.sort()  # in place: one sort beats a hash table for a few million uint64
    return int((values[1:] != values[:-1]).sum()) + 1


def summarize(path: str | os.PathLike[str], *, rows: int = 3, full_check: bool = False) -> dict[str, Any]:
    """Everything `factory inspect` shows, as a JSON-able dict (one streaming pass)."""
    path = Path(path)
    m = check_folder(path, full=full_check)
    summary: dict[str, Any] = {
        "path": str(path), "contract": m.contract, "schema_version": m.schema_version, "rows": m.rows,
        "shards": len(m.shards), "bytes": sum(s.bytes for s in m.shards), "command": m.command, "params": m.params,
        "stats": m.stats, "run": m.run, "full_check": full_check, "columns": [], "sample": [],
    }
    cols: list[_Column] | None = None
    for batch in iter_batches(path, batch_size=BATCH_ROWS):
        if cols is None:
            cols = [_Column(f.name, f.type) for f in batch.schema]
        for c, arr in zip(cols, batch.columns):
            c.add(arr)
    if cols is None and m.contract in CONTRACTS:  # no rows: still show the columns it would hold
        cols = [_Column(f.name, f.type) for f in CONTRACTS[m.contract].schema]
    summary["columns"] = [c.result() for c in cols or []]
    summary["sample"] = _sample(path, rows)
    return summary


def _sample(path: Path, rows: int) -> list[dict[str, Any]]:
    if rows <= 0:
        return []
    out: list[dict[str, Any]] = []
    for batch in iter_batches(path, batch_size=rows):
        out.extend(batch.to_pylist()[: rows - len(out)])
        if len(out) >= rows:
            break
    return out


def format_value(value: Any) -> str:
    """A row value for display: JSON strings (meta) and structs pretty-printed, long text folded."""
    if value is None:
        return "null"
    if isinstance(value, str):
        s = value
        if s[:1] in "{[":
            try:
                s = json.dumps(json.loads(s), ensure_ascii=False, indent=1)
            except json.JSONDecodeError:
                pass
        return fold_text(s)
    if isinstance(value, (dict, list)):
        return fold_text(json.dumps(value, ensure_ascii=False, indent=1, default=str))
    return str(value)


def column_line(info: dict[str, Any]) -> str:
    """One-line description of a column summary (plain text, used by the recipe stage and CLI)."""
    parts = [f"nulls {info.get('nulls', 0)}"]
    kind = info["kind"]
    if kind == "number" and info.get("min") is not None:
        parts.append(f"min {_num(info['min'])} mean {_num(info['mean'])} max {_num(info['max'])}")
    elif kind == "bool":
        parts.append(f"true {info.get('true') or 0}")
    elif kind == "string":
        if info.get("distinct") is not None:
            parts.append(f"distinct {info['distinct']}")
        if info.get("values"):
            parts.append("values " + ", ".join(f"{k}: {v}" for k, v in info["values"].items()))
        if (info.get("len_max") or 0) > LONG_TEXT:
            p = {k: _num(info.get(k)) for k in ("len_p50", "len_p90", "len_p99", "len_max")}
            parts.append(f"chars p50 {p['len_p50']} p90 {p['len_p90']} p99 {p['len_p99']} max {p['len_max']}")
    elif kind == "list" and info.get("len_max") is not None:
        parts.append(f"length min {info['len_min']} mean {_num(info['len_mean'])} max {info['len_max']}")
    elif kind == "struct" and "values" in info:
        parts.append("style " + ", ".join(f"{k}: {v}" for k, v in info["values"].items()))
    return "; ".join(parts)


def _num(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def summary_text(s: dict[str, Any]) -> str:
    """Plain-text rendering (recipe runs log this; the CLI draws rich tables instead)."""
    lines = [
        f"{s['path']}: {s['contract']} rows (schema {s['schema_version']}), {s['rows']} row(s) in {s['shards']} shard(s), {s['bytes']} bytes",
        f"command: {s['command'] or '?'}",
    ]
    for info in s["columns"]:
        lines.append(f"  {info['name']} ({info['type']}): {column_line(info)}")
    for i, row in enumerate(s["sample"]):
        lines.append(f"row {i}:")
        for k, v in row.items():
            text = format_value(v).replace("\n", "\n      ")
            lines.append(f"    {k}: {text}")
    return "\n".join(lines)


def run(opts: Any, ctx: Any) -> dict[str, Any]:
    """The inspect stage (`factory inspect` and a recipe's `inspect:` section): it writes
    nothing, it reads and summarises."""
    from factory.schemas.errors import InputError

    paths = list(opts.path)
    if not paths:
        # in a recipe: every dataset folder an earlier stage reported, in order
        paths = [s["out"] for s in ctx.summaries.values() if isinstance(s, dict) and isinstance(s.get("out"), str)]
        paths = [p for p in paths if (Path(p) / "manifest.json").exists()]
        if not paths:
            raise InputError("inspect: expected a dataset folder, found none (no earlier stage wrote one)",
                             hint="give the folder: factory inspect DIR")
    result: dict[str, Any] = {"datasets": []}
    for folder in paths:
        s = summarize(folder, rows=opts.rows, full_check=opts.full_check)
        if not ctx.progress:
            ctx.log(summary_text(s))
        result["datasets"].append(s)
    return result
