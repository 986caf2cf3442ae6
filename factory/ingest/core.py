"""`factory ingest`: turn problem sets and existing trace sets (JSONL/JSON/Parquet/CSV files or
`datasets` datasets) into a Problem or Trace dataset folder.

Rows stream from the readers (`factory.ingest.readers`) through a preset's mapping
(`factory.ingest.presets`) into `DatasetWriter` in batches, so memory stays bounded. JSON Lines
and Parquet inputs take the batch path (`factory.ingest.fast`: whole columns for the common
presets, the preset's row functions over a batch for the others and for `--map`); batches are
prepared in worker threads or processes for large inputs (`_plan`) while one thread writes. A
batch the batch path cannot map exactly as the row path would goes row by row, so the shards
are byte-identical either way (`engine="rows"` forces the row path).

Nothing is dropped silently. A row that cannot be read or mapped is an `InputError` naming the
file, line/row and column (`--on-error fail`, the default), or with `--on-error skip` goes to
`<out>/rejected/rejects.jsonl` with its reason and raw text. Input columns no field takes are
kept in each row's meta or listed as not kept, with why; a generic preset's rows get the domain
their problem shows, with counts (`factory.ingest.report`). Rows read, written and rejected (by
reason), repeated problems written once, and those notes are returned, printed by the CLI and
recorded in the manifest's stats.

Exercise: `factory ingest factory/data/traces/skyt1_long_cot_math500.jsonl.gz --preset skyt1-traces --out traces/`.
"""

from __future__ import annotations

import gc
import json
import os
import shlex
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from factory.ingest import fast as ingest_fast
from factory.ingest.options import IngestOptions
from factory.ingest.presets import (
    PRESETS,
    Kind,
    Preset,
    RowFail,
    allowed_dests,
    detect_preset,
    get_preset,
)
from factory.ingest.readers import (
    LineBatch,
    RawRow,
    RowError,
    TableBatch,
    detect_format,
    peek_columns,
    read_input,
    read_jsonl_batches,
    read_parquet_batches,
)
from factory.ingest.report import EXTRA_COLUMNS, ExtraColumns, RunReport
from factory.ingest.rows import Constants, convert_row
from factory.io.dataset import DatasetWriter
from factory.schemas.contracts import DOMAINS
from factory.schemas.errors import InputError

OnError = Literal["fail", "skip"]
Mode = Literal["create", "overwrite"]
Engine = Literal["batch", "rows"]
REJECTS = Path("rejected") / "rejects.jsonl"
BATCH_ROWS = 2_000  # rows buffered before a write: ~2k rows x a few KB of text = a few MB
# Parquet row groups (the writer holds one in memory until it is full): 10k problem rows are
# ~5 MB; a trace row carries its completion twice over (completion, reasoning, answer) plus the
# problem, ~20 KB for a long CoT, so 2k trace rows (~40 MB) instead of 10k (~200 MB)
ROW_GROUP_ROWS = {"problem": 10_000, "trace": 2_000}


@dataclass
class InputStats:
    path: str
    preset: str
    format: str
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    duplicates: int = 0  # problem rows whose id was already written in this run

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class IngestResult:
    out: Path
    contract: str
    rows_read: int
    rows_written: int
    rows_rejected: int
    rejected_by_reason: dict[str, int]
    inputs: list[InputStats]
    rejects_file: Path | None = None
    limited: bool = False
    duplicates: int = 0
    report: dict[str, Any] = field(default_factory=dict)  # RunReport.to_json(): extra columns, inferred domains
    notes: list[str] = field(default_factory=list)  # lines for the user: what was inferred, kept, not kept

    def to_json(self) -> dict[str, Any]:
        return {
            "out": str(self.out), "contract": self.contract, "rows_read": self.rows_read,
            "rows_written": self.rows_written, "rows_rejected": self.rows_rejected,
            "rejected_by_reason": dict(self.rejected_by_reason), "inputs": [i.to_json() for i in self.inputs],
            "rejects_file": str(self.rejects_file) if self.rejects_file else None, "limited": self.limited,
            "duplicates": self.duplicates, **self.report, "notes": list(self.notes),
        }


