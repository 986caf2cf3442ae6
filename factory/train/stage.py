"""Recipe stage `train`: distil a student on a curated SFT folder (see factory.train.core).

Section keys: `data` (SFT folder, required), `student` (model folder or Hub id; `tiny` builds
the tiny random model into `<out>/base` first — for offline smoke runs), `out` (required),
`preset` (default s1), `set` (list of key=value overrides), `lora` (bool), `chat_template` (file).
"""

from __future__ import annotations

from typing import Any

from factory.pipeline.legacy import StageContext, unknown_keys

KEYS = {"data": str, "student": str, "out": str, "preset": str, "set": list, "lora": bool, "chat_template": str}
REQUIRED = ("data", "student", "out")


def validate(section: dict[str, Any], path: str) -> list[str]:
    from factory.train.presets import PRESETS

    problems = unknown_keys(section, path, KEYS)
    for k, v in section.items():
        if k not in KEYS:
            continue
        if not isinstance(v, KEYS[k]):
            problems.append(f"{path}.{k}: expected {KEYS[k].__name__}, found {type(v).__name__} {v!r}")
    for k in REQUIRED:
        if k not in section:
            problems.append(f"{path}.{k}: required key is missing")
    if "preset" in section and section["preset"] not in PRESETS:
        problems.append(f"{path}.preset: expected one of {sorted(PRESETS)}, found {section['preset']!r}")
    for i, ov in enumerate(section.get("set") or []):
        if not isinstance(ov, str) or "=" not in ov:
            problems.append(f"{path}.set[{i}]: expected key=value, found {ov!r}")
    return problems


def run(section: dict[str, Any], ctx: StageContext) -> dict[str, Any]:
    from factory.train.core import train

    out = ctx.path(section["out"])
    student = section["student"]
    if student == "tiny":
        from factory.generate.teachers.tiny import build_tiny_model

        student = str(build_tiny_model(out.parent / f"{out.name}_base"))
    template = section.get("chat_template")
    res = train(data=ctx.path(section["data"]), student=student, out=out, preset=section.get("preset", "s1"),
                overrides=list(section.get("set") or []), lora=bool(section.get("lora", False)),
                chat_template_file=ctx.path(template) if template else None, log=ctx.log)
    first, last = (res.losses[0], res.losses[-1]) if res.losses else (None, None)
    ctx.log(f"trained {res.global_step} steps, loss {first} → {last}, packing efficiency {res.packing_efficiency}")
    return {"out": str(out), "steps": res.global_step, "loss_first": first, "loss_last": last,
            "tokens_per_second": round(res.tokens_per_second, 1), "packing_efficiency": res.packing_efficiency}
