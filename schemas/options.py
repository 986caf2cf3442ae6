"""Stage options, declared once.

Every stage's options are ONE dataclass. Each field carries its default, its help text, its
bounds and (through a `Literal` type) its choices in `opt(...)` metadata, the way TRL declares
`SFTConfig`. Everything else is derived from that declaration:

- the command line: `cli/derive.py` turns each field into a typer flag (`max_tokens` ->
  `--max-tokens`, same default, same help);
- the recipe section of the stage: `check_values` accepts exactly the fields' names;
- the validation and its messages: one checker for both, so `--threshold 1.5` and
  `dedup.threshold: 1.5` are refused with the same words (`expected a number in (0, 1),
  found 1.5`), only the reference differs (`--threshold` vs `dedup.threshold`);
- resume and lineage: `identity_options` is what a stage's output depends on (fields marked
  `identity=False`, such as worker counts, are left out), recorded by the stage runner.

    @dataclass(kw_only=True)
    class DedupOptions:
        input: str = opt(help="Problem or trace dataset folder.", role="input", argument=True)
        out: str = opt(help="Output folder.", role="output", short="-o")
        threshold: float = opt(0.8, help="Jaccard similarity ...", gt=0, lt=1)
        workers: int = opt(0, help="Fingerprint workers (0 = all cores).", ge=0, identity=False)

A dataclass may add cross-field checks with `def cross_checks(self) -> list[tuple[str, str]]`
returning `(field name, message)` pairs (e.g. `("max_tokens", "expected >= min_tokens (10), found 5")`).

Exercise: `factory dedup --help`, `factory recipes validate FILE`.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING
from typing import Any, Literal

from factory.schemas.errors import FactoryError

Role = Literal["value", "input", "output"]
Style = Literal["recipe", "cli"]

_KEY = "factory.option"


def opt(
    default: Any = MISSING,
    *,
    help: str,
    default_factory: Any = MISSING,
    short: str | None = None,
    flag: str | None = None,
    argument: bool = False,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    role: Role = "value",
    identity: bool = True,
    cli: bool = True,
    recipe: bool = True,
    panel: str | None = None,
    secret: bool = False,
    hub_ok: bool = False,
) -> Any:
    """A stage option: a dataclass field whose metadata says how to show and check it.

    role: `input` (a dataset folder or file the stage reads: fingerprinted for resume and
    lineage), `output` (the folder it writes: locked while it runs), or a plain `value`.
    identity: False for options that do not change the output (workers, batch sizes, memory
    budgets): changing them never invalidates a finished output.
    cli / recipe: False hides the option from the command line / from recipe sections.
    secret: never recorded in manifests (the option holds a credential).
    hub_ok: an input that may also be a Hub id or a served model name (kept verbatim when no such
    path exists), not only a folder."""
    meta = {
        _KEY: {
            "help": help, "short": short, "flag": flag, "argument": argument, "ge": ge, "gt": gt, "le": le, "lt": lt,
            "role": role, "identity": identity and not secret, "cli": cli, "recipe": recipe, "panel": panel, "secret": secret,
            "hub_ok": hub_ok,
        }
    }
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class Option:
    """One option as both front ends see it."""

    name: str
    type: Any  # the resolved annotation
    default: Any  # MISSING when required
    help: str
    flag: str
    short: str | None
    argument: bool
    ge: float | None
    gt: float | None
    le: float | None
    lt: float | None
    role: Role
    identity: bool
    cli: bool
    recipe: bool
    panel: str | None
    secret: bool
    hub_ok: bool

    @property
    def required(self) -> bool:
        return self.default is MISSING

    @property
    def nullable(self) -> bool:
        return _is_optional(self.type)

    @property
    def base(self) -> Any:
        """The annotation without `| None`."""
        return _strip_optional(self.type)

    @property
    def choices(self) -> tuple[Any, ...] | None:
        b = self.base
        if typing.get_origin(b) is Literal:
            return typing.get_args(b)
        if typing.get_origin(b) is list and typing.get_origin(typing.get_args(b)[0]) is Literal:
            return typing.get_args(typing.get_args(b)[0])
        return None

    def ref(self, style: Style, path: str = "") -> str:
        """How a message names this option: `--max-tokens` or `generate.max_tokens`."""
        if style == "cli":
            return self.name.upper() if self.argument else self.flag
        return f"{path}.{self.name}" if path else self.name


@functools.cache
def options_of(cls: type) -> tuple[Option, ...]:
    """The declared options of a stage's dataclass, in declaration order."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get(_KEY)
        if meta is None:
            raise TypeError(f"{cls.__name__}.{f.name}: declare it with opt(...) (help text, bounds, role)")
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            default = MISSING
        out.append(Option(
            name=f.name, type=hints[f.name], default=default, help=meta["help"],
            flag=meta["flag"] or "--" + f.name.replace("_", "-"), short=meta["short"], argument=meta["argument"],
            ge=meta["ge"], gt=meta["gt"], le=meta["le"], lt=meta["lt"], role=meta["role"], identity=meta["identity"],
            cli=meta["cli"], recipe=meta["recipe"], panel=meta["panel"], secret=meta["secret"], hub_ok=meta["hub_ok"],
        ))
    return tuple(out)


