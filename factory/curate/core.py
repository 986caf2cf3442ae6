"""`factory curate`: turn verified trace folders (plus problem and SFT folders) into an SFT mix
following a recipe's `curate:` section, written as `OUT/train/` and `OUT/validation/` dataset
folders in the `sft` contract.

The pipeline, with bounded memory (text is streamed, never all at once):
1. scan: stream every trace folder batch by batch, keeping only small columns (ids, domain,
   source, teacher, level, verdict/score columns the recipe names) and two derived facts per
   trace — whether it has a final answer, and its token count. 1M traces ≈ 100 MB of metadata.
   For shortest-/longest-correct and k-per-problem (no journey, folders on this machine) the
   text is read once instead (factory.curate.textpass): the small columns first, then only the
   text of traces that pass the checks needing none, for their facts and each problem's best
   trace(s), which render the mix without step 6's second read.
2. select: per-domain rules (`select:`) name why each trace is dropped (first failed check:
   not_correct, where:verdict_language, level_out_of_bounds, over_token_budget, ...); pass
   rates per problem (`difficulty.from: pass_rate`) come from the same correctness rule.
3. per-problem policy: all-correct | shortest-correct | longest-correct | k-per-problem | diverse.
4. journey samples (factory.curate.journey) and non-reasoning examples (factory.curate.nonreasoning).
5. mix (factory.curate.mix): exact seeded quotas; a shortfall is an error unless allow_short.
6. fetch: read the full rows of the chosen traces only (polars scan filtered by id, shard by
   shard in a worker thread, started right after step 3 so that it runs beside steps 4-5), render
   the assistant turn (in the fetch query by polars where it gives the same bytes, else by
   `split_trace` in Python), split train/validation by problem, write, report. A mix of
   shortcut rows only stays in columns to the end (factory.curate.shortcut_mix).

Same recipe + seed + inputs -> byte-identical shards (no clocks or set orders in rows).

Exercise: `factory curate --recipe journey --traces DIR --out OUT`.
"""

from __future__ import annotations

import gc
import importlib
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Self

import polars as pl
import pyarrow.parquet as pq

from factory.curate.select import (  # (select_traces and per_problem are imported from here too)
    FACTS,
    ORDERED_POLICIES,
    _criterion,
    _hash_col,
    _rule_for_domain,
    drop_counts,
    n_tokens,
    per_problem,
    raw_facts,
    select_traces,
)
from factory.curate.sft import (
    SKY_T1_SYSTEM_PROMPT,
    MixRows,
    _group,
    approx_tokens,
    id_bytes_expr,
    make_row,
    render_assistant,
    render_stages,
    split_trace,
    trace_facts_staged,
    validation_groups,
)
from factory.io.dataset import (
    DatasetWriter,
    atomic_write_text,
    iter_batches,
    read_manifest,
    scan,
    shard_paths,
)
from factory.io.store import is_store_url
from factory.schemas.errors import DatasetError, InputError

META_COLS = ["id", "problem_id", "teacher", "domain", "source", "level", "difficulty", "finish_reason",
             "completion_tokens"]
# low-cardinality columns held as categoricals: at 1M traces a string column costs ~25 MB, a
# categorical ~4 MB (u32 codes)
CATEGORICAL = ("teacher", "domain", "source", "difficulty", "finish_reason")
SYSTEM_ALIASES = {"@sky-t1": SKY_T1_SYSTEM_PROMPT}
# the two ways of a run that give the same shards faster (tests turn them off to compare):
# the text read once for the policies that allow it (factory.curate.textpass), and a mix
# of shortcut rows kept in columns to the end (factory.curate.shortcut_mix)
TEXT_PASS = True
COLUMNAR = True


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------

def resolve_sources(cfg: dict[str, Any], *, base: Path, inputs: dict[str, list[Path]] | None) -> list[dict[str, Any]]:
    """Recipe sources, with command-line folders replacing the recipe's of the same kind."""
    inputs = {k: v for k, v in (inputs or {}).items() if v}
    out = []
    for s in cfg.get("sources") or []:
        if s["kind"] in inputs:
            continue
        # imported here: only a recipe's own sources need it (15 ms of imports)
        from factory.pipeline.runner import resolve_path

        out.append({**s, "path": s["path"] if is_store_url(s["path"]) else resolve_path(s["path"], base)})
    for kind, paths in inputs.items():
        for p in paths:  # a store URL stays a string (Path would fold "s3://" into "s3:/")
            out.append({"kind": kind, "path": str(p) if is_store_url(str(p)) else Path(p)})
    for s in out:
        m = read_manifest(s["path"])  # raises a clear DatasetError for a missing/half-written folder
        expected = {"traces": "trace", "problems": "problem", "sft": "sft"}[s["kind"]]
        if m.contract != expected:
            raise DatasetError(f"{s['path']}: given as {s['kind']} but holds {m.contract} rows",
                               hint=f"pass it with --{ {'trace': 'traces', 'problem': 'problems', 'sft': 'sft'}[m.contract] }")
    return out


def _rule_columns(cfg: dict[str, Any]) -> set[str]:
    cols: set[str] = set()
    for rule in cfg["select"].values():
        for key in ("correct", "where", "scores"):
            cols.update((rule.get(key) or {}).keys())
    if cfg.get("journey"):
        cols.update(cfg["journey"]["wrong"].keys())
        cols.update(cfg["journey"]["correct"].keys())
    return cols


def _schema_names(path: Path) -> list[str]:
    paths = shard_paths(path)
    if not paths:
        return []
    if is_store_url(path):  # a folder on an object store: the io layer's reader
        return scan(path).collect_schema().names()
    return pq.read_schema(paths[0]).names


