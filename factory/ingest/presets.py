"""Built-in presets of `factory ingest`: how the rows of a known file format become Problem or
Trace rows. A preset is a small table entry (name, what it makes, defaults, the destinations it
reads) plus one plain function per output; the functions read columns through `RowView`, so
every column a preset reads can be re-pointed with `--map DEST=COLUMN` (a destination it does
not read is an error), every bad value is reported with its column name, and the columns it did
not read are known (the extra columns of `factory.ingest.report`). The formats: GSM8K, MATH-500,
AIME 2024/2025, AMC 2023, HumanEval, MBPP, APPS (CodeRL sample), the Qwen2.5-Math evaluation
outputs (Sky-T1 long CoT, Qwen short CoT, best-of-8, OlympiadBench with list-valued solutions,
`unit` and `answer_type`), plus generic `<think>` completions, chat `messages` (ShareGPT
`conversations` with a top-level `system`, as Bespoke-Stratos writes them) and plain problem
tables (OlympiadBench's own `final_answer` lists included). Several gold answers are kept whole:
see ANSWERS_JOIN.

Exercise: `factory ingest factory/data/benchmarks/gsm8k_test.jsonl.gz --preset gsm8k --out problems/`.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from factory.schemas.errors import InputError
from factory.schemas.text import split_reasoning

Kind = Literal["problem", "trace"]


class RowFail(Exception):
    """One row cannot be mapped; becomes a RowError (fail or reject) in the driver."""

    def __init__(self, reason: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.field = field


_MISSING = object()


def _describe(v: Any) -> str:
    if v is None:
        return "null"
    try:
        text = json.dumps(v, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):  # an int past Python's 4300-digit str() limit, deep nesting
        return f"{type(v).__name__} (too large to show)"
    return f"{type(v).__name__} {text[:40] + ('…' if len(text) > 40 else '')}"


class RowView:
    """Typed access to one input row through the column map.

    `dst` is the destination name a preset asks for (e.g. "problem"); `default` is the column
    (or tuple of candidate columns) it reads unless `--map dst=column` says otherwise. Dotted
    columns (`metadata.difficulty`) reach into nested objects."""

    def __init__(self, data: dict[str, Any], maps: dict[str, str], row: int) -> None:
        self.data = data
        self.maps = maps
        self.row = row  # 1-based row number in its input
        self.used: set[str] = set()  # top-level columns a preset read (the rest are extra columns)

    def _lookup(self, col: str) -> Any:
        if col in self.data:
            return self.data[col]
        if "." in col:
            cur: Any = self.data
            for part in col.split("."):
                if isinstance(cur, dict) and part in cur:
                    cur = cur[part]
                else:
                    return _MISSING
            return cur
        return _MISSING

    def _columns(self, dst: str, default: str | tuple[str, ...] | None) -> tuple[str, ...]:
        mapped = self.maps.get(dst)
        if mapped is not None:
            return (mapped,)
        if default is None:
            return ()
        return (default,) if isinstance(default, str) else default

    def get(self, dst: str, default: str | tuple[str, ...] | None, *, required: bool = True) -> tuple[str | None, Any]:
        """(column used, value); value is None when the column is absent and not required."""
        cols = self._columns(dst, default)
        data = self.data
        for col in cols:
            if col in data:  # the common case first: a plain top-level column
                self.used.add(col)
                return col, data[col]
            if "." in col:
                v = self._lookup(col)
                if v is not _MISSING:
                    self.used.add(col.split(".", 1)[0])
                    return col, v
        if required or dst in self.maps:  # a column the user mapped by name must exist
            have = ", ".join(list(self.data)[:12]) + (", …" if len(self.data) > 12 else "")
            if len(cols) == 1:
                raise RowFail("missing_column", f"required column is missing (the row has: {have})", field=cols[0])
            looked = ", ".join(cols)
            raise RowFail(
                "missing_column",
                f"required column is missing: looked for {looked} (the row has: {have}); map one with --map {dst}=COLUMN",
                field=dst,
            )
        return (cols[0] if cols else None), None

    def text(self, dst: str, default: str | tuple[str, ...] | None, *, required: bool = True, nonempty: bool = True) -> str | None:
        col, v = self.get(dst, default, required=required)
        return as_text(col, v, required=required, nonempty=nonempty)

    def integer(self, dst: str, default: str | tuple[str, ...] | None, *, required: bool = False) -> int | None:
        col, v = self.get(dst, default, required=required)
        return as_integer(col, v)

    def str_list(self, dst: str, default: str | tuple[str, ...] | None, *, required: bool = True) -> list[str] | None:
        col, v = self.get(dst, default, required=required)
        if v is None:
            if required:
                raise RowFail("wrong_type", "expected a list of strings, found null", field=col)
            return None
        if isinstance(v, str):
            v = [v]  # a single string is a list of one
        if not isinstance(v, (list, tuple)):
            raise RowFail("wrong_type", f"expected a list of strings, found {_describe(v)}", field=col)
        for i, x in enumerate(v):
            if not isinstance(x, str):
                raise RowFail("wrong_type", f"expected a list of strings, found {_describe(x)} at index {i}", field=col)
        return list(v)

    def raw(self, dst: str, default: str | tuple[str, ...] | None, *, required: bool = False) -> Any:
        return self.get(dst, default, required=required)[1]


# The value checks behind RowView, also applied column by column by the batch path
# (`factory.ingest.fast`), so both paths accept and convert exactly the same values.


def as_text(col: str | None, v: Any, *, required: bool = True, nonempty: bool = True) -> str | None:
    if type(v) is str and (not nonempty or not required or v.strip()):
        return v  # the common case, checked first
    if v is None:
        if required:
            raise RowFail("wrong_type", "expected a string, found null", field=col)
        return None
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise RowFail("wrong_type", f"expected a string, found {_describe(v)}", field=col)
    if isinstance(v, float) and not math.isfinite(v):  # JSON's NaN/Infinity extensions: not an answer
        raise RowFail("invalid_value", f"expected a string or a finite number, found {_describe(v)}", field=col)
    try:
        s = number_text(v) if not isinstance(v, str) else v
    except ValueError:  # str() of an int past 4300 digits (Python's guard against slow conversion)
        raise RowFail("invalid_value", f"expected a string, found an integer of about {int(v.bit_length() * 0.30103)} digits",
                      field=col) from None
    if nonempty and required and not s.strip():
        raise RowFail("invalid_value", "expected non-empty text, found an empty string", field=col)
    return s


_LEVEL = re.compile(r"\s*(?:level\s*)?(-?\d+)\s*", flags=re.IGNORECASE)  # "3", "Level 3"


INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # level and sample_index are int32 columns


def as_integer(col: str | None, v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool):
        raise RowFail("wrong_type", f"expected an integer, found {_describe(v)}", field=col)
    if isinstance(v, int):
        n = v
    elif isinstance(v, float) and v.is_integer():
        n = int(v)
    elif isinstance(v, str) and len(v) < 40 and (m := _LEVEL.fullmatch(v)):
        n = int(m.group(1))
    else:
        raise RowFail("wrong_type", f"expected an integer, found {_describe(v)}", field=col)
    if not INT32_MIN <= n <= INT32_MAX:
        raise RowFail("invalid_value", f"expected an integer from {INT32_MIN} to {INT32_MAX}, found {_describe(v)}", field=col)
    return n


def number_text(v: Any) -> str:
    """27.0 -> "27", 0.5 -> "0.5", 12 -> "12" (answers stored as floats in some files)."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# ---------------------------------------------------------------------------------------------
