"""The three row contracts — Problem, Trace, SFT example — each written twice on purpose:
once as an explicit Arrow schema (what lands in Parquet) and once as a dataclass validator
(what Python code builds and checks row by row). `tests/test_schemas.py` proves the two agree
field by field, so neither can drift.

Design choice: a Trace row carries its problem's context (domain, source, problem text,
reference answer, tests, level, language, license) so that every later stage — verify, filter,
dedup, curate — reads ONE folder and never needs a join to know what a trace was for.

Exercise: `factory schema show trace`, `factory schema json sft`.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

import pyarrow as pa
from factory.schemas.errors import SchemaError

# Bump when a contract changes incompatibly; recorded in every manifest.
SCHEMA_VERSION = "1.0"

Domain = Literal["math", "code", "science", "puzzle", "general"]
TestStyle = Literal["stdin_stdout", "call", "assert"]
FinishReason = Literal["stop", "length", "error", "unknown"]
SftKind = Literal["shortcut", "journey", "non_reasoning"]
Role = Literal["system", "user", "assistant"]

DOMAINS: tuple[str, ...] = get_args(Domain)
FINISH_REASONS: tuple[str, ...] = get_args(FinishReason)
SFT_KINDS: tuple[str, ...] = get_args(SftKind)

# ---------------------------------------------------------------------------------------------
# Arrow schemas (explicit)
# ---------------------------------------------------------------------------------------------

TESTS_TYPE = pa.struct(
    [
        pa.field("style", pa.string(), nullable=False),
        pa.field("fn_name", pa.string()),
        pa.field("inputs", pa.list_(pa.string()), nullable=False),
        pa.field("outputs", pa.list_(pa.string()), nullable=False),
        pa.field("asserts", pa.list_(pa.string()), nullable=False),
        pa.field("setup_code", pa.string()),
        pa.field("starter_code", pa.string()),
        pa.field("time_limit_s", pa.float64()),
    ]
)

SAMPLING_TYPE = pa.struct(
    [
        pa.field("temperature", pa.float64(), nullable=False),
        pa.field("top_p", pa.float64(), nullable=False),
        pa.field("max_tokens", pa.int64(), nullable=False),
        pa.field("n", pa.int32(), nullable=False),
        pa.field("seed", pa.int64()),
        pa.field("top_k", pa.int32()),
        pa.field("prompt_preset", pa.string()),
        pa.field("extra", pa.string()),
    ]
)

MESSAGE_TYPE = pa.struct(
    [pa.field("role", pa.string(), nullable=False), pa.field("content", pa.string(), nullable=False)]
)

PROBLEM_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_id", pa.string()),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("problem", pa.string(), nullable=False),
        pa.field("reference_answer", pa.string()),
        pa.field("reference_solution", pa.string()),
        pa.field("tests", TESTS_TYPE),
        pa.field("difficulty", pa.string()),
        pa.field("level", pa.int32()),
        pa.field("language", pa.string(), nullable=False),
        pa.field("license", pa.string()),
        pa.field("meta", pa.string()),
    ]
)

TRACE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("problem_id", pa.string(), nullable=False),
        pa.field("sample_index", pa.int32(), nullable=False),
        pa.field("teacher", pa.string(), nullable=False),
        pa.field("backend", pa.string(), nullable=False),
        pa.field("sampling", SAMPLING_TYPE),
        pa.field("system_prompt", pa.string()),
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("completion", pa.string(), nullable=False),
        pa.field("reasoning", pa.string()),
        pa.field("reasoning_finished", pa.bool_(), nullable=False),
        pa.field("answer", pa.string()),
        pa.field("finish_reason", pa.string(), nullable=False),
        pa.field("prompt_tokens", pa.int64()),
        pa.field("completion_tokens", pa.int64()),
        # the problem's context, copied so every stage reads one folder
        pa.field("domain", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("problem", pa.string(), nullable=False),
        pa.field("reference_answer", pa.string()),
        pa.field("tests", TESTS_TYPE),
        pa.field("difficulty", pa.string()),
        pa.field("level", pa.int32()),
        pa.field("language", pa.string(), nullable=False),
        pa.field("license", pa.string()),
        pa.field("meta", pa.string()),
    ]
)

SFT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("messages", pa.list_(MESSAGE_TYPE), nullable=False),
        pa.field("trace_ids", pa.list_(pa.string()), nullable=False),
        pa.field("problem_id", pa.string()),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("language", pa.string()),
        pa.field("license", pa.string()),
        pa.field("meta", pa.string()),
    ]
)

# ---------------------------------------------------------------------------------------------
# Validators (dataclasses). Field order, names, types and nullability mirror the Arrow schemas.
# ---------------------------------------------------------------------------------------------


@dataclass
class Tests:
    """Executable tests of a code problem.

    style: stdin_stdout (inputs fed on stdin, outputs compared to stdout), call (fn_name called
    with each JSON-encoded argument list in inputs, result compared to JSON-decoded outputs),
    assert (each entry of asserts is Python run after the candidate program)."""

    style: TestStyle
    fn_name: str | None = None
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    asserts: list[str] = field(default_factory=list)
    setup_code: str | None = None
    starter_code: str | None = None
    time_limit_s: float | None = None


@dataclass
class Sampling:
    """Sampling parameters of one generation request (`extra` holds any others as JSON)."""

    temperature: float
    top_p: float
    max_tokens: int
    n: int
    seed: int | None = None
    top_k: int | None = None
    prompt_preset: str | None = None
    extra: str | None = None


@dataclass
class Message:
    role: Role
    content: str


@dataclass
class Problem:
    """A problem to be solved: `id` is problem_id(domain, problem, reference_answer, tests)."""

    id: str
    source: str
    source_id: str | None
    domain: Domain
    problem: str
    reference_answer: str | None = None
    reference_solution: str | None = None
    tests: Tests | None = None
    difficulty: str | None = None
    level: int | None = None
    language: str = "en"
    license: str | None = None
    meta: str | None = None


@dataclass
class Trace:
    """One teacher sample for one problem."""

    id: str
    problem_id: str
    sample_index: int
    teacher: str
    backend: str
    sampling: Sampling | None
    system_prompt: str | None
    prompt: str
    completion: str
    reasoning: str | None
    reasoning_finished: bool
    answer: str | None
    finish_reason: FinishReason
    prompt_tokens: int | None
    completion_tokens: int | None
    domain: Domain
    source: str
    problem: str
    reference_answer: str | None = None
    tests: Tests | None = None
    difficulty: str | None = None
    level: int | None = None
    language: str = "en"
    license: str | None = None
    meta: str | None = None


@dataclass
class SftExample:
    """One SFT row in TRL's conversational format plus provenance."""

    id: str
    messages: list[Message]
    trace_ids: list[str]
    problem_id: str | None
    kind: SftKind
    domain: Domain
    source: str
    language: str | None = None
    license: str | None = None
    meta: str | None = None


