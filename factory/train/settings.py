"""`factory train --set KEY=VALUE` (a recipe's `set:` mapping): the preset's values, or ANY field
of TRL's `SFTConfig` / transformers' `TrainingArguments`, checked before any work starts.

Order of precedence: the preset (factory/train/presets.py), the values derived from it (gradient
accumulation from the global batch size), then `--set`. A key is, in this order:
- a preset key (`learning_rate`, `global_batch_size`, `lora_r`, ... and the SFTConfig names of
  preset keys: `per_device_train_batch_size`, `activation_checkpointing`): it changes the preset,
  so the model card's settings table shows it;
- a key the factory manages through its own option (`output_dir` is --out, `push_to_hub` is
  --push-to-hub, ...): an error naming that option;
- an SFTConfig field (`report_to`, `bf16`, `eval_steps`, `optim`, ... all 135 of them): passed
  through after a type check against the dataclass's annotation;
- anything else: an error with the closest field names.

Values are checked against bounds TRL or torch would reject later, after minutes of loading
(`learning_rate=-1` fails in the optimizer, `max_length=0` in the collator with a bare
AssertionError): `set.learning_rate: expected a number > 0, found -1`. `report_to` names are
checked against transformers' integrations and their libraries (`pip install tensorboard`).

Exercise: `factory train --data D --student tiny -o OUT --set max_steps=5 --set report_to=tensorboard`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from collections.abc import Callable
from typing import Any

from factory.train.presets import PRESETS, TrainPreset

# SFTConfig names of preset keys
ALIASES = {"per_device_train_batch_size": "per_device_batch_size", "activation_checkpointing": "gradient_checkpointing"}
MANAGED = {
    "output_dir": "--out",
    "push_to_hub": "--push-to-hub REPO",
    "hub_model_id": "--push-to-hub REPO",
    "hub_private_repo": "--hub-private",
    "resume_from_checkpoint": "nothing: a killed run resumes from its last complete checkpoint on its own (--no-resume starts over)",
    "chat_template_path": "--chat-template",
}


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and not (isinstance(x, float) and math.isnan(x))


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _rule(test: Callable[[Any], bool], text: str) -> tuple[Callable[[Any], bool], str]:
    return test, text


# Bounds of the values TRL, transformers or torch reject (or that cannot train anything).
BOUNDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "learning_rate": _rule(lambda x: _num(x) and x > 0, "a number > 0"),
    "num_train_epochs": _rule(lambda x: _num(x) and x > 0, "a number > 0"),
    "max_steps": _rule(lambda x: _int(x) and (x == -1 or x >= 1), "-1 (train num_train_epochs) or an integer >= 1"),
    "max_length": _rule(lambda x: _int(x) and x >= 1, "an integer >= 1"),
    "global_batch_size": _rule(lambda x: _int(x) and x >= 1, "an integer >= 1"),
    "per_device_batch_size": _rule(lambda x: _int(x) and x >= 1, "an integer >= 1"),
    "per_device_eval_batch_size": _rule(lambda x: _int(x) and x >= 1, "an integer >= 1"),
    "gradient_accumulation_steps": _rule(lambda x: _int(x) and x >= 1, "an integer >= 1"),
    "warmup_ratio": _rule(lambda x: _num(x) and 0 <= x < 1, "a number in [0, 1)"),
    "warmup_steps": _rule(lambda x: _num(x) and x >= 0, "a number >= 0 (< 1: a share of the steps)"),
    "weight_decay": _rule(lambda x: _num(x) and x >= 0, "a number >= 0"),
    "save_steps": _rule(lambda x: _num(x) and x > 0, "a number > 0 (< 1: a share of the steps)"),
    "logging_steps": _rule(lambda x: _num(x) and x > 0, "a number > 0 (< 1: a share of the steps)"),
    "eval_steps": _rule(lambda x: x is None or (_num(x) and x > 0), "a number > 0 (< 1: a share of the steps)"),
    "save_total_limit": _rule(lambda x: x is None or (_int(x) and x >= 1), "an integer >= 1 or null"),
    "max_grad_norm": _rule(lambda x: _num(x) and x >= 0, "a number >= 0"),
    "adam_beta1": _rule(lambda x: _num(x) and 0 <= x < 1, "a number in [0, 1)"),
    "adam_beta2": _rule(lambda x: _num(x) and 0 <= x < 1, "a number in [0, 1)"),
    "adam_epsilon": _rule(lambda x: _num(x) and x > 0, "a number > 0"),
    "label_smoothing_factor": _rule(lambda x: _num(x) and 0 <= x < 1, "a number in [0, 1)"),
    "lora_r": _rule(lambda x: _int(x) and x >= 1, "an integer >= 1"),
    "lora_alpha": _rule(lambda x: _num(x) and x > 0, "a number > 0"),
    "lora_dropout": _rule(lambda x: _num(x) and 0 <= x < 1, "a number in [0, 1)"),
    "seed": _rule(lambda x: _int(x) and x >= 0, "an integer >= 0"),
    "data_seed": _rule(lambda x: x is None or (_int(x) and x >= 0), "an integer >= 0 or null"),
    "dataloader_num_workers": _rule(lambda x: _int(x) and x >= 0, "an integer >= 0"),
    "neftune_noise_alpha": _rule(lambda x: x is None or (_num(x) and x > 0), "a number > 0 or null"),
}


@functools.cache
def sft_fields() -> dict[str, Any]:
    """SFTConfig's field names -> resolved annotations (TRL is imported on first use)."""
    from trl import SFTConfig

    try:
        hints = typing.get_type_hints(SFTConfig)
    except Exception:  # an annotation that does not resolve: keep the raw ones
        hints = {}
    return {f.name: hints.get(f.name, f.type) for f in dataclasses.fields(SFTConfig) if f.init}


