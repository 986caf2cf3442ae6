"""Command-line flags derived from a stage's options dataclass (factory.schemas.options).

`stage_command(kind, Options, present=...)` returns a typer command whose parameters are
exactly the dataclass's fields: the same names (`max_tokens` -> `--max-tokens`), defaults and
help. Values are checked by the same checker as recipe sections, so the messages agree; the
stage then runs through `factory.pipeline.runner.run_stage` (lock, resume, record), exactly as
in a recipe. Every stage command with an output gets `--overwrite`.

Field types map to flags like this: bool -> `--flag/--no-flag`; `Literal[...]` -> a choice;
`list[X]` -> a repeatable flag (or the positional arguments); `dict[str, X]` -> a repeatable
`--name KEY=VALUE` whose values are read as YAML scalars (`--set learning_rate=2e-5`).

Exercise: `factory dedup --help`.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer
from factory.schemas.errors import FactoryError
from factory.schemas.options import Option, build, options_of

Present = Callable[[dict[str, Any], Any], None]


def _cli_type(o: Option) -> Any:
    b = o.base
    if typing.get_origin(b) is dict or b is dict:
        t: Any = list[str]
    elif typing.get_origin(b) is list and typing.get_origin(typing.get_args(b)[0]) is not None:
        t = list[str]  # typer takes plain element types; the choices are checked by our checker
    elif typing.get_origin(b) is typing.Literal:
        t = str  # checked by our checker, so a bad choice gets the same message as in a recipe
    else:
        t = b
    return Optional[t] if (o.nullable or typing.get_origin(t) is list) else t


def _param(o: Option) -> inspect.Parameter:
    kw: dict[str, Any] = {"help": o.help, "show_default": not o.required and o.default not in (None, [], {})}
    if o.panel:
        kw["rich_help_panel"] = o.panel
    if o.secret:
        kw["show_default"] = False
    if o.argument:
        info: Any = typer.Argument(**kw, metavar=o.name.upper())
    else:
        decls = [o.flag] + ([o.short] if o.short else [])
        if o.base is bool:
            decls = [f"{o.flag}/--no-{o.flag[2:]}"]
        if typing.get_origin(o.base) is dict or o.base is dict:
            kw["metavar"] = "KEY=VALUE"
        elif o.choices:
            kw["metavar"] = "[" + "|".join(str(c) for c in o.choices) + "]"
        info = typer.Option(*decls, **kw)
    default: Any = inspect.Parameter.empty if o.required else (None if isinstance(o.default, (list, dict)) else o.default)
    return inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[_cli_type(o), info])


def parse_key_values(flag: str, items: list[str]) -> dict[str, Any]:
    """`["a=1", "b.c=x"]` -> `{"a": 1, "b.c": "x"}`; values read as YAML scalars."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            raise FactoryError(f"{flag}: expected KEY=VALUE, found {item!r}", hint=f"e.g. {flag} name=value")
        try:
            out[k.strip()] = yaml.safe_load(v) if v.strip() else ""
        except yaml.YAMLError:
            out[k.strip()] = v
    return out


def cli_values(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """typer's keyword arguments -> option values (KEY=VALUE lists become mappings; list
    options left out on the command line take their declared default)."""
    values: dict[str, Any] = {}
    for o in options_of(cls):
        if not o.cli or o.name not in kwargs:
            continue
        v = kwargs[o.name]
        if typing.get_origin(o.base) is dict or o.base is dict:
            v = parse_key_values(o.flag, v or []) if v else dict(o.default or {})
            if any("." in k for k in v):  # FILTER.KNOB=VALUE -> {FILTER: {KNOB: VALUE}}
                nested: dict[str, Any] = {}
                for k, x in v.items():
                    head, dot, rest = k.partition(".")
                    if dot:
                        nested.setdefault(head, {})[rest] = x
                    else:
                        nested[k] = x
                v = nested
        elif typing.get_origin(o.base) is list and v is None and not o.required:
            v = o.default
        elif typing.get_origin(o.base) is list and o.choices and v:
            v = [x.strip() for item in v for x in str(item).split(",") if x.strip()]
        values[o.name] = v
    return values


def stage_command(
    kind: str,
    cls: type,
    *,
    present: Present | None = None,
    doc: str | None = None,
    extra: dict[str, tuple[Any, Any]] | None = None,
    before: Callable[[Any, dict[str, Any]], bool] | None = None,
) -> Callable[..., None]:
    """A typer command for the stage `kind`. `extra` adds presentation-only parameters
    (name -> (Annotated type, default)) handed to `present`/`before` but never to the stage.
    `before(opts, extra)` may handle the call itself (return True), e.g. `train --preflight-only`."""
    has_output = any(o.role == "output" for o in options_of(cls))
    params = [_param(o) for o in options_of(cls) if o.cli]
    if has_output:
        params.append(inspect.Parameter(
            "overwrite", inspect.Parameter.KEYWORD_ONLY, default=False,
            annotation=Annotated[bool, typer.Option("--overwrite", help="Replace what --out holds (another run's output) instead of refusing.")],
        ))
    for name, (ann, default) in (extra or {}).items():
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=ann))
    extra_names = set(extra or {})

    def command(**kwargs: Any) -> None:
        import sys

        from factory.cli.console import err

        from factory.pipeline.runner import StageContext, run_stage
        from factory.pipeline.stages import (
            STAGES,  # the engines load only when a command runs
        )

        extras = {k: kwargs.pop(k) for k in list(kwargs) if k in extra_names}
        overwrite = bool(kwargs.pop("overwrite", False))
        opts = build(cls, cli_values(cls, kwargs), style="cli", what=f"factory {kind}")
        if before is not None and before(opts, extras):
            return
        ctx = StageContext(stage=kind, overwrite=overwrite, log=lambda m: err.print(m, markup=False, highlight=False),
                           progress=sys.stderr.isatty(), command=f"factory {kind}")
        summary = run_stage(kind, opts, ctx, STAGES[kind][1])
        if present is not None:
            present(summary, opts, **extras) if extras else present(summary, opts)
        else:
            from factory.cli.console import out

            out.print(_default_summary(summary))

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__name__ = f"{kind.replace('-', '_')}_command"
    command.__doc__ = doc or (cls.__doc__ or "").strip()
    return command


def _default_summary(summary: dict[str, Any]) -> str:
    if summary.get("skipped"):
        return f"up to date: {summary.get('out', '')} (nothing to do; pass --overwrite to redo it)"
    keys = [k for k in ("rows_in", "rows_out", "rows", "out") if k in summary]
    return "done: " + ", ".join(f"{k} {summary[k]}" for k in keys)
