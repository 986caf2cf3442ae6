"""The batch path of `factory ingest` (`factory.ingest.fast`) against the row-by-row reference
path (`engine="rows"`): byte-identical shards, the same stats and the same rejects on every
shipped file and on inputs built to push batches onto the row path (blank lines, a BOM, bad
rows, mixed types, ambiguous floats, duplicates, --limit across batches, a damaged gzip)."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pytest
from factory.schemas.errors import InputError
from factory.schemas.ids import problem_id, trace_id

from factory.ingest import core as ingest_module
from factory.ingest import fast as ingest_fast
from factory.ingest.core import ingest
from factory.ingest import readers as ingest_readers
from factory.io.dataset import read_manifest

SHIPPED = [  # (file under factory/data, preset)
    ("benchmarks/gsm8k_test.jsonl.gz", "gsm8k"),
    ("benchmarks/math500_test.jsonl.gz", "math500"),
    ("benchmarks/aime24.jsonl.gz", "aime24"),
    ("benchmarks/aime25.jsonl.gz", "aime25"),
    ("benchmarks/amc23.jsonl.gz", "amc23"),
    ("benchmarks/HumanEval.jsonl.gz", "humaneval"),
    ("benchmarks/mbpp.jsonl.gz", "mbpp"),
    ("benchmarks/apps_train_sample_coderl.jsonl.gz", "apps"),
    ("traces/skyt1_long_cot_math500.jsonl.gz", "skyt1-traces"),
    ("traces/qwen25_14b_instruct_short_cot_math500.jsonl.gz", "qwen-traces"),
    ("traces/qwen25math_math_cot_100_bo8.jsonl.gz", "qwen-traces"),
]
BATCH_PRESETS = {"gsm8k", "math500", "aime24", "aime25", "amc23", "skyt1-traces", "qwen-traces", "think-traces"}


@pytest.fixture
def count_batches(monkeypatch):
    """Counts batches the batch path mapped (so a test cannot pass by never using it)."""
    done = {"batch": 0}
    real = ingest_fast.finish

    def finish(*a, **kw):
        out = real(*a, **kw)
        done["batch"] += 1
        return out

    monkeypatch.setattr(ingest_fast, "finish", finish)
    return done


def _both(tmp_path: Path, inputs: list[str], **kw) -> dict[str, tuple]:
    """Ingest with each engine; (shard hashes, stats, rejects text) per engine."""
    out = {}
    for engine in ("rows", "batch"):
        folder = tmp_path / engine
        ingest(inputs, out=folder, engine=engine, **kw)
        m = read_manifest(folder)
        rejects = folder / "rejected" / "rejects.jsonl"
        out[engine] = ([s.sha256 for s in m.shards], m.rows, m.stats, rejects.read_text() if rejects.exists() else None)
    return out


@pytest.mark.parametrize("rel,preset", SHIPPED, ids=[Path(r).name.split(".")[0] for r, _ in SHIPPED])
def test_shipped_files_give_byte_identical_shards(package_data, tmp_path, count_batches, rel, preset):
    res = _both(tmp_path, [str(package_data / rel)], preset=preset)
    assert res["batch"] == res["rows"]
    assert res["batch"][1] > 0
    if preset in BATCH_PRESETS:
        assert count_batches["batch"] >= 1, "the batch path mapped this file"


def test_package_data_files_give_byte_identical_shards(package_data, tmp_path, count_batches):
    files = sorted((package_data / "benchmarks").glob("*.jsonl.gz")) + sorted((package_data / "traces").glob("*.jsonl.gz"))
    assert len(files) >= 5
    for f in files:
        found = ingest_readers.peek_columns(str(f))
        assert found
        res = _both(tmp_path / f.name, [str(f)])  # autodetected preset
        assert res["batch"] == res["rows"], f.name
    assert count_batches["batch"] >= 3


def _lines(rows: list, *, bom: bool = False) -> bytes:
    text = "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def _gsm(i: int, answer: str | None = None) -> dict:
    return {"question": f"Question {i}: what is {i} + {i}? ünïcödé", "answer": answer or f"{i} + {i}\n#### {2 * i:,}"}


def test_batches_that_need_the_row_path_give_the_same_rows_and_rejects(tmp_path, monkeypatch, count_batches):
    monkeypatch.setattr(ingest_readers, "JSONL_BATCH_BYTES", 2000)  # many small batches
    rows: list = [_gsm(i) for i in range(200)]
    rows[5] = ""  # a blank line: rows are numbered by non-blank lines (source_id = row - 1)
    rows[17] = '{"question": "broken'  # malformed
    rows[33] = _gsm(33, answer="no final line")  # invalid value
    rows[47] = {"question": 12, "answer": "#### 3"}  # a number as text: same as the row path
    rows[61] = {"question": None, "answer": "#### 3"}  # null
    rows[75] = {"answer": "#### 3"}  # missing column
    rows[90] = _gsm(3)  # a repeat of row 3: written once, counted
    rows[120] = '  {"question": "indented", "answer": "#### 1"}'
    rows[150] = "[1, 2]"
    src = tmp_path / "mixed.jsonl"
    src.write_bytes(_lines(rows, bom=True))
    res = _both(tmp_path, [str(src)], preset="gsm8k", on_error="skip")
    assert res["batch"] == res["rows"]
    stats = res["batch"][2]
    assert stats["rows_rejected"] == 5 and stats["duplicates"] == 1
    assert count_batches["batch"] >= 2  # the clean batches between the bad rows


def test_think_traces_of_every_shape_give_the_same_shards_both_ways(tmp_path, monkeypatch, count_batches):
    """The column splitter of <think> completions (factory.ingest.split_cols) inside a whole run:
    opened/closed/prefilled/cut/empty thoughts, Unicode whitespace, a stray Sky-T1 tag (that batch
    goes per row), labels, given finish reasons and integer source ids, in many batches: the same
    shards as the row path."""
    monkeypatch.setattr(ingest_readers, "JSONL_BATCH_BYTES", 1500)
    shapes = ["<think>t{i}</think> answer {i}", "  \u3000<think>\n t{i} \n</think>\n\n {i}", "t{i} </think> {i}",
              "<think> cut {i}", "<think> </think> {i}", "<think>t</think>", "just an answer {i}", "\xa0<think>a</think>b</think>{i}",
              "<think><think>t{i}</think></think>", "x <think> t </think> {i}", "\u200b<think>t{i}</think>{i}"]
    rows = []
    for i in range(240):
        r = {"problem": f"P{i % 37}", "completion": shapes[i % len(shapes)].format(i=i), "model": "m"}
        if i % 5 == 0:
            r["correct"] = bool(i % 2)
        if i % 29 == 0:
            r["finish_reason"] = "length"
        if i == 131:
            r["completion"] += " <|begin_of_solution|>"  # Sky-T1 tags: split_reasoning reads them as Sky-T1
        if i % 4:  # integer source ids (text by Arrow's cast), absent in some rows
            r["idx"] = [i, -i, 2**62 + i][i % 3]
        rows.append(r)
    _same_think_shards(tmp_path, rows)
    assert count_batches["batch"] >= 10


def _same_think_shards(tmp_path: Path, rows: list) -> None:
    src = tmp_path / "think.jsonl"
    src.write_bytes(_lines(rows))
    res = _both(tmp_path, [str(src)], preset="think-traces")
    assert res["batch"] == res["rows"] and res["batch"][1] == len(rows)


def test_floats_ints_nulls_and_candidates_in_trace_rows(tmp_path, monkeypatch, count_batches):
    monkeypatch.setattr(ingest_readers, "JSONL_BATCH_BYTES", 3000)
    rnd = random.Random(7)
    rows = []
    for i in range(150):
        r = {"problem": f"P{i % 40}", "completion": f"<think>t{i}</think> answer {i}", "model": "m"}
        if i % 7 == 0:
            r["correct"] = bool(i % 2)
        if i % 11 == 0:
            r["sample_index"] = i
        if i % 13 == 0:
            r["answer"] = rnd.choice([3, 3.0, 2.5, "x"])  # int, whole-number float, float, text
        if i % 17 == 0:
            r["finish_reason"] = "length"
        if i % 19 == 0:
            r["reasoning"] = "separate reasoning"
        if i % 23 == 0:
            r["prompt"] = None
        rows.append(r)
    _same_think_shards(tmp_path, rows)
    assert count_batches["batch"] >= 1


@pytest.mark.parametrize("teacher", [None, "given-teacher"])
def test_prompts_systems_and_teachers_of_every_shape_in_trace_rows(tmp_path, monkeypatch, count_batches, teacher):
    """The prompt (`prompt or problem`), system prompt (`or None`) and teacher (`--teacher or
    model or "unknown"`) columns, which stay Arrow columns where they can: present, absent,
    null, empty, whitespace, numbers, in many batches: the same shards as the row path."""
    monkeypatch.setattr(ingest_readers, "JSONL_BATCH_BYTES", 900)
    rows = []
    for i in range(160):
        r = {"problem": f"P{i % 30}", "completion": f"<think>t{i}</think> answer {i}"}
        if i % 40 < 20:  # whole batches with each column, others without
            r["prompt"] = ["full prompt %d" % i, "", None, " ", "\u3000"][i % 5]
        if i % 48 < 24:
            r["system_prompt"] = ["be brief", "", None][i % 3]
        if i >= 150:
            r["model"] = 7  # a number (as_text's str(7)): these rows' batch goes per row
        elif i % 64 < 40:
            r["model"] = ["m-%d" % (i % 3), "", None][i % 3] if i % 64 >= 16 else "m"
        rows.append(r)
    src = tmp_path / "think.jsonl"
    src.write_bytes(_lines(rows))
    res = _both(tmp_path, [str(src)], preset="think-traces", teacher=teacher)
    assert res["batch"] == res["rows"] and res["batch"][1] == len(rows)
    assert count_batches["batch"] >= 10


def test_blank_texts_are_found_past_their_first_byte():
    """`_any_blank` sends only the values whose first byte may start a space to the regex: a
    value made of any of `str.isspace()`'s characters is still blank, one that only starts with
    them is not."""
    import sys

    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert {s.encode()[0] for s in spaces} == {b for b in range(256) if ingest_fast._blank_lead()[b]}
    for sp in spaces:
        assert ingest_fast._any_blank(pa.chunked_array([["a", "b"], ["c", sp * 3]])), repr(sp)
        assert not ingest_fast._any_blank(pa.chunked_array([["a", sp + "x"], [sp * 2 + "y"]])), repr(sp)
    assert ingest_fast._any_blank(pa.array(["a", ""]))
    assert ingest_fast._any_blank(pa.array(["a", None, " "]))
    assert not ingest_fast._any_blank(pa.array(["a", None, "b"]))
    assert not ingest_fast._any_blank(pa.array(["x" * 5000, "\u00b0 degrees"]))  # 0xC2 lead, not a space
    assert ingest_fast._any_blank(pa.array(["ok", " "], pa.large_string()))
    assert not ingest_fast._any_blank(pa.array([" ", "ok"]).slice(1))  # an offset into the buffers
    assert ingest_fast._any_blank(pa.array(["ok", "x", " "]).slice(1))


def test_whole_number_floats_in_meta_keep_their_json_form(tmp_path, count_batches):
    rows = [{"idx": i, "question": f"Q{i}", "gt": "1", "code": ["a \\boxed{1}", "b"], "score": [True, False],
             "pred": ["1", "2"], "pred_score": [[4.0], [3]] if i % 2 else [[0.5], [2.0]]} for i in range(30)]
    src = tmp_path / "bo.jsonl"
    src.write_bytes(_lines(rows))
    res = _both(tmp_path, [str(src)], preset="qwen-traces")
    assert res["batch"] == res["rows"] and res["batch"][1] == 60
    assert count_batches["batch"] == 1


@pytest.mark.parametrize("limit", [1, 37, 150, 200, 500])
def test_limit_across_batches(tmp_path, monkeypatch, limit):
    monkeypatch.setattr(ingest_readers, "JSONL_BATCH_BYTES", 1500)
    src = tmp_path / "g.jsonl"
    src.write_bytes(_lines([_gsm(i) for i in range(200)]))
    res = _both(tmp_path, [str(src)], preset="gsm8k", limit=limit)
    assert res["batch"] == res["rows"]
    assert res["batch"][2]["limited"] == (limit < 200)


def test_damaged_gzip_gives_the_same_error(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_readers, "JSONL_BATCH_BYTES", 4000)
    data = gzip.compress(_lines([_gsm(i) for i in range(400)]))
    src = tmp_path / "cut.jsonl.gz"
    src.write_bytes(data[: len(data) * 2 // 3])
    messages = []
    for engine in ("rows", "batch"):
        with pytest.raises(InputError) as e:
            ingest([str(src)], out=tmp_path / engine, preset="gsm8k", engine=engine)
        messages.append(str(e.value))
    assert messages[0] == messages[1] and "truncated or corrupted after byte" in messages[0]


def test_column_ids_equal_the_schema_ids():
    rnd = random.Random(3)
    problems = [" ".join(rnd.choice(["a", "β", "\n", "  ", "x\x1fy", "😀"]) for _ in range(rnd.randint(1, 9))) for _ in range(300)]
    answers = [rnd.choice([None, "", "42", "ü"]) for _ in problems]
    assert ingest_fast.problem_ids("math", problems, answers) == [problem_id("math", p, a, None) for p, a in zip(problems, answers)]
    idx = [rnd.randint(0, 10**6) for _ in problems]
    teachers = [rnd.choice(["t", "ü", ""]) for _ in problems]
    pids = ingest_fast.problem_ids("code", problems, answers)
    assert ingest_fast.trace_ids(pids, idx, teachers, problems) == [trace_id(*a) for a in zip(pids, idx, teachers, problems)]


def test_worker_processes_give_the_same_shards_and_rejects(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_readers, "JSONL_BATCH_BYTES", 3000)
    rows: list = [{"problem": f"P{i % 50}", "completion": f"<think>t{i}</think> {i}", "model": "m"} for i in range(300)]
    rows[100] = {"problem": "P1"}  # no completion: rejected, its batch row by row
    rows[200] = ""
    src = tmp_path / "t.jsonl"
    src.write_bytes(_lines(rows))
    started = []
    real = ingest_module._start_pool
    monkeypatch.setattr(ingest_module, "_start_pool", lambda n: started.append(n) or real(n))
    out = {}
    for name, kw in (("rows", {"engine": "rows"}), ("pool", {"workers": 2})):
        ingest([str(src)], out=tmp_path / name, preset="think-traces", on_error="skip", **kw)
        m = read_manifest(tmp_path / name)
        out[name] = ([s.sha256 for s in m.shards], m.stats, (tmp_path / name / "rejected" / "rejects.jsonl").read_text())
    assert started == [2]
    assert out["pool"] == out["rows"] and out["pool"][1]["rows_rejected"] == 1


def test_a_line_longer_than_a_parse_block_stays_on_the_batch_path(tmp_path, count_batches):
    long = "<think>" + "step. " * 400_000 + "</think> 42"  # 2.4 MB: over Arrow's parse block
    rows = [{"problem": "P", "completion": long}, {"problem": "Q", "completion": "<think>a</think> b"}]
    src = tmp_path / "long.jsonl"
    src.write_bytes(_lines(rows))
    res = _both(tmp_path, [str(src)], preset="think-traces")
    assert res["batch"] == res["rows"] and count_batches["batch"] == 1


@pytest.mark.parametrize("rel,preset", [("benchmarks/gsm8k_test.jsonl.gz", "gsm8k"), ("benchmarks/amc23.jsonl.gz", "amc23"),
                                        ("traces/qwen25math_math_cot_100_bo8.jsonl.gz", "qwen-traces")],
                         ids=["gsm8k", "amc23", "bo8"])
def test_parquet_inputs_give_the_same_shards(package_data, tmp_path, monkeypatch, count_batches, rel, preset):
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setattr(ingest_readers, "PARQUET_BATCH_ROWS", 64)
    monkeypatch.setattr(ingest_readers, "PARQUET_GROUP_ROWS", 200)
    opener = gzip.open if rel.endswith(".gz") else open
    with opener(package_data / rel, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    if preset == "gsm8k":
        rows[300]["question"] = None  # rejected: its group goes row by row
    src = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows), src)
    res = _both(tmp_path, [str(src)], preset=preset, on_error="skip")
    assert res["batch"] == res["rows"]
    assert res["batch"][2]["rows_rejected"] == (1 if preset == "gsm8k" else 0)
    assert count_batches["batch"] >= 1


@pytest.mark.parametrize("bad", [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"],
                         ids=["ff", "overlong", "surrogate", "beyond-max", "cut"])
def test_invalid_utf8_anywhere_is_the_row_paths_error(tmp_path, bad):
    good = _lines([_gsm(i) for i in range(20)])
    src = tmp_path / "u.jsonl"
    src.write_bytes(good + b'{"question": "x' + bad + b'", "answer": "#### 1"}\n' + good)
    res = _both(tmp_path, [str(src)], preset="gsm8k", on_error="skip")
    assert res["batch"] == res["rows"] and res["batch"][2]["rejected_by_reason"] == {"not_utf8": 1}
