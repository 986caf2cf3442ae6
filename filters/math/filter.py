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
- `score_math_rule` (str): extraction rule and source, e.g. `boxed@answer`, `final_line@completion_tail`
- `score_math_vote` (f64): the majority class's vote share for pseudo-labelled rows, else null

`keep` = correct (+ pseudo_correct with `accept_pseudo=True`) + skipped.

Exercised by `python -m pytest -q tests/test_math_verify.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import polars as pl
from factory.filters.math.equiv import Judge, JudgeOn, MathEquivalence
from factory.filters.math.extract import extract_from_trace

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

        with_gold: list[int] = []
        pseudo: dict[object, list[int]] = {}
        for k in range(n):
            if domains[k] != "math":
                continue
            ext = extract_from_trace(completions[k], answers[k])
            pred[k] = ext.answer
            rule[k] = f"{ext.rule}@{ext.source}"
            if golds[k] is not None:
                with_gold.append(k)
            elif groups is not None:
                pseudo.setdefault(groups[k], []).append(k)
            else:
                verdict[k], stage[k], score[k] = "no_consensus", "pseudo", 0.0

        if with_gold:
            verdicts = self.equiv.check(
                [(golds[k], pred[k]) for k in with_gold],
                problems=[problems[k] for k in with_gold] if problems is not None else None,
            )
            for k, v in zip(with_gold, verdicts):
                verdict[k], stage[k] = v.verdict, v.stage
                score[k] = 1.0 if v.verdict == "correct" else 0.0

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
        ok: Sequence[str] = ("correct", "skipped", "pseudo_correct") if self.accept_pseudo else ("correct", "skipped")
        return scores.get_column("verdict_math").is_in(list(ok)).alias("keep")