def scan_traces(sources: list[dict[str, Any]], cfg: dict[str, Any], *, text: bool = True) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Stream every trace folder; return the small metadata frame (one row per trace).

    One polars streaming query per folder: the text columns are read morsel by morsel and only
    reduced to `has_final`/`est_tokens` (`factory.curate.sft.trace_facts_staged`), so no Python
    string is built for 1M traces and memory holds the small columns only. The raw completion is
    read only when some trace has neither a thought nor an answer (then only those rows are
    parsed, by the same rules in Python). `text=False`: no text is read (no FACTS, no
    n_tokens); `_pos`, each row's place in its folder, says where `factory.curate.textpass`
    finds it."""
    rule_cols = sorted(_rule_columns(cfg))
    count_mode = cfg["budget"]["count"]
    frames = []
    seen_cols: set[str] = set()
    fact_parts, facts = trace_facts_staged()
    need_tests = any(rule.get("require_tests") for rule in cfg["select"].values())
    for si, s in enumerate(sources):
        if s["kind"] != "traces":
            continue
        names = _schema_names(s["path"])
        if not names:
            continue
        present_rule = [c for c in rule_cols if c in names]
        seen_cols.update(present_rule)
        lf = scan(s["path"])
        for c in ("reasoning", "answer"):
            if c not in names:
                lf = lf.with_columns(pl.lit(None, dtype=pl.String).alias(c))
        if text:
            lf = lf.with_columns(fact_parts)
        else:
            lf = lf.with_row_index("_pos")
        small = [c for c in dict.fromkeys(META_COLS + present_rule) if c in names]
        # low-cardinality columns become categoricals inside the streaming query (chunk by chunk)
        cat = set(CATEGORICAL) | {c for c in rule_cols if c.startswith("verdict_")}
        cols = [pl.col(c).cast(pl.String).cast(pl.Categorical) if c in cat else pl.col(c) for c in small]
        # the nested tests column is decoded only when a rule asks for tests (1M traces: 0.25 CPU s)
        has_tests = pl.col("tests").is_not_null() if "tests" in names and need_tests else pl.lit(False)
        derived = ([*(facts[k].alias(k) for k in FACTS), facts["needs_completion"].alias("_needs")] if text
                   else [pl.col("_pos"), pl.lit(False).alias("_needs")])
        df = lf.select(*cols, *derived, has_tests.alias("has_tests")).collect(engine="streaming")
        if df.height == 0:
            continue
        if "completion" in names and df["_needs"].any():
            df = raw_facts(df, lf.with_row_index("_pos"), df.with_row_index("_at").filter(pl.col("_needs"))["_at"])
        df = df.drop("_needs").with_columns(pl.lit(si, dtype=pl.Int32).alias("src"))
        for c in rule_cols:
            if c not in df.columns:
                df = df.with_columns(pl.lit(None, dtype=pl.String).alias(c))
        if s.get("name"):
            df = df.with_columns(pl.lit(s["name"]).cast(pl.Categorical).alias("source"))
        if s.get("domain"):
            df = df.with_columns(pl.lit(s["domain"]).cast(pl.Categorical).alias("domain"))
        df = df.with_columns(pl.col(c).cast(pl.String).cast(pl.Categorical) for c in sorted(cat)
                             if c in df.columns and not isinstance(df.schema[c], pl.Categorical))
        frames.append(df.select(sorted(df.columns)))
    if not frames:
        return pl.DataFrame(), {"traces_in": 0}
    # rule columns may hold strings in one folder and numbers in another: relax to a common type
    meta = pl.concat(frames, how="diagonal_relaxed")
    missing_everywhere = [c for c in rule_cols if c not in seen_cols]
    n_in = meta.height
    # (1M ids: the hashes' n_unique 0.03 s, the ids' 0.1 s, is_duplicated 0.2 s; two ids with one
    # hash only send the frame through the exact `unique`, which then drops nothing)
    if meta["id"].hash().n_unique() < n_in:
        meta = meta.unique(subset=["id"], keep="first", maintain_order=True)
    if text:
        meta = meta.with_columns(n_tokens(count_mode))
    return meta, {"traces_in": n_in, "duplicate_trace_ids": n_in - meta.height, "missing_columns": missing_everywhere}


def apply_problems(meta: pl.DataFrame, sources: list[dict[str, Any]]) -> tuple[pl.DataFrame, int]:
    """Fill a trace's missing level/difficulty from problem folders; count the problems given."""
    frames = [scan(s["path"]).select(["id", "level", "difficulty"]).collect()
              for s in sources if s["kind"] == "problems"]
    if not frames:
        return meta, 0
    probs = pl.concat(frames).unique(subset=["id"], keep="first", maintain_order=True)
    if meta.height:
        meta = meta.join(probs.rename({"id": "problem_id", "level": "_plevel", "difficulty": "_pdiff"}),
                         on="problem_id", how="left", maintain_order="left")
        meta = meta.with_columns(pl.coalesce("level", "_plevel").alias("level"),
                                 pl.coalesce("difficulty", "_pdiff").alias("difficulty")).drop("_plevel", "_pdiff")
    return meta, probs.height


# ---------------------------------------------------------------------------------------------
# fetching full rows
# ---------------------------------------------------------------------------------------------

TEXT_COLS = ["id", "problem_id", "prompt", "problem", "completion", "reasoning", "answer", "system_prompt",
             "reference_answer", "language", "license", "domain", "source", "teacher"]


def fetch(sources: list[dict[str, Any]], ids_by_src: dict[int, list[str]], columns: list[str]) -> dict[str, dict[str, Any]]:
    """Full rows for the chosen ids only (a streaming scan filtered by id)."""
    out: dict[str, dict[str, Any]] = {}
    for si, ids in ids_by_src.items():
        if not ids:
            continue
        lf = scan(sources[si]["path"])
        names = lf.collect_schema().names()
        cols = [c for c in columns if c in names]
        df = lf.filter(pl.col("id").is_in(pl.Series(sorted(set(ids)), dtype=pl.String).implode())).select(cols).collect()
        for r in df.iter_rows(named=True):
            if sources[si].get("name"):
                r["source"] = sources[si]["name"]
            if sources[si].get("domain"):
                r["domain"] = sources[si]["domain"]
            if sources[si].get("license") and not r.get("license"):
                r["license"] = sources[si]["license"]
            out.setdefault(r["id"], r)
    return out


