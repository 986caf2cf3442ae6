"""`factory run RECIPE --out DIR`: validate the whole recipe up front (every stage's section,
every problem at once), then run its stages in order inside the run folder, printing each
stage's summary and writing `run.json` (recipe, seed, stage summaries) at the end.

A stage section holds exactly the options of that stage (the same names as its command's
flags, without the dashes); folder paths are relative to the run folder, `@data/...` points
into the data shipped in the package, and a stage with a `seed` option takes the recipe's seed
unless its section sets one. Each stage runs through the same runner as its command, so a
re-run skips finished stages and resumes a killed one.

Exercise: `factory run quickstart --out runs/quickstart`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from factory.pipeline.runner import StageContext, resolve_path, run_stage
from factory.pipeline.stages import STAGES
from factory.recipes.loader import Recipe, load_recipe
from factory.schemas.errors import RecipeError
from factory.schemas.options import build, check_all, option_map


def stage_kind(entry: str) -> str:
    """`ingest/traces` runs the `ingest` stage with the section `ingest/traces`: one recipe can
    run a stage several times (e.g. ingest problems, then ingest traces)."""
    return entry.split("/", 1)[0]


def section_values(cls: type, section: dict[str, Any], *, seed: int, run_dir: Path | None) -> dict[str, Any]:
    """A recipe section as option values: the recipe's seed as default, paths resolved."""
    values = dict(section)
    opts = option_map(cls)
    if "seed" in opts and "seed" not in values and opts["seed"].recipe:
        values["seed"] = seed
    if run_dir is not None:
        for name, o in opts.items():
            if o.role in ("input", "output") and isinstance(values.get(name), (str, list)):
                v = values[name]
                values[name] = [_resolve(x, run_dir, o.hub_ok) for x in v] if isinstance(v, list) else _resolve(v, run_dir, o.hub_ok)
        if hasattr(cls, "resolve_paths"):
            cls.resolve_paths(values, lambda x: _resolve(x, run_dir, False))
    return values


def _resolve(p: Any, run_dir: Path, hub_ok: bool) -> Any:
    if not isinstance(p, str) or not p or p.startswith(("hf:", "@tiny")) or "://" in p:
        return p
    q = resolve_path(p, run_dir)
    if hub_ok and not p.startswith("@data/") and not q.exists():
        return p  # a Hub id or a served model name, not a folder of this run
    return str(q)


def validate_recipe(recipe: Recipe) -> list[str]:
    """Every problem of the recipe: unknown stages, unknown sections, each stage's own checks."""
    known = list(STAGES)
    problems: list[str] = []
    for i, entry in enumerate(recipe.stages):
        if stage_kind(entry) not in known:
            problems.append(f"stages[{i}]: expected one of {sorted(known)} (optionally as name/label), found {entry!r}")
    if len(set(recipe.stages)) != len(recipe.stages):
        dups = sorted({e for e in recipe.stages if recipe.stages.count(e) > 1})
        problems.append(f"stages: each entry must be unique (use name/label to repeat a stage), found duplicates {dups}")
    allowed = set(recipe.stages) | set(known)
    for key in recipe.sections:
        if key not in allowed:
            problems.append(f"{key}: unknown section (expected a stage named in `stages`: {recipe.stages})")
    for entry in recipe.stages:
        kind = stage_kind(entry)
        section = recipe.section(entry)
        if kind in STAGES:
            cls, _ = STAGES[kind]
            values = section_values(cls, section, seed=recipe.seed, run_dir=None)
            problems.extend(check_all(cls, values, style="recipe", path=entry))
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
        raise RecipeError(problems, source=recipe.path.name if recipe.path else None)
    out = Path(out).absolute()  # stage paths resolve against it; a relative run folder would be applied twice
    out.mkdir(parents=True, exist_ok=True)
    summaries: dict[str, Any] = {}
    timings = {}
    for entry in recipe.stages:
        if only and entry not in only and stage_kind(entry) not in only:
            continue
        log(f"── stage {entry} ──")
        t0 = time.time()
        kind = stage_kind(entry)
        ctx = StageContext(stage=entry, seed=recipe.seed, overwrite=overwrite, log=log, progress=False,
                           command=f"factory run {recipe.name}: {entry}", run_dir=out, summaries=summaries,
                           recipe_name=recipe.name)
        cls, run = STAGES[kind]
        opts = build(cls, section_values(cls, recipe.section(entry), seed=recipe.seed, run_dir=out), style="recipe", path=entry)
        summary = run_stage(kind, opts, ctx, run)
        summaries[entry] = summary
        timings[entry] = round(time.time() - t0, 2)
    record = {"recipe": recipe.name, "seed": recipe.seed, "overrides": recipe.overrides,
              "stages": recipe.stages, "summaries": summaries, "seconds": timings}
    (out / "run.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    return record


def validate_section(entry: str, section: dict[str, Any], *, seed: int = 0) -> list[str]:
    """The problems of one stage section (`entry` is `dedup` or `ingest/traces`), as a recipe
    run would report them."""
    from factory.recipes.loader import Recipe

    return validate_recipe(Recipe(name="section", seed=seed, stages=[entry], sections={entry: section}))


def run_section(
    entry: str,
    section: dict[str, Any],
    *,
    run_dir: Path,
    seed: int = 0,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run one stage section inside `run_dir` exactly as `factory run` would (validation,
    path resolution, lock, resume and record)."""
    kind = stage_kind(entry)
    problems = validate_section(entry, section, seed=seed)
    if problems:
        raise RecipeError(problems, source=entry)
    run_dir = Path(run_dir).absolute()
    ctx = StageContext(stage=entry, seed=seed, overwrite=overwrite, log=log, progress=False,
                       command=f"factory run: {entry}", run_dir=run_dir, recipe_name="section")
    cls, run = STAGES[kind]
    opts = build(cls, section_values(cls, section, seed=seed, run_dir=run_dir), style="recipe", path=entry)
    return run_stage(kind, opts, ctx, run)
