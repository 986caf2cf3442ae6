"""The symbolic stage, run inside worker processes: math-verify (sympy) on LaTeX forms, and a
pool of those workers with a hard wall-clock limit per pair.

`SymbolicPool(workers=, timeout_s=)` keeps up to `workers` processes alive (subprocesses that
import sympy/math-verify once; `run` starts one per 24 pairs it is given, up to `workers`, since a
start costs ~1 s of imports). A worker says ready after one warm-up pair and warms the other
kinds of answer while it waits for work (`warm_up="idle"`, the default). `run(pairs)` hands each (gold, pred) pair to an idle worker over
a pipe and waits on all pipes at once; a worker that passes its pair's deadline is SIGKILLed
and replaced, its pair gets `timeout`, and the other pairs go on. No signals, no threads:
math-verify's own `signal.alarm` timeouts are switched off (`parsing_timeout=None`,
`timeout_seconds=None`) because the kill is the limit.

Worker results: "correct", "wrong", "gold_unparseable", "pred_unparseable", "timeout", "error".

Exercised by `python -m pytest -q tests/test_math_verify.py -k timeout` and `python bench/verify_math.py`.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import time
from collections import deque
from functools import lru_cache
from multiprocessing.connection import wait
from typing import Any, Literal

# "idle" (default): one pair before the worker says ready, then the other kinds of answer while
# it waits for work (a real pair waits at most one warm-up pair, ~0.1 s) — a fast start that still
# reaches the steady state; "full" exercises every kind before ready (steady-state benchmarks);
# "minimal" one pair and nothing more (tests)
WarmUp = Literal["idle", "full", "minimal"]
_WARM_UPS = ("idle", "full", "minimal")

# ------------------------------------------------------------------------------------------
# Worker side
# ------------------------------------------------------------------------------------------


def _quiet_math_verify() -> None:
    """We disable math-verify's signal timeouts on purpose; silence its one-time warning."""
    import math_verify.grader as grader
    import math_verify.parser as parser

    parser.TIMEOUT_WARNING_SHOWN = True
    grader.TIMEOUT_WARNING_SHOWN = True
    try:
        import math_verify.utils as utils

        utils.TIMEOUT_WARNING_SHOWN = True
    except ImportError:  # pragma: no cover - older math-verify
        pass


@lru_cache(maxsize=8192)
def _parse(latex: str) -> tuple[Any, ...]:
    """Parsed form of one answer (cached: the same gold repeats across the n samples)."""
    from math_verify import LatexExtractionConfig, parse

    # The answer is already extracted; wrapping it in \boxed{} makes math-verify take all of it
    # (with plain `$..$` it may pick a sub-span).
    return tuple(
        parse(
            "\\boxed{" + latex + "}",
            extraction_config=[LatexExtractionConfig(boxed_match_priority=0)],
            parsing_timeout=None,
        )
    )


def symbolic_verdict(gold: str, pred: str) -> str:
    """Compare two LaTeX answers with math-verify; no timeout here (the pool kills)."""
    from math_verify import verify

    # math-verify falls back to returning the raw string when it cannot build a sympy object;
    # a bare string is not a parse (comparing it would only repeat the string stage)
    g = _parse(gold)
    if not any(not isinstance(x, str) for x in g):
        return "gold_unparseable"
    p = _parse(pred)
    if not any(not isinstance(x, str) for x in p):
        return "pred_unparseable"
    return "correct" if verify(list(g), list(p), timeout_seconds=None) else "wrong"


# One pair per kind of answer. sympy imports and builds much of its machinery on first use
# (sets, trig simplification, matrices, relations): measured on the shipped traces, the first
# pass over the pairs that reach this stage took 2.7x the second. Paying that before "ready"
# keeps it out of every pair's time limit and out of the steady state.
_WARM_UP = (
    ("\\frac{1}{2}", "0.5"),
    ("(1,2)", "[1,2]"),
    ("\\sin x + \\cos(y)", "\\cos y + \\sin(x)"),
    ("(0,1]\\cup[2,\\infty)", "[2,\\infty)\\cup(0,1]"),
    ("\\{1,2\\}", "\\{2,1\\}"),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&5\\end{pmatrix}"),
    ("y=2x+1", "y=1+2x"),
    ("3+4i", "4i+3"),
    ("x^2-1", "(x-1)(x+1)"),
    ("\\frac{\\sqrt{2}}{2}", "\\sqrt{2}/2"),
    ("\\log_2 8", "3"),
    ("\\tan 30^\\circ", "\\frac{\\sqrt3}{3}"),
    ("\\dbinom{5}{2}", "10"),
    ("5x - 7y + 11z + 4 = 0", "5x-7y+11z=-4"),
    ("a_5", "b^2"),
    ("\\pm 2", "2, -2"),
    ("x \\in [1, 2]", "1 \\le x \\le 2"),
)


