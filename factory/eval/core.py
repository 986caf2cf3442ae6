"""`factory eval`: score a student (or any model) on the shipped benchmarks through the same
pipeline that makes data — ingest the benchmark (package copies in factory/data/benchmarks),
generate n samples with a teacher backend (transformers, vLLM, OpenAI-compatible server), judge
them with the same verifiers (math cascade; code in the sandbox), then report pass@1 averaged
over n samples, pass@k (unbiased estimator) and majority-vote accuracy maj@n (math).

Before any generation it settles the budget of every benchmark the way `factory generate` does
(factory.generate.budget): `--max-tokens` plus the longest prompt must fit the model's context
(refused with both lengths otherwise), and without `--max-tokens` the budget is the context minus
the longest prompt (at most 32768), recorded in eval.json. Generation resumes like
`factory generate`: re-running the same command only fills missing samples; a changed --limit,
n, benchmark list, model or sampling setting is refused until --overwrite (the stage runner),
which recomputes.

Exercise: `factory eval --model runs/quickstart/student --benchmarks math500,humaneval --limit 5 -n 2 --max-tokens 64`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from factory.data import DATA_DIR
from factory.eval.metrics import BenchmarkScore, score_benchmark
from factory.eval.options import EvalOptions
from factory.io.dataset import read_manifest
from factory.schemas.errors import FactoryError

DATA = DATA_DIR / "benchmarks"


@dataclass(frozen=True)
class Benchmark:
    name: str
    file: str
    preset: str
    domain: str


BENCHMARKS: dict[str, Benchmark] = {
    "math500": Benchmark("math500", "math500_test.jsonl.gz", "math500", "math"),
    "aime24": Benchmark("aime24", "aime24.jsonl.gz", "aime24", "math"),
    "aime25": Benchmark("aime25", "aime25.jsonl.gz", "aime25", "math"),
    "amc23": Benchmark("amc23", "amc23.jsonl.gz", "amc23", "math"),
    "gsm8k": Benchmark("gsm8k", "gsm8k_test.jsonl.gz", "gsm8k", "math"),
    "humaneval": Benchmark("humaneval", "HumanEval.jsonl.gz", "humaneval", "code"),
    "mbpp": Benchmark("mbpp", "mbpp.jsonl.gz", "mbpp", "code"),
}


def parse_benchmarks(spec: str | list[str]) -> list[str]:
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        raise FactoryError(f"--benchmarks: expected names from {sorted(BENCHMARKS)}, found {unknown or names}")
    return names


def _generate_options(opts: EvalOptions, name: str, out: Path, *, max_tokens: int | None):
    from factory.generate.options import GenerateOptions

    pdir, tdir = out / name / "problems", out / name / "samples"
    return GenerateOptions(teacher=opts.model, backend=opts.backend, problems=str(pdir), out=str(tdir), n=opts.n,
                           temperature=opts.temperature, top_p=opts.top_p, max_tokens=max_tokens, seed=opts.seed,
                           prompt=opts.prompt, limit=opts.limit, base_url=opts.base_url, batch_size=opts.batch_size,
                           max_model_len=opts.max_model_len, **opts.extra)


def plan_benchmark(opts: EvalOptions, name: str, out: Path, *, log: Callable[[str], None] = print):
    """The benchmark's generation budget, checked against the model's context (no sampling yet)."""
    from factory.generate.budget import plan_budget
    from factory.generate.core import applies_prefill, load_problems
    from factory.generate.prompts import load_prompt

    gopts = _generate_options(opts, name, out, max_tokens=opts.max_tokens)
    prompt = load_prompt(opts.prompt)
    prompts = [prompt.render(row) for row in load_problems(gopts.problems, limit=opts.limit)]
    return plan_budget(gopts, prompts, prefill=applies_prefill(opts.backend), log=lambda m: None)


def _judge(traces_dir: Path, bench: Benchmark, *, workers: int | None, sandbox: str = "strict") -> dict[str, list[dict[str, Any]]]:
    """Per problem, the n samples' verdicts and answers (with equivalence classes for voting)."""
    import polars as pl

    from factory.filters.verdicts import passing
    from factory.io.dataset import iter_batches
    from factory.score.runner import build_filters, score_batch

    name = "math" if bench.domain == "math" else "code"
    filters = build_filters([name], common={"workers": workers, "sandbox": sandbox})
    per_problem: dict[str, list[dict[str, Any]]] = defaultdict(list)
    golds: dict[str, str | None] = {}
    for batch in iter_batches(traces_dir):
        scored = score_batch(filters, pl.from_arrow(batch))
        pred_col = f"score_{name}_pred" if f"score_{name}_pred" in scored.columns else None
        for row in scored.iter_rows(named=True):
            verdict = row.get(f"verdict_{name}")
            if name == "code":
                # a code sample "answers" when a program was extracted from it
                answer = None if verdict in ("no_code", "skipped") else verdict
            else:
                answer = row.get(pred_col) if pred_col else None
                if answer is not None and not str(answer).strip():
                    answer = None
            per_problem[row["problem_id"]].append({
                "sample_index": row["sample_index"], "correct": verdict in passing(name),
                "verdict": verdict, "answer": answer, "truncated": row["finish_reason"] == "length",
            })
            golds[row["problem_id"]] = row.get("reference_answer")
    for f in filters:
        close = getattr(f, "close", None)
        if close:
            close()
    if bench.domain == "math":
        from factory.filters.math.equiv import MathEquivalence

        with MathEquivalence() as eq:
            for samples in per_problem.values():
                samples.sort(key=lambda s: s["sample_index"])
                classes, _, _ = eq.pseudo_labels([s["answer"] for s in samples])
                for s, c in zip(samples, classes):
                    s["class_id"] = c
    return per_problem


