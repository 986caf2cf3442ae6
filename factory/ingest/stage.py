"""The `ingest` recipe stage: the same work as `factory ingest`, driven by a recipe section.

    ingest:                       # or `ingest/traces:` when a recipe ingests several sets
      inputs: ["@data/benchmarks/math500_test.jsonl.gz"]   # @data/ = data shipped in the package
      preset: math500             # optional: guessed from file name/columns when left out
      to: problem                 # optional: problem | trace (default: the preset's)
      out: problems               # output dataset folder, relative to the run folder
      limit: 50                   # optional: read at most N input rows
      map: {problem: question}    # optional: DEST: COLUMN (or a list of "DEST=COLUMN")
      on_error: fail              # optional: fail | skip
      domain: math                # optional constants: domain, source, license, language, teacher

Re-running a finished stage with the same settings is a no-op (the manifest records them).

Exercise: `factory run quickstart --out runs/quickstart`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from factory.pipeline.legacy import PACKAGE_DATA, StageContext, unknown_keys

KEYS = {"inputs", "preset", "to", "out", "limit", "map", "on_error", "domain", "source", "license", "language", "teacher"}
_STRING_KEYS = ("preset", "source", "license", "language", "teacher")


def validate(section: dict[str, Any], path: str) -> list[str]:
    from factory.ingest.presets import PRESETS, allowed_dests
    from factory.schemas.contracts import DOMAINS

    problems: list[str] = unknown_keys(section, path, KEYS)
    inputs = section.get("inputs")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) and i for i in inputs):
        problems.append(f"{path}.inputs: expected a non-empty list of paths, found {section.get('inputs')!r}")
    else:
        for i, p in enumerate(inputs):
            if p.startswith("@data/") and not (PACKAGE_DATA / p[len("@data/"):]).exists():
                problems.append(f"{path}.inputs[{i}]: expected a file shipped in the package, found no {p}")
    out = section.get("out")
    if not isinstance(out, str) or not out:
        problems.append(f"{path}.out: expected a folder path (string), found {out!r}")
    for key in _STRING_KEYS:
        if key in section and not isinstance(section[key], str):
            problems.append(f"{path}.{key}: expected a string, found {section[key]!r}")
    preset = section.get("preset")
    if isinstance(preset, str) and preset not in PRESETS:
        problems.append(f"{path}.preset: expected one of {sorted(PRESETS)}, found {preset!r}")
    to = section.get("to")
    if to is not None and to not in ("problem", "trace"):
        problems.append(f"{path}.to: expected 'problem' or 'trace', found {to!r}")
    if isinstance(preset, str) and preset in PRESETS and to == "trace" and PRESETS[preset].traces is None:
        problems.append(f"{path}.to: preset {preset!r} makes problem rows only, found to: trace")
    limit = section.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        problems.append(f"{path}.limit: expected a positive integer, found {limit!r}")
    on_error = section.get("on_error")
    if on_error is not None and on_error not in ("fail", "skip"):
        problems.append(f"{path}.on_error: expected 'fail' or 'skip', found {on_error!r}")
    domain = section.get("domain")
    if domain is not None and domain not in DOMAINS:
        problems.append(f"{path}.domain: expected one of {list(DOMAINS)}, found {domain!r}")
    mapping = section.get("map")
    if mapping is not None:
        pairs: dict[str, Any] = {}
        if isinstance(mapping, dict):
            pairs = mapping
        elif isinstance(mapping, list) and all(isinstance(m, str) and "=" in m for m in mapping):
            pairs = dict(m.split("=", 1) for m in mapping)
        else:
            problems.append(f"{path}.map: expected a mapping DEST: COLUMN (or a list of 'DEST=COLUMN'), found {mapping!r}")
        for dst, src in pairs.items():
            if not isinstance(src, str) or not src:
                problems.append(f"{path}.map.{dst}: expected a column name, found {src!r}")
        if isinstance(preset, str) and preset in PRESETS:
            kind = to if to in ("problem", "trace") else PRESETS[preset].kind
            allowed = allowed_dests(PRESETS[preset], kind)
            for dst in pairs:
                if dst not in allowed and not str(dst).startswith("meta."):
                    problems.append(f"{path}.map.{dst}: unknown destination (expected one of {list(allowed)} or meta.KEY)")
    return problems


def run(section: dict[str, Any], ctx: StageContext) -> dict[str, Any]:
    from factory.ingest.core import ingest, parse_maps
    from factory.io.dataset import read_manifest
    from factory.schemas.errors import DatasetError

    inputs = section["inputs"]
    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    resolved = [i if i.startswith("hf:") else str(ctx.path(i)) for i in inputs]
    out = ctx.path(section["out"])
    kwargs: dict[str, Any] = dict(
        preset=section.get("preset"), to=section.get("to"), maps=parse_maps(section.get("map")),
        on_error=section.get("on_error", "fail"), limit=section.get("limit"), domain=section.get("domain"),
        source=section.get("source"), license=section.get("license"), language=section.get("language"),
        teacher=section.get("teacher"),
    )
    mode = "create"
    if (Path(out) / "manifest.json").exists():
        m = read_manifest(out)
        if _same_settings(m.params, resolved, kwargs):
            ctx.log(f"ingest: {out} is up to date ({m.rows} {m.contract} rows); skipped")
            return {"out": str(out), "contract": m.contract, "skipped": True, "rows_written": m.rows,
                    **{k: m.stats.get(k) for k in ("rows_read", "rows_rejected", "rejected_by_reason")}}
        if not ctx.overwrite:
            raise DatasetError(
                f"{out}: holds a dataset ingested with other settings ({m.command})",
                hint="re-run with --overwrite to replace it, or choose another `out`",
            )
        mode = "overwrite"
    elif ctx.overwrite:
        mode = "overwrite"
    r = ingest(resolved, out=out, mode=mode, **kwargs)
    line = f"ingest: {r.rows_read} read, {r.rows_written} {r.contract} rows written, {r.rows_rejected} rejected"
    if r.rows_rejected:
        line += " (" + ", ".join(f"{k} {v}" for k, v in r.rejected_by_reason.items()) + f") -> {r.rejects_file}"
    ctx.log(line + f" -> {out}")
    return {"skipped": False, **r.to_json()}


def _same_settings(params: dict[str, Any], inputs: list[str], kwargs: dict[str, Any]) -> bool:
    keys = ("preset", "on_error", "limit", "domain", "source", "license", "language", "teacher")
    if params.get("inputs") != inputs or (params.get("map") or {}) != kwargs["maps"]:
        return False
    if kwargs["to"] is not None and params.get("to") != kwargs["to"]:
        return False
    return all(params.get(k) == kwargs[k] for k in keys)
