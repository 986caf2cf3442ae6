"""The student's model card and training curve, written by `factory train` into its output:
the dataset it was trained on (rows, validation split, and the funnel from a factory dataset's
manifests when recorded), the preset and every hyper-parameter (with the `--set` pass-through
SFTConfig fields), the training and validation losses (PNG + table), and how to load the student.

Exercise: `factory train --data D --student tiny -o OUT` then read OUT/README.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from factory.io import dataset as ds


def _dataset_summary(data: Path | None, info: dict[str, Any] | None = None) -> list[str]:
    lines = []
    if info:
        lines.append(f"- source: {info.get('source')}; {info.get('train_rows')} training rows")
        if info.get("validation_rows"):
            lines.append(f"- validation: {info['validation_rows']} rows ({info.get('validation_source')})")
    if data is None:
        return lines or ["- not recorded"]
    for split in ("train", "validation"):
        p = data / split
        if (p / "manifest.json").exists():
            m = ds.read_manifest(p)
            lines.append(f"- `{split}`: {m.rows} rows (contract `{m.contract}`, schema {m.schema_version}); produced by `{m.command}`")
            funnel = m.stats.get("funnel") or m.stats.get("mix")
            if funnel:
                lines.append(f"  - funnel/mix recorded by curate: `{json.dumps(funnel, default=str)[:600]}`")
    if not any(ln.startswith("- `") for ln in lines) and (data / "manifest.json").exists():
        m = ds.read_manifest(data)
        lines.append(f"- {m.rows} rows (contract `{m.contract}`); produced by `{m.command}`")
    card = data / "README.md"
    if card.exists():
        lines.append(f"- dataset card: `{card}`")
    return lines or ["- not recorded"]


def plot_curve(history: list[dict[str, Any]], path: Path) -> bool:
    steps = [h["step"] for h in history if "loss" in h]
    losses = [h["loss"] for h in history if "loss" in h]
    evals = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    if not steps:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(steps, losses, marker="o", markersize=3, label="training loss")
    if evals:
        ax.plot([e[0] for e in evals], [e[1] for e in evals], marker="s", markersize=4, label="validation loss")
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("loss (assistant tokens)")
    ax.set_title("training curve")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def write_model_card(out: Path, *, data: Path | None, student: str, preset: str, settings: Any, history: list[dict[str, Any]],
                     result: Any, lora: bool, grad_accum: int, data_info: dict[str, Any] | None = None,
                     trl_settings: dict[str, Any] | None = None, repo_id: str | None = None) -> Path:
    has_plot = plot_curve(history, out / "training_curve.png")
    rows = [h for h in history if "loss" in h]
    table = "\n".join(f"| {h['step']} | {h['loss']:.4f} | {h.get('learning_rate', float('nan')):.2e} |" for h in rows[-20:])
    hp = "\n".join(f"| {k} | {v} |" for k, v in settings.to_dict().items())
    if trl_settings:
        hp += "\n" + "\n".join(f"| {k} (SFTConfig, --set) | {v} |" for k, v in trl_settings.items())
    evals = [h for h in history if "eval_loss" in h]
    eval_line = (f"- validation loss (eval_loss): {evals[-1]['eval_loss']:.4f} at step {evals[-1].get('step')}"
                 if evals else "- validation loss: no validation rows")
    text = f"""---
library_name: transformers
tags: [factory, distillation, reasoning, sft]
base_model: {student}
---

# Student distilled with factory

Base model: `{student}`; trained with `factory train` (TRL `SFTTrainer`, loss on assistant tokens
only, {'LoRA (merged)' if lora else 'full fine-tuning'}).

## Dataset

{chr(10).join(_dataset_summary(data, data_info))}

## Preset and hyper-parameters

Preset: `{preset}`; gradient accumulation steps: {grad_accum}.

| setting | value |
|---|---|
{hp}

## Training

- optimizer steps: {result.global_step}; tokens seen: {result.train_tokens}; {result.tokens_per_second:.1f} tokens/s
{eval_line}
- packing efficiency (non-padding share): {result.packing_efficiency if result.packing_efficiency is not None else 'not measured'}
- resumed from: {result.resumed_from or 'no (fresh run)'}
- preflight: {'; '.join(result.preflight_notes) or 'template passed as is'}

{'![training curve](training_curve.png)' if has_plot else ''}

| step | loss | learning rate |
|---|---|---|
{table}

## Use

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained("{repo_id or out}")
model = AutoModelForCausalLM.from_pretrained("{repo_id or out}")
```
"""
    path = out / "README.md"
    path.write_text(text)
    return path
