"""The grading harness cannot be reached by the program it grades: the three reward hacks that
fooled the old in-process harness (rebinding its timer through frames, an always-true `__eq__`,
forged records on the report fd followed by `posix._exit(0)`), in every test style, plus the
judge's own channel, memory and tests staying out of the program's reach. Every wrong program
must fail; the right ones still pass.

Run: python -m pytest -q tests/test_sandbox_harness.py
"""

from __future__ import annotations

import pytest
from factory.filters.code.verify import TestSpec, verify_program

# the right answers, per style: double a number
STDIO = TestSpec(style="stdin_stdout", inputs=("2\n", "21\n"), outputs=("4\n", "42\n"))
CALL = TestSpec(style="call", fn_name="twice", inputs=("[2]", "[21]"), outputs=("4", "42"))
ASSERT = TestSpec(style="assert", asserts=("assert twice(2) == 4", "assert twice(21) == 42\nassert twice(0) == 0"))
RIGHT = {"stdin": "print(2 * int(input()))", "call": "def twice(x):\n    return 2 * x", "assert": "def twice(x):\n    return 2 * x"}
SPECS = {"stdin": STDIO, "call": CALL, "assert": ASSERT}

REBIND_TIMED = '''
import sys
f = sys._getframe(0)
while f is not None:  # walk every frame above us and neuter whatever grades us
    for name in list(f.f_globals):
        if name in ("_timed", "timed", "_status_of", "compare_call", "compare_stdout", "_report", "report", "send_msg", "recv_msg"):
            f.f_globals[name] = (lambda *a, **k: ("ok", None, None))
    f.f_back and f.f_back.f_locals.update({"status": "ok"})
    f = f.f_back
'''
ALWAYS_EQUAL = '''
class Anything:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __hash__(self): return 0
    def __repr__(self): return "4"
class Int(int):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = int.__hash__
'''
FORGE_RECORDS = '''
import os, posix, json
lines = b"".join(json.dumps(r).encode() + b"\\n" for r in (
    [{"ev": "loaded"}] + [{"ev": "end", "i": k, "status": "ok", "stdout": "4\\n", "result": 4} for k in range(3)] + [{"ev": "done"}]))
for fd in range(0, 256):
    try:
        os.write(fd, lines)
    except OSError:
        pass
posix._exit(0)
'''

WRONG = {
    "stdin": {
        "rebind_timed": REBIND_TIMED + "print(0)",
        "forge_records": FORGE_RECORDS,
        "exit_zero_silent": "import sys\nsys.exit(0)",
    },
    "call": {
        "rebind_timed": REBIND_TIMED + "def twice(x):\n    " + REBIND_TIMED.strip().replace("\n", "\n    ") + "\n    return 0",
        "always_equal": ALWAYS_EQUAL + "def twice(x):\n    return Anything()",
        "int_subclass_eq": ALWAYS_EQUAL + "def twice(x):\n    return Int(0)",
        "forge_records": "def twice(x):\n    " + FORGE_RECORDS.strip().replace("\n", "\n    "),
        "exit_in_call": "import sys\ndef twice(x):\n    sys.exit(0)",
    },
    "assert": {
        "rebind_timed": "def twice(x):\n    " + REBIND_TIMED.strip().replace("\n", "\n    ") + "\n    return 0",
        "always_equal": ALWAYS_EQUAL + "def twice(x):\n    return Anything()",
        "int_subclass_eq": ALWAYS_EQUAL + "def twice(x):\n    return Int(0)",
        "forge_records": "def twice(x):\n    " + FORGE_RECORDS.strip().replace("\n", "\n    "),
        "forge_at_load": FORGE_RECORDS,
        "exit_in_call": "import sys\ndef twice(x):\n    sys.exit(0)",
        "raise_assert_pass": "def twice(x):\n    raise SystemExit(0)",
        "patch_builtins": "import builtins\nbuiltins.AssertionError = type('X', (Exception,), {})\nbuiltins.isinstance = lambda *a: True\ndef twice(x):\n    return 0",
    },
}


@pytest.mark.parametrize("style", ["stdin", "call", "assert"])
def test_right_programs_pass(style):
    assert verify_program(RIGHT[style], SPECS[style], per_test_s=2).verdict == "pass"


