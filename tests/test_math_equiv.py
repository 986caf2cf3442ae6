"""Answer equivalence, one group per category of issue 13, on invented (gold, prediction) pairs.

Every case checks the verdict and the rule that decided it (`Verdict.rules`, written into
`score_math_rule`), and each rule has cases that must stay wrong, so a rule that accepts too
much fails here. The dev-set agreement is in tests/test_math_dev.py.

Run: python -m pytest -q tests/test_math_equiv.py
"""

from __future__ import annotations

import json

import polars as pl
import pytest
from factory.filters.math.equiv import AnswerHint, MathEquivalence
from factory.filters.math.filter import (
    MathVerifier,
    decimal_comma_language,
    guess_decimal_comma,
    row_hint,
)


@pytest.fixture(scope="module")
def eq():
    """Fast stages only where possible; two workers for the pairs that reach sympy."""
    with MathEquivalence(workers=2, timeout_s=30.0, prestart=False, warm_up="minimal") as e:
        yield e


def check(eq, gold, pred, hint=None):
    return eq.check([(gold, pred)], hints=[hint])[0]


def _case(eq, gold, pred, verdict, rule, hint=None):
    v = check(eq, gold, pred, hint)
    assert v.verdict == verdict, (gold, pred, v)
    if rule is not None:
        assert rule in v.rules, (gold, pred, v)
    return v


# ------------------------------------------------------------------------------------------
# Units and quantities
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold", "pred", "verdict", "rule"),
    [
        ("3.2", r"3.2 \text{ m/s}", "correct", "unit_dropped"),
        ("410", "410°C", "correct", "unit_dropped"),
        ("6300", r"6300 \text{ Å}", "correct", "unit_dropped"),
        ("0.0007", r"7 \times 10^{-4} \text{ m}", "correct", "unit_dropped"),
        ("25000", "25,000 kcal m⁻² yr⁻¹", "correct", "unit_dropped"),
        ("9.81", r"9.81 \, \mathrm{m\,s^{-2}}", "correct", "unit_dropped"),
        (r"630 \text{ nm}", r"6300 \text{ Å}", "correct", "units_converted"),
        (r"2.4 \text{ km}", "2400 m", "correct", "units_converted"),
        (r"0.003 \text{ A}", r"3 \text{ mA}", "correct", "units_converted"),
        (r"45 \text{ kPa}", r"45000 \text{ Pa}", "correct", "units_converted"),
        (r"4 \text{ h}", "240 min", "correct", "units_converted"),
        (r"72 \text{ km/h}", r"20 \text{ m/s}", "correct", "units_converted"),
        (r"2 \text{ km}", "2 m", "wrong", None),  # the same number in another unit is another quantity
        (r"7 \text{ m}", r"7 \text{ s}", "wrong", "units_differ"),
        ("3.2", r"3.3 \text{ m/s}", "wrong", None),
    ],
)
def test_units(eq, gold, pred, verdict, rule):
    _case(eq, gold, pred, verdict, rule)


@pytest.mark.parametrize(
    ("gold", "unit", "pred", "verdict", "rule"),
    [
        ("1.8", "km", "1800 m", "correct", "units_converted"),
        ("1.8", "km", "1.8", "correct", None),
        ("1.8", "km", "1800", "wrong", None),  # no unit on the prediction: the number is compared
        ("350", "K", "76.85 °C", "correct", "units_converted"),
        ("40", "%", "0.4", "correct", None),
        ("40", "%", r"40\%", "correct", None),
        ("40", "%", "4", "wrong", None),
        ("15", "^{\\circ}", r"15^\circ", "correct", None),
        ("15", "cm^2", r"1500 \text{ mm}^2", "correct", "units_converted"),
    ],
)
def test_the_rows_gold_unit(eq, gold, unit, pred, verdict, rule):
    """OlympiadBench's `unit`: the gold is a number in that unit."""
    _case(eq, gold, pred, verdict, rule, AnswerHint(unit=unit))