def option_map(cls: type) -> dict[str, Option]:
    return {o.name: o for o in options_of(cls)}


# -- types -------------------------------------------------------------------------------------


def _is_optional(t: Any) -> bool:
    return typing.get_origin(t) in (typing.Union, types.UnionType) and type(None) in typing.get_args(t)


def _strip_optional(t: Any) -> Any:
    if _is_optional(t):
        rest = [a for a in typing.get_args(t) if a is not type(None)]
        return rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]
    return t


def found(value: Any) -> str:
    """How a found value is shown in a message: scalars by repr (truncated), containers by type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _range_text(kind: str, o: Option) -> str:
    lo = ("(", o.gt) if o.gt is not None else ("[", o.ge) if o.ge is not None else None
    hi = (")", o.lt) if o.lt is not None else ("]", o.le) if o.le is not None else None
    if lo and hi:
        return f"{kind} in {lo[0]}{_num(lo[1])}, {_num(hi[1])}{hi[0]}"
    if lo:
        return f"{kind} {'>' if lo[0] == '(' else '>='} {_num(lo[1])}"
    if hi:
        return f"{kind} {'<' if hi[0] == ')' else '<='} {_num(hi[1])}"
    return kind


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def expected(o: Option) -> str:
    """What the option accepts, in words (`an integer >= 1`, `one of exact, minhash`, ...)."""
    b = o.base
    text = _expected_type(b, o)
    return f"{text} or null" if o.nullable else text


def _expected_type(b: Any, o: Option) -> str:
    if b is bool:
        return "true or false"
    if b is int:
        return _range_text("an integer", o)
    if b is float:
        return _range_text("a number", o)
    if b is str:
        return "a non-empty string"
    if typing.get_origin(b) is Literal:
        return "one of " + ", ".join(str(v) for v in typing.get_args(b))
    if typing.get_origin(b) is list:
        inner = typing.get_args(b)[0]
        if typing.get_origin(inner) is Literal:
            return "a list of " + ", ".join(str(v) for v in typing.get_args(inner))
        return f"a list of {_expected_type(inner, o).replace('a ', '', 1).replace('an ', '', 1)}s"
    if typing.get_origin(b) is dict or b is dict:
        return "a mapping"
    return getattr(b, "__name__", str(b))


def _check_value(b: Any, value: Any, o: Option) -> bool:
    if b is bool:
        return isinstance(value, bool)
    if b is int:
        return isinstance(value, int) and not isinstance(value, bool) and _in_bounds(value, o)
    if b is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and _in_bounds(value, o)
    if b is str:
        return isinstance(value, str) and bool(value.strip())
    if typing.get_origin(b) is Literal:
        return not isinstance(value, (dict, list)) and value in typing.get_args(b) and not (
            isinstance(value, bool) and not any(isinstance(c, bool) for c in typing.get_args(b)))
    if typing.get_origin(b) is list:
        inner = typing.get_args(b)[0]
        return isinstance(value, list) and all(_check_value(inner, v, o) for v in value)
    if typing.get_origin(b) is dict or b is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if typing.get_origin(b) in (typing.Union, types.UnionType):
        return any(_check_value(a, value, o) for a in typing.get_args(b))
    return isinstance(value, b)


def _in_bounds(x: float, o: Option) -> bool:
    return not (
        (o.ge is not None and x < o.ge) or (o.gt is not None and x <= o.gt)
        or (o.le is not None and x > o.le) or (o.lt is not None and x >= o.lt)
    )


def _normalise(o: Option, value: Any) -> Any:
    """YAML conveniences, the same for both front ends: a lone item where a list is expected,
    an integer where a float is expected."""
    b = o.base
    if value is None:
        return None
    if typing.get_origin(b) is list and not isinstance(value, (list, dict)):
        return [value]
    if typing.get_origin(b) is list and isinstance(value, tuple):
        return list(value)
    if b is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


# -- checking ----------------------------------------------------------------------------------


class OptionsError(FactoryError):
    """Options that failed validation; the message lists every problem at once."""

    def __init__(self, problems: list[str], *, what: str, hint: str | None = None) -> None:
        body = "\n".join(f"  - {p}" for p in problems)
        n = len(problems)
        super().__init__(f"{what}: {n} problem{'s' if n != 1 else ''}:\n{body}", hint=hint)
        self.problems = problems


def check_values(cls: type, values: Mapping[str, Any], *, style: Style = "recipe", path: str = "") -> list[str]:
    """Every problem of `values` against the options of `cls`, as `REF: expected X, found Y`
    (REF is `path.key` for recipes, `--flag` for the CLI). Unknown keys are errors (they are
    usually typos); required options must be present."""
    opts = option_map(cls)
    visible = {k: o for k, o in opts.items() if (o.recipe if style == "recipe" else o.cli)}
    problems: list[str] = []
    unknown: list[str] = []
    for key in values:
        if key not in visible:
            known = ", ".join(sorted(visible)) or "none"
            ref = f"{path}.{key}" if style == "recipe" and path else key
            unknown.append(f"{ref}: unknown key (expected one of: {known})")
    for name, o in visible.items():
        ref = o.ref(style, path)
        if name not in values:
            if o.required:
                problems.append(f"{ref}: expected {expected(o)}, found nothing (required)")
            continue
        v = _normalise(o, values[name])
        if v is None:
            if not o.nullable:
                problems.append(f"{ref}: expected {expected(o)}, found null")
            continue
        b = o.base
        if typing.get_origin(b) is list and isinstance(v, list):
            inner = typing.get_args(b)[0]
            for i, item in enumerate(v):  # name the bad item, not just "a list"
                if not _check_value(inner, item, o):
                    problems.append(f"{ref}[{i}]: expected {_expected_type(inner, o)}, found {found(item)}")
        elif not _check_value(b, v, o):
            problems.append(f"{ref}: expected {expected(o)}, found {found(values[name])}")
    return problems + unknown


def check_all(cls: type, values: Mapping[str, Any], *, style: Style = "recipe", path: str = "") -> list[str]:
    """Every problem at once: each value's own, and the cross-field checks of the values that
    are fine on their own (an unknown key or a bad value elsewhere does not hide them)."""
    problems = check_values(cls, values, style=style, path=path)
    opts = option_map(cls)
    good = {k: v for k, v in values.items() if k in opts and not check_values(cls, {k: v} | _required_stand_ins(cls, k), style=style)}
    if all(o.name in good for o in opts.values() if o.required):
        obj = cls(**{k: _normalise(opts[k], v) for k, v in good.items()})
        problems = [p for p in problems if "unknown key" not in p] + cross_field_problems(obj, style=style, path=path) \
            + [p for p in problems if "unknown key" in p]
    return problems


def check_some(cls: type, values: Mapping[str, Any]) -> list[str]:
    """`check_all` of some of the options (an engine's own config checked by its stage's rules):
    required options missing from `values` (the input and output paths) are stood in."""
    return check_all(cls, {o.name: stand_in(o) for o in options_of(cls) if o.required} | dict(values))


def _required_stand_ins(cls: type, key: str) -> dict[str, Any]:
    """Values that satisfy the other required options, so one key can be checked alone."""
    return {o.name: stand_in(o) for o in options_of(cls) if o.required and o.name != key}


def stand_in(o: Option) -> Any:
    """A value of the option's type within its bounds (for checking other keys alone)."""
    b = o.base
    if typing.get_origin(b) is Literal:
        return typing.get_args(b)[0]
    if typing.get_origin(b) is list:
        inner = typing.get_args(b)[0]
        return [typing.get_args(inner)[0]] if typing.get_origin(inner) is Literal else []
    if typing.get_origin(b) is dict or b is dict:
        return {}
    if b is bool:
        return False
    if b in (int, float):
        lo = o.ge if o.ge is not None else (o.gt + 1 if o.gt is not None else None)
        v = lo if lo is not None else (o.le if o.le is not None else 0)
        return b(v)
    return "x"


