"""`factory ingest` on real variants and without silent skips: OlympiadBench trace rows (list
solutions, units, answer types, several gold values), list-valued gold answers, per-row domain
inference with its counts, extra input columns kept in meta or listed, a `source` column and a
Bespoke-style top-level `system` prompt, and `--map` keys a preset would ignore. Every case runs
through both engines (the batch path and the row path) and must give the same shards."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factory.schemas.errors import InputError

from factory.ingest import presets as ingest_presets
from factory.ingest.core import ingest
from factory.ingest.presets import (
    ANSWERS_JOIN,
    CONTEXT_DESTS,
    PRESETS,
    RowView,
    allowed_dests,
)
from factory.io.dataset import read_manifest, read_table

OLYMPIAD = "ingest/olympiadbench_gemma2_27b_it_short_cot.sample.jsonl.gz"


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _meta(row: dict) -> dict:
    return json.loads(row["meta"]) if row["meta"] else {}


def _run(tmp_path: Path, inputs: list[str], name: str = "o", **kw) -> tuple[list[dict], dict]:
    """Ingest with both engines; the shards must be byte-identical; (rows, result json)."""
    res = {}
    for engine in ("rows", "batch"):
        r = ingest(inputs, out=tmp_path / f"{name}-{engine}", engine=engine, **kw)
        m = read_manifest(r.out)
        res[engine] = ([s.sha256 for s in m.shards], m.stats, r.notes)
    assert res["batch"] == res["rows"]
    return read_table(tmp_path / f"{name}-batch").to_pylist(), r.to_json()


def _olympiad_src(test_data: Path) -> list[dict]:
    import gzip

    with gzip.open(test_data / OLYMPIAD, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# --- 13.5: OlympiadBench trace files with --preset qwen-traces -------------------------------


def test_olympiadbench_traces_ingest_with_units_answer_types_and_labels(test_data, tmp_path):
    src = _olympiad_src(test_data)
    rows, r = _run(tmp_path, [str(test_data / OLYMPIAD)], preset="qwen-traces")
    assert len(rows) == len(src) == 29 and r["rows_rejected"] == 0
    for row, s in zip(rows, src):
        m = _meta(row)
        assert row["reference_answer"] == s["gt"].strip() and row["completion"] == s["code"][0]
        assert m["answer_type"] == s["answer_type"] and m["label_correct"] == s["score"][0]
        assert ("unit" in m) == (s["unit"] is not None) and m.get("unit") == s["unit"]
        assert m["subfield"] == s["subfield"]  # an extra column, kept under its own name
        assert "reference_solutions" not in m  # solutions are problem fields (the Trace contract has none)
    assert sorted(_meta(x)["unit"] for x in rows if "unit" in _meta(x)) == sorted(s["unit"] for s in src if s["unit"])
    assert {_meta(x)["answer_type"] for x in rows} == {"Numerical", "Tuple", "Interval", "Expression"}
    assert r["columns_kept_in_meta"] == {"subfield": 29}
    # the evaluation's bookkeeping columns are left out on purpose, and the report says why
    assert r["columns_not_kept"] == {"gt_cot": {"rows": 29, "why": "the evaluation's copy of `solution` (kept as reference_solution)"},
                                     "report": {"rows": 29, "why": "the evaluation's per-sample code-execution report (empty for CoT prompts)"}}
    assert any("not kept: column 'report' (29 rows)" in n for n in r["notes"])


def test_olympiadbench_problems_keep_every_solution(test_data, tmp_path):
    src = _olympiad_src(test_data)
    rows, _ = _run(tmp_path, [str(test_data / OLYMPIAD)], preset="qwen-traces", to="problem")
    assert len(rows) == 29
    several = 0
    for row, s in zip(rows, src):
        m = _meta(row)
        assert row["reference_solution"] == s["solution"][0]
        if len(s["solution"]) > 1:
            several += 1
            assert m["reference_solutions"] == s["solution"]
        else:
            assert "reference_solutions" not in m
        assert m["answer_type"] == s["answer_type"] and "code" not in m and "pred" not in m
    assert several >= 3


# --- 13.5: several gold answers ---------------------------------------------------------------


def test_list_gold_answers_are_kept_whole_and_joined(tmp_path):
    rows = [
        {"problem": "Find all primes p < 6.", "final_answer": ["2", "3", "5"]},
        {"problem": "Solve x + 1 = 3.", "final_answer": ["2"]},  # one answer: stored as it is
        {"problem": "Give two halves.", "final_answer": [0.5, 1]},  # numbers: as text
        {"problem": "Nothing known.", "final_answer": []},  # no answer at all
        {"problem": "Find the pairs.", "final_answer": [" (1,2) ", "(2,1)"]},
    ]
    out, r = _run(tmp_path, [_jsonl(tmp_path / "olymp.jsonl", rows)], preset="problems")
    assert [x["reference_answer"] for x in out] == ["2, 3, 5", "2", "0.5, 1", None, "(1,2), (2,1)"]
    assert ANSWERS_JOIN == ", "
    assert [_meta(x).get("reference_answers") for x in out] == [["2", "3", "5"], None, ["0.5", "1"], None, ["(1,2)", "(2,1)"]]
    # a list gold makes the row math (it has a reference answer); the empty one stays general
    assert [x["domain"] for x in out] == ["math", "math", "math", "general", "math"]


def test_list_gold_answers_through_fixed_presets(tmp_path):
    rows = [{"problem": "P1", "answer": ["1", "-1"], "solution": ["first way", "second way"], "level": 2, "unique_id": "a"},
            {"problem": "P2", "answer": "7", "solution": "only way", "level": 3, "unique_id": "b"}]
    out, _ = _run(tmp_path, [_jsonl(tmp_path / "m.jsonl", rows)], preset="math500")
    assert out[0]["reference_answer"] == "1, -1" and _meta(out[0])["reference_answers"] == ["1", "-1"]
    assert out[0]["reference_solution"] == "first way" and _meta(out[0])["reference_solutions"] == ["first way", "second way"]
    assert out[1]["reference_solution"] == "only way" and "reference_solutions" not in _meta(out[1])


@pytest.mark.parametrize("bad,message", [
    ([["1"], "2"], "expected a list of answers (strings or numbers), found list [\"1\"] at index 0"),
    ([None], "expected a list of answers (strings or numbers), found null at index 0"),
    ([""], "expected non-empty text, found an empty string"),
])
def test_bad_list_gold_is_a_located_error(tmp_path, bad, message):
    p = _jsonl(tmp_path / "bad.jsonl", [{"problem": "P", "answer": bad, "unique_id": "x"}])
    with pytest.raises(InputError) as e:
        ingest([p], out=tmp_path / "o", preset="math500")
    assert e.value.message == f"{p}:1 field 'answer': {message}"


def test_empty_list_gold_where_an_answer_is_required(tmp_path):
    p = _jsonl(tmp_path / "e.jsonl", [{"problem": "P", "answer": []}])
    with pytest.raises(InputError, match="field 'answer': expected at least one answer, found an empty list"):
        ingest([p], out=tmp_path / "o", preset="math500")


# --- 12.3: domain inference -------------------------------------------------------------------

GENERIC = [
    {"problem": "What is 6 * 7?", "answer": "42"},  # a reference answer: math
    {"problem": "Compute 2^10.", "solution": "It is $\\boxed{1024}$."},  # \boxed in the solution: math
    {"problem": "Write a haiku about rain."},  # nothing: general
    {"problem": "Show that $\\boxed{x}$ is boxed."},  # \boxed in the statement: math
]


def test_generic_problems_infer_math_and_say_so(tmp_path):
    out, r = _run(tmp_path, [_jsonl(tmp_path / "g.jsonl", GENERIC)], preset="problems")
    assert [x["domain"] for x in out] == ["math", "math", "general", "math"]
    assert r["domains_inferred"] == {"general": 1, "math": 3}
    assert any(n.startswith("domain inferred (no --domain given): math 3, general 1 problem row(s)") for n in r["notes"])
    # --domain sets every row and nothing is inferred
    out, r = _run(tmp_path, [str(tmp_path / "g.jsonl")], name="d", preset="problems", domain="science")
    assert {x["domain"] for x in out} == {"science"} and r["domains_inferred"] == {}
    assert not any("domain inferred" in n for n in r["notes"])
    # infer_domain=False keeps the preset's default
    out, r = _run(tmp_path, [str(tmp_path / "g.jsonl")], name="n", preset="problems", infer_domain=False)
    assert {x["domain"] for x in out} == {"general"} and r["domains_inferred"] == {}


def test_code_inferred_from_tests(tmp_path):
    rows = [{"task": "Return 1.", "checks": ["assert f() == 1"]}, {"task": "Chat about tea.", "checks": None}]
    out, r = _run(tmp_path, [_jsonl(tmp_path / "c.jsonl", rows)], preset="problems", maps={"problem": "task", "tests.asserts": "checks"})
    assert [x["domain"] for x in out] == ["code", "general"] and r["domains_inferred"] == {"code": 1, "general": 1}


def test_trace_domain_comes_from_the_problem_not_the_sample(tmp_path):
    """Every sample of a problem gets the same domain and problem id, whatever its completion."""
    rows = [
        {"problem": "1+1?", "answer": "2", "completion": "<think>one and one</think> 2"},
        {"problem": "1+1?", "answer": "2", "completion": "<think>add</think> \\boxed{2}"},
        {"problem": "Name a colour.", "completion": "<think>pick one</think> \\boxed{red}"},  # boxed in a sample only
    ]
    out, r = _run(tmp_path, [_jsonl(tmp_path / "t.jsonl", rows)], preset="think-traces")
    assert [x["domain"] for x in out] == ["math", "math", "general"]
    assert out[0]["problem_id"] == out[1]["problem_id"] and [x["sample_index"] for x in out] == [0, 1, 0]
    assert r["domains_inferred"] == {"general": 1, "math": 2}
    probs, _ = _run(tmp_path, [str(tmp_path / "t.jsonl")], name="p", preset="think-traces", to="problem")
    assert [p["id"] for p in probs] == [out[0]["problem_id"], out[2]["problem_id"]]


# --- 12.3: extra columns ----------------------------------------------------------------------


def test_extra_columns_are_kept_in_meta_or_listed(tmp_path):
    rows = [{"question": "Q1", "answer": "A.\n#### 1", "topic": "arith", "uid": 17, "tags": ["x"], "format": "raw"},
            {"question": "Q2", "answer": "B.\n#### 2", "topic": "geo", "uid": None}]
    out, r = _run(tmp_path, [_jsonl(tmp_path / "x.jsonl", rows)], preset="gsm8k")
    assert _meta(out[0]) == {"topic": "arith", "uid": 17} and _meta(out[1]) == {"topic": "geo"}
    assert r["columns_kept_in_meta"] == {"topic": 2, "uid": 1}
    assert set(r["columns_not_kept"]) == {"tags", "format"}
    assert r["columns_not_kept"]["tags"]["rows"] == 1 and "list or object" in r["columns_not_kept"]["tags"]["why"]
    assert "already a meta key" in r["columns_not_kept"]["format"]["why"]  # a name the trace builders write
    stats = read_manifest(tmp_path / "o-batch").stats
    assert stats["columns_kept_in_meta"] == r["columns_kept_in_meta"] and stats["columns_not_kept"] == r["columns_not_kept"]
    assert "kept in meta (columns no field took): topic (2 rows), uid (1 rows)" in r["notes"]


def test_extra_columns_all_and_none(tmp_path):
    rows = [{"question": "Q1", "answer": "#### 1", "tags": ["x", "y"], "info": {"k": 1}, "topic": "t"}]
    src = _jsonl(tmp_path / "x.jsonl", rows)
    out, r = _run(tmp_path, [src], name="all", preset="gsm8k", extra_columns="all")
    assert _meta(out[0]) == {"tags": ["x", "y"], "info": {"k": 1}, "topic": "t"} and r["columns_not_kept"] == {}
    out, r = _run(tmp_path, [src], name="none", preset="gsm8k", extra_columns="none")
    assert out[0]["meta"] is None and r["columns_kept_in_meta"] == {}
    assert set(r["columns_not_kept"]) == {"tags", "info", "topic"}
    with pytest.raises(InputError, match="--extra-columns: expected one of"):
        ingest([src], out=tmp_path / "bad", preset="gsm8k", extra_columns="some")  # type: ignore[arg-type]


def test_extra_columns_from_parquet_match_the_row_path(tmp_path):
    table = pa.table({"question": ["Q1", "Q2"], "answer": ["#### 1", "#### 2"], "topic": ["a", None],
                      "blob": pa.array([b"\x00\x01", None], pa.binary()), "score": [1.0, 2.5],
                      "links": pa.array([["u"], []], pa.list_(pa.string()))})
    pq.write_table(table, tmp_path / "x.parquet")
    out, r = _run(tmp_path, [str(tmp_path / "x.parquet")], preset="gsm8k")
    assert _meta(out[0]) == {"topic": "a", "score": 1.0} and _meta(out[1]) == {"score": 2.5}
    assert r["columns_not_kept"]["blob"] == {"rows": 1, "why": "binary data"}
    assert r["columns_not_kept"]["links"]["rows"] == 2


def test_trace_columns_are_listed_when_making_problems(tmp_path):
    rows = [{"problem": "P", "completion": "<think>t</think> 1", "model": "m", "topic": "x"}]
    out, r = _run(tmp_path, [_jsonl(tmp_path / "t.jsonl", rows)], preset="think-traces", to="problem")
    assert _meta(out[0]) == {"topic": "x"}
    assert set(r["columns_not_kept"]) == {"completion", "model"}
    assert "only for trace rows" in r["columns_not_kept"]["completion"]["why"]


def test_a_mapped_meta_key_wins_over_a_column_of_that_name(tmp_path):
    rows = [{"problem": "P", "link": "http://a", "url": "http://b"}]
    out, r = _run(tmp_path, [_jsonl(tmp_path / "u.jsonl", rows)], preset="problems", maps={"meta.url": "link"})
    assert _meta(out[0]) == {"url": "http://a"} and "already a meta key" in r["columns_not_kept"]["url"]["why"]


# --- 12.3: source column, Bespoke-style system prompt -----------------------------------------


def test_a_source_column_is_honoured(tmp_path):
    rows = [{"problem": "P1", "answer": "1", "source": "numina_math"}, {"problem": "P2", "answer": "2", "source": ""},
            {"problem": "P3", "answer": "3"}]
    src = _jsonl(tmp_path / "s.jsonl", rows)
    out, r = _run(tmp_path, [src], preset="problems")
    assert [x["source"] for x in out] == ["numina_math", "unknown", "unknown"] and r["columns_kept_in_meta"] == {}
    out, r = _run(tmp_path, [src], name="given", preset="problems", source="mine")  # --source wins; the column is kept in meta
    assert {x["source"] for x in out} == {"mine"} and _meta(out[0])["source"] == "numina_math"
    bad = _jsonl(tmp_path / "b.jsonl", [{"question": "Q", "answer": "#### 1", "source": ["a"]}])
    with pytest.raises(InputError) as e:
        ingest([bad], out=tmp_path / "x", preset="gsm8k")
    assert e.value.message == f"{bad}:1 field 'source': expected a source name (a string), found list [\"a\"]"


BESPOKE = {
    "system": "Your role as an assistant involves thoroughly exploring questions through a systematic long thinking process.",
    "conversations": [
        {"from": "user", "value": "Return your final response within \\boxed{}. What is 3 + 4?"},
        {"from": "assistant", "value": "<|begin_of_thought|>\n\nthree and four\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n\\boxed{7}\n\n<|end_of_solution|>"},
    ],
}


def test_bespoke_rows_keep_their_system_prompt(tmp_path):
    src = _jsonl(tmp_path / "bespoke.jsonl", [BESPOKE])
    out, r = _run(tmp_path, [src], preset="messages")
    t = out[0]
    assert t["system_prompt"] == BESPOKE["system"] and t["problem"].startswith("Return your final response")
    assert t["domain"] == "math"  # \boxed{} in the problem statement
    assert r["columns_kept_in_meta"] == {} and r["columns_not_kept"] == {}
    # problem rows have no system field: it is kept in meta, and the report says so
    probs, r = _run(tmp_path, [src], name="p", preset="messages", to="problem")
    assert _meta(probs[0]) == {"system": BESPOKE["system"]} and r["columns_kept_in_meta"] == {"system": 1}
    # a system message inside the conversation wins; the top-level one is kept in meta
    inner = {**BESPOKE, "conversations": [{"from": "system", "value": "Be brief."}] + BESPOKE["conversations"]}
    out, r = _run(tmp_path, [_jsonl(tmp_path / "inner.jsonl", [inner])], name="i", preset="messages")
    assert out[0]["system_prompt"] == "Be brief." and _meta(out[0])["system"] == BESPOKE["system"]


# --- 14.7: --map keys a preset ignores --------------------------------------------------------


def test_map_keys_a_preset_ignores_are_errors(tmp_path):
    src = _jsonl(tmp_path / "g.jsonl", [{"question": "Q", "answer": "#### 1", "hard": 3}])
    with pytest.raises(InputError) as e:
        ingest([src], out=tmp_path / "o", preset="gsm8k", maps={"level": "hard"})
    assert e.value.message == "--map level=hard: preset 'gsm8k' does not read 'level' when making problem rows"
    assert "it reads: problem, reference_solution, source_id, domain, source, license, language" in str(e.value)
    with pytest.raises(InputError) as e:
        ingest([src], out=tmp_path / "o", preset="think-traces", to="problem", maps={"completion": "answer"})
    assert "reads 'completion' only for trace rows, and this run makes problem rows" in e.value.message
    assert "--to trace" in str(e.value)
    with pytest.raises(InputError, match="unknown destination 'answr'"):
        ingest([src], out=tmp_path / "o", preset="problems", maps={"answr": "answer"})
    assert not (tmp_path / "o").exists()
    # meta.KEY always works, and a key the preset reads is used
    out, _ = _run(tmp_path, [src], preset="gsm8k", maps={"meta.difficulty": "hard", "problem": "question"})
    assert _meta(out[0]) == {"difficulty": 3}


def test_recipe_validation_flags_the_same_map_keys():
    from factory.pipeline.recipe import validate_section

    problems = validate_section("ingest", {"inputs": ["x.jsonl"], "out": "o", "preset": "gsm8k", "map": {"level": "hard"}})
    assert any("ingest.map" in p and "'level'" in p for p in problems), problems
    assert validate_section("ingest", {"inputs": ["x.jsonl"], "out": "o", "preset": "gsm8k", "map": {"problem": "q"}}) == []


# --- the declared --map destinations are exactly what the functions read ----------------------

HANDMADE: dict[str, list[dict]] = {
    "problems": [
        {"problem": "p", "answer": "1", "solution": "s", "id": "i", "level": 1, "difficulty": "d", "unit": "m", "answer_type": "Numerical"},
        {"problem": "c", "tests": 1},
    ],
    "think-traces": [{"problem": "p", "answer": "1", "solution": "s", "id": "i", "level": 1, "difficulty": "d", "unit": "m",
                      "answer_type": "Numerical", "completion": "<think>a</think> b", "reasoning": "r", "correct": True,
                      "sample_index": 0, "prompt": "q", "system": "y", "model": "t", "finish_reason": "stop"}],
    "messages": [{"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}], "answer": "1",
                  "id": "i", "system": "y", "model": "t", "finish_reason": "stop"}],
}


def _generic_with_tests(tmp_path: Path) -> tuple[str, dict[str, str]]:
    rows = [{"problem": "p", "a": ["assert 1"], "setup": "x = 1", "starter": "def f(): pass", "fn": "f", "ins": ["1"], "outs": ["2"]}]
    return _jsonl(tmp_path / "gt.jsonl", rows), {"tests.asserts": "a", "tests.setup_code": "setup", "tests.starter_code": "starter"}


def test_declared_destinations_match_what_each_preset_reads(package_data, test_data, tmp_path, monkeypatch):
    asked: dict[str, set[str]] = {}
    current: list[str] = [""]
    real_get = RowView.get

    def get(self, dst, default, *, required=True):
        asked.setdefault(current[0], set()).add(dst)
        return real_get(self, dst, default, required=required)

    monkeypatch.setattr(ingest_presets.RowView, "get", get)
    shipped = {"gsm8k": "benchmarks/gsm8k_test.jsonl.gz", "math500": "benchmarks/math500_test.jsonl.gz",
               "aime24": "benchmarks/aime24.jsonl.gz", "aime25": "benchmarks/aime25.jsonl.gz", "amc23": "benchmarks/amc23.jsonl.gz",
               "humaneval": "benchmarks/HumanEval.jsonl.gz", "mbpp": "benchmarks/mbpp.jsonl.gz",
               "apps": "benchmarks/apps_train_sample_coderl.jsonl.gz", "skyt1-traces": "traces/skyt1_long_cot_math500.jsonl.gz",
               "qwen-traces": "traces/qwen25math_math_cot_100_bo8.jsonl.gz"}
    for name, preset in PRESETS.items():
        current[0] = name
        kind = "trace" if preset.traces is not None else "problem"
        if name in shipped:
            srcs = [str(package_data / shipped[name])]
        else:
            srcs = [_jsonl(tmp_path / f"{name}.jsonl", HANDMADE[name])]
        ingest(srcs, out=tmp_path / f"o-{name}", preset=name, to=kind, engine="rows", on_error="skip")
        if name == "qwen-traces":  # OlympiadBench rows: unit and answer_type
            ingest([str(test_data / OLYMPIAD)], out=tmp_path / "o-olymp", preset=name, engine="rows")
        if name == "problems":
            src, maps = _generic_with_tests(tmp_path)
            ingest([src], out=tmp_path / "o-gt1", preset=name, maps=maps, engine="rows")
            ingest([src], out=tmp_path / "o-gt2", preset=name, engine="rows",
                   maps={"tests.inputs": "ins", "tests.outputs": "outs", "tests.fn_name": "fn"})
    for name, preset in PRESETS.items():
        declared = set(preset.problem_reads) | set(preset.trace_reads)
        read = asked[name] - {"source (column)"}
        assert read <= declared | set(CONTEXT_DESTS), (name, sorted(read - declared))
        assert declared <= read, (name, sorted(declared - read))  # every declared destination is really read
        assert set(allowed_dests(preset, "problem")) <= set(allowed_dests(preset, "trace"))
