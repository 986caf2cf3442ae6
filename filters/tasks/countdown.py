"""Countdown (TinyZero's task): given numbers and a target, write an arithmetic equation that
reaches the target using each number at most once with `+ - * /` and parentheses.

Generation is seeded and solvable by construction: each problem draws its numbers, combines ALL
of them in a random expression tree, and keeps the draw when the exact value is an integer in
[min_target, max_target] (the tree is the reference solution). Problem `i` of seed `s` depends
only on (s, i), so `--n 100` is a prefix of `--n 10000`.

The verifier parses the answer with our own exact parser (`arith.py`): right when the value is
exactly the target (rationals, so `(7 / 3) * 3` is 7, never 6.999…) and the literals it uses are a
sub-multiset of the given numbers. `expr = target` is accepted (the side that is the target is not
counted as a use). Verdicts: correct, no_answer, unparseable, division_by_zero, unknown_number,
reused_number, wrong_value.

Defaults follow TinyZero's data (Jiayi-Pan/Countdown-Tasks-3to4: 3-4 numbers, 1-99, targets up to
100); its prompt wording is kept (`problem_text`).

Exercise: `factory tasks countdown --n 10000 --seed 0 -o problems/countdown`.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from factory.filters.tasks.answer import final_answer
from factory.filters.tasks.arith import ExpressionError, evaluate, is_literal

NAME = "countdown"
OPS = ("+", "-", "*", "/")


@dataclass(frozen=True)
class Countdown:
    numbers: tuple[int, ...]
    target: int
    solution: str  # one equation that reaches the target (the generating tree)

    def spec(self) -> dict[str, Any]:
        return {"task": NAME, "numbers": list(self.numbers), "target": self.target}


@dataclass(frozen=True)
class Check:
    verdict: str
    value: Fraction | None = None
    detail: str = ""

    @property
    def correct(self) -> bool:
        return self.verdict == "correct"


def problem_text(numbers: tuple[int, ...] | list[int], target: int) -> str:
    # TinyZero's user turn (examples/data_preprocess/countdown.py), verbatim apart from the list format
    nums = "[" + ", ".join(str(x) for x in numbers) + "]"
    return (f"Using the numbers {nums}, create an equation that equals {target}. You can use basic arithmetic "
            "operations (+, -, *, /) and each number can only be used once. Show your work in <think> </think> "
            "tags. And return the final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.")


def _combine(rng: random.Random, items: list[tuple[Fraction, str]]) -> tuple[Fraction, str] | None:
    """Join the items pairwise in random order with random operators into one tree (exact)."""
    items = list(items)
    while len(items) > 1:
        i, j = rng.sample(range(len(items)), 2)
        (a, sa), (b, sb) = items[i], items[j]
        op = rng.choice(OPS)
        if op == "/" and b == 0:
            return None
        value = a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a / b
        text = f"({sa} {op} {sb})"
        items = [x for k, x in enumerate(items) if k not in (i, j)] + [(value, text)]
    value, text = items[0]
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    return value, text


def make_problem(
    seed: int,
    index: int,
    *,
    min_numbers: int = 3,
    max_numbers: int = 4,
    min_number: int = 1,
    max_number: int = 99,
    min_target: int = 1,
    max_target: int = 100,
    max_tries: int = 10_000,
) -> Countdown:
    """Problem `index` of `seed` (a pure function of both)."""
    if not 2 <= min_numbers <= max_numbers:
        raise ValueError(f"expected 2 <= min_numbers <= max_numbers, found {min_numbers}, {max_numbers}")
    if not 0 <= min_number <= max_number:
        raise ValueError(f"expected 0 <= min_number <= max_number, found {min_number}, {max_number}")
    if min_target > max_target:
        raise ValueError(f"expected min_target <= max_target, found {min_target}, {max_target}")
    # a str seed is hashed with sha512 by random.Random: stable across runs and platforms
    rng = random.Random(f"{NAME}:{seed}:{index}")
    for _ in range(max_tries):
        k = rng.randint(min_numbers, max_numbers)
        numbers = [rng.randint(min_number, max_number) for _ in range(k)]
        tree = _combine(rng, [(Fraction(x), str(x)) for x in numbers])
        if tree is None:
            continue
        value, text = tree
        # a target equal to one of the numbers is solved by writing that number: not a puzzle
        if value.denominator == 1 and min_target <= value <= max_target and int(value) not in numbers:
            return Countdown(tuple(numbers), int(value), text)
    raise ValueError(f"no countdown problem with a target in [{min_target}, {max_target}] after {max_tries} draws; "
                     "widen the target range or the number range")


def check_answer(answer: str | None, numbers: list[int] | tuple[int, ...], target: int) -> Check:
    """Judge one extracted answer (an equation) against the problem."""
    if answer is None or not answer.strip():
        return Check("no_answer")
    sides = answer.split("=")
    if len(sides) > 2:
        return Check("unparseable", detail="more than one '='")
    expr = answer
    if len(sides) == 2:
        left, right = sides
        rv, lv = is_literal(right), is_literal(left)
        if rv is not None:
            expr, claimed = left, rv
        elif lv is not None:
            expr, claimed = right, lv
        else:
            return Check("unparseable", detail="with '=', one side must be the target number")
        if claimed != target:
            return Check("wrong_value", claimed, f"the equation claims {claimed}, the target is {target}")
    try:
        ev = evaluate(expr)
    except ExpressionError as e:
        return Check("division_by_zero" if e.kind == "division_by_zero" else "unparseable", detail=str(e))
    given = Counter(Fraction(x) for x in numbers)
    used = Counter(ev.literals)
    unknown = [x for x in used if x not in given]
    if unknown:
        return Check("unknown_number", ev.value, f"{', '.join(str(x) for x in unknown)} not among {list(numbers)}")
    reused = [x for x in used if used[x] > given[x]]
    if reused:
        return Check("reused_number", ev.value, f"{', '.join(str(x) for x in reused)} used more often than given")
    if ev.value != target:
        return Check("wrong_value", ev.value, f"the equation gives {ev.value}, the target is {target}")
    return Check("correct", ev.value)


def check_completion(completion: str, spec: dict[str, Any]) -> Check:
    return check_answer(final_answer(completion), spec["numbers"], int(spec["target"]))
