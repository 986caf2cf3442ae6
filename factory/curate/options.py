"""The options of `factory curate`, declared once: its flags and the recipe's `curate:` section
are derived from `CurateOptions`.

A curate spec (which traces to select, the mix's quotas, journey learning, the output format:
see recipes/curate_spec.py for every key) comes from a shipped recipe (`--recipe sky-t1-17k`),
from the section itself in a recipe, or both (the section's keys override the named recipe's).
On the command line, `--traces/--problems/--sft DIR` replace the spec's sources of that kind,
`--size N` sets the mix size and `--set key.sub=value` overrides any spec key.

Exercise: `factory curate --recipe journey --traces DIR -o OUT`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from factory.schemas.options import opt

SPEC_KEYS = ("sources", "select", "difficulty", "per_problem", "budget", "journey", "non_reasoning", "mix", "output")
_SPEC = "the curate spec (see recipes/curate_spec.py); in a recipe section, or through --recipe and --set"


@dataclass(kw_only=True)
class CurateOptions:
    """Assemble an SFT mix (quotas, journey learning, non-reasoning data) from a curate spec."""

    PARTS: ClassVar[tuple[str, ...]] = ("train", "validation")

    out: str = opt("sft", help="Output folder: OUT/train and OUT/validation (SFT datasets) and OUT/curate_report.json.", role="output", short="-o")
    recipe: str | None = opt(None, help="Take the curate spec of this shipped recipe (`factory recipes list`) or .yaml file; keys given here override it.")
    traces: list[str] = opt(default_factory=list, help="Trace dataset folder (repeatable); replaces the spec's trace sources.", role="input")
    problems: list[str] = opt(default_factory=list, help="Problem dataset folder (repeatable); replaces the spec's problem sources.", role="input")
    sft: list[str] = opt(default_factory=list, help="SFT dataset folder to mix in (repeatable); replaces the spec's SFT sources.", role="input")
    size: int | None = opt(None, help="Total examples (scales every fraction quota); overrides mix.size.", ge=1)
    seed: int | None = opt(None, help="Seed of every sampler (default: the recipe's seed).")
    set: dict[str, Any] = opt(default_factory=dict, help="Override a spec key: key.sub=value (repeatable), e.g. mix.size=1000.", recipe=False)
    sources: list[dict[str, Any]] | None = opt(None, help="Spec: source folders [{kind, path}].", cli=False)
    select: dict[str, Any] | None = opt(None, help=f"Spec: {_SPEC}.", cli=False)
    difficulty: dict[str, Any] | None = opt(None, help=f"Spec: {_SPEC}.", cli=False)
    per_problem: dict[str, Any] | None = opt(None, help=f"Spec: {_SPEC}.", cli=False)
    budget: dict[str, Any] | None = opt(None, help=f"Spec: {_SPEC}.", cli=False)
    journey: dict[str, Any] | None = opt(None, help=f"Spec: {_SPEC}.", cli=False)
    non_reasoning: dict[str, Any] | None = opt(None, help=f"Spec: {_SPEC}.", cli=False)
    mix: dict[str, Any] | None = opt(None, help=f"Spec: {_SPEC}.", cli=False)
    output: dict[str, Any] | None = opt(None, help=f"Spec: {_SPEC}.", cli=False)

    @classmethod
    def resolve_paths(cls, values: dict[str, Any], resolve: Callable[[str], str]) -> None:
        """A recipe's source paths are relative to its run folder, like every other path."""
        srcs = values.get("sources")
        if isinstance(srcs, list):
            values["sources"] = [{**s, "path": resolve(s["path"])} if isinstance(s, dict) and isinstance(s.get("path"), str) else s
                                 for s in srcs]

    def extra_inputs(self) -> list[tuple[str, str]]:
        """The spec's source folders are inputs too (fingerprinted, and the card's lineage)."""
        replaced = {k for k in ("traces", "problems", "sft") if getattr(self, k)}
        return [(f"sources.{s.get('kind')}", s["path"]) for s in (self.sources or [])
                if isinstance(s, dict) and isinstance(s.get("path"), str) and s.get("kind") not in replaced]

    def spec(self) -> dict[str, Any]:
        """The curate spec this run uses: the named recipe's, the fields given, --set, --size."""
        from factory.recipes.loader import apply_overrides, load_recipe
        from factory.schemas.errors import RecipeError

        spec: dict[str, Any] = {}
        if self.recipe:
            r = load_recipe(self.recipe)
            if "curate" not in r.sections:
                raise RecipeError([f"recipe: expected a recipe with a curate section, found none in {r.name}"])
            spec = dict(r.section("curate"))
            spec.pop("out", None)
        for k in SPEC_KEYS:
            v = getattr(self, k)
            if v is not None:
                spec[k] = v
        problems = apply_overrides(spec, [f"{k}={_yaml(v)}" for k, v in _flat(self.set)])
        if problems:
            raise RecipeError([p.replace("override ", "--set ") for p in problems])
        if self.size is not None:
            spec.setdefault("mix", {})
            spec["mix"] = {**spec["mix"], "size": self.size}
        return spec

    def recipe_seed(self) -> int | None:
        if self.recipe:
            from factory.recipes.loader import load_recipe

            return load_recipe(self.recipe).seed
        return None

    def cross_checks(self) -> list[tuple[str, str]]:
        from factory.recipes.curate_spec import validate_curate
        from factory.schemas.errors import FactoryError, RecipeError

        try:
            spec = self.spec()
        except RecipeError as e:
            found = "; ".join(p.removeprefix("recipe: ") for p in e.problems)
            return [("recipe" if self.recipe else "set", found + (f" ({e.hint})" if e.hint else ""))]
        except FactoryError as e:
            return [("recipe" if self.recipe else "set", e.message)]
        if "mix" not in spec:
            return [("mix", "expected a mix (size and buckets), found nothing: name a recipe with --recipe or give mix")]
        out = []
        for p in validate_curate(spec, "curate"):
            where, _, message = p.partition(": ")
            out.append((where[len("curate."):] if where.startswith("curate.") else where, message))
        return out


def _flat(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """{"mix": {"size": 10}} -> [("mix.size", 10)]: --set values address single keys."""
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.extend(_flat(v, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", v))
    return out


def _yaml(v: Any) -> str:
    import json

    return json.dumps(v) if not isinstance(v, str) else v