def _worker_main() -> None:
    """Read JSON lines [task_id, gold, pred] on stdin, write [task_id, result] on stdout."""
    import json
    import os
    import select
    import sys

    _quiet_math_verify()
    # warm up the LaTeX grammar and sympy caches before the first real pair arrives, so the
    # start-up overlaps the caller's fast stages instead of eating a pair's time limit
    mode = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--warm-up=")), "idle")
    before = _WARM_UP if mode == "full" else _WARM_UP[:1]
    later = list(_WARM_UP[1:]) if mode == "idle" else []
    for gold, pred in before:
        symbolic_verdict(gold, pred)
    out = sys.stdout
    out.write(json.dumps("ready") + "\n")  # the pool starts a pair's clock only after this
    out.flush()
    fd = sys.stdin.fileno()
    buf = b""
    while True:
        if b"\n" not in buf:
            if later and not select.select([fd], [], [], 0)[0]:
                gold, pred = later.pop(0)  # nothing to do: warm the next kind of answer
                try:
                    symbolic_verdict(gold, pred)
                except Exception:  # pragma: no cover - a warm-up pair never fails in practice
                    pass
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break  # EOF: the pool closed
            buf += chunk
            continue
        line, buf = buf.split(b"\n", 1)
        try:
            task_id, gold, pred = json.loads(line)
        except ValueError:
            continue
        try:
            result = symbolic_verdict(gold, pred)
        except Exception:  # a sympy failure on one pair must not end the worker
            result = "error"
        out.write(json.dumps([task_id, result]) + "\n")
        out.flush()


# ------------------------------------------------------------------------------------------
# Pool side
# ------------------------------------------------------------------------------------------


class _Worker:
    """One `python -m factory.filters.math.symbolic` child speaking JSON lines over pipes.

    A plain subprocess rather than multiprocessing: spawn/forkserver children re-run the
    caller's __main__ (scripts without a main guard would recurse), fork children inherit
    the caller's threads (polars, torch). Start-up is the import of sympy + math-verify (~0.8 s).
    """

    def __init__(self, *, warm_up: WarmUp = "idle") -> None:
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "factory.filters.math.symbolic", f"--warm-up={warm_up}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        self.fd = self.proc.stdout.fileno()
        self.buf = b""
        self.task: int | None = None
        self.deadline = 0.0
        self.ready = False
        self.started = time.monotonic()

    def send(self, task_id: int, gold: str, pred: str) -> None:
        self.proc.stdin.write((json.dumps([task_id, gold, pred]) + "\n").encode())
        self.proc.stdin.flush()

    def read_message(self) -> object | None:
        """Read what is available; return the next full JSON line, None when it is not
        complete yet. Raises EOFError when the worker died."""
        if b"\n" not in self.buf:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
            if b"\n" not in self.buf:
                return None
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def kill(self) -> None:
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


PAIRS_PER_WORKER = 24


