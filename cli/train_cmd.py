"""Output of `factory train` (its flags come from factory.train.options.TrainOptions),
`--preflight-only` (checks the student's chat template without training), and `--push-to-hub`
on a finished run (the student is up to date: only the upload happens)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

EXTRA = {"preflight_only": (Annotated[bool, typer.Option("--preflight-only", help="Only check the student's template.")], False)}


def before(opts: Any, extra: dict[str, Any]) -> bool:
    if not extra.get("preflight_only"):
        return False
    from factory.cli.console import out as console
    from transformers import AutoTokenizer, GenerationConfig

    from factory.train.preflight import preflight
    from factory.train.templates import read

    import tempfile
    from pathlib import Path

    student = opts.student
    if student == "tiny" and not Path(student).exists():
        from factory.generate.teachers.tiny import build_tiny_model

        student = str(build_tiny_model(Path(tempfile.mkdtemp(prefix="factory-tiny-")) / "model"))
    tok = AutoTokenizer.from_pretrained(student)
    try:
        gc = GenerationConfig.from_pretrained(student)
    except OSError:
        gc = None
    template = read(opts.chat_template) if opts.chat_template else None
    rep = preflight(tok, generation_config=gc, chat_template=template)
    console.print(f"[green]preflight ok[/]: end-of-turn {rep.eot_token!r} trained and stops generation; "
                  f"{'patched template' if rep.patched else 'template as is'}")
    return True


def _f(x: Any, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def present(summary: dict[str, Any], opts: Any, **_: Any) -> None:
    from factory.cli.console import err
    from factory.cli.console import out as console

    if summary.get("skipped"):
        console.print(f"up to date: {opts.out} holds a student trained on the same data and settings (pass --overwrite to retrain)")
        if opts.push_to_hub:  # a finished run: the upload is the only thing left to do
            from factory.train.hub import push_student

            res = push_student(opts.out, opts.push_to_hub, private=opts.hub_private, dry_run=opts.push_dry_run,
                               log=lambda m: err.print(m, markup=False, highlight=False))
            console.print(("would upload" if res["dry_run"] else "uploaded") + f" {len(res['files'])} files to {res['url']}")
        return
    first, last = summary.get("loss_first"), summary.get("loss_last")
    loss = f"loss {_f(first)} → {_f(last)}" if first is not None and last is not None else "no loss logged"
    ev = f", eval_loss {_f(summary['eval_loss'], '.4f')}" if summary.get("eval_loss") is not None else ""
    eff = summary.get("packing_efficiency")
    resumed = f" (resumed from {summary['resumed_from']})" if summary.get("resumed_from") else ""
    console.print(f"[green]trained[/] {summary['steps']} steps{resumed}, {loss}{ev}, {summary['tokens_per_second']:.0f} tokens/s, "
                  f"packing efficiency {_f(eff)}; student in {opts.out}")
    push = summary.get("push")
    if push:
        console.print(("would upload" if push["dry_run"] else "uploaded") + f" {len(push['files'])} files to {push['url']}")
