"""The Arrow schemas and the dataclass validators describe the same contracts."""

from __future__ import annotations

import dataclasses
import json
import typing

import pyarrow as pa
import pytest
from factory.schemas import CONTRACTS, SchemaError, problem_id, trace_id
from factory.schemas.contracts import _unwrap_optional, rows_to_table

_PY_TO_ARROW = {str: (pa.string(),), int: (pa.int32(), pa.int64()), float: (pa.float64(),), bool: (pa.bool_(),)}


def _agree(tp, arrow_type, path):
    tp, _ = _unwrap_optional(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        assert arrow_type == pa.string(), path
    elif dataclasses.is_dataclass(tp):
        assert pa.types.is_struct(arrow_type), path
        _agree_fields(tp, list(arrow_type), path)
    elif origin is list:
        assert pa.types.is_list(arrow_type), path
        _agree(typing.get_args(tp)[0], arrow_type.value_type, path + "[]")
    else:
        assert arrow_type in _PY_TO_ARROW[tp], f"{path}: {tp} vs {arrow_type}"


def _agree_fields(cls, arrow_fields, path):
    hints = typing.get_type_hints(cls)
    py = [f.name for f in dataclasses.fields(cls)]
    assert py == [f.name for f in arrow_fields], f"{path}: field lists differ"
    for af in arrow_fields:
        tp = hints[af.name]
        _, optional = _unwrap_optional(tp)
        assert optional == af.nullable, f"{path}.{af.name}: optional={optional} but arrow nullable={af.nullable}"
        _agree(tp, af.type, f"{path}.{af.name}")


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_arrow_schema_and_validator_agree(name):
    c = CONTRACTS[name]
    _agree_fields(c.model, list(c.schema), name)


def _problem_row(**over):
    row = dict(
        id=problem_id("math", "1+1?", "2"),
        source="unit",
        source_id="0",
        domain="math",
        problem="1+1?",
        reference_answer="2",
        tests=None,
        level=1,
        language="en",
    )
    row.update(over)
    return row


def test_valid_row_round_trips_through_arrow():
    c = CONTRACTS["problem"]
    row = c.validate_row(_problem_row())
    table = rows_to_table([row], c)
    assert table.schema == c.schema
    c.validate_table(table)
    assert table.to_pylist()[0] == row


def test_validator_reports_every_problem_at_once():
    c = CONTRACTS["problem"]
    with pytest.raises(SchemaError) as e:
        c.validate_row(_problem_row(domain="poetry", level="hard", bogus=1, problem=None))
    msg = str(e.value)
    assert "4 problem(s)" in msg
    assert "problem.domain: expected one of ['math', 'code', 'science', 'puzzle', 'general'], found 'poetry'" in msg
    assert "problem.level: expected an integer, found str 'hard'" in msg
    assert "problem.bogus: unknown field" in msg
    assert "problem.problem: expected string, found null" in msg


def test_nested_struct_validation_names_the_path():
    c = CONTRACTS["problem"]
    with pytest.raises(SchemaError, match=r"problem\.tests\.inputs\[1\]: expected a string, found int"):
        c.validate_row(_problem_row(domain="code", tests={"style": "stdin_stdout", "inputs": ["1", 2], "outputs": ["1", "2"]}))


def test_table_validation_rejects_bad_enum_with_row_index():
    c = CONTRACTS["problem"]
    rows = [c.validate_row(_problem_row()), c.validate_row(_problem_row(problem="2+2?"))]
    rows[1]["domain"] = "poetry"
    with pytest.raises(SchemaError, match=r"row 1 field 'domain'.*found 'poetry'"):
        c.validate_table(rows_to_table(rows, c))


def test_json_schema_export_matches_fields():
    for name, c in CONTRACTS.items():
        js = c.json_schema()
        assert list(js["properties"]) == c.schema.names
        json.dumps(js)  # serialisable
    trace = CONTRACTS["trace"].json_schema()
    assert trace["properties"]["finish_reason"]["enum"] == ["stop", "length", "error", "unknown"]
    assert "sample_index" in trace["required"]


def test_ids_are_stable_content_hashes():
    a = problem_id("math", "What is 1+1?", "2")
    assert a == problem_id("math", "What is 1+1?  ", "2")  # surrounding whitespace is not content
    assert a != problem_id("math", "What is 1+2?", "2")
    assert a != problem_id("code", "What is 1+1?", "2")
    assert a.startswith("p_") and len(a) == 18
    # pinned: a changed hash function would silently re-key every dataset
    assert a == "p_" + __import__("hashlib").sha256("math\x1fWhat is 1+1?\x1f2\x1f\x00".encode()).hexdigest()[:16]
    t = trace_id(a, 0, "teacher", "text")
    assert t != trace_id(a, 1, "teacher", "text")
