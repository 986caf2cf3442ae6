"""A mix made of shortcut rows only (one rendered trace per row, the usual distillation mix),
held as columns from start to end: `MixRows`' split, report and table for the same rows, with
no Python object per row. polars joins the mix's entries to the rendered traces and builds
the messages; what is left in Python is a sha256 per row (the `sft_id`, over the bytes
`id_bytes_expr` built, when the text pass has not taken it already) and the report's counts.

`factory.curate.core` uses it when every row of the mix is a shortcut (and its text is in the
thought and answer columns; traces whose text is only in the raw completion go through
`MixRows`). The few rows polars does not render (`render_stages`) are rendered by Python's rules
here (`with_ids`).
tests/test_curate.py checks both give the same shards and report.

Exercise: `python bench/curate_scale.py`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import polars as pl

from factory.curate.sft import (
    Format,
    fast_meta_json,
    ids_from_bytes,
    percentiles,
    split_positions,
)

KIND = "shortcut"


def with_ids(df: pl.DataFrame, *, user: str, system: str | None, fmt: Format) -> pl.DataFrame | None:
    """A fetched frame of traces with every assistant turn (`_asst`) and row id (`_rid`) filled:
    the ids of the rows polars rendered from their bytes (`_hin`, unless hashed already), the
    rows it left to Python (a tag, U+001C-U+001F, a cue-only answer: `render_stages`) rendered
    and hashed by the same rules as `MixRows`. None when a row has no user turn (MixRows then)."""
    from factory.curate.sft import _pairs_id, render_assistant, split_trace
    from factory.schemas.errors import DatasetError

    if df[user].null_count():
        return None
    if "_rid" not in df.columns:
        df = df.with_columns(pl.Series("_rid", ids_from_bytes(df["_hin"].to_list()), dtype=pl.String)).drop("_hin")
    todo = df.select(pl.arg_where(pl.col("_asst").is_null())).to_series()
    if not todo.len():
        return df
    asst, rids = [], []
    sys_msgs = (("system", system),) if system else ()
    for tid, u, r, a in df.select("id", user, "reasoning", "answer")[todo].iter_rows():
        reasoning, answer = split_trace("", r, a)
        if answer is None:  # the scan's vectorised rule and split_trace disagree: a bug, never a silent drop
            raise DatasetError(f"trace {tid}: the scan found a final answer that split_trace cannot find",
                               hint="report this trace; it can be excluded with --set budget.min_tokens=N")
        asst.append(render_assistant(reasoning, answer, fmt=fmt))
        rids.append(_pairs_id(sys_msgs + (("user", u), ("assistant", asst[-1])), KIND))
    return df.with_columns(df["_asst"].scatter(todo, asst), df["_rid"].scatter(todo, rids))


class ShortcutMix:
    """The mix's rows (in mix order) from `entries` (key = trace id, difficulty, repeat) and the
    rendered traces (`rendered`: id, problem_id, `user`, _asst, _rid, domain, source, language,
    license, teacher; `with_ids` fills _asst and _rid)."""

    def __init__(self, entries: pl.DataFrame, rendered: pl.DataFrame, *, user: str, system: str | None):
        cols = ["id", "problem_id", user, "_asst", "_rid", "domain", "source", "language", "license", "teacher"]
        df = entries.join(rendered.select(cols), left_on="key", right_on="id", how="left", maintain_order="left")
        # the meta JSON once per (teacher, difficulty), as put_many writes it
        pairs = df.select("teacher", "difficulty").unique(maintain_order=True)
        metas = pairs.with_columns(pl.Series("meta", [fast_meta_json({"teacher": t, "difficulty": d})
                                                      for t, d in pairs.iter_rows()], dtype=pl.String))
        df = df.join(metas, on=["teacher", "difficulty"], how="left", nulls_equal=True, maintain_order="left")
        rep = pl.col("repeat")
        self.system = system
        self.frame = df.select(
            pl.when(rep > 0).then(pl.concat_str([pl.col("_rid"), pl.lit("_r"), rep.cast(pl.String)]))
            .otherwise(pl.col("_rid")).alias("id"),
            "problem_id", "domain", "source", "language", "license", "meta", pl.col(user).alias("_user"), "_asst",
            "key", "_rid", "difficulty", (pl.col("_asst").str.len_chars() + 3).floordiv(4).alias("_tokens"))

    def __len__(self) -> int:
        return self.frame.height

    def split(self, *, fraction: float, seed: int,
              known: tuple[set[str], set[str]] | None = None) -> tuple[list[int], list[int]]:
        """`MixRows.split`: row positions of train and validation, whole problems on one side."""
        return split_positions(self.frame["problem_id"].to_list(), self.frame["_rid"].to_list(), fraction=fraction,
                               seed=seed, known=known)

    def report(self, idx: list[int]) -> dict[str, Any]:
        """`MixRows.report` of the rows at `idx`."""
        f = self.frame[idx] if len(idx) != self.frame.height else self.frame

        def count(values: list[Any]) -> dict[str, int]:
            return dict(sorted(Counter(values).items()))

        toks = f["_tokens"].to_list()
        pids = f["problem_id"].to_list()
        return {
            "rows": f.height,
            "by_domain": count(f["domain"].to_list()),
            "by_kind": count([KIND] * f.height),
            "by_source": count(f["source"].to_list()),
            "by_difficulty": count([str(d or "unknown") for d in f["difficulty"].to_list()]),
            "problems": len({p for p in pids if p}),
            "assistant_tokens_est": percentiles(toks),
            "assistant_tokens_est_by_kind": {KIND: percentiles(toks)} if f.height else {},
        }

    def table(self, idx: list[int]):
        """The rows at `idx` as an Arrow table in the `sft` contract (the messages built as
        `MixRows.table` builds them: offsets over (role, content) pairs, turn by turn)."""
        import numpy as np
        import pyarrow as pa

        from factory.schemas.contracts import SFT_SCHEMA

        f = self.frame[idx] if len(idx) != self.frame.height else self.frame
        n = f.height

        def arrow(s: pl.Series) -> pa.Array:
            # (built by polars: pa.array and pa.scalar import pandas, 0.3-0.5 s, see sft._arrow)
            return s.to_arrow(compat_level=pl.CompatLevel.oldest())

        turns = ([pl.repeat(self.system, n, eager=True, dtype=pl.String)] if self.system else []) + [f["_user"], f["_asst"]]
        k = len(turns)
        roles = (["system"] if self.system else []) + ["user", "assistant"]
        # row i's turn j sits at j * n + i of the turns laid end to end
        order = arrow(pl.Series((np.arange(k)[None, :] * n + np.arange(n)[:, None]).ravel()))
        contents = pa.concat_arrays([arrow(t).cast(pa.string()) for t in turns]).take(order)
        mtype = SFT_SCHEMA.field("messages").type
        messages = pa.ListArray.from_arrays(
            arrow(pl.Series(np.arange(0, n * k + 1, k, dtype=np.int32))),
            pa.StructArray.from_arrays([arrow(pl.Series(roles * n, dtype=pl.String)).cast(pa.string()), contents],
                                       fields=list(mtype.value_type)))
        trace_ids = pa.ListArray.from_arrays(arrow(pl.Series(np.arange(n + 1, dtype=np.int32))),
                                             arrow(f["key"]).cast(pa.string()))
        arrays = {"messages": messages, "trace_ids": trace_ids, "kind": arrow(pl.repeat(KIND, n, eager=True, dtype=pl.String))}
        for fld in SFT_SCHEMA:
            if fld.name not in arrays:
                arrays[fld.name] = arrow(f[fld.name]).cast(fld.type)
        return pa.Table.from_arrays([arrays[fld.name] for fld in SFT_SCHEMA], schema=SFT_SCHEMA)