# ------------------------------------------------------------------------------------------
# Labels, lists, trailing conditions
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold", "pred", "verdict", "rule"),
    [
        ("9,13,21", "Omar: 9, Pia: 13, Quinn: 21", "correct", "labels_dropped"),
        ("9,13,21", "Omar: 9, Pia: 12, Quinn: 21", "wrong", "labels_dropped"),
        ("-4,-4", "p = -4, q = -4", "correct", "labels_dropped"),
        ("2,5,11", "x = 11, 5, 2", "correct", "labels_dropped"),
        ("p=3, q=8", "q = 8, p = 3", "correct", "labels_matched"),
        ("p=3, q=8", "p = 8, q = 3", "wrong", "labels_matched"),
        (r"\angle P=45^\circ, \angle Q=45^\circ", r"45^\circ", "correct", "common_value"),
        (r"\angle P=45^\circ, \angle Q=60^\circ", r"45^\circ", "wrong", None),
        ("-3,5", "(5, -3)", "correct", None),  # several values stored sorted, given as a pair
        ("(-3,5)", "-3, 5", "correct", None),
        ("(-3,5)", "5, -3", "wrong", None),
    ],
)
def test_labels_and_lists(eq, gold, pred, verdict, rule):
    _case(eq, gold, pred, verdict, rule)


@pytest.mark.parametrize(
    ("gold", "pred", "verdict"),
    [
        (r"\frac{2}{x-5}", r"\frac{2}{x-5}, \quad \text{for } x \ne 5", "correct"),
        (r"\frac{2}{x-5}", r"\frac{2}{x-5} \text{ where } x \neq 5", "correct"),
        (r"\frac{2}{x-5}", r"\frac{3}{x-5}, \quad \text{for } x \ne 5", "wrong"),
        ("x > 2, x < 9", "x > 2, x < 9", "correct"),  # inequalities that are the answer stay
    ],
)
def test_trailing_conditions(eq, gold, pred, verdict):
    _case(eq, gold, pred, verdict, None)


# ------------------------------------------------------------------------------------------
# Numbers: decimal commas, thousands, mixed numbers, currency, percent, stray backslashes
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold", "pred", "decimal_comma", "verdict"),
    [
        ("2.75", "2,75", True, "correct"),
        ("2.75", "2,75", False, "wrong"),  # English: "2,75" is two numbers
        ("48000301", "48.000.301", True, "correct"),
        ("3456.5", "3.456,5", True, "correct"),
        ("48000301", "48,000,301", False, "correct"),
        ("2, 7", "7, 2", True, "correct"),  # a comma and a space: a list in every language
        ("2,7", "2.7", True, "correct"),
        ("0.5", "0{,}5", False, "correct"),  # LaTeX's decimal comma
        ("45000", "45{,}000", False, "correct"),
    ],
)
def test_decimal_comma_and_thousands(eq, gold, pred, decimal_comma, verdict):
    _case(eq, gold, pred, verdict, None, AnswerHint(decimal_comma=decimal_comma))


def test_language_decides_the_decimal_comma():
    assert decimal_comma_language("fr") and decimal_comma_language("de-CH") and decimal_comma_language("pt_BR")
    assert not decimal_comma_language("en") and not decimal_comma_language("zh") and not decimal_comma_language(None)
    assert guess_decimal_comma("Donc le volume vaut 2,5 L.\nRéponse : 2,5")
    assert not guess_decimal_comma("So the answer is 2,5 and also 3.")
    assert row_hint(json.dumps({"locale": "es"}), "en", "").decimal_comma  # meta wins over the column
    assert row_hint(None, "it", "").decimal_comma
    assert not row_hint(None, "en", "Réponse : 2,5").decimal_comma  # a stated language wins over words


@pytest.mark.parametrize(
    ("gold", "pred", "verdict"),
    [
        ("612.25", r"612\frac{1}{4}", "correct"),
        ("-7.5", r"-7\frac{1}{2}", "correct"),
        (r"\frac{3}{2}", r"2\frac{3}{4}", "wrong"),  # 2 3/4, not 2 * 3/4
        ("14", r"\$14", "correct"),
        ("14", "€14", "correct"),
        ("14", "14 dollars", "correct"),
        ("230", "230\\", "correct"),
        (r"35\%", "35", "correct"),
        (r"35\%", "0.35", "correct"),
        (r"35\%", "0.53", "wrong"),
    ],
)
def test_mixed_numbers_currency_percent_backslash(eq, gold, pred, verdict):
    _case(eq, gold, pred, verdict, None)


