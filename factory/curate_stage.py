"""The `curate` recipe stage: `validate(section, path)` reports every problem of a `curate:`
section at once (factory.recipes.curate_spec); `run(section, ctx)` curates inside the run
folder: sources are relative to it, the SFT mix goes to `<run>/<curate.out>/{train,validation}`.

Journey fluency rewrite (`curate.journey.rewrite.teacher`): the stage needs a teacher backend
built by name, which the generate stage owns (issue 3). Until that factory exists the stage
says so; from Python, pass `rewrite=factory.journey.rewrite_with_teacher(teacher)` to
`factory.curate.curate` with any object implementing the factory.teachers protocol.

Exercise: `factory run journey --out runs/journey` (with curate.sources pointing at traces).
"""

from __future__ import annotations

from typing import Any

from factory.recipes.curate_spec import curate_config, validate_curate
from factory.schemas.errors import NotBuiltYetError


def validate(section: dict[str, Any], path: str) -> list[str]:
    return validate_curate(section, path)


def make_rewrite(journey: dict[str, Any] | None):
    """The rewrite hook a recipe asks for, or None."""
    spec = (journey or {}).get("rewrite")
    if not spec:
        return None
    try:
        from factory.generate import teacher_by_name  # type: ignore[attr-defined]
    except ImportError:
        raise NotBuiltYetError(
            f"curate.journey.rewrite.teacher={spec['teacher']!r}: building a teacher by name needs the generate "
            "stage's teacher factory (issue 3), which this install does not have",
            hint="remove curate.journey.rewrite, or call factory.curate.curate(..., "
                 "rewrite=factory.journey.rewrite_with_teacher(teacher)) from Python",
        ) from None
    from factory.journey import REWRITE_PROMPT, rewrite_with_teacher

    return rewrite_with_teacher(teacher_by_name(spec["teacher"]), prompt=spec.get("prompt") or REWRITE_PROMPT)


def run(section: dict[str, Any], ctx: Any) -> dict[str, Any]:
    from factory.curate import curate, print_report

    cfg = curate_config(section)
    out = ctx.path(cfg["out"])
    report = curate(cfg, seed=ctx.seed, out=out, base=ctx.run_dir, overwrite=ctx.overwrite,
                    rewrite=make_rewrite(cfg.get("journey")), command=f"factory run {ctx.recipe_name}",
                    params={"recipe": ctx.recipe_name, "seed": ctx.seed}, log=ctx.log)
    print_report(report, ctx.log)
    return {"out": str(out), "train_rows": report["train"]["rows"], "validation_rows": report["validation"]["rows"],
            "by_kind": report["train"]["by_kind"], "warnings": report["warnings"]}
