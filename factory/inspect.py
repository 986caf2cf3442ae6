"""`factory inspect PATH`: what a dataset folder holds — contract, schema version, producing
command, row and shard counts, per-column summaries and a few rows with long text folded.

Summaries are computed in one streaming polars pass over the shards (nulls; distinct values
for low-cardinality strings such as domain/source/finish_reason; min/mean/max for numbers;
length percentiles for long text; lengths of lists), plus one small group-by per
low-cardinality column. The folder is checked first (`check_folder`), so a half-written or
truncated folder gives the dataset error instead of a summary. Works on any factory folder,
including ones with score/verdict columns added by filters.

Exercise: `factory inspect runs/quickstart/problems --rows 2`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from factory.dataset import check_folder, iter_batches

LOW_CARDINALITY = 20  # a string column with at most this many distinct values shows them all
LONG_TEXT = 80  # a string column whose longest value exceeds this gets length percentiles
FOLD_CHARS = 600
FOLD_LINES = 12


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


def _col_exprs(name: str, dtype: Any) -> tuple[str, list[Any]]:
    import polars as pl

    c = pl.col(name)
    nulls = c.null_count().alias(f"{name}\x00nulls")
    if dtype == pl.String:
        n = c.str.len_chars()
        return "string", [
            # HyperLogLog estimate: an exact n_unique would hold every distinct text in memory
            nulls, c.approx_n_unique().alias(f"{name}\x00distinct"),
            n.min().alias(f"{name}\x00len_min"), n.mean().alias(f"{name}\x00len_mean"),
            n.quantile(0.5, "nearest").alias(f"{name}\x00len_p50"), n.quantile(0.9, "nearest").alias(f"{name}\x00len_p90"),
            n.quantile(0.99, "nearest").alias(f"{name}\x00len_p99"), n.max().alias(f"{name}\x00len_max"),
        ]
    if dtype == pl.Boolean:
        return "bool", [nulls, c.sum().alias(f"{name}\x00true")]
    if dtype.is_numeric():
        return "number", [nulls, c.min().alias(f"{name}\x00min"), c.mean().alias(f"{name}\x00mean"), c.max().alias(f"{name}\x00max")]
    if isinstance(dtype, pl.List):
        n = c.list.len()
        return "list", [nulls, n.min().alias(f"{name}\x00len_min"), n.mean().alias(f"{name}\x00len_mean"), n.max().alias(f"{name}\x00len_max")]
    if isinstance(dtype, pl.Struct):
        exprs = [nulls]
        if "style" in [f.name for f in dtype.fields]:  # tests: which kinds of tests
            exprs.append(c.struct.field("style").n_unique().alias(f"{name}\x00style_distinct"))
        return "struct", exprs
    return str(dtype), [nulls]


def summarize(path: str | os.PathLike[str], *, rows: int = 3, full_check: bool = False) -> dict[str, Any]:
    """Everything `factory inspect` shows, as a JSON-able dict."""
    import polars as pl

    path = Path(path)
    m = check_folder(path, full=full_check)
    shard_paths = [str(path / s.name) for s in m.shards]
    summary: dict[str, Any] = {
        "path": str(path), "contract": m.contract, "schema_version": m.schema_version, "rows": m.rows,
        "shards": len(m.shards), "bytes": sum(s.bytes for s in m.shards), "command": m.command, "params": m.params,
        "stats": m.stats, "run": m.run, "full_check": full_check, "columns": [], "sample": [],
    }
    if not shard_paths:
        return summary
    lf = pl.scan_parquet(shard_paths)
    schema = lf.collect_schema()
    kinds: dict[str, str] = {}
    exprs: list[Any] = []
    for name, dtype in schema.items():
        kind, es = _col_exprs(name, dtype)
        kinds[name] = kind
        exprs += es
    agg = lf.select(exprs).collect().row(0, named=True)
    cols: list[dict[str, Any]] = []
    for name, dtype in schema.items():
        info: dict[str, Any] = {"name": name, "type": str(dtype), "kind": kinds[name]}
        for key, val in agg.items():
            col, _, stat = key.partition("\x00")
            if col == name:
                info[stat] = val
        cols.append(info)
    # exact distinct counts for short strings (ids, names, enums): cheap to hold in memory
    short = [i["name"] for i in cols if i["kind"] == "string" and (i.get("len_max") or 0) <= LONG_TEXT]
    if short:
        exact = lf.select([pl.col(n).n_unique().alias(n) for n in short]).collect().row(0, named=True)
        for info in cols:
            if info["name"] in exact:
                info["distinct"] = exact[info["name"]]
                info["distinct_exact"] = True
    # distinct values of low-cardinality strings (and of tests.style): a small group-by each
    for info in cols:
        name = info["name"]
        if info["kind"] == "string" and (info.get("distinct") or 0) <= LOW_CARDINALITY and (info.get("len_max") or 0) <= LONG_TEXT:
            info["values"] = _value_counts(lf, pl.col(name))
        if info.get("style_distinct") and info.get("nulls", 0) < m.rows:
            info["values"] = _value_counts(lf, pl.col(name).struct.field("style"))
    summary["columns"] = cols
    summary["sample"] = _sample(path, rows)
    return summary


def _value_counts(lf: Any, expr: Any) -> dict[str, int]:
    import polars as pl

    df = lf.select(expr.alias("v")).group_by("v").agg(pl.len().alias("n")).collect()
    pairs = sorted(((("null" if v is None else str(v)), int(n)) for v, n in df.iter_rows()), key=lambda p: (-p[1], p[0]))
    return dict(pairs)


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
        parts.append(f"distinct {info.get('distinct')}" if info.get("distinct_exact") else f"distinct ~{info.get('distinct')}")
        if "values" in info:
            parts.append("values " + ", ".join(f"{k}: {v}" for k, v in info["values"].items()))
        if (info.get("len_max") or 0) > LONG_TEXT:
            p = {k: _num(info.get(k)) for k in ("len_p50", "len_p90", "len_p99", "len_max")}
            parts.append(f"chars p50 {p['len_p50']} p90 {p['len_p90']} p99 {p['len_p99']} max {p['len_max']}")
    elif kind == "list" and info.get("len_max") is not None:
        parts.append(f"length min {info['len_min']} mean {_num(info['len_mean'])} max {info['len_max']}")
    elif kind == "struct" and "values" in info:
        parts.append("style " + ", ".join(f"{k}: {v}" for k, v in info["values"].items()))
    return "; ".join(parts)


def short_type(type_name: str) -> str:
    """`Struct({'style': String, ...})` -> `Struct(8 fields)`; other polars types as they are."""
    if type_name.startswith("Struct("):
        return f"Struct({type_name.count(':')} fields)"
    return type_name


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
        lines.append(f"  {info['name']} ({short_type(info['type'])}): {column_line(info)}")
    for i, row in enumerate(s["sample"]):
        lines.append(f"row {i}:")
        for k, v in row.items():
            text = format_value(v).replace("\n", "\n      ")
            lines.append(f"    {k}: {text}")
    return "\n".join(lines)
