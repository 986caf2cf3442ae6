"""Bad input to `factory ingest`: each case gives one clear InputError naming the file, the
line/row and the field, with its exact text; with `--on-error skip` the bad rows land in
`<out>/rejected/rejects.jsonl` with their reason and raw text, and the counts add up."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factory.cli.app import app
from factory.schemas.errors import InputError
from typer.testing import CliRunner

from factory.ingest.core import ingest
from factory.io.dataset import read_manifest, read_table

GOOD = '{"question": "What is 2+3?", "answer": "Add.\\n#### 5"}\n'


def _fail(path: Path | str, preset: str = "gsm8k", **kw) -> InputError:
    out = Path(str(path) + ".out")
    with pytest.raises(InputError) as e:
        ingest([str(path)], out=out, preset=preset, **kw)
    assert not out.exists(), "a failed ingest leaves no folder behind"
    return e.value


def _write(p: Path, data: str | bytes) -> Path:
    if isinstance(data, str):
        data = data.encode("utf-8")
    if p.name.endswith(".gz"):
        with gzip.open(p, "wb") as f:
            f.write(data)
    else:
        p.write_bytes(data)
    return p


# --- malformed JSON --------------------------------------------------------------------------

def test_malformed_json_line(tmp_path):
    p = _write(tmp_path / "a.jsonl", GOOD + '{"question": "b" "answer": "#### 2"}\n')
    e = _fail(p)
    assert e.message == f"{p}:2: malformed JSON: Expecting ',' delimiter (column 18)"
    assert (e.line, e.path) == (2, str(p))
    assert "--on-error skip" in str(e)


def test_malformed_json_document(tmp_path):
    p = _write(tmp_path / "a.json", '[\n {"question": "a", "answer": "#### 1"},\n {"question": "b" "answer": "#### 2"}\n]\n')
    assert _fail(p).message == f"{p}:3: malformed JSON: Expecting ',' delimiter (column 19)"


def test_json_line_that_is_not_an_object(tmp_path):
    p = _write(tmp_path / "a.jsonl", GOOD + "[1, 2]\n")
    assert _fail(p).message == f"{p}:2: expected a JSON object per line, found an array"


def test_malformed_csv_row(tmp_path):
    p = _write(tmp_path / "a.csv", "question,answer\nq1,#### 1\nq2,#### 2,extra\n")
    assert _fail(p).message == f"{p}:3: row has 3 fields, the header has 2"


# --- missing column ---------------------------------------------------------------------------

def test_missing_column_jsonl(tmp_path):
    p = _write(tmp_path / "a.jsonl", GOOD + '{"answer": "#### 2", "idx": 4}\n')
    e = _fail(p)
    assert e.message == f"{p}:2 field 'question': required column is missing (the row has: answer, idx)"
    assert e.field == "question"


def test_missing_column_parquet_names_the_row(tmp_path):
    p = tmp_path / "a.parquet"
    pq.write_table(pa.table({"answer": ["#### 1"]}), p)
    assert _fail(p).message == f"{p} row 1 field 'question': required column is missing (the row has: answer)"


def test_missing_column_among_candidates_suggests_a_map(tmp_path):
    p = _write(tmp_path / "a.jsonl", '{"body": "x"}\n')
    assert _fail(p, preset="problems").message == (
        f"{p}:1 field 'problem': required column is missing: looked for problem, question, prompt, instruction, text "
        "(the row has: body); map one with --map problem=COLUMN"
    )


# --- wrong type -------------------------------------------------------------------------------

def test_wrong_type_string_field(tmp_path):
    p = _write(tmp_path / "a.jsonl", '{"question": ["a"], "answer": "#### 1"}\n')
    assert _fail(p).message == f"{p}:1 field 'question': expected a string, found list [\"a\"]"


def test_wrong_type_integer_field_parquet(tmp_path):
    p = tmp_path / "a.parquet"
    pq.write_table(pa.table({"problem": ["p"], "answer": ["1"], "level": ["hard"]}), p)
    assert _fail(p, preset="math500").message == f"{p} row 1 field 'level': expected an integer, found str \"hard\""


def test_wrong_type_in_json_array(tmp_path):
    p = _write(tmp_path / "a.json", json.dumps([{"question": "q", "answer": "#### 1"}, "oops"]))
    assert _fail(p).message == f"{p} row 2: expected a JSON object per row, found a string"


def test_invalid_value_gsm8k_without_final_answer(tmp_path):
    p = _write(tmp_path / "a.jsonl", '{"question": "q", "answer": "no final line"}\n')
    assert _fail(p).message == f"{p}:1 field 'answer': expected a final line '#### N' holding the answer, found none"


# --- empty file -------------------------------------------------------------------------------

@pytest.mark.parametrize("name,data,text", [
    ("e.jsonl", "", "empty file: no rows found (expected one JSON object per line)"),
    ("e.jsonl", "\n\n  \n", "empty file: no rows found (expected one JSON object per line)"),
    ("e.jsonl.gz", "", "empty file: no rows found (expected one JSON object per line)"),
    ("e.json", "[]", "empty file: the JSON document holds no rows"),
    ("e.json", " \n", "empty file: no rows found (expected a JSON array of objects)"),
    ("e.csv", "question,answer\n", "empty file: a header but no rows"),
    ("e.csv", "", "empty file: no header row (expected a CSV header and rows)"),
])
def test_empty_file(tmp_path, name, data, text):
    p = _write(tmp_path / name, data)
    assert _fail(p).message == f"{p}: {text}"


def test_empty_parquet(tmp_path):
    p = tmp_path / "e.parquet"
    pq.write_table(pa.table({"question": pa.array([], pa.string())}), p)
    assert _fail(p).message == f"{p}: empty file: the Parquet file holds no rows"


# --- non-UTF-8 --------------------------------------------------------------------------------

def test_non_utf8_line_gives_line_and_byte_offset(tmp_path):
    p = _write(tmp_path / "a.jsonl", GOOD.encode() + b'{"question": "b\xff", "answer": "#### 2"}\n')
    offset = len(GOOD.encode()) + len(b'{"question": "b')
    e = _fail(p)
    assert e.message == f"{p}:2: not valid UTF-8 at byte offset {offset} (byte 0xff); expected UTF-8 text"
    assert e.line == 2


def test_non_utf8_in_gzip_counts_decompressed_bytes(tmp_path):
    p = _write(tmp_path / "a.jsonl.gz", GOOD.encode() + b'{"question": "\xc3\x28"}\n')
    offset = len(GOOD.encode()) + len(b'{"question": "')
    assert _fail(p).message == f"{p}:2: not valid UTF-8 at byte offset {offset} of the decompressed stream (byte 0xc3); expected UTF-8 text"


def test_non_utf8_in_json_document_and_csv(tmp_path):
    p = _write(tmp_path / "a.json", b'[\n {"question": "a\xfe", "answer": "#### 1"}]\n')
    assert _fail(p).message == f"{p}:2: not valid UTF-8 at byte offset 18 (byte 0xfe); expected UTF-8 text"
    p = _write(tmp_path / "a.csv", b"question,answer\nq1,#### 1\nq\xe92,#### 2\n")
    assert _fail(p).message == f"{p}:3: not valid UTF-8 at byte offset 27 (byte 0xe9); expected UTF-8 text"


def test_utf8_bom_is_accepted(tmp_path):
    p = _write(tmp_path / "a.jsonl", b"\xef\xbb\xbf" + GOOD.encode())
    assert ingest([str(p)], out=tmp_path / "o", preset="gsm8k").rows_written == 1


# --- unknown preset, unreadable paths ---------------------------------------------------------

def test_unknown_preset(tmp_path):
    p = _write(tmp_path / "a.jsonl", GOOD)
    e = _fail(p, preset="gsm9k")
    assert e.message.startswith("unknown preset 'gsm9k': expected one of ['aime24', 'aime25', 'amc23', 'apps', 'gsm8k',")


def test_missing_path(tmp_path):
    p = tmp_path / "nothere.jsonl"
    assert _fail(p).message == f"{p}: no such file or folder"


def test_unreadable_file(tmp_path, monkeypatch):
    p = _write(tmp_path / "a.jsonl", GOOD)
    import factory.ingest.readers as readers

    # the tests may run as root, for whom chmod 000 still reads: make access() say no instead
    monkeypatch.setattr(readers.os, "access", lambda path, mode: False)
    assert _fail(p).message == f"{p}: permission denied (file is not readable)"


@pytest.mark.parametrize("name,data,text", [
    ("a.txt", "x", "unknown file type '.txt': expected .jsonl, .jsonl.gz, .json, .parquet or .csv"),
    ("a.jsonl.gz", None, "not a valid gzip file (Not a gzipped file (b'he'))"),
    ("a.parquet", "nope", "not a readable Parquet file (Parquet file size is 4 bytes, smaller than the minimum file footer (8 bytes))"),
])
def test_unreadable_file_types(tmp_path, name, data, text):
    p = tmp_path / name
    p.write_text(data if data is not None else "hello")
    assert _fail(p).message == f"{p}: {text}"


def test_folder_that_is_not_a_dataset(tmp_path):
    (tmp_path / "d").mkdir()
    assert _fail(tmp_path / "d").message.startswith(f"{tmp_path / 'd'}: expected a data file (.jsonl, .jsonl.gz, .json, .parquet, .csv) or a `datasets` save_to_disk folder")


def test_bad_map_syntax_and_domain(tmp_path):
    p = _write(tmp_path / "a.jsonl", GOOD)
    assert _fail(p, maps=["problem"]).message == "--map 'problem': expected DEST=COLUMN, e.g. --map problem=question"
    assert _fail(p, domain="poetry").message == "--domain: expected one of ['math', 'code', 'science', 'puzzle', 'general'], found 'poetry'"


# --- on-error skip: rejects file, counts, manifest --------------------------------------------

def _mixed(tmp_path: Path) -> Path:
    lines = [
        GOOD.encode(),
        b'{"question": "b" "answer": "#### 2"}\n',  # malformed JSON
        b'{"answer": "#### 3"}\n',  # missing column
        b'{"question": {"x": 1}, "answer": "#### 5"}\n',  # wrong type
        b'{"question": "c\xff", "answer": "#### 6"}\n',  # not UTF-8
        b'{"question": "d", "answer": "no final line"}\n',  # invalid value
        GOOD.replace("2+3", "3+3").encode(),
    ]
    return _write(tmp_path / "mixed.jsonl", b"".join(lines))


def test_skip_sends_bad_rows_to_rejects_with_reasons(tmp_path):
    p = _mixed(tmp_path)
    r = ingest([str(p)], out=tmp_path / "o", preset="gsm8k", on_error="skip")
    assert (r.rows_read, r.rows_written, r.rows_rejected) == (7, 2, 5)
    assert r.rows_read == r.rows_written + r.rows_rejected  # nothing silently dropped
    assert r.rejected_by_reason == {"invalid_value": 1, "malformed_json": 1, "missing_column": 1, "not_utf8": 1, "wrong_type": 1}
    rejects = [json.loads(line) for line in (tmp_path / "o" / "rejected" / "rejects.jsonl").read_text().splitlines()]
    assert [(x["line"], x["reason"], x["field"]) for x in rejects] == [
        (2, "malformed_json", None), (3, "missing_column", "question"), (4, "wrong_type", "question"),
        (5, "not_utf8", None), (6, "invalid_value", "answer")]
    assert all(x["file"] == str(p) for x in rejects)
    assert rejects[0]["raw"] == '{"question": "b" "answer": "#### 2"}'
    assert rejects[3]["raw"] == '{"question": "c\\xff", "answer": "#### 6"}'
    assert rejects[1]["message"] == "required column is missing (the row has: answer)"
    stats = read_manifest(tmp_path / "o").stats
    assert (stats["rows_read"], stats["rows_written"], stats["rows_rejected"]) == (7, 2, 5)
    assert stats["rejected_by_reason"] == r.rejected_by_reason and stats["rejects_file"] == "rejected/rejects.jsonl"
    assert len(read_table(tmp_path / "o")) == 2


def test_skip_from_the_cli_prints_the_counts(tmp_path):
    p = _mixed(tmp_path)
    r = CliRunner().invoke(app, ["ingest", str(p), "--preset", "gsm8k", "--out", str(tmp_path / "o"), "--on-error", "skip"])
    assert r.exit_code == 0, r.output
    assert "rejected 5 row(s): invalid_value 1, malformed_json 1, missing_column 1, not_utf8 1, wrong_type 1" in r.output
    assert "wrote 2 problem row(s)" in r.output
    # overwriting starts a fresh rejects file
    good = _write(tmp_path / "good.jsonl", GOOD)
    r = CliRunner().invoke(app, ["ingest", str(good), "--preset", "gsm8k", "--out", str(tmp_path / "o"), "--overwrite", "--on-error", "skip"])
    assert r.exit_code == 0 and not (tmp_path / "o" / "rejected" / "rejects.jsonl").exists()


def test_fail_mode_from_the_cli_is_one_red_line(tmp_path):
    p = _mixed(tmp_path)
    r = CliRunner().invoke(app, ["ingest", str(p), "--preset", "gsm8k", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1
    assert f"error: {p}:2: malformed JSON: Expecting ',' delimiter (column 18)" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "o").exists()


@pytest.mark.parametrize("chunk", [5, 7, 1 << 20])
def test_json_array_streams_in_chunks_with_exact_positions(tmp_path, monkeypatch, chunk):
    import factory.ingest.readers as readers

    monkeypatch.setattr(readers, "JSON_CHUNK", chunk)  # tiny chunks cut multi-byte characters and rows
    rows = [{"question": f"Combien font {i} + {i}? — 数学 {i}", "answer": f"…\n#### {2 * i}"} for i in range(30)]
    p = _write(tmp_path / "a.json", "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n")
    out = read_table(ingest([str(p)], out=tmp_path / "o", preset="gsm8k").out).to_pylist()
    assert [r["problem"] for r in out] == [r["question"] for r in rows]
    # errors far into the file keep exact line/column/byte positions
    text = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows[:20]) + ",\n" + '{"question": "x" "answer": "#### 1"}\n]\n'
    p = _write(tmp_path / "bad.json", text)
    assert _fail(p).message == f"{p}:22: malformed JSON: Expecting ',' delimiter (column 18)"
    good = ("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows[:20]) + ",\n").encode()
    p = _write(tmp_path / "bad2.json", good + b'{"question": "\xff"}\n]\n')
    offset = len(good) + len(b'{"question": "')
    assert _fail(p).message == f"{p}:22: not valid UTF-8 at byte offset {offset} (byte 0xff); expected UTF-8 text"
    p = _write(tmp_path / "cut.json", "[\n" + json.dumps(rows[0]) + ",\n" + json.dumps(rows[1])[:-5])
    assert _fail(p).message.startswith(f"{p}:3: malformed JSON: Unterminated string")


def test_a_mapped_column_that_does_not_exist_is_an_error(tmp_path):
    p = _write(tmp_path / "a.jsonl", GOOD)
    e = _fail(p, maps=["source_id=row_id"])  # source_id is optional, but this column was named
    assert e.message == f"{p}:1 field 'row_id': required column is missing (the row has: question, answer)"
