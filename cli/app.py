"""Assembles the `factory` command line. Every command is registered here, once, through the
error boundary (`guarded`), in pipeline order. Stage commands are derived from their options
dataclass (cli/derive.py); the `*_cmd.py` modules only print results."""

from __future__ import annotations

from typing import Annotated, Any, Callable

import typer
from factory.cli.boundary import guarded, set_debug

app = typer.Typer(
    name="factory",
    help="Manufacture training data for reasoning models and distil students on it.\n\n"
    "problems -ingest-> generate (teacher) -> verify/filter -> dedup/decontaminate -> curate (recipe) -> publish | train -> eval",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("factory")
        except PackageNotFoundError:  # running from a source tree that was not installed
            v = "unknown"
        typer.echo(f"factory {v}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)] = False,
) -> None:
    set_debug(debug)


def command(name: str, fn: Callable[..., Any], *, help: str | None = None) -> None:
    app.command(name, help=help)(guarded(fn))


def group(name: str, sub: typer.Typer) -> None:
    # guard every sub-command of the group too
    for info in sub.registered_commands:
        info.callback = guarded(info.callback)
    app.add_typer(sub, name=name)


def stage(name: str, cls: type, present: Callable[..., None] | None = None, **kw: Any) -> None:
    from factory.cli.derive import stage_command

    command(name, stage_command(name, cls, present=present, **kw))


# --- in pipeline order -----------------------------------------------------------------------
from factory.cli import (  # noqa: E402  # noqa: E402  # noqa: E402
    curate_cmd,  # noqa: E402
    decontam_cmd,
    dedup_cmd,
    eval_cmd,  # noqa: E402
    filter_cmd,  # noqa: E402
    generate_cmd,  # noqa: E402
    ingest_cmd,  # noqa: E402
    inspect_cmd,  # noqa: E402
    publish_cmd,
    report_cmd,
    rl_cmd,
    tasks_cmd,
    train_cmd,  # noqa: E402
)
from factory.cli.recipes_cmd import recipes_app  # noqa: E402
from factory.cli.run_cmd import run_cmd  # noqa: E402
from factory.cli.schema_cmd import schema_app  # noqa: E402
from factory.cli.teacher_cmd import teacher_app  # noqa: E402

from factory.curate.options import CurateOptions  # noqa: E402
from factory.dedup.options import DecontamOptions, DedupOptions  # noqa: E402
from factory.eval.options import EvalOptions  # noqa: E402
from factory.generate.options import GenerateOptions  # noqa: E402
from factory.ingest.options import IngestOptions  # noqa: E402
from factory.io.options import InspectOptions  # noqa: E402
from factory.publish.options import PublishOptions, ReportOptions  # noqa: E402
from factory.rl.options import RLOptions, TasksOptions  # noqa: E402
from factory.score.options import FilterOptions, VerifyOptions  # noqa: E402
from factory.train.options import TrainOptions  # noqa: E402

stage("tasks", TasksOptions, tasks_cmd.present)
stage("ingest", IngestOptions, ingest_cmd.present)
stage("inspect", InspectOptions, inspect_cmd.present)
stage("generate", GenerateOptions, generate_cmd.present)
stage("verify", VerifyOptions, filter_cmd.present)
stage("filter", FilterOptions, filter_cmd.present)
stage("dedup", DedupOptions, dedup_cmd.present)
stage("decontaminate", DecontamOptions, decontam_cmd.present)
stage("curate", CurateOptions, curate_cmd.present)
stage("publish", PublishOptions, publish_cmd.present, before=publish_cmd.before)
stage("report", ReportOptions, report_cmd.present)
stage("rl", RLOptions, rl_cmd.present)
stage("train", TrainOptions, train_cmd.present, extra=train_cmd.EXTRA, before=train_cmd.before)
stage("eval", EvalOptions, eval_cmd.present, extra=eval_cmd.EXTRA)
command("run", run_cmd)
group("recipes", recipes_app)
group("teacher", teacher_app)
group("schema", schema_app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
