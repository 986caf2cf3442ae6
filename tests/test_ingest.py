"""`factory ingest` on the real data shipped in factory/data: every file with its preset gives the expected row
count, the presets map the fields the way the sources define them, traces link to their
problems, every input format reads the same rows, and the CLI and recipe stage work."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factory.cli.app import app
from factory.schemas.contracts import CONTRACTS
from factory.schemas.errors import DatasetError, InputError
from typer.testing import CliRunner

from factory.ingest.core import ingest
from factory.ingest.presets import split_skyt1, split_think
from factory.io.dataset import file_sha256, read_manifest, read_table
from factory.pipeline.recipe import run_section, validate_section

# (file under factory/data, preset, expected rows written, contract)
FILES = [
    ("benchmarks/gsm8k_test.jsonl.gz", "gsm8k", 1319, "problem"),
    ("benchmarks/math500_test.jsonl.gz", "math500", 500, "problem"),
    ("benchmarks/aime24.jsonl.gz", "aime24", 30, "problem"),
    ("benchmarks/aime25.jsonl.gz", "aime25", 30, "problem"),
    ("benchmarks/amc23.jsonl.gz", "amc23", 40, "problem"),
    ("benchmarks/HumanEval.jsonl.gz", "humaneval", 164, "problem"),
    ("benchmarks/mbpp.jsonl.gz", "mbpp", 974, "problem"),
    ("benchmarks/apps_train_sample_coderl.jsonl.gz", "apps", 5, "problem"),
    ("traces/skyt1_long_cot_math500.jsonl.gz", "skyt1-traces", 500, "trace"),
    ("traces/qwen25_14b_instruct_short_cot_math500.jsonl.gz", "qwen-traces", 500, "trace"),
    ("traces/qwen25math_math_cot_100_bo8.jsonl.gz", "qwen-traces", 800, "trace"),
]


@pytest.fixture(scope="module")
def ingested(package_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every shipped file ingested once with its preset (module-wide: the tests below read them)."""
    root = tmp_path_factory.mktemp("ingested")
    out = {}
    for rel, preset, _, _ in FILES:
        name = Path(rel).name.split(".")[0]
        ingest([str(package_data / rel)], out=root / name, preset=preset)
        out[name] = root / name
    return out


def _rows(folder: Path) -> list[dict]:
    return read_table(folder).to_pylist()


def _meta(row: dict) -> dict:
    return json.loads(row["meta"]) if row["meta"] else {}


@pytest.mark.parametrize("rel,preset,expected,contract", FILES, ids=[f[0].split("/")[1] for f in FILES])
def test_every_shipped_file_gives_its_expected_count(ingested, rel, preset, expected, contract):
    folder = ingested[Path(rel).name.split(".")[0]]
    m = read_manifest(folder)
    assert (m.contract, m.rows) == (contract, expected)
    assert m.stats["rows_written"] == expected and m.stats["rows_rejected"] == 0
    assert m.params["presets"] and m.command.startswith("factory ingest ")
    table = read_table(folder)
    CONTRACTS[contract].validate_table(table)
    for row in table.slice(0, 5).to_pylist():  # the row validator agrees with the Arrow schema
        CONTRACTS[contract].validate_row(row)
    assert len(set(table.column("id").to_pylist())) == expected


@pytest.mark.parametrize("rel,preset", [(f[0], f[1]) for f in FILES], ids=[f[0].split("/")[1] for f in FILES])
def test_autodetect_picks_the_same_preset(package_data, tmp_path, rel, preset):
    r = ingest([str(package_data / rel)], out=tmp_path / "o", limit=2)
    assert r.inputs[0].preset == preset