def fetch_traces(sources: list[dict[str, Any]], ids_by_src: dict[int, list[str]]) -> dict[str, dict[str, Any]]:
    """Trace rows for rendering. The raw completion (the widest column, and a copy of thought +
    answer) is read only for the rows whose thought and answer are both empty."""
    rows = fetch(sources, ids_by_src, [c for c in TEXT_COLS if c != "completion"])
    raw: dict[int, list[str]] = {}
    for si, ids in ids_by_src.items():
        for i in ids:
            r = rows.get(i)
            if r is not None and not ((r.get("reasoning") or "").strip() or (r.get("answer") or "").strip()):
                raw.setdefault(si, []).append(i)
    comp = fetch(sources, raw, ["id", "completion"]) if raw else {}
    for r in rows.values():
        r["completion"] = comp[r["id"]]["completion"] if r["id"] in comp else None
    return rows


class _Rows:
    """What ShardFetch and Retained share: the ids the caller narrows the rows to, and closing
    (the worker thread, where there is one)."""

    pool: ThreadPoolExecutor | None = None
    keep: pl.Expr | None = None

    def narrow(self, ids: list[str]) -> None:
        """Only these of the ids from now on (rows already read are the caller's to filter)."""
        self.keep = pl.col("id").is_in(pl.Series(ids, dtype=pl.String).implode())

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ShardFetch(_Rows):
    """`fetch`, shard by shard, as (source index, rows of that shard) when iterated: the shards'
    queries run in a worker thread, `ahead` of the rows the caller works on (polars releases the
    GIL, so reading and decompressing overlap with Python rendering). The first `ahead` start at
    construction, so a fetch started early reads while the caller does other work (close it, or
    use it as a context manager, to stop the worker). `derive` adds columns inside each query (on
    polars' threads, not the caller's); a text column it reads that a folder lacks is null."""

    def __init__(self, sources: list[dict[str, Any]], ids_by_src: dict[int, list[str] | pl.Series], columns: list[str], *,
                 derive: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None, ahead: int = 2):
        self.sources, self.columns, self.derive = sources, columns, derive
        self.jobs = []
        for si, ids in ids_by_src.items():
            if not len(ids):
                continue
            # (is_in: the order and repeats of the ids do not matter)
            want = (ids if isinstance(ids, pl.Series) else pl.Series(ids, dtype=pl.String)).implode()
            path = sources[si]["path"]
            # an object-store folder is read through the io layer's reader, as one job
            for shard in [path] if is_store_url(path) else shard_paths(path):
                self.jobs.append((si, shard, want))
        self.keep: pl.Expr | None = None
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.pending = deque((j[0], self.pool.submit(self._run, j)) for j in self.jobs[:ahead])
        self.next = len(self.pending)

    def _run(self, job) -> pl.DataFrame:
        _, shard, want = job
        lf = scan(shard) if is_store_url(shard) else pl.scan_parquet(str(shard))
        names = lf.collect_schema().names()
        keep = self.keep  # (set once by the caller's thread, read once here)
        lf = lf.filter(pl.col("id").is_in(want) if keep is None else pl.col("id").is_in(want) & keep)
        lf = lf.select(c for c in self.columns if c in names)
        if self.derive is not None:
            lf = self.derive(lf.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in ("reasoning", "answer")
                                             if c in self.columns and c not in names))
        # the streaming engine pipelines the decode with the render stages (A/B, 12 rounds: 3% off
        # the run's wall time, 8 rounds of 12 faster)
        return lf.collect(engine="streaming")

    def __iter__(self) -> Iterator[tuple[int, pl.DataFrame]]:
        while self.pending:
            si, fut = self.pending.popleft()
            df = fut.result()
            if self.next < len(self.jobs):
                self.pending.append((self.jobs[self.next][0], self.pool.submit(self._run, self.jobs[self.next])))
                self.next += 1
            yield si, _source_overrides(self.sources[si], df)


def _source_overrides(s: dict[str, Any], df: pl.DataFrame) -> pl.DataFrame:
    """A source's name, domain and default license over its fetched rows."""
    over = [pl.lit(s[k]).alias(col) for k, col in (("name", "source"), ("domain", "domain")) if s.get(k)]
    if s.get("license") and "license" in df.columns:
        lic = pl.col("license")
        over.append(pl.when(lic.is_null() | (lic == "")).then(pl.lit(s["license"])).otherwise(lic).alias("license"))
    return df.with_columns(over) if over else df


class Retained(_Rows):
    """ShardFetch's rows, from the traces the text pass kept, already rendered
    (`factory.curate.textpass`): nothing is read."""

    def __init__(self, sources: list[dict[str, Any]], rows: pl.DataFrame):
        self.sources, self.ids, self.rows = sources, rows["id"], rows.drop("n_tokens")

    def __iter__(self) -> Iterator[tuple[int, pl.DataFrame]]:
        df = self.rows if self.keep is None else self.rows.filter(self.keep)
        for si in sorted(df["src"].unique().to_list()):
            yield si, _source_overrides(self.sources[si], df.filter(pl.col("src") == si).drop("src"))


# ---------------------------------------------------------------------------------------------
# the curate run
# ---------------------------------------------------------------------------------------------

@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (reference counting still frees memory)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def reflection_writer(journey: dict[str, Any] | None):
    """The teacher reflection writer a recipe asks for (`curate.journey.reflection: teacher` with
    `reflection_teacher: {teacher, backend, preset|prompt, ...}`), or None. The teacher is built
    by the generate stage's factory (same backends as `factory generate`, `replay` included)."""
    if not journey or journey.get("reflection") != "teacher":
        return None
    from factory.curate.journey import REFLECTION_PRESETS, reflection_with_teacher
    from factory.generate.core import make_teacher
    from factory.generate.options import GenerateOptions

    spec = journey.get("reflection_teacher") or {}
    if not spec.get("teacher"):
        raise InputError("curate.journey.reflection_teacher.teacher: expected a model (or a replay trace folder) "
                         "because curate.journey.reflection is 'teacher', found nothing",
                         hint="set curate.journey.reflection_teacher.teacher=MODEL, or curate.journey.reflection=template")
    max_tokens = spec.get("max_tokens", 512)
    # a teacher only: no problem folder is read and no trace folder written (the names are placeholders)
    opts = GenerateOptions(teacher=spec["teacher"], backend=spec.get("backend", "transformers"), problems="unused", out="unused",
                           n=1, temperature=0.0, top_p=1.0, max_tokens=max_tokens, seed=0,
                           base_url=spec.get("base_url"), api_key_env=spec.get("api_key_env", "OPENAI_API_KEY"))
    opts.check()
    prompt = spec.get("prompt") or REFLECTION_PRESETS[spec.get("preset", "o1-journey")]
    return reflection_with_teacher(make_teacher(opts), prompt=prompt, max_tokens=max_tokens)


