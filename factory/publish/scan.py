"""One lazy pass over a dataset folder: everything the card and the report count in it.

`scan_part(folder, ...)` builds ONE polars scan of the folder's shards and derives every query
from it; `pl.collect_all` runs them together, and polars' common-subplan elimination reads the
shards once (`explain_all` shows a single cached Parquet scan), projecting only the columns the
queries need:

- the cube: one row per distinct (domain, teacher, backend, sampling, system prompt, reject
  reason, difficulty, kind, source, license, language) with its row count and token sums; every
  count the card prints (rows per teacher, per domain, per reject reason, per difficulty, ...)
  is a sum over this small table, so the rows are never read again;
- on request: the (id -> teacher, difficulty) map of a trace folder a curate stage read, the
  last trace id of each SFT row (who wrote the accepted answer), per-row token estimates of the
  published set, and the `score_language` values of the folder that scored them.

The sampling key leaves out the per-sample `seed` (one value per row: grouping on it gave one
"teacher" per sample); the run seed stays (in `extra`). Tokens: the teacher's own counts where
recorded, else the shared estimate (factory.schemas.text.approx_tokens: ceil(characters / 4)), so the
card and curate's budgets measure the same thing.

Exercise: `bench/card_facts.py` (scans per folder, seconds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from factory.io.dataset import read_manifest
from factory.schemas.text import (
    CHARS_PER_TOKEN,
    SKY_SOLUTION_CLOSE,
    SKY_SOLUTION_OPEN,
    SKY_THOUGHT_CLOSE,
    SKY_THOUGHT_OPEN,
    THINK_CLOSE,
    THINK_OPEN,
    approx_tokens_expr,
)

KEYS = ("domain", "teacher", "backend", "sampling", "system_prompt", "reject_reason", "difficulty", "kind", "source",
        "license", "language")


@dataclass
class PartScan:
    """What one dataset folder holds, counted in one pass."""

    rows: int
    contract: str
    columns: tuple[str, ...]
    cube: Any  # pl.DataFrame: KEYS present + n, completion_tokens, prompt_tokens, tokens_estimated, rows_estimated
    ids: Any = None  # pl.DataFrame (id, teacher, difficulty) or None
    last_ids: Any = None  # pl.DataFrame (trace_id, kind, domain) of an SFT folder, or None
    tokens: dict[str, np.ndarray] = field(default_factory=dict)  # "reasoning"/"answer" per row (estimates)
    scores: np.ndarray | None = None  # score_language values
    manifest: Any = None

    def count(self, by: str | tuple[str, ...], **where: Any) -> dict[Any, int]:
        """Rows per value of `by` (a column, or a tuple of columns -> tuple keys), optionally
        restricted to rows whose columns equal `where`'s values; {} when a column is absent."""
        return self.sum("n", by, **where)

    def sum(self, what: str, by: str | tuple[str, ...], **where: Any) -> dict[Any, int]:
        import polars as pl

        cols = (by,) if isinstance(by, str) else tuple(by)
        if self.cube is None or any(c not in self.cube.columns for c in (*cols, *where)):
            return {}
        df = self.cube
        for k, v in where.items():
            df = df.filter(pl.col(k).is_null() if v is None else pl.col(k) == v)
        g = df.group_by(list(cols)).agg(pl.col(what).sum()).rows()
        out = {(r[0] if isinstance(by, str) else tuple(r[:-1])): int(r[-1] or 0) for r in g}
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], str(kv[0]))))

    def total(self, what: str = "n", **where: Any) -> int:
        import polars as pl

        if self.cube is None or what not in self.cube.columns or any(c not in self.cube.columns for c in where):
            return 0 if where or what != "n" else self.rows
        df = self.cube
        for k, v in where.items():
            df = df.filter(pl.col(k).is_null() if v is None else pl.col(k) == v)
        return int(df[what].sum() or 0)


def _difficulty(cols: tuple[str, ...]):
    import polars as pl

    d = pl.col("difficulty").cast(pl.String) if "difficulty" in cols else pl.lit(None, pl.String)
    lv = pl.format("level {}", pl.col("level")) if "level" in cols else pl.lit(None, pl.String)
    return pl.coalesce(d, lv, pl.lit("unknown")).alias("difficulty")