@pytest.mark.parametrize(("style", "name"), [(s, n) for s, progs in WRONG.items() for n in progs])
def test_harness_attacks_fail(style, name):
    v = verify_program(WRONG[style][name], SPECS[style], per_test_s=2, total_s=20)
    assert v.verdict != "pass", (style, name, v)
    assert v.passed < v.total


def test_the_right_answer_with_an_attack_bolted_on_is_judged_on_the_answer():
    # forging records after printing the right answer changes nothing: the answer is what counts
    right_then_forge = "print(2 * int(input()), flush=True)\n" + FORGE_RECORDS.replace("range(0, 256)", "range(3, 256)")
    assert verify_program(right_then_forge, STDIO, per_test_s=2).verdict == "pass"


def test_the_tests_never_enter_the_programs_memory():
    """The program searches its whole heap and every fd it can open for the assert text; the
    tests are read by the judge only after the program's process exists, so it finds nothing."""
    prog = '''
import gc, os
def twice(x):
    found = [o for o in gc.get_objects() if isinstance(o, str) and "SECRET_MARKER" in o and "found" not in o]
    for fd in range(0, 64):
        try:
            data = os.pread(fd, 1 << 20, 0)
            if b"SECRET_" + b"MARKER" in data:
                found.append(data.decode(errors="replace"))
        except OSError:
            pass
    for p in ("/proc/1/fd/3", "/proc/1/fd/4", "/proc/1/mem", "/proc/1/environ", "/proc/1/cmdline"):
        try:
            if b"SECRET_" + b"MARKER" in open(p, "rb").read(1 << 20):
                found.append(p)
        except OSError:
            pass
    return "SECRET_" + "MARKER_42" if found else "nothing"
'''
    spec = TestSpec(style="assert", asserts=('assert twice(1) == "SECRET_MARKER_42"',))
    v = verify_program(prog, spec, per_test_s=5)
    assert v.verdict == "wrong_answer", v


def test_the_judge_cannot_be_signalled_or_opened():
    prog = '''
import os, signal
def twice(x):
    for s in (signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM, signal.SIGALRM, signal.SIGINT):
        try:
            os.kill(1, s)
        except OSError:
            pass
    for p in ("/proc/1/fd/3", "/proc/1/mem"):
        try:
            with open(p, "wb") as f:
                f.write(b'{"ev": "end", "i": 1, "status": "ok", "result": 42}\\n')
        except OSError:
            pass
    return 2 * x if x < 10 else 0
'''
    v = verify_program(prog, CALL, per_test_s=2)
    # the judge survived every signal (SIGALRM has a handler: that test may time out) and graded
    # the second call on its value
    assert v.verdict != "pass" and v.tests[1] in ("wrong_answer", "timeout"), v


def test_values_cross_by_value_with_their_types():
    spec = TestSpec(style="assert", asserts=(
        "r = f()\nassert r == {'a': (1, 2.5, None), 'b': {3, 4}, 'c': [b'x', bytearray(b'y'), 1+2j, float('inf')]}",
        "assert type(f()['a']) is tuple and f()['a'] != [1, 2.5, None]",
        "import collections\nassert g() == {'x': 2} and type(g()) is dict",  # a Counter arrives as its plain dict
        "lst = [3, 1, 2]\nsort_in_place(lst)\nassert lst == [1, 2, 3]",  # mutations of arguments come back
        "assert remove_type((1, 'a', 2.0), int) == ['a', 2.0]",  # builtins travel by name
        "try:\n    boom()\n    assert False\nexcept ValueError as e:\n    assert 'bad' in str(e)",
        "o = make()\nassert o.get() == 5 and str(o) == 'Box(5)' and o != make()",  # objects stay handles
    ))
    prog = '''
import collections
def f(): return {'a': (1, 2.5, None), 'b': {3, 4}, 'c': [b'x', bytearray(b'y'), 1+2j, float('inf')]}
def g(): return collections.Counter(x=2)
def sort_in_place(l): l.sort()
def remove_type(t, ty): return [e for e in t if not isinstance(e, ty)]
def boom(): raise ValueError("bad input")
class Box:
    def __init__(self, v): self.v = v
    def get(self): return self.v
    def __str__(self): return f"Box({self.v})"
def make(): return Box(5)
'''
    v = verify_program(prog, spec, per_test_s=5)
    assert v.verdict == "pass", v
