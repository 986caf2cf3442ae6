"""The openai backend against a REAL local HTTP server (tests/openai_server.py) with the tiny model
behind it: faults (429 bursts with Retry-After, 500s, slow replies past the timeout, dropped
connections, empty replies) end in success or a clearly-marked error row; retries are counted;
the concurrency bound and rpm/tpm limits hold (checked on the server's side, generous bounds);
the API key is never in the output, the manifest or the rows."""

from __future__ import annotations

import json

import pytest
from factory.schemas.ids import problem_id
from gen_helpers import math500_rows, write_problems
from openai_server import FakeOpenAIServer
from typer.testing import CliRunner

from factory.generate.teachers.base import Request, SamplingConfig, TeacherError
from factory.generate.teachers.openai_backend import OpenAITeacher, retry_after_seconds
from factory.io.dataset import read_manifest, read_table


@pytest.fixture(scope="module")
def server(tiny_model):
    with FakeOpenAIServer(str(tiny_model)) as s:
        yield s


@pytest.fixture()
def fresh(server):
    server.reset_records()
    server.script, server.poison, server.reasoning_field, server.required_key = [], None, False, None
    server.slow_s = 3.0
    return server


def _reqs(k: int, samples: int = 1, text: str = "What is {i} + {i}?") -> list[Request]:
    return [Request(key=f"p{i}", messages=[{"role": "user", "content": text.format(i=i)}],
                    sample_indices=list(range(samples)), seeds=[100 * i + s for s in range(samples)]) for i in range(k)]


SAMPLING = SamplingConfig(temperature=0.7, top_p=0.95, max_tokens=8, n=2)


def test_faults_end_in_success_or_error_rows_and_concurrency_is_bounded(fresh):
    fresh.script = ["429"] * 4 + ["500", "500", "drop", "empty", "empty_content"]
    fresh.poison = "POISON"
    reqs = _reqs(9, samples=2)
    reqs[4].messages[0]["content"] = "POISON pill"
    t = OpenAITeacher("tiny", base_url=fresh.base_url, concurrency=3, max_retries=3, backoff_base=0.05, timeout=10)
    seen = []
    out = t.generate(reqs, SAMPLING, on_result=lambda i, j, c: seen.append((i, j)))
    assert sorted(seen) == [(i, j) for i in range(9) for j in range(2)]  # every sample reported once
    for i, comps in enumerate(out):
        for c in comps:
            if i == 4:
                assert c.finish_reason == "error" and c.error.startswith("http_500") and "gave up after 4 attempts" in c.error
            else:
                assert c.error is None and c.text and c.finish_reason in ("stop", "length") and c.completion_tokens
    # each injected fault cost exactly one retry; the poisoned samples 3 retries each
    assert t.stats["retry:http_429"] == 4
    assert t.stats["retry:http_500"] == 2 + 2 * 3
    assert t.stats["retry:connection"] == 1 and t.stats["retry:empty_response"] == 2
    assert t.stats["error:http_500"] == 2
    assert sum(c.retries for comps in out for c in comps) == 4 + 2 + 1 + 2 + 6
    assert fresh.faults["429"] == 4 and fresh.faults["drop"] == 1
    assert 2 <= fresh.max_inflight <= 3  # the bound held, and requests did overlap


def test_slow_reply_past_the_timeout_is_retried(fresh):
    fresh.script, fresh.slow_s = ["slow"], 2.0
    t = OpenAITeacher("tiny", base_url=fresh.base_url, concurrency=2, max_retries=2, backoff_base=0.05, timeout=0.7)
    out = t.generate(_reqs(1), SAMPLING)
    assert out[0][0].error is None and out[0][0].text and out[0][0].retries == 1
    assert t.stats["retry:timeout"] == 1


def test_requests_per_minute_limit_holds_on_the_server_side(fresh):
    # 600 rpm = 10/s with a one-second bucket: any 1 s window holds at most 10 + 10 requests
    t = OpenAITeacher("tiny", base_url=fresh.base_url, concurrency=8, rpm=600, max_retries=0)
    out = t.generate(_reqs(25), SAMPLING)
    assert all(c[0].error is None for c in out)
    arr = sorted(fresh.arrivals)
    assert len(arr) == 25
    worst = max(sum(1 for b in arr if a <= b < a + 1.0) for a in arr)
    assert worst <= 21
    assert arr[-1] - arr[0] >= 0.9 * (25 - 10) / 10  # the limiter cannot go faster than this