def _journey_candidates(meta: pl.DataFrame, sources, cfg, *, seed, fmt, checker, rewrite, reflect,
                        log) -> tuple[list[dict], dict]:
    j = cfg["journey"]
    if not j or not j.get("enabled", True) or meta.height == 0:
        return [], {}
    # imported here, not above: a run without journey never imports it (25 ms)
    from factory.curate import journey as J

    m = meta.filter(pl.col("domain").is_in(j["domains"]) & pl.col("drop_quality").is_null())
    quality_drops = meta.filter(pl.col("domain").is_in(j["domains"]) & pl.col("drop_quality").is_not_null()
                                & (_criterion(j["wrong"], meta.schema) | _criterion(j["correct"], meta.schema))).height
    wrong = m.filter(_criterion(j["wrong"], meta.schema))
    correct = m.filter(_criterion(j["correct"], meta.schema) & pl.col("has_final"))
    if j.get("wrong_teachers"):
        wrong = wrong.filter(pl.col("teacher").is_in(j["wrong_teachers"]))
    if j.get("correct_teachers"):
        correct = correct.filter(pl.col("teacher").is_in(j["correct_teachers"]))
    # wrong attempts that reach a final answer first: an unfinished thought states nothing to refute
    wrong = wrong.with_columns(_hash_col(wrong, seed, "journey-wrong"), (~pl.col("has_final")).alias("_unfinished"))
    wrong = wrong.sort(["problem_id", "_unfinished", "_h"]).drop("_unfinished")
    correct = correct.with_columns(_hash_col(correct, seed, "journey-correct")).sort(["problem_id", "_h"])
    k = j["per_problem"]
    w = wrong.with_columns(pl.int_range(pl.len()).over("problem_id").alias("_i")).filter(pl.col("_i") < k)
    c = correct.with_columns(pl.int_range(pl.len()).over("problem_id").alias("_i")).filter(pl.col("_i") < k)
    pairs = w.select("problem_id", "_i", pl.col("id").alias("wid"), pl.col("src").alias("wsrc")).join(
        c.select("problem_id", "_i", pl.col("id").alias("cid"), pl.col("src").alias("csrc"),
                 "domain", "source", "teacher", "level", "difficulty_label"),
        on=["problem_id", "_i"], how="inner").sort(["problem_id", "_i"])
    report = {"problems_with_wrong_and_correct": int(pairs.select(pl.col("problem_id").n_unique()).item()),
              "pairs": pairs.height, "checker": "", "traces_failing_quality_checks": quality_drops}
    if pairs.height == 0:
        return [], report
    ids_by_src: dict[int, list[str]] = {}
    for wid, ws, cid, cs in pairs.select("wid", "wsrc", "cid", "csrc").iter_rows():
        ids_by_src.setdefault(ws, []).append(wid)
        ids_by_src.setdefault(cs, []).append(cid)
    rows = fetch_traces(sources, ids_by_src)
    jcfg = J.JourneyConfig.from_section(j, fmt=fmt, seed=seed, max_tokens=cfg["budget"].get("max_tokens"))
    own_checker = checker is None
    checker = checker or J.AnswerChecker()
    report["checker"] = checker.backend
    try:
        pair_rows = [(rows[wid], rows[cid]) for wid, cid in pairs.select("wid", "cid").iter_rows()]
        reference = {r["problem_id"]: r["reference_answer"] for pr in pair_rows for r in pr if r.get("reference_answer")}
        if reflect is None and j.get("reflection") == "teacher":
            reflect = reflection_writer(j)
        kept, drops = J.build(pair_rows, reference=reference, cfg=jcfg, checker=checker, rewrite=rewrite,
                              reflect=reflect)
    finally:
        if own_checker:
            checker.close()
    info = {r["problem_id"] + "|" + r["cid"]: r for r in pairs.iter_rows(named=True)}
    cands = []
    for d in kept:
        p = info[d.problem_id + "|" + d.correct["id"]]
        cands.append({
            "key": f"j:{d.wrong['id']}:{d.correct['id']}", "kind": "journey", "domain": p["domain"],
            "source": p["source"], "teacher": p["teacher"], "level": p["level"], "difficulty": p["difficulty_label"],
            "n_tokens": approx_tokens(d.content), "draft": d,
        })
    report.update(J.funnel(kept, drops, pairs.height))
    log(f"journey: {report['pairs']} wrong/correct pairs -> {len(kept)} valid samples ({report['yield']:.0%}; "
        f"drops: {dict(sorted(drops.items())) or 'none'}; verifier: {report['checker']})")
    fallbacks = sum(v for k, v in drops.items() if k.startswith("reflection_fallback:"))
    if fallbacks:
        log(f"WARNING: journey: {fallbacks} teacher reflection(s) failed the checks and were replaced by the "
            f"composed reflection ({ {k.split(':', 1)[1]: v for k, v in drops.items() if k.startswith('reflection_fallback:')} })")
    return cands, report


def journey_meta(d: Any, *, diff: str | None, cfg: dict[str, Any], rewritten: bool) -> dict[str, Any]:
    """What a journey row records about how it was built (its provenance, for review)."""
    return {"wrong_teacher": d.wrong["teacher"], "correct_teacher": d.correct["teacher"], "difficulty": diff,
            "wrong_answer": d.stated or d.wrong_final, "transition": d.transition, "cut": cfg["cut"],
            "cut_point": d.cut_point, "mistake": d.kind, "reflection": d.reflection_source, "rewritten": rewritten}


