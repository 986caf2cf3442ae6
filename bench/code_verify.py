"""Throughput of the sandboxed code verifier vs. the unsandboxed way a user would otherwise run
HumanEval (one plain `python -c program+test` subprocess per program, as OpenAI's human-eval
harness does in spirit), side by side in one run, same programs, same number of workers.

    python bench/code_verify.py [--workers N] [--repeat R]

Prints programs/s for the sandbox (fork-server launch, the default, and spawn-per-run), for the
same confinement without the harness split (program + test code in ONE confined process via
`run_python`: what the split between judge and candidate costs), and the plain runner, the
ratios, and how many verdicts are right.
Programs: HumanEval canonical solutions (pass) + a `return None` copy of each (fail), from the
copy shipped in tests/data/code (MIT, see tests/data/SOURCES.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from factory.filters.code.sandbox import Limits, run_many
from factory.filters.code.verify import TestSpec, verify_many

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "code" / "HumanEval.jsonl.gz"


def plain_run(program: str, test: str, timeout: float) -> bool:
    try:
        r = subprocess.run([sys.executable, "-c", program + "\n" + test], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return r.returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    with gzip.open(DATA, "rt") as f:
        rows = [json.loads(line) for line in f]
    programs = [r["prompt"] + r["canonical_solution"] for r in rows] + [r["prompt"] + "    return None\n" for r in rows]
    tests = [r["test"] + f"\ncheck({r['entry_point']})\n" for r in rows] * 2
    programs, tests = programs * args.repeat, tests * args.repeat
    specs = [TestSpec(style="assert", asserts=(t,)) for t in tests]
    expect = ([True] * len(rows) + [False] * len(rows)) * args.repeat

    t = time.perf_counter()
    ours = [v.verdict == "pass" for v in verify_many(programs, specs, workers=args.workers, per_test_s=20)]
    t_ours = time.perf_counter() - t

    t = time.perf_counter()
    spawned = [v.verdict == "pass" for v in verify_many(programs, specs, workers=args.workers, per_test_s=20, launch="spawn")]
    t_spawn = time.perf_counter() - t

    t = time.perf_counter()
    joined = run_many([p + "\n" + tt for p, tt in zip(programs, tests)], workers=args.workers, limits=Limits(wall_s=20, cpu_s=20))
    unsplit = [r.status == "ok" for r in joined]
    t_unsplit = time.perf_counter() - t

    t = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        plain = list(pool.map(lambda pt: plain_run(pt[0], pt[1], 20.0), zip(programs, tests)))
    t_plain = time.perf_counter() - t

    n = len(programs)
    print(f"programs: {n} (HumanEval canonical + return-None copies), workers: {args.workers}, load avg: {os.getloadavg()[0]:.1f}")
    print(f"sandboxed verifier : {n / t_ours:7.1f} programs/s  ({t_ours:.1f} s)  correct verdicts {sum(a == b for a, b in zip(ours, expect))}/{n}")
    print(f"sandboxed, spawn   : {n / t_spawn:7.1f} programs/s  ({t_spawn:.1f} s)  correct verdicts {sum(a == b for a, b in zip(spawned, expect))}/{n}")
    print(f"confined, no split : {n / t_unsplit:7.1f} programs/s  ({t_unsplit:.1f} s)  correct verdicts {sum(a == b for a, b in zip(unsplit, expect))}/{n}")
    print(f"plain subprocess   : {n / t_plain:7.1f} programs/s  ({t_plain:.1f} s)  correct verdicts {sum(a == b for a, b in zip(plain, expect))}/{n}")
    print(f"ratio sandboxed (fork server)/plain throughput: {t_plain / t_ours:.2f}x; spawn/plain: {t_plain / t_spawn:.2f}x")
    print(f"harness split (judge apart from the candidate) costs: {t_ours / t_unsplit:.2f}x the time of the same confinement without it")


if __name__ == "__main__":
    main()
