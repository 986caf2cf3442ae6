"""Load a recipe by shipped name or file path, apply `key.sub=value` overrides, and check the
top level. A recipe is a YAML mapping:

    name: quickstart            # required, string
    description: ...            # optional
    seed: 0                     # required, integer: every sampler is seeded from it
    stages: [ingest, inspect]   # required: the stages `factory run` executes, in order
    ingest: {...}               # one section per stage (and any section a stage reads)

Problems are collected, not raised one by one, so a user sees all of them at once.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from factory.schemas.errors import RecipeError

RECIPES_DIR = Path(__file__).resolve().parent
TOP_LEVEL = {"name", "description", "seed", "stages"}


@dataclass
class Recipe:
    name: str
    seed: int
    stages: list[str]
    sections: dict[str, Any]
    description: str = ""
    path: Path | None = None
    text: str = ""
    overrides: list[str] = field(default_factory=list)

    def section(self, name: str) -> dict[str, Any]:
        return self.sections.get(name) or {}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "seed": self.seed, "stages": self.stages, **self.sections}


def list_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def recipe_path(name_or_path: str | Path) -> Path:
    """A `.yaml`/`.yml` path is a file; anything else is a shipped recipe's name (so a folder
    named like a recipe in the working directory never shadows it)."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        if not p.exists():
            raise RecipeError([f"recipe file {p}: not found"], hint=f"shipped recipes: {', '.join(list_recipes())}")
        if not p.is_file():
            raise RecipeError([f"recipe file {p}: expected a YAML file, found a folder"])
        return p
    shipped = RECIPES_DIR / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    raise RecipeError(
        [f"recipe: expected a shipped recipe name or a .yaml file, found {str(name_or_path)!r}"],
        hint=f"shipped recipes: {', '.join(list_recipes())}",
    )


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (plain YAML
    keeps the last one silently: a typo'd duplicate would drop half a stage section)."""


def _no_duplicate_keys(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> list[str]:
    """Apply `a.b.c=value` overrides in place (value parsed as YAML); return problems."""
    problems = []
    for ov in overrides:
        if "=" not in ov:
            problems.append(f"override {ov!r}: expected key.sub=value")
            continue
        key, value = ov.split("=", 1)
        parts = key.strip().split(".")
        cur: Any = data
        for i, part in enumerate(parts[:-1]):
            if isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
                cur = cur[int(part)]
                continue
            if not isinstance(cur, dict):
                problems.append(f"override {key}: {'.'.join(parts[:i])} is not a mapping")
                cur = None
                break
            cur = cur.setdefault(part, {})
        if cur is None:
            continue
        last = parts[-1]
        if isinstance(cur, list) and last.isdigit() and int(last) < len(cur):
            cur[int(last)] = _parse_value(value)
        elif isinstance(cur, dict):
            cur[last] = _parse_value(value)
        else:
            problems.append(f"override {key}: parent is not a mapping")
    return problems


def load_recipe(name_or_path: str | Path, *, overrides: list[str] | None = None) -> Recipe:
    path = recipe_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RecipeError([f"{path}: expected a UTF-8 YAML text file, found bytes that are not text (at byte {e.start})"]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise RecipeError([f"{where}: not valid YAML ({getattr(e, 'problem', e)})"]) from None
    if not isinstance(data, dict):
        raise RecipeError([f"{path}: expected a mapping at the top level, found {type(data).__name__}"])
    data = copy.deepcopy(data)
    problems = apply_overrides(data, list(overrides or []))
    name = data.get("name")
    if not isinstance(name, str) or not name:
        problems.append(f"name: expected a non-empty string, found {name!r}")
    seed = data.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        problems.append(f"seed: expected an integer, found {seed!r}")
    stages = data.get("stages")
    if not isinstance(stages, list) or not all(isinstance(s, str) for s in stages) or not stages:
        problems.append(f"stages: expected a non-empty list of stage names, found {stages!r}")
        stages = []
    desc = data.get("description", "")
    if not isinstance(desc, str):
        problems.append(f"description: expected a string, found {type(desc).__name__}")
    sections = {k: v for k, v in data.items() if k not in TOP_LEVEL}
    for k, v in sections.items():
        if v is not None and not isinstance(v, dict):
            problems.append(f"{k}: expected a mapping (a stage section), found {type(v).__name__}")
    if problems:
        raise RecipeError(problems, source=str(path))
    return Recipe(
        name=name, seed=seed, stages=list(stages), sections={k: (v or {}) for k, v in sections.items()},
        description=desc or "", path=path, text=text, overrides=list(overrides or []),
    )
