"""A battery of bad inputs for `factory ingest`: malformed files, wrong types, binary files, huge
lines, empty files, wrong encodings, compressed or foreign formats behind a text name, foreign
schemas. Each must end in one clean `InputError` that says where (file, and line/row and field
when a row is at fault), from both engines, leaving no output folder behind; from the CLI, one
`error:` line and exit code 1, never `internal error`, a traceback or a hang. Inputs that are odd
but valid are accepted, and whatever they carry that no field takes is reported."""

from __future__ import annotations

import datetime
import decimal
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factory.cli.app import app
from factory.schemas.errors import FactoryError, InputError
from typer.testing import CliRunner

from factory.ingest.core import ingest

GOOD = {"question": "What is 2+3?", "answer": "Add.\n#### 5"}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8


def _text(data: str | bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def _parquet(table: pa.Table) -> Callable[[Path], None]:
    return lambda p: pq.write_table(table, p)


def _gz(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(gzip.compress(data, mtime=0))


def _truncated_parquet(p: Path) -> None:
    pq.write_table(pa.table({"question": ["q"] * 1000, "answer": ["#### 1"] * 1000}), p)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _factory_folder(p: Path) -> None:
    src = p.parent / "ok-for-folder.jsonl"
    src.write_text(json.dumps(GOOD) + "\n")
    ingest([str(src)], out=p, preset="gsm8k")


# (id, file name, how to make it, preset, what the message must hold after "<path>")
BAD: list[tuple[str, str, Callable[[Path], None], str, str]] = [
    # binary files and foreign formats behind a text name
    ("png-as-jsonl", "img.jsonl", _text(PNG), "gsm8k", ": holds binary data (NUL bytes in its first 16 bytes); expected UTF-8 JSONL text"),
    ("png-as-csv", "img.csv", _text(PNG), "gsm8k", ": holds binary data"),
    ("gzip-without-gz", "g.jsonl", _gz(json.dumps(GOOD).encode() + b"\n"), "gsm8k", ": is gzip-compressed but its name does not end in .gz"),
    ("zstd-as-jsonl", "z.jsonl", _text(b"\x28\xb5\x2f\xfd" + b"\x04" * 40), "gsm8k", ": is zstd-compressed"),
    ("xz-as-json", "x.json", _text(b"\xfd7zXZ\x00" + b"\x04" * 40), "gsm8k", ": is xz-compressed"),
    ("zip-as-csv", "z.csv", _text(b"PK\x03\x04" + b"\x14" * 40), "gsm8k", ": is a zip archive"),
    ("parquet-as-jsonl", "p.jsonl", _parquet(pa.table({"question": ["q"], "answer": ["#### 1"]})), "gsm8k", ": is a Parquet file"),
    ("jsonl-as-parquet", "t.parquet", _text(json.dumps(GOOD) + "\n"), "gsm8k", ": is named .parquet but holds JSON text"),
    ("not-gzip", "n.jsonl.gz", _text("hello"), "gsm8k", ": not a valid gzip file"),
    ("truncated-parquet", "tr.parquet", _truncated_parquet, "gsm8k", ": not a readable Parquet file"),
    # wrong encodings
    ("utf16-jsonl", "u16.jsonl", _text((json.dumps(GOOD) + "\n").encode("utf-16")), "gsm8k", ": is UTF-16 encoded (little-endian byte order mark)"),
    ("utf16be-json", "u16.json", _text(json.dumps([GOOD]).encode("utf-16-be")), "gsm8k", ": looks UTF-16 encoded (no byte order mark)"),
    ("utf32-csv", "u32.csv", _text("question,answer\nq,#### 1\n".encode("utf-32")), "gsm8k", ": is UTF-32 encoded"),
    ("latin1-csv", "l1.csv", _text("question,answer\nqé,#### 1\n".encode("latin-1")), "gsm8k", ":2: not valid UTF-8 at byte offset 17 (byte 0xe9)"),
    ("latin1-in-gzip", "l1.jsonl.gz", _gz(b'{"question": "caf\xe9", "answer": "#### 1"}\n'), "gsm8k", ":1: not valid UTF-8 at byte offset 17 of the decompressed stream (byte 0xe9)"),
    # malformed and empty
    ("malformed-jsonl", "m.jsonl", _text(json.dumps(GOOD) + "\n{\"question\": \n"), "gsm8k", ":2: malformed JSON: Expecting value (column 14)"),
    ("truncated-gzip", "t.jsonl.gz", lambda p: p.write_bytes(gzip.compress("".join(json.dumps({"question": f"Q{i * 7919 % 10007}", "answer": f"#### {i}"}) + "\n" for i in range(2000)).encode())[:3000]), "gsm8k",
     ": file is truncated or corrupted after byte"),
    ("gzip-trailing-junk", "j.jsonl.gz", _text(gzip.compress((json.dumps(GOOD) + "\n").encode()) + b"junkjunk"), "gsm8k",
     ": file is truncated or corrupted after byte 55"),
    ("empty-jsonl", "e.jsonl", _text(""), "gsm8k", ": empty file: no rows found"),
    ("bom-only", "b.jsonl", _text(b"\xef\xbb\xbf"), "gsm8k", ": empty file: no rows found"),
    ("empty-gzip", "e.jsonl.gz", _text(b""), "gsm8k", ": empty file: no rows found"),
    ("json-scalar", "s.json", _text("42"), "gsm8k", ": expected a JSON array of objects, an object with a 'data' list, or an object of row objects; found a number"),
    ("json-array-of-arrays", "a.json", _text("[[1, 2]]"), "gsm8k", " row 1: expected a JSON object per row, found an array"),
    ("csv-repeated-header", "d.csv", _text("question,question,answer\na,b,#### 1\n"), "gsm8k", ": the CSV header repeats column name(s) 'question'"),
    ("csv-open-quote", "q.csv", _text('question,answer\n"q,#### 1\n'), "gsm8k", ":2: row has 1 fields, the header has 2"),
    ("huge-integer", "i.jsonl", _text('{"question": ' + "9" * 5000 + ', "answer": "#### 1"}\n'), "gsm8k",
     ":1: malformed JSON: an integer literal with more than 4,300 digits"),
    ("deep-nesting-json", "d.json", _text("[" + "[" * 5000 + "]" * 5000 + "]"), "gsm8k", ":1: malformed JSON: nested deeper than"),
    # wrong types and values
    ("nan-answer", "nan.jsonl", _text('{"problem": "q", "answer": NaN}\n'), "math500", ":1 field 'answer': expected a string or a finite number, found float NaN"),
    ("infinity-level", "inf.jsonl", _text('{"problem": "q", "answer": "1", "level": Infinity}\n'), "math500", ":1 field 'level': expected an integer, found float Infinity"),
    ("int32-level", "lvl.jsonl", _text('{"problem": "q", "answer": "1", "level": 99999999999}\n'), "math500",
     ":1 field 'level': expected an integer from -2147483648 to 2147483647, found int 99999999999"),
    ("int32-level-text", "lvl2.jsonl", _text('{"problem": "q", "answer": "1", "level": "Level 99999999999999999999"}\n'), "math500",
     ":1 field 'level': expected an integer from -2147483648 to 2147483647"),
    ("int32-sample-index", "si.jsonl", _text('{"problem": "q", "completion": "c", "sample_index": -99999999999}\n'), "think-traces",
     ":1 field 'sample_index': expected an integer from -2147483648 to 2147483647"),
    ("lone-surrogate", "s.jsonl", _text('{"question": "q\\ud800", "answer": "#### 1"}\n'), "gsm8k",
     ":1 field 'question': text holds an unpaired UTF-16 surrogate ('\\ud800')"),
    ("bool-as-text", "b2.jsonl", _text('{"question": true, "answer": "#### 1"}\n'), "gsm8k", ":1 field 'question': expected a string, found bool true"),
    ("object-as-text", "o.jsonl", _text('{"question": {"en": "q"}, "answer": "#### 1"}\n'), "gsm8k", ":1 field 'question': expected a string, found dict"),
    ("blank-problem", "w.jsonl", _text('{"question": "  ", "answer": "#### 1"}\n'), "gsm8k", ":1 field 'question': expected non-empty text, found an empty string"),
    ("entry-point-number", "he.jsonl", _text('{"prompt": "p", "entry_point": 5, "test": "t"}\n'), "humaneval",
     ":1 field 'entry_point': expected a Python function name, found int 5"),
    ("apps-fn-name-object", "ap.jsonl", _text(json.dumps({"question": "q", "input_output": json.dumps({"inputs": [1], "outputs": [2], "fn_name": {"x": 1}})}) + "\n"),
     "apps", ":1 field 'input_output': expected 'fn_name' to be a Python function name"),
    ("apps-deep-literal", "ad.jsonl", _text(json.dumps({"question": "q", "input_output": "[" * 5000 + "]" * 5000}) + "\n"), "apps",
     ":1 field 'input_output': expected a JSON or Python literal"),
    ("mbpp-tests-number", "mb.jsonl", _text('{"text": "t", "test_list": 5, "code": "x"}\n'), "mbpp", ":1 field 'test_list': expected a list of strings, found int 5"),
    ("samples-not-strings", "q.jsonl", _text('{"question": "q", "gt": "1", "code": [{"a": 1}]}\n'), "qwen-traces",
     ":1 field 'code': expected a list of strings, found dict"),
    ("labels-wrong-length", "q2.jsonl", _text('{"question": "q", "gt": "1", "code": ["a", "b"], "score": [true]}\n'), "qwen-traces",
     ":1 field 'score': expected a list of 2 (one per sample in 'code')"),
    ("messages-not-a-list", "m.jsonl", _text('{"messages": "hi"}\n'), "messages", ":1 field 'messages': expected a non-empty list of {role, content} messages"),
    ("messages-user-last", "m2.jsonl", _text('{"messages": [{"role": "user", "content": "q"}]}\n'), "messages",
     ":1 field 'messages': expected the last message to be the assistant's reply"),
    ("finish-reason-unknown", "f.jsonl", _text('{"problem": "q", "completion": "c", "finish_reason": "eos"}\n'), "think-traces",
     ":1 field 'finish_reason': expected one of ['stop', 'length', 'error', 'unknown'], found str \"eos\""),
    # foreign schemas
    ("trace-file-as-gsm8k", "tr.jsonl", _text('{"id": "t1", "completion": "x", "prompt": "p"}\n'), "gsm8k",
     ":1 field 'answer': required column is missing (the row has: id, completion, prompt)"),
    ("problems-as-traces", "g.jsonl", _text(json.dumps(GOOD) + "\n"), "qwen-traces", ":1 field 'code': required column is missing"),
    ("parquet-struct-text", "st.parquet", _parquet(pa.table({"question": [{"a": 1}], "answer": ["#### 1"]})), "gsm8k",
     " row 1 field 'question': expected a string, found dict"),
    ("parquet-binary-text", "bi.parquet", _parquet(pa.table({"question": pa.array([b"\xff"], pa.binary()), "answer": ["#### 1"]})), "gsm8k",
     " row 1 field 'question': expected a string, found bytes"),
    ("parquet-timestamp-text", "ts.parquet", _parquet(pa.table({"question": [datetime.datetime(2020, 1, 1)], "answer": ["#### 1"]})), "gsm8k",
     " row 1 field 'question': expected a string, found datetime"),
    ("parquet-decimal-answer", "dec.parquet", _parquet(pa.table({"problem": ["p"], "answer": [decimal.Decimal("1.50")]})), "math500",
     " row 1 field 'answer': expected a string, found Decimal"),
    ("parquet-nan-level", "nl.parquet", _parquet(pa.table({"problem": ["p"], "answer": ["1"], "level": [float("nan")]})), "math500",
     " row 1 field 'level': expected an integer, found float NaN"),
    ("factory-dataset-folder", "fds", _factory_folder, "gsm8k", ": is a factory dataset folder (it has a manifest.json)"),
    ("plain-folder", "plain.jsonl", lambda p: p.mkdir(), "gsm8k", ": expected a data file"),
    ("fifo", "pipe.jsonl", lambda p: os.mkfifo(p), "gsm8k", ": is not a regular file (a pipe, socket or device)"),
    ("symlink-loop", "loop.jsonl", lambda p: os.symlink(p, p), "gsm8k", ": no such file or folder"),
]


@pytest.mark.parametrize("name,fname,make,preset,expect", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_located_error(tmp_path, name, fname, make, preset, expect):
    p = tmp_path / fname
    make(p)
    for engine in ("batch", "rows"):
        out = tmp_path / f"out-{engine}"
        with pytest.raises(InputError) as e:
            ingest([str(p)], out=out, preset=preset, engine=engine)
        assert e.value.message.startswith(f"{p}{expect}"), (engine, e.value.message)
        assert not out.exists(), "a failed ingest leaves no folder behind"


def test_the_battery_from_the_cli_is_one_red_line_each(tmp_path):
    runner = CliRunner()
    for name, fname, make, preset, expect in BAD:
        d = tmp_path / name
        d.mkdir()
        p = d / fname
        make(p)
        r = runner.invoke(app, ["ingest", str(p), "--preset", preset, "--out", str(d / "out")])
        assert r.exit_code == 1, (name, r.output)
        assert f"error: {p}{expect}"[:60] in " ".join(r.output.split()) or f"error: {p}" in r.output, (name, r.output)
        assert "internal error" not in r.output and "Traceback" not in r.output, (name, r.output)


@pytest.mark.parametrize("engine", ["batch", "rows"])
def test_deep_nesting_in_json_lines_cannot_crash_the_process(tmp_path, engine):
    """Arrow's JSON parser recurses and crashes the process near 17,000 levels; the batch path
    must hand such lines to Python (which stops with an error). Run apart, so a regression
    kills a child process, not the test session."""
    p = tmp_path / "deep.jsonl"
    good = (json.dumps(GOOD) + "\n") * 50
    p.write_text(good + '{"question": ' + "[" * 40_000 + "]" * 40_000 + ', "answer": "#### 1"}\n' + good)
    code = ("import sys; from factory.ingest.core import ingest; from factory.schemas.errors import InputError\n"
            "try:\n    ingest([sys.argv[1]], out=sys.argv[2], preset='gsm8k', engine=sys.argv[3])\n"
            "except InputError as e:\n    print(e.message)\n")
    r = subprocess.run([sys.executable, "-c", code, str(p), str(tmp_path / "o"), engine], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == f"{p}:51: malformed JSON: nested deeper than Python's JSON reader allows (about 1,000 levels of arrays/objects)"


def test_skip_mode_rejects_the_bad_rows_and_keeps_the_good(tmp_path):
    rows = [json.dumps(GOOD), '{"question": ' + "[" * 3000 + "]" * 3000 + ', "answer": "#### 1"}', '{"question": "q\\udc00", "answer": "#### 2"}',
            '{"question": ' + "7" * 5000 + ', "answer": "#### 3"}', '{"question": "Q4", "answer": NaN}', json.dumps({**GOOD, "question": "Q5"})]
    p = tmp_path / "mixed.jsonl"
    p.write_text("\n".join(rows) + "\n")
    for engine in ("batch", "rows"):
        r = ingest([str(p)], out=tmp_path / engine, preset="gsm8k", on_error="skip", engine=engine)
        assert (r.rows_read, r.rows_written, r.rows_rejected) == (6, 2, 4)
        assert r.rejected_by_reason == {"invalid_value": 2, "malformed_json": 2}  # surrogate and NaN; depth and digits
        rejects = [json.loads(x) for x in (tmp_path / engine / "rejected" / "rejects.jsonl").read_text().splitlines()]
        assert [x["line"] for x in rejects] == [2, 3, 4, 5]


def test_odd_but_valid_inputs_are_accepted_and_reported(tmp_path):
    # a NUL character escaped inside a JSON string is text; a long line is still one row
    p = tmp_path / "ok.jsonl"
    big = "x" * 3_000_000
    p.write_text(json.dumps({"question": "q\u0000r", "answer": "#### 1"}) + "\n" + json.dumps({"question": big, "answer": "#### 2"}) + "\n")
    for engine in ("batch", "rows"):
        r = ingest([str(p)], out=tmp_path / f"o-{engine}", preset="gsm8k", engine=engine)
        assert r.rows_written == 2
    # Parquet with a map column and a dictionary-encoded column: read, and the map reported as not kept
    t = pa.table({"question": pa.array(["q"]).dictionary_encode(), "answer": ["#### 1"],
                  "m": pa.array([[("a", 1)]], pa.map_(pa.string(), pa.int64()))})
    pq.write_table(t, tmp_path / "odd.parquet")
    r = ingest([str(tmp_path / "odd.parquet")], out=tmp_path / "p", preset="gsm8k")
    assert r.rows_written == 1 and r.report["columns_not_kept"]["m"]["rows"] == 1
    assert any("not kept: column 'm'" in n for n in r.notes)


@pytest.mark.parametrize("kw,message", [
    ({"limit": 0}, "--limit: expected a positive integer, found 0"),
    ({"limit": True}, "--limit: expected a positive integer, found True"),
    ({"workers": -2}, "workers: expected 0 or a positive integer, found -2"),
    ({"domain": "poetry"}, "--domain: expected one of"),
    ({"source": "  "}, "--source: expected a non-empty string, found '  '"),
    ({"to": "poem"}, "--to: expected 'problem' or 'trace', found 'poem'"),
    ({"engine": "turbo"}, "engine: expected 'batch' or 'rows', found 'turbo'"),
    ({"on_error": "ignore"}, "--on-error: expected 'fail' or 'skip', found 'ignore'"),
    ({"maps": ["problem"]}, "--map 'problem': expected DEST=COLUMN"),
])
def test_bad_options_are_refused_before_any_work(tmp_path, kw, message):
    p = tmp_path / "g.jsonl"
    p.write_text(json.dumps(GOOD) + "\n")
    with pytest.raises(FactoryError) as e:
        ingest([str(p)], out=tmp_path / "o", preset="gsm8k", **kw)
    assert e.value.message.startswith(message), e.value.message
    assert not (tmp_path / "o").exists()
