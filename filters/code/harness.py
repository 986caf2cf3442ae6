"""Test harness that runs INSIDE the sandbox: one process runs all tests of one program.

`factory.filters.code.verify` ships this file into the sandbox box as `main.py` together with
`job.json` (style, program, fn_name, call arguments, asserts, setup code, per-test limit, first
test index) and `in_<k>` stdin files. Expected outputs never enter the box: the harness only
produces what the program did (stdout of test k in `out_<k>`, the JSON of a call's return
value in the record) and the verifier compares outside, so a program cannot read the answers.
Asserts are code and must run here; a program written to attack the harness could forge those.

Protocol (JSON lines on the report fd): `{"ev":"loaded"}` or `{"ev":"compile_error",...}`, then
per test `{"ev":"begin","i":k,"limit_s":s}` ... `{"ev":"end","i":k,"status":...}` with status
ok | wrong_answer (assert) | runtime_error | timeout | memory | output_limit. After a timeout
the harness exits (the program may have left threads spinning); the verifier resumes at k+1.
stdlib only; never imported by the package.
"""

import builtins
import json
import os
import signal
import sys
import threading
import time

REPORT_FD = globals().get("__sandbox_report_fd__", 3)
_real_exit = os._exit

# what APPS/TACO harnesses put in front of solutions (LeetCode-style code uses List[int] etc.),
# as (names it binds, statement); only the statements whose names the program mentions run:
# importing all of them (typing, re, fractions, random, ...) costs more than most programs do
PRELUDE = [
    (("sys",), "import sys"), (("time",), "import time"), (("itertools",), "import itertools"),
    (("collections",), "import collections"), (("functools",), "import functools"), (("math",), "import math"),
    (("heapq",), "import heapq"), (("bisect",), "import bisect"), (("string",), "import string"),
    (("re",), "import re"), (("random",), "import random"), (("fractions",), "import fractions"),
    (("accumulate", "product", "permutations", "combinations", "combinations_with_replacement"),
     "from itertools import accumulate, product, permutations, combinations, combinations_with_replacement"),
    (("Counter", "OrderedDict", "deque", "defaultdict", "ChainMap"),
     "from collections import Counter, OrderedDict, deque, defaultdict, ChainMap"),
    (("lru_cache", "reduce", "cmp_to_key"), "from functools import lru_cache, reduce, cmp_to_key"),
    (("sqrt", "sin", "cos", "tan", "ceil", "fabs", "floor", "gcd", "exp", "log", "log2", "inf"),
     "from math import sqrt, sin, cos, tan, ceil, fabs, floor, gcd, exp, log, log2, inf"),
    (("heappush", "heappop", "heapify", "heappushpop", "heapreplace", "nlargest", "nsmallest"),
     "from heapq import heappush, heappop, heapify, heappushpop, heapreplace, nlargest, nsmallest"),
    (("bisect_left", "bisect_right", "insort"), "from bisect import bisect_left, bisect_right, insort"),
    (("List", "Dict", "Tuple", "Set", "FrozenSet", "Optional", "Union", "Any", "Callable", "Iterable",
      "Iterator", "Generator", "Sequence", "Mapping", "Deque", "DefaultDict", "Type", "TypeVar"),
     "from typing import List, Dict, Tuple, Set, FrozenSet, Optional, Union, Any, Callable, Iterable, "
     "Iterator, Generator, Sequence, Mapping, Deque, DefaultDict, Type, TypeVar"),
]


def _prelude_for(source):
    words = set(source.replace(".", " ").replace("(", " ").replace("[", " ").replace(":", " ").replace(",", " ").split())
    words |= {w.strip("()[]{}:,.=+-*/<>!'\"") for w in words}
    return "\n".join(stmt for names, stmt in PRELUDE if words.intersection(names))


class _Timeout(BaseException):
    """Raised by the timer; a BaseException so `except Exception:` in the program misses it."""


def _report(rec):
    data = (json.dumps(rec) + "\n").encode()
    while data:
        n = os.write(REPORT_FD, data)
        data = data[n:]


def _on_alarm(signum, frame):
    raise _Timeout()


def _jsonable(x, depth=0):
    if depth > 50:
        return repr(x)
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, float):
        return x if x == x and x not in (float("inf"), float("-inf")) else repr(x)
    if isinstance(x, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in x]
    if isinstance(x, (set, frozenset)):
        items = [_jsonable(v, depth + 1) for v in x]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(x, dict):
        return {str(k) if not isinstance(k, str) else k: _jsonable(v, depth + 1) for k, v in x.items()}
    if hasattr(x, "tolist"):  # numpy scalars/arrays
        return _jsonable(x.tolist(), depth + 1)
    return repr(x)


def _classify(exc):
    if isinstance(exc, _Timeout):
        return "timeout"
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, OSError) and exc.errno in (27, 28):  # EFBIG past RLIMIT_FSIZE, ENOSPC box full
        return "output_limit"
    if isinstance(exc, RecursionError):
        return "runtime_error"
    return "runtime_error"


def _err(exc):
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def _join_threads(deadline):
    for t in threading.enumerate():
        if t is threading.main_thread() or t.daemon:
            continue
        t.join(max(0.0, deadline - time.monotonic()))
        if t.is_alive():
            raise _Timeout()


def _new_namespace(name, prelude):
    g = {"__name__": name, "__builtins__": builtins}
    if prelude:
        exec(prelude, g)
    return g


