"""Output of `factory tasks TASK -n N --seed S -o DIR` (its flags come from
factory.rl.options.TasksOptions): seeded TinyZero task problems with exact verifiers."""

from __future__ import annotations

from factory.cli.console import out


def present(summary: dict, opts) -> None:
    if summary.get("skipped"):
        out.print(f"up to date: {opts.out} (the same {opts.n} {opts.task} problems; pass --overwrite to rewrite)")
        return
    out.print(f"[green]done:[/] {summary['rows']} {opts.task} problems (seed {opts.seed}) in {opts.out}")
