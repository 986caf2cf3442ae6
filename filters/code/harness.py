"""The test judge, run by the sandbox's init process, and the candidate processes it forks.

Loaded by `sandbox_boot.py` (stdlib only, never imported by the package); exercised by
`python -m pytest -q tests/test_code_verify.py tests/test_sandbox_harness.py`.

The judge (C, pid 1 of the run's pid namespace) never runs the candidate's code. It forks the
candidate (D) and talks to it over two pipes; everything that decides a verdict happens in C or
in the parent, on plain values:

- stdin_stdout: one fresh D per test (stdin from a memfd, stdout through a capped pipe); C
  times it from outside, kills it (and anything it left: `kill(-1)` from a namespace's init) at
  the per-test limit, and sends the exit status and the stdout text to the parent, which
  compares it with the expected output — expected outputs never enter the sandbox.
- call: D loads the program and resolves `fn_name` (a function or a method of `Solution`);
  C sends each test's arguments and gets the return value back BY VALUE (a tagged JSON of
  None/bool/int/float/str/bytes/complex/list/tuple/set/frozenset/dict; anything else becomes an
  opaque handle); the parent compares.
- assert: D loads the program and runs `setup_code`, then sends a snapshot of its globals
  (plain values by value, functions/classes/objects as handles). C reads the assert snippets
  only now (after D was forked, so D's memory never held them) and executes them in ITS OWN
  interpreter: calling a handle is a remote call whose result comes back by value, so `==`,
  `in`, `<` run on C's own builtin objects. A candidate's object with an always-true `__eq__`
  is a handle in C, and a handle equals only itself. Arguments a call mutated (lists, dicts,
  sets, bytearrays) are copied back into C's objects after the call.

D can write anything on its pipe: a forged reply is still just a return value it chose; it has
no fd of the parent's report channel (C's fd 3) and cannot open C's /proc entries (C is not
dumpable), ptrace it (seccomp) or signal it (namespace init). C's records are the only ones
the parent reads. Per-test wall-clock limits are C's; the parent's watchdog backs them
(`begin`/`end` records), and the parent's wall limit backs everything.

Protocol to the parent (JSON lines on fd 3): `compile_error` | (`begin` -1, `end` -1,
`load_error` | `loaded`), then per test `begin` k / `end` k (status ok | wrong_answer |
runtime_error | timeout | memory | output_limit; `stdout` or `result`), then `done`. After a
timeout or crash in call/assert style the judge stops (C then holds the tests; a fresh D forked
from it could read them) and the parent resumes at the next test in a fresh sandbox.
"""

import base64
import builtins
import json
import math
import os
import select
import signal
import struct
import sys
import threading
import time

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
MAX_MSG = 64 * 1024 * 1024  # one reply from the candidate (a return value), in bytes
MAX_NODES = 4_000_000  # values in one encoded reply
SNAPSHOT_NODES = 200_000  # a global bigger than this is sent as a handle
STATUSES = ("ok", "wrong_answer", "runtime_error", "timeout", "memory", "output_limit")


def _prelude_for(source):
    words = set(source.replace(".", " ").replace("(", " ").replace("[", " ").replace(":", " ").replace(",", " ").split())
    words |= {w.strip("()[]{}:,.=+-*/<>!'\"") for w in words}
    return "\n".join(stmt for names, stmt in PRELUDE if words.intersection(names))


class _Timeout(BaseException):
    """The per-test limit (a BaseException so test code's `except Exception:` misses it)."""


class CandidateGone(Exception):
    """The candidate process died, closed its pipe or sent something that is not a reply."""

    def __init__(self, msg, kind="runtime_error"):
        super().__init__(msg)
        self.kind = kind


def _err(exc):
    return f"{type(exc).__name__}: {str(exc)[:300]}"


# --------------------------------------------------------------------------------------------
# framing and the by-value codec
# --------------------------------------------------------------------------------------------


