"""`factory generate`: the teacher writes traces for every problem, n samples each, into a Trace
dataset folder — resumable and exactly-once.

How it never loses or repeats work: rows are written to durable shards as they complete (a
finished shard every `flush_rows` rows or `flush_seconds` seconds); on start the finished
(problem_id, sample_index) keys are read from the folder's shards (a killed run leaves finished
shards and no manifest) and only the missing samples are requested. A finished folder re-run is
a no-op. `only="truncated"` (or "errors") regenerates just those rows and rewrites the folder
atomically: new shards first, then the manifest switches to them, then old shards are removed.

Failure is loud. The budget is settled before the first request (factory.generate.budget:
`--max-tokens` checked against the model's context, or derived from it). Error rows (a sample
the teacher could not produce; the reason in `meta.teacher_error`) are counted, and their first
distinct reasons kept: when more than `max_error_share` of the folder's rows are errors the run
exits non-zero printing them, and every summary states the error rows and how to retry just
those (`--only errors`). A run whose first results are ALL errors (a broken server, a wrong
setting) stops there without writing them.

Every parameter goes into the manifest's `params`; each row's `sampling` struct records the
sampling parameters with the per-sample seed (derived from --seed and the row's key) and, in
`extra`, the run seed and the prefill. The manifest's `stats`/`run` hold token totals, wall
time, tokens/s, GPUs, GPU-hours and cost.

Exercise: `factory generate --teacher DIR --backend transformers --problems P --out T -n 4`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from factory.generate.budget import Budget, plan_budget
from factory.generate.options import GenerateOptions
from factory.generate.teachers import make_teacher
from factory.generate.prompts import RenderedPrompt, load_prompt
from factory.generate.teachers.base import (
    Completion,
    Request,
    sample_seed,
    sampling_of,
)
from factory.io.dataset import (
    MANIFEST,
    DatasetWriter,
    check_folder,
    iter_batches,
    iter_rows,
    read_manifest,
)
from factory.io.lock import folder_lock
from factory.schemas.contracts import meta_json
from factory.schemas.errors import DatasetError, FactoryError, InputError
from factory.schemas.ids import trace_id
from factory.schemas.text import split_reasoning

# Problem fields a Trace row carries (its problem's context)
CONTEXT = ["domain", "source", "problem", "reference_answer", "tests", "difficulty", "level", "language", "license", "meta"]
# parameters that define what a sample is: a folder's rows must agree on them to be resumed
IDENTITY = ["temperature", "top_p", "top_k", "max_tokens", "prompt_preset"]
# a run whose first results are all errors stops after this many (nothing written): a broken
# server or setting should cost a minute, not a folder of a million error rows
FIRST_ERRORS_STOP = 32
DISTINCT_ERRORS = 5  # distinct teacher errors kept for the summary and the failure message


class GenerateError(FactoryError):
    """The teacher failed on too many samples (the distinct reasons are in the message)."""


# ---------------------------------------------------------------------------------------------
# teachers
# ---------------------------------------------------------------------------------------------


def applies_prefill(backend: str) -> bool:
    # an OpenAI-compatible server gets plain messages; its chat template/reasoning parser opens
    # the thought itself (continuing a partial assistant turn is not portable across servers)
    return backend in ("transformers", "vllm")


# ---------------------------------------------------------------------------------------------
# rows
# ---------------------------------------------------------------------------------------------


def load_problems(path: str | Path, *, limit: int | None = None) -> list[dict[str, Any]]:
    m = check_folder(path)
    if m.contract != "problem":
        raise DatasetError(f"{path}: --problems needs a problem folder, found {m.contract} rows",
                           hint="make one with `factory ingest`")
    rows = []
    seen = set()
    for row in iter_rows(path):
        if row["id"] in seen:
            continue  # a problem listed twice is generated once
        seen.add(row["id"])
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            break
    return rows


def make_request(problem: dict[str, Any], rendered: RenderedPrompt, sample_indices: list[int], *,
                 seed: int | None, prefill: bool) -> Request:
    return Request(key=problem["id"], messages=rendered.messages(), sample_indices=list(sample_indices),
                   seeds=[sample_seed(seed, problem["id"], s) for s in sample_indices],
                   prefill=rendered.prefill if prefill else None)


def sampling_struct(opts: GenerateOptions, prompt_label: str, seed: int | None, prefill: str | None,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    ex = {"run_seed": opts.seed, "prefill": prefill, **(extra or {})}
    return {"temperature": float(opts.temperature), "top_p": float(opts.top_p), "max_tokens": int(opts.budget),
            "n": int(opts.n), "seed": seed, "top_k": opts.top_k, "prompt_preset": prompt_label,
            "extra": json.dumps(ex, sort_keys=True)}


def trace_row(problem: dict[str, Any], rendered: RenderedPrompt, request: Request, pos: int, comp: Completion, *,
              teacher: str, backend: str, opts: GenerateOptions, prompt_label: str,
              sampling_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    sample_index = request.sample_indices[pos]
    text = comp.text or ""
    meta = problem.get("meta")
    if comp.error is not None:
        finish = "error"
        reasoning, answer, finished = None, None, False
        merged = json.loads(meta) if meta else {}
        merged["teacher_error"] = comp.error
        meta = meta_json(merged)
    else:
        finish = comp.finish_reason if comp.finish_reason in ("stop", "length") else "unknown"
        prefilled = bool(request.prefill and "<think>" in request.prefill)
        if comp.extra.get("split") is not None:
            reasoning, answer, finished = comp.extra["split"]  # replay: the source's own split
        else:
            reasoning, answer, finished = split_reasoning(text, prefilled_think=prefilled, reasoning_field=comp.reasoning,
                                                          truncated=finish == "length")
    name = comp.teacher or teacher
    if backend == "replay" and not comp.extra.get("sampling"):
        sampling_extra = {**(sampling_extra or {}), "source_sampling": "unknown"}  # the source did not record it
    row = {
        "id": trace_id(problem["id"], sample_index, name, text if comp.error is None else f"error:{comp.error}"),
        "problem_id": problem["id"],
        "sample_index": int(sample_index),
        "teacher": name,
        "backend": backend,
        "sampling": comp.extra.get("sampling") or sampling_struct(opts, prompt_label, request.seeds[pos], request.prefill,
                                                                  sampling_extra),
        "system_prompt": comp.extra.get("system_prompt", rendered.system),
        "prompt": comp.extra.get("prompt") or rendered.user,
        "completion": text,
        "reasoning": reasoning,
        "reasoning_finished": bool(finished),
        "answer": answer,
        "finish_reason": finish,
        "prompt_tokens": comp.prompt_tokens,
        "completion_tokens": comp.completion_tokens,
    }
    for k in CONTEXT:
        row[k] = problem.get(k)
    row["meta"] = meta
    return row


def trace_to_problem(row: dict[str, Any]) -> dict[str, Any]:
    """A Trace row's problem context as a Problem-like row (for regenerating without the problem folder)."""
    return {"id": row["problem_id"], **{k: row.get(k) for k in CONTEXT}}