def test_gsm8k_answers_after_hashes_without_thousands_separators(ingested, package_data):
    rows = _rows(ingested["gsm8k_test"])
    src = [json.loads(line) for line in gzip.open(package_data / "benchmarks/gsm8k_test.jsonl.gz", "rt", encoding="utf-8")]
    with_comma = [i for i, s in enumerate(src) if "," in s["answer"].rsplit("####", 1)[1]]
    assert with_comma, "GSM8K test has answers written with thousands separators"
    for i in with_comma:
        expected = src[i]["answer"].rsplit("####", 1)[1].strip().replace(",", "")
        assert rows[i]["reference_answer"] == expected and "," not in rows[i]["reference_answer"]
    assert rows[0]["reference_solution"] == src[0]["answer"]
    assert all(r["domain"] == "math" and r["source"] == "gsm8k" for r in rows)


def test_math500_level_subject_and_unique_id(ingested, package_data):
    rows = _rows(ingested["math500_test"])
    src = [json.loads(line) for line in gzip.open(package_data / "benchmarks/math500_test.jsonl.gz", "rt", encoding="utf-8")]
    for r, s in zip(rows, src):
        assert r["level"] == s["level"] and r["source_id"] == s["unique_id"]
        assert r["reference_answer"] == s["answer"] and _meta(r)["subject"] == s["subject"]


def test_competition_answers_are_integers_as_text(ingested):
    amc = _rows(ingested["amc23"])
    assert amc[0]["reference_answer"] == "27"
    assert all("." not in r["reference_answer"] for r in amc)  # 27.0 -> "27"
    aime25 = _rows(ingested["aime25"])
    assert aime25[0]["source_id"] == "AIME 2025 I-1" and _meta(aime25[0])["contest"] == "AIME 2025 I"
    aime24 = _rows(ingested["aime24"])
    assert all(r["reference_answer"].isdigit() for r in aime24 + aime25)


def _exec_asserts(program: str, tests: dict) -> None:
    env: dict = {}
    exec(compile((tests["setup_code"] or "") + "\n" + program, "<candidate>", "exec"), env)  # noqa: S102 - reference code
    for a in tests["asserts"]:
        exec(compile(a, "<test>", "exec"), env)  # noqa: S102


def test_humaneval_reference_solutions_pass_their_assert_tests(ingested):
    rows = _rows(ingested["HumanEval"])
    for r in rows[:10]:
        t = r["tests"]
        assert t["style"] == "assert" and t["asserts"][0].rstrip().endswith(f"check({t['fn_name']})")
        assert t["starter_code"] == r["problem"] and r["reference_solution"].startswith(r["problem"])
        _exec_asserts(r["reference_solution"], t)
    with pytest.raises(AssertionError):  # a wrong program fails the same tests
        t = rows[0]["tests"]
        _exec_asserts(rows[0]["problem"] + "    return not True\n", t)


def test_mbpp_reference_solutions_pass_their_asserts(ingested):
    rows = _rows(ingested["mbpp"])
    assert rows[0]["tests"]["fn_name"] == "min_cost"
    # every task's function name is found, and the reference solution defines it
    assert all(r["tests"]["fn_name"] and f"def {r['tests']['fn_name']}" in r["reference_solution"] for r in rows)
    for r in rows[:10]:
        assert r["tests"]["style"] == "assert" and len(r["tests"]["asserts"]) >= 3
        _exec_asserts(r["reference_solution"], r["tests"])


def test_apps_tests_styles_and_labelled_programs(ingested, package_data):
    rows = {r["source_id"]: r for r in _rows(ingested["apps_train_sample_coderl"])}
    styles = sorted(r["tests"]["style"] for r in rows.values())
    assert styles == ["call", "call", "stdin_stdout", "stdin_stdout", "stdin_stdout"]
    gens = [g for r in rows.values() for g in _meta(r)["gen_solutions"]]
    assert len(gens) == 83 and sum(g["passed"] for g in gens) == 35  # SOURCES.md: 83 programs, 35 passed
    call = rows["apps-train-2404"]["tests"]
    assert call["fn_name"] == "findKthPositive" and json.loads(call["inputs"][0]) == [[2, 3, 4, 7, 11], 5]
    assert json.loads(call["outputs"][0]) == 9 and call["starter_code"].startswith("class Solution")
    assert rows["apps-train-0001"]["difficulty"] == "interview"
    # the human solution reproduces the stdin/stdout test
    r = rows["apps-train-0001"]
    run = subprocess.run([sys.executable, "-c", r["reference_solution"]], input=r["tests"]["inputs"][0],
                         capture_output=True, text=True, timeout=30)
    assert run.stdout.split() == r["tests"]["outputs"][0].split()


