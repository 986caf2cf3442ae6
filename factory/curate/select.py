"""Which traces `factory curate` keeps, and why the others are dropped: the select rules'
checks (the first a trace fails names its drop), pass rates and difficulty labels, the
per-problem policies, and the facts of a trace's text those checks read (`FACTS`, `n_tokens`).
Used by `factory.curate.core` (the run) and `factory.curate.textpass` (the text read once).

Exercise: `factory curate --recipe sky-t1-17k --traces DIR -o OUT`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from factory.curate.sft import seeded_hashes, trace_facts

# what the scan derives from a trace's text (factory.curate.sft.trace_facts_staged)
FACTS = ("has_final", "est_tokens", "reasoning_tokens", "solution_tokens")
# the per-problem policies whose pick over a union of traces is the pick over the parts' picks
# (the first k of an order of a problem's traces: length then id, or a seeded hash of the id):
# factory.curate.textpass keeps each shard's pick while it reads the text once
ORDERED_POLICIES = ("shortest-correct", "longest-correct", "k-per-problem")
DEFAULT_PASS_BINS = [
    {"name": "hard", "pass_rate": {"le": 0.25}},
    {"name": "medium", "pass_rate": {"lt": 0.75}},
    {"name": "easy", "pass_rate": {"le": 1.0}},
]


def n_tokens(count_mode: str) -> pl.Expr:
    """The length the budget and the per-problem policies compare: the teacher's own token count
    where the recipe asks for it and the trace has one, else the estimate from the text."""
    if count_mode == "completion_tokens":
        return pl.coalesce(pl.col("completion_tokens"), pl.col("est_tokens")).alias("n_tokens")
    return pl.col("est_tokens").alias("n_tokens")


def raw_facts(df: pl.DataFrame, lf: pl.LazyFrame, at: pl.Series) -> pl.DataFrame:
    """FACTS of the rows `at` of `df` (rows with no thought and no answer column: rare, traces
    written by hand or by an older tool) from their raw completion, parsed by the same rules in
    Python. `lf` holds the rows' folder with a `_pos` index and `df` their `_pos`, or `df` is
    the whole folder in order."""
    pos = df["_pos"].gather(at) if "_pos" in df.columns else at
    comp = lf.filter(pl.col("_pos").is_in(pos.implode())).select("_pos", "completion").collect()
    text = dict(zip(comp["_pos"].to_list(), comp["completion"].to_list()))
    parsed = [trace_facts(text[p], None, None) for p in pos.to_list()]
    return df.with_columns(df[k].scatter(at, [p[i] for p in parsed]) for i, k in enumerate(FACTS))


def _values_expr(col: str, values: list[Any], schema: pl.Schema | None = None) -> pl.Expr:
    """`col` holds one of `values` (compared as strings: `true` matches a boolean column's True).
    Categorical and string columns are compared as they are (no cast: 1M rows cost nothing)."""
    strs = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    dtype = schema.get(col) if schema is not None else None
    if dtype is not None and (dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))):
        return pl.col(col).is_in(strs).fill_null(False)
    return pl.col(col).cast(pl.String).is_in(strs).fill_null(False)


def _bounds_expr(e: pl.Expr, b: dict[str, float] | None) -> pl.Expr:
    if not b:
        return pl.lit(True)
    out = pl.lit(True)
    if "gt" in b:
        out = out & (e > b["gt"])
    if "ge" in b:
        out = out & (e >= b["ge"])
    if "lt" in b:
        out = out & (e < b["lt"])
    if "le" in b:
        out = out & (e <= b["le"])
    return out.fill_null(False)


def _criterion(crit: dict[str, list[Any]] | None, schema: pl.Schema | None = None) -> pl.Expr:
    e = pl.lit(True)
    for col, vals in (crit or {}).items():
        e = e & _values_expr(col, vals, schema)
    return e


def _rule_for_domain(cfg: dict[str, Any]) -> pl.Expr:
    """The select-rule key each row uses: its domain's rule, else `all`, else null."""
    rules = cfg["select"]
    e = pl.lit("all" if "all" in rules else None, dtype=pl.String)
    for d in rules:
        if d != "all":
            e = pl.when(pl.col("domain") == d).then(pl.lit(d)).otherwise(e)
    return e


def _by_rule(cfg: dict[str, Any], build: Callable[[dict[str, Any]], pl.Expr], default: pl.Expr) -> pl.Expr:
    e = default
    for key, rule in cfg["select"].items():
        e = pl.when(pl.col("_rule") == key).then(build(rule)).otherwise(e)
    return e


def difficulty_labels(meta: pl.LazyFrame, cfg: dict[str, Any]) -> pl.LazyFrame:
    d = cfg["difficulty"]
    src = d["from"]
    bins = d.get("bins")
    if src == "none":
        return meta.with_columns(pl.lit(None, dtype=pl.String).alias("difficulty_label"))
    if src == "metadata":
        return meta.with_columns(pl.col("difficulty").cast(pl.String).alias("difficulty_label"))
    if src == "pass_rate":
        bins = bins or DEFAULT_PASS_BINS
    if bins:
        e = pl.lit(None, dtype=pl.String)
        for b in reversed(bins):
            cond = pl.lit(True)
            if b.get("pass_rate"):
                cond = cond & _bounds_expr(pl.col("pass_rate"), b["pass_rate"])
            if b.get("level"):
                cond = cond & _bounds_expr(pl.col("level"), b["level"])
            e = pl.when(cond).then(pl.lit(b["name"])).otherwise(e)
        return meta.with_columns(e.alias("difficulty_label"))
    # level without bins: "level-5", falling back to the difficulty column
    return meta.with_columns(
        pl.when(pl.col("level").is_not_null()).then(pl.lit("level-") + pl.col("level").cast(pl.String))
        .otherwise(pl.col("difficulty").cast(pl.String)).alias("difficulty_label"))


# not quality checks for journey traces: who wrote it, how hard the problem is, and whether it
# reached a final answer (a wrong attempt may stop at its boxed conclusion inside the thought)
NOT_QUALITY = {"teacher_not_selected", "source_not_selected", "pass_rate_out_of_bounds", "no_final_answer"}
# the checks that read the scan's facts of a trace's text (FACTS, and n_tokens made from them);
# in `_checks`' order every other check but no_tests comes before the first of them
TEXT_CHECKS = frozenset({"no_final_answer", "reasoning_too_short", "solution_too_short", "over_token_budget",
                         "under_token_budget"})


def _checks(rule: dict[str, Any], budget: dict[str, Any], schema: pl.Schema) -> list[tuple[str, pl.Expr]]:
    """A select rule's checks, in the order that names a dropped trace's reason (its first failed
    check): (name, expression true where the trace passes)."""
    checks: list[tuple[str, pl.Expr]] = []
    if rule.get("teachers"):
        checks.append(("teacher_not_selected", pl.col("teacher").is_in(rule["teachers"]).fill_null(False)))
    if rule.get("sources"):
        checks.append(("source_not_selected", pl.col("source").is_in(rule["sources"]).fill_null(False)))
    if rule.get("finish_reasons"):
        checks.append(("finish_reason", pl.col("finish_reason").is_in(rule["finish_reasons"]).fill_null(False)))
    for col, vals in (rule.get("correct") or {}).items():
        checks.append((f"not_correct:{col}", _values_expr(col, vals, schema)))
    for col, vals in (rule.get("where") or {}).items():
        checks.append((f"where:{col}", _values_expr(col, vals, schema)))
    for col, b in (rule.get("scores") or {}).items():
        checks.append((f"score:{col}", _bounds_expr(pl.col(col).cast(pl.Float64, strict=False), b)))
    if rule.get("level"):
        # rows without a level pass: competition sets such as AIME carry none
        checks.append(("level_out_of_bounds",
                       pl.col("level").is_null() | _bounds_expr(pl.col("level"), rule["level"])))
    if rule.get("difficulty"):
        checks.append(("difficulty_not_selected", pl.col("difficulty_label").is_in(rule["difficulty"]).fill_null(False)))
    if rule.get("pass_rate"):
        checks.append(("pass_rate_out_of_bounds", _bounds_expr(pl.col("pass_rate"), rule["pass_rate"])))
    if rule.get("require_answer", True):
        checks.append(("no_final_answer", pl.col("has_final")))
    if rule.get("require_tests"):
        checks.append(("no_tests", pl.col("has_tests")))
    if rule.get("min_reasoning_tokens"):
        # long-CoT recipes: a thought block of at least this length (a reasoning teacher's
        # output; a short CoT has none)
        checks.append(("reasoning_too_short", pl.col("reasoning_tokens") >= rule["min_reasoning_tokens"]))
    if rule.get("min_solution_tokens"):
        # the solution section after the thought is a worked solution, not a bare \boxed{}
        checks.append(("solution_too_short", pl.col("solution_tokens") >= rule["min_solution_tokens"]))
    if budget.get("max_tokens"):
        checks.append(("over_token_budget", pl.col("n_tokens") <= budget["max_tokens"]))
    if budget.get("min_tokens"):
        checks.append(("under_token_budget", pl.col("n_tokens") >= budget["min_tokens"]))
    return checks


def _text_index(checks: list[tuple[str, pl.Expr]]) -> int:
    """Where the checks that read a trace's text begin: every check before it reads small
    columns only (the two-pass scan decides those first)."""
    return next((i for i, (name, _) in enumerate(checks) if name in TEXT_CHECKS), len(checks))


def text_drop(cfg: dict[str, Any], schema: pl.Schema) -> pl.Expr:
    """For a trace `select_traces(..., before_text=True)` kept: the first check of its rule
    (`_rule`) from the first text check on that it fails, null = kept. With the drop before
    the text checks, this is `select_traces`' drop of every trace."""
    def first_failed(rule: dict[str, Any]) -> pl.Expr:
        checks = _checks(rule, cfg["budget"], schema)
        e = pl.lit(None, dtype=pl.String)
        for name, ok in reversed(checks[_text_index(checks):]):
            e = pl.when(~ok.fill_null(False)).then(pl.lit(name)).otherwise(e)
        return e

    return _by_rule(cfg, first_failed, pl.lit(None, dtype=pl.String))


def select_traces(meta: pl.DataFrame, cfg: dict[str, Any], *, before_text: bool = False) -> tuple[pl.DataFrame, dict[str, int]]:
    """Adds _rule, is_correct, pass_rate, n_samples, difficulty_label and `drop` (the first
    failed check's name, null = kept) to the metadata frame. One lazy query: polars runs the
    steps' independent parts side by side (1M traces: 0.20 -> 0.16 s). `before_text`: only the
    checks before the first that reads the text's facts (TEXT_CHECKS): null = the trace may be
    kept, once its text is read (the facts are not read at all)."""
    lf = meta.lazy().with_columns(_rule_for_domain(cfg).cast(pl.Categorical).alias("_rule"))
    lf = lf.with_columns(_by_rule(cfg, lambda r: _criterion(r.get("correct"), meta.schema), pl.lit(False)).alias("is_correct"))
    d = cfg["difficulty"]
    # pass rate = mean correctness over the problem's samples (only the named teachers' when
    # given); window expressions, not a join, so the 1M-row frame is never copied
    sample = pl.col("is_correct").cast(pl.Float64)
    if d.get("teachers"):
        sample = pl.when(pl.col("teacher").cast(pl.String).is_in(d["teachers"])).then(sample).otherwise(None)
    lf = lf.with_columns(sample.mean().over("problem_id").alias("pass_rate"),
                         sample.count().over("problem_id").cast(pl.Int64).alias("n_samples"))
    lf = lf.with_columns(
        pl.when(pl.col("n_samples") >= d.get("min_samples", 1)).then(pl.col("pass_rate")).otherwise(None).alias("pass_rate"))
    lf = difficulty_labels(lf, cfg)
    budget = cfg["budget"]
    schema = lf.collect_schema()

    def reason(rule: dict[str, Any], *, quality_only: bool = False) -> pl.Expr:
        checks = _checks(rule, budget, schema)
        if before_text:
            checks = checks[:_text_index(checks)]
        if quality_only:
            checks = [(n, ok) for n, ok in checks if n not in NOT_QUALITY and not n.startswith("not_correct:")]
        # the first failed check as a small integer code, named once at the end: string
        # literals in when/then would build a 1M-row string column per check
        e = pl.lit(None, dtype=pl.UInt16)
        for name, ok in reversed(checks):
            e = pl.when(~ok.fill_null(False)).then(pl.lit(code(name), dtype=pl.UInt16)).otherwise(e)
        return e

    names: list[str] = []

    def code(name: str) -> int:
        if name not in names:
            names.append(name)
        return names.index(name)

    def named(e: pl.Expr) -> pl.Expr:
        return e.replace_strict(list(range(len(names))), names, default=None, return_dtype=pl.Categorical)

    no_rule = pl.lit(code("no_select_rule_for_domain"), dtype=pl.UInt16)
    lf = lf.with_columns(_by_rule(cfg, reason, no_rule).alias("drop"))
    if cfg.get("journey"):
        # journey traces (wrong ones included) must pass the same quality checks, whatever
        # their correctness, teacher or the problem's pass rate
        lf = lf.with_columns(_by_rule(cfg, lambda r: reason(r, quality_only=True), no_rule).alias("drop_quality"))
    meta = lf.with_columns(named(pl.col("drop")).alias("drop"),
                           *([named(pl.col("drop_quality")).alias("drop_quality")] if cfg.get("journey") else [])).collect()
    return meta, drop_counts(meta)


def drop_counts(meta: pl.DataFrame) -> dict[str, int]:
    """How many traces each check dropped (the funnel's `dropped`)."""
    # (the categorical column's own counts: 1M traces 0.01 s, not 0.03-0.08 s through a filter and
    # string keys; sorted by name as before: code point order is UTF-8 byte order)
    return dict(sorted((str(k), int(n)) for k, n in meta["drop"].value_counts().iter_rows() if k is not None))


def _hash_col(frame: pl.DataFrame, *parts: Any, col: str = "id") -> pl.Series:
    return pl.Series("_h", seeded_hashes(parts, frame[col].to_list()), dtype=pl.String)


def per_problem(kept: pl.DataFrame, policy: str, k: int, *, seed: int) -> pl.DataFrame:
    """Which of a problem's qualifying traces become examples."""
    if kept.height == 0 or policy == "all-correct":
        return kept
    if policy == "k-per-problem":
        kept = kept.with_columns(_hash_col(kept, seed, "per-problem")).sort(["problem_id", "_h"])
        return kept.filter(pl.int_range(pl.len()).over("problem_id") < k).drop("_h")
    desc = policy == "longest-correct"
    if policy in ("shortest-correct", "longest-correct") and not kept.select(
            pl.any_horizontal(pl.col("n_tokens", "id").is_null().any())).item():
        # the first row of the sort below, without sorting every qualifying trace: the problem's
        # shortest (longest) length, then the smallest id among those (ids are unique), sorted by
        # problem (500K qualifying traces: 0.20 -> 0.10 CPU s)
        n = pl.col("n_tokens")
        kept = kept.filter(n == (n.max() if desc else n.min()).over("problem_id"))
        return kept.filter(pl.col("id") == pl.col("id").min().over("problem_id")).sort("problem_id")
    kept = kept.sort(["problem_id", "n_tokens", "id"], descending=[False, desc, False])
    rank = pl.int_range(pl.len()).over("problem_id")
    if policy in ("shortest-correct", "longest-correct"):
        return kept.filter(rank == 0)
    # diverse: k traces spread evenly over the problem's length range (shortest, longest, between)
    m = pl.len().over("problem_id")
    keep = pl.lit(False)
    for i in range(k):
        pos = ((m - 1) * i / max(k - 1, 1)).round(0).cast(pl.Int64) if k > 1 else pl.lit(0, dtype=pl.Int64)
        keep = keep | (rank == pos)
    return kept.filter(keep)
