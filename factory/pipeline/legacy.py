"""Helpers of the recipe stages that are not yet declared as one options dataclass (being
converted; see factory.pipeline.stages). Deleted when the last stage moves to STAGES."""

from __future__ import annotations

from typing import Any

from factory.data import DATA_DIR as PACKAGE_DATA  # noqa: F401
from factory.pipeline.runner import StageContext, resolve_path  # noqa: F401


def unknown_keys(section: dict[str, Any], path: str, keys: set[str] | dict[str, Any]) -> list[str]:
    return [f"{path}.{k}: unknown key (expected one of {sorted(keys)})" for k in section if k not in keys]


def folder_keys(section: dict[str, Any], path: str, names: tuple[str, ...] = ("input", "out")) -> list[str]:
    problems = []
    for key in names:
        v = section.get(key)
        if not isinstance(v, str) or not v:
            problems.append(f"{path}.{key}: expected a folder path (string), found {v!r}")
    return problems