# reasoning splits
# ---------------------------------------------------------------------------------------------

BOT, EOT = "<|begin_of_thought|>", "<|end_of_thought|>"
BOS, EOS = "<|begin_of_solution|>", "<|end_of_solution|>"


@dataclass
class Split:
    reasoning: str | None
    answer: str | None
    reasoning_finished: bool
    finish_reason: str
    form: str  # how the completion was shaped, kept in meta for format filters


def _clean(s: str | None) -> str | None:
    if s is None:
        return None
    s = s.strip()
    return s or None


def split_skyt1(text: str) -> Split:
    """Sky-T1 thought/solution tags, split by `factory.schemas.text` (the one splitter generate uses
    too). A block that was opened and never closed means the generation stopped inside it: the
    token limit, so `length`. Text with no tags at all is the prefilled thought never closed
    (SOURCES.md counts those as stopping inside the thought), but nothing shows why it
    stopped: `unknown`."""
    if BOT not in text and EOT not in text and BOS not in text:
        return Split(_clean(text), None, False, "unknown", "no_tags")
    reasoning, answer, finished = split_reasoning(text)
    if not finished:
        return Split(reasoning, answer, False, "length", "cut_in_thought")
    if BOS in text and EOS in text.split(BOS, 1)[1]:
        return Split(reasoning, answer, True, "stop", "complete")
    if BOS in text:
        return Split(reasoning, answer, True, "length", "cut_in_solution")
    return Split(reasoning, answer, True, "unknown", "no_solution")


def split_think(text: str, *, reasoning_field: str | None = None) -> Split:
    """`<think>…</think>` then the answer (a missing opening tag counts as prefilled), or a
    server's separate reasoning field; split by `factory.schemas.text`. An opened block never
    closed means the token limit (`length`); a closed one followed by an answer, a normal stop."""
    reasoning, answer, finished = split_reasoning(text, reasoning_field=reasoning_field)
    if reasoning_field is not None and reasoning_field.strip():
        return Split(reasoning, answer, finished, "stop", "reasoning_field")
    if reasoning is None:
        return Split(None, answer, finished, "unknown", "no_think")
    if not finished:
        return Split(reasoning, answer, False, "length", "cut_in_thought")
    form = "complete" if text.lstrip().startswith("<think>") else "prefilled_open_tag"
    return Split(reasoning, answer, True, "stop" if answer else "unknown", form)


def split_plain(text: str) -> Split:
    """A short chain of thought with no tags: the whole completion is the answer. It finished
    when it reached the final `\\boxed{}` the prompt asked for; otherwise nothing says why it
    stopped."""
    reasoning, answer, finished = split_reasoning(text)
    return Split(reasoning, answer, finished, "stop" if "\\boxed" in text else "unknown", "plain")


