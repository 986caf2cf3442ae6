"""Output of `factory generate` (its flags come from factory.generate.options.GenerateOptions):
the rows written and, always, the error rows with the way to retry just those (`--only errors`).

`--only errors|truncated` on a finished folder rewrites those rows in place (the runner's
"update" mode: GenerateOptions.updates), keeping every other row."""

from __future__ import annotations

from typing import Any


def _errors_note(summary: dict[str, Any]) -> str:
    n = int(summary.get("error_rows") or 0)
    if not n:
        return "0 error rows"
    return f"{n} error row{'s' if n != 1 else ''}: retry just those with the same command plus --only errors"


def present(summary: dict[str, Any], opts: Any) -> None:
    from factory.cli.console import out

    if summary.get("skipped") or summary.get("noop"):
        out.print(f"up to date: {opts.out} holds all {summary.get('rows', '?')} trace rows (nothing to do); "
                  f"{_errors_note(summary)}", markup=False, highlight=False)
        return
    budget = summary.get("budget") or {}
    derived = f"; max tokens {summary['max_tokens']} (derived from the context)" if budget.get("derived") and budget.get("context") else ""
    out.print(f"[green]done:[/] {summary['rows']} trace rows in {opts.out}; {_errors_note(summary)}{derived}")
