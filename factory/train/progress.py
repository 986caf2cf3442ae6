"""What `factory train` shows while it trains: a progress bar with ETA on a terminal (tqdm, as
the Trainer draws it), plain lines with ETA otherwise (logs, CI, recipes), and in both cases the
Trainer's logs as readable lines instead of raw dicts of quoted numbers:

    step 4/8 (50%) · loss 6.918 · lr 1.00e-03 · grad norm 1.42 · token acc 3.1% · epoch 0.50 · 1341 tok/s · 1.30 s/step · ETA 0:00:05
    eval at step 8: eval_loss 6.8501 · eval token acc 3.4%
    finished 8 steps in 11.2 s · train loss 6.833

Exercise: `factory train --data D --student tiny -o OUT --set max_steps=8 --set logging_steps=2`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

# how each logged key is shown (others: 4 significant digits), in this order
_SHOWN = [
    ("loss", "loss", "{:.4g}"),
    ("learning_rate", "lr", "{:.2e}"),
    ("grad_norm", "grad norm", "{:.3g}"),
    ("mean_token_accuracy", "token acc", "pct"),
    ("epoch", "epoch", "{:.2f}"),
    ("train_tokens_per_second", "tok/s", "{:.0f}"),
]


def _fmt(v: Any, spec: str) -> str:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return str(v)
    return f"{100 * v:.1f}%" if spec == "pct" else spec.format(v)


def readable(logs: dict[str, Any]) -> str:
    """One log dict as `name value · name value`: a training step's, an evaluation's (eval_*
    keys) or the end-of-training summary's (train_loss)."""
    if "train_loss" in logs:
        return f"in {logs.get('train_runtime', 0):.1f} s · train loss {_fmt(logs['train_loss'], '{:.4g}')}"
    if any(k.startswith("eval_") for k in logs):
        parts = []
        for key, v in logs.items():
            if key == "eval_loss":
                parts.insert(0, f"eval_loss {_fmt(v, '{:.4f}')}")
            elif key == "eval_mean_token_accuracy":
                parts.append(f"eval token acc {_fmt(v, 'pct')}")
            elif key.startswith("eval_") and not key.endswith(("_runtime", "_per_second", "_num_tokens", "_entropy")):
                parts.append(f"{key} {_fmt(v, '{:.4g}')}")
        return " · ".join(parts)
    return " · ".join(f"{label} {_fmt(logs[key], spec)}" for key, label, spec in _SHOWN if key in logs)


class _Clock:
    """Seconds per step since this process started training (a resumed run counts from its checkpoint)."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.step0 = 0

    def start(self, step: int) -> None:
        self.t0, self.step0 = time.perf_counter(), step

    def pace(self, step: int, total: int) -> str:
        done = step - self.step0
        if done <= 0 or total <= 0:
            return ""
        per = (time.perf_counter() - self.t0) / done
        eta = timedelta(seconds=round(per * max(total - step, 0)))
        return f" · {per:.2f} s/step · ETA {eta}"


def callbacks(*, terminal: bool, log: Callable[[str], None]) -> tuple[list[type], list[Any]]:
    """(Trainer callbacks to remove, callbacks to add): a bar or plain lines, readable logs."""
    from transformers import PrinterCallback, ProgressCallback, TrainerCallback

    clock = _Clock()

    def line(state: Any, logs: dict[str, Any]) -> str | None:
        text = readable(logs)
        if not text:
            return None
        if any(k.startswith("eval_") for k in logs):
            return f"eval at step {state.global_step}: {text}"
        if "train_loss" in logs:
            return f"finished {state.global_step} steps {text}"
        pct = f" ({100 * state.global_step / state.max_steps:.0f}%)" if state.max_steps else ""
        return f"step {state.global_step}/{state.max_steps}{pct} · {text}{clock.pace(state.global_step, state.max_steps)}"

    class Bar(ProgressCallback):
        """The Trainer's tqdm bar (it shows the ETA), with readable log lines above it."""

        def on_train_begin(self, args, state, control, **kwargs):
            clock.start(state.global_step)
            super().on_train_begin(args, state, control, **kwargs)

        def on_log(self, args, state, control, logs=None, **kwargs):
            text = line(state, logs or {})
            if state.is_world_process_zero and text:
                (self.training_bar.write if self.training_bar is not None else log)(text)

    class Lines(TrainerCallback):
        """Plain lines (no terminal): every logged step with s/step and ETA."""

        def on_train_begin(self, args, state, control, **kwargs):
            clock.start(state.global_step)
            if state.is_world_process_zero:
                log(f"training: {state.max_steps} steps" + (f", from step {state.global_step}" if state.global_step else ""))

        def on_log(self, args, state, control, logs=None, **kwargs):
            text = line(state, logs or {})
            if state.is_world_process_zero and text:
                log(text)

    return [PrinterCallback, ProgressCallback], [Bar() if terminal else Lines()]
