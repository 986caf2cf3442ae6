"""The `decontaminate` recipe stage: the same work as `factory decontaminate`.

    decontaminate:
      input: problems_dedup      # dataset folder, relative to the run folder
      out: problems_clean        # kept rows; contaminated rows go to <out>/rejected/ (action: drop)
      ngram: 8                   # optional
      action: drop               # optional: drop | flag
      builtin: [math500, gsm8k]  # optional: default every shipped benchmark
      benchmarks: ["mine=@data/…/x.jsonl:question"]   # optional extra NAME=PATH[:COLUMN]
      fields: [problem]          # optional text columns to check
      min_matches: 2             # optional
      common_items: 3            # optional
      min_overlap: 0.2           # optional
      min_content_words: 3       # optional

Re-running with the same settings on an unchanged input is a no-op.

Exercise: `factory run quickstart --out runs/quickstart`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from factory.pipeline.stages import StageContext, folder_keys, unknown_keys

KEYS = {"input", "out", "ngram", "action", "builtin", "benchmarks", "fields", "min_matches", "common_items", "min_overlap", "min_content_words"}


def _config(section: dict[str, Any]):
    from factory.dedup.decontam import BUILTIN, DecontamConfig

    kw: dict[str, Any] = {k: section[k] for k in ("ngram", "action", "min_matches", "common_items", "min_overlap", "min_content_words") if k in section}
    kw["builtin"] = tuple(section.get("builtin", list(BUILTIN)))
    kw["fields"] = tuple(section.get("fields", ["problem"]))
    return DecontamConfig(**kw)


def _strings(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) and x for x in v)


def validate(section: dict[str, Any], path: str) -> list[str]:
    problems: list[str] = unknown_keys(section, path, KEYS)
    problems += folder_keys(section, path)
    for key in ("ngram", "min_matches", "common_items", "min_content_words"):
        v = section.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            problems.append(f"{path}.{key}: expected an integer, found {v!r}")
    mo = section.get("min_overlap")
    if mo is not None and (isinstance(mo, bool) or not isinstance(mo, (int, float))):
        problems.append(f"{path}.min_overlap: expected a number in [0, 1], found {mo!r}")
    for key in ("builtin", "benchmarks", "fields"):
        v = section.get(key)
        if v is not None and not _strings(v):
            problems.append(f"{path}.{key}: expected a list of strings, found {v!r}")
    from factory.dedup.decontam import BUILTIN

    if _strings(section.get("builtin")):
        unknown = [b for b in section["builtin"] if b not in BUILTIN]
        if unknown:
            problems.append(f"{path}.builtin: unknown benchmark(s) {unknown}; expected names from {sorted(BUILTIN)}")
    for i, spec in enumerate(section.get("benchmarks") or []):
        if isinstance(spec, str) and "=" not in spec:
            problems.append(f"{path}.benchmarks[{i}]: expected NAME=PATH[:COLUMN], found {spec!r}")
    if not problems:
        problems += [f"{path}.{p}" for p in _config(section).problems()]
    return list(dict.fromkeys(problems))


def run(section: dict[str, Any], ctx: StageContext) -> dict[str, Any]:
    from factory.dedup.decontam import report_lines, run_decontam
    from factory.io.dataset import read_manifest
    from factory.schemas.errors import DatasetError

    cfg = _config(section)
    src, out = ctx.path(section["input"]), ctx.path(section["out"])
    specs = []
    for spec in section.get("benchmarks") or []:
        name, _, rest = spec.partition("=")
        specs.append(f"{name}={ctx.path(rest)}")
    settings = {"config": repr(cfg), "benchmarks": specs, "input_shards": [s.sha256 for s in read_manifest(src).shards]}
    mode = "overwrite" if ctx.overwrite else "create"
    if (Path(out) / "manifest.json").exists():
        m = read_manifest(out)
        if m.params.get("settings") == settings:
            ctx.log(f"decontaminate: {out} is up to date ({m.rows} rows); skipped")
            return {"skipped": True, "out": str(out), **_summary(m.stats)}
        if not ctx.overwrite:
            raise DatasetError(f"{out}: holds a decontamination output made from other input or settings", hint="re-run with --overwrite, or choose another `out`")
        mode = "overwrite"
    r = run_decontam(src, out, cfg, benchmarks=specs, mode=mode, command="factory run: decontaminate", log=ctx.log, extra_params={"settings": settings})
    for line in report_lines(r.stats):
        ctx.log(line)
    return {"skipped": False, "out": str(out), **_summary(r.stats)}


def _summary(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: stats.get(k) for k in ("rows_in", "rows_out", "contaminated", "hits_by_benchmark")}