def send_msg(fd, obj):
    data = json.dumps(obj, separators=(",", ":")).encode()
    data = struct.pack("=I", len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def _read_exact(fd, n, deadline):
    out = bytearray()
    while len(out) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Timeout()
            if not select.select([fd], [], [], left)[0]:
                continue
        chunk = os.read(fd, min(n - len(out), 1 << 20))
        if not chunk:
            raise EOFError
        out += chunk
    return bytes(out)


def recv_msg(fd, deadline=None):
    (n,) = struct.unpack("=I", _read_exact(fd, 4, deadline))
    if n > MAX_MSG:
        raise CandidateGone(f"reply of {n} bytes (limit {MAX_MSG})", "output_limit")
    return json.loads(_read_exact(fd, n, deadline))


class _TooBig(Exception):
    pass


def encode(x, handle, budget=None):
    """Plain values by value (tagged JSON), anything else as `handle(x)` (a tagged reference). Exact
    types first; subclasses of plain types (Counter, OrderedDict, namedtuple, IntEnum, numpy
    scalars) as their plain value; numpy arrays through tolist()."""
    count = [0]
    limit = budget or MAX_NODES
    active = set()

    def enc(v, depth):
        count[0] += 1
        if count[0] > limit:
            raise _TooBig()
        t = type(v)
        if v is None or t is bool or t is str or t is int:
            return v
        if t is float:
            return v if math.isfinite(v) else {"$f": repr(v)}
        if depth > 200 or id(v) in active:
            return handle(v)
        if t in (list, tuple, set, frozenset, dict):
            active.add(id(v))
            try:
                if t is list:
                    return [enc(e, depth + 1) for e in v]
                if t is tuple:
                    return {"$t": [enc(e, depth + 1) for e in v]}
                if t is dict:
                    return {"$d": [[enc(k, depth + 1), enc(e, depth + 1)] for k, e in v.items()]}
                return {"$s" if t is set else "$fs": [enc(e, depth + 1) for e in v]}
            finally:
                active.discard(id(v))
        if t is bytes:
            return {"$b": base64.b64encode(v).decode()}
        if t is bytearray:
            return {"$ba": base64.b64encode(bytes(v)).decode()}
        if t is complex:
            return {"$c": [repr(v.real), repr(v.imag)]}
        if isinstance(v, bool):
            return bool(v)
        if isinstance(v, int):
            return enc(int(v), depth)
        if isinstance(v, float):
            return enc(float(v), depth)
        if isinstance(v, str):
            return str.__str__(v)
        if isinstance(v, (list, tuple, set, frozenset, dict)):
            base = next(b for b in (dict, list, tuple, frozenset, set) if isinstance(v, b))
            return enc(base(v), depth)
        if isinstance(v, (bytes, bytearray)):
            return enc(bytes(v), depth)
        if type(v).__module__ == "numpy" and hasattr(v, "tolist"):
            return enc(v.tolist(), depth)
        return handle(v)

    return enc(x, 0)


def decode(v, make_handle, resolve_ref=None):
    """Tagged JSON -> fresh builtin objects (the judge's own); handles through make_handle.
    `$ref` (a module-level object by name: `int`, `math.sqrt`) is only accepted where a
    resolver is given — in the candidate, for arguments the judge sends."""
    if resolve_ref is not None:
        dec = lambda e: decode(e, make_handle, resolve_ref)  # noqa: E731
    else:
        dec = lambda e: decode(e, make_handle)  # noqa: E731
    if isinstance(v, list):
        return [dec(e) for e in v]
    if isinstance(v, dict):
        if len(v) != 1:
            raise ValueError("malformed value")
        ((tag, val),) = v.items()
        if tag == "$t":
            return tuple(dec(e) for e in val)
        if tag == "$d":
            return {dec(k): dec(e) for k, e in val}
        if tag == "$s":
            return {dec(e) for e in val}
        if tag == "$fs":
            return frozenset(dec(e) for e in val)
        if tag == "$b":
            return base64.b64decode(val)
        if tag == "$ba":
            return bytearray(base64.b64decode(val))
        if tag == "$c":
            return complex(float(val[0]), float(val[1]))
        if tag == "$f":
            return float(val)
        if tag == "$h":
            return make_handle(val)
        if tag == "$ref" and resolve_ref is not None:
            return resolve_ref(val)
        raise ValueError(f"unknown tag {tag!r}")
    if v is None or type(v) in (bool, int, float, str):
        return v
    raise ValueError("malformed value")


# --------------------------------------------------------------------------------------------
# D: the candidate side
# --------------------------------------------------------------------------------------------


class _Exit(BaseException):
    pass


def _exit_as_systemexit(code=0):
    # competitive programs end with os._exit(0) after printing; the judge reads their output,
    # so end the run the way a process exit would, with the output flushed
    raise SystemExit(code)


def _exc_info(e):
    bases = [c.__name__ for c in type(e).__mro__ if getattr(builtins, c.__name__, None) is c]
    info = {"type": type(e).__name__, "bases": bases, "msg": str(e)[:300]}
    if isinstance(e, OSError) and e.errno:
        info["errno"] = e.errno
    return info


def candidate_server(rfd, wfd, code, prelude, style, fn_name):
    """D for call/assert styles: load the program, then answer requests until the pipe closes."""
    handles = {}

    def handle(v):
        handles[id(v)] = v
        return {"$h": id(v)}

    def reply(obj):
        send_msg(wfd, obj)

    def resolve_ref(ref):
        import importlib

        obj = importlib.import_module(ref[0])
        for part in ref[1].split("."):
            obj = getattr(obj, part)
        return obj

    def load_value(v):
        return decode(v, lambda hid: handles[hid], resolve_ref)

    os._exit = _exit_as_systemexit
    g = {"__name__": "__sandbox_solution__", "__builtins__": builtins}
    try:
        exec(prelude, g)
        exec(code, g)
    except BaseException as e:  # noqa: BLE001
        reply({"exc": _exc_info(e)})
        return
    reply({"ok": True})
    while True:
        try:
            req = recv_msg(rfd)
        except (EOFError, OSError, ValueError):
            return
        op = req.get("op")
        try:
            if op == "setup":
                exec(compile(req["code"], "setup.py", "exec"), g)
                reply({"ok": True})
            elif op == "snapshot":
                out = {}
                for name, v in list(g.items()):
                    if name.startswith("__") or type(v).__name__ == "module":
                        continue
                    try:
                        out[name] = encode(v, handle, SNAPSHOT_NODES)
                    except _TooBig:
                        out[name] = handle(v)
                reply({"value": {"$d": [[k, v] for k, v in out.items()]}})
            elif op == "resolve":
                fn = g.get(fn_name)
                if fn is None and isinstance(g.get("Solution"), type):
                    fn = getattr(g["Solution"](), fn_name, None)
                if not callable(fn):
                    raise NameError(f"function {fn_name!r} is not defined")
                reply({"value": handle(fn)})
            elif op == "call":
                fn = handles[req["h"]]
                args = [load_value(a) for a in req["args"]]
                kwargs = {k: load_value(a) for k, a in req.get("kw", {}).items()}
                result = fn(*args, **kwargs)
                out = {"value": encode(result, handle)}
                mut = {}
                for i, (a, raw) in enumerate(zip(args, req["args"])):
                    if type(a) in (list, dict, set, bytearray):
                        now = encode(a, handle)
                        if now != raw:
                            mut[str(i)] = now
                if mut:
                    out["mut"] = mut
                reply(out)
            elif op == "getattr":
                reply({"value": encode(getattr(handles[req["h"]], req["name"]), handle)})
            elif op == "str":
                reply({"value": str.__str__(str(handles[req["h"]]))})
            elif op == "repr":
                reply({"value": str.__str__(repr(handles[req["h"]]))})
            elif op == "len":
                reply({"value": int(len(handles[req["h"]]))})
            elif op == "bool":
                reply({"value": bool(handles[req["h"]])})
            elif op == "getitem":
                reply({"value": encode(handles[req["h"]][load_value(req["key"])], handle)})
            elif op == "iter":
                reply({"value": handle(iter(handles[req["h"]]))})
            elif op == "next":
                try:
                    reply({"value": encode(next(handles[req["h"]]), handle)})
                except StopIteration:
                    reply({"stop": True})
            else:
                reply({"exc": {"type": "RuntimeError", "bases": ["RuntimeError"], "msg": f"unknown op {op!r}"}})
        except _TooBig:
            reply({"exc": {"type": "OverflowError", "bases": ["OverflowError"], "msg": "return value too large to send", "too_big": True}})
        except BaseException as e:  # noqa: BLE001 — the program's exception is the reply
            try:
                reply({"exc": _exc_info(e)})
            except BaseException:  # noqa: BLE001
                return


def run_stdio(code, prelude, status_fd):
    """D for stdin_stdout: run the program once as __main__ (fds 0/1 set up by the judge)."""
    os._exit = _exit_as_systemexit
    sys.stdin = open(0, "r", encoding="utf-8", errors="replace", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
    g = {"__name__": "__main__", "__builtins__": builtins}
    exit_code = 0
    try:
        exec(prelude, g)
        exec(code, g)
    except SystemExit as e:
        exit_code = 0 if e.code is None or e.code == 0 else 1
        if exit_code:
            _status(status_fd, {"type": "SystemExit", "msg": str(e.code)[:200]})
    except BaseException as e:  # noqa: BLE001
        _status(status_fd, _exc_info(e))
        import traceback

        traceback.print_exc()
        exit_code = 1
    try:
        threading._shutdown()  # the interpreter's own exit step: wait for non-daemon threads
    except BaseException:  # noqa: BLE001
        pass
    try:
        sys.stdout.flush()
    except BaseException as e:  # noqa: BLE001
        _status(status_fd, _exc_info(e))
        exit_code = 1
    raise _Exit(exit_code)


def _status(fd, info):
    try:
        os.write(fd, json.dumps(info).encode()[:4000] + b"\n")
    except OSError:
        pass


# --------------------------------------------------------------------------------------------
# C: the judge
# --------------------------------------------------------------------------------------------


def _on_alarm(signum, frame):
    raise _Timeout()


def _kind_of(info):
    """A failure kind from the (candidate-reported, so only informative) exception."""
    t = info.get("type") if isinstance(info, dict) else None
    bases = info.get("bases", []) if isinstance(info, dict) else []
    if t == "MemoryError" or "MemoryError" in bases:
        return "memory"
    if "OSError" in bases and info.get("errno") in (27, 28):  # EFBIG past RLIMIT_FSIZE, ENOSPC
        return "output_limit"
    return "runtime_error"


def _wait(pid, timeout=5.0):
    """Reap pid; SIGKILL it if it has not ended within timeout. Returns the exit code (<0: signal)."""
    end = time.monotonic() + timeout
    while True:
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return -signal.SIGKILL
        if got:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > end:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            end = time.monotonic() + 60
        time.sleep(0.001)


def _jsonable(x, depth=0):
    """The judge's own decoded value -> the JSON shape the parent compares (tuples as lists,
    sets as sorted lists, dict keys as strings); handles become their repr."""
    if depth > 100:
        return repr(x)
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else repr(x)
    if isinstance(x, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in x]
    if isinstance(x, (set, frozenset)):
        items = [_jsonable(v, depth + 1) for v in x]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(x, dict):
        return {k if isinstance(k, str) else str(k): _jsonable(v, depth + 1) for k, v in x.items()}
    if isinstance(x, (bytes, bytearray)):
        return x.decode("latin-1")
    if isinstance(x, Remote):
        return x._call_op("repr")
    return repr(x)


class _RemoteExceptions:
    cache = {}

    @classmethod
    def make(cls, info):
        """An exception the judge can raise for the candidate's: the same name, deriving from the
        nearest builtin class in its MRO (so `except ValueError` in a test still matches)."""
        if not isinstance(info, dict):
            return RuntimeError("malformed exception from the program")
        name = str(info.get("type", "Exception"))[:100]
        base = RuntimeError
        for b in info.get("bases") or []:
            c = getattr(builtins, str(b), None)
            if isinstance(c, type) and issubclass(c, BaseException):
                base = c
                break
        if base in (SystemExit, KeyboardInterrupt, GeneratorExit) or not issubclass(base, Exception):
            return RuntimeError(f"the program raised {name}: {str(info.get('msg', ''))[:200]}")
        msg = str(info.get("msg", ""))[:300]
        if base is OSError and isinstance(info.get("errno"), int):
            return OSError(info["errno"], msg)
        if getattr(builtins, name, None) is base:
            try:
                return base(msg)
            except BaseException:  # noqa: BLE001
                return RuntimeError(msg)
        key = (name, base)
        if key not in cls.cache:
            try:
                cls.cache[key] = type(name, (base,), {})
            except TypeError:
                cls.cache[key] = RuntimeError
        try:
            return cls.cache[key](msg)
        except BaseException:  # noqa: BLE001
            return RuntimeError(msg)


class Conn:
    """The judge's end of the pipes to one candidate process."""

    def __init__(self, pid, wfd, rfd):
        self.pid, self.wfd, self.rfd = pid, wfd, rfd
        self.deadline = None
        self.alive = True

    def request(self, req):
        if not self.alive:
            raise CandidateGone("the program process is gone")
        try:
            send_msg(self.wfd, req)
            rep = recv_msg(self.rfd, self.deadline)
        except (EOFError, BrokenPipeError, OSError) as e:
            self.alive = False
            raise CandidateGone(f"the program process ended during a call ({type(e).__name__})") from None
        except (ValueError, RecursionError, struct.error) as e:
            self.alive = False
            raise CandidateGone(f"unreadable reply from the program ({type(e).__name__})") from None
        if not isinstance(rep, dict):
            self.alive = False
            raise CandidateGone("unreadable reply from the program")
        if "exc" in rep:
            if isinstance(rep["exc"], dict) and rep["exc"].get("too_big"):
                raise CandidateGone("return value too large to send", "output_limit")
            raise _RemoteExceptions.make(rep["exc"])
        return rep

    def value(self, req):
        rep = self.request(req)
        if rep.get("stop"):
            raise StopIteration
        try:
            return decode(rep.get("value"), lambda hid: Remote(self, hid))
        except (ValueError, TypeError, RecursionError, KeyError) as e:
            raise CandidateGone(f"unreadable value from the program ({type(e).__name__})") from None


def _to_wire(x):
    """Judge-side arguments: plain values by value, the candidate's own handles back as ids."""

    def handle(v):
        if isinstance(v, Remote):
            return {"$h": v._hid}
        # a module-level object the candidate can import itself: int, str, math.sqrt, ...
        mod, qual = getattr(v, "__module__", None), getattr(v, "__qualname__", None)
        if isinstance(mod, str) and isinstance(qual, str) and "<" not in qual and mod in sys.modules:
            obj = sys.modules[mod]
            for part in qual.split("."):
                obj = getattr(obj, part, None)
            if obj is v:
                return {"$ref": [mod, qual]}
        raise TypeError(f"cannot pass a {type(v).__name__} to the program under test")

    return encode(x, handle)


class Remote:
    """An object that lives in the candidate process. Calls, attributes, str/repr, len, bool,
    items and iteration are forwarded and come back by value; equality and hashing are the
    judge's own (a handle equals only itself), comparisons and arithmetic are not forwarded."""

    __slots__ = ("_conn", "_hid")

    def __init__(self, conn, hid):
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_hid", hid)

    def _call_op(self, op, **kw):
        return self._conn.value({"op": op, "h": self._hid, **kw})

    def __call__(self, *args, **kwargs):
        wire = [_to_wire(a) for a in args]
        rep = self._conn.request({"op": "call", "h": self._hid, "args": wire, "kw": {k: _to_wire(v) for k, v in kwargs.items()}})
        mk = lambda hid: Remote(self._conn, hid)  # noqa: E731
        try:
            value = decode(rep.get("value"), mk)
            for i, new in (rep.get("mut") or {}).items():
                a = args[int(i)]
                fresh = decode(new, mk)
                if type(a) is list and type(fresh) is list:
                    a[:] = fresh
                elif type(a) is dict and type(fresh) is dict:
                    a.clear()
                    a.update(fresh)
                elif type(a) is set and type(fresh) is set:
                    a.clear()
                    a.update(fresh)
                elif type(a) is bytearray and type(fresh) is bytearray:
                    a[:] = fresh
        except (ValueError, TypeError, RecursionError, KeyError, IndexError) as e:
            raise CandidateGone(f"unreadable value from the program ({type(e).__name__})") from None
        return value

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._call_op("getattr", name=name)

    def __str__(self):
        s = self._call_op("str")
        return s if type(s) is str else "<?>"

    def __repr__(self):
        s = self._call_op("repr")
        return s if type(s) is str else "<?>"

    def __len__(self):
        n = self._call_op("len")
        if type(n) is not int:
            raise TypeError("len() of the program's object is not an int")
        return n

    def __bool__(self):
        return self._call_op("bool") is True

    def __getitem__(self, key):
        return self._call_op("getitem", key=_to_wire(key))

    def __iter__(self):
        it = self._call_op("iter")
        while True:
            try:
                yield it._call_op("next")
            except StopIteration:
                return

    def __contains__(self, item):
        return any(item == v for v in self)  # the judge's ==, on by-value items

    def __eq__(self, other):
        return isinstance(other, Remote) and other._hid == self._hid and other._conn is self._conn

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(("remote", self._hid))


def _status_of(exc):
    if isinstance(exc, _Timeout):
        return "timeout", "time limit"
    if isinstance(exc, CandidateGone):
        return exc.kind, str(exc)
    if isinstance(exc, AssertionError):
        return "wrong_answer", _err(exc)
    if isinstance(exc, MemoryError):
        return "memory", _err(exc)
    if isinstance(exc, OSError) and exc.errno in (27, 28):
        return "output_limit", _err(exc)
    return "runtime_error", _err(exc)


def judge(ctx):
    """C's entry point for init="judge"."""
    job = json.loads(ctx.section("job"))
    signal.signal(signal.SIGALRM, _on_alarm)
    style = job["style"]
    limit = float(job["time_limit_s"])
    start = int(job.get("start", 0))
    n = int(job["n"])
    program = job["program"]
    try:
        code = compile(program, "solution.py", "exec")
        mentioned = "\n".join([program, job.get("setup_code") or ""])
        prelude = compile(_prelude_for(mentioned), "prelude.py", "exec")
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as e:
        ctx.report({"ev": "compile_error", "error": _err(e)})
        ctx.report({"ev": "done"})
        return
    if style == "stdin_stdout":
        _judge_stdio(ctx, job, code, prelude, start, n, limit)
    else:
        _judge_calls(ctx, job, code, prelude, start, n, limit)
    ctx.report({"ev": "done"})


def _judge_stdio(ctx, job, code, prelude, start, n, limit):
    cap = int(job["stdout_bytes"])
    ctx.report({"ev": "loaded"})
    for k in range(start, n):
        stdin = os.memfd_create(f"stdin-{k}")
        data = ctx.section(f"input:{k}")
        view = memoryview(data)
        while view:
            view = view[os.write(stdin, view):]
        os.lseek(stdin, 0, os.SEEK_SET)
        out_r, out_w = os.pipe()
        st_r, st_w = os.pipe()
        ctx.report({"ev": "begin", "i": k, "limit_s": limit})
        t0 = time.monotonic()

        def body():
            try:
                run_stdio(code, prelude, 3)
            except _Exit as e:
                _hard_exit(e.args[0])

        pid = ctx.spawn(body, {0: stdin, 1: out_w, 2: 2, 3: st_w})
        for fd in (stdin, out_w, st_w):
            os.close(fd)
        deadline = t0 + limit
        out = bytearray()
        status, err = None, None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                status, err = "timeout", "time limit"
                break
            if not select.select([out_r], [], [], left)[0]:
                continue
            chunk = os.read(out_r, 1 << 16)
            if not chunk:
                break
            out += chunk
            if len(out) > cap:
                status, err = "output_limit", f"stdout exceeded {cap} bytes"
                break
        if status is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        rc = _wait(pid, max(0.05, deadline - time.monotonic()) if status is None else 5.0)
        ctx.kill_all()  # whatever it left behind must not write into the next test
        os.close(out_r)
        raw = b""
        try:
            os.set_blocking(st_r, False)
            raw = os.read(st_r, 4096)
        except OSError:
            pass
        os.close(st_r)
        if status is None:
            if rc == 0:
                status = "ok"
            elif rc == -signal.SIGXCPU or (rc == -signal.SIGKILL and time.monotonic() >= deadline):
                status, err = "timeout", "time limit"
            else:
                info = {}
                try:
                    info = json.loads(raw.split(b"\n", 1)[0]) if raw else {}
                except ValueError:
                    pass
                status = _kind_of(info)
                err = f"{info.get('type', 'exit')}: {str(info.get('msg', rc))[:300]}" if isinstance(info, dict) and info else f"exit status {rc}"
        rec = {"ev": "end", "i": k, "status": status, "error": err}
        if status == "ok":
            rec["stdout"] = out.decode("utf-8", errors="replace")
        ctx.report(rec)


def _hard_exit(code):
    import posix

    posix._exit(code)


def _judge_calls(ctx, job, code, prelude, start, n, limit):
    style = job["style"]
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()

    def body():
        candidate_server(3, 4, code, prelude, style, job.get("fn_name"))
        _hard_exit(0)

    devnull = os.open("/dev/null", os.O_RDWR)
    pid = ctx.spawn(body, {0: devnull, 1: devnull, 2: 2, 3: req_r, 4: rep_w})
    for fd in (devnull, req_r, rep_w):
        os.close(fd)
    conn = Conn(pid, req_w, rep_r)

    def timed(fn):
        conn.deadline = time.monotonic() + limit
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            value = fn()
            return "ok", None, value
        except BaseException as e:  # noqa: BLE001 — every failure is a verdict
            st, err = _status_of(e)
            return st, err, None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            conn.deadline = None

    def stop_candidate():
        conn.alive = False
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        _wait(pid)
        ctx.kill_all()

    def fail_load(status, err):
        ctx.report({"ev": "load_error", "status": status if status != "wrong_answer" else "runtime_error", "error": err})
        stop_candidate()

    # load: the program's own top-level time counts against the first test
    ctx.report({"ev": "begin", "i": -1, "limit_s": limit})
    status, err, _ = timed(lambda: _first_reply(conn))
    ctx.report({"ev": "end", "i": -1, "status": status, "error": err})
    if status != "ok":
        return fail_load(status, err)
    if style == "assert" and job.get("setup_code"):
        status, err, _ = timed(lambda: conn.request({"op": "setup", "code": job["setup_code"]}))
        if status != "ok":
            return fail_load("runtime_error", f"setup code failed: {err}")
    if style == "call":
        status, err, fn = timed(lambda: conn.value({"op": "resolve"}))
        if status != "ok":
            return fail_load("runtime_error", err)
    else:
        status, err, snap = timed(lambda: conn.value({"op": "snapshot"}))
        if status != "ok" or not isinstance(snap, dict):
            return fail_load("runtime_error", err or "no globals from the program")
    ctx.report({"ev": "loaded"})

    if style == "call":
        inputs = json.loads(ctx.section("inputs"))
        for k in range(start, n):
            args = json.loads(inputs[k])
            if not isinstance(args, list):
                args = [args]
            ctx.report({"ev": "begin", "i": k, "limit_s": limit})
            status, err, value = timed(lambda: fn(*args))
            rec = {"ev": "end", "i": k, "status": status, "error": err}
            if status == "ok":
                st2, err2, shaped = timed(lambda: _jsonable(value))
                if st2 != "ok":
                    rec.update(status=st2, error=err2)
                else:
                    rec["result"] = shaped
            ctx.report(rec)
            if status in ("timeout", "memory") or not conn.alive:
                return stop_candidate()
        return stop_candidate()

    # assert: the tests are read only now; the candidate's memory never held them
    asserts = json.loads(ctx.section("secret"))
    ns = {"__name__": "__main__", "__builtins__": builtins}
    test_prelude = _prelude_for("\n".join(asserts))
    if test_prelude:
        exec(compile(test_prelude, "prelude.py", "exec"), ns)
    ns.update(snap)
    for k in range(start, len(asserts)):
        try:
            test = compile(asserts[k], f"test_{k}.py", "exec")
        except SyntaxError as e:
            ctx.report({"ev": "end", "i": k, "status": "runtime_error", "error": f"test does not compile: {_err(e)}"})
            continue
        ctx.report({"ev": "begin", "i": k, "limit_s": limit})
        status, err, _ = timed(lambda: exec(test, ns))
        ctx.report({"ev": "end", "i": k, "status": status, "error": err})
        if status in ("timeout", "memory") or not conn.alive:
            return stop_candidate()
    stop_candidate()


def _first_reply(conn):
    """The candidate's first message: its program loaded, or the exception it raised."""
    try:
        rep = recv_msg(conn.rfd, conn.deadline)
    except EOFError:
        conn.alive = False
        raise CandidateGone("the program process ended while loading") from None
    except (ValueError, struct.error) as e:
        conn.alive = False
        raise CandidateGone(f"unreadable reply from the program ({type(e).__name__})") from None
    if isinstance(rep, dict) and "exc" in rep:
        raise _RemoteExceptions.make(rep["exc"])
    if not (isinstance(rep, dict) and rep.get("ok") is True):
        raise CandidateGone("unreadable reply from the program")
    return None