class SymbolicPool:
    """Persistent worker processes with a per-pair wall-clock limit. Use as a context manager
    or call `close()`; an atexit hook closes forgotten pools."""

    def __init__(self, *, workers: int | None = None, timeout_s: float = 5.0, warm_up: WarmUp = "idle"):
        if warm_up not in _WARM_UPS:
            raise ValueError(f"warm_up: expected one of {', '.join(_WARM_UPS)}, found {warm_up!r}")
        self.warm_up = warm_up
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, found {timeout_s}")
        self.n_workers = max(1, workers or os.cpu_count() or 1)
        self.timeout_s = float(timeout_s)
        # a worker imports sympy + math-verify and warms up before it says "ready" (~1 s idle,
        # much longer on a loaded machine); pairs never wait on that clock
        self.start_limit_s = 300.0
        self._workers: list[_Worker] = []
        self.stats: dict[str, float] = {"pairs": 0, "timeouts": 0, "errors": 0, "restarts": 0, "seconds": 0.0}
        atexit.register(self.close)

    def __enter__(self) -> SymbolicPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, n: int | None = None) -> None:
        """Start n workers (default: all) now; they import in the background and `run` finds
        them ready."""
        self._ensure(self.n_workers if n is None else n)

    def _ensure(self, n: int) -> None:
        if not self._workers:
            import importlib.util

            if importlib.util.find_spec("math_verify") is None:
                from factory.schemas.errors import MissingDependencyError

                raise MissingDependencyError("math-verify", purpose="the symbolic stage of the math verifier")
        while len(self._workers) < min(n, self.n_workers):
            self._workers.append(_Worker(warm_up=self.warm_up))

    def run(self, pairs: list[tuple[str, str]]) -> list[str]:
        """Verdict string per (gold_latex, pred_latex) pair, in order."""
        results: list[str | None] = [None] * len(pairs)
        if not pairs:
            return []
        t_run = time.monotonic()
        # a worker's start (~1 s of imports) is worth ~PAIRS_PER_WORKER pairs of sympy: a batch
        # of 18 pairs is done sooner by one warm worker than by waiting for a second one
        self._ensure(max(1, -(-len(pairs) // PAIRS_PER_WORKER)))
        todo = deque(range(len(pairs)))
        busy: dict[int, _Worker] = {}  # fd -> worker running a pair
        starting: dict[int, _Worker] = {w.fd: w for w in self._workers if not w.ready}
        idle = [w for w in self._workers if w.ready]
        while todo or busy:
            while todo and idle:
                w = idle.pop()
                k = todo.popleft()
                try:
                    w.send(k, pairs[k][0], pairs[k][1])
                except (BrokenPipeError, OSError):
                    todo.appendleft(k)
                    fresh = self._replace(w)
                    starting[fresh.fd] = fresh
                    continue
                w.task = k
                # the clock starts when a ready worker takes the pair, not when the batch starts
                w.deadline = time.monotonic() + self.timeout_s
                busy[w.fd] = w
            deadlines = [w.deadline for w in busy.values()]
            deadlines += [w.started + self.start_limit_s for w in starting.values()]
            ready = wait(list(busy) + list(starting), timeout=max(0.0, min(deadlines) - time.monotonic()))
            for fd in ready:
                if fd in starting:
                    w = starting[fd]
                    try:
                        msg = w.read_message()
                    except (EOFError, OSError, ValueError) as exc:
                        starting.pop(fd)
                        self._workers.remove(w)
                        w.kill()
                        raise RuntimeError(
                            "the math symbolic worker (python -m factory.filters.math.symbolic) exited while "
                            "starting; expected it to import sympy and math-verify; run that command to see why"
                        ) from exc
                    if msg == "ready":
                        starting.pop(fd)
                        w.ready = True
                        idle.append(w)
                    continue
                w = busy[fd]
                try:
                    msg = w.read_message()
                except (EOFError, OSError, ValueError):
                    # the worker died (e.g. out of memory): its pair errs, the worker is replaced
                    busy.pop(fd)
                    results[w.task] = "error"
                    self.stats["errors"] += 1
                    fresh = self._replace(w)
                    starting[fresh.fd] = fresh
                    continue
                if msg is None:
                    continue
                busy.pop(fd)
                k, res = msg
                results[k] = res
                if res == "error":
                    self.stats["errors"] += 1
                w.task = None
                idle.append(w)
            now = time.monotonic()
            for fd, w in list(busy.items()):
                if w.deadline <= now:
                    busy.pop(fd)
                    results[w.task] = "timeout"
                    self.stats["timeouts"] += 1
                    fresh = self._replace(w)
                    starting[fresh.fd] = fresh
            for fd, w in list(starting.items()):
                if w.started + self.start_limit_s <= now:
                    starting.pop(fd)
                    self._workers.remove(w)
                    w.kill()
                    raise RuntimeError(
                        f"a math symbolic worker did not start within {self.start_limit_s:.0f} s; expected "
                        "sympy and math-verify to import in a few seconds; the machine may be overloaded"
                    )
        self.stats["pairs"] += len(pairs)
        self.stats["seconds"] += time.monotonic() - t_run
        return [r or "error" for r in results]

    def _replace(self, w: _Worker) -> _Worker:
        w.kill()
        self._workers.remove(w)
        fresh = _Worker(warm_up=self.warm_up)
        self._workers.append(fresh)
        self.stats["restarts"] += 1
        return fresh

    def close(self) -> None:
        for w in self._workers:
            try:
                w.proc.stdin.close()  # EOF ends the worker's loop
            except OSError:
                pass
        for w in self._workers:
            try:
                w.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                w.kill()
            try:
                w.proc.stdout.close()
            except OSError:
                pass
        self._workers = []


if __name__ == "__main__":
    _worker_main()
