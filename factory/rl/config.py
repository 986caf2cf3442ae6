"""The `GRPOConfig` a `factory rl` run trains with: preset values, then the derived batch
arithmetic (see `factory.rl.presets`), then `--set key=value` overrides, each checked against
the GRPOConfig dataclass itself (an unknown key or a value of the wrong type is an error that
names the key, what was expected and what was found).

`--set` (a recipe's `set:` mapping) also takes the two batch knobs of a preset, `prompts_per_step` and `steps_per_rollout`.
Keys the factory manages have their own options: `output_dir` (--out), `reward_weights`
(--reward-weights), `resume_from_checkpoint` (a killed run resumes on its own; --overwrite starts over).

Exercise: `factory rl PROBLEMS --model M -o OUT --preset tiny --set max_steps=3 --set learning_rate=5e-4`.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from factory.rl.presets import COMMON, RLPreset
from factory.schemas.errors import FactoryError

PRESET_KNOBS = {"prompts_per_step": int, "steps_per_rollout": int}
MANAGED = {"output_dir": "--out", "reward_weights": "--reward-weights", "resume_from_checkpoint": "nothing: a killed run resumes on its own (--overwrite starts over)"}


@functools.cache
def grpo_fields() -> dict[str, Any]:
    """GRPOConfig field name -> its type annotation (resolved)."""
    from trl import GRPOConfig

    try:
        hints = typing.get_type_hints(GRPOConfig)
    except Exception:  # an unresolvable annotation: fall back to the raw ones
        hints = {}
    return {f.name: hints.get(f.name, f.type) for f in dataclasses.fields(GRPOConfig) if f.init}


def _parse(raw: str) -> Any:
    s = raw.strip()
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null", "~"):
        return None
    for conv in (int, float):
        try:
            return conv(s)
        except ValueError:
            pass
    if s[:1] in "[{":
        import yaml

        try:
            return yaml.safe_load(s)
        except yaml.YAMLError:
            return s
    return s


def conforms(value: Any, tp: Any) -> bool:
    """Whether `value` fits the annotation `tp` (unknown annotations are left to GRPOConfig)."""
    if tp is Any or isinstance(tp, str):
        return True
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return any(conforms(value, a) for a in get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin is Literal:
        return value in get_args(tp)
    if tp is list or origin is list:
        args = get_args(tp)
        return isinstance(value, list) and (not args or all(conforms(v, args[0]) for v in value))
    if tp is dict or origin is dict:
        return isinstance(value, dict)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return isinstance(value, tp) or value in {e.value for e in tp}
    return True


def _describe(tp: Any) -> str:
    text = str(tp).replace("typing.", "").replace("<class '", "").replace("'>", "")
    return text.replace("transformers.trainer_utils.", "").replace("transformers.training_args.", "")


def _float_only(tp: Any) -> bool:
    if tp is float:
        return True
    args = get_args(tp) if get_origin(tp) in (Union, types.UnionType) else ()
    return float in args and int not in args


def _typed(key: str, value: Any, tp: Any) -> tuple[Any, str | None]:
    """(value converted to the field's type, problem or None). Strings are read the way a
    command line writes them ("2e-5", "true", "[1, 2]")."""
    candidates = [value]
    if isinstance(value, str):
        candidates = [_parse(value), value]
    for v in candidates:
        if conforms(v, tp):
            if isinstance(v, int) and not isinstance(v, bool) and _float_only(tp):
                v = float(v)
            return v, None
    return None, f"{key}: expected {_describe(tp)}, found {type(value).__name__} {value!r}"


def override_problems(overrides: dict[str, Any]) -> list[str]:
    return parse_overrides(overrides, raise_=False)[1]


def parse_overrides(overrides: dict[str, Any] | None, *, raise_: bool = True) -> tuple[dict[str, Any], list[str]]:
    """`{key: value}` (from `--set KEY=VALUE` or a recipe's `set:` mapping) -> typed values,
    every problem reported at once: unknown keys (with close names), managed keys, bad types."""
    fields = grpo_fields()
    out: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in (overrides or {}).items():
        key = str(key).strip()
        if key in MANAGED:
            problems.append(f"{key}: set by the factory; use {MANAGED[key]}")
            continue
        if key in PRESET_KNOBS:
            v, _ = _typed(key, value, int)
            if not isinstance(v, int) or v < 1:
                problems.append(f"{key}: expected an integer >= 1, found {value!r}")
            else:
                out[key] = v
            continue
        if key not in fields:
            import difflib

            close = difflib.get_close_matches(key.replace("-", "_"), list(fields), n=3, cutoff=0.75)
            problems.append(f"{key}: unknown GRPOConfig field" + (f" (did you mean {', '.join(close)}?)" if close else
                                                                   " (the fields are listed in TRL's GRPOConfig docs)"))
            continue
        v, problem = _typed(key, value, fields[key])
        if problem:
            problems.append(problem)
        else:
            out[key] = v
    if problems and raise_:
        raise FactoryError("--set: " + "; ".join(problems),
                           hint="`--set` takes GRPOConfig fields (TRL) or prompts_per_step / steps_per_rollout")
    return out, problems


def build_kwargs(
    preset: RLPreset,
    overrides: dict[str, Any],
    *,
    output_dir: str,
    reward_weights: list[float],
    seed: int,
    world_size: int = 1,
    cuda: bool = False,
    bf16: bool = False,
    use_vllm: bool = False,
) -> dict[str, Any]:
    """The GRPOConfig keyword arguments (see the module docstring for the order of precedence)."""
    overrides = dict(overrides)
    kw: dict[str, Any] = dict(COMMON)
    kw.update(preset.grpo)
    kw.update(output_dir=output_dir, seed=seed, data_seed=seed, use_cpu=not cuda, bf16=bf16,
              reward_weights=list(reward_weights))
    if use_vllm:
        # colocate: vLLM shares the training GPUs and wakes/sleeps around each generation round
        kw.update(use_vllm=True, vllm_mode="colocate")
    prompts_per_step = overrides.pop("prompts_per_step", preset.prompts_per_step)
    steps_per_rollout = overrides.pop("steps_per_rollout", preset.steps_per_rollout)
    g = overrides.get("num_generations", kw.get("num_generations", 8))
    per_device = overrides.get("per_device_train_batch_size", kw.get("per_device_train_batch_size", 8))
    # completions per optimizer step = prompts_per_step * G, spread over the processes' micro-batches
    accum = max(1, math.ceil(prompts_per_step * g / (per_device * world_size)))
    kw["gradient_accumulation_steps"] = accum
    kw["steps_per_generation"] = accum * steps_per_rollout
    kw.update(overrides)
    if "generation_batch_size" in overrides and "steps_per_generation" not in overrides:
        kw.pop("steps_per_generation")  # TRL takes one of the two
    return kw


def make_config(kwargs: dict[str, Any]):
    """GRPOConfig(**kwargs), its own checks turned into a factory error naming the settings."""
    from trl import GRPOConfig

    try:
        return GRPOConfig(**kwargs)
    except (ValueError, TypeError) as e:
        raise FactoryError(f"GRPOConfig rejected the settings: {e}",
                           hint="fix the preset values with --set (e.g. per_device_train_batch_size, num_generations, "
                                "prompts_per_step) so the generation batch holds whole groups of num_generations") from None