def build(cls: type, values: Mapping[str, Any], *, style: Style = "recipe", path: str = "", what: str | None = None) -> Any:
    """Check `values` and construct the options object, or raise `OptionsError` listing every
    problem (type, bounds, choices, unknown keys, then the dataclass's cross-field checks)."""
    problems = check_all(cls, values, style=style, path=path)
    if problems:
        raise OptionsError(problems, what=what or _what(cls, path, style))
    opts = option_map(cls)
    return cls(**{k: _normalise(opts[k], v) for k, v in values.items()})


def cross_field_problems(obj: Any, *, style: Style = "recipe", path: str = "") -> list[str]:
    """The dataclass's own `cross_checks()` (pairs of field name and message), with references."""
    fn = getattr(obj, "cross_checks", None)
    if fn is None:
        return []
    opts = option_map(type(obj))
    out = []
    for name, message in fn():
        head, _, rest = name.partition(".")  # `mix.size`: a key inside a mapping option
        o = opts.get(head)
        if o is None:
            ref = f"{path}.{name}" if path and style == "recipe" else name
        elif style == "cli" and not o.cli:
            ref = f"spec key {name}"
        else:
            ref = o.ref(style, path) + (f".{rest}" if rest else "")
        out.append(f"{ref}: {message}")
    return out


