"""generate fails loudly, against a REAL local HTTP server (tests/openai_server.py) that is down,
refuses requests over its context with vLLM's HTTP 400, and advertises its context (or not):

- a server that is down stops the run before anything is written;
- `--max-tokens` over an advertised context is refused before the first request, and without
  `--max-tokens` the budget is derived from the context (recorded in rows and manifest);
- a server that does not report its context: the first context 400 is one clear error, no rows;
- mostly error rows: exit 1 with the distinct server errors; every summary states the error rows
  and `--only errors`; the re-run says only error rows are left; `--only errors` retries them;
- the transformers and vLLM backends check the model config's context the same way;
- SIGTERM behaves like Ctrl-C: a message, exit 143, finished shards kept, the re-run resumes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from factory.schemas.ids import problem_id
from gen_helpers import math500_rows, write_problems
from openai_server import FakeOpenAIServer, closed_port
from typer.testing import CliRunner

from factory.cli.app import app
from factory.io.dataset import read_manifest, read_table


@pytest.fixture(scope="module")
def server(tiny_model):
    with FakeOpenAIServer(str(tiny_model), delay_s=0.01) as s:
        yield s


@pytest.fixture()
def fresh(server):
    server.reset_records()
    server.script, server.poison, server.reasoning_field, server.required_key = [], None, False, None
    server.context, server.advertise_context, server.tokenize = None, False, False
    return server


def _problems(package_data, path, texts: dict[int, str] | None = None, k: int = 4):
    rows = math500_rows(package_data, k)
    for i, prefix in (texts or {}).items():
        rows[i] = dict(rows[i], problem=f"{prefix} {rows[i]['problem']}")
        rows[i]["id"] = problem_id("math", rows[i]["problem"], rows[i]["reference_answer"])
    return write_problems(path, rows)


def _args(url, problems, out, *extra):
    return ["generate", "--backend", "openai", "--teacher", "tiny", "--base-url", url, "--problems", str(problems),
            "--out", str(out), "-n", "1", "--max-retries", "0", "--concurrency", "2", *extra]


def _invoke(args):
    return CliRunner().invoke(app, args)


def test_a_server_that_is_down_stops_the_run_before_anything_is_written(package_data, tmp_path):
    problems = _problems(package_data, tmp_path / "p")
    url = f"http://127.0.0.1:{closed_port()}/v1"
    r = _invoke(_args(url, problems, tmp_path / "t"))
    assert r.exit_code == 1, r.output
    assert f"cannot reach the teacher server at {url}" in r.output and "ConnectError" in r.output
    assert "start the server" in r.output
    assert not (tmp_path / "t").exists()  # a run that failed before writing anything leaves nothing


def test_max_tokens_over_the_advertised_context_is_refused_before_the_first_request(fresh, package_data, tmp_path):
    fresh.context, fresh.advertise_context, fresh.tokenize = 600, True, True
    problems = _problems(package_data, tmp_path / "p")
    r = _invoke(_args(fresh.base_url, problems, tmp_path / "t", "--max-tokens", "1000"))
    assert r.exit_code == 1, r.output
    assert "plus --max-tokens 1000 exceeds the model's context of 600 tokens (the server's /v1/models max_model_len)" in r.output
    assert "lower --max-tokens to at most" in r.output
    assert fresh.arrivals == [] and fresh.faults["context"] == 0  # no chat request was sent
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("tokenize", [True, False])
def test_the_default_budget_is_derived_from_the_advertised_context(fresh, package_data, tmp_path, tokenize):
    fresh.context, fresh.advertise_context, fresh.tokenize = 2000, True, tokenize
    problems = _problems(package_data, tmp_path / "p")
    out = tmp_path / "t"
    r = _invoke(_args(fresh.base_url, problems, out))
    assert r.exit_code == 0, r.output
    m = read_manifest(out)
    budget = m.params["budget"]
    assert budget["derived"] and budget["context"] == 2000 and budget["prompt_tokens"] == ("exact" if tokenize else "estimate")
    longest = max(fresh.chat_model.count(row["messages"]) for row in _messages(problems))
    if tokenize:
        assert budget["longest_prompt"] == longest and budget["max_tokens"] == 2000 - longest
    else:  # an over-estimate: the derived budget stays inside the context
        assert budget["longest_prompt"] >= longest and budget["max_tokens"] <= 2000 - longest
    rows = read_table(out).to_pylist()
    assert {x["sampling"]["max_tokens"] for x in rows} == {budget["max_tokens"]} == set(fresh.max_tokens_seen)
    assert fresh.faults["context"] == 0 and all(x["finish_reason"] != "error" for x in rows)
    assert f"max tokens {budget['max_tokens']} (derived from the context)" in r.output and "0 error rows" in r.output


def _messages(problems):
    from factory.generate.prompts import load_prompt

    prompt = load_prompt(None)
    return [{"messages": prompt.render(p).messages()} for p in read_table(problems).to_pylist()]


def test_a_context_400_from_a_server_that_does_not_report_its_context_is_one_clear_error(fresh, package_data, tmp_path):
    fresh.context = 2000  # enforced, not advertised
    problems = _problems(package_data, tmp_path / "p", k=6)
    out = tmp_path / "t"
    r = _invoke(_args(fresh.base_url, problems, out, "-n", "4"))
    assert r.exit_code == 1, r.output
    assert "refused a request that does not fit the model's context: its context is 2000 tokens and the budget is " \
           "--max-tokens 32768" in r.output
    assert "This model's maximum context length is 2000 tokens" in r.output and "--max-model-len" in r.output
    assert 1 <= fresh.faults["context"] <= 4  # stopped at the first refusals, not 24 error rows
    assert not list(out.glob("*.parquet")) and not (out / "manifest.json").exists()
    # told the context, the budget is derived from it and the same command completes
    r = _invoke(_args(fresh.base_url, problems, out, "-n", "4", "--max-model-len", "2000"))
    assert r.exit_code == 0, r.output
    assert read_manifest(out).rows == 24 and read_manifest(out).params["budget"]["context_source"] == "--max-model-len"


def test_mostly_errors_exit_non_zero_with_the_distinct_errors_and_only_errors_retries_them(fresh, package_data, tmp_path):
    problems = _problems(package_data, tmp_path / "p", {1: "POISON", 2: "POISON"})
    fresh.poison = "POISON"
    fresh.script = ["429"]  # the first request that is not poisoned is rate-limited (no retries allowed)
    out = tmp_path / "t"
    args = _args(fresh.base_url, problems, out, "--concurrency", "1")
    r = _invoke(args)
    assert r.exit_code == 1, r.output
    assert "3 of 4 trace rows (75%) are errors, more than --max-error-share 0.5" in r.output
    assert "http_500: gave up after 1 attempts (http_500)  (2 rows)" in r.output
    assert "http_429: gave up after 1 attempts (http_429)" in r.output  # the distinct errors, each once
    assert "--only errors" in r.output and "3 error rows: retry just those with the same command plus --only errors" in r.output
    from factory.schemas.errors import DatasetError

    with pytest.raises(DatasetError, match="half-written"):  # its run did not finish: readers refuse it
        read_manifest(out)
    # the same command again: nothing left but error rows, and it says so
    r = _invoke(args)
    assert r.exit_code == 1, r.output
    assert "already holds all 4 samples: nothing to do; 3 of them are error rows" in r.output and "--only errors" in r.output
    # the server recovers: --only errors retries just those rows and the run finishes
    fresh.poison = None
    r = _invoke([*args, "--only", "errors"])
    assert r.exit_code == 0, r.output
    assert "0 error rows" in r.output
    rows = read_table(out).to_pylist()
    assert len(rows) == 4 and all(x["finish_reason"] in ("stop", "length") for x in rows)


def test_a_few_error_rows_are_stated_and_retried_from_a_finished_folder(fresh, package_data, tmp_path):
    problems = _problems(package_data, tmp_path / "p", {2: "POISON"})
    fresh.poison = "POISON"
    out = tmp_path / "t"
    args = _args(fresh.base_url, problems, out)
    r = _invoke(args)
    assert r.exit_code == 0, r.output  # 1 of 4 is under the default share of 0.5
    assert "done: 4 trace rows" in r.output and "1 error row: retry just those with the same command plus --only errors" in r.output
    ok = {x["problem_id"]: x for x in read_table(out).to_pylist() if x["finish_reason"] != "error"}
    assert len(ok) == 3
    r = _invoke(args)
    assert r.exit_code == 0 and "up to date" in r.output and "1 error row: retry just those" in r.output
    # a stricter share fails the same folder (max_error_share does not change the rows)
    r = _invoke([*args, "--max-error-share", "0.1"])
    assert r.exit_code == 0 and "up to date" in r.output  # the finished run is not re-judged...
    fresh.poison = None
    r = _invoke([*args, "--only", "errors"])  # ...but --only errors does run on a finished folder
    assert r.exit_code == 0, r.output
    assert "updating" in r.output and "in place (--only errors)" in r.output and "0 error rows" in r.output
    after = {x["problem_id"]: x for x in read_table(out).to_pylist()}
    assert all(x["finish_reason"] != "error" for x in after.values())
    assert all(after[k] == v for k, v in ok.items())  # the good rows are untouched
    r = _invoke(args)
    assert r.exit_code == 0 and "up to date" in r.output and "0 error rows" in r.output


def test_every_sample_failing_writes_nothing(fresh, package_data, tmp_path):
    problems = _problems(package_data, tmp_path / "p", {0: "POISON", 1: "POISON"}, k=2)
    fresh.poison = "POISON"
    r = _invoke(_args(fresh.base_url, problems, tmp_path / "t", "-n", "2"))
    assert r.exit_code == 1, r.output
    assert "every sample of this run failed (4 of 4); stopped before writing them" in r.output
    assert "http_500: gave up after 1 attempts (http_500)  (4 rows)" in r.output
    assert not (tmp_path / "t").exists()


def test_transformers_and_vllm_budgets_come_from_the_model_config(tiny_model, package_data, tmp_path, monkeypatch):
    from factory.generate.budget import ContextError, plan_budget
    from factory.generate.core import GenerateOptions
    from factory.generate.prompts import load_prompt

    problems = _problems(package_data, tmp_path / "p")
    r = _invoke(["generate", "--teacher", str(tiny_model), "--problems", str(problems), "--out", str(tmp_path / "t"),
                 "--max-tokens", "5000"])
    assert r.exit_code == 1, r.output
    assert "plus --max-tokens 5000 exceeds the model's context of 4096 tokens (config max_position_embeddings)" in r.output
    assert not (tmp_path / "t").exists()
    prompts = [load_prompt(None).render(p) for p in read_table(problems).to_pylist()]
    opts = GenerateOptions(teacher=str(tiny_model), problems=str(problems), out="x")
    b = plan_budget(opts, prompts, prefill=True, log=lambda m: None)
    assert b.derived and b.context == 4096 and b.prompt_tokens == "exact" and b.max_tokens == 4096 - b.longest_prompt
    # vLLM: --max-model-len is the context; longer than the model's is refused (checked without
    # starting vLLM: here it is not even installed, so its presence check is stubbed)
    monkeypatch.setattr("factory.generate.teachers.vllm_backend.require_vllm", lambda: None)
    vopts = GenerateOptions(teacher=str(tiny_model), problems=str(problems), out="x", backend="vllm", max_model_len=256,
                            max_tokens=200)
    with pytest.raises(ContextError, match=r"exceeds the model's context of 256 tokens \(--max-model-len\)"):
        plan_budget(vopts, prompts, prefill=True, log=lambda m: None)
    with pytest.raises(ContextError, match="--max-model-len 9000 is longer than the model's context of 4096"):
        plan_budget(GenerateOptions(**{**vopts.__dict__, "max_model_len": 9000}), prompts, prefill=True, log=lambda m: None)


def test_sigterm_is_like_ctrl_c_finished_shards_are_kept_and_the_rerun_resumes(tiny_model, package_data, tmp_path):
    problems = write_problems(tmp_path / "problems", math500_rows(package_data, 24))
    out = tmp_path / "traces"
    args = ["--teacher", str(tiny_model), "--problems", str(problems), "--out", str(out), "-n", "2",
            "--max-tokens", "24", "--seed", "11", "--batch-size", "4", "--flush-rows", "4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "factory.cli.app", "generate", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    try:
        while len(list(out.glob("part-*.parquet"))) < 2:
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.time() < deadline, "no shards appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert "terminated (SIGTERM; finished work is kept: re-run the same command to resume)" in stderr
    assert "Traceback" not in stderr
    kept = len(list(out.glob("part-*.parquet")))
    assert kept >= 2 and not (out / "manifest.json").exists()
    r = _invoke(["generate", *args])
    assert r.exit_code == 0, r.output
    assert "resuming" in r.output
    t = read_table(out, columns=["problem_id", "sample_index"])
    keys = set(zip(t.column("problem_id").to_pylist(), t.column("sample_index").to_pylist()))
    assert t.num_rows == len(keys) == 48
    assert json.loads((out / "manifest.json").read_text())["run"]["rows_resumed"] >= 8