def run_eval(opts: EvalOptions, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    from factory.generate.core import run_generate
    from factory.ingest.core import ingest

    names = parse_benchmarks(opts.benchmarks)
    if opts.n < 1:
        raise FactoryError(f"-n: expected at least 1 sample per problem, found {opts.n}")
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    results: list[BenchmarkScore] = []
    budgets = {}
    # ingest and check every benchmark first: refuse before spending any generation
    for name in names:
        b = BENCHMARKS[name]
        pdir = out / name / "problems"
        if not (pdir / "manifest.json").exists():
            ingest([str(DATA / b.file)], out=pdir, preset=b.preset, limit=opts.limit, mode="overwrite")
        elif read_manifest(pdir).params.get("limit") != opts.limit:
            # a folder made with another --limit (the runner checked the user asked for a fresh run)
            ingest([str(DATA / b.file)], out=pdir, preset=b.preset, limit=opts.limit, mode="overwrite")
        budgets[name] = plan_benchmark(opts, name, out, log=log)
        log(f"{name}: {budgets[name].describe()}")
    for name in names:
        b = BENCHMARKS[name]
        tdir = out / name / "samples"
        gopts = _generate_options(opts, name, out, max_tokens=budgets[name].max_tokens)
        run_generate(gopts, log=log, progress=False)
        per_problem = _judge(tdir, b, workers=opts.workers, sandbox=opts.sandbox)
        results.append(score_benchmark(name, per_problem, n=opts.n, vote=b.domain == "math"))
    record = {"model": opts.model, "backend": opts.backend, "n": opts.n, "temperature": opts.temperature,
              "top_p": opts.top_p, "max_tokens": opts.max_tokens, "seed": opts.seed, "limit": opts.limit,
              "budget": {name: b.record() for name, b in budgets.items()},
              "results": [r.to_json() for r in results]}
    (out / "eval.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def results_table(record: dict[str, Any]):
    from rich.table import Table

    n = record["n"]
    t = Table(title=f"eval of {record['model']} (n={n}, T={record['temperature']}, top-p={record['top_p']})")
    cols = ["benchmark", "problems", "pass@1"] + [k for k in record["results"][0] if k.startswith("pass@") and k != "pass@1"] \
        + [f"maj@{n}", "no answer", "truncated"] if record["results"] else []
    for c in cols:
        t.add_column(c, justify="right" if c != "benchmark" else "left")
    for r in record["results"]:
        row = [r["benchmark"], str(r["problems"])]
        for c in cols[2:]:
            key = {"no answer": "no_answer_rate", "truncated": "truncated_rate"}.get(c, c)
            v = r.get(key)
            row.append("—" if v is None else f"{100 * v:.1f}%")
        t.add_row(*row)
    return t


def run(opts: EvalOptions, ctx: Any) -> dict[str, Any]:
    """The eval stage (`factory eval` and a recipe's `eval:` section). A run over an earlier
    eval of other settings starts afresh (the runner asked for --overwrite first); a killed run
    resumes its sampling where it stopped."""
    import shutil

    out = Path(opts.out)
    if ctx.mode == "overwrite":
        for name in BENCHMARKS:
            shutil.rmtree(out / name, ignore_errors=True)
        (out / "eval.json").unlink(missing_ok=True)
    record = run_eval(opts, log=ctx.log)
    if not ctx.progress:
        from rich.console import Console

        Console(stderr=True).print(results_table(record))
    if opts.note:
        ctx.log(f"note: {opts.note}")
    return {"out": str(out), "results": record["results"], "record": record}
