"""The folder runner for verifiers and filters: Trace dataset folder in, scored folders out.

Streams Trace batches from IN (`factory.io.dataset.iter_batches`), scores each batch with every
filter of the chain, decides keep/reject with `filters.base.apply_chain`, and writes

- `OUT/`          kept rows: the Trace columns + every `score_*`/`verdict_*` column,
- `OUT/rejected/` rejected rows: the same + `reject_reason` (the first filter that said no),
- the funnel (rows in -> out per filter and per domain, first-rejection reasons) into
  `OUT/manifest.json` stats (`stats.funnel`); `funnel_table()` renders it with rich.

Scoring and deciding are split on purpose ("score, then decide"): workers only add score
columns; the driver re-applies the chain to the already-scored batch through `_Prescored`
adapters (their `score()` hands back the columns the filter produced, `keep()` is the
filter's own), so the funnel and the kept/rejected split come out of one code path whatever
ran the scoring:

- `executor="local"`: scoring in this process (filters with process pools — math, code —
  use their own `workers`);
- `executor="ray"`: the same filters as Ray Data `map_batches` over the same shards, with an
  actor class (each actor builds its filters once, so a filter's process pool lives as long
  as the actor; inside Ray each filter gets `workers=1`, one pool process per actor) and
  `num_cpus` per actor, leaving one CPU for Ray's read tasks. Row order is preserved, so the
  output equals the local one row for row. Caveat: Ray chooses its own batch boundaries, so
  the math verifier's majority-vote pseudo-labels (rows without a reference answer) may see a
  problem's samples split across two batches; the local executor never splits a problem.

Whether a finished OUT is reused, resumed or refused is the stage runner's call
(factory.pipeline.runner): a re-run with the same input and chain is a no-op there.

Exercise: `factory filter TRACES --out OUT`, `factory verify TRACES --out OUT --executor ray`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from factory.filters.base import Filter, Funnel, apply_chain
from factory.io.dataset import (
    DatasetWriter,
    check_folder,
    iter_batches,
    scan,
    shard_paths,
)
from factory.schemas.contracts import TRACE_SCHEMA
from factory.schemas.errors import DatasetError, FactoryError

Executor = Literal["local", "ray"]
REJECTED = "rejected"
DEFAULT_BATCH_ROWS = 1000


# -- building a chain ---------------------------------------------------------------------------
FilterSpec = tuple[type, dict[str, Any]]


def filter_specs(names: list[str], *, options: dict[str, dict[str, Any]] | None = None,
                 common: dict[str, Any] | None = None) -> list[FilterSpec]:
    """(class, keyword args) for each named filter, checked against the registry and the
    constructors. `options[name]` are keyword args for that filter; `common` (e.g. workers) is
    passed to every filter whose constructor accepts the key. Ray workers get these specs, not
    filter objects: a verifier's caches and pools need not be picklable, and each actor builds
    its own."""
    from factory.filters.registry import FILTERS

    options = options or {}
    unknown = [n for n in names if n not in FILTERS]
    if unknown:
        raise FactoryError(
            f"unknown filter(s) {unknown}: expected names from {sorted(FILTERS)}",
            hint="pass --filters with registered names (see filters/registry.py)",
        )
    bad_opts = [n for n in options if n not in names]
    if bad_opts:
        raise FactoryError(f"options given for filter(s) {bad_opts} that are not in the chain {names}")
    specs: list[FilterSpec] = []
    for n in names:
        cls = FILTERS[n]
        params = inspect.signature(cls).parameters
        kwargs = {k: v for k, v in (common or {}).items() if k in params and v is not None}
        for k, v in options.get(n, {}).items():
            if k not in params:
                raise FactoryError(f"filter '{n}' has no option '{k}': expected one of {sorted(p for p in params if p != 'self')}")
            kwargs[k] = v
        specs.append((cls, kwargs))
    return specs


def build_filters(names: list[str], *, options: dict[str, dict[str, Any]] | None = None,
                  common: dict[str, Any] | None = None) -> list[Filter]:
    """Instantiate registered filters by name (see `filter_specs`)."""
    return [cls(**kwargs) for cls, kwargs in filter_specs(names, options=options, common=common)]


# -- score, then decide -------------------------------------------------------------------------
def score_batch(filters: list[Filter], batch: pl.DataFrame) -> pl.DataFrame:
    """Add every filter's score/verdict columns to the batch (no rows dropped)."""
    out = batch
    for f in filters:
        missing = [c for c in f.columns if c not in out.columns]
        if missing:
            from factory.schemas.errors import SchemaError

            raise SchemaError(f"filter '{f.name}' needs column(s) {missing}; the input has {out.columns}")
        scores = f.score(out)
        if scores.height != out.height:
            raise RuntimeError(f"filter {f.name} returned {scores.height} rows for {out.height}")
        out = out.with_columns(scores.get_columns())
    return out