# ---------------------------------------------------------------------------------------------
# folder state
# ---------------------------------------------------------------------------------------------


def remove_unlisted_shards(path: Path) -> int:
    """A folder with a manifest holds exactly the manifest's shards; others are leftovers of an
    interrupted rewrite (`--only truncated`) and would be read twice by a resume: remove them."""
    if not (path / MANIFEST).exists():
        return 0
    listed = {s.name for s in read_manifest(path).shards}
    n = 0
    for p in path.glob("*.parquet"):
        if p.name not in listed:
            p.unlink()
            n += 1
    return n


def _shard_keys(path: Path, names: list[str]) -> tuple[set[tuple[str, int]], dict[str, Any] | None]:
    """Finished keys of the given shards and one row's identity fields (to refuse mixing runs)."""
    import pyarrow.parquet as pq

    keys: set[tuple[str, int]] = set()
    sample = None
    for name in names:
        t = pq.read_table(path / name, columns=["problem_id", "sample_index", "teacher", "backend", "sampling"])
        pids = t.column("problem_id").to_pylist()
        idxs = t.column("sample_index").to_pylist()
        keys.update(zip(pids, idxs))
        if sample is None and t.num_rows:
            sample = {"teacher": t.column("teacher")[0].as_py(), "backend": t.column("backend")[0].as_py(),
                      **(t.column("sampling")[0].as_py() or {})}
    return keys, sample