# ---------------------------------------------------------------------------------------------
# problem builders: RowView -> partial Problem dict (driver adds id/domain/source/language/license)
# ---------------------------------------------------------------------------------------------


def _tests(style: str, **kw: Any) -> dict[str, Any]:
    t = {"style": style, "fn_name": None, "inputs": [], "outputs": [], "asserts": [], "setup_code": None,
         "starter_code": None, "time_limit_s": None}
    t.update(kw)
    return t


def generic_problem(v: RowView) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    tests = None
    asserts = v.str_list("tests.asserts", None, required=False)
    inputs = v.raw("tests.inputs", None)
    if asserts or inputs is not None:
        if asserts:
            tests = _tests("assert", asserts=asserts)
        else:
            ins = _encoded_list(v, "tests.inputs")
            outs = _encoded_list(v, "tests.outputs")
            fn = _fn_name(v, "tests.fn_name", None, required=False)
            tests = _tests("call" if fn else "stdin_stdout", fn_name=fn, inputs=ins, outputs=outs)
        tests["setup_code"] = v.text("tests.setup_code", None, required=False)
        tests["starter_code"] = v.text("tests.starter_code", None, required=False)
    _answer_facts(v, meta)
    return {
        "problem": v.text("problem", ("problem", "question", "prompt", "instruction", "text")),
        "reference_answer": _answer(v, "reference_answer", ("reference_answer", "answer", "gt", "gold", "final_answer"), meta),
        "reference_solution": _solution(v, "reference_solution", ("reference_solution", "solution"), meta),
        "source_id": v.text("source_id", ("source_id", "id", "idx", "unique_id", "task_id"), required=False),
        "difficulty": v.text("difficulty", "difficulty", required=False),
        "level": v.integer("level", "level"),
        "tests": tests,
        "meta": meta,
    }


def _encoded_list(v: RowView, dst: str) -> list[str]:
    col, vals = v.get(dst, None, required=True)
    if isinstance(vals, str):
        vals = _literal(vals, col)
    if not isinstance(vals, list):
        raise RowFail("wrong_type", f"expected a list, found {_describe(vals)}", field=col)
    return [x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in vals]


# Several gold answers (OlympiadBench's `final_answer` list, a set of solutions): the row keeps
# all of them in meta["reference_answers"] (a list of strings, in input order), and
# `reference_answer` holds them joined by ANSWERS_JOIN, so "69, 84" reads like the set it is.
# The math verifier reads the list when it is there; a single answer (or a one-item list) is
# stored as it is, with no list in meta.
ANSWERS_JOIN = ", "


def answer_value(col: str | None, v: Any, *, required: bool = False) -> tuple[str | None, list[str] | None]:
    """(reference_answer, all answers when there are several) from one column's value."""
    if isinstance(v, (list, tuple)):
        items = []
        for i, x in enumerate(v):
            if isinstance(x, (list, tuple, dict)) or x is None:
                raise RowFail("wrong_type", f"expected a list of answers (strings or numbers), found {_describe(x)} at index {i}", field=col)
            items.append(as_text(col, x).strip())  # type: ignore[union-attr]
        if not items:
            if required:
                raise RowFail("invalid_value", "expected at least one answer, found an empty list", field=col)
            return None, None
        return (items[0], None) if len(items) == 1 else (ANSWERS_JOIN.join(items), items)
    s = as_text(col, v, required=required)
    return (s.strip() if s is not None else None), None


def _answer(v: RowView, dst: str, default: str | tuple[str, ...], meta: dict[str, Any], *, required: bool = False) -> str | None:
    col, val = v.get(dst, default, required=required)
    text, many = answer_value(col, val, required=required)
    if many is not None:
        meta["reference_answers"] = many
    return text


def solution_value(col: str | None, v: Any) -> tuple[str | None, list[str] | None]:
    """(reference_solution, every solution when there are several): OlympiadBench lists
    alternative worked solutions; the first is the reference, all are kept."""
    if isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            if not isinstance(x, str):
                raise RowFail("wrong_type", f"expected a list of solutions (strings), found {_describe(x)} at index {i}", field=col)
        if not v:
            return None, None
        return v[0], (list(v) if len(v) > 1 else None)
    return as_text(col, v, required=False), None


def _solution(v: RowView, dst: str, default: str | tuple[str, ...], meta: dict[str, Any]) -> str | None:
    col, val = v.get(dst, default, required=False)
    text, many = solution_value(col, val)
    if many is not None:
        meta["reference_solutions"] = many
    return text


ANSWER_FACTS = ("unit", "answer_type")  # OlympiadBench: the answer's unit ("km/h") and kind ("Numerical", "Tuple", ...)


def _answer_facts(v: RowView, meta: dict[str, Any]) -> None:
    """OlympiadBench's `unit` and `answer_type`, kept in meta under the same names (the math
    verifier reads them there); absent, null or empty: not stored."""
    for key in ANSWER_FACTS:
        val = v.raw(f"meta.{key}", key)
        if val is not None and val != "":
            meta[key] = val


_GSM8K_FINAL = re.compile(r"####\s*(.+?)\s*$")


def gsm8k_answer(worked: str) -> str | None:
    """The number after GSM8K's final `#### `; None when there is none."""
    m = _GSM8K_FINAL.search(worked)
    # "#### 1,000" -> "1000": the thousands separator is formatting, not part of the number
    return m.group(1).replace(",", "").strip() if m else None