def test_skyt1_traces_split_and_labels(ingested):
    rows = _rows(ingested["skyt1_long_cot_math500"])
    # SOURCES.md: 179 complete blocks, 304 stop inside the thought, 17 cut inside/before the solution
    assert sum(r["finish_reason"] == "stop" for r in rows) == 179
    assert sum(not r["reasoning_finished"] for r in rows) == 304
    assert sum(r["reasoning_finished"] and r["finish_reason"] != "stop" for r in rows) == 17
    assert sum(_meta(r)["label_correct"] for r in rows) == 300  # 300 correct / 500
    done = next(r for r in rows if r["finish_reason"] == "stop")
    assert "<|" not in done["reasoning"] and "<|" not in done["answer"] and "\\boxed" in done["answer"]
    assert all(r["teacher"] == "Sky-T1-math-correct-5K-27B" and r["backend"] == "replay" for r in rows)
    assert all(r["source"] == "math500" and r["sample_index"] == 0 for r in rows)


def test_qwen_traces_labels_and_best_of_8(ingested):
    short = _rows(ingested["qwen25_14b_instruct_short_cot_math500"])
    assert sum(_meta(r)["label_correct"] for r in short) == 402  # SOURCES.md: 402 correct / 500
    assert short[0]["teacher"] == "Qwen/Qwen2.5-14B-Instruct"
    bo8 = _rows(ingested["qwen25math_math_cot_100_bo8"])
    assert sum(_meta(r)["label_correct"] for r in bo8) == 728  # 728 of 800 correct
    assert sorted({r["sample_index"] for r in bo8}) == list(range(8))
    assert len({r["problem_id"] for r in bo8}) == 100
    assert bo8[0]["system_prompt"].startswith("Please reason step by step")
    assert isinstance(_meta(bo8[0])["reward_score"], float) and _meta(bo8[0])["label_pred"] == "420"
    assert {r["level"] for r in bo8} <= {1, 2, 3, 4, 5}  # "Level 3" -> 3


def test_traces_link_to_their_problems(ingested):
    problems = {r["id"]: r for r in _rows(ingested["math500_test"])}
    for name in ("skyt1_long_cot_math500", "qwen25_14b_instruct_short_cot_math500"):
        traces = _rows(ingested[name])
        assert all(t["problem_id"] in problems for t in traces)
        t = traces[7]
        p = problems[t["problem_id"]]
        assert (t["problem"], t["reference_answer"], t["level"], t["domain"]) == (p["problem"], p["reference_answer"], p["level"], p["domain"])


def test_same_input_gives_byte_identical_shards(package_data, tmp_path):
    src = str(package_data / "benchmarks/aime24.jsonl.gz")
    ingest([src], out=tmp_path / "a", preset="aime24")
    ingest([src], out=tmp_path / "b", preset="aime24")
    a, b = read_manifest(tmp_path / "a"), read_manifest(tmp_path / "b")
    assert [s.sha256 for s in a.shards] == [s.sha256 for s in b.shards]
    assert file_sha256(tmp_path / "a" / a.shards[0].name) == a.shards[0].sha256


# --- every input format reads the same rows -------------------------------------------------