def _check_identity(sample: dict[str, Any] | None, opts: GenerateOptions, prompt_label: str, where: Path) -> None:
    if sample is None:
        return
    if opts.backend == "replay":
        # replayed rows carry their source's sampling; only the backend tells runs apart
        if sample.get("backend") != "replay":
            raise DatasetError(f"{where}: holds {sample.get('backend')} traces, this run replays",
                               hint="choose another --out, or pass --overwrite")
        return
    ours = sampling_struct(opts, prompt_label, None, None)
    diffs = []
    for k in IDENTITY:
        if opts.only != "all" and k == "max_tokens":
            continue
        if sample.get(k) != ours.get(k):
            diffs.append(f"{k}: folder has {sample.get(k)!r}, this run {ours.get(k)!r}")
    run_seed = json.loads(sample.get("extra") or "{}").get("run_seed")
    if run_seed != opts.seed:
        diffs.append(f"seed: folder has {run_seed!r}, this run {opts.seed!r}")
    if sample.get("backend") != opts.backend:
        diffs.append(f"backend: folder has {sample.get('backend')!r}, this run {opts.backend!r}")
    if opts.backend != "replay" and sample.get("teacher") != opts.teacher:
        diffs.append(f"teacher: folder has {sample.get('teacher')!r}, this run {opts.teacher!r}")
    if diffs:
        raise DatasetError(f"{where}: holds traces made with other parameters ({'; '.join(diffs)})",
                           hint="resume with the same parameters, choose another --out, or pass --overwrite")


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------


class _Sink:
    """Collects rows as they complete and makes them durable every K rows / T seconds."""

    def __init__(self, writer: DatasetWriter, *, flush_rows: int, flush_seconds: float, progress) -> None:
        self.writer = writer
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.progress = progress
        self.buf: list[dict[str, Any]] = []
        self.last = time.time()
        self.written = 0
        self.finish = Counter()
        self.errors = Counter()
        self.skipped = Counter()
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.retries = 0
        self.distinct: Counter = Counter()  # error text -> rows (the first DISTINCT_ERRORS texts)

    def note_error(self, error: str) -> None:
        text = error.strip()[:240]
        if text in self.distinct or len(self.distinct) < DISTINCT_ERRORS:
            self.distinct[text] += 1

    def add(self, row: dict[str, Any] | None, comp: Completion) -> None:
        self.retries += comp.retries
        if row is None:
            self.skipped[comp.skip or "skipped"] += 1
            self.progress.advance(1, 0)
        else:
            self.buf.append(row)
            self.finish[row["finish_reason"]] += 1
            if comp.error is not None:
                self.errors[comp.error.split(":", 1)[0]] += 1
                self.note_error(comp.error)
            self.prompt_tokens += comp.prompt_tokens or 0
            self.completion_tokens += comp.completion_tokens or 0
            self.progress.advance(1, comp.completion_tokens or 0)
        if len(self.buf) >= self.flush_rows or (self.buf and time.time() - self.last >= self.flush_seconds):
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.writer.write_rows(self.buf)
            self.written += len(self.buf)
            self.buf = []
        self.writer.flush()
        self.last = time.time()


class _FirstErrors:
    """Holds error rows back until the teacher's first success. When the first
    FIRST_ERRORS_STOP results are all errors, or the run ends without any success, it raises
    GenerateError with the distinct reasons and nothing of them is written (a re-run after the
    fix simply does the work). After the first success rows pass straight through."""

    def __init__(self, sink: _Sink, *, limit: int = FIRST_ERRORS_STOP) -> None:
        self.sink = sink
        self.limit = limit
        self.held: list[tuple[dict[str, Any], Completion]] = []
        self.ok = False
        self.distinct: Counter = Counter()

    def add(self, row: dict[str, Any], comp: Completion) -> None:
        if self.ok:
            self.sink.add(row, comp)
            return
        if comp.error is None:
            self.ok = True
            for r, c in self.held:
                self.sink.add(r, c)
            self.held = []
            self.sink.add(row, comp)
            return
        self.held.append((row, comp))
        text = comp.error.strip()[:240]
        if text in self.distinct or len(self.distinct) < DISTINCT_ERRORS:
            self.distinct[text] += 1
        if len(self.held) >= self.limit:
            self._fail(f"the teacher's first {len(self.held)} results are all errors")

    def finish(self) -> None:
        if not self.ok and self.held:
            self._fail(f"every sample of this run failed ({len(self.held)} of {len(self.held)})")

    def _fail(self, what: str) -> None:
        raise GenerateError(f"{what}; stopped before writing them. The teacher's distinct errors:\n"
                            + _error_lines([{"error": e, "rows": n} for e, n in self.distinct.most_common()]),
                            hint="fix what the errors say (server, model name, budget), then re-run the same command")


