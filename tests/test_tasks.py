"""TinyZero tasks: the exact arithmetic parser against an independent oracle (Python's own
parser walked over +, -, *, / with Fractions), the Countdown verifier against brute force over
every expression of random instances, seeded generation (solvable, deterministic, prefix-stable),
multiplication, answer extraction, and `factory tasks`."""

from __future__ import annotations

import ast
import itertools
import json
import random
from collections import Counter
from fractions import Fraction

import pytest
from factory.cli.app import app
from factory.filters.tasks import countdown, multiplication
from factory.filters.tasks.answer import final_answer
from factory.filters.tasks.arith import MAX_CHARS, ExpressionError, evaluate, is_literal
from factory.filters.tasks.registry import check, spec_of
from typer.testing import CliRunner

from factory.io.dataset import iter_rows, read_manifest

# -- an independent oracle --------------------------------------------------------------------------


def oracle(text: str) -> Fraction | None | str:
    """Value by Python's parser (ast) walked with Fractions; None when not an arithmetic
    expression over integer literals; "zero" on division by zero. Test-only."""
    try:
        tree = ast.parse(text.strip(), mode="eval")  # leading blanks are an indent to Python
    except SyntaxError:
        return None

    def walk(n: ast.AST) -> Fraction:
        if isinstance(n, ast.Expression):
            return walk(n.body)
        if isinstance(n, ast.Constant) and type(n.value) is int:
            return Fraction(n.value)
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
            v = walk(n.operand)
            return -v if isinstance(n.op, ast.USub) else v
        if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            a, b = walk(n.left), walk(n.right)
            if isinstance(n.op, ast.Add):
                return a + b
            if isinstance(n.op, ast.Sub):
                return a - b
            if isinstance(n.op, ast.Mult):
                return a * b
            if b == 0:
                raise ZeroDivisionError
            return a / b
        raise ValueError(type(n).__name__)

    try:
        return walk(tree)
    except ZeroDivisionError:
        return "zero"
    except ValueError:
        return None


def ours(text: str) -> Fraction | None | str:
    try:
        return evaluate(text).value
    except ExpressionError as e:
        return "zero" if e.kind == "division_by_zero" else None


