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
from factory.eval import core as eval_
from factory.eval.options import EvalOptions
from factory.generate import core as generate
from factory.generate.options import GenerateOptions
from factory.ingest import core as ingest
from factory.ingest.options import IngestOptions
from factory.io import inspect
from factory.io.options import InspectOptions
from factory.publish import core as publish
from factory.publish import report
from factory.publish.options import PublishOptions, ReportOptions
from factory.rl import core as rl
from factory.rl import tasks
from factory.rl.options import RLOptions, TasksOptions
from factory.score import runner as score
from factory.score.options import FilterOptions, VerifyOptions
from factory.train import core as train
from factory.train.options import TrainOptions

Run = Callable[[Any, Any], dict[str, Any]]

STAGES: dict[str, tuple[type, Run]] = {  # in pipeline order
    "ingest": (IngestOptions, ingest.run),
    "tasks": (TasksOptions, tasks.run),
    "inspect": (InspectOptions, inspect.run),
    "generate": (GenerateOptions, generate.run),
    "verify": (VerifyOptions, score.run_verify_stage),
    "filter": (FilterOptions, score.run_filter_stage),
    "dedup": (DedupOptions, dedup.run),
    "decontaminate": (DecontamOptions, decontam.run),
    "curate": (CurateOptions, curate.run),
    "publish": (PublishOptions, publish.run),
    "report": (ReportOptions, report.run),
    "train": (TrainOptions, train.run),
    "eval": (EvalOptions, eval_.run),
    "rl": (RLOptions, rl.run),
}
