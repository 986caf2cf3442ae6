"""The policy's model card and curves, written by `factory rl` into its output: the problems it
was trained on (kept/dropped), the preset and its source, the rewards and weights, every
GRPOConfig setting that differs from TRL's defaults, and per-step reward / accuracy /
completion length / KL (PNG + table)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CURVES = (("reward", "total reward"), ("rewards/accuracy/mean", "accuracy"), ("completions/mean_length", "completion length"),
          ("kl", "KL to reference"))


def plot_curves(steps: list[dict[str, Any]], path: Path) -> bool:
    shown = [(k, label) for k, label in CURVES if any(h.get(k) is not None for h in steps)]
    if not steps or not shown:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.0), dpi=100, squeeze=False)
    for ax, (key, label) in zip(axes[0], shown):
        xs = [h["step"] for h in steps if h.get(key) is not None]
        ys = [h[key] for h in steps if h.get(key) is not None]
        ax.plot(xs, ys, marker="o", markersize=3)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _fmt(x: Any) -> str:
    return "" if x is None else f"{x:.4g}" if isinstance(x, float) else str(x)


def write_card(out: Path, *, opts: Any, context: dict[str, Any], result: Any) -> Path:
    from factory.rl.presets import PRESETS

    steps = result.steps()
    has_plot = plot_curves(steps, out / "rl_curve.png")
    names = context["rewards"]
    head = "| step | reward | " + " | ".join(names) + " | completion length | kl |"
    sep = "|---" * (4 + len(names)) + "|"
    rows = "\n".join(
        f"| {h.get('step')} | {_fmt(h.get('reward'))} | " + " | ".join(_fmt(h.get(f"rewards/{n}/mean")) for n in names)
        + f" | {_fmt(h.get('completions/mean_length'))} | {_fmt(h.get('kl'))} |" for h in steps[-30:])
    settings = "\n".join(f"| {k} | {v} |" for k, v in sorted(context["kwargs"].items()) if k != "output_dir")
    funnel = context["funnel"]
    dropped = ", ".join(f"{k}: {v}" for k, v in funnel.get("dropped", {}).items()) or "none"
    text = f"""# GRPO policy (factory rl)

Trained by `factory rl` (TRL GRPOTrainer) from `{opts.model}`.

- Problems: `{Path(str(opts.input)).name}`: {funnel.get('kept')} of {funnel.get('problems')} used (dropped: {dropped})
- Preset: `{opts.preset}` — {PRESETS[opts.preset].description}
- Prompt template: `{context['prompt']}`
- Rewards (weights): {', '.join(f'{n} ({w:g})' for n, w in zip(names, context['weights']))}
- Generation: {'vLLM (colocate)' if context['use_vllm'] else 'transformers'}
- Steps: {result.global_step}{f" (resumed from `{Path(result.resumed_from).name}`)" if result.resumed_from else ''}; \
{result.tokens_per_second:.0f} tokens/s (prompt + completion tokens)

{'![curves](rl_curve.png)' if has_plot else ''}

## Per-step metrics (last 30 logged steps)

{head}
{sep}
{rows}

## Settings (GRPOConfig)

| setting | value |
|---|---|
{settings}

## Load

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained("{out.name}")
tokenizer = AutoTokenizer.from_pretrained("{out.name}")
```
"""
    path = out / "README.md"
    path.write_text(text, encoding="utf-8")
    return path
