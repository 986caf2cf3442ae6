"""The math equivalence cascade: string -> numeric -> symbolic (worker processes) -> LLM judge.

`MathEquivalence.check(pairs)` takes (gold, predicted answer) pairs (answers already
extracted) and returns one `Verdict(verdict, stage, pred)` per pair:

| verdict            | meaning                                                               |
|--------------------|-----------------------------------------------------------------------|
| `correct`          | equivalent to the gold answer                                         |
| `wrong`            | not equivalent (or the prediction could not be read)                  |
| `no_answer`        | nothing was extracted from the model output                           |
| `gold_unparseable` | the gold answer is empty, unbalanced or unreadable: quarantined,      |
|                    | never a pass                                                          |
| `timeout`          | the symbolic comparison passed its wall-clock limit and was killed    |

`stage` says what decided: `extract`, `gold`, `string`, `numeric`, `symbolic`, `judge`.
Most pairs end at the string or numeric stage in the calling process (microseconds); only the
rest go to `SymbolicPool`, batched across all cores. Gold parses and verdicts are cached, since
the same gold repeats across the n samples of a problem.

`pseudo_labels(answers)` groups the n answers of a problem without a reference into
equivalence classes (same cascade) and returns the majority class with its vote share.

The optional `judge(items) -> list[bool | None]` gets (problem, gold, pred) triples for what the
rules could not decide (`Verdict.undecided`: a cut-off or unreadable prediction, words against
a number, a timeout; with `judge_on="wrong"` every `wrong` too); True/False overrides the rule
verdict (stage `judge`), None leaves it. Answers are cached per distinct triple. The factory
core passes a judge built on a teacher backend (filters never import teachers).

A `gold_unparseable` verdict is never sent to the judge and never passes. Measured on the
1,800 shipped trace samples: 1,428 pairs end at the string stage, 297 at the numeric stage,
18 reach sympy (57 have no answer).

Exercised by `python -m pytest -q tests/test_math_verify.py` and `python bench/verify_math.py`.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from factory.filters.math.normalize import (
    Value,
    balanced,
    evaluate,
    is_text_answer,
    normalize,
    numbers_equal,
    option_letter,
    plain_to_latex,
    split_top_level,
    strip_delimiters,
)

VerdictName = Literal["correct", "wrong", "no_answer", "gold_unparseable", "timeout"]
Stage = Literal["extract", "gold", "string", "numeric", "symbolic", "judge"]
Judge = Callable[[list[tuple[str, str, str]]], list["bool | None"]]
JudgeOn = Literal["undecided", "wrong"]


@dataclass(frozen=True)
class Verdict:
    verdict: str
    stage: str
    pred: str | None
    # True when the rules could not read the prediction or timed out (what a judge looks at)
    undecided: bool = False


@dataclass(frozen=True)
class _Gold:
    raw: str
    norm: str
    value: Value | None
    text: bool
    ok: bool
    # several values: a top-level comma inside brackets ("(3,4]", "\\{1,2\\}") or a union
    collection: bool = False


_COMMAND = re.compile(r"\\[a-zA-Z]+|_\{?\w+\}?")
_GREEK = re.compile(
    r"\\(?:alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|iota|kappa|lambda|mu|nu|"
    r"xi|rho|sigma|tau|upsilon|phi|varphi|chi|psi|omega|Gamma|Delta|Theta|Lambda|Xi|Sigma|Phi|Psi|Omega)(?![a-zA-Z])"
)
_FREE_LETTER = re.compile(r"[^\W\d_e]")  # "e" may be Euler's number: sympy decides those


def _has_variable(norm: str) -> bool:
    """A free variable: a Greek-letter command (\\theta) or a letter outside commands and
    subscripts (x, θ). Unknown commands (\\dbinom, \\lfloor) are not variables."""
    if _GREEK.search(norm):
        return True
    return bool(_FREE_LETTER.search(_COMMAND.sub("", norm)))


# an answer that ends in an operator was cut off mid-expression: "24 +", "\\frac{1}{2} -"
_CUT_OFF = re.compile(r"(?:[-+*/^=(,]|\\(?:frac|dfrac|tfrac|sqrt|cdot|times|div|pm|left)?)$")
_RELATION = re.compile(r"[<>≠→]|\\(?:geq?|leq?|neq|to|rightarrow|implies)(?![a-zA-Z])")


def _text_key(s: str) -> str:
    return re.sub(r"[\s().,']", "", s).lower()


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
        warm_up: Literal["full", "minimal"] = "full",
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
        # start the symbolic workers when a batch (32+ pairs) arrives, so their import (~1 s)
        # overlaps the string/numeric stages; False keeps them off until a pair needs them
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

    # -- gold ------------------------------------------------------------------------------

    def gold(self, raw: str | None) -> _Gold:
        key = raw if raw is not None else "\x00none"
        hit = self._gold_cache.get(key)
        if hit is not None:
            self._count("gold_cache_hits")
            return hit
        text = "" if raw is None else str(raw)
        norm = normalize(text)
        ok = bool(norm) and balanced(norm) and len(norm) < 2000
        collection = ok and ("\\cup" in norm or (norm[:1] in "([{" and norm[-1:] in ")]}" and len(split_top_level(norm[1:-1])) > 1))
        g = _Gold(raw=text, norm=norm, value=evaluate(norm) if ok else None, text=ok and is_text_answer(norm), ok=ok, collection=collection)
        self._gold_cache.put(key, g)
        return g

    # -- the cascade -----------------------------------------------------------------------

    def _fast(self, g: _Gold, pred: str, pnorm: str) -> tuple[str, str, bool] | None:
        """String and numeric stages; None when the symbolic stage must decide."""
        if pnorm == g.norm:
            return "correct", "string", False
        g_opt = option_letter(g.norm)
        if g_opt is not None:
            p_opt = option_letter(pnorm)
            if p_opt is not None:
                return ("correct" if p_opt == g_opt else "wrong"), "string", False
        if g.text:
            # word answers (Monday, east, (C)) compare as words; sympy would read them as products
            same = _text_key(pnorm) == _text_key(g.norm)
            return ("correct" if same else "wrong"), "string", False
        if g.value is None and g.collection:
            pv = evaluate(pnorm)
            if pv is not None and pv.kind == "scalar":
                return "wrong", "numeric", False  # an interval, set or pair against a single number
        if g.value is not None:
            pv = evaluate(pnorm)
            if pv is not None:
                eq = numbers_equal(g.value, pv)
                if eq is not None:
                    return ("correct" if eq else "wrong"), "numeric", False
            elif g.value.kind == "scalar" and (_RELATION.search(pnorm) or len(split_top_level(pnorm)) > 1):
                # a number against an inequality ("20 > 0") or several answers ("\\pm1, \\pm7")
                return "wrong", "numeric", False
            elif _has_variable(pnorm) and not _has_variable(g.norm):
                # the gold is a number, the prediction has a free variable (x, 2^x, a+b): never
                # equal; words ("one half") are flagged undecided so a judge may read them
                return "wrong", "numeric", bool(re.search(r"[A-Za-z]{3,}", _COMMAND.sub("", pnorm)))
        return None

    def check(self, pairs: Sequence[tuple[str | None, str | None]], *, problems: Sequence[str] | None = None) -> list[Verdict]:
        """Verdict per (gold, predicted answer) pair; `problems` (same length) feeds the judge."""
        if self.prestart and len(pairs) >= 32:
            self.pool.start()
        out: list[Verdict | None] = [None] * len(pairs)
        slow: dict[tuple[str, str], list[int]] = {}
        slow_forms: dict[tuple[str, str], tuple[str, str]] = {}
        for k, (gold_raw, pred) in enumerate(pairs):
            if pred is None or not str(pred).strip():
                out[k] = Verdict("no_answer", "extract", None)
                continue
            pred = str(pred).strip()
            g = self.gold(gold_raw)
            if not g.ok:
                out[k] = Verdict("gold_unparseable", "gold", pred)
                continue
            pnorm = normalize(pred)
            key = (g.norm, pnorm)
            hit = self._verdict_cache.get(key)
            if hit is not None:
                self._count("verdict_cache_hits")
                out[k] = Verdict(hit[0], hit[1], pred, hit[2])
                continue
            if not balanced(pnorm) or _CUT_OFF.search(pnorm):
                # a cut-off answer ("\\frac{37113", "(1 -"): unreadable, so wrong; a judge may look
                self._count("stage_string")
                self._verdict_cache.put(key, ("wrong", "string", True))
                out[k] = Verdict("wrong", "string", pred, True)
                continue
            fast = self._fast(g, pred, pnorm)
            if fast is not None:
                self._count(f"stage_{fast[1]}")
                self._verdict_cache.put(key, fast)
                out[k] = Verdict(fast[0], fast[1], pred, fast[2])
                continue
            slow.setdefault(key, []).append(k)
            slow_forms[key] = (plain_to_latex(strip_delimiters(g.raw)), plain_to_latex(strip_delimiters(pred)))
        if slow:
            keys = list(slow)
            results = self.pool.run([slow_forms[key] for key in keys])
            self._count("stage_symbolic", len(keys))
            for key, res in zip(keys, results):
                if res == "correct":
                    v = ("correct", "symbolic", False)
                elif res == "wrong":
                    v = ("wrong", "symbolic", False)
                elif res == "gold_unparseable":
                    v = ("gold_unparseable", "symbolic", False)
                elif res == "timeout":
                    v = ("timeout", "symbolic", True)
                else:  # pred_unparseable / error: the rules cannot read the prediction
                    v = ("wrong", "symbolic", True)
                if res != "timeout":  # a timeout may pass on a less loaded machine: not cached
                    self._verdict_cache.put(key, v)
                for k in slow[key]:
                    out[k] = Verdict(v[0], v[1], str(pairs[k][1]).strip(), v[2])
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