def _owned_columns(name: str, columns: list[str]) -> list[str]:
    return [c for c in columns if c in (f"score_{name}", f"verdict_{name}") or c.startswith(f"score_{name}_")]


class _Prescored:
    """A filter whose scores are already columns of the batch: `score` hands them back."""

    def __init__(self, inner: Filter) -> None:
        self.inner = inner
        self.name = inner.name
        self.columns = ()

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        cols = _owned_columns(self.name, batch.columns)
        if not cols:
            raise RuntimeError(f"batch holds no score columns of filter '{self.name}'")
        return batch.select(cols)

    def keep(self, scores: pl.DataFrame) -> pl.Series:
        return self.inner.keep(scores)


def decide_batch(filters: list[Filter], scored: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, Funnel]:
    return apply_chain([_Prescored(f) for f in filters], scored)  # type: ignore[list-item]


# -- output schema --------------------------------------------------------------------------------
def _plain(t: pa.DataType) -> pa.DataType:
    """polars writes large_string/large_list; the contract uses string/list."""
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return pa.list_(_plain(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _plain(f.type), f.nullable) for f in t])
    return t


def output_schema(columns: pl.DataFrame, *, rejected: bool) -> pa.Schema:
    """Trace schema + the filters' columns (typed as the first scored batch had them)."""
    arrow = columns.head(0).to_arrow().schema
    fields = list(TRACE_SCHEMA)
    for f in arrow:
        if f.name in TRACE_SCHEMA.names or f.name == "reject_reason":
            continue
        fields.append(pa.field(f.name, _plain(f.type)))
    if rejected:
        fields.append(pa.field("reject_reason", pa.string()))
    return pa.schema(fields)


def _to_table(df: pl.DataFrame, schema: pa.Schema) -> pa.Table:
    missing = [n for n in schema.names if n not in df.columns]
    if missing:
        raise DatasetError(f"scored batch lacks column(s) {missing} present in the first batch")
    table = df.select(schema.names).to_arrow()
    return pa.table([_cast(table.column(n), schema.field(n).type) for n in schema.names], schema=schema)


def _zero(t: pa.DataType) -> pa.Scalar:
    if pa.types.is_list(t):
        return pa.scalar([], type=t)
    if pa.types.is_string(t):
        return pa.scalar("", type=t)
    if pa.types.is_boolean(t):
        return pa.scalar(False)
    return pa.scalar(0, type=t)