ROWS = [
    {"question": "What is 2+3?", "answer": "Add them.\n#### 5", "extra": 1},
    {"question": "What is 1000+234?", "answer": "Add.\n#### 1,234", "extra": 2},
    {"question": "What is 7*6?", "answer": "Multiply.\n#### 42", "extra": 3},
]


def _write_formats(d: Path) -> dict[str, str]:
    paths = {}
    p = d / "rows.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    paths["jsonl"] = str(p)
    p = d / "rows.jsonl.gz"
    with gzip.open(p, "wt", encoding="utf-8") as f:
        f.write("".join(json.dumps(r) + "\n" for r in ROWS))
    paths["jsonl.gz"] = str(p)
    p = d / "array.json"
    p.write_text(json.dumps(ROWS, indent=2))
    paths["json array"] = str(p)
    p = d / "data.json"
    p.write_text(json.dumps({"data": ROWS}))
    paths["json data"] = str(p)
    p = d / "object.json"
    p.write_text(json.dumps({f"k{i}": r for i, r in enumerate(ROWS)}))
    paths["json object of rows"] = str(p)
    p = d / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), p)
    paths["parquet"] = str(p)
    p = d / "rows.csv"
    import csv

    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(ROWS[0]))
        w.writeheader()
        w.writerows(ROWS)
    paths["csv"] = str(p)
    return paths


def test_every_format_reads_the_same_rows(tmp_path):
    paths = _write_formats(tmp_path)
    ids = {}
    for fmt, p in paths.items():
        r = ingest([p], out=tmp_path / f"out-{fmt.replace(' ', '_')}", preset="gsm8k")
        assert (r.rows_read, r.rows_written) == (3, 3), fmt
        rows = _rows(r.out)
        ids[fmt] = [x["id"] for x in rows]
        assert [x["reference_answer"] for x in rows] == ["5", "1234", "42"], fmt
    assert len({tuple(v) for v in ids.values()}) == 1, ids


def test_datasets_save_to_disk_folder(tmp_path):
    import datasets

    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "ds"))
    r = ingest([str(tmp_path / "ds")], out=tmp_path / "o", preset="gsm8k")
    assert r.rows_written == 3 and r.inputs[0].format == "hf_disk"
    datasets.DatasetDict({"test": datasets.Dataset.from_list(ROWS)}).save_to_disk(str(tmp_path / "dd"))
    assert ingest([str(tmp_path / "dd")], out=tmp_path / "o2", preset="gsm8k").rows_written == 3
    two = datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS), "test": datasets.Dataset.from_list(ROWS[:1])})
    two.save_to_disk(str(tmp_path / "two"))
    with pytest.raises(InputError, match=r"holds 2 splits \(train, test\); expected one"):
        ingest([str(tmp_path / "two")], out=tmp_path / "o3", preset="gsm8k")
    assert ingest([str(tmp_path / "two" / "test")], out=tmp_path / "o3", preset="gsm8k").rows_written == 1


def test_hub_id_offline_fails_with_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError) as e:
        ingest(["hf:openai/gsm8k:main:test"], out=tmp_path / "o", preset="gsm8k")
    assert e.value.message == "hf:openai/gsm8k:main:test: cannot load a Hub dataset while offline (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set)"
    assert not (tmp_path / "o").exists()


