"""`MathVerifier`: the math filter — is the trace's final answer equivalent to the reference?

For every math-domain row: extract the final answer from the solution part (`answer` column,
else the completion after its thought, else the completion's tail; see `math_extract`), then
run the cascade of `math_equiv` against `reference_answer`. Rows of other domains are not
judged (verdict `skipped`) and are kept. Rows whose `reference_answer` is null get a
majority-vote pseudo-label over the samples of their problem (grouped by `problem_id`, else by
`problem`, within the batch — the folder runner keeps a problem's n samples together).

Columns added:
- `verdict_math` (str): correct | wrong | no_answer | gold_unparseable | timeout |
  pseudo_correct | pseudo_wrong | no_consensus | skipped
- `score_math` (f64): 1.0 for correct / pseudo_correct, 0.0 otherwise, null when skipped
- `score_math_stage` (str): extract | gold | string | numeric | symbolic | judge | pseudo
- `score_math_pred` (str): the extracted answer
- `score_math_rule` (str): extraction rule and source, then the equivalence rules that decided,
  e.g. `boxed@answer`, `final_line@completion_tail`, `boxes_joined@answer+labels_dropped`,
  `answer_is_i18n@answer+units_converted` (rule tables: `math_extract`, `math_equiv`)
- `score_math_vote` (f64): the majority class's vote share for pseudo-labelled rows, else null

`keep` = correct (+ pseudo_correct with `accept_pseudo=True`) + skipped.

Row hints read when present (all optional):
- `meta` (JSON string) key `unit`: the unit the reference answer is given in (OlympiadBench's
  `unit`: `m/s`, `km`, `^{\\circ}`, `%`); a prediction in another unit of the same kind is
  converted, one without a unit is compared as a number.
- `meta` key `answer_type`: OlympiadBench's `Numerical` | `Expression` | `Equation` | `Interval` |
  `Tuple` (`Interval` reads `(a, b)` as an interval, so `a < x < b` matches it).
- `meta` key `locale` or `language`, else the `language` column (ISO 639-1, e.g. `fr`, `de-CH`):
  a language that writes decimal commas (`DECIMAL_COMMA_LANGUAGES`) reads `1,5` as 1.5 and
  `12.000.023` as 12000023. Without any, the solution's own last words decide (French, German,
  Spanish, ... answer words such as "Réponse", "Antwort", "Respuesta"); English is the default.
- Several gold answers: a `reference_answer` that is a JSON list of strings
  (`["(1,2)", "(2,1)"]`) is one collection, all items required, in any order.

Exercised by `python -m pytest -q tests/test_math_verify.py`.
"""

from __future__ import annotations

import json
import re
from typing import ClassVar

import polars as pl
from factory.filters.math.equiv import AnswerHint, Judge, JudgeOn, MathEquivalence
from factory.filters.math.extract import extract_from_trace
from factory.filters.verdicts import SKIPPED, passing

# ISO 639-1 codes of languages whose numbers write a decimal comma (1,5) (CLDR number symbols)
DECIMAL_COMMA_LANGUAGES = frozenset(
    "fr de es it pt ru nl pl tr cs sk sl hr sr bs mk bg uk be ro hu el da sv nb nn no fi et lv lt "
    "is id vi az kk uz ky ka hy sq ca gl eu af ar fa ".split()
)
# answer words that show the solution's language when the row does not say it
_LANGUAGE_WORDS = re.compile(
    r"\b(?:(?P<fr>r[ée]ponse|donc)|(?P<de>antwort|ergebnis|daher|somit)|(?P<es>respuesta|por lo tanto)"
    r"|(?P<pt>resposta|portanto)|(?P<it>risposta|quindi|dunque)|(?P<ru>ответ|итак|следовательно))\b",
    re.IGNORECASE,
)


def decimal_comma_language(code: str | None) -> bool:
    """True for a language tag whose numbers write a decimal comma: "fr", "de-CH", "pt_BR"."""
    if not code:
        return False
    return re.split(r"[-_]", str(code).strip().lower())[0] in DECIMAL_COMMA_LANGUAGES


def guess_decimal_comma(text: str | None) -> bool:
    """The solution's closing words name its language ("Réponse : 1,5"): English text and text
    without such words keep the decimal point."""
    if not text:
        return False
    m = None
    for m in _LANGUAGE_WORDS.finditer(text[-600:]):
        pass
    return m is not None and m.lastgroup is not None


def row_hint(meta: str | None, language: str | None, solution: str | None) -> AnswerHint:
    """The `AnswerHint` of one row from its `meta` JSON, its `language` and its solution text."""
    unit = answer_type = locale = None
    if meta:
        try:
            m = json.loads(meta)
        except (TypeError, ValueError):
            m = None
        if isinstance(m, dict):
            unit = m.get("unit") or None
            answer_type = m.get("answer_type") or None
            locale = m.get("locale") or m.get("language") or None
    lang = locale or language
    if lang:
        dc = decimal_comma_language(lang)
    else:
        dc = guess_decimal_comma(solution)
    if isinstance(unit, list):
        unit = unit[0] if unit else None
    if unit is not None and not isinstance(unit, str):
        unit = str(unit)
    if answer_type is not None and not isinstance(answer_type, str):
        answer_type = str(answer_type)
    return AnswerHint(unit=unit, answer_type=answer_type, decimal_comma=dc)

