"""The batch path for every preset and for `--map` (the preset's row functions over a batch), the
ways batches are prepared (in this thread, worker threads, worker processes) and the column
kernels that replace per-row Python (GSM8K answers by regex, ids hashed from Arrow-joined bytes,
the nesting guard): each must give exactly what the row path gives."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from factory.schemas.errors import DatasetError
from factory.schemas.ids import problem_id, trace_id

from factory.ingest import core as ingest_core
from factory.ingest import fast as ingest_fast
from factory.ingest import readers as ingest_readers
from factory.ingest.core import ingest
from factory.ingest.presets import gsm8k_answer
from factory.io.dataset import read_manifest


def _shards(folder: Path) -> tuple:
    m = read_manifest(folder)
    rejects = folder / "rejected" / "rejects.jsonl"
    return [s.sha256 for s in m.shards], m.rows, m.stats, rejects.read_text() if rejects.exists() else None


def _jsonl(path: Path, rows: list) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture
def counted(monkeypatch):
    """How many batches each batch mapping took (so a test cannot pass by never using it)."""
    done = {"rows": 0, "cols": 0}
    real_rows, real_cols = ingest_fast.prepare_rows, ingest_fast.prepare_cols

    def rows(*a, **kw):
        out = real_rows(*a, **kw)
        done["rows"] += 1
        return out

    def cols(*a, **kw):
        out = real_cols(*a, **kw)
        done["cols"] += 1
        return out

    monkeypatch.setattr(ingest_fast, "prepare_rows", rows)
    monkeypatch.setattr(ingest_fast, "prepare_cols", cols)
    return done


@pytest.mark.parametrize("rel,preset", [("benchmarks/HumanEval.jsonl.gz", "humaneval"), ("benchmarks/mbpp.jsonl.gz", "mbpp"),
                                        ("benchmarks/apps_train_sample_coderl.jsonl.gz", "apps")])
def test_code_presets_take_the_batch_path(package_data, tmp_path, counted, rel, preset):
    src = str(package_data / rel)
    ingest([src], out=tmp_path / "rows", preset=preset, engine="rows")
    assert counted == {"rows": 0, "cols": 0}
    ingest([src], out=tmp_path / "batch", preset=preset)
    assert counted["rows"] >= 1 and counted["cols"] == 0
    assert _shards(tmp_path / "batch") == _shards(tmp_path / "rows")


def test_map_takes_the_batch_path(tmp_path, monkeypatch, counted):
    monkeypatch.setattr(ingest_readers, "JSONL_BATCH_BYTES", 2000)
    rows = [{"q": f"Question {i}?", "gold": [str(i), str(-i)] if i % 5 == 0 else str(i), "who": "t", "out": f"<think>r{i}</think> {i}",
             "topic": "t" * (i % 3), "src": "mine" if i % 2 else None} for i in range(120)]
    rows[40] = {"q": "no completion here", "gold": "1", "who": "t", "topic": "x", "src": None}  # a bad row: its batch row by row
    src = _jsonl(tmp_path / "m.jsonl", rows)
    maps = {"problem": "q", "reference_answer": "gold", "teacher": "who", "completion": "out", "meta.src": "src"}
    out = {}
    for engine in ("rows", "batch"):
        ingest([src], out=tmp_path / engine, preset="think-traces", maps=maps, on_error="skip", engine=engine)
        out[engine] = _shards(tmp_path / engine)
    assert out["batch"] == out["rows"] and out["batch"][2]["rows_rejected"] == 1
    assert counted["rows"] >= 3 and counted["cols"] == 0


@pytest.mark.parametrize("preset,rows", [
    ("messages", [{"messages": [{"role": "user", "content": f"q{i % 7}"}, {"role": "assistant", "content": f"<think>t</think> {i}"}],
                   "system": "sys" if i % 2 else None, "extra": i} for i in range(90)]),
    ("problems", [{"question": f"q{i}", "answer": [str(i), "x"] if i % 4 == 0 else str(i), "topic": ["a"] if i % 3 else "b"} for i in range(90)]),
])
def test_generic_presets_in_batches_match_the_row_path(tmp_path, monkeypatch, counted, preset, rows):
    monkeypatch.setattr(ingest_readers, "JSONL_BATCH_BYTES", 1500)
    src = _jsonl(tmp_path / "g.jsonl", rows)
    for kind in ("problem", "trace") if preset == "messages" else ("problem",):
        out = {}
        for engine in ("rows", "batch"):
            ingest([src], out=tmp_path / f"{kind}-{engine}", preset=preset, to=kind, engine=engine)
            out[engine] = _shards(tmp_path / f"{kind}-{engine}")
        assert out["batch"] == out["rows"]
    assert counted["rows"] >= 3


@pytest.mark.parametrize("plan", [("threads", 1), ("threads", 2), ("processes", 2), ("inline", 0)])
def test_every_plan_gives_the_same_shards_stats_and_rejects(tmp_path, monkeypatch, plan):
    monkeypatch.setattr(ingest_readers, "JSONL_BATCH_BYTES", 2500)
    rows: list = [{"problem": f"P{i % 30}", "answer": str(i % 30) if i % 4 else None, "completion": f"<think>t{i}</think> {i}",
                   "model": "m", "topic": f"t{i % 3}"} for i in range(260)]
    rows[50] = {"problem": "P1"}  # no completion: rejected
    rows[90] = ""
    rows[120] = '{"problem": "broken'
    src = _jsonl(tmp_path / "t.jsonl", rows)
    ingest([src], out=tmp_path / "ref", preset="think-traces", on_error="skip", engine="rows")
    monkeypatch.setattr(ingest_core, "_plan", lambda spec, workers: plan)
    ingest([src], out=tmp_path / "plan", preset="think-traces", on_error="skip")
    assert _shards(tmp_path / "plan") == _shards(tmp_path / "ref")
    assert _shards(tmp_path / "plan")[2]["rows_rejected"] == 2


def test_auto_plan(monkeypatch, tmp_path):
    small = tmp_path / "small.jsonl"
    small.write_text("{}\n")
    big = tmp_path / "big.jsonl"
    with open(big, "wb") as f:
        f.truncate(ingest_core.POOL_MIN_BYTES + 1)  # sparse: only its size matters here
    for cores, expected in ((1, ("inline", 0)), (2, ("threads", 2)), (3, ("threads", 2)), (4, ("processes", 3)), (64, ("processes", 8))):
        monkeypatch.setattr(ingest_core, "_cores", lambda c=cores: c)
        assert ingest_core._plan(str(big), None) == expected, cores
        assert ingest_core._plan(str(small), None) == ("inline", 0)
    assert ingest_core._plan(str(small), 3) == ("processes", 3) and ingest_core._plan(str(big), 0) == ("inline", 0)


def test_a_write_error_in_the_writer_thread_stops_the_run(tmp_path, monkeypatch):
    from factory.io.dataset import DatasetWriter

    def broken(self, table):
        raise DatasetError(f"{self.path}: disk full (test)")

    monkeypatch.setattr(DatasetWriter, "write_table", broken)
    src = _jsonl(tmp_path / "g.jsonl", [{"question": f"Q{i}", "answer": f"#### {i}"} for i in range(3000)])
    with pytest.raises(DatasetError, match="disk full"):
        ingest([src], out=tmp_path / "o", preset="gsm8k")
    assert not (tmp_path / "o").exists()


# --- column kernels against the row functions -------------------------------------------------


def test_gsm8k_answers_by_regex_equal_the_row_function():
    cases = ["a\n#### 1,234", "x #### 2\n#### 3", "b\n####  5", "c\n#### 7 ", "#### 9", "a #### b #### 5", "x ####\n\n#### 5",
             "##### 5", "x ####\x0b\n#### 5", "x ####\u3000\n#### 5", "t\n#### 5\n", "t\r\n#### 5\r", "no answer", "#### ",
             "####\n", "a####5", "q #### #### 4", "line\n#### -3.5", "é\n#### ü", "#### 1\n#### 2", "a\n####\t7", "x #### y\nz\n#### 8"]
    rnd = random.Random(7)
    alphabet = ["#", "####", " ", "\n", "5", ",", "a", "\x0b", "\u3000", "\t", "-", "é", "\r"]
    cases += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 12))) for _ in range(5000)]
    got = ingest_fast.gsm8k_answers(pa.chunked_array([pa.array(cases[:2000]), pa.array(cases[2000:])]))
    assert ingest_fast.py(got) == [gsm8k_answer(c) for c in cases]
    plain = ["a\n#### 1,234", "b\n#### 7"]  # every row plain: the answers stay an Arrow column
    got = ingest_fast.gsm8k_answers(pa.chunked_array([pa.array(plain)]))
    assert isinstance(got, pa.ChunkedArray) and got.to_pylist() == ["1234", "7"]


def test_python_whitespace_is_what_str_strip_strips():
    assert set(ingest_fast.PY_WHITESPACE) == {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}


def test_ids_from_arrow_bytes_equal_the_schema_ids():
    rnd = random.Random(3)
    parts = ["a", "β", "\n", "  ", "x\x1fy", "😀", "\u3000", "\x1c", "long " * 500]
    problems = [" ".join(rnd.choice(parts) for _ in range(rnd.randint(1, 9))) for _ in range(600)]
    answers = [rnd.choice([None, "", "42", "ü", " 7 "]) for _ in problems]
    expected = [problem_id("math", p, a, None) for p, a in zip(problems, answers)]
    assert ingest_fast.problem_ids("math", problems, answers) == expected
    # chunked, sliced and large_string columns read through the same buffers
    chunked = pa.chunked_array([pa.array(problems[:250]), pa.array(problems[250:])])
    ans = pa.chunked_array([pa.array(answers[:100], pa.string()), pa.array(answers[100:], pa.string())])
    assert ingest_fast.problem_ids("math", chunked, ans) == expected
    assert ingest_fast.problem_ids("math", pa.array(problems, pa.large_string()).slice(10), answers[10:]) == expected[10:]
    domains = [rnd.choice(["math", "code", "general"]) for _ in problems]
    assert ingest_fast.problem_ids(pa.array(domains), problems, answers) == [problem_id(d, p, a, None) for d, p, a in zip(domains, problems, answers)]
    idx = [rnd.randint(0, 10**6) for _ in problems]
    teachers = [rnd.choice(["t", "ü", ""]) for _ in problems]
    assert ingest_fast.trace_ids(expected, idx, teachers, chunked) == [trace_id(*a) for a in zip(expected, idx, teachers, problems)]


def test_nesting_guard():
    flat = b'{"x": "\\\\frac{1}{2} {{}} [0, 1)"}\n' * 2000  # many brackets, all shallow (and unbalanced ones in text)
    assert not ingest_fast._too_deep(flat, 2000)
    deep = b'{"a": ' + b"[" * 600 + b"]" * 600 + b"}\n"
    assert ingest_fast._too_deep(flat + deep + flat, 4001)
    assert ingest_fast._too_deep(b'{"a": ' + b'{"b": ' * 600 + b"1" + b"}" * 601 + b"\n", 1)
    # depth is counted per line: many lines each a little deep are fine
    assert not ingest_fast._too_deep((b'{"a": ' + b"[" * 100 + b"]" * 100 + b"}\n") * 300, 300)
    # a line with more openers than MAX_DEPTH, all closed again (LaTeX in a trace), is followed
    # bracket by bracket and found shallow; a deep first line, or last line without a newline, is found
    busy = b'{"t": "' + b"\\frac{1}{2} " * 700 + b'"}\n'
    assert not ingest_fast._too_deep(flat + busy + flat, 4001)
    assert ingest_fast._too_deep(deep + flat, 2001)
    assert ingest_fast._too_deep(flat + deep[:-1], 2001)
    assert not ingest_fast._too_deep(flat + busy[:-1], 2001)
    # the scratch buffer is reused whatever the batch sizes (a small batch after a large one)
    assert not ingest_fast._too_deep(b'{"x": 1}\n', 1)
    big = flat * 250 + deep  # 18 MB: past the reusable scratch's size
    assert len(big) > ingest_readers._SCRATCH_MAX and ingest_fast._too_deep(big, 500_001)
    # with the newline offsets a LineBatch found already, the same answers
    import numpy as np

    for data, deep_ in ((flat + busy + flat, False), (deep + flat, True), (flat + deep[:-1], True), (flat + busy[:-1], False)):
        nl = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A)
        assert ingest_fast._too_deep(data, data.count(b"\n") + (not data.endswith(b"\n")), nl) is deep_


def test_blank_text_check_equals_str_strip():
    rnd = random.Random(5)
    chars = list(ingest_fast.PY_WHITESPACE) + ["a", "\u200b", "\x00", "é"]  # U+200B is not whitespace to Python
    texts = ["".join(rnd.choice(chars) for _ in range(rnd.randint(0, 6))) for _ in range(3000)]
    for i in range(0, 3000, 100):
        chunk = texts[i:i + 100]
        assert ingest_fast._any_blank(pa.chunked_array([pa.array(chunk)])) == any(not t.strip() for t in chunk)


def test_the_cyclic_collector_is_back_on_after_a_run(tmp_path):
    import gc

    from factory.schemas.errors import InputError

    src = _jsonl(tmp_path / "g.jsonl", [{"question": "Q", "answer": "#### 1"}])
    assert gc.isenabled()
    ingest([src], out=tmp_path / "ok", preset="gsm8k")
    assert gc.isenabled()
    bad = _jsonl(tmp_path / "b.jsonl", [{"question": "Q"}])
    with pytest.raises(InputError):
        ingest([bad], out=tmp_path / "bad", preset="gsm8k")
    assert gc.isenabled()
