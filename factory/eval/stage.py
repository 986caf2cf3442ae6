"""Recipe stage `eval`: score a model on shipped benchmarks (see factory.eval.core).

    eval:
      model: student              # model folder (relative to the run folder) or Hub id
      benchmarks: [math500, humaneval]
      out: eval                   # samples and eval.json
      n: 4                        # optional; also temperature, top_p, max_tokens, seed, limit, prompt, backend
      note: "..."                 # optional: printed with the results (e.g. what accuracy to expect)

Exercise: `factory run quickstart --out runs/quickstart` (ends with a tiny eval).
"""

from __future__ import annotations

from typing import Any

from factory.pipeline.legacy import StageContext, unknown_keys

KEYS = {"model": str, "benchmarks": list, "out": str, "n": int, "temperature": (int, float), "top_p": (int, float),
        "max_tokens": int, "seed": int, "limit": int, "prompt": str, "backend": str, "base_url": str, "max_model_len": int, "note": str}
REQUIRED = ("model", "benchmarks", "out")


def validate(section: dict[str, Any], path: str) -> list[str]:
    from factory.eval.core import BENCHMARKS

    problems = unknown_keys(section, path, KEYS)
    for k, v in section.items():
        if k not in KEYS:
            continue
        if not isinstance(v, KEYS[k]) or isinstance(v, bool):
            want = KEYS[k].__name__ if isinstance(KEYS[k], type) else "number"
            problems.append(f"{path}.{k}: expected {want}, found {type(v).__name__} {v!r}")
    for k in REQUIRED:
        if k not in section:
            problems.append(f"{path}.{k}: required key is missing")
    for i, b in enumerate(section.get("benchmarks") or []):
        if b not in BENCHMARKS:
            problems.append(f"{path}.benchmarks[{i}]: expected one of {sorted(BENCHMARKS)}, found {b!r}")
    if section.get("backend") not in (None, "transformers", "vllm", "openai"):
        problems.append(f"{path}.backend: expected transformers | vllm | openai, found {section['backend']!r}")
    return problems


def run(section: dict[str, Any], ctx: StageContext) -> dict[str, Any]:
    from factory.eval.core import EvalOptions, results_table, run_eval

    model = section["model"]
    local = ctx.path(model)
    if local.exists():
        model = str(local)
    opts = EvalOptions(model=model, benchmarks=list(section["benchmarks"]), out=ctx.path(section["out"]),
                       **{k: section[k] for k in ("n", "temperature", "top_p", "max_tokens", "seed", "limit", "prompt",
                                                  "backend", "base_url", "max_model_len") if k in section})
    record = run_eval(opts, log=ctx.log)
    from rich.console import Console

    Console(stderr=True).print(results_table(record))
    if section.get("note"):
        ctx.log(f"note: {section['note']}")
    return {"out": str(opts.out), "results": record["results"]}
