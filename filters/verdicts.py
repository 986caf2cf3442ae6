"""Which verdicts mean "right", defined once for every filter that judges answers.

`verdict_math == "correct"` and `verdict_code == "pass"` are the verdicts of a verified answer;
`pseudo_correct` is the majority-vote label of a row without a reference answer (kept only when
a user accepts pseudo-labels). Every consumer — the filters' keep rules, eval's pass@k, dedup's
"most correct" rule, curate's default selection, the card's counts — asks `passing(...)` rather
than spelling the verdicts again.

Exercise: `python -m pytest -q tests/test_verdicts.py`.
"""

from __future__ import annotations

# filter name -> verdicts that mean the answer was verified right
PASSING: dict[str, frozenset[str]] = {
    "math": frozenset({"correct"}),
    "code": frozenset({"pass"}),
}
# verdicts that mean "right by consensus, not by a reference" (opt-in)
PSEUDO_PASSING: dict[str, frozenset[str]] = {"math": frozenset({"pseudo_correct"})}
# the verdict of a row a verifier does not judge (another domain): kept, never counted right
SKIPPED = "skipped"


def passing(filter_name: str, *, pseudo: bool = False) -> frozenset[str]:
    """The verdicts of `verdict_<filter_name>` that count as right."""
    out = PASSING.get(filter_name, frozenset())
    return out | PSEUDO_PASSING.get(filter_name, frozenset()) if pseudo else out


def any_passing() -> frozenset[str]:
    """Every verdict that means right, whichever verifier gave it."""
    return frozenset().union(*PASSING.values())