def _what(cls: type, path: str, style: Style) -> str:
    if style == "cli":
        return "invalid options"
    return f"recipe section {path}" if path else f"invalid {cls.__name__}"


def defaults(cls: type) -> dict[str, Any]:
    return {o.name: o.default for o in options_of(cls) if not o.required}


def as_dict(obj: Any, *, identity_only: bool = False) -> dict[str, Any]:
    """The options as plain JSON-able values (secrets left out; `identity_only`: only options
    that change the output, without the input/output paths, which lineage records by content)."""
    out = {}
    for o in options_of(type(obj)):
        if o.secret:
            continue
        if identity_only and (not o.identity or o.role in ("input", "output")):
            continue
        out[o.name] = getattr(obj, o.name)
    return out


def paths(obj: Any, role: Role) -> list[tuple[str, str]]:
    """`(field name, path)` for every input (or output) path the options name, in order (with
    the inputs an options class names itself through `extra_inputs()`, e.g. paths inside a spec)."""
    out = []
    if role == "input" and hasattr(obj, "extra_inputs"):
        out.extend(obj.extra_inputs())
    for o in options_of(type(obj)):
        if o.role != role:
            continue
        v = getattr(obj, o.name)
        for p in (v if isinstance(v, list) else [v]):
            if isinstance(p, str) and p:
                out.append((o.name, p))
    return out
