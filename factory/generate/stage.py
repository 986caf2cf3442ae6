"""The `generate` recipe stage: the same work as `factory generate`, driven by a recipe section.

    generate:                     # or `generate/live:` when a recipe generates several times
      teacher: "@tiny"            # model folder / Hub id; "@tiny" builds the tiny random model
                                  # inside the run folder (smoke tests); a trace folder for replay
      backend: transformers       # transformers | vllm | openai | replay
      problems: problems          # problem folder, relative to the run folder
      out: traces                 # trace folder to write
      n: 2                        # optional: any `factory generate` option by its long name
      max_tokens: 64              #   (temperature, top_p, top_k, seed, prompt, limit, base_url, ...)

The seed defaults to the recipe's seed. Re-running a finished stage is a no-op.

Exercise: `factory run RECIPE --out runs/x` with a generate section.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from factory.pipeline.legacy import StageContext

_ENUMS = {"backend": ("transformers", "vllm", "openai", "replay"), "executor": ("local", "ray"),
          "only": ("all", "truncated", "errors")}
_REQUIRED = ("teacher", "problems", "out")


def _fields() -> dict[str, str]:
    from factory.generate.core import GenerateOptions

    return {f.name: str(f.type) for f in dataclasses.fields(GenerateOptions) if f.name != "overwrite"}


def _type_ok(annotation: str, value: Any) -> bool:
    if value is None:
        return "None" in annotation
    if isinstance(value, bool):
        return annotation.startswith("bool")
    if annotation.startswith("int"):
        return isinstance(value, int)
    if annotation.startswith("float"):
        return isinstance(value, (int, float))
    return isinstance(value, str)


def validate(section: dict[str, Any], path: str) -> list[str]:
    from factory.generate.prompts import PRESETS

    fields = _fields()
    problems: list[str] = []
    for key, value in section.items():
        if key not in fields:
            problems.append(f"{path}.{key}: unknown key (expected one of {sorted(fields)})")
        elif key in _ENUMS:
            if value not in _ENUMS[key]:
                problems.append(f"{path}.{key}: expected one of {list(_ENUMS[key])}, found {value!r}")
        elif not _type_ok(fields[key], value):
            problems.append(f"{path}.{key}: expected {fields[key]}, found {value!r}")
    for key in _REQUIRED:
        if not isinstance(section.get(key), str) or not section.get(key):
            problems.append(f"{path}.{key}: required (a string), found {section.get(key)!r}")
    for key in ("n", "max_tokens", "replicas", "batch_size", "concurrency"):
        v = section.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and v < 1:
            problems.append(f"{path}.{key}: expected at least 1, found {v}")
    prompt = section.get("prompt")
    if isinstance(prompt, str) and prompt not in PRESETS and not prompt.endswith((".jinja", ".j2", ".jinja2")):
        problems.append(f"{path}.prompt: expected a preset {sorted(PRESETS)} or a .jinja file, found {prompt!r}")
    if section.get("backend") == "openai" and not section.get("base_url"):
        problems.append(f"{path}.base_url: required with backend openai (e.g. http://localhost:8000/v1)")
    return problems


def run(section: dict[str, Any], ctx: StageContext) -> dict[str, Any]:
    from factory.generate.core import GenerateOptions, run_generate

    values = dict(section)
    backend = values.setdefault("backend", "transformers")
    teacher = values["teacher"]
    if teacher == "@tiny":
        from factory.generate.teachers.tiny import build_tiny_model

        teacher = str(build_tiny_model(ctx.run_dir / "teacher-tiny"))
        ctx.log(f"teacher: tiny RANDOM model at {teacher} (its output is random text)")
    elif backend == "replay" or teacher.startswith("@data/"):
        teacher = str(ctx.path(teacher))
    values.update(teacher=teacher, problems=str(ctx.path(values["problems"])), out=str(ctx.path(values["out"])))
    values.setdefault("seed", ctx.seed)
    opts = GenerateOptions(**values, overwrite=ctx.overwrite)
    summary = run_generate(opts, log=ctx.log, progress=False, command=f"factory run {ctx.recipe_name} (generate)")
    run_info = summary.get("run") or {}
    return {"out": summary["out"], "rows": summary["rows"], "generated": summary.get("generated", 0),
            "noop": bool(summary.get("noop")), "completion_tokens": run_info.get("completion_tokens"),
            "wall_seconds": run_info.get("wall_seconds")}