def gsm8k_problem(v: RowView) -> dict[str, Any]:
    col, _ = v.get("reference_solution", "answer")
    worked = v.text("reference_solution", "answer")
    assert worked is not None
    answer = gsm8k_answer(worked)
    if answer is None:
        raise RowFail("invalid_value", "expected a final line '#### N' holding the answer, found none", field=col)
    return {
        "problem": v.text("problem", "question"),
        "reference_answer": answer,
        "reference_solution": worked,
        "source_id": v.text("source_id", None, required=False) or str(v.row - 1),
        "meta": {},
    }


def math500_problem(v: RowView) -> dict[str, Any]:
    meta = {}
    subject = v.text("meta.subject", "subject", required=False)
    if subject:
        meta["subject"] = subject
    return {
        "problem": v.text("problem", "problem"),
        "reference_answer": _answer(v, "reference_answer", "answer", meta, required=True),
        "reference_solution": _solution(v, "reference_solution", "solution", meta),
        "source_id": v.text("source_id", "unique_id", required=False),
        "level": v.integer("level", "level"),
        "meta": meta,
    }


def competition_problem(v: RowView) -> dict[str, Any]:
    """AIME 2024/2025 and AMC 2023 (Qwen2.5-Math and MathArena files): integer answers, some
    stored as floats (AMC 27.0 -> "27")."""
    meta = {}
    for key in ("url", "contest", "problem_number"):
        val = v.raw(f"meta.{key}", key)
        if val is not None:
            meta[key] = val
    return {
        "problem": v.text("problem", "problem"),
        "reference_answer": _answer(v, "reference_answer", "answer", meta, required=True),
        "reference_solution": _solution(v, "reference_solution", "solution", meta),
        "source_id": v.text("source_id", "id", required=False),
        "meta": meta,
    }


def _fn_name(v: RowView, dst: str, default: str | tuple[str, ...] | None, *, required: bool) -> str | None:
    """The name of the function the tests call: a Python identifier (a method name for APPS's
    call-style problems)."""
    col, val = v.get(dst, default, required=required)
    if val is None and not required:
        return None
    if not isinstance(val, str) or not val.isidentifier():
        raise RowFail("invalid_value", f"expected a Python function name, found {_describe(val)}", field=col)
    return val


def humaneval_problem(v: RowView) -> dict[str, Any]:
    prompt = v.text("problem", "prompt", nonempty=True)
    entry = _fn_name(v, "tests.fn_name", "entry_point", required=True)
    test = v.text("tests.asserts", "test")
    canonical = v.text("reference_solution", "canonical_solution", required=False)
    assert prompt is not None and entry is not None and test is not None
    # HumanEval's `test` defines check(candidate); the harness then calls check(<entry_point>)
    return {
        "problem": prompt,
        "reference_solution": (prompt + canonical) if canonical is not None else None,
        "source_id": v.text("source_id", "task_id", required=False),
        "tests": _tests("assert", fn_name=entry, asserts=[f"{test}\n\ncheck({entry})\n"], starter_code=prompt),
        "meta": {},
    }


_CALL = re.compile(r"([A-Za-z_][\w.]*)\s*\(")


def _called_function(assert_line: str, solution: str | None) -> str | None:
    """The function an MBPP assert tests: the first call the reference solution defines (task
    126 defines its own `sum`), else the first that is not a builtin or a module helper
    (`assert int(lobb_num(5, 3)) == 35` -> lobb_num, `math.isclose(f(x), ...)` -> f)."""
    import builtins

    calls = [n for n in _CALL.findall(assert_line) if "." not in n]
    defined = set(re.findall(r"^\s*def\s+([A-Za-z_]\w*)\s*\(", solution or "", flags=re.MULTILINE))
    for name in calls:
        if name in defined:
            return name
    for name in calls:
        if not hasattr(builtins, name):
            return name
    return None


def mbpp_problem(v: RowView) -> dict[str, Any]:
    asserts = v.str_list("tests.asserts", "test_list")
    assert asserts is not None
    setup = v.text("tests.setup_code", "test_setup_code", required=False, nonempty=False)
    meta = {}
    challenge = v.str_list("meta.challenge_test_list", "challenge_test_list", required=False)
    if challenge:
        meta["challenge_test_list"] = challenge
    solution = v.text("reference_solution", "code", required=False)
    return {
        "problem": v.text("problem", "text"),
        "reference_solution": solution,
        "source_id": v.text("source_id", "task_id", required=False),
        # the function name the asserts call, so a prompt can ask for it by name
        "tests": _tests("assert", fn_name=_called_function(asserts[0], solution) if asserts else None, asserts=asserts,
                        setup_code=setup or None),
        "meta": meta,
    }


