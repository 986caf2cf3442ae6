"""Code verifier: run a candidate program against a problem's tests in the sandbox.

Exercised by `python -m pytest -q tests/test_code_verify.py` (HumanEval, MBPP, labelled APPS
programs) and by the `code` filter (`factory verify`). Three test styles (the Trace `tests`
struct, `factory.schemas.contracts.Tests`):

- stdin_stdout (APPS/TACO/CodeContests): each input is fed on stdin, stdout is compared with
  the expected output — exact after trimming trailing whitespace per line, else token by token
  (whitespace-normalised), numbers within `float_tol` (absolute or relative);
- call (APPS call-based, LeetCode): `fn_name` (a function, or a method of `class Solution`) is
  called with each JSON-encoded argument list; the return value is compared with the JSON
  output (tuples = lists, APPS's one-element wrapping `[x]` accepted, floats within tolerance);
- assert (MBPP/HumanEval): the program, then `setup_code` (MBPP's setup builds objects from
  the program's classes, so it runs after the program), then each assert snippet in turn; a
  HumanEval test is one snippet: its `check(candidate)` definition + `check(<entry point>)`.

All tests of one program run in ONE sandbox (`sandbox.run_judge`): its init is the judge
(`harness.py`), which forks the candidate program — once per stdin test, once per program for
call/assert tests — and never runs the candidate's code itself. Return values come back by
value and asserts run in the judge's interpreter, so a program cannot rebind the harness,
answer `==` for it, or forge a record (it has no fd of the report channel). Per-test limit (the
judge's, backed by a watchdog in the parent that kills the run at limit + grace) and a total
limit per program. After a timeout or crash in call/assert style the judge stops: unless
`early_stop`, a fresh sandbox resumes at the next test. Expected outputs stay in the parent;
the comparison happens here.
Verdict: `pass`, or the first failing test's kind — wrong_answer, runtime_error, timeout,
memory, output_limit, compile_error, no_code — with passed/total counts.
"""

from __future__ import annotations

import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from factory.filters.code.sandbox import Launch, Limits, SandboxMode, SandboxUnavailable, run_judge
from factory.schemas.errors import FactoryError, InputError

FailKind = Literal["wrong_answer", "runtime_error", "timeout", "memory", "output_limit", "compile_error", "no_code"]
VerdictName = Literal["pass", "wrong_answer", "runtime_error", "timeout", "memory", "output_limit", "compile_error", "no_code"]
STYLES = ("stdin_stdout", "call", "assert")


@dataclass(frozen=True)
class TestSpec:
    """The tests of one problem (same fields as the contract's `tests` struct)."""

    __test__ = False  # not a pytest class

    style: Literal["stdin_stdout", "call", "assert"]
    fn_name: str | None = None
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    asserts: tuple[str, ...] = ()
    setup_code: str | None = None
    starter_code: str | None = None
    time_limit_s: float | None = None

    @classmethod
    def from_row(cls, tests: dict[str, Any] | None, *, where: str = "tests") -> TestSpec:
        """Build from a row's `tests` struct; a malformed struct raises InputError naming the field."""
        if not isinstance(tests, dict):
            raise InputError(f"expected a tests struct (dict), found {type(tests).__name__}", field=where)
        style = tests.get("style")
        if style not in STYLES:
            raise InputError(f"expected style in {STYLES}, found {style!r}", field=f"{where}.style")
        spec = cls(
            style=style,
            fn_name=tests.get("fn_name"),
            inputs=tuple(tests.get("inputs") or ()),
            outputs=tuple(tests.get("outputs") or ()),
            asserts=tuple(tests.get("asserts") or ()),
            setup_code=tests.get("setup_code"),
            starter_code=tests.get("starter_code"),
            time_limit_s=tests.get("time_limit_s"),
        )
        spec.check(where=where)
        return spec

    def check(self, *, where: str = "tests") -> None:
        if self.style in ("stdin_stdout", "call"):
            if len(self.inputs) != len(self.outputs):
                raise InputError(
                    f"expected as many outputs as inputs, found {len(self.inputs)} inputs and {len(self.outputs)} outputs",
                    field=f"{where}.outputs",
                )
            if not self.inputs:
                raise InputError("expected at least one test case, found none", field=f"{where}.inputs")
        if self.style == "call":
            if not self.fn_name:
                raise InputError("call-style tests need fn_name, found none", field=f"{where}.fn_name")
            for i, (a, o) in enumerate(zip(self.inputs, self.outputs)):
                for name, s in (("inputs", a), ("outputs", o)):
                    try:
                        json.loads(s)
                    except (TypeError, ValueError) as e:
                        raise InputError(
                            f"expected JSON (call style encodes each case as JSON), found {str(s)[:60]!r}: {e}",
                            field=f"{where}.{name}[{i}]",
                        ) from None
        if self.style == "assert" and not self.asserts:
            raise InputError("assert-style tests need at least one assert snippet, found none", field=f"{where}.asserts")

    @property
    def total(self) -> int:
        return len(self.asserts) if self.style == "assert" else len(self.inputs)


