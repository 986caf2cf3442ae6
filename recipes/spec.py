"""A small declarative checker for recipe sections: describe a section once as nested specs
(`Map`, `ListOf`, `Str`, `Int`, `Num`, `Bool`, `Enum`, `Bounds`, `OneOf`, `Nullable`) and
`check(spec, value, path)` returns EVERY problem at once, each as
`path.to.key: expected X, found Y`. Unknown keys are errors (they are usually typos).

    spec = Map({"size": Int(min=1), "allow_short?": Bool()})
    check(spec, {"size": 0, "alow_short": True}, "curate.mix")
    # ['curate.mix.size: expected an integer >= 1, found 0',
    #  "curate.mix.alow_short: unknown key (expected one of: allow_short, size)"]

A key ending in `?` is optional. Exercise: `factory recipes validate FILE`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from factory.schemas.options import found  # noqa: F401 - the one way a found value is shown


class Spec:
    expected: str = "a value"

    def check(self, value: Any, path: str, problems: list[str]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class AnyValue(Spec):
    expected: str = "any value"

    def check(self, value: Any, path: str, problems: list[str]) -> None:
        return None


@dataclass
class Str(Spec):
    nonempty: bool = True

    @property
    def expected(self) -> str:  # type: ignore[override]
        return "a non-empty string" if self.nonempty else "a string"

    def check(self, value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, str) or (self.nonempty and not value.strip()):
            problems.append(f"{path}: expected {self.expected}, found {found(value)}")


@dataclass
class Bool(Spec):
    expected: str = "true or false"

    def check(self, value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, bool):
            problems.append(f"{path}: expected {self.expected}, found {found(value)}")


def _range_text(kind: str, lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"{kind} in [{lo}, {hi}]"
    if lo is not None:
        return f"{kind} >= {lo}"
    if hi is not None:
        return f"{kind} <= {hi}"
    return kind


@dataclass
class Int(Spec):
    min: int | None = None
    max: int | None = None

    @property
    def expected(self) -> str:  # type: ignore[override]
        return _range_text("an integer", self.min, self.max)

    def check(self, value: Any, path: str, problems: list[str]) -> None:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and self.min is not None and value < self.min:
            ok = False
        if ok and self.max is not None and value > self.max:
            ok = False
        if not ok:
            problems.append(f"{path}: expected {self.expected}, found {found(value)}")


@dataclass
class Num(Spec):
    min: float | None = None
    max: float | None = None

    @property
    def expected(self) -> str:  # type: ignore[override]
        return _range_text("a number", self.min, self.max)

    def check(self, value: Any, path: str, problems: list[str]) -> None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and self.min is not None and value < self.min:
            ok = False
        if ok and self.max is not None and value > self.max:
            ok = False
        if not ok:
            problems.append(f"{path}: expected {self.expected}, found {found(value)}")


@dataclass
class Enum(Spec):
    values: tuple[Any, ...] = ()

    def __init__(self, *values: Any) -> None:
        self.values = tuple(values)

    @property
    def expected(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(str(v) for v in self.values)

    def check(self, value: Any, path: str, problems: list[str]) -> None:
        if isinstance(value, (dict, list)) or value not in self.values:
            problems.append(f"{path}: expected {self.expected}, found {found(value)}")


@dataclass
class Nullable(Spec):
    inner: Spec = field(default_factory=AnyValue)

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"{self.inner.expected} or null"

    def check(self, value: Any, path: str, problems: list[str]) -> None:
        if value is not None:
            self.inner.check(value, path, problems)


@dataclass
class ListOf(Spec):
    item: Spec = field(default_factory=AnyValue)
    min_len: int = 0
    scalar_ok: bool = False  # accept a lone item where a list is expected (YAML convenience)

    @property
    def expected(self) -> str:  # type: ignore[override]
        s = f"a list of {self.item.expected}"
        return s if not self.min_len else f"{s} (at least {self.min_len})"

    def check(self, value: Any, path: str, problems: list[str]) -> None:
        if self.scalar_ok and not isinstance(value, list):
            self.item.check(value, path, problems)
            return
        if not isinstance(value, list):
            problems.append(f"{path}: expected {self.expected}, found {found(value)}")
            return
        if len(value) < self.min_len:
            problems.append(f"{path}: expected {self.expected}, found {len(value)} item(s)")
        for i, v in enumerate(value):
            self.item.check(v, f"{path}[{i}]", problems)


@dataclass
class OneOf(Spec):
    options: tuple[Spec, ...] = ()
    describe: str = ""

    def __init__(self, *options: Spec, describe: str = "") -> None:
        self.options = tuple(options)
        self.describe = describe

    @property
    def expected(self) -> str:  # type: ignore[override]
        return self.describe or " or ".join(o.expected for o in self.options)

    def check(self, value: Any, path: str, problems: list[str]) -> None:
        for o in self.options:
            sub: list[str] = []
            o.check(value, path, sub)
            if not sub:
                return
        problems.append(f"{path}: expected {self.expected}, found {found(value)}")


class Map(Spec):
    """A mapping with known keys (`name` required, `name?` optional). `values=` instead accepts
    any keys (e.g. column names) whose values match one spec; `keys=` restricts those keys."""

    def __init__(
        self,
        fields: dict[str, Spec] | None = None,
        *,
        values: Spec | None = None,
        keys: Spec | None = None,
        check_fn: Any = None,
        expected: str = "a mapping",
    ) -> None:
        self.fields = {k.rstrip("?"): (v, not k.endswith("?")) for k, v in (fields or {}).items()}
        self.values = values
        self.keys = keys
        self.check_fn = check_fn  # extra cross-field checks: fn(value, path, problems)
        self.expected = expected

    def check(self, value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, dict):
            problems.append(f"{path}: expected {self.expected}, found {found(value)}")
            return
        for key, (spec, required) in self.fields.items():
            if key in value:
                spec.check(value[key], f"{path}.{key}", problems)
            elif required:
                problems.append(f"{path}.{key}: expected {spec.expected}, found nothing (required key is missing)")
        for key in value:
            if key in self.fields:
                continue
            if self.values is not None:
                if self.keys is not None:
                    self.keys.check(key, f"{path}.{key} (key)", problems)
                self.values.check(value[key], f"{path}.{key}", problems)
            else:
                known = ", ".join(sorted(self.fields)) or "none"
                problems.append(f"{path}.{key}: unknown key (expected one of: {known})")
        if self.check_fn is not None:
            self.check_fn(value, path, problems)


def _bounds_check(value: dict, path: str, problems: list[str]) -> None:
    if "gt" in value and "ge" in value:
        problems.append(f"{path}: expected at most one of gt/ge, found both")
    if "lt" in value and "le" in value:
        problems.append(f"{path}: expected at most one of lt/le, found both")
    lo = value.get("gt", value.get("ge"))
    hi = value.get("lt", value.get("le"))
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo > hi:
        problems.append(f"{path}: expected the lower bound <= the upper bound, found {lo} > {hi}")


def Bounds(*, lo: float | None = None, hi: float | None = None) -> Map:
    """`{gt|ge: x, lt|le: y}`: strict or inclusive bounds, e.g. pass rate 0.2 < p < 0.8."""
    n = Num(min=lo, max=hi)
    return Map({"gt?": n, "ge?": n, "lt?": n, "le?": n}, check_fn=_bounds_check,
               expected="bounds {gt|ge: lower, lt|le: upper}")


def check(spec: Spec, value: Any, path: str) -> list[str]:
    problems: list[str] = []
    spec.check(value, path, problems)
    return problems