def _preset_types() -> dict[str, Any]:
    return {f.name: f.type for f in dataclasses.fields(TrainPreset)}


def _typed_preset(key: str, value: Any, current: Any) -> tuple[Any, str | None]:
    """A preset value converted to the preset field's type (strings read as a command line writes them)."""
    from factory.rl.config import _parse

    v = _parse(value) if isinstance(value, str) else value
    if isinstance(current, bool):
        ok = isinstance(v, bool)
    elif isinstance(current, int):
        ok = _int(v) or (isinstance(v, float) and v.is_integer())
        v = int(v) if ok else v
    elif isinstance(current, float):
        ok = _num(v)
        v = float(v) if ok else v
    else:
        ok, v = isinstance(value, str) and bool(value.strip()), value
    kind = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[type(current)]
    return (v, None) if ok else (None, f"expected {kind}, found {_found(value)}")


def _found(value: Any) -> str:
    from factory.schemas.options import found

    return found(value)


@dataclasses.dataclass
class Settings:
    preset: TrainPreset  # with the preset keys of --set applied
    trl: dict[str, Any]  # SFTConfig fields from --set, typed
    changed: list[str]  # keys of --set, in order


def resolve(preset_name: str, overrides: dict[str, Any] | None) -> tuple[Settings | None, list[tuple[str, str]]]:
    """(settings, problems): problems are (key, message) pairs, every one at once."""
    if preset_name not in PRESETS:
        return None, [("preset", f"expected one of {', '.join(PRESETS)}, found {preset_name!r}")]
    preset = PRESETS[preset_name]
    types = _preset_types()
    changes: dict[str, Any] = {}
    trl: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for raw_key, value in (overrides or {}).items():
        key = str(raw_key).strip()
        name = ALIASES.get(key, key)
        if key in MANAGED:
            problems.append((key, f"set by the factory: use {MANAGED[key]}"))
            continue
        if name in types:
            v, problem = _typed_preset(key, value, getattr(preset, name))
            if problem is None and name == "lr_scheduler_type":
                problem = _scheduler_problem(v)
        else:
            fields = sft_fields()
            if key not in fields:
                import difflib

                close = difflib.get_close_matches(key, sorted({*fields, *types}), n=3, cutoff=0.75)
                problems.append((key, "unknown training setting: expected a preset key or a field of TRL's SFTConfig / "
                                      "transformers' TrainingArguments" + (f" (did you mean {', '.join(close)}?)" if close else "")))
                continue
            from factory.rl.config import _typed

            v, problem = _typed(key, value, fields[key])
            if problem is not None:
                problem = problem.split(": ", 1)[1]
            elif key == "report_to":
                problem = _report_to_problem(v)
        rule = BOUNDS.get(key) or BOUNDS.get(name)
        if problem is None and rule is not None and not rule[0](v):
            problem = f"expected {rule[1]}, found {_found(value)}"
        if problem is not None:
            problems.append((key, problem))
        elif name in types:
            changes[name] = v
        else:
            trl[key] = v
    if problems:
        return None, problems
    return Settings(dataclasses.replace(preset, **changes), trl, [str(k) for k in (overrides or {})]), []


def _scheduler_problem(v: Any) -> str | None:
    from transformers.trainer_utils import SchedulerType

    names = [s.value for s in SchedulerType]
    return None if v in names else f"expected one of {', '.join(names)}, found {_found(v)}"


def _report_to_problem(v: Any) -> str | None:
    """Known integrations whose library is installed (`none`/`all` as transformers reads them)."""
    from transformers.integrations import integration_utils as iu

    names = [v] if isinstance(v, str) else list(v or [])
    known = sorted(iu.INTEGRATION_TO_CALLBACK)
    for n in names:
        if n in ("none", "all"):
            continue
        if n not in known:
            return f"expected none, all or integrations from {', '.join(known)}, found {n!r}"
        available = getattr(iu, f"is_{n}_available", None)
        if available is not None and not available():
            return f"{n} is not installed: pip install {'tensorboard' if n == 'tensorboard' else n.replace('_', '-')}"
    return None


def check_overrides(preset_name: str | None, overrides: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The problems of a `set:` mapping as `("set.KEY", message)` pairs (TrainOptions.cross_checks)."""
    if not overrides:
        return []
    _, problems = resolve(preset_name or "s1", overrides)
    return [(f"set.{k}" if k != "preset" else k, m) for k, m in problems]
