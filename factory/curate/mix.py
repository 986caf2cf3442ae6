"""The mix engine: turn a table of candidate examples into an exact, seeded mix.

A mix is a list of buckets (`curate.mix.buckets`), each with a `match` (kind/domain/source/
difficulty/teacher/level values) and a quota: a `count`, or a `fraction` of `mix.size`.
Fractions become counts by the largest-remainder method, so the counts always add up to
exactly round(sum(fractions) * size) — 0.75/0.25 of 40 is 30/10, never 31/10. Each candidate
joins the FIRST bucket it matches. Inside a bucket candidates are ordered by a seeded content
hash (or longest/shortest first), then the first `quota` are taken (down-sampling); a bucket
with `upsample: true` repeats its candidates in that same order until the quota is met.
`balance: domain` splits a bucket's quota evenly across the values of that column (water
filling: a value with too few candidates gives its share to the others).

A quota that cannot be met is an error listing every short bucket with how many candidates it
had; `allow_short: true` turns it into a loud warning recorded in the report — never a silent
short mix. `size: auto` picks the largest size every fraction bucket can fill.

Exercise: `factory curate --recipe r1-800k --traces DIR --out OUT --size 40`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl

from factory.curate.sft import seeded_hashes
from factory.schemas.errors import FactoryError


class QuotaError(FactoryError):
    """One or more mix quotas cannot be met with the candidates available."""


@dataclass
class Bucket:
    name: str
    match: dict[str, list[Any]]
    count: int | None = None
    fraction: float | None = None
    upsample: bool = False
    balance: str | None = None
    prefer: str = "random"

    @classmethod
    def from_config(cls, b: dict[str, Any]) -> Bucket:
        return cls(name=b["name"], match=b.get("match") or {}, count=b.get("count"), fraction=b.get("fraction"),
                   upsample=bool(b.get("upsample")), balance=b.get("balance"), prefer=b.get("prefer") or "random")


def largest_remainder(weights: list[float], total: int) -> list[int]:
    """Integers proportional to weights that add up to exactly `total` (ties: earlier first)."""
    s = sum(weights)
    if total <= 0 or s <= 0:
        return [0] * len(weights)
    raw = [w / s * total for w in weights]
    base = [math.floor(x) for x in raw]
    left = total - sum(base)
    order = sorted(range(len(weights)), key=lambda i: (-(raw[i] - base[i]), i))
    for i in order[:left]:
        base[i] += 1
    return base


def quotas(buckets: list[Bucket], size: int | None) -> list[int]:
    """Count per bucket. Fraction buckets share round(sum(fractions) * size)."""
    fr = [(i, b.fraction) for i, b in enumerate(buckets) if b.fraction is not None]
    out = [b.count if b.count is not None else 0 for b in buckets]
    if fr:
        if size is None:
            raise QuotaError("mix.size: expected an integer when a bucket has a fraction, found nothing",
                             hint="set curate.mix.size, pass --size N, or use size: auto")
        total_f = sum(f for _, f in fr)
        target = int(round(total_f * size))
        for (i, _), q in zip(fr, largest_remainder([f for _, f in fr], target)):
            out[i] = q
    return out


def auto_size(buckets: list[Bucket], available: list[int]) -> int:
    """The largest size whose fraction quotas every non-upsampled bucket can fill."""
    limits = [available[i] / b.fraction for i, b in enumerate(buckets)
              if b.fraction and not b.upsample]
    if not limits:
        raise QuotaError("mix.size: 'auto' needs at least one bucket with a fraction and no upsampling",
                         hint="set curate.mix.size to an integer")
    n = int(math.floor(min(limits) + 1e-9))
    while n > 0:
        q = quotas(buckets, n)
        if all(b.upsample or q[i] <= available[i] for i, b in enumerate(buckets)):
            return n
        n -= 1
    return 0


def bucket_of(cands: pl.DataFrame, buckets: list[Bucket]) -> pl.Series:
    """Index of the first bucket each candidate matches (null: none)."""
    expr = pl.lit(None, dtype=pl.Int32)
    for i in reversed(range(len(buckets))):
        cond = pl.lit(True)
        for col, values in buckets[i].match.items():
            col_expr = pl.col(col).cast(pl.String) if col == "level" else pl.col(col)
            vals = [str(v) for v in values] if col == "level" else values
            cond = cond & col_expr.is_in(vals).fill_null(False)
        expr = pl.when(cond).then(pl.lit(i, dtype=pl.Int32)).otherwise(expr)
    return cands.with_columns(expr.alias("bucket"))["bucket"]


def water_fill(quota: int, available: dict[str, int]) -> dict[str, int]:
    """Split `quota` as evenly as possible across groups, none taking more than it has."""
    take = {g: 0 for g in available}
    left = quota
    open_groups = sorted(available)
    while left > 0 and open_groups:
        share = max(1, left // len(open_groups))
        progressed = False
        for g in list(open_groups):
            if left == 0:
                break
            t = min(share, available[g] - take[g], left)
            if t > 0:
                take[g] += t
                left -= t
                progressed = True
            if take[g] >= available[g]:
                open_groups.remove(g)
        if not progressed:
            break
    return take


def _ordered(frame: pl.DataFrame, *, seed: int, bucket: Bucket) -> pl.DataFrame:
    h = seeded_hashes((seed, "mix", bucket.name), frame["key"].to_list())
    frame = frame.with_columns(pl.Series("_h", h, dtype=pl.String))
    if bucket.prefer == "longest":
        return frame.sort(["n_tokens", "_h"], descending=[True, False])
    if bucket.prefer == "shortest":
        return frame.sort(["n_tokens", "_h"])
    return frame.sort("_h")


def _take(frame: pl.DataFrame, n: int, *, upsample: bool) -> pl.DataFrame:
    avail = frame.height
    if n <= avail:
        return frame.head(n).with_columns(pl.lit(0, dtype=pl.Int32).alias("repeat"))
    if not upsample or avail == 0:
        return frame.with_columns(pl.lit(0, dtype=pl.Int32).alias("repeat"))
    parts = []
    for r in range(n // avail):
        parts.append(frame.with_columns(pl.lit(r, dtype=pl.Int32).alias("repeat")))
    rest = n % avail
    if rest:
        parts.append(frame.head(rest).with_columns(pl.lit(n // avail, dtype=pl.Int32).alias("repeat")))
    return pl.concat(parts)


def allocate(
    cands: pl.DataFrame,
    bucket_cfgs: list[dict[str, Any]],
    *,
    size: int | str | None,
    seed: int,
    allow_short: bool,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Select the mix. `cands` needs columns key, kind, domain, source, difficulty, teacher,
    level, n_tokens. Returns (selected rows with bucket, repeat; report)."""
    buckets = [Bucket.from_config(b) for b in bucket_cfgs]
    cands = cands.with_columns(bucket_of(cands, buckets))
    available = [int(cands.filter(pl.col("bucket") == i).height) for i in range(len(buckets))]
    size_used: int | None
    if size == "auto":
        size_used = auto_size(buckets, available)
    else:
        size_used = size if isinstance(size, int) else None
    q = quotas(buckets, size_used)
    report: dict[str, Any] = {"size": size_used, "buckets": [], "warnings": [],
                              "unmatched_candidates": int(cands.filter(pl.col("bucket").is_null()).height)}
    shortfalls: list[str] = []
    chosen = []
    for i, b in enumerate(buckets):
        frame = cands.filter(pl.col("bucket") == i)
        entry: dict[str, Any] = {"name": b.name, "quota": q[i], "available": available[i], "upsampled": 0}
        if b.balance:
            groups = frame.group_by(b.balance).len().sort(b.balance)
            avail_g = {str(g): int(n) for g, n in zip(groups[b.balance].to_list(), groups["len"].to_list())}
            take_g = water_fill(q[i], avail_g) if not b.upsample else {
                g: n for g, n in zip(sorted(avail_g), largest_remainder([1.0] * len(avail_g), q[i]))}
            entry["by_" + b.balance] = {g: {"available": avail_g[g], "taken": take_g.get(g, 0)} for g in sorted(avail_g)}
            parts = [_take(_ordered(frame.filter(pl.col(b.balance).cast(pl.String) == g), seed=seed, bucket=b),
                           take_g[g], upsample=b.upsample) for g in sorted(take_g) if take_g[g]]
            picked = pl.concat(parts) if parts else frame.head(0).with_columns(pl.lit(0, dtype=pl.Int32).alias("repeat"))
        else:
            picked = _take(_ordered(frame, seed=seed, bucket=b), q[i], upsample=b.upsample)
        entry["taken"] = int(picked.height)
        entry["upsampled"] = int(picked.filter(pl.col("repeat") > 0).height)
        if picked.height < q[i]:
            msg = (f"mix bucket '{b.name}': quota {q[i]} but only {available[i]} candidate(s) available"
                   + (" (upsampling cannot fill an empty bucket)" if b.upsample else ""))
            shortfalls.append(msg)
            entry["short_by"] = q[i] - picked.height
        report["buckets"].append(entry)
        if "_h" in picked.columns:
            picked = picked.drop("_h")
        chosen.append(picked.with_columns(pl.lit(i, dtype=pl.Int32).alias("bucket")))
    if shortfalls:
        if not allow_short:
            raise QuotaError(
                "the mix cannot be filled:\n" + "\n".join(f"  - {s}" for s in shortfalls),
                hint="lower curate.mix.size (--size), add inputs, set upsample: true on the bucket, "
                     "or set curate.mix.allow_short=true to accept a short mix (recorded as a warning)",
            )
        report["warnings"].extend(f"SHORT MIX: {s}" for s in shortfalls)
    selected = pl.concat(chosen, how="diagonal_relaxed") if chosen else cands.head(0)
    report["rows"] = int(selected.height)
    return selected, report
