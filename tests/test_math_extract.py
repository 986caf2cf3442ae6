"""Answer extraction, one test per category of issue 13, on invented model outputs.

Each case names the rule that must find the answer (`Extraction.rule`, written into
`score_math_rule`), so a change that finds the right value by another path shows up.

Run: python -m pytest -q tests/test_math_extract.py
"""

from __future__ import annotations

import pytest
from factory.filters.math.equiv import MathEquivalence
from factory.filters.math.extract import (
    extract_answer,
    extract_from_trace,
    final_boxes,
    mcq_letter,
)


@pytest.fixture(scope="module")
def eq():
    with MathEquivalence(workers=1, timeout_s=30.0, prestart=False, warm_up="minimal") as e:
        yield e


# ------------------------------------------------------------------------------------------
# A sentence as the final answer (no box)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer", "rule"),
    [
        ("We try every case.\nThe smallest $k$ is 17.", "17", "final_line"),
        ("Final answer: the greatest $m$ is 48.", "48", "answer_is"),
        ("So the final answer is: the number of chairs $c$ equals 212.", "212", "answer_is"),
        ("Checking again, $t = 9$ is indeed the correct solution.\nNothing else to do here.", "9", "answer_is"),
        ("Adding up, 441.5 is the correct total of the three bills.", "441.5", "answer_is"),
        ("Final answer: $q(t)$ is $t^2 - 4t + 1$.", "t^2 - 4t + 1", "answer_is"),
        ("Final answer: $q(t) = t^2 - 4t + 1$", "q(t) = t^2 - 4t + 1", "answer_is"),
        ("Therefore, the perimeter is indeed 12π.\n\nI think that's it.", "12π", "final_line"),
    ],
)
def test_sentence_answers(text, answer, rule):
    ext = extract_answer(text)
    assert (ext.answer, ext.rule) == (answer, rule)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("So the wavelength is approximately 610 nm.", "610 nm"),
        ("Therefore, the current is 0.45 mA, which is small.", "0.45 mA"),
        ("Thus v ≈ 7.9 km/s.", "7.9 km/s"),
        ("So the total is 12 apples.", "12"),  # a counted noun is no unit
        ("The wavelength is approximately \\(6.1 \\times 10^{-7}\\) m.", "6.1 \\times 10^{-7} m"),
    ],
)
def test_a_stated_quantity_keeps_its_unit(text, answer):
    """The unit travels with the number, so 610 nm can be converted to 6100 Å."""
    assert extract_answer(text).answer == answer


def test_a_retracted_or_remembered_statement_is_not_the_answer():
    text = (
        "I recall that the correct answer is 3/4.\n\nHmm, maybe I made a mistake in the setup.\n\n"
        "Recounting the cases: 5 of the 8 outcomes work.\nSo the probability is 5/8."
    )
    assert extract_answer(text).answer == "5/8"
    taken_back = "The answer is 12. Hmm, that is wrong, the last step double counts.\nSo we get 10 in the end."
    assert extract_answer(taken_back).answer == "10"


# ------------------------------------------------------------------------------------------
# Answers inside a list or behind a label
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer", "rule"),
    [
        ("Masses found:\n- Glucose: 180.16 g/mol\n- Urea: 60.06 g/mol", "180.16 g/mol, 60.06 g/mol", "list_items"),
        ("The solutions are:\n* **(5, 1)**\n* **(-2, 7)**", "(5, 1), (-2, 7)", "list_items"),
        ("Hence the ages are:\n1. Dana is 31 years old.\n2. Eli is 29 years old.", "31, 29", "list_items"),
        ("After the reaction we get\n- NaOH: 39.99 g/mol", "39.99 g/mol", "final_line"),
    ],
)
def test_list_items_and_labels(text, answer, rule):
    ext = extract_answer(text)
    assert (ext.answer, ext.rule) == (answer, rule)


def test_a_list_without_a_lead_in_is_not_an_answer_list():
    # a list of working steps that ends the text is not "the answers are:"
    text = "Steps\n- multiply by 3\n- add 4, giving 19"
    assert extract_answer(text).rule != "list_items"


# ------------------------------------------------------------------------------------------
# Several boxes, multiple-choice letters
# ------------------------------------------------------------------------------------------


