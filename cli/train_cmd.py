"""Output of `factory train` (its flags come from factory.train.options.TrainOptions), and
`--preflight-only`, which checks the student's chat template without training."""

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

    tok = AutoTokenizer.from_pretrained(opts.student)
    try:
        gc = GenerationConfig.from_pretrained(opts.student)
    except OSError:
        gc = None
    template = open(opts.chat_template, encoding="utf-8").read() if opts.chat_template else None
    rep = preflight(tok, generation_config=gc, chat_template=template)
    console.print(f"[green]preflight ok[/]: end-of-turn {rep.eot_token!r} trained and stops generation; "
                  f"{'patched template' if rep.patched else 'template as is'}")
    return True


def present(summary: dict[str, Any], opts: Any, **_: Any) -> None:
    from factory.cli.console import out as console

    if summary.get("skipped"):
        console.print(f"up to date: {opts.out} holds a student trained on the same data and settings (pass --overwrite to retrain)")
        return
    first, last = summary.get("loss_first"), summary.get("loss_last")
    loss = f"loss {first:.3f} → {last:.3f}" if first is not None and last is not None else "no loss logged"
    eff = summary.get("packing_efficiency")
    console.print(f"[green]trained[/] {summary['steps']} steps, {loss}, {summary['tokens_per_second']:.0f} tokens/s, "
                  f"packing efficiency {eff if eff is not None else 'n/a'}; student in {opts.out}")