def _nonreasoning_candidates(sources, cfg, *, base: Path) -> tuple[list[dict], dict]:
    nr = cfg.get("non_reasoning")
    cands: list[dict] = []
    report: dict[str, int] = {}
    if nr:
        from factory.curate import nonreasoning as NR
        from factory.pipeline.runner import resolve_path

        gen: list[dict] = []
        if nr.get("self_cognition"):
            sc = NR.self_cognition(nr["self_cognition"])
            report["self_cognition"] = len(sc)
            gen += sc
        if nr.get("translation"):
            tr = NR.translation(nr["translation"], sample_path=resolve_path(nr["translation"]["sample"], base))
            report["translation"] = len(tr)
            gen += tr
        for g in gen:
            content_len = approx_tokens(g["answer"]) + approx_tokens(g["reasoning"])
            cands.append({"key": g["key"], "kind": "non_reasoning", "domain": g["domain"], "source": g["source"],
                          "teacher": None, "level": None, "difficulty": None, "n_tokens": content_len, "generated": g})
    # SFT folders: their rows as they are (factual QA, writing, ...), fetched by id later
    kind = (nr or {}).get("sft_kind", "non_reasoning")
    n_sft = 0
    for si, s in enumerate(sources):
        if s["kind"] != "sft":
            continue
        for batch in iter_batches(s["path"], columns=["id", "messages", "domain", "source"]):
            for rid, msgs, dom, src in zip(*(batch.column(c).to_pylist() for c in ("id", "messages", "domain", "source"))):
                n_sft += 1
                asst = next((m["content"] for m in reversed(msgs) if m["role"] == "assistant"), "")
                cands.append({"key": f"sft:{si}:{rid}", "kind": kind, "domain": s.get("domain") or dom,
                              "source": s.get("name") or src,
                              "teacher": None, "level": None, "difficulty": None, "n_tokens": approx_tokens(asst),
                              "sft": (si, rid)})
    if n_sft:
        report["sft_rows"] = n_sft
    return cands, report


def _meta_field(meta: str | None, key: str) -> Any:
    try:
        m = json.loads(meta) if meta else None
    except json.JSONDecodeError:
        return None
    return m.get(key) if isinstance(m, dict) else None