def test_final_boxes_are_one_block_unless_the_text_takes_one_back():
    assert final_boxes(r"First pair \boxed{(4, 9)}; second pair \boxed{(9, 4)}.") == ("(4, 9)", "(9, 4)")
    assert final_boxes(r"So \boxed{6}. Wait, I dropped a case, so it is \boxed{8}.") == ("8",)
    far = r"\boxed{2}" + " x" * 400 + r" \boxed{5}"
    assert final_boxes(far) == ("5",)


def test_several_boxes_are_joined_when_the_gold_has_several_values(eq):
    text = r"Case one gives \boxed{(1, 4)} and case two gives \boxed{(4, 1)}."
    ext = extract_answer(text)
    assert ext.answer == "(4, 1)"
    assert eq.choose(ext, "(1,4),(4,1)") == ("(1, 4), (4, 1)", "boxes_joined")
    assert eq.check([("(1,4),(4,1)", "(1, 4), (4, 1)")])[0].verdict == "correct"
    # a single-valued gold keeps the last box
    assert eq.choose(extract_answer(r"\boxed{3} then \boxed{7}"), "7") == ("7", "boxed")
    # the roots 3 and -5 in two boxes against gold "-5, 3"
    assert eq.choose(extract_answer(r"$x = \boxed{3}$ or $x = \boxed{-5}$"), "-5,3")[1] == "boxes_joined"


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("Comparing the options, the correct answer is (C).", "C"),
        ("D. because the other three fail at n = 2", "D"),
        ("Answer: B", "B"),
        ("Only one option survives: **(E)**\n(E) is correct.", "E"),
        (r"Thus \boxed{\text{(A)}}", "A"),
        ("The answer is a function of n, so we stop.", None),  # "a" is not an option letter
        ("So the answer is (B). Option D fails at n = 3.", "B"),  # a mention of an option is no answer
        ("解答：设小明有 x 元", None),
    ],
)
def test_mcq_letters_in_prose(text, letter):
    assert mcq_letter(text) == letter


def test_mcq_letter_is_taken_when_the_gold_is_an_option(eq):
    ext = extract_answer("Each of the others fails, so the correct answer is (B).")
    assert eq.choose(ext, "(B) Marta")[0] in ("(B)", "B")
    ext = extract_answer("D. because 7 is prime and the rest are not")
    assert eq.choose(ext, "D")[1] == "mcq_letter"
    for gold, pred in (("(D) Alina", "D"), ("(D) Alina", "Alina"), ("D", "(D)"), (r"\textbf{(C)}", "C"), ("D. Alina", "(D) Alina")):
        assert eq.check([(gold, pred)])[0].verdict == "correct", (gold, pred)
    assert eq.check([("(D) Alina", "C")])[0].verdict == "wrong"
    assert eq.check([("(D) Alina", "Boris")])[0].verdict == "wrong"


# ------------------------------------------------------------------------------------------
# Final lines in other languages
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer", "rule"),
    [
        ("计算得出结果。\n答案是 27", "27", "answer_is_i18n"),
        ("所以，小红一共有 45 颗糖", "45", "final_line"),
        ("Donc le total vaut bien cela.\nRéponse : 315", "315", "answer_is_i18n"),
        ("Die Antwort ist 64.", "64", "answer_is_i18n"),
        ("La respuesta es 2,5.", "2,5", "answer_is_i18n"),
        ("Ответ: 18", "18", "answer_is_i18n"),
        ("答え：36", "36", "answer_is_i18n"),
        ("答：共 52 人", "52", "answer_is_i18n"),
    ],
)
def test_other_language_final_lines(text, answer, rule):
    ext = extract_answer(text)
    assert (ext.answer, ext.rule) == (answer, rule)


# ------------------------------------------------------------------------------------------
# Where the answer is read
# ------------------------------------------------------------------------------------------


def test_a_cut_off_solution_falls_back_to_the_thoughts_conclusion():
    completion = (
        "<|begin_of_thought|>\nCounting pairs ... Therefore, the answer is 14.\n<|end_of_thought|>\n"
        "<|begin_of_solution|>\nLet $m$ be the count. We write \\[ m = 20 - k^2 \\] and so"
    )
    ext = extract_from_trace(completion, None)
    assert (ext.answer, ext.rule, ext.source) == ("14", "answer_is", "completion_tail")
    # a finished solution keeps its own answer
    done = completion + " $m = \\boxed{14}$.\n<|end_of_solution|>"
    assert extract_from_trace(done, None).source == "after_thought"
