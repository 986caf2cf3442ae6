"""The math equivalence cascade: string -> numeric -> symbolic (worker processes) -> LLM judge.

`MathEquivalence.check(pairs, hints=)` takes (gold, predicted answer) pairs (answers already
extracted) and returns one `Verdict(verdict, stage, pred, undecided, rules)` per pair:

| verdict            | meaning                                                               |
|--------------------|-----------------------------------------------------------------------|
| `correct`          | equivalent to the gold answer                                         |
| `wrong`            | not equivalent (or the prediction could not be read)                  |
| `no_answer`        | nothing was extracted from the model output                           |
| `gold_unparseable` | the gold answer is empty, unbalanced or unreadable: quarantined,      |
|                    | never a pass                                                          |
| `timeout`          | the symbolic comparison passed its wall-clock limit and was killed    |

`stage` says what decided: `extract`, `gold`, `string`, `numeric`, `symbolic`, `judge`.
`rules` names each rule that changed the pair before it was decided, so a verdict can be
audited (the filter writes them into `score_math_rule`):

| rule                        | what it does                                                       |
|-----------------------------|--------------------------------------------------------------------|
| `labels_dropped`            | `a = -2, b = -2` / `Rayna: 7, Qing: 14` against unlabelled values: the values are compared (as a set: golds with several values are often stored sorted) |
| `labels_matched`            | both sides label their values: compared label by label             |
| `common_value`              | gold `\\angle A = 90^\\circ, \\angle B = 90^\\circ` against one `90^\\circ` |
| `equation_value`            | one side is `name = value` (`v(r) = \\sqrt{r}`, `BC^2 = 19`), the other a value: the value is compared; a prediction `a = b = c` gives its last side |
| `equation_sides`            | both sides define the same name (`f(x) = ...`): right sides compared |
| `function_argument_renamed` | `f(z) = z` against `f(x) = x`: the argument is a dummy             |
| `parameter_renamed`         | `\\frac{\\pi}{6} + k\\pi` against `... + n\\pi, n \\in \\mathbb{Z}`: an integer parameter is a dummy |
| `inequality_interval`       | `k < -5` against `(-\\infty, -5)`                                    |
| `case_folded`               | single-letter symbols that differ only in case (`K` / `k`) where no letter is used in both cases |
| `units_converted`           | `520 nm` against `5200 Å` (or the row's gold `unit`): compared in SI |
| `unit_dropped`              | a unit on one side only: the numbers are compared (units may be left out) |
| `rounded`                   | the precision rule (see `normalize.rounding_tolerance`): `0.1476` for gold `0.15`, `85.71` for `600/7` |
| `option`                    | multiple choice: `C` / `(C)` / the option's text against gold `(C) text` |
| `identity_test`             | expressions in single-letter (or Greek) variables, with functions: both sides evaluated exactly at fixed non-integer rationals (`x^2-1` = `(x-1)(x+1)`, `2\\sin x\\cos x` = `\\sin 2x`) |
| `equation_identity`         | two equations: L1 - R1 a nonzero constant times L2 - R2 at the same points (`y = 3x - 2` = `3x - y = 2`) |
| `base_digits`               | `204_5` against `204`: the digits of a number written in base b      |
| `degrees_radians`           | `120^\\circ` against `\\frac{2\\pi}{3}`                                |
| `unevaluated`               | a function of a number (`\\sin 45^\\circ`) restates a question: wrong, undecided (a judge may read it) |
| `not_a_matrix`              | a numeric matrix against notation no rule reads (`2\\mathbf{I}`): wrong, undecided |
| `units_differ`              | both sides carry units of different kinds (`7 m` / `7 s`): wrong      |

Hints (`AnswerHint`) carry what the row knows about its gold: OlympiadBench's `unit` (the
gold's unit: `2.5` with unit `m/s`) and `answer_type` (`Interval` reads `(a, b)` as an interval),
and whether the answer's language writes decimal commas (`1,5` = 1.5).

Most pairs end at the string or numeric stage in the calling process (microseconds); only the
rest go to `SymbolicPool`, batched across all cores. Measured: of the 1,800 shipped MATH-500
trace pairs none reaches sympy (18 did before the identity test and function evaluation), of the
1,350 OlympiadBench dev rows 37 do (floors, binomials, sums, set-builder notation). Gold parses and
verdicts are cached, since the same gold repeats across the n samples of a problem.

`pseudo_labels(answers)` groups the n answers of a problem without a reference into
equivalence classes (same cascade) and returns the majority class with its vote share.

The optional `judge(items) -> list[bool | None]` gets (problem, gold, pred) triples for what the
rules could not decide (`Verdict.undecided`: a cut-off or unreadable prediction, words against
a number, a timeout; with `judge_on="wrong"` every `wrong` too); True/False overrides the rule
verdict (stage `judge`), None leaves it. Answers are cached per distinct triple. The factory
core passes a judge built on a teacher backend (filters never import teachers).

A `gold_unparseable` verdict is never sent to the judge and never passes.

Exercised by `python -m pytest -q tests/test_math_verify.py tests/test_math_equiv.py` and
`python bench/verify_math.py`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Literal

from factory.filters.math.extract import Extraction
from factory.filters.math.normalize import (
    Value,
    balanced,
    evaluate,
    evaluate_at,
    integer_parameters,
    is_text_answer,
    normalize,
    normalize_quantity,
    numbers_equal,
    prepare,
    split_top_level,
    strip_delimiters,
)
from factory.filters.math.structure import (
    equation_name,
    fold_case,
    inequality_to_interval,
    labelled_items,
    letters,
    rename_symbol,
    split_equation,
    split_items,
)
from factory.filters.math.units import Unit, convert, parse_unit

_ANGLE_DIMS = parse_unit("rad").dims  # type: ignore[union-attr]

VerdictName = Literal["correct", "wrong", "no_answer", "gold_unparseable", "timeout"]
Stage = Literal["extract", "gold", "string", "numeric", "symbolic", "judge"]
Judge = Callable[[list[tuple[str, str, str]]], list["bool | None"]]
JudgeOn = Literal["undecided", "wrong"]


@dataclass(frozen=True)
class AnswerHint:
    """What a row says about its gold answer. `unit`: the unit the gold is given in (OlympiadBench's
    `unit` field: `m/s`, `^{\\circ}`, `%`); `answer_type`: OlympiadBench's `Numerical`,
    `Expression`, `Equation`, `Interval` or `Tuple`; `decimal_comma`: the answer's language writes
    1,5 for 1.5 (see `filter.decimal_comma_language`)."""

    unit: str | None = None
    answer_type: str | None = None
    decimal_comma: bool = False


NO_HINT = AnswerHint()


@dataclass(frozen=True)
class Verdict:
    verdict: str
    stage: str
    pred: str | None
    # True when the rules could not read the prediction or timed out (what a judge looks at)
    undecided: bool = False
    # the equivalence rules that rewrote the pair before it was decided (see the module table)
    rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Side:
    raw: str
    latex: str  # prepared LaTeX (condition, unit, delimiters off): what sympy parses
    norm: str
    unit: str | None
    params: frozenset[str]  # letters a trailing condition declares integers


@dataclass(frozen=True)
class _Gold(_Side):
    ok: bool = True
    text: bool = False
    # several values: a top-level comma ("4, 7", "(1,2),(2,1)") or a union
    collection: bool = False
    items: int = 1
    option: tuple[str, str | None] | None = None  # multiple choice: (letter, option text)


_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@lru_cache(maxsize=65536)
def _read(raw: str, decimal_comma: bool) -> _Side:
    if len(raw) < 30 and _PLAIN_NUMBER.fullmatch(raw):
        return _Side(raw=raw, latex=raw, norm=raw, unit=None, params=frozenset())  # most answers
    prep = prepare(raw, decimal_comma)
    norm, unit = normalize_quantity(raw, decimal_comma=decimal_comma)
    return _Side(raw=raw, latex=prep.latex, norm=norm, unit=unit, params=integer_parameters(prep.condition))


_OPTION_PAREN = re.compile(r"(?:\\text(?:bf|rm)?\s*\{\s*)?\(\s*([A-E])\s*\)\s*\}?\s*(.*)", re.DOTALL)
_OPTION_DOT = re.compile(r"([A-E])\s*[.:)]\s+(\S.*)", re.DOTALL)
_OPTION_BARE = re.compile(r"(?:\\text(?:bf|rm)?\s*\{\s*)?\(?\s*([A-Ea-e])\s*\)?\s*\}?")


def option_parts(raw: str) -> tuple[str, str | None] | None:
    """A multiple-choice answer: "C", "(C)", "\\textbf{(C)}", "(D) Alina", "D. Alina" ->
    (letter, option text or None); None for anything else."""
    s = strip_delimiters(str(raw).strip()).strip("*").strip()
    m = _OPTION_BARE.fullmatch(s)
    if m:
        return m.group(1).upper(), None
    m = _OPTION_PAREN.fullmatch(s) or _OPTION_DOT.fullmatch(s)
    if m:
        text = m.group(2).strip().strip("*").strip().rstrip(".")
        return m.group(1), (text or None)
    return None


_COMMAND = re.compile(r"\\[a-zA-Z]+|_\{?\w+\}?")
_GREEK_NAMES = (
    "alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|iota|kappa|lambda|mu|nu|"
    "xi|rho|sigma|tau|upsilon|phi|varphi|chi|psi|omega|Gamma|Delta|Theta|Lambda|Xi|Sigma|Phi|Psi|Omega"
)
_GREEK = re.compile(r"\\(?:" + _GREEK_NAMES + r")(?![a-zA-Z])")
_FREE_LETTER = re.compile(r"[^\W\d_e]")  # "e" may be Euler's number: sympy decides those


def _has_variable(norm: str) -> bool:
    """A free variable: a Greek-letter command (\\theta) or a letter outside commands and
    subscripts (x, θ). Unknown commands (\\dbinom, \\lfloor) are not variables."""
    if _GREEK.search(norm):
        return True
    return bool(_FREE_LETTER.search(_COMMAND.sub("", norm)))


# an answer that ends in an operator was cut off mid-expression: "24 +", "\\frac{1}{2} -"
_CUT_OFF = re.compile(r"(?:[-+*/^=(,]|\\(?:frac|dfrac|tfrac|sqrt|cdot|times|div|pm|left|sin|cos|tan|cot|sec|csc|log|ln)?)$")
_RELATION = re.compile(r"[<>≠→]|\\(?:geq?|leq?|neq|to|rightarrow|implies)(?![a-zA-Z])")
_INTEGER_DUMMIES = frozenset("knmjl")


# a number written in base b: 204_5, 2516_{8}
_BASE = re.compile(r"(\w+)_\{?(\d+)\}?")

# The identity test for expressions in single-letter variables: both sides evaluated exactly
# (rational arithmetic, floats only for roots and irrational powers) at these points. Two
# different rational functions of low degree agree on all of them only by a coincidence of
# roots at these particular rationals; one point that differs proves them different.
_TEST_POINTS = (Fraction(13, 7), Fraction(29, 11), Fraction(-17, 13), Fraction(41, 5))
_VARIABLES = re.compile(r"[a-zA-Z]")


def _variables(norm: str) -> set[str]:
    """Letters outside command names: "\\frac{ab}{x}" -> {a, b, x}."""
    greek = set(_GREEK.findall(norm)) if "\\" in norm else set()
    if "\\" in norm:
        norm = _COMMAND_NAME.sub(" ", _FUNCTION_PREFIX.sub(" ", norm))
    return set(_VARIABLES.findall(norm)) | greek


_COMMAND_NAME = re.compile(r"\\[a-zA-Z]+")
# a function name glued to its variable ("\\sinx"): the name goes, the letters stay
_FUNCTION_PREFIX = re.compile(r"\\(?:arcsin|arccos|arctan|sinh|cosh|tanh|sin|cos|tan|cot|sec|csc|ln|exp)(?=[a-zA-Z]{1,3}(?![a-zA-Z]))")
# commands the evaluator reads (numbers, constants, Greek letters as variables, functions)
_EVALUATED = "frac|sqrt|pi|infty|sin|cos|tan|cot|sec|csc|arcsin|arccos|arctan|sinh|cosh|tanh|ln|exp|log"
_FUNCTION_NAMES = "sin|cos|tan|cot|sec|csc|arcsin|arccos|arctan|sinh|cosh|tanh|ln|exp|log"
# a command the evaluator cannot read; "\\sinx" is \\sin glued to x by normalisation
_OTHER_COMMAND = re.compile(
    r"\\(?!(?:" + _FUNCTION_NAMES + r")[a-zA-Z]{0,3}(?![a-zA-Z])|(?:frac|sqrt|pi|infty|" + _GREEK_NAMES + r")(?![a-zA-Z]))[a-zA-Z]+"
)
# a function applied to a number: "\\sin 60^\\circ" restates a question; it is no evaluated answer
_FUNCTION = re.compile(r"\\(?:" + _FUNCTION_NAMES + r")(?![a-z])")
# degrees inside a trigonometric function are an angle, not a unit: sympy reads radians
_TRIG = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)(?![a-zA-Z])")
_DEGREES = re.compile(r"(\d+(?:\.\d+)?)\s*(?:\^\s*\{?\s*\\circ\s*\}?|°)")


def _for_sympy(latex: str) -> str:
    """The form the symbolic stage parses: `\\tan 45^\\circ` -> `\\tan (45\\pi/180)`."""
    if "\\" in latex and _TRIG.search(latex):
        latex = _DEGREES.sub(r"(\1\\pi/180)", latex)
    return latex


# commands that can make a variable vanish (sin^2 x + cos^2 x = 1, \\sum_{k=1}^{4} k = 10)
_NOT_PLAIN = re.compile(r"\\(?:" + _FUNCTION_NAMES + r"|sum|prod|int|oint|lim|binom|dbinom|tbinom|det|max|min|gcd|lcm|operatorname)")


def _plain(norm: str) -> bool:
    """No function, sum, limit or binomial: an expression whose letters cannot vanish, so one with a
    letter is never a number (\\sin^2 x + \\cos^2 x is 1; the identity test reads those)."""
    return "\\" not in norm or not _NOT_PLAIN.search(norm)


def identity_test(gn: str, pn: str) -> bool | None:
    """True/False when both normalised answers are expressions the evaluator reads with their
    letters as variables (x, n, a, b; not e, i or a command), None otherwise."""
    if "\\" in gn + pn and _OTHER_COMMAND.search(gn + pn):
        return None  # \\binom, \\lfloor, \\sum, ...: sympy decides
    names = sorted(_variables(gn) | _variables(pn))
    if not names or any(n in ("e", "i") for n in names) or len(names) > 4:
        return None
    if re.search(r"[A-Za-z]{4,}", re.sub(r"\\[a-zA-Z]+", " ", gn + " " + pn)):
        return None  # words; "ab", "xyz" are products
    for k, _ in enumerate(_TEST_POINTS):
        env = {n: _TEST_POINTS[(k + j) % len(_TEST_POINTS)] + j for j, n in enumerate(names)}
        gv, pv = evaluate_at(gn, env), evaluate_at(pn, env)
        if gv is None or pv is None:
            return None
        eq = numbers_equal(gv, pv)
        if eq is None:
            return None
        if not eq:
            return False
    return True


def equation_identity(ge: tuple[str, ...], pe: tuple[str, ...]) -> bool | None:
    """Two equations `L1 = R1`, `L2 = R2` in single-letter variables state the same relation when
    L1 - R1 is a nonzero constant times L2 - R2 (`y = 2x + 3` and `2x - y + 3 = 0`, `y = x` and
    `x = y`); checked at the identity test's points. None when either side cannot be evaluated."""
    if len(ge) != 2 or len(pe) != 2:
        return None
    dg = f"({normalize(ge[0])})-({normalize(ge[1])})"
    dp = f"({normalize(pe[0])})-({normalize(pe[1])})"
    if "\\" in dg + dp and _OTHER_COMMAND.search(dg + dp):
        return None
    names = sorted(_variables(dg) | _variables(dp))
    if not names or any(n in ("e", "i") for n in names) or len(names) > 4:
        return None
    ratio = None
    for k, _ in enumerate(_TEST_POINTS):
        env = {n: _TEST_POINTS[(k + j) % len(_TEST_POINTS)] + j for j, n in enumerate(names)}
        a, b = evaluate_at(dg, env), evaluate_at(dp, env)
        if a is None or b is None or a.kind != "scalar" or b.kind != "scalar":
            return None
        x, y = a.items[0], b.items[0]
        if y == 0 or x == 0:
            if x == 0 and y == 0:
                continue
            return False
        r = x / y
        if ratio is None:
            ratio = r
        elif not _exactly_close(ratio, r):
            return False
    return ratio is not None