@dataclass
class Verdict:
    verdict: VerdictName
    passed: int
    total: int
    first_failure: FailKind | None = None
    failed_test: int | None = None
    detail: str = ""
    wall_s: float = 0.0
    tests: list[str] = field(default_factory=list)  # per-test status ("" = not run)

    @property
    def score(self) -> float:
        return self.passed / self.total if self.total else 0.0


# ------------------------------------------------------------------------------------------
# comparison (outside the sandbox)
# ------------------------------------------------------------------------------------------


def _num(tok: str) -> float | None:
    try:
        x = float(tok)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol or abs(a - b) <= tol * max(abs(a), abs(b))


def compare_stdout(actual: str, expected: str, *, float_tol: float = 1e-6) -> bool:
    """Judge-style comparison: trailing whitespace per line and trailing blank lines ignored;
    then whitespace-normalised tokens; then numeric tokens within float_tol (abs or rel)."""
    a_lines = [ln.rstrip() for ln in actual.replace("\r\n", "\n").rstrip().split("\n")]
    e_lines = [ln.rstrip() for ln in expected.replace("\r\n", "\n").rstrip().split("\n")]
    if a_lines == e_lines:
        return True
    a_tok, e_tok = actual.split(), expected.split()
    if a_tok == e_tok:
        return True
    if len(a_tok) != len(e_tok):
        return False
    for x, y in zip(a_tok, e_tok):
        if x == y:
            continue
        fx, fy = _num(x), _num(y)
        if fx is None or fy is None or not _close(fx, fy, float_tol):
            return False
    return True


def _equal(a: Any, b: Any, tol: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(a, bool) and isinstance(b, bool) and a == b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        return _close(float(a), float(b), tol)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k], tol) for k in a)
    return a == b


def compare_call(actual: Any, expected: Any, *, float_tol: float = 1e-6) -> bool:
    """Return value vs expected (both JSON-shaped). APPS wraps call outputs in a one-element
    list (`[9]` for a return of 9), so `[actual] == expected` also passes."""
    if _equal(actual, expected, float_tol):
        return True
    return isinstance(expected, list) and len(expected) == 1 and _equal(actual, expected[0], float_tol)


# ------------------------------------------------------------------------------------------
# running
# ------------------------------------------------------------------------------------------


