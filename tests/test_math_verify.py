"""The math verifier on real traces and per stage.

Real data: the shipped traces in factory/data/traces (Sky-T1 long CoT on MATH-500, Qwen2.5-14B
short CoT on MATH-500, a best-of-8 set) with the authors' correctness labels. Every row where
our verdict differs from the author label was read by hand; the ones where the label is wrong are
listed with a reason in tests/data/math_label_errors.json.

Run: python -m pytest -q tests/test_math_verify.py
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import polars as pl
import pytest
from factory.filters.base import apply_chain
from factory.filters.math.equiv import MathEquivalence
from factory.filters.math.extract import (
    extract_answer,
    extract_from_trace,
    last_boxed,
    solution_text,
)
from factory.filters.math.filter import MathVerifier
from factory.filters.math.normalize import evaluate, normalize, plain_to_latex
from factory.filters.math.reward import accuracy_reward
from factory.filters.math.symbolic import SymbolicPool

TRACE_FILES = (
    "skyt1_long_cot_math500",
    "qwen25_14b_instruct_short_cot_math500",
    "qwen25math_math_cot_100_bo8",
)
LABEL_ERRORS = Path(__file__).parent / "data" / "math_label_errors.json"


@pytest.fixture(scope="module")
def equiv():
    """One verifier (two symbolic workers) shared by the tests that reach the symbolic stage;
    a generous per-pair limit so a loaded CI box never turns a slow pair into `timeout`."""
    with MathEquivalence(workers=2, timeout_s=30.0) as eq:
        yield eq


@pytest.fixture
def fast_equiv():
    """A verifier that does not start workers ahead of need (for string/numeric tests)."""
    with MathEquivalence(workers=1, timeout_s=30.0, prestart=False, warm_up="minimal") as eq:
        yield eq


def _trace_rows(package_data: Path) -> list[dict]:
    rows = []
    for name in TRACE_FILES:
        with gzip.open(package_data / "traces" / f"{name}.jsonl.gz", "rt") as fh:
            for line in fh:
                r = json.loads(line)
                for s, (completion, label) in enumerate(zip(r["code"], r["score"])):
                    rows.append({"file": name, "idx": int(r["idx"]), "sample": s, "gold": r["answer"], "completion": completion, "label": bool(label)})
    return rows


# ------------------------------------------------------------------------------------------
# Real traces against the authors' labels
# ------------------------------------------------------------------------------------------


def test_verdicts_agree_with_corrected_labels(package_data, equiv):
    """1,800 real (gold, output) pairs: agreement with the authors' labels after the reviewed
    corrections (tests/data/math_label_errors.json). The misses left are cut-off long-CoT traces
    whose last statement is prose ("Perfect.", "Navin earns the most ...")."""
    rows = _trace_rows(package_data)
    assert len(rows) == 500 + 500 + 800
    known = {(e["file"], e["idx"], e["sample"]): e for e in json.loads(LABEL_ERRORS.read_text())["rows"]}
    assert all(e["author_label"] != e["correct"] and e["reason"] for e in known.values())
    exts = [extract_from_trace(r["completion"], None) for r in rows]
    chosen = [equiv.choose(e, r["gold"]) for e, r in zip(exts, rows)]
    verdicts = equiv.check([(r["gold"], c[0]) for r, c in zip(rows, chosen)])
    ours = [v.verdict == "correct" for v in verdicts]
    truth = [known[(r["file"], r["idx"], r["sample"])]["correct"] if (r["file"], r["idx"], r["sample"]) in known else r["label"] for r in rows]
    misses = [((r["file"], r["idx"], r["sample"]), t, v) for r, t, m, v in zip(rows, truth, ours, verdicts) if m != t]
    rate = 1 - len(misses) / len(rows)
    print(f"agreement with corrected labels: {len(rows) - len(misses)}/{len(rows)} = {rate:.4f}")
    assert rate >= 0.995, misses[:20]
    # the reviewed label errors are where a checker earns its keep: most must come out right
    fixed = sum(m == known[(r["file"], r["idx"], r["sample"])]["correct"] for r, m in zip(rows, ours) if (r["file"], r["idx"], r["sample"]) in known)
    assert fixed >= 0.9 * len(known), fixed
    # most pairs never reach sympy: the string/numeric stages decide them in-process
    stages = [v.stage for v in verdicts]
    assert stages.count("symbolic") < 0.05 * len(stages)
    assert stages.count("string") + stages.count("numeric") > 0.9 * len(stages)


# ------------------------------------------------------------------------------------------
# Extraction
# ------------------------------------------------------------------------------------------


def test_last_boxed_balances_nested_braces():
    text = r"First \boxed{1}. Then $\boxed{\frac{\sqrt{3}}{2}}$ and \fbox{\dfrac{1}{2}} end"
    assert last_boxed(text) == r"\dfrac{1}{2}"
    assert last_boxed(r"so \boxed{\left( 3, \frac{\pi}{2} \right)}.") == r"\left( 3, \frac{\pi}{2} \right)"
    assert last_boxed(r"the answer is \boxed 5.") == "5"
    # a truncated box does not count; the earlier complete one does
    assert last_boxed(r"\boxed{7} then \boxed{\frac{1}{") == "7"
    assert last_boxed("no box here") is None


@pytest.mark.parametrize(
    ("text", "answer", "rule"),
    [
        ("Natalia sold 48 clips.\n#### 72", "72", "hash"),
        ("#### Step 1: add\nThe answer is 12.", "12", "answer_is"),
        ("So the final answer is $\\frac{1}{2}$. I hope it is correct.", "\\frac{1}{2}", "answer_is"),
        ("Final Answer: 3\\sqrt{2}", "3\\sqrt{2}", "answer_is"),
        ("I'm confident that the answer is 9 customers.", "9 customers", "answer_is"),
        ("Lots of work.\nTherefore, the area of the triangle is 12 square units.", "12", "final_line"),
        ("Check.\nSo, the sixth term is 350.\n\nI think that's the answer.", "350", "final_line"),
        ("Profit: $93 - $15 = $78.", "78", "final_line"),
        ("Therefore, the coordinates are \\( (8, -2) \\).", "(8, -2)", "final_line"),
        ("Thus, the equation of the plane is:\n\\[\n5x - 7y + 11z + 4 = 0\n\\]", "5x - 7y + 11z + 4 = 0", "final_line"),
        ("Let me try k =", None, "none"),
    ],
)
def test_extraction_rules(text, answer, rule):
    ext = extract_answer(text)
    assert (ext.answer, ext.rule) == (answer, rule)


def test_extraction_reads_the_solution_not_the_thought():
    thought = "<think>maybe \\boxed{3}? no wait</think>"
    # the Trace answer column (post-thought part) wins
    ext = extract_from_trace(thought + "The answer is \\boxed{4}.", "The answer is \\boxed{4}.")
    assert (ext.answer, ext.source) == ("4", "answer")
    # empty answer column: the part after the thought marker
    ext = extract_from_trace(thought + "So \\boxed{4}.", "")
    assert (ext.answer, ext.source) == ("4", "after_thought")
    sky = "<|begin_of_thought|>\n\\boxed{3}\n<|end_of_thought|>\n<|begin_of_solution|>\nThus \\boxed{5}<|end_of_solution|>"
    assert extract_from_trace(sky, None).answer == "5"
    # no solution part at all: the completion's tail, and the source says so
    ext = extract_from_trace("<think>I think it is \\boxed{3}", None)
    assert (ext.answer, ext.source) == ("3", "completion_tail")
    assert solution_text("abc", None) == ("abc", "completion_tail")


# ------------------------------------------------------------------------------------------
# The cascade, stage by stage
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold", "pred"),
    [
        (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\frac{\pi}{2})"),
        (r"\text{Evelyn}", "Evelyn"),
        (r"\text{east}", "East"),
        (r"90^\circ", "90"),
        (r"\text{(C)}", "C"),
        (r"900,\!000,\!000", "900000000"),
        (r"10{,}000", "10,000"),
        (r"5 \text{ cm}", "5"),
        (r"48^\circ", r"48^{\circ}"),
        (r"\frac{\sqrt{3}}{2}", r"\frac{\sqrt3}{2}"),
        (r"x \in [-2,7]", "[-2, 7]"),
        (r"4210_{5}", "4210_5"),
        (r"\dfrac{1}{9}", r"\frac19"),
        ("p - q", "p-q"),
    ],
)
def test_string_stage(fast_equiv, gold, pred):
    v = fast_equiv.check([(gold, pred)])[0]
    assert (v.verdict, v.stage) == ("correct", "string")


@pytest.mark.parametrize(
    ("gold", "pred", "verdict"),
    [
        (r"\frac{1}{2}", "0.5", "correct"),
        (r"\dfrac{3}{4}", ".75", "correct"),
        ("0.5", "1/2", "correct"),
        (r"50\%", "50", "correct"),
        (r"25\%", "0.25", "correct"),
        (r"900,\!000,\!000", r"9 \times 10^8", "correct"),
        (r"10{,}000", "10000.0", "correct"),
        (r"\$6", "6.00", "correct"),
        (r"100\text{ square units}", "100.00", "correct"),
        (r"5 \text{ cm}", "5.0", "correct"),
        ("1500", "1.5e3", "correct"),
        ("2000", r"2 \times 10^3", "correct"),
        (r"48^\circ", "48.0", "correct"),
        (r"\frac{\sqrt{3}}{2}", r"\sqrt{3}/2", "correct"),
        (r"2\sqrt{2}", r"\sqrt{8}", "correct"),
        (r"\frac{5\pi}{6}", r"\frac{5}{6}\pi", "correct"),
        ("3, 5, 7", "7,5,3", "correct"),
        (r"3 \text{ or } 5", "5, 3", "correct"),
        (r"\begin{pmatrix} 1/5 \\ -18/5 \end{pmatrix}", r"\begin{pmatrix} \frac{1}{5} \\ -\frac{18}{5} \end{pmatrix}", "correct"),
        ("0.33", "1/3", "correct"),
        ("3", "4", "wrong"),
        (r"\frac{1}{2}", r"\frac{1}{3}", "wrong"),
        ("(1, 2)", "(2, 1)", "wrong"),
        ("2", "2, 1", "wrong"),
        ("46", "x", "wrong"),
        (r"(-\infty, 3]", r"(-\infty, 3)", "wrong"),
        (r"(2,\infty)", r"[2, \infty)", "wrong"),
        (r"(-\infty,3]", "(-inf, 3.0]", "correct"),
        ("6 - 5i", "-5i + 6", "correct"),
        ("1+274i", "1 + 264i", "wrong"),
        (r"\frac{1997}{2}", r"\frac{1}{1 + \omega}", "wrong"),
    ],
)
def test_numeric_stage(fast_equiv, gold, pred, verdict):
    v = fast_equiv.check([(gold, pred)])[0]
    assert (v.verdict, v.stage) == (verdict, "numeric"), v


@pytest.mark.parametrize(
    ("gold", "pred", "verdict"),
    [
        (r"\sinh x", r"\frac{e^x - e^{-x}}{2}", "correct"),  # e is Euler's number: sympy decides
        (r"\log_2 8", "3", "correct"),
        (r"\dbinom{5}{2}", "10", "correct"),
        (r"\sum_{k=1}^{4} k", "10", "correct"),
        (r"\begin{pmatrix} x & 0 \\ 0 & 1 \end{pmatrix}", r"\begin{bmatrix} x & 0 \\ 0 & 2/2 \end{bmatrix}", "correct"),
        (r"\begin{pmatrix} x & 0 \\ 0 & 1 \end{pmatrix}", r"\begin{pmatrix} 0 & x \\ 0 & 1 \end{pmatrix}", "wrong"),
        (r"\binom{n}{2}", r"\frac{n(n-1)}{2}", "correct"),
        (r"\lfloor n/2 \rfloor", r"\lfloor n/3 \rfloor", "wrong"),
    ],
)
def test_symbolic_stage(equiv, gold, pred, verdict):
    v = equiv.check([(gold, pred)])[0]
    assert (v.verdict, v.stage) == (verdict, "symbolic"), v


@pytest.mark.parametrize(
    ("gold", "pred", "verdict"),
    [
        ("2x^2+3x+1", "(2x+1)(x+1)", "correct"),
        ("y = 2x + 1", "y = 1 + 2x", "correct"),
        (r"(0,9) \cup (9,36)", r"(9, 36) \cup (0, 9)", "correct"),
        (r"(0, 1) \cup (2, 3)", r"(0, 1) \cup [2, 3)", "wrong"),
        (r"\{1, x\}", r"\{x, 1\}", "correct"),
        (r"3 \pm 2 \sqrt{2}", r"3 + 2\sqrt{2}, 3 - 2\sqrt{2}", "correct"),
        (r"\frac{\sqrt{x}}{2}", "sqrt(x)/2", "correct"),
        ("x^2 - 1", "(x-1)(x+1)", "correct"),
        ("x^2 - 1", "(x-1)^2", "wrong"),
        (r"\frac{1}{2n+2}", r"\frac{1}{2(n+1)}", "correct"),
        ("2n-2", "2^{n-1}", "wrong"),  # equal at n = 1 and 2 only: the test points are not integers
        ("(a+b)^2", "a^2+2ab+b^2", "correct"),
    ],
)
def test_expressions_decided_in_process(fast_equiv, gold, pred, verdict):
    """Expressions in single-letter variables are compared by the identity test (exact values at
    fixed non-integer rationals) without sympy."""
    v = fast_equiv.check([(gold, pred)])[0]
    assert (v.verdict, v.stage) == (verdict, "numeric"), v


@pytest.mark.parametrize(
    ("plain", "latex"),
    [
        ("sqrt(3)/2", r"\sqrt{3}/2"),
        ("5pi/6", r"5\pi /6"),
        ("2*sqrt(2)", r"2\cdot \sqrt{2}"),
        ("x**2 + 1", "x^2 + 1"),
        ("2^(n+1)", "2^{n+1}"),
        ("cbrt(x+1)", r"\sqrt[3]{x+1}"),
        ("(-inf, 3]", r"(-\infty , 3]"),
        ("√3/2", r"\sqrt{3}/2"),
        (r"\frac{1}{2}", r"\frac{1}{2}"),  # LaTeX passes through
    ],
)
def test_plain_to_latex(plain, latex):
    assert plain_to_latex(plain) == latex


@pytest.mark.parametrize(
    ("gold", "pred"),
    [
        (r"\frac{\sqrt{3}}{2}", "sqrt(3)/2"),
        (r"\frac{5\pi}{6}", "5pi/6"),
        (r"2\sqrt{2}", "2*sqrt(2)"),
        (r"\frac12", "1/2"),
        (r"2x^2+3x+1", "(2x+1)(x+1)"),
        (r"\frac{\pi}{3}", "pi/3"),
        (r"(-\infty, 3]", "(-inf, 3]"),
    ],
)
def test_plain_text_predictions(equiv, gold, pred):
    assert equiv.check([(gold, pred)])[0].verdict == "correct"


def test_plain_text_wrong_stays_wrong(equiv):
    assert equiv.check([(r"\frac{5\pi}{6}", "5")])[0].verdict == "wrong"
    assert equiv.check([(r"\frac{\sqrt{3}}{2}", "sqrt(2)/2")])[0].verdict == "wrong"


def test_evaluate_is_bounded():
    # exact where cheap, refused (None -> symbolic stage) where it would be huge
    assert evaluate(normalize("2^{10}")).items[0] == 1024
    assert evaluate(normalize("2^{2^{2^{2^{2^{2}}}}}")) is None
    assert evaluate(normalize("(10^{10})!")) is None
    assert evaluate(normalize("x+1")) is None


@pytest.mark.parametrize("gold", ["", "   ", None, r"\frac{1}{", "(1, 2", "{{x}"])
def test_gold_unparseable_never_passes(fast_equiv, gold):
    # even a prediction that repeats the broken gold does not pass
    same = gold if gold and gold.strip() else "5"
    for pred in (same, "5"):
        v = fast_equiv.check([(gold, pred)])[0]
        assert v.verdict == "gold_unparseable", v


def test_gold_that_sympy_cannot_parse_is_quarantined(equiv):
    v = equiv.check([(r"\frac{1}{2} \qux{", r"\frac{1}{2}")])[0]
    assert v.verdict == "gold_unparseable"
    v = equiv.check([("=", "3x")])[0]
    assert v.verdict == "gold_unparseable"


@pytest.mark.parametrize(
    ("gold", "pred", "verdict", "stage", "undecided"),
    [
        ("24", "24 +", "wrong", "string", True),  # cut off mid-expression
        (r"\frac{1}{2}", r"\frac{1}{", "wrong", "string", True),
        ("5", r"2\sqrt", "wrong", "string", True),
        (r"7\pi", r"7\pi", "correct", "string", False),  # a trailing command is not a cut-off
        ("501", "20 > 0", "wrong", "numeric", False),
        (r"\frac14", r"\pm1, \pm7", "wrong", "numeric", False),
        ("120", "(θ/360)π - (1/2)sin(θ/2)", "wrong", "numeric", False),  # not constant in θ (identity test)
        ("0.5", "one half", "wrong", "numeric", True),  # words: a judge may read them
    ],
)
def test_unreadable_and_mismatched_predictions(fast_equiv, gold, pred, verdict, stage, undecided):
    v = fast_equiv.check([(gold, pred)])[0]
    assert (v.verdict, v.stage, v.undecided) == (verdict, stage, undecided), v


def test_no_answer(fast_equiv):
    assert fast_equiv.check([("3", None)])[0].verdict == "no_answer"
    assert fast_equiv.check([("3", "  ")])[0].stage == "extract"


def test_caches(equiv):
    eq = MathEquivalence(workers=1, timeout_s=30.0, warm_up="minimal")
    try:
        gold = r"\log_2 8"
        pairs = [(gold, "3")] * 8 + [(gold, "4")] * 8
        verdicts = eq.check(pairs)
        assert [v.verdict for v in verdicts] == ["correct"] * 8 + ["wrong"] * 8
        # the gold was parsed once; sympy saw each distinct pair once
        assert eq.stats["gold_cache_hits"] >= 15
        assert eq.pool.stats["pairs"] == 2
        eq.check(pairs)
        assert eq.pool.stats["pairs"] == 2
        assert eq.stats["verdict_cache_hits"] >= 16
    finally:
        eq.close()


def test_hanging_sympy_input_is_killed_and_others_finish():
    limit = 3.0
    with SymbolicPool(workers=2, timeout_s=limit, warm_up="minimal") as pool:
        pool.start()
        pairs = [("1", "(10^{10})!"), ("2x+2", "2(x+1)"), ("1", "9^{9^{9}}"), ("x^2", "x \\cdot x")]
        t0 = time.monotonic()
        out = pool.run(pairs)
        elapsed = time.monotonic() - t0
        assert out == ["timeout", "correct", "timeout", "correct"]
        assert pool.stats["timeouts"] == 2 and pool.stats["restarts"] == 2
        # killed at its limit (generous bound for a loaded box, far below what sympy would take)
        assert elapsed < 4 * limit + 60
        # the pool keeps working after the kills
        assert pool.run([("x+x", "2x")]) == ["correct"]


def test_timeout_verdict_through_the_cascade():
    with MathEquivalence(workers=1, timeout_s=2.0, warm_up="minimal") as eq:
        v = eq.check([("1", "(10^{10})!"), ("3", "3")])
        assert [x.verdict for x in v] == ["timeout", "correct"]
        assert v[0].stage == "symbolic" and v[0].undecided


def test_pseudo_labels(fast_equiv):
    labels, best, share = fast_equiv.pseudo_labels([r"\frac{1}{2}", "0.5", "1/2", "3", None, "3.0"])
    assert labels[0] == labels[1] == labels[2] == best
    assert labels[3] == labels[5] != best
    assert labels[4] is None
    assert share == pytest.approx(3 / 6)
    assert fast_equiv.pseudo_labels([None, None]) == ([None, None], None, 0.0)


# ------------------------------------------------------------------------------------------
# The filter, the judge hook and the reward
# ------------------------------------------------------------------------------------------


def _batch(rows: list[dict]) -> pl.DataFrame:
    base = {"problem_id": "p", "problem": "q", "domain": "math", "completion": "", "answer": None, "reference_answer": None}
    return pl.DataFrame([{**base, **r} for r in rows], schema_overrides={"answer": pl.String, "reference_answer": pl.String})


def test_math_filter_scores_and_keeps():
    batch = _batch(
        [
            {"completion": "<think>hmm</think>So \\boxed{\\frac12}.", "reference_answer": "0.5"},
            {"completion": "<think>hmm</think>So \\boxed{3}.", "reference_answer": "0.5"},
            {"completion": "<think>hmm</think>no idea", "answer": "no idea", "reference_answer": "0.5"},
            {"completion": "<think>x</think>\\boxed{1}", "reference_answer": ""},
            {"completion": "def f(): pass", "domain": "code"},
        ]
    )
    with MathVerifier(workers=1, timeout_s=30.0) as f:
        kept, rejected, funnel = apply_chain([f], batch)
        scores = f.score(batch)
    assert scores.get_column("verdict_math").to_list() == ["correct", "wrong", "no_answer", "gold_unparseable", "skipped"]
    assert scores.get_column("score_math").to_list() == [1.0, 0.0, 0.0, 0.0, None]
    assert scores.get_column("score_math_stage").to_list()[:2] == ["numeric", "numeric"]
    assert scores.get_column("score_math_pred").to_list()[:2] == ["\\frac12", "3"]
    assert scores.get_column("score_math_rule").to_list()[0] == "boxed@after_thought"
    assert scores.schema["score_math"] == pl.Float64
    assert kept.height == 2 and set(kept.get_column("domain")) == {"math", "code"}
    assert sorted(rejected.get_column("reject_reason").to_list()) == ["math:gold_unparseable", "math:no_answer", "math:wrong"]
    assert funnel.rejected_by["math"] == {"wrong": 1, "no_answer": 1, "gold_unparseable": 1}


def test_math_filter_pseudo_labels():
    rows = [{"problem_id": "a", "completion": f"\\boxed{{{x}}}"} for x in ("1/2", "0.5", "3", "\\frac{1}{2}")]
    rows += [{"problem_id": "b", "completion": f"\\boxed{{{x}}}"} for x in ("1", "2", "3", "4")]
    batch = _batch(rows)
    with MathVerifier(workers=1, accept_pseudo=True, pseudo_min_share=0.5) as f:
        scores = f.score(batch)
        keep = f.keep(scores).to_list()
    verdicts = scores.get_column("verdict_math").to_list()
    assert verdicts[:4] == ["pseudo_correct", "pseudo_correct", "pseudo_wrong", "pseudo_correct"]
    assert verdicts[4:] == ["no_consensus"] * 4  # 1/4 share < 0.5
    assert scores.get_column("score_math_vote").to_list()[0] == pytest.approx(0.75)
    assert keep == [True, True, False, True] + [False] * 4
    with MathVerifier(workers=1, accept_pseudo=False) as f:
        assert not any(f.keep(f.score(batch)).to_list())


def test_pseudo_labels_on_real_best_of_8(package_data):
    """Without references, majority voting over the 8 samples of each of 100 MATH problems
    recovers the gold-based verdicts on nearly every sample (measured: 773/800)."""
    rows = []
    with gzip.open(package_data / "traces" / "qwen25math_math_cot_100_bo8.jsonl.gz", "rt") as fh:
        for r in map(json.loads, fh):
            for c in r["code"]:
                rows.append({"problem_id": r["idx"], "completion": c, "reference_answer": r["answer"]})
    with_gold = _batch(rows)
    without = with_gold.with_columns(pl.lit(None, dtype=pl.String).alias("reference_answer"))
    with MathVerifier(workers=1, accept_pseudo=True) as f:
        gold = f.score(with_gold).get_column("verdict_math").to_list()
        pseudo = f.score(without)
    verdicts = pseudo.get_column("verdict_math").to_list()
    assert set(verdicts) <= {"pseudo_correct", "pseudo_wrong", "no_consensus", "no_answer"}
    same = sum((g == "correct") == (p == "pseudo_correct") for g, p in zip(gold, verdicts))
    assert same >= 0.95 * len(rows), same
    shares = pseudo.get_column("score_math_vote").to_list()
    assert all(s is not None and 0 < s <= 1 for s in shares)


def test_math_filter_pickles_for_ray_workers():
    import pickle

    with MathVerifier(workers=1) as f:
        f.equiv.warm_up = "minimal"
        f.score(_batch([{"completion": "\\boxed{3}", "reference_answer": "\\log_2 8"}]))  # starts the pool
        assert f.equiv.pool.stats["pairs"] == 1
        clone = pickle.loads(pickle.dumps(f))
    with clone:
        out = clone.score(_batch([{"completion": "\\boxed{1/2}", "reference_answer": "0.5"}]))
    assert out.get_column("verdict_math").to_list() == ["correct"]
    assert clone.equiv._pool is None  # the clone starts its own workers only when it needs them


def test_judge_decides_what_rules_cannot(equiv):
    seen = []

    def judge(items):
        seen.extend(items)
        return [True if pred == "one half" else None for _, _, pred in items]

    with MathEquivalence(workers=1, timeout_s=30.0, judge=judge, warm_up="minimal") as eq:
        v = eq.check([("0.5", "one half"), ("0.5", "0.5"), ("0.5", "\\frac{1}{"), ("0.5", "0.7")], problems=["p1", "p2", "p3", "p4"])
    assert [(x.verdict, x.stage) for x in v] == [("correct", "judge"), ("correct", "string"), ("wrong", "string"), ("wrong", "numeric")]
    # only undecided pairs reach the judge, with their problem text
    assert [s[0] for s in seen] == ["p1", "p3"]
    with MathEquivalence(workers=1, timeout_s=30.0, judge=judge, warm_up="minimal") as eq:
        seen.clear()
        v = eq.check([("0.5", "one half")] * 3, problems=["p1"] * 3)
        v += eq.check([("0.5", "one half")], problems=["p1"])
        assert [x.verdict for x in v] == ["correct"] * 4
        assert len(seen) == 1  # asked once, then cached


def test_accuracy_reward_signature():
    completions = [
        "<think>let me see</think>The answer is \\boxed{\\frac{1}{2}}.",
        [{"role": "assistant", "content": "<think>hm</think>\\boxed{0.5}"}],
        [{"role": "assistant", "content": "\\boxed{2}"}],
        "no answer here at all, sorry",
        "\\boxed{1}",
    ]
    solution = ["We get $\\boxed{\\frac12}$.", "0.5", "0.5", "0.5", "\\frac{1}{"]
    assert accuracy_reward(completions, solution) == [1.0, 1.0, 0.0, 0.0, None]
    with pytest.raises(ValueError, match="one solution per completion"):
        accuracy_reward(["a"], [])