def _text_key(s: str) -> str:
    return re.sub(r"[\s().,'*]", "", s).lower()


def _label_key(label: str) -> str:
    return re.sub(r"[\s{}]|\\text|\\mathrm|\\angle", "", label)


def _looks_interval(s: str, hint: AnswerHint) -> bool:
    if hint.answer_type and hint.answer_type.lower() == "interval":
        return True
    s = _MEMBER_OF.sub("", s)
    return "\\infty" in s or "\\cup" in s or bool(re.fullmatch(r"\s*(?:\\left)?[\[(].*,.*(?:\\right)?[\])]\s*", s))


_MEMBER_OF = re.compile(r"^\s*[a-zA-Z]\s*\\in\s*")


def _gold_list(raw: str) -> str:
    """Several gold answers given as a JSON list of strings (`["(1,2)", "(2,1)"]`): one collection,
    every item required (OlympiadBench's multiple answers)."""
    s = raw.strip()
    if s.startswith('["') and s.endswith('"]'):
        try:
            items = json.loads(s)
        except ValueError:
            return raw
        if isinstance(items, list) and items and all(isinstance(x, str) for x in items):
            return ", ".join(strip_delimiters(x.strip()) for x in items)
    return raw


def _rewrite(gl: str, pl: str, g: _Gold, p: _Side, hint: AnswerHint) -> tuple[str, str, list[str]]:
    """Structural rules on the prepared LaTeX of gold and prediction (see the module table)."""
    rules: list[str] = []
    g_multi = len(split_items(gl)) > 1 if ("," in gl or ";" in gl) else False
    p_multi = len(split_items(pl)) > 1 if ("," in pl or ";" in pl) else False
    if g_multi or p_multi:
        gi = labelled_items(gl)
        pi = labelled_items(pl)
        if gi is not None or pi is not None:
            g_items = gi or tuple((None, x) for x in split_items(gl))
            p_items = pi or tuple((None, x) for x in split_items(pl))
            gkeys = [_label_key(lab) if lab else None for lab, _ in g_items]
            pkeys = [_label_key(lab) if lab else None for lab, _ in p_items]
            if None not in gkeys and None not in pkeys and len(set(gkeys)) == len(gkeys) and sorted(gkeys) == sorted(pkeys):
                by_label = dict(zip(pkeys, (v for _, v in p_items)))
                gl = "(" + ", ".join(v for _, v in g_items) + ")"
                pl = "(" + ", ".join(by_label[k] for k in gkeys) + ")"
                rules.append("labels_matched")
            else:
                g_vals = [v for _, v in g_items]
                p_vals = [v for _, v in p_items]
                if gi is not None and not p_multi and len(g_vals) > 1 and len({normalize(v) for v in g_vals}) == 1:
                    gl = g_vals[0]
                    rules.append("common_value")
                else:
                    gl, pl = ", ".join(g_vals), ", ".join(p_vals)
                    rules.append("labels_dropped")
    else:
        ge = split_equation(gl) if "=" in gl else None
        pe = split_equation(pl) if "=" in pl else None
        if pe and not ge:
            if len(pe) == 2 and equation_name(pe[1]) and not equation_name(pe[0]):
                pl = pe[0]  # "2 = x"
            else:
                pl = pe[-1]
            rules.append("equation_value")
        elif ge and not pe:
            if len(ge) == 2 and equation_name(ge[0]):
                gl = ge[1]
                rules.append("equation_value")
        elif ge and pe and len(ge) == 2 and len(pe) == 2:
            ng, np_ = equation_name(ge[0]), equation_name(pe[0])
            if ng and np_ and ng[0] == np_[0]:
                gl, pl = ge[1], pe[1]
                rules.append("equation_sides")
                ag, ap = ng[1], np_[1]
                if ag and ap and ag != ap and len(ag) == 1 and len(ap) == 1 and ag.isalpha() and ap.isalpha():
                    if ag not in letters(pl):
                        pl = rename_symbol(pl, ap, ag)
                        rules.append("function_argument_renamed")
    if _looks_interval(gl, hint) and not _looks_interval(pl, NO_HINT):
        iv = inequality_to_interval(pl)
        if iv is not None:
            pl = iv
            rules.append("inequality_interval")
    elif _looks_interval(pl, NO_HINT) and not _looks_interval(gl, NO_HINT):
        iv = inequality_to_interval(gl)
        if iv is not None:
            gl = iv
            rules.append("inequality_interval")
    # an integer parameter is a dummy: "+ k\pi" and "+ n\pi, n \in \mathbb{Z}" say the same
    lg, lp = letters(gl), letters(pl)
    only_g, only_p = lg - lp, lp - lg
    if len(only_g) == 1 and len(only_p) == 1:
        a, b = next(iter(only_g)), next(iter(only_p))
        if b in p.params or (a in _INTEGER_DUMMIES and b in _INTEGER_DUMMIES and (a in g.params or not g.params)):
            pl = rename_symbol(pl, b, a)
            rules.append("parameter_renamed")
    return gl, pl, rules


