"""Code verifier on real data: HumanEval canonical solutions pass and corrupted copies fail, the
83 CodeRL-labelled APPS programs match their labels, MBPP references pass their asserts; plus
the comparison rules, the extraction rule and the `code` filter on Trace-shaped rows.

Run: python -m pytest -q tests/test_code_verify.py
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from factory.filters.code.extract import extract_program
from factory.filters.code.filter import CodeVerifier
from factory.filters.code.verify import (
    TestSpec,
    compare_call,
    compare_stdout,
    verify_many,
    verify_program,
)
from factory.schemas.errors import InputError

# ------------------------------------------------------------------------------------------
# real data (shipped in tests/data/code, see tests/data/SOURCES.md)
# ------------------------------------------------------------------------------------------

CODE_DATA = Path(__file__).parent / "data" / "code"


def _humaneval():
    with gzip.open(CODE_DATA / "HumanEval.jsonl.gz", "rt") as f:
        return [json.loads(line) for line in f]


def _he_spec(row) -> TestSpec:
    # HumanEval's test defines check(candidate); one snippet = the definition + the call
    return TestSpec(style="assert", asserts=(row["test"] + f"\ncheck({row['entry_point']})\n",))


PERTURB = '''
_factory_original = {name}
def _factory_perturb(r):
    if r is None: return 0
    if isinstance(r, bool): return not r
    if isinstance(r, (int, float)): return r + 1.5 if isinstance(r, float) else r + 1
    if isinstance(r, str): return r + "~"
    if isinstance(r, tuple): return r + (None,)
    if isinstance(r, list): return r + [None]
    if isinstance(r, dict): return {{**r, "~": None}}
    return None
def {name}(*args, **kwargs):
    return _factory_perturb(_factory_original(*args, **kwargs))
'''


def _corrupt(row, i: int) -> str:
    """Even rows: the body becomes `return None`. Odd rows: the solution runs but every return
    value is perturbed (numbers +1, bools negated, strings/lists/tuples extended, None -> 0)."""
    if i % 2 == 0:
        return row["prompt"] + "    return None\n"
    return row["prompt"] + row["canonical_solution"] + PERTURB.format(name=row["entry_point"])


def test_humaneval_canonical_pass_and_corrupted_fail():
    rows = _humaneval()
    assert len(rows) == 164
    programs = [r["prompt"] + r["canonical_solution"] for r in rows] + [_corrupt(r, i) for i, r in enumerate(rows)]
    specs = [_he_spec(r) for r in rows] * 2
    verdicts = verify_many(programs, specs, per_test_s=20)
    good, bad = verdicts[:164], verdicts[164:]
    failing_canonical = [(r["task_id"], v.verdict, v.detail) for r, v in zip(rows, good) if v.verdict != "pass"]
    assert failing_canonical == []
    surviving_corrupt = [r["task_id"] for r, v in zip(rows, bad) if v.verdict == "pass"]
    assert surviving_corrupt == []
    assert all(v.verdict in ("wrong_answer", "runtime_error") for v in bad), Counter(v.verdict for v in bad)


def _apps():
    with gzip.open(CODE_DATA / "apps_train_sample_coderl.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f]
    items = []
    for r in rows:
        io = r["input_output"]
        if io.get("fn_name"):
            spec = TestSpec(
                style="call",
                fn_name=io["fn_name"],
                inputs=tuple(json.dumps(x) for x in io["inputs"]),
                outputs=tuple(json.dumps(x) for x in io["outputs"]),
                starter_code=r["starter_code"],
            )
        else:
            spec = TestSpec(style="stdin_stdout", inputs=tuple(io["inputs"]), outputs=tuple(io["outputs"]))
        for g in r["gen_solutions"]:
            items.append((r["problem_id"], g, spec))
    return items


def _coderl_class(verdict) -> object:
    """CodeRL's label for a whole program: -2 compile error, -1 runtime error or timeout in any
    test, False a wrong answer in some test, True all pass (errors outrank wrong answers)."""
    kinds = set(verdict.tests)
    if verdict.verdict == "pass":
        return True
    if "compile_error" in kinds:
        return -2
    if kinds & {"runtime_error", "timeout", "memory", "output_limit"}:
        return -1
    return False


def test_apps_labelled_programs_match_coderl_labels():
    items = _apps()
    assert len(items) == 83
    verdicts = verify_many([g["code"] for _, g, _ in items], [s for _, _, s in items], per_test_s=1)
    passfail = [(pid, g["result"] is True, v.verdict == "pass") for (pid, g, _), v in zip(items, verdicts)]
    assert [p for p in passfail if p[1] != p[2]] == [], "pass/fail disagrees with the CodeRL label"
    mismatches = [(pid, g, v) for (pid, g, _), v in zip(items, verdicts) if _coderl_class(v) != g["result"]]
    for pid, g, v in mismatches:
        # the two known differences between APPS's runner and a real interpreter:
        # 1. APPS wraps stdin programs in a function, so a top-level `return` runs there (and the
        #    program then failed at run time, label -1); Python itself rejects it: compile_error.
        apps_wrapper = g["result"] == -1 and v.verdict == "compile_error" and "'return' outside function" in v.detail
        # 2. APPS counts an error while loading the module (a NameError at top level) as a compile
        #    error (-2); we call it a runtime error of the program's load.
        load_error = g["result"] == -2 and v.verdict == "runtime_error" and "NameError" in v.detail
        assert apps_wrapper or load_error, (pid, g["result"], g["error_type"], v.verdict, v.detail)
    assert len(mismatches) <= 2


def test_mbpp_reference_solutions_pass_their_asserts():
    with gzip.open(CODE_DATA / "mbpp_sample.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f]
    # the shipped sample: every 4th task of the 974 (all take ~45 s on 2 busy cores) plus the
    # two with setup code. Task 123's reference is quadratic (amicable numbers below 9999,
    # ~10^8 steps): it needs 5-11 s on this machine, so the per-test limit here is generous.
    sample = [r for r in rows if (r["task_id"] - 1) % 4 == 0]
    assert len(sample) == 244
    verdicts = verify_many(
        [r["code"] for r in sample],
        [TestSpec(style="assert", asserts=tuple(r["test_list"]), setup_code=r["test_setup_code"] or None) for r in sample],
        per_test_s=30,
    )
    failed = [(r["task_id"], v.verdict, v.detail) for r, v in zip(sample, verdicts) if v.verdict != "pass"]
    assert failed == []
    # MBPP's setup code builds objects from the program's own classes: it runs after the program
    with_setup = [r for r in rows if r["test_setup_code"]]
    assert len(with_setup) == 2
    vs = verify_many([r["code"] for r in with_setup], [TestSpec(style="assert", asserts=tuple(r["test_list"]), setup_code=r["test_setup_code"]) for r in with_setup])
    assert [v.verdict for v in vs] == ["pass", "pass"]


# ------------------------------------------------------------------------------------------
# rules
# ------------------------------------------------------------------------------------------


def test_stdout_comparison_rules():
    assert compare_stdout("1 2\n3\n", "1 2\n3")
    assert compare_stdout("1  2 \n3\n\n", "1 2\n3\n")  # whitespace-normalised tokens
    assert compare_stdout("0.3333333\n", "0.333333333")  # float tolerance
    assert not compare_stdout("0.34\n", "0.333333333")
    assert not compare_stdout("YES\n", "NO\n")
    assert not compare_stdout("1 2 3\n", "1 2\n")
    assert not compare_stdout("", "0\n")


def test_call_comparison_rules():
    assert compare_call(9, [9])  # APPS wraps call outputs in a one-element list
    assert compare_call([1, 2], [1, 2]) and compare_call([1, 2], [[1, 2]])
    assert compare_call(0.1 + 0.2, 0.3)
    assert not compare_call(True, 1) and not compare_call(1, True)
    assert not compare_call([1, 2], [2, 1])


def test_extraction_takes_the_last_python_block():
    ans = "<think>```python\nprint('thought')\n```</think>Try:\n```python\nprint(1)\n```\nBetter:\n```py\nprint(2)\n```\nOutput:\n```text\n2\n```"
    assert extract_program(ans) == "print(2)"
    assert extract_program("plain\n```\nx = 1\n```\nthen") == "x = 1"
    assert extract_program("cut off\n```python\ndef f():\n    return") == "def f():\n    return"
    assert extract_program("no code here") is None
    assert extract_program(None) is None


def test_call_style_solution_class_and_styles():
    spec = TestSpec(style="call", fn_name="twice", inputs=("[2]", "[5]"), outputs=("4", "10"))
    assert verify_program("def twice(x):\n    return 2 * x\n", spec).verdict == "pass"
    assert verify_program("class Solution:\n    def twice(self, x: int) -> int:\n        return x * 2\n", spec).verdict == "pass"
    v = verify_program("def twice(x):\n    return 2 * x if x < 3 else 0\n", spec)
    assert (v.verdict, v.passed, v.total, v.failed_test) == ("wrong_answer", 1, 2, 1)
    assert verify_program("def other(x):\n    return x\n", spec).verdict == "runtime_error"
    assert verify_program(None, spec).verdict == "no_code"
    assert verify_program("def twice(x) return", spec).verdict == "compile_error"


def test_time_limits_resume_and_early_stop():
    spec = TestSpec(style="stdin_stdout", inputs=("1\n", "2\n", "3\n"), outputs=("1\n", "2\n", "3\n"))
    prog = "n = int(input())\nif n == 2:\n    while True:\n        pass\nprint(n)\n"
    v = verify_program(prog, spec, per_test_s=0.5)
    assert (v.verdict, v.tests) == ("timeout", ["ok", "timeout", "ok"])  # resumed after the timeout
    v = verify_program(prog, spec, per_test_s=0.5, early_stop=True)
    assert (v.verdict, v.tests) == ("timeout", ["ok", "timeout", ""])
    # a program that swallows the harness timer is still killed by the parent's watchdog
    sneaky = "n = int(input())\nwhile n == 2:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\nprint(n)\n"
    v = verify_program(sneaky, spec, per_test_s=0.5)
    assert v.tests == ["ok", "timeout", "ok"]
    # a wrong answer stops the run at once with early_stop
    v = verify_program("print(1)", spec, early_stop=True)
    assert (v.passed, v.tests) == (1, ["ok", "wrong_answer", ""])


def test_stdin_programs_read_every_way():
    spec = TestSpec(style="stdin_stdout", inputs=("3\n1 2 3\n",), outputs=("6\n",))
    for prog in (
        "input()\nprint(sum(map(int, input().split())))",
        "import sys\nd = sys.stdin.buffer.read().split()\nprint(sum(map(int, d[1:])))",
        "d = open(0).read().split()\nprint(sum(map(int, d[1:])))",
        "import os\nd = os.read(0, 1000).split()\nprint(sum(map(int, d[1:])))",
        "import sys, threading\ndef main():\n    input()\n    print(sum(map(int, input().split())))\nthreading.Thread(target=main).start()",
        "import sys, os\ninput()\nsys.stdout.write(str(sum(map(int, input().split()))) + '\\n')\nsys.stdout.flush()\nos._exit(0)",
    ):
        assert verify_program(prog, spec).verdict == "pass", prog


def test_bad_tests_are_named():
    with pytest.raises(InputError, match="fn_name"):
        TestSpec.from_row({"style": "call", "inputs": ["[1]"], "outputs": ["1"]})
    with pytest.raises(InputError, match="outputs"):
        TestSpec.from_row({"style": "stdin_stdout", "inputs": ["1"], "outputs": []})
    with pytest.raises(InputError, match="style"):
        TestSpec.from_row({"style": "junit"})


def test_code_filter_on_trace_rows():
    rows = _humaneval()[:3]
    tests = [
        {"style": "assert", "fn_name": None, "inputs": [], "outputs": [], "asserts": [r["test"] + f"\ncheck({r['entry_point']})\n"],
         "setup_code": None, "starter_code": None, "time_limit_s": 5.0}
        for r in rows
    ]
    right = [f"<think>easy</think>Here:\n```python\n{r['prompt'] + r['canonical_solution']}\n```" for r in rows]
    wrong = [f"```python\n{r['prompt']}    return None\n```" for r in rows]
    batch = pl.DataFrame(
        {
            "domain": ["code"] * 6 + ["math", "code", "code"],
            "answer": right + wrong + ["\\boxed{1}", "no code at all", None],
            "completion": right + wrong + ["\\boxed{1}", "no code at all", "<think>x</think>```python\nprint(1)\n```"],
            "tests": tests + tests + [None, tests[0], {"style": "call", "inputs": ["[1]"], "outputs": []}],
        }
    )
    f = CodeVerifier()
    scores = f.score(batch)
    assert scores.get_column("verdict_code").to_list() == ["pass"] * 3 + ["wrong_answer"] * 3 + ["skipped", "no_code", "bad_tests"]
    assert scores.get_column("score_code").to_list()[:7] == [1.0] * 3 + [0.0] * 3 + [None]
    assert scores.get_column("score_code_total").to_list()[:3] == [1, 1, 1]
    assert f.keep(scores).to_list() == [True] * 3 + [False] * 3 + [True, False, False]
