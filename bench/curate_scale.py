"""Curate at scale: 1,000,000 synthetic traces (125,000 problems x 8 samples, math and code),
curated into a 50,000-example mix by `factory.curate.core` (streamed scan of small columns, rows
fetched by id), side by side with what a user would otherwise write: polars, eager — read the
whole folder, filter, pick the shortest correct trace per problem, sample per domain.
Each runs in its own process, alternated `--repeat` times (best of each compared, and each
round's ratio, which a box whose speed drifts disturbs least); the script prints wall time, CPU
time and peak RSS of both and the ratios.

Synthetic traces: completions are short CoT paragraphs with numbers drawn per row (40-120 random
words from a 5,000-word vocabulary + an answer, ~600 characters: 1M traces ≈ 0.6 GB of text), `verdict_math`/`verdict_code` drawn with a
per-problem pass rate, levels 1-5.

    python bench/curate_scale.py                 # 1M traces (writes ~0.5 GB under a temp dir)
    python bench/curate_scale.py --traces 200000
    python bench/curate_scale.py --dir /tmp/curate_traces --keep   # make the input once, reuse it

Target (issue 16 item 6): 1M traces in no more than the eager polars script's time, at 1 GB or
less of peak memory: MET since 1e72824 (median 0.79x of polars' time, 0.21x its memory; the last
entry below). Measured on the 2-core dev box, 1M traces -> 50,000 rows:
- before (a08f14c, quiet box, --repeat 1): factory 3.96 s (CPU 5.79 s), peak RSS 711 MB;
  polars 3.19 s (CPU 5.42 s), 3835 MB: time 1.24x, CPU 1.07x, memory 0.19x.
- after (63d816b), box shared with other helpers' tests and benchmarks (load average 4-7 on 2
  cores), the old code, the new code and polars alternated 5 times, best of each: before 8.26 s
  (least CPU 6.98 s), after 6.59 s (6.39 s), polars 7.49 s (6.54 s); peak RSS after 575-593 MB,
  polars 3720-3821 MB. A second alternation (3 rounds, load 5.3-6.0): best wall before 7.06 s,
  after 8.55 s, polars 6.01 s; least CPU 5.94 / 5.75 / 5.52 s. This script's own `--repeat 3` at
  load 5.7: time 1.03x, CPU 1.07x, memory 0.15x. Wall times on a box this loaded are noise; CPU
  puts the new code at 0.98-1.07x polars (the old one at 1.07x-1.08x). So: memory target met
  (0.6 GB, a sixth of polars'); time at parity, not shown to be below polars.
- after, quiet box (load 1.4, `--repeat 3`, best of each): factory 3.51 s (CPU 5.17 s), 641 MB;
  polars 3.12 s (CPU 5.18 s), 3811 MB: time 1.12x, CPU 1.00x, memory 0.17x. The time target is
  NOT met: the CPU is equal, and ours spends ~0.45 s more on imports (pyarrow and the factory
  modules on top of polars) and runs its split/report/write phase on one core.
- 4432315 (shortcut rows put in one batch: meta JSON once per (teacher, difficulty), the turns
  JSON-escaped by polars, no full sort for the validation split), measured when the same box ran
  ~1.6x slower than above (idle, load 1.0-1.6; the same code's CPU time varied 8.3-9.5 s between
  runs, so only side-by-side numbers compare): before (1278bdd) `--repeat 3`: factory 5.72 s
  (CPU 8.64 s), 579 MB; polars 4.67 s (7.69 s), 3808 MB: time 1.22x, CPU 1.12x. After, three
  `--repeat 3` runs: 1.14x / 1.23x / 1.28x time, 1.01x / 1.10x / 1.13x CPU, 0.15x memory (best
  5.46 s vs polars 4.78 s, 591 MB). Before, after and polars alternated 4 rounds: best 5.89 /
  5.77 / 4.78 s, median ~6.36 / ~6.06 / ~5.03 s: ~4% off our wall, the time target still NOT met.
  The render's Python per row (split_trace, JSON escaping, sha256 for the sft_id) is the main
  thread's floor (~0.8 s for 50K rows, timed piece by piece); a second fetch worker gained nothing (measured), since
  the main thread, not the fetch, is the bottleneck.
- 49198e7 (9fc6342..49198e7: the shortcut turns rendered by polars inside the fetch query,
  `sft.render_stages`, byte for byte what split_trace + render_assistant give -- checked on the
  shipped traces and 250K seeded random texts; a text with a tag, a U+001C-U+001F character (Python
  calls them whitespace, Rust does not) or an answer-cue-only final answer stays with Python -- and
  the bytes of each row id built there too; the fetch started right after the per-problem pick, so
  it reads while the funnel, journey and mix run, and only the mix's rows once the mix is drawn;
  the validation groups hashed while the worker reads; train rows to the writer one row group at a
  time while the next are built; select as one lazy query; duplicate ids by n_unique (0.05 s, not
  0.2 s); the nested tests column decoded only when a rule requires tests; GC paused to the end of
  the run and the rows freed during the last write; journey/non-reasoning/runner imported only when
  used, pyarrow.compute in a thread during the scan). Old tree (ea5ce9a), new tree and polars
  alternated in one script, 5-6 rounds, outputs compared (identical shards and report, also on
  8 recipe runs over the repository's test traces); the box drifted between a fast and a slow speed
  (the same run's CPU time 4.7-7.9 s), so each round's ratio to its neighbouring polars run is given:
  - at 530eab9 (the first two of these commits), load 1.2-1.5, fast phase: old 1.10x best-vs-best,
    new 1.02x; medians old 3.37 s, new 3.08 s, polars 3.22 s. The rest at 49198e7:
  - load 0.6-1.5 (slow phase): per-round new/polars 0.94-1.19, median 1.07x (old 1.04-1.28, median
    1.13x); CPU median 1.06x (old 1.03x); best 4.06 / 4.37 s vs polars 3.97 s.
  - load 1.7-2.2: per-round new/polars 0.92, 0.98, 0.98, 1.05, 1.07, 1.09 (median 1.02x; old 1.02-1.18,
    median 1.10x); best-vs-best 0.99x (old 1.08x); CPU median 1.02x (old 0.98x); peak RSS 615-665 MB
    (old 581-613 MB), polars 3786-3836 MB: memory 0.17x.
  - new vs polars only, load 1.3-1.8: per-round 0.83, 0.91, 0.92, 1.00, 1.07 (median 0.92x).
  - this script, `--repeat 4`, load 1.4-1.7 (slow phase): 1.18x best-vs-best, per-round median
    1.08x, CPU 1.06x, memory 0.17x.
  - c5d16df (the fetch queries on polars' streaming engine: new vs 49198e7 alternated 12 rounds,
    8 faster, median 0.97x), load 1.4-2.4, slow phase: per-round new/polars 1.05-1.28, median 1.10x
    (old 1.09-1.28, median 1.17x); CPU median 1.06x (old 1.03x); peak RSS 619-633 MB: 0.16x.
  So: memory target met (0.6-0.7 GB); time from 1.10-1.17x of polars' to parity-or-a-little-over:
  below polars in some rounds (0.83-0.99x), above in the rest (up to 1.28x), per-batch medians
  0.92x-1.10x, always 5-8% under the old tree's in the same batch: the target is NOT robustly met. CPU is equal to polars' (the render moved into polars
  costs about what the Python one did; the gain is overlap). Tried and dropped: a second fetch worker
  (no gain), the render back in Python (3.71 / 4.03 s best with / without), alternating the two
  per shard (worse), `tests` nullness read by pyarrow beside the scan (no gain), cheaper forms of
  the scan's regexes (worse).

- 1e72824..054e333 (issue 16 item 6): the text read ONCE for shortest-/longest-correct and k-per-problem
  (`factory.curate.textpass`): the scan reads the small columns only (0.35 s), the checks that
  need no text are decided (`select_traces(..., before_text=True)`), then the text of the ~28%
  of traces still in the running is read shard by shard, two shards at a time, for their facts
  (the text checks) and each problem's best trace, which is kept (compacted, rendered by polars,
  its sft id hashed) and renders the mix: the fetch after the mix, a second decode of the whole
  `answer` column, is gone (an over-budget text, `RETAIN_BYTES` from the shards' footers, falls
  back to it). And a mix of shortcut rows only stays in columns to the end
  (`factory.curate.shortcut_mix.ShortcutMix`: the messages, ids and meta built by polars/Arrow, no
  Python object per row; the rows polars does not render, tags and U+001C-1F, rendered by Python's
  rules in place). Shards and report byte-identical to the old tree on the 1M data and, in
  tests/test_curate_textpass.py, to the plain run on real + edge traces in 3 recipes.
  Old tree (f465beb), new tree and polars alternated 4 rounds (slow phase, polars 3.8-4.4 s):
  new 3.48-3.62 s (CPU 5.4-5.6 s, 806-829 MB), old 3.79-4.70 s (CPU 6.3-7.9 s), polars CPU
  6.5-7.4 s: per round new/polars 0.80-0.94, new/old 0.75-0.92.
  This script, `--repeat 5`, load 1.0-1.5: factory 2.84 s best (CPU 4.39 s, 790 MB), polars
  3.26 s (5.52 s, 3835 MB): time 0.87x best-vs-best, per-round 0.75, 0.79, 0.79, 0.87, 0.97
  (median 0.79x), CPU median 0.74x, memory 0.21x. Again after the last commits (k-per-problem
  on the text pass too, shared helpers), load 0.9, a slower phase (polars 3.67-4.51 s): factory
  3.12 s best (CPU 4.75 s, 775 MB), time 0.85x best-vs-best, per-round 0.76-0.91 (median 0.87x),
  CPU 0.77x, memory 0.20x. The target is MET: under polars' time in every round, at 0.8 GB.

Where the time went before this session's change (49198e7, fast phase, per-phase timers): imports 0.3-0.45 s (one core;
pyarrow's 0.12 s is pulled in by factory.schemas), scan 0.9-1.1 s wall / 1.6-2.0 s CPU, select and
per-problem 0.25 s, funnel + mix 0.3 s (the fetch running beside them), fetch loop 0.6-0.7 s in
which the main thread waits 0.1-0.35 s on the worker (decoding `answer` a second time, ~0.8 CPU s,
is now the floor), split/tables/report/write 0.35-0.45 s.

Before (quiet box, per-phase perf_counter timers and cProfile): scan 1.3 s
wall / 2.3 s CPU (decoding the `answer` text is 1.0 s CPU of it, the text tests 0.5 s); select +
per-problem + mix 0.4 s; fetch + render 1.4 s (the fetch's polars query in a worker thread, 1.0 s
CPU, again mostly decoding `answer`; the Python render on the main thread, 1.1-1.3 s: JSON-escaping
and hashing each row for its `sft_id` 0.45 s); split, report, Arrow table and write 0.75 s, one
core; imports 0.4 s (pyarrow's on top of polars'). What changed: no pandas import (pa.array on a
Python list imports pandas to test for a pandas object: 0.3-0.5 s), each text test once per row
in the scan, no cyclic GC while rendering, a window min instead of a 500K-row sort for
shortest-correct, the train shards written in a thread while the reports are counted. The text
is decoded twice (scan, then fetch): polars decodes it once but holds all of it (3.8 GB); that
second decode (~1 s CPU) is the price of the 0.6 GB peak.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SAMPLES = 8


def make_traces(folder: Path, n_traces: int, *, seed: int = 0) -> None:
    import numpy as np
    import pyarrow as pa
    from factory.schemas.contracts import TRACE_SCHEMA

    from factory.io.dataset import DatasetWriter

    schema = TRACE_SCHEMA.append(pa.field("verdict_math", pa.string())).append(pa.field("verdict_code", pa.string()))
    rng = np.random.default_rng(seed)
    n_problems = n_traces // SAMPLES
    pass_rate = rng.uniform(0, 1, n_problems)
    vocab = np.array(["".join(chr(97 + c) for c in rng.integers(0, 26, rng.integers(2, 9))) for _ in range(5000)])
    chunk = 50_000
    with DatasetWriter(folder, "trace", schema=schema, command="bench", rows_per_shard=100_000, validate=False) as w:
        for start in range(0, n_traces, chunk):
            idx = np.arange(start, min(start + chunk, n_traces))
            pidx = idx // SAMPLES
            code = pidx % 5 == 0  # 20% code problems
            a, b = rng.integers(10, 999, len(idx)), rng.integers(10, 999, len(idx))
            reps = rng.integers(1, 4, len(idx))
            correct = rng.uniform(0, 1, len(idx)) < pass_rate[pidx]
            # random words from a 5,000-word vocabulary: text that compresses like prose, not a loop
            words = vocab[rng.integers(0, len(vocab), (len(idx), 120))]
            filler = [" ".join(w[: 40 * int(r)]) for w, r in zip(words.tolist(), reps.tolist())]
            comp = [
                f + "\n\n"
                + f"First, {x} + {y} = {x + y}. Then we check the units and the edge cases carefully.\n\n"
                + ("The final answer is $\\boxed{" + str(x + y if c else x + y + 1) + "}$." if not k else
                   f"```python\nprint({x} + {y})\n```")
                for f, x, y, c, k in zip(filler, a.tolist(), b.tolist(), correct.tolist(), code.tolist())]
            n = len(idx)
            pid = [f"p_{p:016x}" for p in pidx.tolist()]
            vm = [None if k else ("correct" if c else "wrong") for c, k in zip(correct.tolist(), code.tolist())]
            vc = [("pass" if c else "wrong_answer") if k else None for c, k in zip(correct.tolist(), code.tolist())]
            tests = [{"style": "stdin_stdout", "fn_name": None, "inputs": [""], "outputs": ["1"], "asserts": [],
                      "setup_code": None, "starter_code": None, "time_limit_s": None} if k else None for k in code.tolist()]
            t = pa.table({
                "id": [f"t_{i:016x}" for i in idx.tolist()], "problem_id": pid,
                "sample_index": pa.array((idx % SAMPLES).astype("int32")), "teacher": ["synthetic"] * n,
                "backend": ["replay"] * n, "sampling": pa.array([None] * n, schema.field("sampling").type),
                "system_prompt": pa.nulls(n, pa.string()), "prompt": [f"Problem {p}" for p in pidx.tolist()],
                "completion": comp, "reasoning": pa.nulls(n, pa.string()), "reasoning_finished": [False] * n,
                "answer": comp, "finish_reason": ["stop"] * n, "prompt_tokens": pa.nulls(n, pa.int64()),
                "completion_tokens": pa.nulls(n, pa.int64()),
                "domain": ["code" if k else "math" for k in code.tolist()], "source": ["synthetic"] * n,
                "problem": [f"Problem {p}: add the two numbers." for p in pidx.tolist()],
                "reference_answer": pa.nulls(n, pa.string()), "tests": pa.array(tests, schema.field("tests").type),
                "difficulty": pa.nulls(n, pa.string()), "level": pa.array((pidx % 5 + 1).astype("int32")),
                "language": ["en"] * n, "license": ["CC0-1.0"] * n, "meta": pa.nulls(n, pa.string()),
                "verdict_math": vm, "verdict_code": vc,
            }, schema=schema)
            w.write_table(t)


SECTION = {
    "select": {"math": {"correct": {"verdict_math": ["correct"]}, "pass_rate": {"gt": 0.2, "lt": 0.8}},
               "code": {"correct": {"verdict_code": ["pass"]}, "require_tests": True, "pass_rate": {"gt": 0.2, "lt": 0.8}}},
    "difficulty": {"from": "pass_rate"},
    "per_problem": {"policy": "shortest-correct"},
    "budget": {"max_tokens": 4096},
    "mix": {"size": 50_000, "buckets": [{"name": "math", "match": {"domain": ["math"]}, "fraction": 0.8},
                                        {"name": "code", "match": {"domain": ["code"]}, "fraction": 0.2}]},
    "output": {"format": "think", "validation_fraction": 0.01},
}


def mix_size(n_traces: int) -> int:
    return n_traces // 20  # 1M traces -> a 50,000-example mix (0.8 math, 0.2 code)


def run_factory(traces: Path, out: Path, size: int) -> dict:
    from factory.recipes.curate_spec import curate_config, validate_curate

    from factory.curate.core import curate

    assert validate_curate(SECTION) == []
    rep = curate(curate_config(SECTION), seed=0, out=out, inputs={"traces": [traces]}, size=size, log=lambda m: None)
    return {"rows": rep["train"]["rows"] + rep["validation"]["rows"]}


def run_polars(traces: Path, out: Path, size: int) -> dict:
    """The eager polars script a user would write for the same selection (no journey, no report)."""
    import polars as pl

    df = pl.read_parquet(str(traces / "*.parquet"))
    df = df.with_columns(pl.when(pl.col("domain") == "math").then(pl.col("verdict_math") == "correct")
                         .otherwise(pl.col("verdict_code") == "pass").alias("ok"))
    rate = df.group_by("problem_id").agg(pl.col("ok").mean().alias("rate"))
    df = df.join(rate, on="problem_id").filter(pl.col("ok") & (pl.col("rate") > 0.2) & (pl.col("rate") < 0.8)
                                               & ((pl.col("completion").str.len_chars() / 4) <= 4096))
    df = df.with_columns(pl.col("completion").str.len_chars().alias("n"))
    df = df.sort(["problem_id", "n", "id"]).group_by("problem_id", maintain_order=True).first()
    parts = [df.filter(pl.col("domain") == "math").sample(size * 4 // 5, seed=0),
             df.filter(pl.col("domain") == "code").sample(size - size * 4 // 5, seed=0)]
    mix = pl.concat(parts).with_columns(pl.concat_str([pl.lit("<think>\n"), pl.col("completion"), pl.lit("\n</think>\n\n"),
                                                       pl.col("completion")]).alias("assistant"))
    out.mkdir(parents=True, exist_ok=True)
    mix.select("id", "problem_id", "problem", "assistant").write_parquet(out / "mix.parquet")
    return {"rows": mix.height}


def peak_rss_mb() -> float:
    """VmHWM: this process's peak resident memory. (ru_maxrss survives exec on Linux, so a child
    started by a big parent would report the parent's peak.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_seconds() -> float:
    """User + system CPU time of this process, all its threads (polars' pool included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child(which: str, traces: str, out: str, size: str) -> None:
    t, c = time.perf_counter(), cpu_seconds()
    info = (run_factory if which == "factory" else run_polars)(Path(traces), Path(out), int(size))
    info["seconds"] = round(time.perf_counter() - t, 2)
    info["cpu_seconds"] = round(cpu_seconds() - c, 2)
    info["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(info))


def measure(which: str, traces: Path, out: Path, size: int) -> dict:
    res = subprocess.run([sys.executable, __file__, "--child", which, str(traces), str(out), str(size)], check=False,
                         capture_output=True, text=True, env={**os.environ, "POLARS_MAX_THREADS": "2"})
    if res.returncode != 0:
        raise SystemExit(f"{which} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=1_000_000)
    ap.add_argument("--child", nargs=4)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--only", choices=["factory", "polars"])
    ap.add_argument("--dir", type=Path, help="reuse/keep the synthetic traces here")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each, alternated; the best of each is compared")
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    tmp = args.dir or Path(tempfile.mkdtemp(prefix="curate-scale-"))
    try:
        t = time.perf_counter()
        if not (tmp / "traces" / "manifest.json").exists():
            make_traces(tmp / "traces", args.traces)
        for old in ("out-factory", "out-polars"):
            shutil.rmtree(tmp / old, ignore_errors=True)
        size = sum(p.stat().st_size for p in (tmp / "traces").glob("*.parquet"))
        print(f"wrote {args.traces:,} traces ({size / 1e6:.0f} MB parquet) in {time.perf_counter() - t:.0f}s")
        if args.only:
            r = measure(args.only, tmp / "traces", tmp / f"out-{args.only}", mix_size(args.traces))
            print(f"{args.only}: {r['rows']:,} rows in {r['seconds']}s, peak RSS {r['peak_rss_mb']} MB")
            return
        # alternate the two, `--repeat` times each, and compare the best of each (the machine may
        # be shared: the best run is the one least disturbed by other work)
        runs: dict[str, list[dict]] = {"factory": [], "polars": []}
        for _ in range(args.repeat):
            for which in ("factory", "polars"):
                shutil.rmtree(tmp / f"out-{which}", ignore_errors=True)
                runs[which].append(measure(which, tmp / "traces", tmp / f"out-{which}", mix_size(args.traces)))
        f, p = (min(runs[w], key=lambda r: r["seconds"]) for w in ("factory", "polars"))
        for name, r in (("factory curate", f), ("polars (eager)", p)):
            print(f"{name} : {r['rows']:,} rows in {r['seconds']}s (CPU {r['cpu_seconds']}s), peak RSS "
                  f"{r['peak_rss_mb']} MB   [all runs: {', '.join(str(x['seconds']) for x in runs[name.split()[0]])} s]")
        print(f"ratio factory/polars: time {f['seconds'] / p['seconds']:.2f}x, CPU {f['cpu_seconds'] / p['cpu_seconds']:.2f}x, "
              f"peak memory {f['peak_rss_mb'] / p['peak_rss_mb']:.2f}x   (load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} cores)")
        # each round's two runs are neighbours in time: their ratio is the least disturbed by a
        # box whose speed drifts between rounds
        pairs = sorted((a["seconds"] / b["seconds"], a["cpu_seconds"] / b["cpu_seconds"])
                       for a, b in zip(runs["factory"], runs["polars"]))
        print(f"per-round ratios, time: {', '.join(f'{t:.2f}' for t, _ in pairs)} (median {pairs[len(pairs) // 2][0]:.2f}x); "
              f"CPU median {sorted(c for _, c in pairs)[len(pairs) // 2]:.2f}x")
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
