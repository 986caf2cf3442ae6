"""The text pass of `factory curate` for the policies that keep a few traces per problem in an
order of their own (shortest-correct, longest-correct, k-per-problem): the text of each trace is
read and decompressed once, not twice.

The scan before it (`scan_traces(..., text=False)`) reads the small columns only, and
`select_traces(..., before_text=True)` decides every check that does not read text: only the
traces that pass those (the survivors) can be kept. This pass reads their text, shard by shard,
and at the same time
- derives the facts the remaining checks need (`has_final`, token counts:
  `factory.curate.sft.trace_facts_staged`), which go back into the metadata frame, so the
  selection that follows is the usual one, over the same facts;
- keeps, of the traces that pass the text checks too, each shard's best trace(s) per problem
  (the policy's own order, `per_problem`: tokens then the smallest id, or a seeded hash of the
  id) with the columns the render reads, rendered (`derive`) and its row id hashed while the
  other shard decodes; the best of those per problem at the end. After the selection, these are exactly the traces the
  policy chose (checked there, id for id), and the mix's rows are rendered from them: no second
  read of the text columns, which at 1M traces cost as much CPU as the whole first read.

What is kept is at most k traces per problem and shard; it is kept only when the shards'
footers put it, with two shards' survivors beside it (the shards being read), under
RETAIN_BYTES, else only the facts are derived and the chosen rows are fetched after the mix, as
for the other policies.

Exercise: `python bench/curate_scale.py` (1M traces, shortest-correct).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from factory.curate.select import FACTS, n_tokens, per_problem, raw_facts, text_drop
from factory.curate.sft import ids_from_bytes, trace_facts_staged
from factory.io.dataset import read_manifest
from factory.schemas.errors import DatasetError

# the most text (UTF-8 bytes of the columns the render reads) held for the kept traces and the
# survivors of the two shards being read (1M bench traces: ~60 MB)
RETAIN_BYTES = 256 << 20


def _text_bytes_per_row(shards: list[Path], columns: list[str]) -> float:
    """The mean uncompressed size of `columns` per row, from the shards' footers."""
    rows = size = 0
    for shard in shards:
        md = pq.ParquetFile(shard).metadata
        rows += md.num_rows
        for g in range(md.num_row_groups):
            rg = md.row_group(g)
            for c in range(rg.num_columns):
                col = rg.column(c)
                if col.path_in_schema in columns:
                    size += col.total_uncompressed_size
    return size / rows if rows else 0.0


def _compact(df: pl.DataFrame) -> pl.DataFrame:
    """The same rows with their strings in buffers of their own: a row taken from a shard's
    decoded text otherwise keeps that whole buffer alive."""
    return pl.from_arrow(df.to_arrow())  # type: ignore[return-value]