# ------------------------------------------------------------------------------------------
# Equations, case, parameters, intervals
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold", "pred", "verdict", "rule"),
    [
        (r"\sqrt{2gh}", r"v(h)=\sqrt{2gh}", "correct", "equation_value"),
        (r"w(t)=\frac{t}{3}", r"\frac{t}{3}", "correct", "equation_value"),
        ("29", "AB^2 = 29", "correct", "equation_value"),
        ("29", r"\frac{3q}{q} + 26 = 29", "correct", "equation_value"),
        ("f(u)=u^2+1", "f(s) = s^2 + 1", "correct", "function_argument_renamed"),
        ("f(u)=u^2+1", "f(s) = s^2 - 1", "wrong", "function_argument_renamed"),
        ("y=3x-2", "3x - y - 2 = 0", "correct", None),  # the same line, rearranged (sympy)
        ("y=3x-2", "y = 2 - 3x", "wrong", "equation_sides"),
        ("y=3x-2", "3x - y = 2", "correct", "equation_identity"),
        ("y = x", "x = y", "correct", "equation_identity"),
        ("x=3", "x^2=9", "wrong", "equation_identity"),  # not the same solutions
        ("ab", "ba", "correct", "identity_test"),  # a product of two letters, not a word
        ("north", "North", "correct", None),
        ("K", "k", "correct", "case_folded"),
        ("3M+1", "3m+1", "correct", "case_folded"),
        ("M+m", "2m", "wrong", None),  # both cases used: M and m are different
        (r"\frac{\pi}{3}+2k\pi", r"\frac{\pi}{3} + 2n\pi, \; n \in \mathbb{Z}", "correct", "parameter_renamed"),
        (r"(-\infty, 4)", "x < 4", "correct", "inequality_interval"),
        (r"[1, 5)", r"1 \le t < 5", "correct", "inequality_interval"),
        (r"(-\infty,-1)\cup(2,\infty)", r"x < -1 \text{ or } x > 2", "correct", "inequality_interval"),
        (r"(-\infty, 4)", r"x \le 4", "wrong", "inequality_interval"),
        (r"x \in (3, 8)", "3 < x < 8", "correct", "inequality_interval"),
        (r"\frac{2\pi}{3}", r"120^\circ", "correct", "degrees_radians"),
        (r"36^\circ", r"\frac{\pi}{5}", "correct", "degrees_radians"),
        (r"36^\circ", r"\frac{\pi}{4}", "wrong", None),
        ("36", r"\frac{\pi}{5}", "wrong", None),  # no degree sign: 36 is a number
    ],
)
def test_equations_case_parameters_intervals(eq, gold, pred, verdict, rule):
    _case(eq, gold, pred, verdict, rule)


@pytest.mark.parametrize(
    ("gold", "pred", "verdict", "rule"),
    [
        (r"\cos 60^\circ", r"\frac{1}{2}", "correct", None),  # degrees inside a function are an angle
        (r"2\sin x \cos x", r"\sin 2x", "correct", "identity_test"),
        (r"\sin 2x", r"2 \sin x", "wrong", "identity_test"),
        (r"\tan \theta", r"\frac{\sin\theta}{\cos\theta}", "correct", "identity_test"),
        ("1", r"\sin^2 t + \cos^2 t", "correct", "identity_test"),
        # a function of a number restates the question: no evaluated answer (a judge may look)
        (r"\frac{\sqrt{2}}{2}", r"\sin 45^\circ", "wrong", "unevaluated"),
    ],
)
def test_functions(eq, gold, pred, verdict, rule):
    v = _case(eq, gold, pred, verdict, rule)
    assert v.undecided == (rule == "unevaluated")


def test_matrices(eq):
    gold = r"\begin{pmatrix} 2 & 0 \\ 0 & 2 \end{pmatrix}"
    assert check(eq, gold, r"\begin{bmatrix} 2 & 0 \\ 0 & 2 \end{bmatrix}").verdict == "correct"
    assert check(eq, gold, r"\begin{pmatrix} 0 & 2 \\ 2 & 0 \end{pmatrix}").verdict == "wrong"
    v = check(eq, gold, r"2\mathbf{I}")  # notation no rule reads: wrong, left to a judge
    assert (v.verdict, v.undecided, v.rules) == ("wrong", True, ("not_a_matrix",))


def test_interval_answer_type_reads_a_pair_as_an_interval(eq):
    _case(eq, "(2,7)", "2 < x < 7", "correct", "inequality_interval", AnswerHint(answer_type="Interval"))