def test_column_mapping_and_constants(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("idx,q,gold,hardness,link\n7,Compute 3+4.,7,2,http://x\n8,Compute 2*5.,10,3,http://y\n")
    r = ingest([str(p)], out=tmp_path / "o", preset="problems",
               maps=["problem=q", "reference_answer=gold", "source_id=idx", "level=hardness", "meta.url=link"],
               domain="math", source="mine", license="CC0", language="en")
    rows = _rows(r.out)
    assert [(x["problem"], x["reference_answer"], x["source_id"], x["level"]) for x in rows] == [
        ("Compute 3+4.", "7", "7", 2), ("Compute 2*5.", "10", "8", 3)]
    assert rows[0]["source"] == "mine" and rows[0]["license"] == "CC0" and rows[0]["domain"] == "math"
    assert _meta(rows[0]) == {"url": "http://x"}
    with pytest.raises(InputError, match="unknown destination 'answr'"):
        ingest([str(p)], out=tmp_path / "o2", preset="problems", maps=["answr=gold"])


def test_think_traces_splits_and_numbers_samples(tmp_path):
    rows = [
        {"problem": "1+1?", "completion": "<think>\nadd\n</think>\n\nThe answer is \\boxed{2}.", "model": "r1"},
        {"problem": "1+1?", "completion": "adding ones\n</think>\n\\boxed{2}", "model": "r1"},  # prefilled <think>
        {"problem": "1+1?", "completion": "<think>\nhmm, one and one is", "model": "r1"},  # cut off
        {"problem": "2+2?", "completion": "It is \\boxed{4}.", "model": "r1"},  # no thinking
    ]
    p = tmp_path / "think.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = _rows(ingest([str(p)], out=tmp_path / "o", preset="think-traces", domain="math").out)
    assert [(o["sample_index"], o["finish_reason"], o["reasoning_finished"]) for o in out] == [
        (0, "stop", True), (1, "stop", True), (2, "length", False), (0, "unknown", True)]  # no thought: nothing unfinished
    assert out[0]["reasoning"] == "add" and out[0]["answer"] == "The answer is \\boxed{2}."
    assert out[1]["reasoning"] == "adding ones" and out[3]["reasoning"] is None
    assert out[0]["problem_id"] == out[2]["problem_id"] != out[3]["problem_id"]
    assert {o["teacher"] for o in out} == {"r1"}


def test_messages_preset(tmp_path):
    row = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "3*3?"},
                        {"role": "assistant", "content": "<think>three threes</think>9"}]}
    p = tmp_path / "chat.jsonl"
    p.write_text(json.dumps(row) + "\n")
    out = _rows(ingest([str(p)], out=tmp_path / "o", preset="messages", teacher="me").out)[0]
    assert (out["problem"], out["system_prompt"], out["reasoning"], out["answer"], out["teacher"]) == (
        "3*3?", "Be brief.", "three threes", "9", "me")
    probs = _rows(ingest([str(p)], out=tmp_path / "p", preset="messages", to="problem").out)
    assert probs[0]["id"] == out["problem_id"]
    p.write_text((json.dumps(row) + "\n") * 3)  # three samples of one problem -> one problem row
    r = ingest([str(p)], out=tmp_path / "p3", preset="messages", to="problem")
    assert (r.rows_read, r.rows_written, r.duplicates) == (3, 1, 2)
    assert read_manifest(r.out).stats["duplicates"] == 2


def test_split_functions_on_edge_cases():
    s = split_skyt1("<|begin_of_thought|>think<|end_of_thought|><|begin_of_solution|>sol<|end_of_solution|>")
    assert (s.reasoning, s.answer, s.reasoning_finished, s.finish_reason) == ("think", "sol", True, "stop")
    s = split_skyt1("<|begin_of_thought|>think<|end_of_thought|><|begin_of_solution|>so")
    assert (s.answer, s.finish_reason) == ("so", "length")
    assert split_skyt1("<|begin_of_thought|>thin").finish_reason == "length"
    assert split_skyt1("just text").finish_reason == "unknown"
    s = split_think("r", reasoning_field="separate")
    assert (s.reasoning, s.answer, s.reasoning_finished) == ("separate", "r", True)


def test_limit_and_problem_rows_from_a_trace_file(package_data, tmp_path):
    src = str(package_data / "traces/qwen25math_math_cot_100_bo8.jsonl.gz")
    r = ingest([src], out=tmp_path / "t", preset="qwen-traces", limit=10)
    assert (r.rows_read, r.rows_written, r.limited) == (10, 80, True)
    r = ingest([src], out=tmp_path / "p", preset="qwen-traces", to="problem")
    assert (r.contract, r.rows_written) == ("problem", 100)
    with pytest.raises(InputError, match="makes problem rows; it has no traces"):
        ingest([str(package_data / "benchmarks/aime24.jsonl.gz")], out=tmp_path / "x", preset="aime24", to="trace")


