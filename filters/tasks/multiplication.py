"""Multiplication (TinyZero's second task): compute a × b exactly.

Generation is seeded; problem `i` of seed `s` depends only on (s, i). Operand sizes are knobs
(`min_digits`..`max_digits` each, default 2..4): the sizes are ours, TinyZero does not publish one
canonical set.

The verifier takes the final answer (`<answer>` tag or `\\boxed{}` after the thought), keeps the
right-hand side of an `=`, and accepts one integer literal (thousands separators `,`, `{,}`, `\\,`
or thin spaces allowed) equal to the product. An expression that merely restates the question
(`<answer> 12 * 34 </answer>`) is not an answer. Verdicts: correct, no_answer, unparseable,
wrong_value.

Exercise: `factory tasks multiplication --n 1000 --seed 0 -o problems/mult`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from factory.filters.tasks.answer import final_answer
from factory.filters.tasks.countdown import Check

NAME = "multiplication"
_SEPARATED = re.compile(r"^[+-]?\d{1,3}(?:(?:,|\{,\}|\\,|\u2009|\u202f| )\d{3})+$")
_PLAIN = re.compile(r"^[+-]?\d+$")
_WRAPPERS = re.compile(r"^(?:\$|\\\(|\\\[)\s*|\s*(?:\$|\\\)|\\\]|\.)$")


@dataclass(frozen=True)
class Multiplication:
    a: int
    b: int

    @property
    def product(self) -> int:
        return self.a * self.b

    def spec(self) -> dict[str, Any]:
        return {"task": NAME, "a": self.a, "b": self.b}


def problem_text(a: int, b: int) -> str:
    return (f"Compute {a} * {b}. Show your work in <think> </think> tags. And return the final answer in "
            "<answer> </answer> tags, for example <answer> 1234 </answer>.")


def make_problem(seed: int, index: int, *, min_digits: int = 2, max_digits: int = 4) -> Multiplication:
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"expected 1 <= min_digits <= max_digits, found {min_digits}, {max_digits}")
    rng = random.Random(f"{NAME}:{seed}:{index}")

    def operand() -> int:
        d = rng.randint(min_digits, max_digits)
        return rng.randint(10 ** (d - 1) if d > 1 else 0, 10**d - 1)

    return Multiplication(operand(), operand())


def parse_integer(answer: str) -> int | None:
    text = answer.strip()
    if "=" in text:
        text = text.rsplit("=", 1)[1].strip()
    prev = None
    while prev != text:  # peel $…$, \(…\), a trailing full stop
        prev, text = text, _WRAPPERS.sub("", text).strip()
    if _PLAIN.match(text):
        return int(text)
    if _SEPARATED.match(text):
        return int(re.sub(r"[^\d+-]", "", text))
    return None


def check_answer(answer: str | None, a: int, b: int) -> Check:
    if answer is None or not answer.strip():
        return Check("no_answer")
    value = parse_integer(answer)
    if value is None:
        return Check("unparseable", detail=f"expected one integer, found {answer[:60]!r}")
    if value != a * b:
        return Check("wrong_value", detail=f"{value} != {a * b}")
    return Check("correct")


def check_completion(completion: str, spec: dict[str, Any]) -> Check:
    return check_answer(final_answer(completion), int(spec["a"]), int(spec["b"]))