def _literal(text: str, col: str | None) -> Any:
    """APPS stores `input_output` as a JSON string; some copies use Python literals."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
        raise RowFail("invalid_value", f"expected a JSON or Python literal, found unparseable text ({type(e).__name__})", field=col) from None


def apps_problem(v: RowView) -> dict[str, Any]:
    col, io_ = v.get("tests", "input_output")
    if isinstance(io_, str):
        io_ = _literal(io_, col)
    if not isinstance(io_, dict):
        raise RowFail("wrong_type", f"expected an object with inputs/outputs, found {_describe(io_)}", field=col)
    ins, outs, fn = io_.get("inputs"), io_.get("outputs"), io_.get("fn_name")
    if not isinstance(ins, list) or not isinstance(outs, list):
        raise RowFail("wrong_type", "expected 'inputs' and 'outputs' lists", field=col)
    if len(ins) != len(outs):
        raise RowFail("invalid_value", f"expected as many outputs as inputs, found {len(ins)} inputs and {len(outs)} outputs", field=col)
    starter = v.text("tests.starter_code", "starter_code", required=False, nonempty=False) or None
    if fn is not None and fn != "" and (not isinstance(fn, str) or not fn.isidentifier()):
        raise RowFail("invalid_value", f"expected 'fn_name' to be a Python function name, found {_describe(fn)}", field=col)
    if fn:
        # call style: each case's argument list and expected result, JSON-encoded
        tests = _tests("call", fn_name=str(fn), inputs=[json.dumps(x, ensure_ascii=False) for x in ins],
                       outputs=[json.dumps(x, ensure_ascii=False) for x in outs], starter_code=starter)
    else:
        bad = [i for i, x in enumerate(ins + outs) if not isinstance(x, str)]
        if bad:
            raise RowFail("wrong_type", "expected stdin/stdout strings in inputs/outputs", field=col)
        tests = _tests("stdin_stdout", inputs=list(ins), outputs=list(outs), starter_code=starter)
    solutions = v.raw("meta.solutions", "solutions")
    if isinstance(solutions, str):
        solutions = _literal(solutions, "solutions")
    meta: dict[str, Any] = {}
    url = v.raw("meta.url", "metadata.url") or v.raw("meta.url", "url")
    if url:
        meta["url"] = url
    if isinstance(solutions, list) and solutions:
        meta["solutions"] = solutions
    gen = v.raw("meta.gen_solutions", "gen_solutions")
    if isinstance(gen, list) and gen:
        # CodeRL's executed model programs: result True = passed, False = failed a test,
        # -1 = runtime error / timeout (error_type says which). Kept for verifier tests.
        meta["gen_solutions"] = [
            {"code": g.get("code"), "passed": g.get("result") is True, "result": g.get("result"),
             "error_type": g.get("error_type")}
            for g in gen if isinstance(g, dict)
        ]
    return {
        "problem": v.text("problem", "question"),
        "reference_solution": solutions[0] if isinstance(solutions, list) and solutions and isinstance(solutions[0], str) else None,
        "source_id": v.text("source_id", "problem_id", required=False),
        "difficulty": v.text("difficulty", ("metadata.difficulty", "difficulty"), required=False),
        "tests": tests,
        "meta": meta,
    }


def qwen_eval_problem(v: RowView) -> dict[str, Any]:
    """The problem side of the Qwen2.5-Math evaluation output rows (question, answer, level)."""
    meta: dict[str, Any] = {}
    idx = v.raw("meta.idx", "idx")
    if idx is not None:
        meta["idx"] = idx
    _answer_facts(v, meta)
    return {
        "problem": v.text("problem", "question"),
        "reference_answer": _answer(v, "reference_answer", ("answer", "gt"), meta),
        "reference_solution": _solution(v, "reference_solution", "solution", meta),
        "source_id": v.text("source_id", "idx", required=False),
        "level": v.integer("level", "level"),
        "meta": meta,
    }


# ---------------------------------------------------------------------------------------------
# trace builders: RowView + built problem -> partial Trace dicts
# ---------------------------------------------------------------------------------------------


def _trace(split: Split, completion: str, *, sample_index: int, prompt: str, system_prompt: str | None = None,
           meta: dict[str, Any] | None = None, teacher: str | None = None, finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "sample_index": sample_index,
        "teacher": teacher,
        "system_prompt": system_prompt,
        "prompt": prompt,
        "completion": completion,
        "reasoning": split.reasoning,
        "reasoning_finished": split.reasoning_finished,
        "answer": split.answer,
        "finish_reason": finish_reason or split.finish_reason,
        "prompt_tokens": None,
        "completion_tokens": None,
        "meta": {"format": split.form, **(meta or {})},
    }


def _qwen_eval_traces(v: RowView, problem: dict[str, Any], splitter: Callable[[str], Split]) -> list[dict[str, Any]]:
    """Qwen2.5-Math evaluation rows: `code` holds the n samples; `score`/`pred` are the authors'
    grader labels per sample; `pred_score` (best-of-N files) the reward model's score."""
    samples = v.str_list("completion", "code")
    assert samples is not None
    n = len(samples)
    scores = v.raw("meta.label_correct", "score")
    preds = v.raw("meta.label_pred", "pred")
    rewards = v.raw("meta.reward_score", "pred_score")
    for name, arr in (("score", scores), ("pred", preds), ("pred_score", rewards)):
        if arr is not None and (not isinstance(arr, list) or len(arr) != n):
            raise RowFail("invalid_value", f"expected a list of {n} (one per sample in 'code'), found {_describe(arr)}", field=name)
    system = v.text("system_prompt", "system", required=False, nonempty=False) or None
    prompt = v.text("prompt", ("query", "question"))
    teacher = v.text("teacher", "model", required=False)
    idx = problem.get("meta", {}).get("idx")
    return [_trace(splitter(text), text, sample_index=i, prompt=prompt or problem["problem"], system_prompt=system,
                   meta=qwen_sample_meta(scores, preds, rewards, i, idx), teacher=teacher)
            for i, text in enumerate(samples)]