def test_tokens_per_minute_limit(fresh):
    rate = 100.0  # tokens/s (a request here is ~46 tokens)
    t = OpenAITeacher("tiny", base_url=fresh.base_url, concurrency=4, tpm=rate * 60, max_retries=0)
    out = t.generate(_reqs(10, text="Find all real x such that x^2 - {i}x + 1 = 0 and explain each step."), SAMPLING)
    assert all(c[0].error is None for c in out)
    total = sum(n for _, n in fresh.tokens)
    span = max(ts for ts, _ in fresh.tokens) - min(fresh.arrivals)
    assert total > 2 * rate
    assert span >= 0.5 * (total - 2 * rate) / rate


def test_retry_after_parsing():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert 0 <= retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_wrong_model_and_wrong_key_stop_the_run_without_leaking_the_key(fresh, monkeypatch):
    with pytest.raises(TeacherError, match="does not serve model 'gpt-9'"):
        OpenAITeacher("gpt-9", base_url=fresh.base_url).generate(_reqs(1), SAMPLING)
    fresh.required_key = "right-key-123"
    monkeypatch.setenv("MY_KEY", "sk-wrong-SECRET-999")
    with pytest.raises(TeacherError) as e:
        OpenAITeacher("tiny", base_url=fresh.base_url, api_key_env="MY_KEY").generate(_reqs(1), SAMPLING)
    assert "MY_KEY" in str(e.value) and "sk-wrong-SECRET-999" not in str(e.value)


def test_cli_end_to_end_reasoning_field_error_rows_and_key_never_shown(fresh, package_data, tmp_path, monkeypatch):
    key = "sk-test-SECRET-424242"
    monkeypatch.setenv("FACTORY_TEST_KEY", key)
    fresh.required_key = key
    fresh.reasoning_field = True
    rows = math500_rows(package_data, 3)
    echo = dict(rows[0], problem="ECHO-AUTH what is 1+1?")
    echo["id"] = problem_id("math", echo["problem"], echo["reference_answer"])
    problems = write_problems(tmp_path / "problems", rows + [echo])
    out = tmp_path / "traces"
    from factory.cli.app import app

    res = CliRunner().invoke(app, ["generate", "--backend", "openai", "--teacher", "tiny", "--base-url", fresh.base_url,
                                   "--api-key-env", "FACTORY_TEST_KEY", "--problems", str(problems), "--out", str(out),
                                   "-n", "2", "--max-tokens", "8", "--concurrency", "4"])
    assert res.exit_code == 0, res.output
    assert fresh.auth_headers == {f"Bearer {key}"}  # the key was sent...
    assert key not in res.output  # ...and never shown
    assert key not in (out / "manifest.json").read_text()
    table = read_table(out)
    assert key not in json.dumps(table.to_pylist(), default=str)
    m = read_manifest(out)
    assert m.rows == 8 and m.params["api_key_env"] == "FACTORY_TEST_KEY" and m.stats["finish_reason"].get("error") == 2
    for r in table.to_pylist():
        if r["problem_id"] == echo["id"]:
            assert r["finish_reason"] == "error" and r["completion"] == "" and not r["reasoning_finished"]
            err = json.loads(r["meta"])["teacher_error"]
            assert err.startswith("http_400") and "***" in err
        else:
            # the server's separate reasoning field is kept, the content is the answer
            assert r["answer"] == "The answer is 42." and r["reasoning"] and r["reasoning_finished"]
            assert r["backend"] == "openai" and r["sampling"]["seed"] is not None


def test_only_errors_retries_just_the_error_rows(fresh, package_data, tmp_path):
    from factory.generate.core import GenerateOptions, run_generate

    rows = math500_rows(package_data, 3)
    fresh.poison = rows[1]["problem"][:30]
    problems = write_problems(tmp_path / "problems", rows)
    out = tmp_path / "traces"
    opts = dict(teacher="tiny", backend="openai", base_url=fresh.base_url, problems=str(problems), out=str(out), n=2,
                max_tokens=8, max_retries=0, concurrency=4)
    run_generate(GenerateOptions(**opts), log=lambda m: None, progress=False)
    before = {(r["problem_id"], r["sample_index"]): r for r in read_table(out).to_pylist()}
    bad = {k for k, r in before.items() if r["finish_reason"] == "error"}
    assert {k[0] for k in bad} == {rows[1]["id"]} and len(bad) == 2
    assert read_manifest(out).run["teacher_stats"] == {"error:http_500": 2}
    fresh.poison = None  # the server recovered
    s = run_generate(GenerateOptions(**opts, only="errors"), log=lambda m: None, progress=False)
    after = {(r["problem_id"], r["sample_index"]): r for r in read_table(out).to_pylist()}
    assert s["generated"] == 2 and set(after) == set(before)
    assert all(after[k]["finish_reason"] in ("stop", "length") and after[k]["completion"] for k in bad)
    assert all(after[k] == before[k] for k in before if k not in bad)
