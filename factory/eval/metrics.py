"""Evaluation metrics over n samples per problem.

- pass@1: the mean over problems of c/n (c correct of n samples) — the average accuracy of one
  sample, lower variance than scoring one sample per problem (DeepSeek-R1's reporting).
- pass@k: the unbiased estimator of Chen et al. (2021): 1 - C(n-c, k) / C(n, k), computed as a
  running product so large n stays exact in floating point: prod_{i=n-c+1}^{n} (1 - k/i).
- maj@n: majority vote (self-consistency): the answers of the n samples are grouped into
  equivalence classes (by the math verifier, not by string), the largest class wins (ties: the
  class seen first), and the problem counts as solved when that class is correct.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def pass_at_k(n: int, c: int, k: int) -> float:
    if not 0 <= c <= n or k < 1 or k > n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def ks_for(n: int) -> list[int]:
    """1, 2, 4, ... up to n (and n itself)."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    if ks[-1] != n:
        ks.append(n)
    return ks


@dataclass
class MajorityVote:
    answer: str | None  # a representative of the winning class
    share: float  # votes of the winning class / n
    correct: bool  # the winning class is correct


def majority_vote(answers: Sequence[str | None], correct: Sequence[bool], class_ids: Sequence[int | None]) -> MajorityVote:
    """Majority over precomputed equivalence classes (`class_ids[i]` of answer i; None = no
    answer). A class is correct when its members were judged correct (they are equivalent, so
    they agree; we take the majority of member verdicts to be robust to a flaky judgement)."""
    counts: dict[int, int] = {}
    first: dict[int, int] = {}
    for i, c in enumerate(class_ids):
        if c is None:
            continue
        counts[c] = counts.get(c, 0) + 1
        first.setdefault(c, i)
    if not counts:
        return MajorityVote(None, 0.0, False)
    best = max(counts, key=lambda c: (counts[c], -first[c]))
    members = [i for i, c in enumerate(class_ids) if c == best]
    ok = sum(1 for i in members if correct[i]) * 2 > len(members)
    return MajorityVote(answers[members[0]], counts[best] / len(answers), ok)


@dataclass
class BenchmarkScore:
    benchmark: str
    problems: int
    n: int
    pass_at_1: float
    pass_at_k: dict[int, float]
    maj_at_n: float | None  # None where voting does not apply (code)
    no_answer_rate: float
    truncated_rate: float

    def to_json(self) -> dict:
        return {"benchmark": self.benchmark, "problems": self.problems, "n": self.n, "pass@1": self.pass_at_1,
                **{f"pass@{k}": v for k, v in self.pass_at_k.items()}, f"maj@{self.n}": self.maj_at_n,
                "no_answer_rate": self.no_answer_rate, "truncated_rate": self.truncated_rate}


def score_benchmark(name: str, per_problem: dict[str, list[dict]], *, n: int, vote: bool) -> BenchmarkScore:
    """per_problem[pid] = list of samples {correct: bool, answer: str|None, class_id: int|None,
    truncated: bool}. Every problem must have exactly n samples (a short count is an error:
    silently averaging over fewer samples would inflate or deflate the score)."""
    short = {p: len(s) for p, s in per_problem.items() if len(s) != n}
    if short:
        from factory.schemas.errors import FactoryError

        example = next(iter(short.items()))
        raise FactoryError(f"{name}: {len(short)} problem(s) do not have exactly n={n} samples (e.g. {example[0]}: {example[1]})",
                           hint="re-run the same eval command: generation resumes and fills the missing samples")
    ks = ks_for(n)
    p1, pk, maj, noans, trunc = [], {k: [] for k in ks}, [], 0, 0
    for samples in per_problem.values():
        c = sum(1 for s in samples if s["correct"])
        p1.append(c / n)
        for k in ks:
            pk[k].append(pass_at_k(n, c, k))
        noans += sum(1 for s in samples if s["answer"] is None)
        trunc += sum(1 for s in samples if s.get("truncated"))
        if vote:
            mv = majority_vote([s["answer"] for s in samples], [s["correct"] for s in samples],
                               [s.get("class_id") for s in samples])
            maj.append(1.0 if mv.correct else 0.0)
    m = len(per_problem) or 1
    return BenchmarkScore(name, len(per_problem), n, sum(p1) / m, {k: sum(v) / m for k, v in pk.items()},
                          (sum(maj) / m) if vote else None, noans / (m * n), trunc / (m * n))