def qwen_sample_meta(scores: list | None, preds: list | None, rewards: list | None, i: int, idx: Any) -> dict[str, Any]:
    """Meta of sample `i` of a Qwen2.5-Math evaluation row (the row path and the batch path
    share it, so both write the same bytes)."""
    meta: dict[str, Any] = {}
    if scores is not None:
        meta["label_correct"] = bool(scores[i]) if scores[i] is not None else None
    if preds is not None:
        meta["label_pred"] = preds[i]
    if rewards is not None:
        r = rewards[i]
        meta["reward_score"] = r[0] if isinstance(r, list) and len(r) == 1 else r
    if idx is not None:
        meta["idx"] = idx
    return meta


def skyt1_traces(v: RowView, problem: dict[str, Any]) -> list[dict[str, Any]]:
    return _qwen_eval_traces(v, problem, split_skyt1)


def qwen_traces(v: RowView, problem: dict[str, Any]) -> list[dict[str, Any]]:
    return _qwen_eval_traces(v, problem, split_plain)


_COMPLETION_COLS = ("completion", "response", "output", "generation", "generated_text")


def think_problem(v: RowView) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    _answer_facts(v, meta)
    return {
        "problem": v.text("problem", ("problem", "question", "prompt", "instruction")),
        "reference_answer": _answer(v, "reference_answer", ("reference_answer", "gt", "gold", "ground_truth", "answer"), meta),
        "reference_solution": _solution(v, "reference_solution", "solution", meta),
        "source_id": v.text("source_id", ("source_id", "id", "idx"), required=False),
        "level": v.integer("level", "level"),
        "difficulty": v.text("difficulty", "difficulty", required=False),
        "meta": meta,
    }


def think_traces(v: RowView, problem: dict[str, Any]) -> list[dict[str, Any]]:
    text = v.text("completion", _COMPLETION_COLS)
    assert text is not None
    reasoning = v.text("reasoning", ("reasoning", "reasoning_content"), required=False, nonempty=False)
    split = split_think(text, reasoning_field=reasoning)
    meta: dict[str, Any] = {}
    correct = v.raw("meta.label_correct", ("correct", "is_correct", "label"))
    if isinstance(correct, bool):
        meta["label_correct"] = correct
    index = v.integer("sample_index", "sample_index")
    return [_trace(
        split, text,
        sample_index=index if index is not None else -1,  # -1: the driver numbers samples per problem
        prompt=v.text("prompt", "prompt", required=False) or problem["problem"],
        system_prompt=v.text("system_prompt", ("system_prompt", "system"), required=False, nonempty=False) or None,
        teacher=v.text("teacher", ("teacher", "model"), required=False),
        finish_reason=_finish(v),
        meta=meta,
    )]


def _finish(v: RowView) -> str | None:
    col, fr = v.get("finish_reason", ("finish_reason", "stop_reason"), required=False)
    if fr is None:
        return None
    if fr not in ("stop", "length", "error", "unknown"):
        raise RowFail("invalid_value", f"expected one of ['stop', 'length', 'error', 'unknown'], found {_describe(fr)}", field=col)
    return str(fr)


_ROLE = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system", "model": "assistant"}


def _messages(v: RowView) -> tuple[str | None, str | None, str, list[dict[str, str]]]:
    col, msgs = v.get("messages", ("messages", "conversations"))
    if not isinstance(msgs, list) or not msgs:
        raise RowFail("wrong_type", f"expected a non-empty list of {{role, content}} messages, found {_describe(msgs)}", field=col)
    norm = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            raise RowFail("wrong_type", f"expected message {i} to be an object, found {_describe(m)}", field=col)
        role = m.get("role", m.get("from"))
        content = m.get("content", m.get("value"))
        if role not in _ROLE or not isinstance(content, str):
            raise RowFail("invalid_value", f"message {i}: expected role in {sorted(set(_ROLE.values()))} and string content, found role {role!r}", field=col)
        norm.append({"role": _ROLE[role], "content": content})
    system = next((m["content"] for m in norm if m["role"] == "system"), None)
    user = next((m["content"] for m in norm if m["role"] == "user"), None)
    last = norm[-1]
    if last["role"] != "assistant":
        raise RowFail("invalid_value", f"expected the last message to be the assistant's reply, found role {last['role']!r}", field=col)
    if user is None:
        raise RowFail("invalid_value", "expected a user message holding the problem, found none", field=col)
    return col, system, user, norm


def messages_problem(v: RowView) -> dict[str, Any]:
    _, _, user, _ = _messages(v)
    meta: dict[str, Any] = {}
    return {
        "problem": user,
        "reference_answer": _answer(v, "reference_answer", ("reference_answer", "gt", "answer"), meta),
        "source_id": v.text("source_id", ("source_id", "id"), required=False),
        "meta": meta,
    }