PRESTART_PAIRS = 32


class _LRU(OrderedDict):
    def __init__(self, maxsize: int = 100_000):
        super().__init__()
        self.maxsize = maxsize

    def put(self, key: object, value: object) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.maxsize:
            self.popitem(last=False)


class MathEquivalence:
    """The cascade with its caches and (lazily started) symbolic worker pool."""

    def __init__(
        self,
        *,
        workers: int | None = None,
        timeout_s: float = 5.0,
        judge: Judge | None = None,
        judge_on: JudgeOn = "undecided",
        cache_size: int = 200_000,
        prestart: bool = True,
        warm_up: Literal["idle", "full", "minimal"] = "idle",
    ):
        if judge_on not in ("undecided", "wrong"):
            raise ValueError(f"judge_on: expected 'undecided' or 'wrong', found {judge_on!r}")
        self.workers = workers
        self.timeout_s = timeout_s
        self.judge = judge
        self.judge_on = judge_on
        self._gold_cache: _LRU = _LRU(cache_size // 10 or 1)
        self._verdict_cache: _LRU = _LRU(cache_size)
        self._judge_cache: _LRU = _LRU(cache_size)
        self._pool = None
        # start the symbolic workers as soon as a batch has a pair that needs them, so their
        # import (~1 s) overlaps the string/numeric stages of the rest of the batch; False keeps
        # them off until the fast stages are done
        self.prestart = prestart
        self.warm_up = warm_up
        self.stats: dict[str, int] = {}

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def pool(self):
        if self._pool is None:
            from factory.filters.math.symbolic import SymbolicPool

            self._pool = SymbolicPool(workers=self.workers, timeout_s=self.timeout_s, warm_up=self.warm_up)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __getstate__(self) -> dict:
        # pickled for Ray workers / multiprocessing: worker processes and caches stay behind
        state = dict(self.__dict__)
        state["_pool"] = None
        state["_gold_cache"] = _LRU(self._gold_cache.maxsize)
        state["_verdict_cache"] = _LRU(self._verdict_cache.maxsize)
        state["_judge_cache"] = _LRU(self._judge_cache.maxsize)
        return state

    def __enter__(self) -> MathEquivalence:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    def expect(self, n_pairs: int) -> None:
        """A batch of n pairs is coming: with `prestart` and 32+ pairs (a batch that size almost
        always has a pair for sympy), start one symbolic worker now so its import (~1 s)
        overlaps the extraction and the string/numeric stages. Callers that extract answers
        first (the filter, the reward) call this before extracting; `check` calls it too."""
        if self.prestart and n_pairs >= PRESTART_PAIRS and (self._pool is None or not self._pool._workers):
            self.pool.start(1)

    # -- gold ------------------------------------------------------------------------------

    def gold(self, raw: str | None, hint: AnswerHint = NO_HINT) -> _Gold:
        key = (raw if raw is not None else "\x00none", hint.decimal_comma)
        hit = self._gold_cache.get(key)
        if hit is not None:
            self._count("gold_cache_hits")
            return hit
        text = "" if raw is None else _gold_list(str(raw))
        side = _read(text, hint.decimal_comma)
        norm = side.norm
        ok = bool(norm) and balanced(norm) and len(norm) < 2000
        items = len(split_items(side.latex)) if ok else 0
        if ok and ("\\pm" in side.latex or "\\mp" in side.latex):
            items *= 2  # "3 \\pm 2\\sqrt{2}" holds two values
        collection = ok and ("\\cup" in norm or items > 1 or (norm[:1] in "([{" and norm[-1:] in ")]}" and len(split_top_level(norm[1:-1])) > 1))
        g = _Gold(
            raw=side.raw,
            latex=side.latex,
            norm=side.norm,
            unit=side.unit,
            params=side.params,
            ok=ok,
            text=ok and is_text_answer(norm),
            collection=collection,
            items=items,
            option=option_parts(text) if ok else None,
        )
        self._gold_cache.put(key, g)
        return g

    # -- choosing what to compare ----------------------------------------------------------

    def choose(self, extraction: Extraction, gold_raw: str | None, hint: AnswerHint = NO_HINT) -> tuple[str | None, str]:
        """The prediction to compare and the extraction rule that found it. The extractor reads
        one final answer; the gold decides two cases: a multiple-choice gold takes an option
        letter stated in prose ("the correct answer is (C)", rule `mcq_letter`), and a gold with
        several values takes the solution's final boxes joined when the last box alone holds
        fewer values (`\\boxed{(1,2)}, \\boxed{(2,1)}`, rule `boxes_joined`)."""
        pred, rule = extraction.answer, extraction.rule
        if gold_raw is None:
            return pred, rule
        g = self.gold(gold_raw, hint)
        if not g.ok:
            return pred, rule
        if g.option is not None and extraction.letter is not None:
            # the extracted answer is neither an option letter nor the option's text: the letter
            # the prose states is the answer
            reads_as_option = pred is not None and (option_parts(pred) is not None or self._option_verdict(g, pred)[0] == "correct")
            if not reads_as_option:
                return extraction.letter, "mcq_letter"
        if g.items > 1 and pred is not None and len(boxes := extraction.final_boxes) > 1:
            distinct = list(dict.fromkeys(b.strip() for b in boxes if b.strip()))
            last_items = len(split_items(_read(pred, hint.decimal_comma).latex))
            if len(distinct) > 1 and last_items < g.items:
                return ", ".join(distinct), "boxes_joined"
        return pred, rule

    # -- the cascade -----------------------------------------------------------------------

    def _option_verdict(self, g: _Gold, pred: str) -> tuple[str, str, bool, tuple[str, ...]]:
        letter, text = g.option  # type: ignore[misc]
        got = option_parts(pred)
        if got is not None:
            same = got[0] == letter
            return ("correct" if same else "wrong"), "string", False, ("option",)
        if text is not None:
            p = _read(pred, False)
            t = _read(text, False)
            same = p.norm == t.norm or _text_key(p.norm) == _text_key(t.norm)
            return ("correct" if same else "wrong"), "string", False, ("option",)
        return "wrong", "string", False, ("option",)

    def _units(self, g: _Gold, p: _Side, hint: AnswerHint) -> tuple[Unit | None, Unit | None, bool]:
        """(gold unit, prediction unit, whether both are known and differ)."""
        gu_text = hint.unit or g.unit
        gu = parse_unit(gu_text) if gu_text else None
        pu = parse_unit(p.unit) if p.unit else None
        differ = gu is not None and pu is not None and gu != pu
        return gu, pu, differ

    def _numeric(self, gn: str, pn: str, g: _Gold, p: _Side, hint: AnswerHint, rules: list[str]) -> tuple[str, str, bool, tuple[str, ...]] | None:
        gv = evaluate(gn)
        if gv is None:
            pv = evaluate(pn)
            if pv is not None and g.collection and not rules and pv.kind == "scalar":
                return "wrong", "numeric", False, tuple(rules)  # an interval, set or pair against a single number
            m = _BASE.fullmatch(gn)
            if m and (pn == m.group(1) or _BASE.fullmatch(pn) and pn.split("_")[0] == m.group(1)):
                return "correct", "string", False, (*rules, "base_digits")  # 204_5 written 204
            if m and pv is not None and pv.kind == "scalar":
                return "wrong", "numeric", False, (*rules, "base_digits")
            if pv is not None and pv.kind == "scalar" and _has_variable(gn) and _plain(gn):
                # the gold has a free variable, the prediction is a number: never equal
                return "wrong", "numeric", False, tuple(rules)
            same = identity_test(gn, pn)
            if same is not None:
                return ("correct" if same else "wrong"), "numeric", False, (*rules, "identity_test")
            return None
        if hint.unit and hint.unit.strip().strip("$").replace("\\", "") in ("%", "percent") and gv.kind == "scalar":
            gv = dataclasses.replace(gv, percent=True)
        pv = evaluate(pn)
        if pv is None and gv.kind.startswith("matrix") and "\\begin" not in pn:
            # a matrix of numbers against no matrix at all ("-\\mathbf{I}", "A^{-1}"): the rules and
            # sympy read no matrix there; wrong, and a judge may read the notation
            return "wrong", "numeric", True, (*rules, "not_a_matrix")
        if pv is not None and "\\" in pn and _FUNCTION.search(pn) and not _FUNCTION.search(gn):
            # "(\\sin 20^\\circ)^2 (\\sin 40^\\circ)^2" against 9/256: equal in value, but an expression
            # of the question's own functions is no answer; a judge may read it
            return "wrong", "numeric", True, (*rules, "unevaluated")
        if pv is not None:
            if gv.kind == "scalar" and pv.kind == "scalar":
                gu, pu, differ = self._units(g, p, hint)
                if differ:
                    if gu.dims != pu.dims:  # type: ignore[union-attr]
                        return "wrong", "numeric", False, (*rules, "units_differ")
                    try:
                        conv = convert(float(pv.items[0].real if isinstance(pv.items[0], complex) else pv.items[0]), pu, gu)  # type: ignore[arg-type]
                    except (TypeError, OverflowError, ZeroDivisionError):
                        return None
                    prec = pv.precision[0] if pv.precision else None
                    ratio = abs(pu.scale / gu.scale) if gu.scale else 1.0  # type: ignore[union-attr]
                    pv = Value("scalar", (conv,), percent=pv.percent, precision=((prec[0], prec[1] * ratio),) if prec else (None,))
                    rules = [*rules, "units_converted"]
                elif (p.unit or g.unit or hint.unit) and not (p.unit and (g.unit or hint.unit)):
                    rules = [*rules, "unit_dropped"]
                    # an angle in degrees on one side, radians (with \\pi) on the other
                    angle = gu if gu is not None else pu
                    other = pn if gu is not None else gn
                    if angle is not None and angle.dims == _ANGLE_DIMS and "\\pi" in other and not numbers_equal(gv, pv):
                        if gu is not None:
                            gv = Value("scalar", (float(gv.items[0]) * gu.scale,))  # type: ignore[arg-type]
                        else:
                            pv = Value("scalar", (float(pv.items[0]) * pu.scale,))  # type: ignore[arg-type, union-attr]
                        rules = [*rules[:-1], "degrees_radians"]
            eq = numbers_equal(gv, pv)
            if eq is not None:
                if eq and gv.kind == "scalar" and pv.kind == "scalar" and gv.items[0] != pv.items[0]:
                    if any(x is not None for x in (*gv.precision, *pv.precision)) and not _exactly_close(gv.items[0], pv.items[0]):
                        rules = [*rules, "rounded"]
                return ("correct" if eq else "wrong"), "numeric", False, tuple(rules)
        elif gv.kind == "scalar" and (_RELATION.search(pn) or len(split_top_level(pn)) > 1):
            # a number against an inequality ("20 > 0") or several answers ("\\pm1, \\pm7")
            return "wrong", "numeric", False, tuple(rules)
        elif (same := identity_test(gn, pn)) is not None:
            return ("correct" if same else "wrong"), "numeric", False, (*rules, "identity_test")
        elif _has_variable(pn) and not _has_variable(gn) and _plain(pn):
            # the gold is a number, the prediction has a free variable (x, 2^x, a+b): never
            # equal; words ("one half") are flagged undecided so a judge may read them
            return "wrong", "numeric", bool(re.search(r"[A-Za-z]{3,}", _COMMAND.sub("", pn))), tuple(rules)
        return None

    def _decide(self, g: _Gold, p: _Side, hint: AnswerHint) -> tuple[tuple[str, str, bool, tuple[str, ...]] | None, tuple[str, str], tuple[str, ...]]:
        """String and numeric stages: (decision or None, LaTeX pair for sympy, rules so far)."""
        if p.norm == g.norm and not self._units(g, p, hint)[2]:
            dropped = ("unit_dropped",) if bool(p.unit) != bool(g.unit or hint.unit) else ()
            return ("correct", "string", False, dropped), ("", ""), ()
        if g.option is not None:
            return self._option_verdict(g, p.raw), ("", ""), ()
        if g.text:
            # word answers (Monday, east) compare as words; sympy would read them as products
            same = _text_key(p.norm) == _text_key(g.norm)
            return ("correct" if same else "wrong", "string", False, ()), ("", ""), ()
        gl, pl, rules = _rewrite(g.latex, p.latex, g, p, hint)
        if not rules and "=" in gl and "=" in pl:
            ge, pe = split_equation(gl), split_equation(pl)
            if ge and pe:
                same = equation_identity(ge, pe)
                if same is not None:
                    return ("correct" if same else "wrong", "numeric", False, ("equation_identity",)), (gl, pl), ()
                # two equations sympy must compare whole: not their normalised right sides
                return None, (gl, pl), ()
        dc = hint.decimal_comma
        gn = normalize(gl, decimal_comma=dc) if rules else g.norm
        pn = normalize(pl, decimal_comma=dc) if rules else p.norm
        if rules and gn == pn:
            return ("correct", "string", False, tuple(rules)), (gl, pl), tuple(rules)
        fg, fp = fold_case(gn), fold_case(pn)
        if fg is not None and fg == fp and (fg != gn or fp != pn):
            return ("correct", "string", False, (*rules, "case_folded")), (gl, pl), tuple(rules)
        got = self._numeric(gn, pn, g, p, hint, rules)
        return got, (gl, pl), tuple(rules)

    def check(
        self,
        pairs: Sequence[tuple[str | None, str | None]],
        *,
        problems: Sequence[str] | None = None,
        hints: Sequence[AnswerHint | None] | None = None,
    ) -> list[Verdict]:
        """Verdict per (gold, predicted answer) pair; `problems` (same length) feeds the judge;
        `hints` (same length, None for none) carries each row's unit / answer type / locale."""
        self.expect(len(pairs))
        out: list[Verdict | None] = [None] * len(pairs)
        slow: dict[tuple, list[int]] = {}
        slow_forms: dict[tuple, tuple[str, str]] = {}
        slow_rules: dict[tuple, tuple[str, ...]] = {}
        for k, (gold_raw, pred) in enumerate(pairs):
            if pred is None or not str(pred).strip():
                out[k] = Verdict("no_answer", "extract", None)
                continue
            pred = str(pred).strip()
            hint = (hints[k] if hints is not None else None) or NO_HINT
            g = self.gold(gold_raw, hint)
            if not g.ok:
                out[k] = Verdict("gold_unparseable", "gold", pred)
                continue
            p = _read(pred, hint.decimal_comma)
            key = (g.raw, p.raw, hint)
            hit = self._verdict_cache.get(key)
            if hit is not None:
                self._count("verdict_cache_hits")
                out[k] = Verdict(hit[0], hit[1], pred, hit[2], hit[3])
                continue
            if not balanced(p.norm) or _CUT_OFF.search(p.norm):
                # a cut-off answer ("\\frac{37113", "(1 -"): unreadable, so wrong; a judge may look
                self._count("stage_string")
                self._verdict_cache.put(key, ("wrong", "string", True, ()))
                out[k] = Verdict("wrong", "string", pred, True)
                continue
            fast, forms, rules = self._decide(g, p, hint)
            if fast is not None:
                self._count(f"stage_{fast[1]}")
                self._verdict_cache.put(key, fast)
                out[k] = Verdict(fast[0], fast[1], pred, fast[2], fast[3])
                continue
            slow.setdefault(key, []).append(k)
            slow_forms[key] = (_for_sympy(forms[0]), _for_sympy(forms[1]))
            slow_rules[key] = rules
        if slow:
            keys = list(slow)
            results = self.pool.run([slow_forms[key] for key in keys])
            self._count("stage_symbolic", len(keys))
            for key, res in zip(keys, results):
                rules = slow_rules[key]
                if res == "correct":
                    v = ("correct", "symbolic", False, rules)
                elif res == "wrong":
                    v = ("wrong", "symbolic", False, rules)
                elif res == "gold_unparseable":
                    v = ("gold_unparseable", "symbolic", False, rules)
                elif res == "timeout":
                    v = ("timeout", "symbolic", True, rules)
                else:  # pred_unparseable / error: the rules cannot read the prediction
                    v = ("wrong", "symbolic", True, rules)
                if res != "timeout":  # a timeout may pass on a less loaded machine: not cached
                    self._verdict_cache.put(key, v)
                for k in slow[key]:
                    out[k] = Verdict(v[0], v[1], str(pairs[k][1]).strip(), v[2], v[3])
        verdicts = [v for v in out if v is not None]
        assert len(verdicts) == len(pairs)
        if self.judge is not None:
            verdicts = self._apply_judge(pairs, verdicts, problems)
        return verdicts

    def _apply_judge(self, pairs: Sequence[tuple[str | None, str | None]], verdicts: list[Verdict], problems: Sequence[str] | None) -> list[Verdict]:
        want = [
            k
            for k, v in enumerate(verdicts)
            if v.pred is not None
            and v.verdict != "gold_unparseable"
            and (v.undecided or (self.judge_on == "wrong" and v.verdict == "wrong"))
        ]
        if not want:
            return verdicts
        items = [((problems[k] if problems is not None else "") or "", str(pairs[k][0]), str(verdicts[k].pred)) for k in want]
        # an LLM call is the dearest stage: ask once per distinct (problem, gold, prediction)
        todo = list(dict.fromkeys(it for it in items if it not in self._judge_cache))
        if todo:
            got = self.judge(todo)
            if len(got) != len(todo):
                raise ValueError(f"judge returned {len(got)} answers for {len(todo)} items; expected one bool or None per item")
            for it, ans in zip(todo, got):
                self._judge_cache.put(it, ans)
            self._count("stage_judge", len(todo))
        answers = [self._judge_cache.get(it) for it in items]
        verdicts = list(verdicts)
        for k, ans in zip(want, answers):
            if ans is None:
                continue  # the judge abstained: the rule verdict stands
            verdicts[k] = Verdict("correct" if ans else "wrong", "judge", verdicts[k].pred)
        return verdicts

    def equivalent(self, a: str, b: str) -> bool:
        """Convenience: one pair, True only for `correct`."""
        return self.check([(a, b)])[0].verdict == "correct"

    # -- pseudo labels ---------------------------------------------------------------------

    def pseudo_labels(self, answers: Sequence[str | None]) -> tuple[list[int | None], int | None, float]:
        """Equivalence classes of the answers of one problem.

        Returns (class id per answer (None for no answer), the majority class id, its vote
        share over all answers including the unanswered). Ties go to the class seen first.
        """
        labels: list[int | None] = [None] * len(answers)
        reps: list[str] = []  # one representative answer per class
        by_norm: dict[str, int] = {}
        for k, a in enumerate(answers):
            if a is None or not str(a).strip():
                continue
            a = str(a).strip()
            norm = normalize(a)
            if norm in by_norm:
                labels[k] = by_norm[norm]
                continue
            cls = None
            if reps and norm:
                verdicts = self.check([(rep, a) for rep in reps])
                for c, v in enumerate(verdicts):
                    if v.verdict == "correct":
                        cls = c
                        break
            if cls is None:
                reps.append(a)
                cls = len(reps) - 1
            by_norm[norm] = cls
            labels[k] = cls
        counts: dict[int, int] = {}
        for lab in labels:
            if lab is not None:
                counts[lab] = counts.get(lab, 0) + 1
        if not counts:
            return labels, None, 0.0
        best = max(counts, key=lambda c: (counts[c], -c))
        return labels, best, counts[best] / len(answers)


def _exactly_close(a: object, b: object) -> bool:
    try:
        fa, fb = complex(a), complex(b)  # type: ignore[arg-type]
    except (TypeError, OverflowError):
        return False
    return abs(fa - fb) <= 1e-9 * max(1.0, abs(fa), abs(fb))
