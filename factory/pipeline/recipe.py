"""`factory run RECIPE --out DIR`: validate the whole recipe up front (every stage's section,
every problem at once), then run its stages in order inside the run folder, printing each
stage's summary and writing `run.json` (recipe, seed, stage summaries) at the end.

Exercise: `factory run quickstart --out runs/quickstart`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from factory.pipeline.stages import StageContext, get_stages
from factory.recipes.loader import Recipe, load_recipe
from factory.schemas.errors import RecipeError


def stage_kind(entry: str) -> str:
    """`ingest/traces` runs the `ingest` stage with the section `ingest/traces`: one recipe can
    run a stage several times (e.g. ingest problems, then ingest traces)."""
    return entry.split("/", 1)[0]


def validate_recipe(recipe: Recipe) -> list[str]:
    """Every problem of the recipe: unknown stages, unknown sections, each stage's own checks."""
    stages = get_stages()
    problems: list[str] = []
    for i, entry in enumerate(recipe.stages):
        if stage_kind(entry) not in stages:
            problems.append(f"stages[{i}]: expected one of {sorted(stages)} (optionally as name/label), found {entry!r}")
    if len(set(recipe.stages)) != len(recipe.stages):
        dups = sorted({e for e in recipe.stages if recipe.stages.count(e) > 1})
        problems.append(f"stages: each entry must be unique (use name/label to repeat a stage), found duplicates {dups}")
    allowed = set(recipe.stages) | set(stages) | set(getattr(recipe, "extra_sections", set()))
    for key in recipe.sections:
        if key not in allowed:
            problems.append(f"{key}: unknown section (expected a stage named in `stages`: {recipe.stages})")
    for entry in recipe.stages:
        kind = stage_kind(entry)
        if kind in stages:
            validate, _ = stages[kind]
            problems.extend(validate(recipe.section(entry), entry))
    return problems


def run_recipe(
    recipe_ref: str | Path,
    *,
    out: Path,
    overrides: list[str] | None = None,
    overwrite: bool = False,
    only: list[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    recipe = load_recipe(recipe_ref, overrides=overrides)
    problems = validate_recipe(recipe)
    if problems:
        raise RecipeError(problems, source=str(recipe.path))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = StageContext(run_dir=out, recipe_name=recipe.name, seed=recipe.seed, overwrite=overwrite, log=log)
    stages = get_stages()
    timings = {}
    for name in recipe.stages:
        if only and name not in only and stage_kind(name) not in only:
            continue
        log(f"── stage {name} ──")
        t0 = time.time()
        _, run = stages[stage_kind(name)]
        summary = run(recipe.section(name), ctx)
        ctx.summaries[name] = summary
        timings[name] = round(time.time() - t0, 2)
    record = {"recipe": recipe.name, "seed": recipe.seed, "overrides": recipe.overrides,
              "stages": recipe.stages, "summaries": ctx.summaries, "seconds": timings}
    (out / "run.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    return record