def verify_program(
    program: str | None,
    tests: TestSpec,
    *,
    per_test_s: float | None = None,
    total_s: float = 60.0,
    memory_mb: int = 1024,
    early_stop: bool = False,
    float_tol: float = 1e-6,
    launch: Launch = "fork",
    sandbox: SandboxMode = "strict",
) -> Verdict:
    """Run `program` against `tests` in the sandbox and judge it. `per_test_s` defaults to the
    tests' own time_limit_s, else 6 s. `launch` picks how sandboxes start (see sandbox.run_python);
    `sandbox="weak"` runs where a kernel layer is missing (see factory.filters.code.sandbox)."""
    t0 = time.monotonic()
    total = tests.total
    if program is None or not program.strip():
        return Verdict("no_code", 0, total, "no_code", None, "no fenced code block in the answer", 0.0, [""] * total)
    per_test = float(per_test_s or tests.time_limit_s or 6.0)
    status: list[str] = [""] * total
    errors: dict[int, str] = {}
    expected = [json.loads(o) for o in tests.outputs] if tests.style == "call" else list(tests.outputs)
    stdins = [s.encode("utf-8", errors="surrogateescape") for s in tests.inputs] if tests.style == "stdin_stdout" else None
    start = 0
    whole_program_fail: tuple[str, str] | None = None
    while start < total:
        left = total_s - (time.monotonic() - t0)
        if left <= 0.05:
            for k in range(start, total):
                status[k] = status[k] or "timeout"
                errors.setdefault(k, "total time limit of the program exhausted")
            break
        job = {
            "style": tests.style,
            "program": program,
            "fn_name": tests.fn_name,
            "n": total,
            "setup_code": tests.setup_code,
            "time_limit_s": per_test,
            "start": start,
        }
        stop_state = {"failed": False}

        def on_record(rec: dict[str, Any]) -> bool:
            if rec.get("ev") != "end" or not isinstance(rec.get("i"), int) or not 0 <= rec["i"] < total:
                return False
            k = rec["i"]
            st = rec.get("status")
            if st == "ok":
                # the judge sends what the program did; the expected values never left this process
                if tests.style == "stdin_stdout":
                    out = rec.get("stdout")
                    out = out if isinstance(out, str) else ""
                    st = "ok" if compare_stdout(out, expected[k], float_tol=float_tol) else "wrong_answer"
                    if st == "wrong_answer":
                        errors[k] = f"expected {expected[k][:80]!r}, got {out[:80]!r}"
                elif tests.style == "call":
                    got = rec.get("result")
                    st = "ok" if "result" in rec and compare_call(got, expected[k], float_tol=float_tol) else "wrong_answer"
                    if st == "wrong_answer":
                        errors[k] = f"expected {json.dumps(expected[k])[:80]}, got {json.dumps(got)[:80]}"
            elif rec.get("error"):
                errors[k] = str(rec["error"])
            status[k] = st if st in ("ok", "wrong_answer", "runtime_error", "timeout", "memory", "output_limit") else "runtime_error"
            if status[k] != "ok" and early_stop:
                stop_state["failed"] = True
                return True
            return False

        limits = Limits(
            wall_s=min(left, per_test * (total - start + 1) + 5.0),
            cpu_s=int(min(left, per_test * (total - start + 1) + 5.0)) + 1,
            memory_mb=memory_mb,
        )
        try:
            res = run_judge(
                job,
                inputs=stdins,
                call_inputs=list(tests.inputs) if tests.style == "call" else None,
                secret=list(tests.asserts) if tests.style == "assert" else None,
                limits=limits,
                on_record=on_record,
                launch=launch,
                sandbox=sandbox,
            )
        except SandboxUnavailable as e:
            raise FactoryError(
                str(e),
                hint="run as root in CI; elsewhere pass --sandbox weak (CodeVerifier(sandbox='weak')) to run without the missing layers",
            ) from None
        evs = {r.get("ev") for r in res.records}
        if "isolation" not in evs and res.status not in ("timeout", "stopped"):
            # the sandbox itself failed before the program ran: never blame the program for it
            raise FactoryError(
                f"the sandbox could not start a run: {res.status}: {res.detail} "
                f"{res.stderr.decode('utf-8', errors='replace')[-300:]}".strip(),
                hint="check what holds here with: python -c 'from factory.filters.code.sandbox import probe; print(probe())'",
            )
        comp = next((r for r in res.records if r.get("ev") == "compile_error"), None)
        load = next((r for r in res.records if r.get("ev") == "load_error"), None)
        if comp is not None:
            whole_program_fail = ("compile_error", str(comp.get("error", "")))
            break
        if load is not None:
            whole_program_fail = (str(load.get("status", "runtime_error")), str(load.get("error", "")))
            break
        if stop_state["failed"]:
            break
        # the test that began but never ended is the one the run died in
        begun = [r["i"] for r in res.records if r.get("ev") == "begin" and isinstance(r.get("i"), int)]
        if "loaded" not in evs and not begun:
            whole_program_fail = _crash_kind(res), _crash_detail(res)
            break
        last = begun[-1] if begun else None
        if last is not None and last >= 0 and not status[last]:
            status[last] = _crash_kind(res)
            errors[last] = _crash_detail(res)
        elif last == -1 and "loaded" not in evs:
            whole_program_fail = _crash_kind(res), _crash_detail(res)
            break
        nxt = next((k for k in range(start, total) if not status[k]), None)
        if nxt is None:
            break
        if nxt <= (last if last is not None else -1):
            # the judge stopped without a crash on a test it began (should not happen): count it
            status[nxt] = _crash_kind(res)
            errors[nxt] = _crash_detail(res)
            nxt += 1
        failed_any = any(s not in ("", "ok") for s in status)
        if early_stop and failed_any:
            break
        start = nxt
    wall = time.monotonic() - t0
    if whole_program_fail is not None:
        kind, detail = whole_program_fail
        status = [kind if not s else s for s in status]
        return Verdict(kind, status.count("ok"), total, kind, 0, detail[:500], wall, status)  # type: ignore[arg-type]
    passed = status.count("ok")
    first = next((k for k, s in enumerate(status) if s != "ok"), None)
    if first is None:
        return Verdict("pass", passed, total, None, None, "", wall, status)
    kind = status[first] or "runtime_error"
    if not status[first]:
        errors.setdefault(first, "not run")
    return Verdict(kind, passed, total, kind, first, errors.get(first, "")[:500], wall, status)  # type: ignore[arg-type]


def _crash_kind(res) -> str:
    if res.status == "timeout":
        return "timeout"
    if res.status == "memory":
        return "memory"
    if res.status == "output_limit":
        return "output_limit"
    exc = res.exception
    if exc and exc.get("type") == "MemoryError":
        return "memory"
    return "runtime_error"


def _crash_detail(res) -> str:
    tail = res.stderr.decode("utf-8", errors="replace").strip().splitlines()[-1:] or [""]
    return f"{res.status}: {res.detail} {tail[0]}".strip()[:500]


def verify_many(
    programs: list[str | None],
    tests: list[TestSpec],
    *,
    workers: int | None = None,
    **kw: Any,
) -> list[Verdict]:
    """Verify many programs in parallel sandboxes (one per core); verdicts in input order."""
    if len(programs) != len(tests):
        raise InputError(f"expected one tests spec per program, found {len(programs)} programs and {len(tests)} specs")
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        return list(pool.map(lambda pt: verify_program(pt[0], pt[1], **kw), zip(programs, tests)))