VERDICTS = (
    "correct",
    "wrong",
    "no_answer",
    "gold_unparseable",
    "timeout",
    "pseudo_correct",
    "pseudo_wrong",
    "no_consensus",
    "skipped",
)

SCORE_SCHEMA = {
    "verdict_math": pl.String,
    "score_math": pl.Float64,
    "score_math_stage": pl.String,
    "score_math_pred": pl.String,
    "score_math_rule": pl.String,
    "score_math_vote": pl.Float64,
}


class MathVerifier:
    name: ClassVar[str] = "math"
    columns: ClassVar[tuple[str, ...]] = ("domain", "completion", "answer", "reference_answer")

    def __init__(
        self,
        *,
        workers: int | None = None,
        timeout_s: float = 5.0,
        accept_pseudo: bool = False,
        pseudo_min_share: float = 0.5,
        judge: Judge | None = None,
        judge_on: JudgeOn = "undecided",
    ):
        if not 0.0 <= pseudo_min_share <= 1.0:
            raise ValueError(f"pseudo_min_share: expected a share in [0, 1], found {pseudo_min_share}")
        self.accept_pseudo = accept_pseudo
        self.pseudo_min_share = pseudo_min_share
        # cheap: the symbolic worker pool starts on the first pair that needs it
        self.equiv = MathEquivalence(workers=workers, timeout_s=timeout_s, judge=judge, judge_on=judge_on)

    def close(self) -> None:
        self.equiv.close()

    def __enter__(self) -> MathVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        n = batch.height
        verdict: list[str] = ["skipped"] * n
        score: list[float | None] = [None] * n
        stage: list[str | None] = [None] * n
        pred: list[str | None] = [None] * n
        rule: list[str | None] = [None] * n
        vote: list[float | None] = [None] * n

        domains = batch.get_column("domain").to_list()
        completions = batch.get_column("completion").to_list()
        answers = batch.get_column("answer").to_list()
        golds = batch.get_column("reference_answer").to_list()
        problems = batch.get_column("problem").to_list() if "problem" in batch.columns else None
        if "problem_id" in batch.columns:
            groups = batch.get_column("problem_id").to_list()
        elif problems is not None:
            groups = problems
        else:
            groups = None

        metas = batch.get_column("meta").to_list() if "meta" in batch.columns else [None] * n
        languages = batch.get_column("language").to_list() if "language" in batch.columns else [None] * n

        self.equiv.expect(sum(1 for k in range(n) if domains[k] == "math" and golds[k] is not None))
        with_gold: list[int] = []
        hints: list[AnswerHint] = []
        pseudo: dict[object, list[int]] = {}
        for k in range(n):
            if domains[k] != "math":
                continue
            ext = extract_from_trace(completions[k], answers[k])
            if golds[k] is not None:
                hint = row_hint(metas[k], languages[k], ext.text)
                pred[k], chosen = self.equiv.choose(ext, golds[k], hint)
                rule[k] = f"{chosen}@{ext.source}"
                with_gold.append(k)
                hints.append(hint)
            else:
                pred[k] = ext.answer
                rule[k] = f"{ext.rule}@{ext.source}"
                if groups is not None:
                    pseudo.setdefault(groups[k], []).append(k)
                else:
                    verdict[k], stage[k], score[k] = "no_consensus", "pseudo", 0.0

        if with_gold:
            verdicts = self.equiv.check(
                [(golds[k], pred[k]) for k in with_gold],
                problems=[problems[k] for k in with_gold] if problems is not None else None,
                hints=hints,
            )
            for k, v in zip(with_gold, verdicts):
                verdict[k], stage[k] = v.verdict, v.stage
                score[k] = 1.0 if v.verdict == "correct" else 0.0
                if v.rules:
                    rule[k] = f"{rule[k]}+{'+'.join(v.rules)}"

        for rows in pseudo.values():
            labels, best, share = self.equiv.pseudo_labels([pred[k] for k in rows])
            for k, lab in zip(rows, labels):
                stage[k], vote[k] = "pseudo", share
                if lab is None:
                    verdict[k] = "no_answer"
                elif best is None or share < self.pseudo_min_share:
                    verdict[k] = "no_consensus"
                else:
                    verdict[k] = "pseudo_correct" if lab == best else "pseudo_wrong"
                score[k] = 1.0 if verdict[k] == "pseudo_correct" else 0.0

        return pl.DataFrame(
            {
                "verdict_math": verdict,
                "score_math": score,
                "score_math_stage": stage,
                "score_math_pred": pred,
                "score_math_rule": rule,
                "score_math_vote": vote,
            },
            schema=SCORE_SCHEMA,
        )

    def keep(self, scores: pl.DataFrame) -> pl.Series:
        ok = passing("math", pseudo=self.accept_pseudo) | {SKIPPED}
        return scores.get_column("verdict_math").is_in(sorted(ok)).alias("keep")