# ---------------------------------------------------------------------------------------------
# Contract registry and the validator engine
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contract:
    name: str
    schema: pa.Schema
    model: type
    doc: str

    def validate_row(self, row: dict[str, Any], *, where: str = "") -> dict[str, Any]:
        """Check one row (a plain dict); raise SchemaError listing every problem at once.
        Returns the row with missing optional fields filled with their defaults."""
        problems: list[str] = []
        out = _check_dataclass(self.model, row, where or self.name, problems)
        if problems:
            raise SchemaError(
                f"{len(problems)} problem(s) in a {self.name} row:\n" + "\n".join(f"  - {p}" for p in problems),
                hint=f"see `factory schema show {self.name}` for the contract",
            )
        return out

    def validate_table(self, table: pa.Table, *, where: str = "") -> pa.Table:
        """Check an Arrow table: exact schema (cast when lossless), enums, non-empty ids."""
        where = where or self.name
        names = set(table.schema.names)
        expected = set(self.schema.names)
        missing = [n for n in self.schema.names if n not in names]
        extra = [n for n in table.schema.names if n not in expected and not _is_score_column(n)]
        problems = []
        if missing:
            problems.append(f"{where}: missing column(s) {missing}")
        if extra:
            problems.append(f"{where}: unexpected column(s) {extra}")
        if problems:
            raise SchemaError("; ".join(problems), hint=f"see `factory schema show {self.name}`")
        base = table.select(self.schema.names)
        try:
            base = base.cast(self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
            raise SchemaError(f"{where}: columns do not match the {self.name} contract: {e}") from None
        for enum_col, allowed in _ENUMS.get(self.name, {}).items():
            col = base.column(enum_col)
            import pyarrow.compute as pc

            # the distinct values, checked in Python: a value set built with pa.array would import
            # pandas (pyarrow asks whether a list is a pandas object; 0.3-0.5 s once per process)
            if any(v is not None and v not in allowed for v in pc.unique(col).to_pylist()):
                idx, found = next((i, v) for i, v in enumerate(col.to_pylist()) if v is not None and v not in allowed)
                raise SchemaError(
                    f"{where} row {idx} field '{enum_col}': expected one of {list(allowed)}, found {found!r}"
                )
        return table

    def json_schema(self) -> dict[str, Any]:
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"factory/{self.name}/{SCHEMA_VERSION}",
            "title": self.name,
            "description": self.doc,
            **_json_schema_for_dataclass(self.model),
        }


