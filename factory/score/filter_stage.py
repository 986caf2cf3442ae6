"""The `filter` recipe stage (and the shared engine of the `verify` stage): the same work as
`factory filter` / `factory verify`, driven by a recipe section.

    filter:
      input: verified              # trace dataset folder, relative to the run folder
      out: filtered                # kept rows; rejected rows go to <out>/rejected/
      filters: [format, readability, language]   # optional; any registered filter names
      options:                     # optional: keyword options per filter (constructor knobs)
        language: {threshold: 0.95}
        format: {max_tokens: 16384}
      executor: local              # optional: local | ray
      workers: 1                   # optional: worker processes (local) or Ray actors (ray)
      batch_rows: 1000             # optional

The funnel (in -> out per filter and per domain, first-rejection reasons) is logged as a table
and returned in the stage summary. Re-running on an unchanged input with the same chain is a
no-op (the output manifest records a fingerprint of both).

Exercise: `factory run quickstart --out runs/quickstart`.
"""

from __future__ import annotations

import io
from typing import Any

from factory.pipeline.legacy import StageContext, folder_keys, unknown_keys

DEFAULT_FILTERS = ("format", "readability", "language")
KEYS = {"input", "out", "filters", "options", "executor", "workers", "batch_rows"}


def validate_section(section: dict[str, Any], path: str, *, default_filters: tuple[str, ...]) -> list[str]:
    from factory.filters.registry import FILTERS
    from factory.schemas.errors import FactoryError
    from factory.score.runner import filter_specs

    problems: list[str] = unknown_keys(section, path, KEYS)
    problems += folder_keys(section, path)
    names = section.get("filters", list(default_filters))
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        problems.append(f"{path}.filters: expected a non-empty list of filter names, found {names!r}")
        names = []
    for i, n in enumerate(names):
        if n not in FILTERS:
            problems.append(f"{path}.filters[{i}]: expected one of {sorted(FILTERS)}, found {n!r}")
    options = section.get("options", {})
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        problems.append(f"{path}.options: expected a mapping of filter name -> mapping of options, found {options!r}")
        options = {}
    for n in options:
        if n not in names:
            problems.append(f"{path}.options.{n}: filter '{n}' is not in {path}.filters")
    ex = section.get("executor", "local")
    if ex not in ("local", "ray"):
        problems.append(f"{path}.executor: expected one of ['local', 'ray'], found {ex!r}")
    for key in ("workers", "batch_rows"):
        v = section.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            problems.append(f"{path}.{key}: expected a positive integer, found {v!r}")
    if not problems:
        # build the chain once: unknown options and bad values (a threshold of 2) surface here
        try:
            for cls, kw in filter_specs(names, options=options):
                try:
                    cls(**kw)
                except (TypeError, ValueError, FactoryError) as e:  # e.g. InputError from a verifier
                    problems.append(f"{path}.options.{cls.name}: {e}")
        except FactoryError as e:
            problems.append(f"{path}.options: {e.message}")
    return problems


def run_section(section: dict[str, Any], ctx: StageContext, *, default_filters: tuple[str, ...], stage: str) -> dict[str, Any]:
    from factory.score.runner import filter_specs, funnel_table, run_filters

    names = list(section.get("filters", default_filters))
    executor = section.get("executor", "local")
    workers = int(section.get("workers", 1))
    options = section.get("options", {}) or {}
    specs = filter_specs(names, options=options, common={"workers": workers if executor == "local" else 1})
    res = run_filters(
        ctx.path(section["input"]), ctx.path(section["out"]),
        filters=[cls(**kw) for cls, kw in specs], specs=specs, executor=executor,
        batch_rows=int(section.get("batch_rows", 1000)), overwrite=ctx.overwrite,
        command=f"factory run: {stage}", params={"options": options}, actors=workers, log=ctx.log,
    )
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=120, highlight=False, color_system=None).print(funnel_table(res.funnel, title=f"{stage} funnel"))
    ctx.log(buf.getvalue().rstrip())
    f = res.funnel
    return {
        "skipped": res.skipped, "out": str(res.out), "rejected": str(res.rejected), "filters": names,
        "rows_in": f.rows_in, "rows_out": f.rows_out, "rejected_by": f.rejected_by, "by_domain": f.by_domain,
    }


def validate(section: dict[str, Any], path: str) -> list[str]:
    return validate_section(section, path, default_filters=DEFAULT_FILTERS)


def run(section: dict[str, Any], ctx: StageContext) -> dict[str, Any]:
    return run_section(section, ctx, default_filters=DEFAULT_FILTERS, stage="filter")