def _sampling_key(schema: Any):
    """The sampling struct as JSON without the per-sample seed; null stays null."""
    import polars as pl

    fields = [f.name for f in schema["sampling"].fields if f.name != "seed"]
    body = pl.struct([pl.col("sampling").struct.field(f) for f in fields]).struct.json_encode()
    return pl.when(pl.col("sampling").is_null()).then(pl.lit(None, pl.String)).otherwise(body).alias("sampling")


def _think_lengths(text: Any) -> tuple[Any, Any]:
    """(reasoning, answer) lengths in characters of an assistant turn, as polars expressions:
    the think block (Sky-T1's thought tags too; an unclosed block runs to the end; a lone closing
    tag means the prompt opened it) and what follows it (Sky-T1's solution tags left out), tags
    excluded. The tags are located by literal search (byte offsets) and nothing is cut out of
    the text; byte lengths become characters by the row's own characters-per-byte ratio (exact
    for ASCII text, and for a row in one script). Cutting the pieces out (a regex capture or a
    split copying the whole chain of thought) was 3-10x slower on long chains of thought."""
    import polars as pl

    def first(*tags: str) -> tuple[Any, Any]:  # (start, end) byte offsets of the first tag found
        starts = [text.str.find(t, literal=True) for t in tags]
        return pl.coalesce(*starts), pl.coalesce(*[st + len(t.encode()) for st, t in zip(starts, tags)])

    o_start, o_end = first(THINK_OPEN, SKY_THOUGHT_OPEN)
    c_start, c_end = first(THINK_CLOSE, SKY_THOUGHT_CLOSE)
    n_bytes = text.str.len_bytes()
    per_byte = text.str.len_chars() / pl.max_horizontal(n_bytes, 1)
    sol = (text.str.contains(SKY_SOLUTION_OPEN, literal=True).cast(pl.Int64) * len(SKY_SOLUTION_OPEN)
           + text.str.contains(SKY_SOLUTION_CLOSE, literal=True).cast(pl.Int64) * len(SKY_SOLUTION_CLOSE))
    opened = pl.when(o_start.is_not_null() & (c_start.is_null() | (o_start < c_start))).then(o_end).otherwise(0)
    reasoning = pl.when(c_start.is_not_null()).then(c_start - opened).when(o_start.is_not_null()).then(n_bytes - opened).otherwise(0)
    answer = pl.when(c_start.is_not_null()).then(n_bytes - c_end - sol).when(o_start.is_not_null()).then(0).otherwise(n_bytes)
    return ((reasoning.clip(0) * per_byte).round(0).cast(pl.Int64), (answer.clip(0) * per_byte).round(0).cast(pl.Int64))


def _has_nulls(folder: Path, column: str) -> bool:
    """Whether `column` holds a null anywhere, from the shards' Parquet statistics (footers only;
    True when a shard has no statistics)."""
    import pyarrow.parquet as pq

    m = read_manifest(folder)
    for s in m.shards:
        md = pq.ParquetFile(Path(folder) / s.name).metadata
        idx = md.schema.names.index(column) if column in md.schema.names else None
        if idx is None:
            return True
        for rg in range(md.num_row_groups):
            st = md.row_group(rg).column(idx).statistics
            if st is None or not st.has_null_count or st.null_count:
                return True
    return False


def _estimate(expr: Any) -> Any:
    return approx_tokens_expr(expr)  # ceil(characters / 4), about 4 characters per BPE token


