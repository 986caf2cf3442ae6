"""The stages, by name: `STAGES[name] = (Options, run)`. `factory run` walks a recipe's stages
through this dict, and every stage command of the CLI is derived from the same pair.

A stage is an options dataclass (factory.schemas.options: one declaration of every option, in
its concern's `options.py`, cheap to import) and a `run(opts, ctx) -> summary` function in its
engine module; `factory.pipeline.runner.run_stage` wraps every run
with the lock, resume and record rules. Adding a stage = its options and run function in its
concern's folder + one line here.

Exercise: `factory run quickstart --out runs/quickstart`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from factory.curate import core as curate
from factory.curate.options import CurateOptions
from factory.dedup import core as dedup
from factory.dedup import decontam
from factory.dedup.options import DecontamOptions, DedupOptions
from factory.generate import core as generate
from factory.generate.options import GenerateOptions
from factory.ingest import core as ingest
from factory.ingest.options import IngestOptions
from factory.publish import core as publish
from factory.publish import report
from factory.publish.options import PublishOptions, ReportOptions
from factory.io import inspect
from factory.io.options import InspectOptions
from factory.score import runner as score
from factory.score.options import FilterOptions, VerifyOptions
from factory.rl import core as rl
from factory.rl import tasks
from factory.rl.options import RLOptions, TasksOptions

Run = Callable[[Any, Any], dict[str, Any]]

STAGES: dict[str, tuple[type, Run]] = {
    "ingest": (IngestOptions, ingest.run),
    "inspect": (InspectOptions, inspect.run),
    "generate": (GenerateOptions, generate.run),
    "verify": (VerifyOptions, score.run_verify_stage),
    "filter": (FilterOptions, score.run_filter_stage),
    "curate": (CurateOptions, curate.run),
    "dedup": (DedupOptions, dedup.run),
    "decontaminate": (DecontamOptions, decontam.run),
    "publish": (PublishOptions, publish.run),
    "report": (ReportOptions, report.run),
    "tasks": (TasksOptions, tasks.run),
    "rl": (RLOptions, rl.run),
}


def _legacy() -> dict[str, tuple[Callable, Callable]]:
    # stages not converted yet: (validate(section, path), run(section, ctx)); this shrinks to
    # nothing as each stage moves to STAGES
    from factory.eval import stage as eval_stage
    from factory.train import stage as train_stage

    return {
        "train": (train_stage.validate, train_stage.run),
        "eval": (eval_stage.validate, eval_stage.run),
    }


def stage_names() -> list[str]:
    return [*STAGES, *_legacy()]