def _cast(col: pa.ChunkedArray | pa.Array, target: pa.DataType) -> pa.Array:
    """Cast, rebuilding structs child by child: a null struct row from polars carries null
    children, which a plain cast to non-nullable child fields refuses."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_struct(target) and pa.types.is_struct(arr.type):
        children = []
        for f in target:
            child = _cast(arr.field(f.name), f.type)
            if not f.nullable and child.null_count:
                # only rows where the whole struct is null have null children; Parquet still
                # wants a value under a non-nullable child, so put the type's zero there
                child = pc.fill_null(child, _zero(f.type))
            children.append(child)
        mask = arr.is_null() if arr.null_count else None
        return pa.StructArray.from_arrays(children, fields=list(target), mask=mask)
    return arr.cast(target)


# -- executors -------------------------------------------------------------------------------------
def problem_batches(in_path: Path, batch_rows: int) -> Iterator[pl.DataFrame]:
    """Batches of about `batch_rows` rows that never split a run of one problem's samples
    (generate writes a problem's n samples together): the math verifier's majority-vote
    pseudo-labels need all samples of a problem in one batch."""
    carry: pl.DataFrame | None = None
    for rb in iter_batches(in_path, batch_size=batch_rows):
        df: pl.DataFrame = pl.from_arrow(pa.Table.from_batches([rb]))  # type: ignore[assignment]
        if carry is not None:
            df = pl.concat([carry, df], how="vertical_relaxed")
            carry = None
        tail = df.get_column("problem_id").reverse().rle().struct.field("len")[0]  # rows of the last problem
        carry = df.tail(tail)  # the last problem may go on in the next batch
        if tail < df.height:
            yield df.head(df.height - tail)
    if carry is not None and carry.height:
        yield carry


def _local_scored(in_path: Path, filters: list[Filter], batch_rows: int) -> Iterator[pl.DataFrame]:
    for df in problem_batches(in_path, batch_rows):
        yield score_batch(filters, df)


class _RayScorer:
    """Ray Data actor: builds the chain once from its specs (so a filter's worker pool lives as
    long as the actor); each call scores one Arrow batch."""

    def __init__(self, specs: list[FilterSpec] | None = None, filters: list[Filter] | None = None) -> None:
        self.filters = [cls(**kw) for cls, kw in specs] if specs is not None else list(filters or [])

    def __call__(self, batch: pa.Table) -> pa.Table:
        scored = score_batch(self.filters, pl.from_arrow(batch))  # type: ignore[arg-type]
        return scored.to_arrow()


def _ray_scored(
    in_path: Path, filters: list[Filter], batch_rows: int, *, actors: int, cpus_per_actor: float,
    specs: list[FilterSpec] | None = None,
) -> Iterator[pl.DataFrame]:
    from factory.pipeline.ray_setup import start_ray

    ray = start_ray()
    # leave one CPU for Ray Data's read tasks: actors holding every CPU starve the reads and
    # the pipeline waits forever (seen with 2 actors x 1 CPU on a 2-CPU cluster)
    total = float(ray.cluster_resources().get("CPU", 1.0))
    budget = max(total - 1.0, total / 2)
    if actors * cpus_per_actor > budget:
        actors = max(1, int(budget // cpus_per_actor))
        cpus_per_actor = min(cpus_per_actor, budget / actors)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # same row order as the local executor
    paths = [str(p) for p in shard_paths(in_path)]
    if not paths:
        return
    ds = ray.data.read_parquet(paths, schema=None)
    # a shard is one read block and a block goes to one actor whole: cut blocks to batch size
    # (streaming, order kept) so the batches of one shard spread over every actor and node
    ds = ds.repartition(target_num_rows_per_block=batch_rows)
    ds = ds.map_batches(
        _RayScorer,
        # specs when we have them (always, from the CLI and stages); pickled filters otherwise
        fn_constructor_kwargs={"specs": specs} if specs is not None else {"filters": filters},
        batch_size=batch_rows,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=cpus_per_actor,
    )
    for table in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        if table.num_rows:
            yield pl.from_arrow(table)  # type: ignore[misc]


# -- the runner ------------------------------------------------------------------------------------
@dataclass
class FilterRun:
    out: Path
    rejected: Path
    funnel: Funnel
    skipped: bool = False
    filters: list[str] = field(default_factory=list)


def run_filters(
    in_path: str | Path,
    out_path: str | Path,
    *,
    filters: list[Filter],
    executor: Executor = "local",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    overwrite: bool = False,
    command: str = "factory filter",
    params: dict[str, Any] | None = None,
    actors: int = 1,
    cpus_per_actor: float = 1.0,
    specs: list[FilterSpec] | None = None,
    log: Callable[[str], None] | None = None,
) -> FilterRun:
    """Run `filters` over the Trace folder `in_path`, writing `out_path` and `out_path/rejected`.
    With `executor="ray"`, pass `specs` (from `filter_specs`, the same chain) so each Ray actor
    builds its own filters instead of unpickling these."""
    in_path, out_path = Path(in_path), Path(out_path)
    m = check_folder(in_path)
    if m.contract != "trace":
        raise DatasetError(
            f"{in_path}: holds {m.contract} rows, expected trace rows",
            hint="verify/filter run on the output of `factory generate` or `factory ingest --to trace`",
        )
    if not filters:
        raise FactoryError("no filters to run: expected at least one filter name")
    names = [f.name for f in filters]
    if out_path.resolve() == in_path.resolve():
        raise DatasetError(f"{out_path}: the output folder must differ from the input folder")
    rej_path = out_path / REJECTED
    if (out_path / "manifest.json").exists() and not overwrite:
        raise DatasetError(f"{out_path}: output folder already holds a dataset", hint="choose another --out, or pass --overwrite")
    mode: Literal["create", "overwrite"] = "overwrite" if overwrite else "create"

    if executor == "local":
        scored_batches = _local_scored(in_path, filters, batch_rows)
    elif executor == "ray":
        scored_batches = _ray_scored(in_path, filters, batch_rows, actors=actors, cpus_per_actor=cpus_per_actor, specs=specs)
    else:
        raise FactoryError(f"executor: expected 'local' or 'ray', found {executor!r}")

    funnel = Funnel()
    kept_w: DatasetWriter | None = None
    rej_w: DatasetWriter | None = None
    run_params = {"input": str(in_path), "filters": names, "executor": executor, **(params or {})}
    try:
        for scored in scored_batches:
            kept, rejected, f = decide_batch(filters, scored)
            funnel.merge(f)
            if kept_w is None:
                kept_w = DatasetWriter(out_path, "trace", mode=mode, command=command, params=run_params,
                                       schema=output_schema(scored, rejected=False))
                rej_w = DatasetWriter(rej_path, "trace", mode=mode, command=command, params=run_params,
                                      schema=output_schema(scored, rejected=True))
            assert rej_w is not None
            if kept.height:
                kept_w.write_table(_to_table(kept, kept_w.schema))
            if rejected.height:
                rej_w.write_table(_to_table(rejected, rej_w.schema))
            if log:
                log(f"scored {funnel.rows_in} rows, kept {funnel.rows_out}")
        if kept_w is None:  # empty input: empty outputs with the plain Trace schema
            kept_w = DatasetWriter(out_path, "trace", mode=mode, command=command, params=run_params)
            rej_w = DatasetWriter(rej_path, "trace", mode=mode, command=command, params=run_params,
                                  schema=TRACE_SCHEMA.append(pa.field("reject_reason", pa.string())))
        assert rej_w is not None
        # rejected first: the kept folder's manifest (the "done" mark) is written last
        rej_w.stats.update({"funnel": funnel.to_json(), "rows_rejected": funnel.rows_in - funnel.rows_out})
        rej_w.close()
        kept_w.stats.update({"funnel": funnel.to_json()})
        kept_w.close()
    except BaseException:
        for w in (kept_w, rej_w):
            if w is not None and not w._closed:
                w.abort()
        raise
    finally:
        for f in filters:  # verifiers with worker pools (math) release them here
            close = getattr(f, "close", None)
            if callable(close):
                close()
    return FilterRun(out_path, rej_path, funnel, filters=names)


# -- presenting the funnel ---------------------------------------------------------------------------
def funnel_table(funnel: Funnel | dict[str, Any], *, title: str = "funnel"):
    """A rich Table: one row per filter (in, out, dropped, top first-rejection reasons) and one
    column per domain (in -> out), then the total."""
    from rich.table import Table

    data = funnel.to_json() if isinstance(funnel, Funnel) else funnel
    domains = sorted(data.get("by_domain", {}))
    t = Table(title=title)
    t.add_column("filter")
    t.add_column("in", justify="right")
    t.add_column("out", justify="right")
    t.add_column("dropped", justify="right")
    for d in domains:
        t.add_column(d, justify="right")
    t.add_column("first-rejection reasons")
    for step in data.get("steps", []):
        reasons = data.get("rejected_by", {}).get(step["filter"], {})
        top = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:4])
        per_dom = [("{} → {}".format(*step.get("by_domain", {}).get(d, [0, 0]))) for d in domains]
        t.add_row(step["filter"], str(step["in"]), str(step["out"]), str(step["in"] - step["out"]), *per_dom, top)
    total_dom = [f"{data['by_domain'][d]['in']} → {data['by_domain'][d]['out']}" for d in domains]
    t.add_row("[bold]total[/bold]", str(data.get("rows_in", 0)), str(data.get("rows_out", 0)),
              str(data.get("rows_in", 0) - data.get("rows_out", 0)), *total_dom, "")
    return t


# -- the stages ----------------------------------------------------------------------------------
def run_filter_stage(opts: Any, ctx: Any) -> dict[str, Any]:
    """The filter stage (`factory filter` and a recipe's `filter:` section)."""
    return _run_chain(opts, ctx, stage="filter")


def run_verify_stage(opts: Any, ctx: Any) -> dict[str, Any]:
    """The verify stage: first counts the rows no verifier in the chain can judge (another
    domain, a math row without a reference answer, a code row without tests) and says so —
    `strict` makes that an error before any work — then runs the chain."""
    unjudged = unjudgeable_rows(Path(opts.input), list(opts.filters))
    if unjudged:
        total = sum(unjudged.values())
        detail = ", ".join(f"{k} {v}" for k, v in unjudged.items())
        msg = f"verify: {total} row(s) cannot be judged by {', '.join(opts.filters)} ({detail})"
        if opts.strict:
            raise DatasetError(msg, hint="ingest with the right --domain (and reference answers or tests), or drop --strict to keep them unjudged")
        ctx.log(f"warning: {msg}; they are kept unjudged (verdict skipped or a majority-vote pseudo-label) — "
                "ingest with the right --domain, or pass --strict to fail instead")
    summary = _run_chain(opts, ctx, stage="verify")
    summary["unjudged"] = unjudged
    return summary


def unjudgeable_rows(in_path: Path, names: list[str]) -> dict[str, int]:
    """Counts of rows the chain's verifiers cannot judge, by reason (one lazy pass)."""
    m = check_folder(in_path)
    if m.contract != "trace" or not m.rows:
        return {}
    lazy = scan(in_path)  # checks every shard's columns first
    cols = lazy.collect_schema().names()
    dom = pl.col("domain") if "domain" in cols else pl.lit("general")
    exprs = []
    judged_domains = [d for d in ("math", "code") if d in names]
    exprs.append((~dom.is_in(judged_domains)).sum().alias("domain not verified"))
    if "math" in names and "reference_answer" in cols:
        exprs.append(((dom == "math") & pl.col("reference_answer").is_null()).sum().alias("math without a reference answer"))
    if "code" in names and "tests" in cols:
        exprs.append(((dom == "code") & pl.col("tests").is_null()).sum().alias("code without tests"))
    row = lazy.select(exprs).collect().row(0, named=True)
    out = {k: int(v) for k, v in row.items() if v}
    if "domain not verified" in out:
        doms = (lazy.filter(~dom.is_in(judged_domains))
                .group_by(dom.alias("d")).len().collect())
        out.pop("domain not verified")
        for d, n in sorted(doms.iter_rows()):
            out[f"domain {d}"] = int(n)
    return out


def _run_chain(opts: Any, ctx: Any, *, stage: str) -> dict[str, Any]:
    names = list(opts.filters)
    common = {"workers": opts.workers if opts.executor == "local" else 1, "sandbox": getattr(opts, "sandbox", None)}
    specs = filter_specs(names, options=opts.set, common=common)
    res = run_filters(
        opts.input, opts.out, filters=[cls(**kw) for cls, kw in specs], specs=specs, executor=opts.executor,
        batch_rows=opts.batch_rows, overwrite=ctx.mode != "create", command=ctx.command or f"factory {stage}",
        params={"options": opts.set, "batch_rows": opts.batch_rows}, actors=max(1, opts.workers), log=ctx.log,
    )
    if not ctx.progress:
        import io

        from rich.console import Console

        buf = io.StringIO()
        Console(file=buf, width=120, highlight=False, color_system=None).print(funnel_table(res.funnel, title=f"{stage} funnel"))
        ctx.log(buf.getvalue().rstrip())
    f = res.funnel
    return {"out": str(res.out), "rejected": str(res.rejected), "filters": names, "rows_in": f.rows_in,
            "rows_out": f.rows_out, "rejected_by": f.rejected_by, "by_domain": f.by_domain, "funnel": f.to_json()}
