"""The `publish` recipe stage: `factory publish` driven by a recipe section.

    publish:
      input: sft                  # the SFT (or any dataset) folder, relative to the run folder
                                  # (default: the `out` of the recipe's curate stage)
      out: hub                    # Hub-ready folder to write (default: INPUT/hub)
      repo_id: me/quickstart-sft  # Hub dataset repo; required unless dry_run
      dry_run: true               # only write the folder (the quickstart does this)
      private: false
      revision: null              # branch to publish to
      config: default
      max_shard_size: 500MB
      lineage: [traces, filtered] # optional upstream folders for the card's funnel

Exercise: `factory run quickstart --out runs/quickstart` (ends with `publish` in dry-run mode).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from factory.pipeline.legacy import StageContext, unknown_keys

KEYS = {"input", "out", "repo_id", "dry_run", "private", "revision", "config", "max_shard_size", "lineage"}


def _check_common(section: dict[str, Any], path: str, keys: set[str]) -> list[str]:
    problems = unknown_keys(section, path, keys)
    for key in ("input", "out"):
        v = section.get(key)
        if v is not None and (not isinstance(v, str) or not v):
            problems.append(f"{path}.{key}: expected a folder path (string), found {v!r}")
    lin = section.get("lineage")
    if lin is not None and (not isinstance(lin, list) or not all(isinstance(p, str) and p for p in lin)):
        problems.append(f"{path}.lineage: expected a list of folder paths, found {lin!r}")
    return problems


def validate(section: dict[str, Any], path: str) -> list[str]:
    from factory.publish.core import check_repo_id
    from factory.publish.hub_layout import parse_size
    from factory.schemas.errors import FactoryError

    problems = _check_common(section, path, KEYS)
    for key in ("dry_run", "private"):
        if key in section and not isinstance(section[key], bool):
            problems.append(f"{path}.{key}: expected true or false, found {section[key]!r}")
    repo = section.get("repo_id")
    if repo is not None:
        try:
            check_repo_id(repo if isinstance(repo, str) else repr(repo))
        except FactoryError:
            problems.append(f"{path}.repo_id: expected ORG/NAME, found {repo!r}")
    elif not section.get("dry_run", False):
        problems.append(f"{path}.repo_id: expected ORG/NAME (required unless dry_run: true), found nothing")
    for key in ("revision", "config"):
        v = section.get(key)
        if v is not None and not isinstance(v, str):
            problems.append(f"{path}.{key}: expected a string, found {v!r}")
    cfg = section.get("config")
    if isinstance(cfg, str) and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", cfg):
        problems.append(f"{path}.config: expected letters, digits, '_', '-' or '.', found {cfg!r}")
    if "max_shard_size" in section:
        try:
            parse_size(section["max_shard_size"])
        except FactoryError:
            problems.append(f"{path}.max_shard_size: expected a size like 500MB or 1GB, found {section['max_shard_size']!r}")
    return problems


def input_folder(section: dict[str, Any], ctx: StageContext, stage: str) -> Path:
    """The section's `input`, else the curate stage's output folder."""
    from factory.schemas.errors import RecipeError

    if section.get("input"):
        return ctx.path(section["input"])
    for name, summary in ctx.summaries.items():
        if name.split("/")[0] == "curate" and isinstance(summary, dict) and summary.get("out"):
            return ctx.path(summary["out"])
    raise RecipeError([f"{stage}.input: expected the folder to {stage} (no curate stage ran before it), found nothing"])


def lineage_of(section: dict[str, Any], ctx: StageContext, src: Path) -> list[Path]:
    """The section's `lineage` when given (exactly that chain: a recipe with parallel branches
    names the one its funnel should follow), else every folder an earlier stage of this run
    wrote, so the card and report see the whole pipeline without anyone listing it."""
    from factory.io.dataset import MANIFEST

    paths = [ctx.path(p) for p in section.get("lineage") or []]
    if paths:
        return paths
    for summary in ctx.summaries.values():
        out = summary.get("out") if isinstance(summary, dict) else None
        if isinstance(out, str):
            p = ctx.path(out)
            if (p / MANIFEST).exists() and p.resolve() != src.resolve() and p not in paths:
                paths.append(p)
    return paths


def run(section: dict[str, Any], ctx: StageContext) -> dict[str, Any]:
    from factory.publish.core import publish

    src = input_folder(section, ctx, "publish")
    out = ctx.path(section["out"]) if section.get("out") else src / "hub"
    res = publish(
        src,
        repo_id=section.get("repo_id"),
        out=out,
        config=section.get("config", "default"),
        private=section.get("private", False),
        revision=section.get("revision"),
        dry_run=section.get("dry_run", False),
        max_shard_size=section.get("max_shard_size", "500MB"),
        lineage=lineage_of(section, ctx, src),
    )
    hub = res.folder
    ctx.log(f"publish: wrote {out} ({', '.join(f'{s.name} {s.rows} rows' for s in hub.splits)})"
            + (" — dry run, nothing uploaded" if res.upload is None else f" — uploaded {len(res.upload.uploaded)} file(s)"))
    return {
        "out": str(out),
        "config": hub.config,
        "splits": {s.name: {"rows": s.rows, "files": s.files} for s in hub.splits},
        "card": str(hub.readme),
        "report": str(res.report),
        "uploaded": None if res.upload is None else res.upload.uploaded,
    }
