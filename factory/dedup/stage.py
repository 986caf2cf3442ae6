"""The `dedup` recipe stage: the same work as `factory dedup`, driven by a recipe section.

    dedup:
      input: problems            # dataset folder (problem or trace rows), relative to the run folder
      out: problems_dedup        # kept rows; removed rows go to <out>/rejected/
      by: problem                # optional: problem | trace
      method: minhash            # optional: exact | minhash
      threshold: 0.8             # optional; also ngram, num_perm, bands, rows, seed
      boilerplate: 0.01          # optional: shingles in >= 1% of texts are a shared header, ignored
      verify: jaccard            # optional: jaccard | none
      keep: most_correct         # optional: most_correct | smallest_id
      text_field: problem        # optional
      memory_budget: 2GB         # optional
      workers: 0                 # optional (0 = all cores)
      pool: threads              # optional: threads | processes (fingerprint workers)
      executor: local            # optional: local | ray

Re-running with the same settings on an unchanged input is a no-op (the manifest records both).

Exercise: `factory run quickstart --out runs/quickstart`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from factory.pipeline.stages import StageContext, folder_keys, unknown_keys

_INTS = ("ngram", "num_perm", "bands", "rows", "seed", "workers")
_CHOICES = {
    "by": ("problem", "trace"),
    "method": ("exact", "minhash"),
    "verify": ("jaccard", "none"),
    "keep": ("most_correct", "smallest_id"),
    "executor": ("local", "ray"),
    "pool": ("threads", "processes"),
}
KEYS = {"input", "out", "threshold", "boilerplate", "text_field", "memory_budget", *_INTS, *_CHOICES}


def _config(section: dict[str, Any], seed: int):
    from factory.dedup.core import DedupConfig, parse_bytes

    kw: dict[str, Any] = {k: section[k] for k in (*_INTS, "by", "method", "keep", "executor", "pool", "text_field") if k in section}
    for key in ("threshold", "boilerplate"):
        if key in section:
            kw[key] = float(section[key])
    kw.setdefault("seed", seed)
    if "verify" in section:
        kw["verify"] = section["verify"] == "jaccard"
    if "memory_budget" in section:
        kw["memory_budget"] = parse_bytes(section["memory_budget"])
    return DedupConfig(**kw)


def validate(section: dict[str, Any], path: str) -> list[str]:
    problems: list[str] = unknown_keys(section, path, KEYS)
    problems += folder_keys(section, path)
    for key in _INTS:
        v = section.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            problems.append(f"{path}.{key}: expected a non-negative integer, found {v!r}")
    for key, allowed in _CHOICES.items():
        v = section.get(key)
        if v is not None and v not in allowed:
            problems.append(f"{path}.{key}: expected one of {list(allowed)}, found {v!r}")
    th = section.get("threshold")
    if th is not None and (isinstance(th, bool) or not isinstance(th, (int, float)) or not 0 < th < 1):
        problems.append(f"{path}.threshold: expected a number in (0, 1), found {th!r}")
    bp = section.get("boilerplate")
    if bp is not None and (isinstance(bp, bool) or not isinstance(bp, (int, float)) or not 0 <= bp < 1):
        problems.append(f"{path}.boilerplate: expected a fraction in [0, 1), found {bp!r}")
    tf = section.get("text_field")
    if tf is not None and not (isinstance(tf, str) and tf):
        problems.append(f"{path}.text_field: expected a column name, found {tf!r}")
    mb = section.get("memory_budget")
    if mb is not None:
        from factory.dedup.core import parse_bytes
        from factory.schemas.errors import FactoryError

        try:
            parse_bytes(mb)
        except FactoryError:
            problems.append(f"{path}.memory_budget: expected a size like 2GB or 512MB, found {mb!r}")
    if not problems:
        problems += [f"{path}.{p}" for p in _config(section, 1).problems()]
    return problems


def run(section: dict[str, Any], ctx: StageContext) -> dict[str, Any]:
    from factory.dedup.core import report_lines, run_dedup
    from factory.io.dataset import read_manifest
    from factory.schemas.errors import DatasetError

    cfg = _config(section, ctx.seed)
    src, out = ctx.path(section["input"]), ctx.path(section["out"])
    mode = "overwrite" if ctx.overwrite else "create"
    if (Path(out) / "manifest.json").exists():
        m = read_manifest(out)
        src_m = read_manifest(src)
        fresh = m.params.get("input_shards") == [s.sha256 for s in src_m.shards]
        if fresh and m.params.get("settings") == _settings(cfg):
            ctx.log(f"dedup: {out} is up to date ({m.rows} rows); skipped")
            return {"skipped": True, "out": str(out), **_summary(m.stats)}
        if not ctx.overwrite:
            raise DatasetError(f"{out}: holds a dedup output made from other input or settings", hint="re-run with --overwrite, or choose another `out`")
        mode = "overwrite"
    r = run_dedup(src, out, cfg, mode=mode, command="factory run: dedup", log=ctx.log,
                  extra_params={"input_shards": [s.sha256 for s in read_manifest(src).shards], "settings": _settings(cfg)})
    for line in report_lines(r.stats):
        ctx.log(line)
    return {"skipped": False, "out": str(out), **_summary(r.stats)}


def _settings(cfg) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: v for k, v in asdict(cfg).items() if k not in ("workers", "executor", "memory_budget", "batch_size", "pool")}


def _summary(stats: dict[str, Any]) -> dict[str, Any]:
    keys = ("rows_in", "rows_out", "rows_rejected", "rejected_by", "clusters", "cluster_sizes")
    return {k: stats.get(k) for k in keys}
