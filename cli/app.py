"""Assembles the `factory` command line. Every command is registered here, once, through the
error boundary (`guarded`); commands live in their own modules. Commands not built yet are
stubs that say so and exit 1."""

from __future__ import annotations

from typing import Annotated, Any, Callable

import typer
from factory.cli.boundary import guarded, set_debug
from factory.cli.stubs import EXTRA_ARGS, not_built

app = typer.Typer(
    name="factory",
    help="Manufacture training data for reasoning models and distil students on it.\n\n"
    "problems -ingest-> generate (teacher) -> verify/filter -> dedup/decontaminate -> curate (recipe) -> publish | train -> eval",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    set_debug(debug)


def command(name: str, fn: Callable[..., Any], *, context_settings: dict | None = None, help: str | None = None) -> None:
    app.command(name, context_settings=context_settings, help=help)(guarded(fn))


def group(name: str, sub: typer.Typer) -> None:
    # guard every sub-command of the group too
    for info in sub.registered_commands:
        info.callback = guarded(info.callback)
    app.add_typer(sub, name=name)


# --- built commands --------------------------------------------------------------------------
from factory.cli.schema_cmd import schema_app  # noqa: E402

group("schema", schema_app)

from factory.cli.publish_cmd import publish  # noqa: E402
from factory.cli.report_cmd import report  # noqa: E402

command("publish", publish)
command("report", report)

from factory.cli.run_cmd import run_cmd  # noqa: E402

command("run", run_cmd)

from factory.cli.curate_cmd import curate_cmd  # noqa: E402
from factory.cli.recipes_cmd import recipes_app  # noqa: E402

group("recipes", recipes_app)
command("curate", curate_cmd)

from factory.cli.teacher_cmd import teacher_app  # noqa: E402

group("teacher", teacher_app)

from factory.cli.generate_cmd import generate_cmd  # noqa: E402

command("generate", generate_cmd)

from factory.cli.train_cmd import train_cmd  # noqa: E402

command("train", train_cmd)

from factory.cli.eval_cmd import eval_cmd  # noqa: E402

command("eval", eval_cmd)

from factory.cli.ingest_cmd import ingest_command  # noqa: E402

command("ingest", ingest_command)

from factory.cli.inspect_cmd import inspect_command  # noqa: E402

command("inspect", inspect_command)

from factory.cli.dedup_cmd import dedup_command  # noqa: E402

command("dedup", dedup_command)

from factory.cli.decontam_cmd import decontaminate_command  # noqa: E402

command("decontaminate", decontaminate_command)

from factory.cli.verify_cmd import verify_command  # noqa: E402

command("verify", verify_command)

from factory.cli.filter_cmd import filter_command  # noqa: E402

command("filter", filter_command)

# --- not built yet ---------------------------------------------------------------------------
_STUBS = {
    "ingest": (2, "turn problem and trace files into factory datasets"),
    "inspect": (2, "show a dataset folder's schema, counts and rows"),
    "run": (2, "run the stages a recipe names, in order"),
    "generate": (3, "teacher LLM writes chain-of-thought traces"),
    "teacher": (3, "teacher utilities (init-tiny)"),
    "verify": (4, "check answers: math, code in a sandbox"),
    "filter": (4, "format, readability and language-consistency filters"),
    "dedup": (5, "exact and MinHash near-duplicate removal"),
    "decontaminate": (5, "remove benchmark problems by n-gram overlap"),
    "curate": (6, "assemble SFT mixes from a recipe"),
    "recipes": (6, "list, show and validate recipes"),
    "publish": (7, "write a Hub-ready folder and upload it"),
    "report": (7, "HTML report with plots"),
    "train": (8, "SFT distillation trainer (TRL)"),
    "eval": (8, "score students: pass@1, pass@k, maj@n"),
}
_registered = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
for _name, (_issue, _what) in _STUBS.items():
    if _name not in _registered:
        command(_name, not_built(_name, _issue, _what), context_settings=EXTRA_ARGS, help=f"(not built yet) {_what}.")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
