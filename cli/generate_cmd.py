"""Output of `factory generate` (its flags come from factory.generate.options.GenerateOptions):
the rows written and, always, the error rows with the way to retry just those (`--only errors`).

`--only errors|truncated` on a folder whose run is finished rewrites those rows in place: the
stage runner reports such a folder as up to date (`--only` does not change what the folder is),
so the rewrite is started here, through the same runner (lock, record), without `--overwrite`'s
meaning of starting afresh (the rewrite keeps every other row)."""

from __future__ import annotations

from typing import Any


def _retry_only(opts: Any) -> dict[str, Any]:
    import sys

    from factory.cli.console import err
    from factory.pipeline.runner import StageContext, run_stage
    from factory.pipeline.stages import STAGES

    ctx = StageContext(stage="generate", overwrite=True, log=lambda m: err.print(m, markup=False, highlight=False),
                       progress=sys.stderr.isatty(), command="factory generate")
    err.print(f"generate: --only {opts.only}: regenerating those rows of {opts.out} (the other rows are kept)",
              markup=False, highlight=False)
    return run_stage("generate", opts, ctx, STAGES["generate"][1])


def _errors_note(summary: dict[str, Any]) -> str:
    n = int(summary.get("error_rows") or 0)
    if not n:
        return "0 error rows"
    return f"{n} error row{'s' if n != 1 else ''}: retry just those with the same command plus --only errors"


def present(summary: dict[str, Any], opts: Any) -> None:
    from factory.cli.console import out

    if summary.get("skipped") and opts.only != "all":
        summary = _retry_only(opts)
    if summary.get("skipped") or summary.get("noop"):
        out.print(f"up to date: {opts.out} holds all {summary.get('rows', '?')} trace rows (nothing to do); "
                  f"{_errors_note(summary)}", markup=False, highlight=False)
        return
    budget = summary.get("budget") or {}
    derived = f"; max tokens {summary['max_tokens']} (derived from the context)" if budget.get("derived") and budget.get("context") else ""
    out.print(f"[green]done:[/] {summary['rows']} trace rows in {opts.out}; {_errors_note(summary)}{derived}")