def test_parser_matches_the_oracle_on_random_token_strings():
    rng = random.Random(7)
    alphabet = ["1", "2", "3", "7", "10", "25", "+", "-", "*", "/", "(", ")", " "]
    agree = parsed = 0
    for _ in range(6000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
        # Python reads "1 2" as a syntax error and so do we; "01" cannot occur (no "0" token)
        want, got = oracle(text), ours(text)
        assert got == want, (text, want, got)
        agree += 1
        parsed += isinstance(want, Fraction)
    assert parsed > 600, "the random strings should include many valid expressions"


def test_parser_precedence_exactness_and_spellings():
    assert evaluate("2 + 3 * 4").value == 14
    assert evaluate("(2 + 3) * 4").value == 20
    assert evaluate("8 / 4 / 2").value == 1  # left-associative
    assert evaluate("7 / 3 * 3").value == 7  # exact: never 6.999...
    assert evaluate("-3 + 5").value == 2 and evaluate("--3").value == 3
    assert evaluate("2.5 * 4").value == 10
    assert evaluate(r"\frac{3}{4} \times 8").value == 6
    assert evaluate("3 × (2 ÷ 4) − 1").value == Fraction(1, 2)
    assert evaluate(r"\left( 1 + 2 \right) \cdot 3").value == 9
    assert evaluate("[1 + 2] * {3}").value == 9
    assert evaluate("(1 + 2) * 3").literals == (1, 2, 3)


@pytest.mark.parametrize("text,kind", [
    ("2(3+4)", "unparseable"),  # no implicit multiplication
    ("2 ** 3", "unparseable"),
    ("__import__('os').system('true')", "unparseable"),  # never evaluated as Python
    ("1 + ", "unparseable"),
    ("(1 + 2", "unparseable"),
    ("(1 + 2]", "unparseable"),
    ("", "unparseable"),
    ("5 / (3 - 3)", "division_by_zero"),
    (r"\frac{1}{0}", "division_by_zero"),
    ("1" * 61, "too_long"),
    ("(" * 70 + "1" + ")" * 70, "too_long"),
    ("1+" * MAX_CHARS + "1", "too_long"),
])
def test_parser_errors_have_kinds(text, kind):
    with pytest.raises(ExpressionError) as e:
        evaluate(text)
    assert e.value.kind == kind


# -- countdown against brute force ------------------------------------------------------------------


def all_expressions(numbers: list[int]) -> dict[str, Fraction]:
    """Every expression over every non-empty sub-multiset of `numbers` with + - * / (each
    number at most once), as fully parenthesised text -> exact value. Brute force, test-only."""
    memo: dict[tuple[int, ...], list[tuple[str, Fraction]]] = {}

    def build(idx: tuple[int, ...]) -> list[tuple[str, Fraction]]:
        if idx in memo:
            return memo[idx]
        if len(idx) == 1:
            res = [(str(numbers[idx[0]]), Fraction(numbers[idx[0]]))]
        else:
            res = []
            rest = idx[1:]
            # split idx into two non-empty parts (the first element on the left side, to halve the work;
            # both orders of the non-commutative operators are generated explicitly)
            for r in range(0, len(rest)):
                for left_extra in itertools.combinations(rest, r):
                    left = (idx[0], *left_extra)
                    right = tuple(i for i in rest if i not in left_extra)
                    if not right:
                        continue
                    for (sa, a), (sb, b) in itertools.product(build(left), build(right)):
                        res += [(f"({sa} + {sb})", a + b), (f"({sa} * {sb})", a * b),
                                (f"({sa} - {sb})", a - b), (f"({sb} - {sa})", b - a)]
                        if b != 0:
                            res.append((f"({sa} / {sb})", a / b))
                        if a != 0:
                            res.append((f"({sb} / {sa})", b / a))
        memo[idx] = res
        return res

    out: dict[str, Fraction] = {}
    n = len(numbers)
    for k in range(1, n + 1):
        for subset in itertools.combinations(range(n), k):
            for text, value in build(subset):
                out[text] = value
    return out


def reachable(numbers: list[int]) -> set[Fraction]:
    return set(all_expressions(numbers).values())


def test_countdown_verifier_matches_brute_force_on_random_instances():
    rng = random.Random(0)
    checked = correct = 0
    for trial in range(12):
        numbers = [rng.randint(1, 30) for _ in range(rng.choice([3, 3, 4]))]
        exprs = all_expressions(numbers)
        values = set(exprs.values())
        target = rng.choice(sorted(v for v in values if v.denominator == 1 and 1 <= v <= 100))
        sample = rng.sample(sorted(exprs), min(400, len(exprs)))
        for text in sample:
            verdict = countdown.check_answer(text, numbers, int(target))
            assert verdict.correct == (exprs[text] == target), (numbers, target, text, exprs[text], verdict)
            checked += 1
            correct += verdict.correct
        # every expression that reaches the target is accepted, with or without "= target"
        hits = [t for t, v in exprs.items() if v == target]
        for text in rng.sample(hits, min(20, len(hits))):
            assert countdown.check_answer(text, numbers, int(target)).correct
            assert countdown.check_answer(f"{text} = {int(target)}", numbers, int(target)).correct
        # a number used more often than given, or one not given, is refused even when the value is right
        a = numbers[0]
        reuse = f"{target} + {a} - {a}" if numbers.count(a) == 1 else None
        if reuse and Counter(numbers)[a] < 2:
            assert countdown.check_answer(reuse, numbers, int(target)).verdict in ("reused_number", "unknown_number")
        foreign = next(x for x in range(31, 99) if x not in numbers)
        assert countdown.check_answer(f"{foreign} - {foreign} + {target}", numbers, int(target)).verdict == "unknown_number"
    assert checked > 2000 and correct > 0


def test_generated_countdown_problems_are_solvable_and_deterministic():
    problems = [countdown.make_problem(3, i) for i in range(25)]
    for p in problems:
        assert 3 <= len(p.numbers) <= 4 and all(1 <= x <= 99 for x in p.numbers)
        assert 1 <= p.target <= 100 and p.target not in p.numbers
        assert countdown.check_answer(p.solution, p.numbers, p.target).correct  # the generator's own tree
        assert Fraction(p.target) in reachable(list(p.numbers))  # brute force agrees it is solvable
    assert problems == [countdown.make_problem(3, i) for i in range(25)]  # same seed, same problems
    assert problems != [countdown.make_problem(4, i) for i in range(25)]
    with pytest.raises(ValueError, match="target"):
        countdown.make_problem(0, 0, min_target=10_000, max_target=10_001, max_number=2, max_tries=50)


def test_countdown_completions_and_verdicts():
    p = countdown.Countdown((3, 5, 7), 22, "3 * 5 + 7")
    spec = p.spec()
    assert check("<think>try 3*5=15, 15+7=22</think>\n<answer> 3 * 5 + 7 </answer>", spec).correct
    assert check("Let me see.</think> <answer>(5*3)+7 = 22</answer>", spec).correct  # prefilled <think>
    assert check("<think>ok</think> so \\boxed{7 + 5 \\times 3}", spec).correct
    assert check("<think>3*5+7 = 22 <answer>3*5+7</answer>", spec).verdict == "no_answer"  # thought never closed
    assert check("<think>x</think> <answer>3 * 5 + 5</answer>", spec).verdict == "reused_number"
    assert check("<think>x</think> <answer>3 * 5 + 6</answer>", spec).verdict == "unknown_number"
    assert check("<think>x</think> <answer>3 * 7 + 5</answer>", spec).verdict == "wrong_value"
    assert check("<think>x</think> <answer>3 * 5 + 7 = 23</answer>", spec).verdict == "wrong_value"
    assert check("<think>x</think> <answer>3 * (5 - 5)</answer>", spec).verdict == "reused_number"
    assert check("<think>x</think> <answer>7 / (5 - 5)</answer>", spec).verdict == "division_by_zero"
    assert check("<think>x</think> <answer>import os</answer>", spec).verdict == "unparseable"
    assert check("<think>x</think> the answer is 3*5+7", spec).verdict == "no_answer"  # not where the prompt asks
    assert countdown.check_answer("3 + 5", [3, 5, 7], 8).correct  # at most once: 7 may stay unused


def test_multiplication_generation_and_verifier():
    q = multiplication.make_problem(0, 0)
    again = [multiplication.make_problem(0, i) for i in range(10)]
    assert again == [multiplication.make_problem(0, i) for i in range(10)]
    for m in again:
        assert 10 <= m.a <= 9999 and 10 <= m.b <= 9999
    spec = q.spec()
    right = q.product
    assert check(f"<think>long multiplication</think> <answer>{right}</answer>", spec).correct
    assert check(f"<think>x</think> <answer>{q.a} * {q.b} = {right:,}</answer>", spec).correct
    assert check(f"<think>x</think> \\boxed{{{right}}}", spec).correct
    assert check(f"<think>x</think> <answer>{right + 1}</answer>", spec).verdict == "wrong_value"
    assert check(f"<think>x</think> <answer>{q.a} * {q.b}</answer>", spec).verdict == "unparseable"
    assert multiplication.parse_integer("1,234,567") == 1234567
    assert multiplication.parse_integer("12,34") is None


def test_answer_extraction_and_specs():
    assert final_answer("<think>a</think> <answer>1</answer> <answer> 2 </answer>") == "2"
    assert final_answer("no thought <answer>5</answer>") == "5"
    assert final_answer("<think>unclosed <answer>5</answer>") is None
    assert final_answer("<think>x</think> plain text") is None
    assert is_literal(" -12 ") == -12 and is_literal("1+2") is None
    assert spec_of(json.dumps({"task": "countdown", "numbers": [1], "target": 1}))["task"] == "countdown"
    assert spec_of(json.dumps({"task": "sudoku"})) is None and spec_of("not json") is None and spec_of(None) is None


def test_factory_tasks_writes_a_seeded_problem_folder(tmp_path):
    runner = CliRunner()
    out = tmp_path / "countdown"
    res = runner.invoke(app, ["tasks", "countdown", "--n", "30", "--seed", "5", "-o", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(iter_rows(out))
    assert len(rows) == 30 and len({r["id"] for r in rows}) == 30
    for r in rows:
        spec = spec_of(r["meta"])
        assert spec["task"] == "countdown" and r["domain"] == "puzzle"
        assert f"equals {spec['target']}" in r["problem"] and "<answer>" in r["problem"]
        assert countdown.check_answer(r["reference_solution"], spec["numbers"], spec["target"]).correct
    assert read_manifest(out).params["seed"] == 5
    # the same command is up to date; a longer run with the same seed starts with the same problems
    again = runner.invoke(app, ["tasks", "countdown", "--n", "30", "--seed", "5", "-o", str(out)])
    assert again.exit_code == 0 and "up to date" in again.output
    longer = tmp_path / "longer"
    assert runner.invoke(app, ["tasks", "countdown", "--n", "40", "--seed", "5", "-o", str(longer)]).exit_code == 0
    assert [r["id"] for r in iter_rows(longer)][:30] == [r["id"] for r in rows]
    # other options are refused (naming what changed) until --overwrite
    changed = runner.invoke(app, ["tasks", "countdown", "--n", "31", "--seed", "5", "-o", str(out)])
    assert changed.exit_code == 1 and "n 30 -> 31" in changed.output
    mult = tmp_path / "mult"
    res = runner.invoke(app, ["tasks", "multiplication", "-n", "5", "--max-digits", "3", "-o", str(mult)])
    assert res.exit_code == 0, res.output
    assert all(str(spec_of(r["meta"])["a"] * spec_of(r["meta"])["b"]) == r["reference_answer"] for r in iter_rows(mult))
    bad = runner.invoke(app, ["tasks", "countdown", "-n", "5", "--min-numbers", "5", "--max-numbers", "3", "-o", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "--max-numbers: expected >= min_numbers (5), found 3" in bad.output