def _is_score_column(name: str) -> bool:
    # filters add typed score_/verdict_ columns; rejected rows keep reject_reason (DESIGN.md)
    return name.startswith(("score_", "verdict_", "stage_")) or name in {"reject_reason", "cluster_id", "duplicate_of"}


_ENUMS: dict[str, dict[str, tuple[str, ...]]] = {
    "problem": {"domain": DOMAINS},
    "trace": {"domain": DOMAINS, "finish_reason": FINISH_REASONS},
    "sft": {"domain": DOMAINS, "kind": SFT_KINDS},
}

CONTRACTS: dict[str, Contract] = {
    "problem": Contract("problem", PROBLEM_SCHEMA, Problem, Problem.__doc__ or ""),
    "trace": Contract("trace", TRACE_SCHEMA, Trace, Trace.__doc__ or ""),
    "sft": Contract("sft", SFT_SCHEMA, SftExample, SftExample.__doc__ or ""),
}


def contract_for(name: str) -> Contract:
    try:
        return CONTRACTS[name]
    except KeyError:
        raise SchemaError(f"unknown contract {name!r}: expected one of {sorted(CONTRACTS)}") from None


def _type_name(v: Any) -> str:
    return type(v).__name__


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _check_value(tp: Any, value: Any, path: str, problems: list[str]) -> Any:
    tp, optional = _unwrap_optional(tp)
    if value is None:
        if not optional:
            problems.append(f"{path}: expected {_describe(tp)}, found null")
        return None
    origin = get_origin(tp)
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            problems.append(f"{path}: expected one of {list(allowed)}, found {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value):
            value = dataclasses.asdict(value)
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object ({tp.__name__}), found {_type_name(value)}")
            return value
        return _check_dataclass(tp, value, path, problems)
    if origin is list:
        (item_tp,) = get_args(tp)
        if not isinstance(value, (list, tuple)):
            problems.append(f"{path}: expected a list, found {_type_name(value)}")
            return value
        return [_check_value(item_tp, v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            problems.append(f"{path}: expected a boolean, found {_type_name(value)} {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: expected an integer, found {_type_name(value)} {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{path}: expected a number, found {_type_name(value)} {value!r}")
            return value
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string, found {_type_name(value)} {str(value)[:40]!r}")
        return value
    raise TypeError(f"unsupported type {tp!r} at {path}")  # a programming error, not bad data


def _check_dataclass(cls: type, row: dict[str, Any], path: str, problems: list[str]) -> dict[str, Any]:
    hints = _hints(cls)
    out: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in row:
        if key not in fields and not _is_score_column(key):
            problems.append(f"{path}.{key}: unknown field (expected one of {list(fields)})")
    for name, f in fields.items():
        if name in row:
            out[name] = _check_value(hints[name], row[name], f"{path}.{name}", problems)
        elif f.default is not dataclasses.MISSING:
            out[name] = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            out[name] = f.default_factory()  # type: ignore[misc]
        else:
            tp, optional = _unwrap_optional(hints[name])
            problems.append(f"{path}.{name}: required field is missing (expected {_describe(tp)})")
    if not problems and "id" in out and isinstance(out["id"], str) and not out["id"]:
        problems.append(f"{path}.id: expected a non-empty id, found ''")
    return out


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + str(list(get_args(tp)))
    if origin is list:
        return f"list of {_describe(get_args(tp)[0])}"
    if dataclasses.is_dataclass(tp):
        return f"object {tp.__name__}"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, str(tp))


def _json_schema_for_type(tp: Any) -> dict[str, Any]:
    tp, optional = _unwrap_optional(tp)
    origin = get_origin(tp)
    if origin is Literal:
        s: dict[str, Any] = {"type": "string", "enum": list(get_args(tp))}
    elif dataclasses.is_dataclass(tp):
        s = _json_schema_for_dataclass(tp)
    elif origin is list:
        s = {"type": "array", "items": _json_schema_for_type(get_args(tp)[0])}
    else:
        s = {"type": {str: "string", int: "integer", float: "number", bool: "boolean"}[tp]}
    if optional:
        return {"anyOf": [s, {"type": "null"}]}
    return s


def _json_schema_for_dataclass(cls: type) -> dict[str, Any]:
    hints = _hints(cls)
    props = {f.name: _json_schema_for_type(hints[f.name]) for f in dataclasses.fields(cls)}
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
    ]
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def rows_to_table(rows: list[dict[str, Any]], contract: str | Contract) -> pa.Table:
    """Build an Arrow table in the contract's exact schema from validated dict rows."""
    c = contract if isinstance(contract, Contract) else contract_for(contract)
    return pa.Table.from_pylist(rows, schema=c.schema)


def meta_json(meta: dict[str, Any] | None) -> str | None:
    """Canonical JSON for the free `meta` column (sorted keys so ids/shards are stable)."""
    if not meta:
        return None
    return json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str)