def _set_stdin(path):
    fd = os.open(path, os.O_RDONLY) if path else os.open("/dev/null", os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
    sys.stdin = open(0, "r", encoding="utf-8", errors="replace", closefd=False)


def _set_stdout(path):
    try:
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001 — the previous test's stream may be broken
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.close(fd)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)


def _timed(fn, limit):
    """Run fn() under the per-test timer; return (status, error text, value)."""
    deadline = time.monotonic() + limit
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        value = fn()
        _join_threads(deadline)
        status, err = "ok", None
    except SystemExit as e:
        value = None
        ok = e.code is None or e.code == 0
        status, err = ("ok", None) if ok else ("runtime_error", f"SystemExit: {e.code}")
        try:
            _join_threads(deadline)
        except _Timeout:
            status, err = "timeout", "time limit"
    except AssertionError as e:
        value, status, err = None, "wrong_answer", _err(e)
    except BaseException as e:  # noqa: BLE001 — every failure of the program is a verdict
        value, status, err = None, _classify(e), _err(e) if not isinstance(e, _Timeout) else "time limit"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return status, err, value


def _exit_as_systemexit(code=0):
    # competitive programs end with os._exit(0) after printing; the judge reads their output,
    # so end the test (not the harness) the way a process exit would
    raise SystemExit(code)


def main():
    os._exit = _exit_as_systemexit
    with open("job.json") as f:
        job = json.load(f)
    os.remove("job.json")
    signal.signal(signal.SIGALRM, _on_alarm)
    style = job["style"]
    limit = float(job["time_limit_s"])
    start = int(job.get("start", 0))
    try:
        code = compile(job["program"], "solution.py", "exec")
        mentioned = "\n".join([job["program"], job.get("setup_code") or "", *job.get("asserts", [])])
        prelude = compile(_prelude_for(mentioned), "prelude.py", "exec")
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as e:
        _report({"ev": "compile_error", "error": _err(e)})
        return
    _set_stdin(None)

    if style == "stdin_stdout":
        _report({"ev": "loaded"})
        for k in range(start, int(job["n"])):
            _set_stdin(f"in_{k}")
            _set_stdout(f"out_{k}")
            g = _new_namespace("__main__", prelude)
            _report({"ev": "begin", "i": k, "limit_s": limit})
            status, err, _ = _timed(lambda: exec(code, g), limit)
            try:
                sys.stdout.flush()
            except OSError as e:
                status, err = ("output_limit", _err(e)) if e.errno in (27, 28) else ("runtime_error", _err(e))
            except BaseException as e:  # noqa: BLE001
                status, err = ("runtime_error", _err(e)) if status == "ok" else (status, err)
            _report({"ev": "end", "i": k, "status": status, "error": err})
            if status == "timeout":
                _real_exit(0)
        return

    # call / assert: load the program once (its own time counts against the first test)
    g = _new_namespace("__sandbox_solution__", prelude)
    _set_stdout("out_load")
    _report({"ev": "begin", "i": -1, "limit_s": limit})
    status, err, _ = _timed(lambda: exec(code, g), limit)
    _report({"ev": "end", "i": -1, "status": status, "error": err})
    if status != "ok":
        _report({"ev": "load_error", "status": status if status != "wrong_answer" else "runtime_error", "error": err})
        return
    if style == "assert" and job.get("setup_code"):
        status, err, _ = _timed(lambda: exec(job["setup_code"], g), limit)
        if status != "ok":
            _report({"ev": "load_error", "status": "runtime_error", "error": f"setup code failed: {err}"})
            return
    _report({"ev": "loaded"})

    if style == "call":
        name = job["fn_name"]
        fn = g.get(name)
        if fn is None and isinstance(g.get("Solution"), type):
            try:
                fn = getattr(g["Solution"](), name, None)
            except BaseException as e:  # noqa: BLE001
                _report({"ev": "load_error", "status": "runtime_error", "error": f"Solution(): {_err(e)}"})
                return
        if not callable(fn):
            _report({"ev": "load_error", "status": "runtime_error", "error": f"NameError: function {name!r} is not defined"})
            return
        for k in range(start, int(job["n"])):
            args = json.loads(job["inputs"][k])
            if not isinstance(args, list):
                args = [args]
            _report({"ev": "begin", "i": k, "limit_s": limit})
            status, err, value = _timed(lambda: fn(*args), limit)
            rec = {"ev": "end", "i": k, "status": status, "error": err}
            if status == "ok":
                try:
                    rec["result"] = _jsonable(value)
                    line = json.dumps(rec)
                    if len(line) > 8 * 1024 * 1024:
                        rec = {"ev": "end", "i": k, "status": "output_limit", "error": f"return value of {len(line)} bytes"}
                except BaseException as e:  # noqa: BLE001
                    rec = {"ev": "end", "i": k, "status": "runtime_error", "error": f"result not serialisable: {_err(e)}"}
            _report(rec)
            if status == "timeout":
                return
        return

    asserts = job["asserts"]
    for k in range(start, len(asserts)):
        try:
            test = compile(asserts[k], f"test_{k}.py", "exec")
        except SyntaxError as e:
            _report({"ev": "end", "i": k, "status": "runtime_error", "error": f"test does not compile: {_err(e)}"})
            continue
        _report({"ev": "begin", "i": k, "limit_s": limit})
        status, err, _ = _timed(lambda: exec(test, g), limit)
        _report({"ev": "end", "i": k, "status": status, "error": err})
        if status == "timeout":
            return


if __name__ == "__main__":  # run as the box's main.py; importing it does nothing
    main()