# ------------------------------------------------------------------------------------------
# Scientific and set golds, several gold answers
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold", "pred", "verdict"),
    [
        ("2.45e6", "2450000", "correct"),
        ("2.45e6", r"2.45 \times 10^{6}", "correct"),
        ("2.45e6", "2.44e6", "wrong"),
        ("6.02e23", r"6.022 \times 10^{23}", "correct"),  # the gold is rounded to 3 digits
        (r"S_{1},S_{2}", r"S_1 \text{ and } S_2", "correct"),
        (r"S_{1},S_{2}", r"S_1", "wrong"),
        (r"\{2, 3, 7\}", r"\{7, 2, 3\}", "correct"),
        (r"4 \pm \sqrt{5}", r"4 - \sqrt{5}, 4 + \sqrt{5}", "correct"),
        (r"4 \pm \sqrt{5}", r"4 + \sqrt{5}", "wrong"),
        ("(2,3),(3,2),(1,6)", "(1, 6), (3, 2), (2, 3)", "correct"),
        ("(2,3),(3,2),(1,6)", "(1, 6), (3, 2)", "wrong"),
        ('["(2,3)", "(3,2)"]', "(3, 2), (2, 3)", "correct"),
        ('["(2,3)", "(3,2)"]', "(2, 3)", "wrong"),
    ],
)
def test_scientific_and_set_golds(eq, gold, pred, verdict):
    _case(eq, gold, pred, verdict, None)


# ------------------------------------------------------------------------------------------
# Rounding (the precision rule)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold", "pred", "verdict"),
    [
        ("0.26", "0.2587", "correct"),  # gold rounded to 2 digits; the prediction rounds to it
        ("0.26", "0.2649", "correct"),
        ("0.26", "0.2651", "wrong"),
        ("0.26", "0.3", "wrong"),  # less precise than the gold
        (r"\frac{500}{7}", "71.43", "correct"),  # the exact gold correctly rounded to what is shown
        (r"\frac{500}{7}", "71.42", "wrong"),
        (r"\sqrt{3}", "1.732", "correct"),
        ("212", "211.97", "wrong"),  # an exact gold is not met by a value off in the shown digits
        (r"\frac{2}{3}", "0.67", "wrong"),  # too few digits to stand for an exact value
        (r"\frac{2}{3}", "0.667", "wrong"),
        (r"\frac{2}{3}", "0.6667", "correct"),
        (r"\pi", "3.14", "wrong"),  # an approximation where the exact value was asked
        ("3.14", r"\pi", "correct"),  # the gold itself is the rounded value
        ("0.7", "0.66", "wrong"),  # a one-digit gold is exact
        ("3.80", "3.8", "correct"),
        (r"\frac{4}{9}", r"0.\overline{4}", "correct"),  # a repeating decimal is exact
        (r"\frac{41}{330}", r"0.1\overline{24}", "correct"),
        (r"\frac{4}{9}", r"0.\overline{5}", "wrong"),
    ],
)
def test_rounding(eq, gold, pred, verdict):
    _case(eq, gold, pred, verdict, None)


def test_rounding_is_named(eq):
    assert "rounded" in check(eq, "0.26", "0.2587").rules
    assert "rounded" not in check(eq, "0.5", "1/2").rules


# ------------------------------------------------------------------------------------------
# The filter reads the row's meta and language
# ------------------------------------------------------------------------------------------


def test_filter_reads_unit_answer_type_and_language_from_the_row():
    rows = [
        {"completion": r"So the speed is \boxed{1500 \text{ m/h}}.", "reference_answer": "1.5", "meta": json.dumps({"unit": "km/h", "answer_type": "Numerical"}), "language": "en"},
        {"completion": r"Thus \boxed{3 < x < 8}.", "reference_answer": "(3,8)", "meta": json.dumps({"answer_type": "Interval"}), "language": "en"},
        {"completion": "Donc le prix est de 4,5 euros.\nRéponse : 4,5", "reference_answer": "4.5", "meta": None, "language": "fr"},
        {"completion": "Réponse : 4,5", "reference_answer": "4.5", "meta": "not json", "language": "en"},
        {"completion": r"Case 1: \boxed{(1, 5)}. Case 2: \boxed{(5, 1)}.", "reference_answer": '["(1,5)", "(5,1)"]', "meta": None, "language": "en"},
    ]
    base = {"problem_id": "p", "problem": "q", "domain": "math", "answer": None}
    batch = pl.DataFrame([{**base, **r} for r in rows], schema_overrides={"answer": pl.String, "meta": pl.String})
    with MathVerifier(workers=1, timeout_s=30.0) as f:
        scores = f.score(batch)
    verdicts = scores.get_column("verdict_math").to_list()
    rules = scores.get_column("score_math_rule").to_list()
    assert verdicts == ["correct", "correct", "correct", "wrong", "correct"], list(zip(verdicts, rules))
    assert rules[0] == "boxed@completion_tail+units_converted"
    assert rules[1] == "boxed@completion_tail+inequality_interval"
    assert rules[2].startswith("answer_is_i18n@")
    assert rules[4].startswith("boxes_joined@")