def parse_maps(items: list[str] | dict[str, str] | None) -> dict[str, str]:
    """`["problem=question", ...]` (CLI) or `{problem: question}` (recipe) -> {dest: column}."""
    if not items:
        return {}
    if isinstance(items, dict):
        return {str(k): str(v) for k, v in items.items()}
    out: dict[str, str] = {}
    for item in items:
        dst, sep, src = item.partition("=")
        if not sep or not dst.strip() or not src.strip():
            raise InputError(f"--map {item!r}: expected DEST=COLUMN, e.g. --map problem=question")
        out[dst.strip()] = src.strip()
    return out


def _check_maps(maps: dict[str, str], preset: Preset, kind: Kind) -> None:
    """A --map the preset would not read is an error (it would otherwise be silently ignored)."""
    allowed = allowed_dests(preset, kind)
    for dst in maps:
        if dst.startswith("meta.") and len(dst) > 5:
            continue
        if dst not in allowed:
            trace_only = kind == "problem" and dst in allowed_dests(preset, "trace")
            known = any(dst in allowed_dests(q, "trace") for q in PRESETS.values())
            why = (f"preset {preset.name!r} reads {dst!r} only for trace rows, and this run makes problem rows" if trace_only
                   else f"preset {preset.name!r} does not read {dst!r} when making {kind} rows" if known
                   else f"unknown destination {dst!r} for preset {preset.name!r} making {kind} rows")
            raise InputError(
                f"--map {dst}={maps[dst]}: {why}",
                hint=f"it reads: {', '.join(allowed)}; or use meta.KEY=COLUMN to copy any column into meta"
                     + ("; or pass --to trace" if trace_only else "")
                     + ("; the generic preset 'problems' reads any column you map" if preset.name != "problems" and not trace_only else ""),
            )


def resolve_presets(inputs: list[str], preset: str | None) -> list[tuple[str, Preset]]:
    if not inputs:
        raise InputError("no inputs given: expected one or more files, folders or hf:OWNER/NAME ids")
    if preset is not None:
        p = get_preset(preset)
        for spec in inputs:
            detect_format(spec)  # fail early on a missing or unreadable input
        return [(spec, p) for spec in inputs]
    jobs = []
    for spec in inputs:
        detect_format(spec)
        found = detect_preset(spec, peek_columns(spec))
        if found is None:
            raise InputError(f"{spec}: cannot tell which preset fits this input; pass --preset (one of {sorted(PRESETS)})")
        jobs.append((spec, found))
    return jobs