def _error_lines(errors: list[dict[str, Any]]) -> str:
    return "\n".join(f"  - {e['error']}" + (f"  ({e['rows']} rows)" if e.get("rows", 1) > 1 else "") for e in errors)


def run_generate(opts: GenerateOptions, *, log: Callable[[str], None] = print, progress: bool | None = None,
                 command: str = "factory generate") -> dict[str, Any]:
    """Generate (or resume, or regenerate truncated rows); return the summary (also in the manifest)."""
    opts.check()
    t0 = time.time()
    prompt = load_prompt(opts.prompt)
    out = Path(opts.out)
    if opts.only != "all":
        check_folder(out)  # the rewrite needs a finished folder
        with folder_lock(out, command=command):
            return _regenerate(opts, prompt, log=log, progress=progress, command=command)
    problems = load_problems(opts.problems, limit=opts.limit)
    if not problems:
        raise InputError(f"{opts.problems}: the problem folder holds no rows")
    # render every prompt up front: a broken template fails before any model loads
    rendered = {p["id"]: prompt.render(p) for p in problems}
    prefill = applies_prefill(opts.backend)
    # the budget before the first request: checked against the context, or derived from it
    budget = plan_budget(opts, list(rendered.values()), prefill=prefill, log=log)
    opts = dataclasses.replace(opts, max_tokens=budget.max_tokens)

    if out.exists() and (out / MANIFEST).exists() and not opts.overwrite:
        m = check_folder(out)
        if m.contract != "trace":
            raise DatasetError(f"{out}: --out holds {m.contract} rows, not traces", hint="choose another --out")
        remove_unlisted_shards(out)
        keys, sample = _shard_keys(out, [s.name for s in m.shards])
        _check_identity(sample, opts, prompt.name, out)
        if all((p["id"], s) in keys for p in problems for s in range(opts.n)):
            summary = _folder_summary(out, m, budget=budget)
            errs = summary["error_rows"]
            log(f"{out}: already holds all {len(problems) * opts.n} samples: nothing to do"
                + (f"; {errs} of them are error rows (the teacher failed on them): retry just those with the same "
                   "command plus --only errors" if errs else ""))
            _check_error_share(summary, opts, out)
            return summary
        skipped = sum((m.stats.get("skipped") or {}).values())
        if (opts.backend == "replay" and skipped and m.stats.get("expected_rows") == len(problems) * opts.n
                and m.rows + skipped == len(problems) * opts.n
                and all(m.params.get(k) == getattr(opts, k) for k in ("teacher", "problems", "limit"))):
            # the same replay already ran to the end: the samples it lacked are still not there
            log(f"{out}: replay already finished ({m.rows} rows, {skipped} samples not in the source): nothing to do")
            return {"rows": m.rows, "generated": 0, "noop": True, "out": str(out)}

    with folder_lock(out, command=command):
        return _generate_into(opts, prompt, problems, rendered, prefill, out, t0, log=log, progress=progress,
                              command=command, budget=budget)


