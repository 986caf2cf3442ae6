"""The options of `factory verify` and `factory filter`, declared once (their flags and the
recipe sections `verify:` / `filter:` are derived from these dataclasses).

A filter's own knobs (a threshold, a length cap) are its constructor's keyword arguments, named
the same everywhere: `--set language.threshold=0.9` on the command line, `set: {language:
{threshold: 0.9}}` in a recipe. `factory filter --help` lists every filter's knobs.

Exercise: `factory verify --help`, `factory filter --help`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from factory.schemas.options import opt

FilterName = Literal["math", "code", "format", "readability", "language"]
_PERF = "Performance"


_SET_HELP = "A filter's knob, FILTER.KNOB=VALUE (repeatable), e.g. language.threshold=0.9 or math.timeout_s=5."


def _chain_problems(names: list[str], knobs: dict[str, Any], workers: int) -> list[tuple[str, str]]:
    """Build the chain once, as the run will: unknown knobs and bad values surface here."""
    from factory.schemas.errors import FactoryError
    from factory.score.runner import filter_specs

    out: list[tuple[str, str]] = []
    if not isinstance(knobs, dict) or not all(isinstance(v, dict) for v in knobs.values()):
        return [("set", f"expected a mapping FILTER -> {{KNOB: VALUE}}, found {knobs!r}")]
    for n in knobs:
        if n not in names:
            out.append(("set", f"expected knobs of filters in the chain {names}, found knobs of '{n}'"))
    if out:
        return out
    try:
        for cls, kw in filter_specs(names, options=knobs, common={"workers": workers}):
            try:
                f = cls(**kw)
            except (TypeError, ValueError, FactoryError) as e:
                out.append(("set", f"{cls.name}: {e}"))
            else:
                close = getattr(f, "close", None)
                if callable(close):
                    close()
    except FactoryError as e:
        out.append(("set", e.message))
    return out


@dataclass(kw_only=True)
class FilterOptions:
    """Format, readability and language-consistency filters over a trace folder (kept rows in
    OUT, rejected rows with their reason in OUT/rejected, the funnel printed and recorded)."""

    PARTS: ClassVar[tuple[str, ...]] = ("rejected",)

    input: str = opt(help="Trace dataset folder.", role="input", argument=True)
    out: str = opt(help="Output folder (kept rows; rejected rows go to OUT/rejected/).", role="output", short="-o")
    filters: list[FilterName] = opt(default_factory=lambda: ["format", "readability", "language"],
                                    help="Filters in chain order (repeatable, or comma-separated).")
    set: dict[str, Any] = opt(default_factory=dict, help=_SET_HELP)
    executor: Literal["local", "ray"] = opt("local", help="local: this process; ray: Ray Data map_batches.", identity=False, panel=_PERF)
    workers: int = opt(1, help="Worker processes of filters that use them (local) or Ray actors (ray).", ge=1, identity=False, panel=_PERF)
    batch_rows: int = opt(1000, help="Rows per scored batch.", ge=1, identity=False, panel=_PERF)

    def cross_checks(self) -> list[tuple[str, str]]:
        return _chain_problems(list(self.filters), self.set, self.workers if self.executor == "local" else 1)


@dataclass(kw_only=True)
class VerifyOptions:
    """Verify answers: math by a cascade of answer matching, code by its tests in the sandbox.
    Rows no verifier can judge (another domain, no reference answer, no tests) are counted and
    named; `--strict` makes them an error."""

    PARTS: ClassVar[tuple[str, ...]] = ("rejected",)

    input: str = opt(help="Trace dataset folder.", role="input", argument=True)
    out: str = opt(help="Output folder (kept rows; wrong or unverifiable rows go to OUT/rejected/).", role="output", short="-o")
    filters: list[FilterName] = opt(default_factory=lambda: ["math", "code"], help="Verifiers in chain order (repeatable, or comma-separated).")
    set: dict[str, Any] = opt(default_factory=dict, help=_SET_HELP)
    strict: bool = opt(False, help="Fail, before any work, when some rows cannot be judged (unknown domain, no reference answer, no tests).")
    sandbox: Literal["strict", "weak"] = opt("strict", help="Code runs confined by the kernel (strict: mount/pid/net namespaces, seccomp, fresh uid; refused where the kernel lacks a feature) or, explicitly, weak (Python-level hooks and rlimits only, which hostile code can defeat).")
    executor: Literal["local", "ray"] = opt("local", help="local: this machine (+ the verifiers' worker processes); ray: Ray Data map_batches.", identity=False, panel=_PERF)
    workers: int = opt(2, help="Worker processes per verifier (local) or Ray actors (ray).", ge=1, identity=False, panel=_PERF)
    batch_rows: int = opt(1000, help="Rows per scored batch.", ge=1, identity=False, panel=_PERF)

    def cross_checks(self) -> list[tuple[str, str]]:
        return _chain_problems(list(self.filters), self.set, self.workers if self.executor == "local" else 1)