def ingest(
    inputs: list[str],
    *,
    out: str | os.PathLike[str],
    preset: str | None = None,
    to: Kind | None = None,
    maps: list[str] | dict[str, str] | None = None,
    on_error: OnError = "fail",
    limit: int | None = None,
    mode: Mode = "create",
    domain: str | None = None,
    source: str | None = None,
    license: str | None = None,
    language: str | None = None,
    teacher: str | None = None,
    extra_columns: ExtraColumns = "scalars",
    infer_domain: bool = True,
    engine: Engine = "batch",
    workers: int | None = None,
) -> IngestResult:
    """Ingest every input into one dataset folder at `out`; see the module docstring.

    extra_columns: input columns no preset field takes: "scalars" (default) copies strings,
    numbers and booleans into each row's meta under the column's name and lists the others
    (lists, objects) as not kept; "all" copies lists and objects too; "none" copies nothing.
    Either way the report (manifest stats, `IngestResult.notes`) names every column and why.
    infer_domain: generic presets (problems, think-traces, messages) give each row the domain its
    problem shows (tests: code; a reference answer or \\boxed{}: math; else general) when
    --domain is not given; False keeps the preset's default for every row.
    engine: "batch" maps JSON Lines and Parquet a batch at a time (`factory.ingest.fast`: whole
    columns for the common presets, the row functions over a batch for the others and for
    --map), "rows" always row by row (the reference path; both write byte-identical shards).
    workers: how batches are prepared for a large input (None: auto, see `_plan`; 0 or 1: in
    this thread; N > 1: N worker processes). Output order and bytes do not depend on it."""
    if engine not in ("batch", "rows"):
        raise InputError(f"engine: expected 'batch' or 'rows', found {engine!r}")
    if on_error not in ("fail", "skip"):
        raise InputError(f"--on-error: expected 'fail' or 'skip', found {on_error!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InputError(f"--limit: expected a positive integer, found {limit!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise InputError(f"workers: expected 0 or a positive integer, found {workers!r}")
    if domain is not None and domain not in DOMAINS:
        raise InputError(f"--domain: expected one of {list(DOMAINS)}, found {domain!r}")
    if extra_columns not in EXTRA_COLUMNS:
        raise InputError(f"--extra-columns: expected one of {list(EXTRA_COLUMNS)}, found {extra_columns!r}")
    for name, value in (("--source", source), ("--license", license), ("--language", language), ("--teacher", teacher)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InputError(f"{name}: expected a non-empty string, found {value!r}")
    inputs = [str(i) for i in inputs]
    jobs = resolve_presets(inputs, preset)
    kinds = {to or p.kind for _, p in jobs}
    if len(kinds) > 1:
        raise InputError(f"inputs make different row kinds ({', '.join(f'{s}: {p.name}' for s, p in jobs)}); ingest them separately or pass --to")
    kind: Kind = kinds.pop()  # type: ignore[assignment]
    if kind not in ("problem", "trace"):
        raise InputError(f"--to: expected 'problem' or 'trace', found {kind!r}")
    for spec, p in jobs:
        if kind == "trace" and p.traces is None:
            raise InputError(f"preset {p.name!r} makes problem rows; it has no traces (use --to problem, or a trace preset)")
    mapping = parse_maps(maps)
    for _, p in jobs:
        _check_maps(mapping, p, kind)
    consts = Constants(domain=domain, source=source, license=license, language=language, teacher=teacher,
                       extra_meta={k[5:]: v for k, v in mapping.items() if k.startswith("meta.")}, maps=mapping,
                       extra_columns=extra_columns, infer_domain=infer_domain)

    out = Path(out)
    params = {
        "inputs": inputs, "preset": preset, "presets": {s: p.name for s, p in jobs}, "to": kind, "map": mapping,
        "on_error": on_error, "limit": limit, "domain": domain, "source": source, "license": license,
        "language": language, "teacher": teacher, "extra_columns": extra_columns, "infer_domain": infer_domain,
    }
    rejects_path = out / REJECTS
    if mode == "overwrite" and rejects_path.exists():
        rejects_path.unlink()
    created = not out.exists()
    writer = DatasetWriter(out, kind, mode=mode, command=command_line(params, out), params=params,
                           row_group_rows=ROW_GROUP_ROWS[kind])
    rejects = _Rejects(rejects_path, fresh=True)
    stats = [InputStats(spec, p.name, _fmt(spec)) for spec, p in jobs]
    reasons: Counter[str] = Counter()
    report = RunReport()
    counters: dict[str, int] = {}  # next sample_index per problem, for inputs that do not number samples
    # a problem listed twice (one row per sample in a trace file, or a repeated row) is written
    # once; each repeat is counted. 16-hex ids: ~70 bytes each in the set, 70 MB per million.
    seen: set[str] | None = set() if kind == "problem" else None
    limited = False
    out_buf = _OutBuffer(writer)
    pool: Any = None
    # the run allocates millions of short-lived, acyclic objects (rows, metas, strings): the
    # cyclic collector only rescans them (a few % of the CPU time on long traces); back on after
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with writer:
            total_read = 0
            for (spec, p), st in zip(jobs, stats):
                infers = consts.infers_domain(p)
                if infers:
                    report.infer_inputs.append(spec)
                fast = engine == "batch"
                plan = _plan(spec, workers) if fast and limit is None else ("inline", 0)
                if plan[0] != "inline" and (pool is None or pool[0] != plan):
                    if pool is not None:
                        pool[1].shutdown(wait=True)
                    pool = (plan, _start_pool(plan[1]) if plan[0] == "processes" else _start_threads(plan[1]))
                use_pool = plan[0] != "inline"
                stream = _prepared_in_order(pool[1], _batches(spec), p.name, kind, consts) if use_pool else \
                    ((b, None) for b in _batches(spec))
                for batch, prepared in stream:
                    if limited:
                        break
                    if fast and isinstance(batch, (LineBatch, TableBatch)):
                        n = batch.line_count()
                        # the batch that reaches past --limit goes row by row, which stops at it
                        if not use_pool and (limit is None or total_read + n <= limit):
                            prepared = ingest_fast.prepare_or_none(batch, p.name, kind, consts)
                        if prepared is not None:  # else this batch row by row: the same rows, or the exact error
                            table, counts, dups = ingest_fast.finish(prepared, counters, seen)
                            total_read += prepared.n_input
                            st.rows_read += prepared.n_input
                            st.duplicates += dups
                            st.rows_written += table.num_rows
                            report.add(prepared.extras)
                            if infers:
                                report.domains.update(_value_counts(table.column("domain")))
                            out_buf.add_table(table, counts)
                            continue
                    items = batch.items() if isinstance(batch, (LineBatch, TableBatch)) else batch
                    for item in items:
                        if limit is not None and total_read >= limit:
                            limited = True
                            break
                        total_read += 1
                        st.rows_read += 1
                        if isinstance(item, RawRow):
                            try:
                                rows = convert_row(item, p, kind, mapping, consts, counters, report.extras)
                            except RowFail as f:
                                item = RowError(item.loc, f.reason, f.message, field=f.field, raw=item.raw_text())
                        if isinstance(item, RowError):
                            if on_error == "fail":
                                raise item.to_exception()
                            rejects.write(item)
                            reasons[item.reason] += 1
                            st.rows_rejected += 1
                            continue
                        if seen is not None:
                            fresh = [r for r in rows if r["id"] not in seen]
                            st.duplicates += len(rows) - len(fresh)
                            seen.update(r["id"] for r in fresh)
                            rows = fresh
                        st.rows_written += len(rows)
                        if infers:
                            report.domains.update(r["domain"] for r in rows)
                        out_buf.add_rows(rows)
                if limited:
                    break
            out_buf.close()
            writer.stats.update(
                rows_read=sum(s.rows_read for s in stats),
                rows_written=sum(s.rows_written for s in stats),
                rows_rejected=sum(s.rows_rejected for s in stats),
                rejected_by_reason=dict(sorted(reasons.items())),
                rejects_file=str(REJECTS) if rejects.count else None,
                duplicates=sum(s.duplicates for s in stats),
                inputs=[s.to_json() for s in stats],
                limited=limited,
                **report.to_json(),
            )
    except BaseException:
        if pool is not None:
            pool[1].shutdown(wait=True, cancel_futures=True)
        out_buf.abort()
        rejects.close()
        _discard(writer, rejects_path, remove_folder=created)
        raise
    finally:
        if gc_was_enabled:
            gc.enable()
    if pool is not None:
        pool[1].shutdown(wait=True)
    rejects.close()
    return IngestResult(
        out=out, contract=kind, rows_read=sum(s.rows_read for s in stats), rows_written=sum(s.rows_written for s in stats),
        rows_rejected=sum(s.rows_rejected for s in stats), rejected_by_reason=dict(sorted(reasons.items())), inputs=stats,
        rejects_file=rejects_path if rejects.count else None, limited=limited,
        duplicates=sum(s.duplicates for s in stats), report=report.to_json(), notes=report.notes(kind),
    )


def _value_counts(col: pa.ChunkedArray) -> dict[str, int]:
    import pyarrow.compute as pc

    return {v["values"]: v["counts"] for v in pc.value_counts(col).to_pylist()}


def _batches(spec: str) -> Iterator[LineBatch | TableBatch | Iterator[RawRow | RowError]]:
    """JSON Lines and Parquet come in batches (the batch path can take them whole); any other
    input as one stream of rows."""
    fmt = detect_format(spec)
    if fmt == "jsonl":
        yield from read_jsonl_batches(spec)
    elif fmt == "parquet":
        yield from read_parquet_batches(spec)
    else:
        yield read_input(spec)


POOL_MIN_BYTES = 16 << 20  # smaller inputs finish before a pool would have paid for itself
POOL_MAX_WORKERS = 8
PROCESS_MIN_CORES = 4  # below this, worker processes cost more (pickling, a core for the parent) than they give


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _plan(spec: str, workers: int | None) -> tuple[str, int]:
    """How batches of one input are prepared: ("inline", 0) in this thread, ("threads", n)
    while this thread writes (Arrow parses and the Parquet writer compresses without the GIL,
    so the Python mapping of one batch overlaps the C++ work of others), or ("processes", n)
    where there are cores enough for the Python mapping itself to run in parallel."""
    if workers is not None:
        return ("processes", workers) if workers > 1 else ("inline", 0)
    try:
        size = os.path.getsize(spec) * (4 if spec.lower().endswith(".gz") else 1)  # ~4x for gzip'd text
    except OSError:
        return ("inline", 0)
    if size < POOL_MIN_BYTES or not os.path.isfile(spec):
        return ("inline", 0)
    cores = _cores()
    if cores >= PROCESS_MIN_CORES:
        # the parent keeps a core: it numbers, dedups and hands batches to the writer
        return ("processes", min(cores - 1, POOL_MAX_WORKERS))
    # two preparing threads: while one holds the GIL (hashing ids, splitting reasoning) the
    # other parses in Arrow; measured on 2 cores (200K GSM8K rows, 5 alternating runs): median
    # 1.99 s with two, 2.61 s with one, 2.67 s preparing in the calling thread
    return ("threads", 2) if cores >= 2 else ("inline", 0)


def _start_threads(n: int) -> Any:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=n, thread_name_prefix="ingest-prepare")


def _start_pool(n: int) -> Any:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork where there is one (as `datasets.map(num_proc=)` does): a worker starts at once and
    # does not re-run the caller's main script (spawn would, and an unguarded script calling
    # ingest() would then fail); Arrow re-creates its thread pools in a forked child
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=n, mp_context=ctx)


def _prepared_in_order(pool: Any, batches: Iterator[Any], preset: str, kind: Kind, consts: Constants,
                       ) -> Iterator[tuple[Any, ingest_fast.Prepared | None]]:
    """(batch, prepared or None) in input order, with about two batches per worker process in
    flight, one more than the workers for threads (memory: that many batches of
    JSONL_BATCH_BYTES and their tables)."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    # threads: one batch more than the workers, so both keep working while this thread numbers,
    # hands to the writer and reads the next batch (with exactly as many, one sat idle then)
    depth = pool._max_workers + 1 if isinstance(pool, ThreadPoolExecutor) else 2 * pool._max_workers
    pending: deque = deque()
    for b in batches:
        fut = pool.submit(ingest_fast.prepare_or_none, b, preset, kind, consts) \
            if isinstance(b, (LineBatch, TableBatch)) and b.error is None else None
        pending.append((b, fut))
        while len(pending) >= depth:
            b0, f0 = pending.popleft()
            yield b0, (f0.result() if f0 is not None else None)
    while pending:
        b0, f0 = pending.popleft()
        yield b0, (f0.result() if f0 is not None else None)


class _OutBuffer:
    """Rows on their way to the writer, written in the same pieces whichever path made them:
    a write happens after the input row that brings the buffer to BATCH_ROWS or more, as the
    row path always did (the pieces set the row groups, so shards stay byte-identical).

    Writes run on one background thread, in order: Parquet encoding and zstd release the GIL,
    so they overlap the parsing and mapping of the next rows. At most two pieces wait."""

    MAX_PENDING = 2

    def __init__(self, writer: DatasetWriter) -> None:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self.writer = writer
        self.pieces: list[pa.Table | list[dict[str, Any]]] = []
        self.count = 0
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-write")
        self._inflight: deque = deque()

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.pieces.append(rows)
            self.count += len(rows)
        if self.count >= BATCH_ROWS:
            self._write()

    def add_table(self, table: pa.Table, counts: list[int]) -> None:
        """`counts`: how many of the table's rows each input row made, in order."""
        start = pos = 0
        for k in counts:
            pos += k
            self.count += k
            if self.count >= BATCH_ROWS:
                self.pieces.append(table.slice(start, pos - start))
                start = pos
                self._write()
        if pos > start:
            self.pieces.append(table.slice(start, pos - start))

    def _write(self) -> None:
        pieces, self.pieces, self.count = self.pieces, [], 0
        if not pieces:
            return
        while len(self._inflight) >= self.MAX_PENDING:
            self._inflight.popleft().result()  # a write error surfaces here, in the caller's thread
        self._inflight.append(self._thread.submit(self._write_now, pieces))

    def _write_now(self, pieces: list[pa.Table | list[dict[str, Any]]]) -> None:
        tables = [p if isinstance(p, pa.Table) else pa.Table.from_pylist(p, schema=self.writer.schema) for p in pieces]
        tables = [t for t in tables if t.num_rows]
        if tables:
            self.writer.write_table(pa.concat_tables(tables).combine_chunks())

    def close(self) -> None:
        self._write()
        try:
            while self._inflight:
                self._inflight.popleft().result()
        finally:
            self._thread.shutdown(wait=True)

    def abort(self) -> None:
        """Stop after the write in progress (the caller then discards what was written)."""
        for f in self._inflight:
            f.cancel()
        self._thread.shutdown(wait=True)
        self._inflight.clear()


def _fmt(spec: str) -> str:
    try:
        return detect_format(spec)
    except InputError:
        return "?"


def _discard(writer: DatasetWriter, rejects_path: Path, *, remove_folder: bool) -> None:
    """A failed ingest leaves nothing behind: it is cheap to re-run from the start, and a
    half-written folder would block the next `create`."""
    for s in writer.shards:
        (writer.path / s.name).unlink(missing_ok=True)
    rejects_path.unlink(missing_ok=True)
    for folder in (rejects_path.parent, writer.path if remove_folder else None):
        if folder is not None and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


class _Rejects:
    """Append-only JSONL of rejected rows, opened on the first reject."""

    def __init__(self, path: Path, *, fresh: bool) -> None:
        self.path = path
        self.count = 0
        self._f = None
        if fresh and path.exists():
            path.unlink()

    def write(self, err: RowError) -> None:
        if self._f is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "a", encoding="utf-8")
        self._f.write(json.dumps(err.to_reject(), ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def command_line(params: dict[str, Any], out: Path) -> str:
    """The equivalent `factory ingest` command, recorded in the manifest."""
    parts = ["factory", "ingest", *params["inputs"]]
    if params.get("preset"):
        parts += ["--preset", params["preset"]]
    parts += ["--out", str(out), "--to", params["to"]]
    for dst, src in (params.get("map") or {}).items():
        parts += ["--map", f"{dst}={src}"]
    for key in ("on_error", "limit", "domain", "source", "license", "language", "teacher"):
        if params.get(key) is not None and not (key == "on_error" and params[key] == "fail"):
            parts += [f"--{key.replace('_', '-')}", str(params[key])]
    if params.get("extra_columns", "scalars") != "scalars":
        parts += ["--extra-columns", str(params["extra_columns"])]
    if params.get("infer_domain", True) is False:
        parts += ["--no-infer-domain"]
    return shlex.join(parts)


def run(opts: IngestOptions, ctx: Any) -> dict[str, Any]:
    """The ingest stage (`factory ingest` and a recipe's `ingest:` section)."""
    inputs = [i if i.startswith("hf:") or "://" in i else str(ctx.path(i)) for i in opts.inputs]
    r = ingest(
        inputs, out=opts.out, preset=opts.preset, to=opts.to, maps=dict(opts.map), on_error=opts.on_error,
        limit=opts.limit, mode="create" if ctx.mode == "create" else "overwrite", domain=opts.domain,
        source=opts.source, license=opts.license, language=opts.language, teacher=opts.teacher,
        extra_columns=opts.extra_columns, infer_domain=opts.infer_domain,
    )
    line = f"ingest: {r.rows_read} read, {r.rows_written} {r.contract} rows written, {r.rows_rejected} rejected"
    if r.rows_rejected:
        line += " (" + ", ".join(f"{k} {v}" for k, v in r.rejected_by_reason.items()) + ")"
    ctx.log(line)
    for note in r.notes:  # what was inferred, kept in meta, or not kept: never silent
        ctx.log(f"ingest: {note}")
    return r.to_json()
