"""The `code` filter: run each code trace's program against its problem's tests in the sandbox.

Exercised by `python -m pytest -q tests/test_code_verify.py` and `factory verify` / `factory
filter` (registry name `code`). Only rows with domain `code` are judged; every other row gets
verdict `skipped` and is kept. The program is the last fenced block of the `answer` (the part
after the thought; the raw `completion` after its end-of-thought marker when `answer` is null).
All programs of a batch run in parallel sandboxes, one per core; identical (program, tests)
pairs — common among n samples of one problem — run once.

Columns: `score_code` (pass fraction, null when not judged), `score_code_passed`,
`score_code_total`, `verdict_code` (pass | wrong_answer | runtime_error | timeout | memory |
output_limit | compile_error | no_code | no_tests | bad_tests | skipped). `keep`: skipped rows,
and judged rows with score_code >= min_pass_fraction (default 1.0: every test passes).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import polars as pl
from factory.filters.code.extract import extract_program
from factory.filters.code.sandbox import SandboxMode
from factory.filters.code.verify import TestSpec, Verdict, verify_many
from factory.schemas.errors import InputError


class CodeVerifier:
    name: ClassVar[str] = "code"
    columns: ClassVar[tuple[str, ...]] = ("domain", "answer", "completion", "tests")

    def __init__(
        self,
        *,
        min_pass_fraction: float = 1.0,
        per_test_s: float | None = None,
        total_s: float = 60.0,
        memory_mb: int = 1024,
        early_stop: bool = False,
        workers: int | None = None,
        sandbox: SandboxMode = "strict",
    ) -> None:
        if not 0.0 <= min_pass_fraction <= 1.0:
            raise InputError(f"expected min_pass_fraction in [0, 1], found {min_pass_fraction}", field="min_pass_fraction")
        self.min_pass_fraction = min_pass_fraction
        self.workers = workers
        # early_stop=False by default: the pass fraction stays meaningful, so the threshold can
        # be changed later without re-running (score, then decide)
        # sandbox: "strict" refuses to run where a kernel layer is missing; "weak" runs without it
        # and warns what it does not cover (CLI: --sandbox weak, to be wired by the stage)
        if sandbox not in ("strict", "weak"):
            raise InputError(f"expected sandbox 'strict' or 'weak', found {sandbox!r}", field="sandbox")
        self.run_kw: dict[str, Any] = {
            "per_test_s": per_test_s, "total_s": total_s, "memory_mb": memory_mb, "early_stop": early_stop, "sandbox": sandbox,
        }

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        n = batch.height
        verdicts: list[str] = ["skipped"] * n
        score: list[float | None] = [None] * n
        passed: list[int | None] = [None] * n
        total: list[int | None] = [None] * n
        domains = batch.get_column("domain").to_list()
        answers = batch.get_column("answer").to_list()
        completions = batch.get_column("completion").to_list()
        tests_col = batch.get_column("tests").to_list()
        jobs: dict[tuple[str | None, str], list[int]] = {}
        specs: dict[str, TestSpec] = {}
        for i in range(n):
            if domains[i] != "code":
                continue
            if tests_col[i] is None:
                verdicts[i] = "no_tests"
                continue
            try:
                spec = TestSpec.from_row(tests_col[i], where=f"row {i} tests")
            except InputError:
                verdicts[i] = "bad_tests"
                continue
            program = extract_program(answers[i] if answers[i] is not None else completions[i])
            key = json.dumps(tests_col[i], sort_keys=True, default=str)
            specs[key] = spec
            jobs.setdefault((program, key), []).append(i)
        keys = list(jobs)
        results: list[Verdict] = verify_many([k[0] for k in keys], [specs[k[1]] for k in keys], workers=self.workers, **self.run_kw)
        for k, v in zip(keys, results):
            for i in jobs[k]:
                verdicts[i] = v.verdict
                score[i] = v.score
                passed[i] = v.passed
                total[i] = v.total
        return pl.DataFrame(
            {
                "score_code": pl.Series(score, dtype=pl.Float64),
                "score_code_passed": pl.Series(passed, dtype=pl.Int64),
                "score_code_total": pl.Series(total, dtype=pl.Int64),
                "verdict_code": pl.Series(verdicts, dtype=pl.String),
            }
        )

    def keep(self, scores: pl.DataFrame) -> pl.Series:
        v = scores.get_column("verdict_code")
        s = scores.get_column("score_code")
        return ((v == "skipped") | (s.fill_null(-1.0) >= self.min_pass_fraction) & (v != "no_code")).alias("keep")