def _generate_into(opts: GenerateOptions, prompt, problems, rendered, prefill, out: Path, t0: float, *, log, progress,
                   command, budget: Budget) -> dict[str, Any]:
    from factory.pipeline.progress import RowProgress

    writer = DatasetWriter(out, "trace", mode="overwrite" if opts.overwrite else "resume", command=command,
                           params={**opts.params(), "budget": budget.record()})
    try:
        done, sample = _shard_keys(out, [s.name for s in writer.shards])
        _check_identity(sample, opts, prompt.name, out)
        work: list[Request] = []
        by_key = {p["id"]: p for p in problems}
        for p in problems:
            missing = [s for s in range(opts.n) if (p["id"], s) not in done]
            if missing:
                work.append(make_request(p, rendered[p["id"]], missing, seed=opts.seed, prefill=prefill))
        total = len(problems) * opts.n
        todo = sum(len(r.sample_indices) for r in work)
        resumed = total - todo
        if resumed:
            log(f"{out}: resuming — {resumed} of {total} samples already written, {todo} to go")
        teacher = None if opts.executor == "ray" else make_teacher(opts)
        gpus = 0
        with RowProgress(total=total, done=resumed, label="generate", log=log, rich=progress) as bar:
            sink = _Sink(writer, flush_rows=opts.flush_rows, flush_seconds=opts.flush_seconds, progress=bar)
            guard = _FirstErrors(sink)

            def on_completion(req: Request, pos: int, comp: Completion, teacher_name: str) -> None:
                if comp.skip is not None:
                    sink.add(None, comp)
                    return
                p = by_key[req.key]
                guard.add(trace_row(p, rendered[p["id"]], req, pos, comp, teacher=teacher_name, backend=opts.backend,
                                    opts=opts, prompt_label=prompt.name), comp)

            if opts.executor == "ray":
                from factory.generate.ray import run_on_ray

                gpus = run_on_ray(opts, work, on_completion, log=log)
            else:
                try:
                    step = teacher.chunk_requests or len(work) or 1
                    for start in range(0, len(work), step):
                        chunk = work[start : start + step]
                        teacher.generate(chunk, sampling_of(opts),
                                         on_result=lambda i, j, c, chunk=chunk: on_completion(chunk[i], j, c, teacher.name))
                    gpus = teacher.gpus
                    if hasattr(teacher, "stats_dict"):
                        writer.run["teacher_stats"] = teacher.stats_dict()  # retries/errors by reason
                finally:
                    teacher.close()
            guard.finish()
            sink.flush()
        summary = _account(out, writer, opts, sink=sink, wall=time.time() - t0, gpus=gpus, resumed=resumed, total=total,
                           budget=budget)
    except BaseException:
        # Ctrl-C or a failure: the rows that did complete are good; keep them for the resume
        try:
            sink.flush()  # type: ignore[possibly-undefined]
        except Exception:
            pass
        writer.abort()  # finished shards stay; no manifest, so readers see a half-written folder
        raise
    writer.close()
    log(_summary_line(out, summary))
    _check_error_share(summary, opts, out)
    return summary


def _check_error_share(summary: dict[str, Any], opts: GenerateOptions, out: Path) -> None:
    """Exit non-zero when more than `max_error_share` of the folder's rows are errors. The
    folder is complete (manifest written) but its stage run is not: the same command then
    finds only error rows left and says so; `--only errors` retries them."""
    rows, errs = summary.get("rows") or 0, summary.get("error_rows") or 0
    if not rows or errs / rows <= opts.max_error_share:
        return
    raise GenerateError(
        f"{out}: {errs} of {rows} trace rows ({100 * errs / rows:.0f}%) are errors, more than --max-error-share "
        f"{opts.max_error_share:g}. The teacher's first distinct errors:\n" + _error_lines(summary.get("errors") or []),
        hint="fix what the errors say, then retry just the error rows with the same command plus --only errors "
             "(or accept them with --max-error-share 1)")


