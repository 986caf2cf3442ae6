"""The verdicts that mean "right" are defined once (filters/verdicts.py) and the filters' keep
rules follow that definition."""

from __future__ import annotations

import polars as pl

from factory.filters.math.filter import VERDICTS, MathVerifier
from factory.filters.verdicts import SKIPPED, any_passing, passing


def test_math_keep_rule_is_the_passing_definition():
    frame = pl.DataFrame({"verdict_math": list(VERDICTS)})
    for pseudo in (False, True):
        kept = MathVerifier(accept_pseudo=pseudo).keep(frame).to_list()
        want = passing("math", pseudo=pseudo) | {SKIPPED}
        assert {v for v, k in zip(VERDICTS, kept) if k} == want


def test_every_verifier_has_a_passing_verdict():
    assert passing("math") == {"correct"} and passing("code") == {"pass"}
    assert any_passing() == {"correct", "pass"}
    assert passing("math", pseudo=True) == {"correct", "pseudo_correct"}
    assert passing("language") == frozenset()