def messages_traces(v: RowView, problem: dict[str, Any]) -> list[dict[str, Any]]:
    _, system, user, norm = _messages(v)
    if system is None:  # Bespoke-Stratos/OpenThoughts rows keep the system prompt beside the conversation
        system = v.text("system_prompt", ("system_prompt", "system"), required=False, nonempty=False) or None
    text = norm[-1]["content"]
    return [_trace(split_think(text), text, sample_index=-1, prompt=user, system_prompt=system,
                   teacher=v.text("teacher", ("teacher", "model"), required=False), finish_reason=_finish(v))]


# ---------------------------------------------------------------------------------------------
# the preset table
# ---------------------------------------------------------------------------------------------

ProblemFn = Callable[[RowView], dict[str, Any]]
TraceFn = Callable[[RowView, dict[str, Any]], list[dict[str, Any]]]

# --map destinations every preset honours: the row's context, and meta.KEY (copy a column into meta)
CONTEXT_DESTS = ("domain", "source", "license", "language")


@dataclass(frozen=True)
class Preset:
    name: str
    kind: Kind  # what it makes by default
    doc: str
    problem: ProblemFn
    traces: TraceFn | None = None
    domain: str = "math"
    source: str | None = None  # None: "unknown" unless a source column or --source names it
    # a per-row source name: the first of these columns a row has (a string) wins over `source`
    source_columns: tuple[str, ...] = ("source",)
    license: str | None = None
    names: tuple[str, ...] = ()  # file-name fragments for autodetection
    # the destinations the functions read, i.e. what `--map DEST=COLUMN` can re-point (tested
    # against the functions in tests/test_ingest_variants.py); a --map the preset would ignore is an error
    problem_reads: tuple[str, ...] = ()
    trace_reads: tuple[str, ...] = ()
    # columns only the trace builder reads: written nowhere when the run makes problem rows
    # (`--to problem`), so they are listed in the report as not kept instead of copied into meta
    trace_columns: tuple[str, ...] = ()
    # columns of the format the preset leaves out on purpose (a copy of another column, a
    # run's bookkeeping), with why: listed in the report as not kept, never copied into meta
    ignores: tuple[tuple[str, str], ...] = ()
    # generic presets: each row's domain comes from its content unless --domain says (see
    # `infer_domain` in factory.ingest.core); fixed-format presets know their domain
    infer_domain: bool = False