def _distinct_folder_errors(out: Path, names: list[str]) -> list[dict[str, Any]]:
    """The first distinct `meta.teacher_error` texts of the folder's error rows, with counts."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    distinct: Counter = Counter()
    for name in names:
        t = pq.read_table(out / name, columns=["finish_reason", "meta"])
        t = t.filter(pc.equal(t.column("finish_reason"), "error"))
        for meta in t.column("meta").to_pylist():
            try:
                text = str(json.loads(meta or "{}").get("teacher_error") or "unknown error").strip()[:240]
            except ValueError:
                text = "unknown error"
            if text in distinct or len(distinct) < DISTINCT_ERRORS:
                distinct[text] += 1
    return [{"error": e, "rows": n} for e, n in distinct.most_common()]


def _folder_summary(out: Path, m: Any, *, budget: Budget | None = None) -> dict[str, Any]:
    """The summary of a finished folder this run did not change (a re-run with nothing to do)."""
    errs = int((m.stats.get("finish_reason") or {}).get("error", 0))
    return {"rows": m.rows, "generated": 0, "noop": True, "out": str(out), "error_rows": errs,
            "errors": _distinct_folder_errors(out, [s.name for s in m.shards]) if errs else [],
            "max_tokens": budget.max_tokens if budget else m.params.get("max_tokens")}


def _account(out: Path, writer: DatasetWriter, opts: GenerateOptions, *, sink: _Sink, wall: float, gpus: int,
             resumed: int, total: int, budget: Budget | None = None) -> dict[str, Any]:
    """Folder-wide stats (all rows) into writer.stats; this run's costs into writer.run."""
    import pyarrow.parquet as pq

    finish: Counter = Counter()
    prompt_tok = compl_tok = unfinished = rows = 0
    errors: Counter = Counter()
    for s in writer.shards:
        t = pq.read_table(out / s.name, columns=["finish_reason", "prompt_tokens", "completion_tokens",
                                                 "reasoning_finished"])
        rows += t.num_rows
        finish.update(t.column("finish_reason").to_pylist())
        prompt_tok += sum(x or 0 for x in t.column("prompt_tokens").to_pylist())
        compl_tok += sum(x or 0 for x in t.column("completion_tokens").to_pylist())
        unfinished += sum(1 for x in t.column("reasoning_finished").to_pylist() if not x)
    errors.update(sink.errors)
    writer.stats.update({
        "rows": rows, "expected_rows": total, "finish_reason": dict(sorted(finish.items())),
        "reasoning_unfinished": unfinished, "prompt_tokens": prompt_tok, "completion_tokens": compl_tok,
        "skipped": dict(sink.skipped),
    })
    gpu_hours = gpus * wall / 3600.0
    cost: dict[str, float] = {}
    if opts.price_per_gpu_hour is not None:
        cost["gpu"] = round(gpu_hours * opts.price_per_gpu_hour, 6)
    if opts.price_per_million_tokens is not None:
        cost["tokens"] = round((sink.prompt_tokens + sink.completion_tokens) / 1e6 * opts.price_per_million_tokens, 6)
    if cost:
        cost["total"] = round(sum(cost.values()), 6)
    writer.run.update({
        "wall_seconds": round(wall, 3), "rows_generated": sink.written, "rows_resumed": resumed,
        "prompt_tokens": sink.prompt_tokens, "completion_tokens": sink.completion_tokens,
        "tokens_per_s": round(sink.completion_tokens / wall, 2) if wall > 0 else None,
        "gpus": gpus, "gpu_hours": round(gpu_hours, 6), "cost_usd": cost or None,
        "retries": sink.retries, "errors": dict(errors), "executor": opts.executor, "replicas": opts.replicas,
    })
    error_rows = int(finish.get("error", 0))
    return {"out": str(out), "rows": rows, "generated": sink.written, "resumed": resumed, "stats": writer.stats,
            "run": writer.run, "error_rows": error_rows, "max_tokens": opts.budget,
            "budget": budget.record() if budget else None,
            "errors": _distinct_folder_errors(out, [s.name for s in writer.shards]) if error_rows else []}


def _summary_line(out: Path, s: dict[str, Any]) -> str:
    run = s["run"]
    fr = ", ".join(f"{k} {v}" for k, v in s["stats"]["finish_reason"].items())
    cost = f", cost ${run['cost_usd']['total']:.4f}" if run.get("cost_usd") else ""
    errs = s.get("error_rows") or 0
    retry = (f"; {errs} error row{'s' if errs != 1 else ''}: retry just those with the same command plus --only errors"
             if errs else "; 0 error rows")
    return (f"{out}: {s['rows']} rows ({fr}); this run {s['generated']} rows, {run['completion_tokens']} tokens "
            f"in {run['wall_seconds']:.1f}s ({run['tokens_per_s']} tok/s), {run['gpu_hours']} GPU-h{cost}{retry}")


# ---------------------------------------------------------------------------------------------
# --only truncated / errors
# ---------------------------------------------------------------------------------------------


