"""The reasoning split (R1 <think>, prefilled thought, Sky-T1 tags, server field, truncation) on
real trace text, and the prompt presets / user Jinja templates."""

from __future__ import annotations

import gzip
import json

import pytest
from factory.schemas.errors import InputError
from factory.schemas.text import split_reasoning

from factory.generate.prompts import BOXED, PRESETS, SKY_T1_SYSTEM, load_prompt


def test_think_tags_prefill_and_truncation():
    assert split_reasoning("<think>\nlet me see</think>\n\nThe answer is 4.") == ("let me see", "The answer is 4.", True)
    # the prompt prefilled "<think>\n": the completion starts inside the thought
    assert split_reasoning("so 2+2=4\n</think>\n**4**", prefilled_think=True) == ("so 2+2=4", "**4**", True)
    assert split_reasoning("so 2+2=4\n</think>\n**4**") == ("so 2+2=4", "**4**", True)  # lone close tag
    # cut by the token limit inside the thought: kept, unfinished, no answer
    assert split_reasoning("hmm, wait", prefilled_think=True, truncated=True) == ("hmm, wait", None, False)
    assert split_reasoning("<think>hmm", truncated=True) == ("hmm", None, False)
    # a model that repeats the prefilled tag does not keep it in the thought
    assert split_reasoning("<think>\nx</think>y", prefilled_think=True) == ("x", "y", True)
    # no thought at all
    assert split_reasoning("plain answer 5") == (None, "plain answer 5", True)
    assert split_reasoning("plain answer", truncated=True) == (None, "plain answer", False)


def test_server_reasoning_field():
    assert split_reasoning("The answer is 3.", reasoning_field="think think") == ("think think", "The answer is 3.", True)
    assert split_reasoning("", reasoning_field="still thinking", truncated=True) == ("still thinking", None, False)
    # an empty field falls back to the tags in the text
    assert split_reasoning("<think>a</think>b", reasoning_field="") == ("a", "b", True)


def test_sky_t1_tags_on_a_real_trace(package_data):
    with gzip.open(package_data / "traces" / "skyt1_long_cot_math500.jsonl.gz", "rt", encoding="utf-8") as f:
        row = json.loads(f.readline())
    text = row["code"][0]
    reasoning, answer, finished = split_reasoning(text)
    assert finished and reasoning and answer
    assert "<|" not in reasoning and "<|" not in answer
    assert "\\boxed" in answer and len(reasoning) > len(answer)
    # cut in the thought
    r, a, fin = split_reasoning(text[: len(text) // 3], truncated=True)
    assert not fin and a is None and r


def _row(domain="math", tests=None, problem="What is 2+2?"):
    return {"id": "p_1", "domain": domain, "problem": problem, "tests": tests, "reference_answer": "4"}


def test_presets_follow_published_usage():
    r1 = PRESETS["deepseek-r1"].render(_row())
    assert r1.system is None and r1.user == f"What is 2+2?\n{BOXED}" and r1.prefill == "<think>\n"
    assert [m["role"] for m in r1.messages()] == ["user"]
    qwq = PRESETS["qwq"].render(_row())
    assert qwq.system.startswith("You are a helpful and harmless assistant") and qwq.user.endswith(BOXED)
    qwen = PRESETS["qwen"].render(_row())
    assert qwen.system == BOXED and qwen.user == "What is 2+2?"
    sky = PRESETS["sky-t1"].render(_row())
    assert sky.system == SKY_T1_SYSTEM and sky.user == "Return your final response within \\boxed{}. What is 2+2?"


def test_code_prompts_ask_for_one_fenced_program():
    stdin = {"style": "stdin_stdout", "fn_name": None, "inputs": ["1\n"], "outputs": ["2\n"], "asserts": [],
             "setup_code": None, "starter_code": None, "time_limit_s": None}
    call = {**stdin, "style": "call", "fn_name": "add", "starter_code": "class Solution:\n    def add(self, a, b):"}
    asserts = {**stdin, "style": "assert", "fn_name": "add", "asserts": ["assert add(1, 2) == 3"]}
    u = PRESETS["deepseek-r1"].render(_row("code", stdin, "Double n.")).user
    assert "standard input" in u and "single ```python code block" in u
    u = PRESETS["deepseek-r1"].render(_row("code", call, "Add.")).user
    assert "calling `add`" in u and "class Solution" in u
    u = PRESETS["qwq"].render(_row("code", asserts, "Add.")).user
    assert "assert add(1, 2) == 3" in u and "single ```python code block" in u
    sky = PRESETS["sky-t1"].render(_row("code", stdin, "Double n.")).user
    assert sky.startswith("Generate an executable Python function") and "stdin" in sky


def test_user_jinja_template(tmp_path):
    p = tmp_path / "mine.jinja"
    p.write_text('{% set system = "Be brief." %}{% set prefill = "<think>\\n" %}'
                 "Solve ({{ domain }}): {{ problem }}{% if tests %} via {{ tests.fn_name }}{% endif %}")
    prompt = load_prompt(str(p))
    r = prompt.render(_row())
    assert (r.system, r.user, r.prefill) == ("Be brief.", "Solve (math): What is 2+2?", "<think>\n")
    assert prompt.name.startswith("file:mine.jinja@")
    bad = tmp_path / "bad.jinja"
    bad.write_text("{{ problem_text }}")
    with pytest.raises(InputError, match="bad.jinja.*problem_text"):
        load_prompt(str(bad)).render(_row())
    with pytest.raises(InputError, match="expected a preset"):
        load_prompt("r2-d2")