_TESTS_DESTS = ("tests.asserts", "tests.inputs", "tests.outputs", "tests.fn_name", "tests.setup_code", "tests.starter_code")
_PROBLEM_BASICS = ("problem", "reference_answer", "reference_solution", "source_id")
_QWEN_TRACE_COLUMNS = ("code", "score", "pred", "pred_score", "report", "system", "query", "model", "response", "history")
# the Qwen2.5-Math evaluation's own bookkeeping columns (what its scripts write beside the samples)
_QWEN_IGNORES = (
    ("gt_cot", "the evaluation's copy of `solution` (kept as reference_solution)"),
    ("report", "the evaluation's per-sample code-execution report (empty for CoT prompts)"),
    ("response", "the evaluation's copy of `code` (the samples)"),
    ("history", "the evaluation's chat history of the run"),
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("gsm8k", "problem", "GSM8K: question, answer ending in '#### N'", gsm8k_problem, source="gsm8k", license="MIT",
               names=("gsm8k",), problem_reads=("problem", "reference_solution", "source_id")),
        Preset("math500", "problem", "MATH-500: problem, answer, solution, subject, level, unique_id", math500_problem,
               source="math500", license="MIT", names=("math500", "math-500", "math_500"),
               problem_reads=_PROBLEM_BASICS + ("level", "meta.subject")),
        Preset("aime24", "problem", "AIME 2024 (Qwen2.5-Math file): id, problem, solution, answer, url", competition_problem,
               source="aime24", license="MIT; problems (c) MAA", names=("aime24", "aime_2024", "aime2024"),
               problem_reads=_PROBLEM_BASICS + ("meta.url", "meta.contest", "meta.problem_number")),
        Preset("aime25", "problem", "AIME 2025 (MathArena): id, contest, problem_number, problem, answer", competition_problem,
               source="aime25", license="MIT; problems (c) MAA", names=("aime25", "aime_2025", "aime2025"),
               problem_reads=_PROBLEM_BASICS + ("meta.url", "meta.contest", "meta.problem_number")),
        Preset("amc23", "problem", "AMC 2023 (Qwen2.5-Math file): id, problem, answer (float), url", competition_problem,
               source="amc23", license="MIT; problems (c) MAA", names=("amc23", "amc_2023", "amc2023"),
               problem_reads=_PROBLEM_BASICS + ("meta.url", "meta.contest", "meta.problem_number")),
        Preset("humaneval", "problem", "HumanEval: prompt, entry_point, canonical_solution, test (check(candidate))",
               humaneval_problem, domain="code", source="humaneval", license="MIT", names=("humaneval",),
               problem_reads=("problem", "reference_solution", "source_id", "tests.fn_name", "tests.asserts")),
        Preset("mbpp", "problem", "MBPP: text, code, test_list (asserts), test_setup_code", mbpp_problem,
               domain="code", source="mbpp", license="CC-BY-4.0", names=("mbpp",),
               problem_reads=("problem", "reference_solution", "source_id", "tests.asserts", "tests.setup_code",
                              "meta.challenge_test_list")),
        Preset("apps", "problem", "APPS: question, input_output (stdin/stdout or fn_name call), starter_code, metadata; CodeRL gen_solutions kept",
               apps_problem, domain="code", source="apps", license="MIT", names=("apps",),
               problem_reads=("problem", "source_id", "difficulty", "tests", "tests.starter_code", "meta.solutions",
                              "meta.url", "meta.gen_solutions")),
        Preset("skyt1-traces", "trace", "Sky-T1 outputs (Qwen2.5-Math eval format): code[n] with <|begin_of_thought|>/<|begin_of_solution|> tags, score/pred labels",
               qwen_eval_problem, skyt1_traces, source="math", source_columns=("benchmark", "source"), license="Apache-2.0",
               names=("skyt1", "sky-t1", "sky_t1"),
               problem_reads=_PROBLEM_BASICS + ("level", "meta.idx", "meta.unit", "meta.answer_type"),
               trace_reads=("completion", "prompt", "system_prompt", "teacher", "meta.label_correct", "meta.label_pred",
                            "meta.reward_score"),
               trace_columns=_QWEN_TRACE_COLUMNS, ignores=_QWEN_IGNORES),
        Preset("qwen-traces", "trace", "Qwen2.5-Math eval outputs (short CoT, best-of-N, OlympiadBench): code[n] samples, score/pred labels, pred_score rewards; list-valued solution/answer, unit and answer_type kept",
               qwen_eval_problem, qwen_traces, source="math", source_columns=("benchmark", "source"), license="Apache-2.0",
               names=("qwen25", "qwen2.5", "_bo8", "short_cot"),
               problem_reads=_PROBLEM_BASICS + ("level", "meta.idx", "meta.unit", "meta.answer_type"),
               trace_reads=("completion", "prompt", "system_prompt", "teacher", "meta.label_correct", "meta.label_pred",
                            "meta.reward_score"),
               trace_columns=_QWEN_TRACE_COLUMNS, ignores=_QWEN_IGNORES),
        Preset("think-traces", "trace", "generic <think>…</think> completions: problem/question/prompt + completion/response/output",
               think_problem, think_traces, domain="general", infer_domain=True,
               problem_reads=_PROBLEM_BASICS + ("level", "difficulty", "meta.unit", "meta.answer_type"),
               trace_reads=("completion", "reasoning", "prompt", "system_prompt", "teacher", "sample_index", "finish_reason",
                            "meta.label_correct"),
               trace_columns=_COMPLETION_COLS + ("reasoning", "reasoning_content", "correct", "is_correct", "label",
                                                 "sample_index", "model", "teacher", "finish_reason", "stop_reason")),
        Preset("messages", "trace", "chat `messages` (or ShareGPT `conversations`, with a top-level `system`): user -> problem, last assistant -> completion",
               messages_problem, messages_traces, domain="general", infer_domain=True,
               problem_reads=("messages", "reference_answer", "source_id"),
               trace_reads=("messages", "system_prompt", "teacher", "finish_reason"),
               trace_columns=("model", "teacher", "finish_reason", "stop_reason")),
        Preset("problems", "problem", "generic problem table: problem/question/prompt, answer, solution, id, level (map anything with --map)",
               generic_problem, domain="general", infer_domain=True,
               problem_reads=_PROBLEM_BASICS + ("level", "difficulty", "meta.unit", "meta.answer_type") + _TESTS_DESTS),
    ]
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}: expected one of {sorted(PRESETS)}",
                         hint="`factory ingest --help` describes each preset") from None


def allowed_dests(preset: Preset, kind: Kind) -> tuple[str, ...]:
    """The --map destinations a preset reads when making `kind` rows (plus the context ones and
    meta.KEY, always allowed); any other is an error."""
    reads = preset.problem_reads + (preset.trace_reads if kind == "trace" else ())
    return tuple(dict.fromkeys(d for d in reads + CONTEXT_DESTS if not d.startswith("meta.")))


def detect_preset(spec: str, columns: list[str]) -> Preset | None:
    """Guess a preset from the file name, then from the first row's columns."""
    name = Path(spec).name.lower()
    order = ["skyt1-traces", "qwen-traces", "gsm8k", "aime24", "aime25", "amc23", "humaneval", "mbpp", "apps", "math500"]
    for key in order:
        if any(frag in name for frag in PRESETS[key].names):
            return PRESETS[key]
    cols = set(columns)
    if cols & {"messages", "conversations"}:
        return PRESETS["messages"]
    if {"code", "score", "pred"} <= cols:
        return PRESETS["qwen-traces"]
    if {"task_id", "prompt", "entry_point", "test"} <= cols:
        return PRESETS["humaneval"]
    if {"text", "code", "test_list"} <= cols:
        return PRESETS["mbpp"]
    if {"question", "input_output"} <= cols:
        return PRESETS["apps"]
    if cols & set(_COMPLETION_COLS):
        return PRESETS["think-traces"]
    if cols & {"problem", "question", "prompt", "instruction"}:
        return PRESETS["problems"]
    return None