def read_text(sources: list[dict[str, Any]], pre: pl.DataFrame, cfg: dict[str, Any], *,
              columns: list[str], seed: int, derive: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None,
              ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """(the selected metadata frame, the kept traces or None). `pre` is
    `select_traces(meta, cfg, before_text=True)[0]` over `scan_traces(..., text=False)`'s frame;
    the frame returned is `select_traces(meta, cfg)[0]` over the usual scan's (n_tokens, `drop` =
    the first failed check; FACTS only decide the drop, they are not kept). `columns`: what the
    render reads (the kept frame has them, with src and n_tokens, and `derive`'s columns, the id
    bytes `_hin` hashed into the row ids `_rid`)."""
    policy, k = cfg["per_problem"]["policy"], cfg["per_problem"].get("k", 1)
    k = k if policy == "k-per-problem" else 1
    count_mode = cfg["budget"]["count"]
    fact_parts, facts = trace_facts_staged()
    alive = pre.filter(pl.col("drop").is_null())
    carry = ["_pos", "_rule", "has_tests"] + (["completion_tokens"] if "completion_tokens" in pre.columns else [])
    text_cols = [c for c in columns if c not in ("id", "problem_id")]
    plans = []
    held = 0.0  # the text bytes of each shard's problems' best, all kept until the end
    widest = 0.0  # one shard's survivors
    for si in sorted(alive["src"].unique().to_list()):
        mine = alive.filter(pl.col("src") == si)
        surv = mine.select(carry).sort("_pos")
        path = Path(sources[si]["path"])
        m = read_manifest(path)
        shards = [path / sh.name for sh in m.shards]
        names = pq.read_schema(shards[0]).names if shards else []
        per_row = _text_bytes_per_row(shards, text_cols)
        offsets = np.cumsum([0] + [sh.rows for sh in m.shards])
        cuts = np.searchsorted(surv["_pos"].to_numpy(), offsets)
        shard_of = np.searchsorted(offsets, mine["_pos"].to_numpy(), side="right")
        held += mine.select(pl.struct(pl.Series(shard_of), "problem_id").n_unique()).item() * k * per_row
        widest = max(widest, int(np.diff(cuts).max(initial=0)) * per_row)
        plans.append((si, shards, names, surv, offsets, cuts))
    retain = held + 2 * widest <= RETAIN_BYTES

    derived = [*(facts[f].alias(f) for f in FACTS), facts["needs_completion"].alias("_needs")]

    def one_shard(job: tuple) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        """(the facts and text drop of one shard's survivors, its problems' best trace)."""
        si, shard, names, want, offset = job
        keep_cols = [c for c in columns if c in names or c in ("reasoning", "answer")] if retain else []
        lf = pl.scan_parquet(str(shard)).with_row_index("_pos", offset=offset)
        lf = lf.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in ("reasoning", "answer") if c not in names)
        df = (lf.filter(pl.col("_pos").is_in(want["_pos"].implode())).with_columns(fact_parts)
              .select("_pos", *derived, *keep_cols).collect(engine="streaming"))
        if "completion" in names and df["_needs"].any():
            df = raw_facts(df, lf, df.with_row_index("_at").filter(pl.col("_needs"))["_at"])
        if df.height != want.height:  # the shard is not the one the scan read
            raise DatasetError(f"{shard}: {want.height - df.height} trace(s) the scan saw are not there any more",
                               hint="an input folder changed during the run; re-run curate")
        # the same rows in the same order (both by _pos): the carried columns side by side
        df = (df.hstack(want.drop("_pos")) if df["_pos"].equals(want["_pos"])
              else df.join(want, on="_pos", how="left", maintain_order="left"))
        df = df.with_columns(n_tokens(count_mode)).with_columns(text_drop(cfg, df.schema).alias("_tdrop"))
        got = df.select(pl.lit(si, dtype=pl.Int32).alias("src"), "_pos", "n_tokens", "_tdrop")
        if not retain:
            return got, None
        cand = df.filter(pl.col("_tdrop").is_null()).select(pl.lit(si, dtype=pl.Int32).alias("src"), "n_tokens", *keep_cols)
        if not cand.height:
            return got, None
        best = per_problem(cand, policy, k, seed=seed)
        if derive is not None:
            best = derive(best.lazy()).collect()
            if "_hin" in best.columns:  # the rows' ids now, beside the other shard's decoding
                best = best.with_columns(pl.Series("_rid", ids_from_bytes(best["_hin"].to_list()), dtype=pl.String)).drop("_hin")
        return got, _compact(best)

    jobs = [(si, shard, names, surv.slice(int(cuts[i]), int(cuts[i + 1] - cuts[i])), int(offsets[i]))
            for si, shards, names, surv, offsets, cuts in plans for i, shard in enumerate(shards) if cuts[i + 1] > cuts[i]]
    # two shards at a time: one's Python steps (a few polars calls) run while the other decodes
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(one_shard, jobs))
    fact_frames = [got for got, _ in done]
    bests = [b for _, b in done if b is not None]  # each shard's problems' best, in buffers of their own
    schema = {"src": pl.Int32, "_pos": pl.UInt32, "n_tokens": pl.Int64, "_tdrop": pl.String}
    got = pl.concat(fact_frames, how="vertical_relaxed") if fact_frames else pl.DataFrame(schema=schema)
    meta = _put(pre, got)
    # a trace that failed a check before the text ones was not read: nothing reads its length
    meta = meta.with_columns(
        pl.col("n_tokens").fill_null(0),
        pl.when(pl.col("drop").is_null()).then(pl.col("_tdrop").cast(pl.Categorical)).otherwise(pl.col("drop")).alias("drop"),
    ).drop("_tdrop")
    if not retain:
        return meta, None
    if not bests:
        return meta, pl.DataFrame()
    # the policy's best over the shards' best (its order is total: the best of a union is the
    # best of its parts' best)
    return meta, per_problem(pl.concat(bests, how="diagonal_relaxed"), policy, k, seed=seed)


def _put(pre: pl.DataFrame, got: pl.DataFrame) -> pl.DataFrame:
    """`pre` with got's columns on the rows `got` names by (src, _pos), null elsewhere. `got`
    lists the rows pre has not dropped, in pre's order (both go by source, then place): the
    values are scattered, not joined (1M rows: 0.18 s)."""
    at = pre.select(pl.arg_where(pl.col("drop").is_null())).to_series()
    if not (pre["src"].gather(at).equals(got["src"]) and pre["_pos"].gather(at).equals(got["_pos"])):
        return pre.join(got, on=["src", "_pos"], how="left", maintain_order="left")
    n = pre.height
    return pre.with_columns(pl.Series(c, [None], dtype=got.schema[c]).extend_constant(None, n - 1).scatter(at, got[c])
                            for c in got.columns if c not in ("src", "_pos"))