def test_cli_ingest_prints_counts_and_refuses_to_clobber(package_data, tmp_path):
    src = str(package_data / "benchmarks/aime25.jsonl.gz")
    runner = CliRunner()
    r = runner.invoke(app, ["ingest", src, "--preset", "aime25", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "wrote 30 problem row(s)" in r.output and "aime25" in r.output
    r = runner.invoke(app, ["ingest", src, "--preset", "aime25", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0 and "up to date" in r.output  # the same command again: nothing to do
    r = runner.invoke(app, ["ingest", src, "--preset", "aime25", "--out", str(tmp_path / "o"), "--limit", "4"])
    assert r.exit_code == 1 and "other settings (limit null -> 4)" in r.output and "--overwrite" in r.output
    r = runner.invoke(app, ["ingest", src, "--out", str(tmp_path / "o"), "--overwrite", "--limit", "4"])
    assert r.exit_code == 0 and "wrote 4 problem row(s)" in r.output and "stopped after --limit 4" in r.output
    r = runner.invoke(app, ["ingest", src, "--out", str(tmp_path / "o"), "--to", "poem"])
    assert r.exit_code == 1 and "--to: expected one of problem, trace or null, found 'poem'" in r.output


def test_ingest_stage_validates_runs_and_skips_when_done(tmp_path):
    problems = validate_section("ingest", {"inputs": "x", "out": 3, "preset": "nope", "limit": 0, "colour": "red",
                                           "on_error": "maybe", "map": {"answr": "gold"}, "to": "poem"})
    joined = "\n".join(problems)
    for needle in ("ingest.colour: unknown key", "ingest.out: expected a non-empty string, found 3",
                   "ingest.limit: expected an integer >= 1 or null, found 0", "ingest.on_error: expected one of fail, skip, found 'maybe'",
                   "ingest.to: expected one of problem, trace or null, found 'poem'"):
        assert needle in joined, joined
    assert validate_section("ingest", {"inputs": "x", "out": "o", "preset": "nope"}) == [
        "ingest.preset: expected one of aime24, aime25, amc23, apps, gsm8k, humaneval, math500, mbpp, messages, problems, "
        "qwen-traces, skyt1-traces, think-traces, found 'nope'"] or "ingest.preset" in validate_section(
        "ingest", {"inputs": "x", "out": "o", "preset": "nope"})[0]
    section = {"inputs": ["@data/benchmarks/aime24.jsonl.gz"], "preset": "aime24", "out": "problems", "limit": 5}
    assert validate_section("ingest", section) == []
    logs: list[str] = []
    s = run_section("ingest", section, run_dir=tmp_path, log=logs.append)
    assert (s["rows_written"], s.get("skipped"), s["contract"]) == (5, None, "problem")
    assert read_manifest(tmp_path / "problems").rows == 5
    s = run_section("ingest", section, run_dir=tmp_path, log=logs.append)
    assert s["skipped"] is True and "up to date" in logs[-1]
    with pytest.raises(DatasetError, match="other settings"):
        run_section("ingest", {**section, "limit": 6}, run_dir=tmp_path)
    assert run_section("ingest", {**section, "limit": 6}, run_dir=tmp_path, overwrite=True)["rows_written"] == 6


def test_apps_input_output_as_json_or_python_literal_string(tmp_path):
    base = {"problem_id": "x1", "question": "Add two numbers.", "starter_code": "", "solutions": '["print(sum(map(int, input().split())))"]',
            "metadata": {"difficulty": "introductory"}}
    rows = [
        {**base, "input_output": json.dumps({"inputs": ["1 2\n"], "outputs": ["3\n"]})},
        {**base, "problem_id": "x2", "input_output": "{'inputs': [[1, 2]], 'outputs': [3], 'fn_name': 'add'}"},  # Python literal
        {**base, "problem_id": "x3", "input_output": "{'inputs': [1], 'outputs': "},  # unparseable
    ]
    p = tmp_path / "apps.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = ingest([str(p)], out=tmp_path / "o", preset="apps", on_error="skip")
    assert (r.rows_written, r.rejected_by_reason) == (2, {"invalid_value": 1})
    out = _rows(r.out)
    assert out[0]["tests"]["style"] == "stdin_stdout" and out[0]["tests"]["inputs"] == ["1 2\n"]
    assert out[1]["tests"]["style"] == "call" and out[1]["tests"]["fn_name"] == "add"
    assert json.loads(out[1]["tests"]["inputs"][0]) == [1, 2] and out[1]["reference_solution"].startswith("print(")


def test_generic_problems_with_mapped_tests(tmp_path):
    p = tmp_path / "code.jsonl"
    p.write_text(json.dumps({"task": "Write f returning 1.", "checks": ["assert f() == 1"], "sol": "def f():\n    return 1\n"}) + "\n")
    r = ingest([str(p)], out=tmp_path / "o", preset="problems", domain="code",
               maps=["problem=task", "tests.asserts=checks", "reference_solution=sol"])
    row = _rows(r.out)[0]
    assert row["tests"]["style"] == "assert" and row["tests"]["asserts"] == ["assert f() == 1"]
    _exec_asserts(row["reference_solution"], row["tests"])


def test_think_traces_with_mapped_columns_and_reasoning_field(tmp_path):
    p = tmp_path / "gen.jsonl"
    p.write_text(json.dumps({"q": "2+2?", "gen": "\\boxed{4}", "thinking": "two and two", "who": "t1", "fr": "length"}) + "\n")
    r = ingest([str(p)], out=tmp_path / "o", preset="think-traces",
               maps=["problem=q", "completion=gen", "reasoning=thinking", "teacher=who", "finish_reason=fr"])
    row = _rows(r.out)[0]
    assert (row["reasoning"], row["answer"], row["teacher"], row["finish_reason"]) == ("two and two", "\\boxed{4}", "t1", "length")


def test_autodetect_failures_and_mixed_kinds(tmp_path, package_data):
    p = tmp_path / "odd.jsonl"
    p.write_text('{"colour": "red"}\n')
    with pytest.raises(InputError, match="cannot tell which preset fits this input; pass --preset"):
        ingest([str(p)], out=tmp_path / "o")
    with pytest.raises(InputError, match="inputs make different row kinds"):
        ingest([str(package_data / "benchmarks/aime24.jsonl.gz"), str(package_data / "traces/skyt1_long_cot_math500.jsonl.gz")],
               out=tmp_path / "o")
    with pytest.raises(InputError, match=r"expected hf:OWNER/NAME"):
        ingest(["hf:a:b:c:d"], out=tmp_path / "o", preset="gsm8k")


def test_csv_with_a_long_trace_field(tmp_path):
    import csv

    long = "<think>\n" + "step. " * 40_000 + "\n</think>\n\\boxed{1}"  # 240 KB: past csv's default field limit
    p = tmp_path / "long.csv"
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["problem", "completion"])
        w.writerow(["1?", long])
    row = _rows(ingest([str(p)], out=tmp_path / "o", preset="think-traces").out)[0]
    assert row["completion"] == long and row["answer"] == "\\boxed{1}"


def test_help_names_every_preset():
    from factory.ingest.presets import PRESETS

    r = CliRunner().invoke(app, ["ingest", "--help"])
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    assert all(name in text for name in PRESETS), [n for n in PRESETS if n not in text]
