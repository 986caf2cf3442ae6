"""Recipe stages: the explicit registry `factory run` walks.

A recipe names its stages in order (`stages: [ingest, inspect, generate, ...]`) and holds one
section (a mapping) per stage. A stage is a pair of plain functions:

    validate(section: dict, path: str) -> list[str]     # every problem, as "path.key: expected X, found Y"
    run(section: dict, ctx: StageContext) -> dict       # does the work; returns a JSON-able summary

Paths in a section are relative to the run folder (`factory run RECIPE --out DIR`), except
those starting with `@data/`, which point into the data shipped inside the package, and
absolute paths. Adding a stage = one module with its two functions + one line in STAGES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory.data import DATA_DIR as PACKAGE_DATA
from factory.schemas.errors import NotBuiltYetError


@dataclass
class StageContext:
    run_dir: Path
    recipe_name: str
    seed: int
    overwrite: bool = False
    log: Callable[[str], None] = print
    summaries: dict[str, Any] = field(default_factory=dict)  # earlier stages' summaries, by stage name

    def path(self, p: str | Path) -> Path:
        """Resolve a section path: `@data/...` -> package data, absolute as is, else run_dir/p."""
        return resolve_path(p, self.run_dir)


def resolve_path(p: str | Path, base: Path) -> Path:
    s = str(p)
    if s.startswith("@data/"):
        return PACKAGE_DATA / s[len("@data/") :]
    q = Path(s).expanduser()
    return q if q.is_absolute() else base / q


def unknown_keys(section: dict[str, Any], path: str, keys: set[str] | dict[str, Any]) -> list[str]:
    """`path.key: unknown key (expected one of [...])` for every key a stage does not read."""
    return [f"{path}.{k}: unknown key (expected one of {sorted(keys)})" for k in section if k not in keys]


def folder_keys(section: dict[str, Any], path: str, names: tuple[str, ...] = ("input", "out")) -> list[str]:
    """Every named key must hold a non-empty folder path."""
    problems = []
    for key in names:
        v = section.get(key)
        if not isinstance(v, str) or not v:
            problems.append(f"{path}.{key}: expected a folder path (string), found {v!r}")
    return problems


Validate = Callable[[dict[str, Any], str], list[str]]
Run = Callable[[dict[str, Any], StageContext], dict[str, Any]]


def _not_built(name: str, issue: int) -> tuple[Validate, Run]:
    def validate(section: dict[str, Any], path: str) -> list[str]:
        return [f"{path}: stage '{name}' is not built yet (tracked in issue {issue}); remove it from `stages`"]

    def run(section: dict[str, Any], ctx: StageContext) -> dict[str, Any]:
        raise NotBuiltYetError(f"stage '{name}' is not built yet (issue {issue})")

    return validate, run


def _stages() -> dict[str, tuple[Validate, Run]]:
    # Imports are local so `import factory.pipeline.stages` stays cheap; each module imports its own
    # heavy libraries inside run().
    from factory.curate import stage as curate_stage
    from factory.dedup import decontam_stage
    from factory.dedup import stage as dedup_stage
    from factory.eval import stage as eval_stage
    from factory.generate import stage as generate_stage
    from factory.ingest import stage as ingest_stage
    from factory.io import inspect_stage
    from factory.publish import report_stage
    from factory.publish import stage as publish_stage
    from factory.score import filter_stage, verify_stage
    from factory.train import stage as train_stage
    return {
        "ingest": (ingest_stage.validate, ingest_stage.run),
        "inspect": (inspect_stage.validate, inspect_stage.run),
        "generate": (generate_stage.validate, generate_stage.run),
        "verify": (verify_stage.validate, verify_stage.run),
        "filter": (filter_stage.validate, filter_stage.run),
        "dedup": (dedup_stage.validate, dedup_stage.run),
        "decontaminate": (decontam_stage.validate, decontam_stage.run),
        "curate": (curate_stage.validate, curate_stage.run),
        "publish": (publish_stage.validate, publish_stage.run),
        "report": (report_stage.validate, report_stage.run),
        "train": (train_stage.validate, train_stage.run),
        "eval": (eval_stage.validate, eval_stage.run),
    }


def get_stages() -> dict[str, tuple[Validate, Run]]:
    return _stages()
