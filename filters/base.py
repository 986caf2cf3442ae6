"""The filter protocol and the pure batch engine that applies a chain of filters.

A filter has a `name`, the input `columns` it needs, a vectorised `score(batch)` that returns
new columns for the batch (named `score_<name>`, `verdict_<name>`, optionally more
`score_<name>_<detail>` columns), and `keep(scores)`, a boolean mask (True = keep) computed from
those columns alone — "score, then decide": thresholds can change without re-scoring.

`apply_chain` runs a chain over one batch: every filter scores every row (so the funnel can
show what each filter would reject), rows are kept only if every filter keeps them, and a
rejected row's `reject_reason` names the FIRST filter in chain order that rejected it and its
verdict, e.g. `math:wrong`. The folder runner (factory.score.runner) streams batches through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import polars as pl


@runtime_checkable
class Filter(Protocol):
    name: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Return a frame with the same row count holding score_/verdict_ columns."""
        ...

    def keep(self, scores: pl.DataFrame) -> pl.Series:
        """Boolean mask from the score columns (True = keep)."""
        ...


@dataclass
class Funnel:
    """Counts per filter and per domain. `steps` keeps chain order: rows in, rows out of each
    filter applied in sequence; `rejected_by[filter][verdict]` counts first-rejection reasons."""

    rows_in: int = 0
    rows_out: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)
    rejected_by: dict[str, dict[str, int]] = field(default_factory=dict)
    by_domain: dict[str, dict[str, int]] = field(default_factory=dict)

    def merge(self, other: Funnel) -> None:
        self.rows_in += other.rows_in
        self.rows_out += other.rows_out
        if not self.steps:
            self.steps = [dict(s) for s in other.steps]
        else:
            for mine, theirs in zip(self.steps, other.steps):
                for k in ("in", "out"):
                    mine[k] += theirs[k]
                for dom, (a, b) in theirs.get("by_domain", {}).items():
                    cur = mine.setdefault("by_domain", {}).setdefault(dom, [0, 0])
                    cur[0] += a
                    cur[1] += b
        for f, verdicts in other.rejected_by.items():
            mine_v = self.rejected_by.setdefault(f, {})
            for v, n in verdicts.items():
                mine_v[v] = mine_v.get(v, 0) + n
        for dom, counts in other.by_domain.items():
            cur = self.by_domain.setdefault(dom, {"in": 0, "out": 0})
            cur["in"] += counts["in"]
            cur["out"] += counts["out"]

    def to_json(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "steps": self.steps,
            "rejected_by": self.rejected_by,
            "by_domain": self.by_domain,
        }


def apply_chain(filters: list[Filter], batch: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, Funnel]:
    """Score `batch` with every filter; return (kept rows, rejected rows with reject_reason, funnel)."""
    funnel = Funnel(rows_in=batch.height)
    domain = batch.get_column("domain") if "domain" in batch.columns else pl.Series("domain", ["?"] * batch.height)
    alive = pl.Series("alive", [True] * batch.height)
    reason = pl.Series("reject_reason", [None] * batch.height, dtype=pl.String)
    out = batch
    for f in filters:
        missing = [c for c in f.columns if c not in out.columns]
        if missing:
            from factory.schemas.errors import SchemaError

            raise SchemaError(f"filter '{f.name}' needs column(s) {missing}, the batch has {out.columns}")
        scores = f.score(out)
        if scores.height != out.height:
            raise RuntimeError(f"filter {f.name} returned {scores.height} rows for {out.height}")
        out = out.with_columns(scores.get_columns())
        mask = f.keep(scores).fill_null(False).alias("keep")
        newly = alive & ~mask
        verdict_col = f"verdict_{f.name}"
        verdicts = scores.get_column(verdict_col) if verdict_col in scores.columns else pl.Series([None] * out.height, dtype=pl.String)
        reason_new = pl.concat_str([pl.lit(f.name + ":"), verdicts.cast(pl.String).fill_null("rejected")], separator="")
        reason = pl.select(pl.when(newly).then(reason_new).otherwise(reason)).to_series().alias("reject_reason")
        step_in = int(alive.sum())
        alive = alive & mask
        step = {"filter": f.name, "in": step_in, "out": int(alive.sum()), "by_domain": {}}
        frame = pl.DataFrame({"domain": domain, "was": alive | newly, "now": alive})
        for row in frame.group_by("domain").agg(pl.col("was").sum(), pl.col("now").sum()).iter_rows():
            step["by_domain"][str(row[0])] = [int(row[1]), int(row[2])]
        funnel.steps.append(step)
        counts = pl.DataFrame({"v": verdicts.cast(pl.String).fill_null("rejected"), "n": newly}).filter(pl.col("n"))
        rb = funnel.rejected_by.setdefault(f.name, {})
        for v, n in counts.group_by("v").len().iter_rows():
            rb[v] = rb.get(v, 0) + int(n)
    out = out.with_columns(reason)
    funnel.rows_out = int(alive.sum())
    frame = pl.DataFrame({"domain": domain, "alive": alive})
    for dom, n_in, n_out in frame.group_by("domain").agg(pl.len(), pl.col("alive").sum()).iter_rows():
        funnel.by_domain[str(dom)] = {"in": int(n_in), "out": int(n_out)}
    kept = out.filter(alive).drop("reject_reason")
    rejected = out.filter(~alive)
    return kept, rejected, funnel
