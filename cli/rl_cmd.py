"""Output of `factory rl PROBLEMS --model MODEL -o OUT [--preset NAME] [--set KEY=VALUE]...` (its
flags come from factory.rl.options.RLOptions): GRPO on the factory's verifiers; the per-step
lines (reward per component, accuracy, completion length, KL) go to stderr while it trains."""

from __future__ import annotations

from factory.cli.console import out


def present(summary: dict, opts) -> None:
    if summary.get("skipped"):
        out.print(f"up to date: {opts.out} (same problems, policy and options; pass --overwrite to train again)")
        return
    resumed = f" (resumed from {summary['resumed_from']})" if summary.get("resumed_from") else ""
    out.print(f"[green]trained[/] {summary['steps']} GRPO steps{resumed}: reward {summary['reward_first']} → "
              f"{summary['reward_last']}, accuracy {summary['accuracy_first']} → {summary['accuracy_last']}, "
              f"KL {summary['kl_last']}, {summary['tokens_per_second']} tokens/s; policy in {opts.out}")