def scan_part(
    folder: str | Path,
    *,
    estimate_tokens: bool = False,
    ids: bool = False,
    lengths: bool = False,
    scores: bool = False,
) -> PartScan:
    """Count `folder` in one pass (see the module docstring); the flags add the per-row queries."""
    import polars as pl

    from factory.io.dataset import scan

    m = read_manifest(folder)
    lf = scan(folder)
    schema = lf.collect_schema()
    cols = tuple(schema.names())
    keys = []
    for k in KEYS:
        if k == "difficulty":
            if "difficulty" in cols or "level" in cols:
                keys.append(_difficulty(cols))
        elif k == "sampling":
            if "sampling" in cols and isinstance(schema["sampling"], pl.Struct):
                keys.append(_sampling_key(schema))
        elif k in cols:
            keys.append(pl.col(k).cast(pl.String) if k != "system_prompt" else pl.col(k))
    aggs = [pl.len().alias("n")]
    for t in ("completion_tokens", "prompt_tokens"):
        aggs.append((pl.col(t).sum() if t in cols else pl.lit(0)).alias(t))
    # the completions (the largest column) are read only when some row lacks the teacher's count
    if estimate_tokens and "completion" in cols and "completion_tokens" in cols and _has_nulls(Path(folder), "completion_tokens"):
        missing = pl.col("completion_tokens").is_null()
        aggs += [pl.when(missing).then(_estimate(pl.col("completion"))).otherwise(0).sum().alias("tokens_estimated"),
                 missing.sum().alias("rows_estimated")]
    else:
        aggs += [pl.lit(0).alias("tokens_estimated"), pl.lit(0).alias("rows_estimated")]
    queries = {"cube": lf.group_by(keys).agg(aggs) if keys else lf.select(aggs)}
    if ids and "id" in cols and "teacher" in cols:
        queries["ids"] = lf.select(pl.col("id"), pl.col("teacher"),
                                   _difficulty(cols) if ("difficulty" in cols or "level" in cols) else pl.lit("unknown").alias("difficulty"))
    if ids and "trace_ids" in cols:
        sel = [pl.col("trace_ids").list.last().alias("trace_id")] + [pl.col(c) for c in ("kind", "domain") if c in cols]
        queries["last_ids"] = lf.select(sel)
    if lengths:
        if "messages" in cols:
            # the SFT contract ends every row with the assistant's turn (think block, then answer);
            # the turn is cut out once (as a column), not once per measure taken of it
            last = pl.col("messages").list.last()
            turn = lf.select(last.struct.field("content").fill_null("").alias("_text"),
                             (last.struct.field("role") == "assistant").fill_null(False).cast(pl.Int64).alias("_assistant"))
            reasoning, answer = _think_lengths(pl.col("_text"))
            tok = CHARS_PER_TOKEN  # lengths here are character counts from tag offsets: the same estimate
            queries["lengths"] = turn.select((((reasoning + tok - 1) // tok) * pl.col("_assistant")).alias("reasoning"),
                                             (((answer + tok - 1) // tok) * pl.col("_assistant")).alias("answer"))
        elif "reasoning" in cols and "answer" in cols:
            queries["lengths"] = lf.select(_estimate(pl.col("reasoning")).alias("reasoning"), _estimate(pl.col("answer")).alias("answer"))
    if scores and "score_language" in cols:
        queries["scores"] = lf.select(pl.col("score_language").drop_nulls())
    names = list(queries)
    frames = dict(zip(names, pl.collect_all([queries[k] for k in names])))
    out = PartScan(rows=m.rows, contract=m.contract, columns=cols, cube=frames["cube"], manifest=m)
    out.ids = frames.get("ids")
    out.last_ids = frames.get("last_ids")
    if "lengths" in frames:
        out.tokens = {k: frames["lengths"][k].to_numpy().astype(np.int64) for k in ("reasoning", "answer")}
    if "scores" in frames:
        out.scores = frames["scores"]["score_language"].to_numpy().astype(np.float64)
    return out


def sampling_dict(key: str | None) -> dict[str, Any]:
    """The sampling key back as a flat dict: `extra`'s JSON (run seed, prefill, ...) merged in,
    nulls left out."""
    if not key:
        return {}
    try:
        d = json.loads(key) or {}
    except ValueError:
        return {"sampling": key}
    extra = d.pop("extra", None)
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            extra = {"extra": extra}
    if isinstance(extra, dict):
        for k, v in extra.items():
            d.setdefault("seed" if k == "run_seed" else k, v)
    return {k: v for k, v in d.items() if v is not None}