def _regenerate(opts: GenerateOptions, prompt, *, log, progress, command) -> dict[str, Any]:
    from factory.pipeline.progress import RowProgress

    t0 = time.time()
    out = Path(opts.out)
    m = check_folder(out)  # needs a finished folder: the rewrite swaps manifests
    if m.contract != "trace":
        raise DatasetError(f"{out}: --only {opts.only} needs a trace folder, found {m.contract} rows")
    remove_unlisted_shards(out)
    target = "length" if opts.only == "truncated" else "error"
    _, sample = _shard_keys(out, [s.name for s in m.shards])
    _check_identity(sample, opts, prompt.name, out)
    old_shards = [s.name for s in m.shards]
    redo: list[dict[str, Any]] = []
    import pyarrow.compute as pc

    for batch in iter_batches(out):
        mask = pc.equal(batch.column("finish_reason"), target)
        redo.extend(batch.filter(mask).to_pylist())
    if not redo:
        log(f"{out}: no rows with finish_reason={target}: nothing to do")
        summary = _folder_summary(out, m)
        _check_error_share(summary, opts, out)
        return summary
    prefill = applies_prefill(opts.backend)
    contexts = []
    for row in redo:
        prob = trace_to_problem(row)
        contexts.append((prob, prompt.render(prob)))
    budget = plan_budget(opts, [r for _, r in contexts], prefill=prefill, log=log)
    opts = dataclasses.replace(opts, max_tokens=budget.max_tokens)
    params = {**m.params, **{k: v for k, v in opts.params().items() if k in ("only", "max_tokens")},
              "budget": budget.record(), "regenerated_from": {"max_tokens": (sample or {}).get("max_tokens")}}
    writer = DatasetWriter(out, "trace", mode="append", command=command, params=params)
    writer.shards = []  # the new manifest lists only the rewritten shards
    try:
        teacher = make_teacher(opts)
        with RowProgress(total=len(redo), label=f"regenerate {opts.only}", log=log, rich=progress) as bar:
            sink = _Sink(writer, flush_rows=10**9, flush_seconds=10**9, progress=bar)  # one atomic switch at the end
            guard = _FirstErrors(sink)
            # kept rows first, streamed shard by shard
            for name in old_shards:
                import pyarrow.parquet as pq

                t = pq.read_table(out / name)
                t = t.filter(pc.invert(pc.equal(t.column("finish_reason"), target)))
                if t.num_rows:
                    writer.write_table(t)
            reqs = [make_request(prob, rendered, [row["sample_index"]], seed=opts.seed, prefill=prefill)
                    for row, (prob, rendered) in zip(redo, contexts)]
            extra = {"regenerated_from_max_tokens": (sample or {}).get("max_tokens")}
            try:
                step = teacher.chunk_requests or len(reqs)
                for start in range(0, len(reqs), step):
                    chunk = reqs[start : start + step]

                    def cb(i, j, c, chunk=chunk, start=start):
                        prob, rendered = contexts[start + i]
                        if c.skip:
                            sink.add(None, c)
                            return
                        guard.add(trace_row(prob, rendered, chunk[i], j, c, teacher=teacher.name, backend=opts.backend,
                                            opts=opts, prompt_label=prompt.name, sampling_extra=extra), c)

                    teacher.generate(chunk, sampling_of(opts), on_result=cb)
                gpus = teacher.gpus
            finally:
                teacher.close()
            guard.finish()
            sink.flush()
        summary = _account(out, writer, opts, sink=sink, wall=time.time() - t0, gpus=gpus, resumed=0,
                           total=m.rows, budget=budget)
    except BaseException:
        writer.abort()
        raise
    writer.close()  # the manifest now lists only the new shards: the switch
    for name in old_shards:
        p = out / name
        if p.exists() and name not in {s.name for s in writer.shards}:
            p.unlink()
    log(_summary_line(out, summary))
    _check_error_share(summary, opts, out)
    return summary


def run(opts: GenerateOptions, ctx: Any) -> dict[str, Any]:
    """The generate stage (`factory generate` and a recipe's `generate:` section). The runner
    has decided create / resume / overwrite; generate itself resumes at the sample level."""
    import dataclasses

    teacher = opts.teacher
    if teacher == "@tiny":  # recipes: the tiny random model, built inside the run folder (smoke tests)
        from factory.generate.teachers.tiny import build_tiny_model

        teacher = str(build_tiny_model(ctx.path("teacher-tiny")))
        ctx.log(f"teacher: tiny RANDOM model at {Path(teacher).name} (its output is random text)")
    opts = dataclasses.replace(opts, teacher=teacher, overwrite=ctx.mode == "overwrite")
    return run_generate(opts, log=ctx.log, progress=ctx.progress, command=ctx.command)
