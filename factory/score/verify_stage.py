"""The `verify` recipe stage: the math verifier and the sandboxed code verifier over a trace
folder, the same work as `factory verify`. Same section keys as the `filter` stage
(see factory/filter_stage.py); `filters` defaults to [math, code].

    verify:
      input: traces
      out: verified
      filters: [math, code]        # optional
      options: {math: {timeout_s: 5}}
      workers: 2                   # worker processes per verifier (local) or Ray actors (ray)

Exercise: `factory run quickstart --out runs/quickstart`.
"""

from __future__ import annotations

from typing import Any

from factory.pipeline.legacy import StageContext
from factory.score.filter_stage import run_section, validate_section

DEFAULT_FILTERS = ("math", "code")


def validate(section: dict[str, Any], path: str) -> list[str]:
    return validate_section(section, path, default_filters=DEFAULT_FILTERS)


def run(section: dict[str, Any], ctx: StageContext) -> dict[str, Any]:
    return run_section(section, ctx, default_filters=DEFAULT_FILTERS, stage="verify")