def _as_frame(cands: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(
        {"key": [c["key"] for c in cands], "kind": [c["kind"] for c in cands],
         "domain": [c["domain"] for c in cands], "source": [c["source"] for c in cands],
         "teacher": [c["teacher"] for c in cands], "level": [c["level"] for c in cands],
         "difficulty": [c["difficulty"] for c in cands], "n_tokens": [c["n_tokens"] for c in cands]},
        schema={"key": pl.String, "kind": pl.String, "domain": pl.String, "source": pl.String, "teacher": pl.String,
                "level": pl.Int32, "difficulty": pl.String, "n_tokens": pl.Int64})


def curate(
    cfg: dict[str, Any],
    *,
    seed: int,
    out: Path,
    inputs: dict[str, list[Path]] | None = None,
    base: Path | None = None,
    size: int | None = None,
    overwrite: bool = False,
    rewrite: Callable[[list[str]], list[str]] | None = None,
    checker: Any = None,
    reflect: Callable[..., Any] | None = None,
    command: str = "factory curate",
    params: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run a normalised curate config (see factory.recipes.curate_spec.curate_config)."""
    with ExitStack() as stack:  # a fetch started early stops with the run, whatever ends it
        return _curate(cfg, seed=seed, out=out, inputs=inputs, base=base, size=size, overwrite=overwrite,
                       rewrite=rewrite, checker=checker, reflect=reflect, command=command, params=params, log=log,
                       stack=stack)


def _curate(cfg: dict[str, Any], *, seed: int, out: Path, inputs: dict[str, list[Path]] | None, base: Path | None,
            size: int | None, overwrite: bool, rewrite: Callable[[list[str]], list[str]] | None, checker: Any,
            reflect: Callable[..., Any] | None, command: str, params: dict[str, Any] | None,
            log: Callable[[str], None], stack: ExitStack) -> dict[str, Any]:
    from factory.curate.mix import allocate

    out = Path(out)
    base = Path(base) if base is not None else Path.cwd()
    sources = resolve_sources(cfg, base=base, inputs=inputs)
    if not sources and not cfg.get("non_reasoning"):
        raise InputError("nothing to curate: no trace, problem or SFT folders given",
                         hint="pass --traces DIR (and/or --problems DIR, --sft DIR), or list curate.sources in the recipe")
    fmt = cfg["output"]["format"]
    mix_size = size if size is not None else cfg["mix"]["size"]

    # the one module the run imports later (pyarrow.compute: the writer's checks, 40 ms), imported
    # in a thread while polars scans with the GIL released, not on the main thread's path at the end
    threading.Thread(target=importlib.import_module, args=("pyarrow.compute",), daemon=True).start()
    # a few traces per problem in an order of their own (the best of a union is the best of its
    # parts' best), from folders on this machine: the text is read once, after the checks that
    # need none (factory.curate.textpass); the journey reads every trace's facts
    two_pass = (TEXT_PASS and cfg["per_problem"]["policy"] in ORDERED_POLICIES and not cfg.get("journey")
                and not any(is_store_url(s["path"]) for s in sources if s["kind"] == "traces"))
    meta, scan_info = scan_traces(sources, cfg, text=not two_pass)
    funnel: dict[str, Any] = {"traces_in": scan_info["traces_in"], "duplicate_trace_ids": scan_info.get("duplicate_trace_ids", 0)}
    if meta.height:
        missing = scan_info["missing_columns"]
        rule_of = meta.select(_rule_for_domain(cfg).alias("_rule"))["_rule"].value_counts()
        used = {k: int(n) for k, n in rule_of.iter_rows() if k is not None}
        # a column is needed when a rule that names it applies to some trace (a code rule needs
        # verdict_code only when code traces were given)
        needed = [c for c in missing if any(used.get(key) and (c in (r.get("correct") or {}) or c in (r.get("where") or {})
                                                               or c in (r.get("scores") or {}))
                                            for key, r in cfg["select"].items())]
        if needed:
            raise InputError(
                f"no trace folder has the column(s) {needed} that curate.select needs",
                hint="score the traces first (`factory verify` adds verdict_math/verdict_code, `factory filter` adds "
                     "verdict_format/verdict_language/...), or change curate.select")
    meta, n_problems_given = apply_problems(meta, sources)
    o = cfg["output"]
    system = SYSTEM_ALIASES.get(o.get("system_prompt"), o.get("system_prompt"))
    user_col = "problem" if o["user"] == "problem" else "prompt"
    # what rendering a shortcut reads: the raw completion only for rows without thought/answer
    # (fetched below), the prompt only when the user turn is the prompt
    render_cols = [c for c in TEXT_COLS if c not in ("completion", "system_prompt", "reference_answer")
                   and (c != "prompt" or user_col == "prompt") and (c != "problem" or user_col == "problem")]
    kept_text = None

    def rendered(lf: pl.LazyFrame) -> pl.LazyFrame:
        """The assistant turn (`_asst`) and the bytes of its row id (`_hin`) of each trace polars
        can render byte for byte (`render_stages`; null = split_trace in Python), computed in the
        fetch query, so on polars' threads: the text never reaches Python as separate thought and
        answer (dropped where `_asst` replaces them), and no JSON escaping of it on the main thread.
        `_blank` marks traces whose text is only in the raw completion."""
        r, a = pl.col("reasoning"), pl.col("answer")
        blank = ~(r.str.contains(r"\S").fill_null(False) | a.str.contains(r"\S").fill_null(False))
        lf = lf.with_columns(blank.alias("_blank"))
        for stage in render_stages("reasoning", "answer", fmt=fmt):
            lf = lf.with_columns(stage)
        lf = lf.drop(pl.selectors.starts_with("_r_"))
        done = pl.col("_asst").is_not_null()
        hin = ([id_bytes_expr(pl.col(user_col), pl.col("_asst"), system=system, kind="shortcut").alias("_hin")]
               if (system is None or isinstance(system, str)) and user_col in lf.collect_schema().names() else [])
        return lf.with_columns(*hin, pl.when(done).then(None).otherwise(r).alias("reasoning"),
                               pl.when(done).then(None).otherwise(a).alias("answer"))

    shortcut = _as_frame([])
    early = None
    src_of: dict[str, int] = {}
    pid_of: dict[str, str | None] = {}
    if meta.height:
        if two_pass:
            from factory.curate.textpass import read_text

            meta, kept_text = read_text(sources, select_traces(meta, cfg, before_text=True)[0], cfg, columns=render_cols,
                                        seed=seed, derive=rendered)
            drops = drop_counts(meta)
            if kept_text is not None and kept_text.height:
                early = stack.enter_context(Retained(sources, kept_text))
        else:
            meta, drops = select_traces(meta, cfg)
        # (what the pick, the funnel and the mix read: a 1M-row frame's other columns are not copied)
        kept = meta.select("id", "problem_id", "src", "domain", "source", "teacher", "level", "difficulty_label",
                           "n_tokens").filter(meta["drop"].is_null())
        pp = cfg["per_problem"]
        chosen = per_problem(kept, pp["policy"], pp.get("k", 1), seed=seed)
        if early is not None and not (early.ids.len() == chosen.height and early.ids.sort().equals(chosen["id"].sort())):
            # the policy chose exactly the traces the text pass kept, by construction; were it
            # otherwise, the fetch below reads them
            early.close()
            early = None
        # (no text kept) the candidates' text is read from here on, in a worker thread, while the
        # funnel, the journey and the mix are worked out on the main thread (1M traces: ~0.3 s of
        # the fetch off the critical path). Every candidate is read: the mix takes most of them,
        # and each shard's pages are decompressed either way. When the candidates outnumber the
        # mix more than 2:1, only the mix's rows are read, after it.
        if early is None and chosen.height and isinstance(mix_size, int) and chosen.height <= 2 * mix_size:
            cand_by_src = {si: chosen.filter(pl.col("src") == si)["id"] for si in sorted(chosen["src"].unique().to_list())}
            early = stack.enter_context(ShardFetch(sources, cand_by_src, render_cols, derive=rendered, ahead=6))
        chosen_ids = chosen["id"].to_list()
        src_of = dict(zip(chosen_ids, chosen["src"].to_list()))
        pid_of = dict(zip(chosen_ids, chosen["problem_id"].to_list()))
        drops["per_problem_policy"] = kept.height - chosen.height
        funnel.update({"dropped": drops, "qualifying": kept.height, "after_per_problem": chosen.height,
                       "problems_with_traces": int(meta.select(pl.col("problem_id").n_unique()).item()),
                       "problems_qualifying": int(kept.select(pl.col("problem_id").n_unique()).item())})
        shortcut = chosen.select(
            pl.col("id").alias("key"), pl.lit("shortcut").alias("kind"), "domain", "source", "teacher",
            pl.col("level").cast(pl.Int32), pl.col("difficulty_label").alias("difficulty"), "n_tokens")
    if n_problems_given:
        funnel["problems_given"] = n_problems_given
    log(f"traces: {funnel['traces_in']} in, {shortcut.height} shortcut candidates "
        f"(dropped: {funnel.get('dropped', {})})")

    j_cands, j_report = _journey_candidates(meta, sources, cfg, seed=seed, fmt=fmt, checker=checker,
                                            rewrite=rewrite, reflect=reflect, log=log) if meta.height else ([], {})
    nr_cands, nr_report = _nonreasoning_candidates(sources, cfg, base=base)
    extra = {c["key"]: c for c in j_cands + nr_cands}
    cands = pl.concat([shortcut, _as_frame(j_cands + nr_cands)], how="vertical_relaxed")
    selected, alloc = allocate(cands, cfg["mix"]["buckets"], size=mix_size, seed=seed,
                               allow_short=cfg["mix"]["allow_short"])
    for w in alloc["warnings"]:
        log(f"WARNING: {w}")

    # the render builds a few Python objects per mix row (tuples, lists, strings) that live to the
    # end; none can form a cycle, yet the cyclic GC re-walks them all at each full collection
    # (1M traces, 50K rows: render 1.3 -> 1.1 s, split and table 0.41 -> 0.34 s). Paused to the
    # end of the run: re-enabled once the run's objects are freed, the first collection has none
    # left to walk (re-enabled while they lived, it walked them all: 0.05 s)
    stack.enter_context(gc_paused())
    # fetch and render: shortcut rows are rendered shard by shard as the fetch streams them in,
    # straight into column lists (MixRows): no dict per row, no row-wise Arrow conversion
    empty_think = (cfg.get("non_reasoning") or {}).get("empty_think", True)
    entries = selected.select("key", "kind", "difficulty", "repeat").rows()
    ids_by_src: dict[int, list[str]] = {}
    sft_by_src: dict[int, list[str]] = {}
    wanted: dict[str, list[int]] = {}
    for pos, (key, kind, _, _) in enumerate(entries):
        if kind == "shortcut" and key in src_of:
            if key not in wanted:
                ids_by_src.setdefault(src_of[key], []).append(key)
            wanted.setdefault(key, []).append(pos)
        elif key in extra and "sft" in extra[key]:
            si, rid = extra[key]["sft"]
            sft_by_src.setdefault(si, []).append(rid)
    if early is not None:  # the shards not read yet: the mix's rows only
        early.narrow(list(wanted))
    mix = MixRows(len(entries))
    found: set[str] = set()

    def shortcuts(t: dict[str, list[Any]]) -> None:
        """Render one fetched batch of traces (column lists) into the mix rows that use them."""
        n = len(t["id"])
        rows = []
        none = [None] * n
        for tid, comp, r, a, user, dom, src, pid, lang, lic, teacher, assistant, hin in zip(
                t["id"], t.get("completion") or none, t["reasoning"], t["answer"], t[user_col], t["domain"],
                t["source"], t["problem_id"], t["language"], t["license"], t["teacher"], t.get("_asst") or none,
                t.get("_hin") or t.get("_rid") or none):
            found.add(tid)
            if assistant is None:  # what polars does not render (render_stages), Python does
                reasoning, answer = split_trace(comp or "", r, a)
                if answer is None:  # the scan's vectorised rule and split_trace disagree: a bug, never a silent drop
                    raise DatasetError(f"trace {tid}: the scan found a final answer that split_trace cannot find",
                                       hint="report this trace; it can be excluded with --set budget.min_tokens=N")
                assistant = render_assistant(reasoning, answer, fmt=fmt)
            for pos in wanted[tid]:
                _, _, diff, rep = entries[pos]
                rows.append((pos, user, assistant, dom, src, tid, pid, lang, lic, teacher, diff, rep, hin))
        mix.put_many(rows, system=system, kind="shortcut")

    sft_rows = fetch(sources, sft_by_src, ["id", "messages", "trace_ids", "problem_id", "kind", "domain", "source",
                                           "language", "license", "meta"])
    for pos, (key, kind, diff, rep) in enumerate(entries):
        if kind == "shortcut" and key in src_of:  # rendered from the fetch below
            continue
        if kind == "journey":
            d = extra[key]["draft"]
            w, c = d.wrong, d.correct
            row = make_row(user=c["problem"] if o["user"] == "problem" else c["prompt"], assistant=d.content,
                           system=system, kind="journey", domain=c["domain"], source=c["source"],
                           trace_ids=[w["id"], c["id"]], problem_id=d.problem_id, language=c["language"],
                           license=c["license"], meta=journey_meta(d, diff=diff, cfg=cfg["journey"],
                                                                   rewritten=rewrite is not None), repeat=rep)
        elif "generated" in extra[key]:
            g = extra[key]["generated"]
            row = make_row(user=g["user"], assistant=render_assistant(g["reasoning"], g["answer"], fmt=fmt,
                                                                      empty_think=empty_think),
                           system=system, kind="non_reasoning", domain=g["domain"], source=g["source"], trace_ids=[],
                           problem_id=None, language=g["language"], license=g["license"], meta=g["meta"], repeat=rep)
            diff = _meta_field(row.get("meta"), "difficulty")
        else:
            si, rid = extra[key]["sft"]
            row = dict(sft_rows[rid])
            if rep:
                row["id"] = f"{row['id']}_r{rep}"
            row["kind"] = kind
            diff = _meta_field(row.get("meta"), "difficulty")  # an SFT row keeps the label in its meta
        mix.put_row(pos, row, difficulty=diff)

    # the train/validation split, worked out while the worker thread reads the traces: a row's
    # group is its problem (known for every shortcut row) or its own id (rendered above); the
    # split checks the groups are still these once every row is in (50K rows: 0.1 s off the end)
    fraction = o["validation_fraction"]
    groups = [_group(pid_of[key], "") if kind == "shortcut" and key in src_of else _group(pid, rid)
              for (key, kind, _, _), pid, rid in zip(entries, mix.cols["problem_id"], mix.cols["id"])]
    known = None
    if all(groups):  # (a shortcut row without a problem is grouped by its id, known after rendering)
        known = (set(groups), validation_groups(set(groups), fraction=fraction, seed=seed))
    raw: dict[int, list[str]] = {}
    fetched = early or stack.enter_context(ShardFetch(sources, ids_by_src, render_cols, derive=rendered))
    mixed = pl.Series(list(wanted), dtype=pl.String).implode()
    # a mix of shortcut rows only stays in columns to the end (ShortcutMix); the first shard with
    # a trace whose text is only in the raw completion (or without a user turn) sends them all
    # through MixRows
    columnar = (COLUMNAR and bool(entries) and sum(map(len, wanted.values())) == len(entries)
                and (system is None or isinstance(system, str)))
    frames: list[pl.DataFrame] = []
    if columnar:
        from factory.curate.shortcut_mix import ShortcutMix, with_ids
    for si, df in fetched:
        if early is not None:  # the candidates the mix did not take
            df = df.filter(pl.col("id").is_in(mixed))
        if columnar and not df["_blank"].any():
            done = with_ids(df.drop("_blank"), user=user_col, system=system, fmt=fmt)
            if done is not None:
                frames.append(done)
                continue
        if columnar:
            columnar = False
            for f in frames:  # (their ids are taken: `_rid`)
                shortcuts({c: f[c].to_list() for c in f.columns})
            frames = []
        if df["_blank"].any():  # only the raw completion holds these traces' text: read it for them alone
            raw.setdefault(si, []).extend(df.filter(pl.col("_blank"))["id"].to_list())
            df = df.filter(~pl.col("_blank"))
        shortcuts({c: df[c].to_list() for c in df.columns if c != "_blank"})
    if columnar:
        got = pl.concat(frames, how="diagonal_relaxed") if frames else None
        if got is not None:
            found = set(got["id"].to_list())
            mix = ShortcutMix(selected.select("key", "difficulty", "repeat"), got, user=user_col, system=system)
    if raw:
        rows_raw = fetch(sources, raw, TEXT_COLS)
        shortcuts({c: [r.get(c) for r in rows_raw.values()] for c in TEXT_COLS})
    if len(found) != len(wanted):
        missing = sorted(set(wanted) - found)[:3]
        raise DatasetError(f"{len(wanted) - len(found)} chosen trace(s) vanished between the scan and the fetch "
                           f"(e.g. {missing})", hint="an input folder changed during the run; re-run curate")
    train, val = mix.split(fraction=fraction, seed=seed, known=known)

    def writer(split: str) -> DatasetWriter:
        return DatasetWriter(out / split, "sft", mode="overwrite" if overwrite else "create", command=command,
                             params=params or {}, rows_per_shard=o["rows_per_shard"])

    # the train shards are encoded and compressed in a worker thread (pyarrow releases the
    # GIL) while the next rows' Arrow columns are built and then the reports counted (50K rows:
    # 0.2 s of writing, 0.2 s of building, 0.1 s of counting). The rows go to the writer one
    # row group at a time: it cuts the same row groups, so the same bytes.
    with writer("train") as w, ThreadPoolExecutor(max_workers=1) as pool:
        step = w.row_group_rows
        written = [pool.submit(w.write_table, mix.table(train[i:i + step])) for i in range(0, len(train), step)]
        report = {
            "funnel": funnel, "journey": j_report, "non_reasoning": nr_report, "mix": alloc,
            "train": mix.report(train), "validation": mix.report(val), "warnings": alloc["warnings"],
        }
        val_table = mix.table(val) if val else None
        # the rows' Python objects are freed now, while the worker compresses the last shard
        # (freed at the return, they took ~0.05 s of their own)
        mix = entries = wanted = found = groups = src_of = pid_of = chosen_ids = extra = None  # type: ignore[assignment]
        for f in written:
            f.result()
        w.stats.update({"split": "train", **report})
    with writer("validation") as w:
        if val_table is not None:
            w.write_table(val_table)
        w.stats.update({"split": "validation", **report})
    atomic_write_text(out / "curate_report.json", json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
    return report


def print_report(report: dict[str, Any], log: Callable[[str], None] = print) -> None:
    f = report["funnel"]
    log(f"funnel: {f.get('traces_in', 0)} traces in -> {f.get('qualifying', 0)} qualifying -> "
        f"{f.get('after_per_problem', 0)} after per-problem policy")
    for name, n in (f.get("dropped") or {}).items():
        log(f"  dropped {name}: {n}")
    for b in report["mix"]["buckets"]:
        log(f"bucket {b['name']}: quota {b['quota']}, available {b['available']}, taken {b['taken']}"
            + (f", upsampled {b['upsampled']}" if b.get("upsampled") else ""))
    for split in ("train", "validation"):
        r = report[split]
        log(f"{split}: {r['rows']} rows; kind {r['by_kind']}; domain {r['by_domain']}; difficulty {r['by_difficulty']}; "
            f"assistant tokens (est.) {r['assistant_tokens_est']}")
    for w in report["warnings"]:
        log(f"WARNING: {w}")


__all__ = ["curate", "per_problem", "print_report", "resolve_sources", "scan_traces", "select_traces"]


def make_rewrite(journey: dict[str, Any] | None):
    """The fluency-rewrite hook a spec asks for (`journey.rewrite`), or None. The teacher is built
    by generate's backend factory (same backends and options as `factory generate`): greedy,
    one sample per chain."""
    spec = (journey or {}).get("rewrite")
    if not spec:
        return None
    from factory.curate.journey import REWRITE_PROMPT, rewrite_with_teacher
    from factory.generate.core import make_teacher
    from factory.generate.options import GenerateOptions

    max_tokens = spec.get("max_tokens", 16384)
    # a teacher only: no problem folder is read and no trace folder written (the names are placeholders)
    opts = GenerateOptions(teacher=spec["teacher"], backend=spec.get("backend", "transformers"), problems="unused", out="unused",
                           n=1, temperature=0.0, top_p=1.0, max_tokens=max_tokens, seed=0,
                           base_url=spec.get("base_url"), api_key_env=spec.get("api_key_env", "OPENAI_API_KEY"))
    opts.check()
    return rewrite_with_teacher(make_teacher(opts), prompt=spec.get("prompt") or REWRITE_PROMPT, max_tokens=max_tokens)


def run(opts: Any, ctx: Any) -> dict[str, Any]:
    """The curate stage (`factory curate` and a recipe's `curate:` section)."""
    from factory.recipes.curate_spec import curate_config

    cfg = curate_config(opts.spec())
    seed = opts.seed if opts.seed is not None else (opts.recipe_seed() if opts.recipe else None)
    seed = seed if seed is not None else (ctx.seed if ctx.seed is not None else 0)
    report = curate(cfg, seed=seed, out=Path(opts.out), base=ctx.run_dir or Path.cwd(), overwrite=ctx.mode != "create",
                    inputs={"traces": [Path(p) for p in opts.traces], "problems": [Path(p) for p in opts.problems],
                            "sft": [Path(p) for p in opts.sft]},
                    rewrite=make_rewrite(cfg.get("journey")), command=ctx.command or "factory curate", log=ctx.log,
                    params={"recipe": opts.recipe, "seed": seed})
    if not ctx.progress:
        print_report(report, ctx.log)
    return {"out": str(opts.out), "train_rows": report["train"]["rows"], "validation_rows": report["validation"]["rows"],
            "by_kind": report["train"]["by_kind"], "warnings": report["warnings"], "report": report}
