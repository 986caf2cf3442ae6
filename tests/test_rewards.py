"""Reward functions with TRL's GRPO signature, called the way GRPOTrainer calls them
(`reward_func(prompts=..., completions=..., completion_ids=..., **dataset_columns, trainer_state=...)`,
each prompt repeated for its G generations), on real completions and handmade variants."""

from __future__ import annotations

import json
import math

import pytest
from factory.filters.rewards import (
    accuracy_reward,
    completion_text,
    format_reward,
    language_consistency_reward,
    overlong_reward,
    reward_funcs,
)
from trace_rows import rows_from_traces

G = 4


def _grpo_call(fn, prompts, completions, **columns):
    """What GRPOTrainer._calculate_rewards does for a plain (synchronous) reward function."""
    out = fn(prompts=prompts, completions=completions, completion_ids=[[1, 2, 3]] * len(completions),
             trainer_state=object(), log_extra=lambda *a, **k: None, log_metric=lambda *a, **k: None, **columns)
    assert isinstance(out, list) and len(out) == len(completions)
    return [math.nan if r is None else r for r in out]


@pytest.fixture(scope="module")
def group(package_data):
    """One real problem (Sky-T1 trace, closed thought + boxed answer) and G completions for it:
    the real one, its thought drifting into Chinese, no thought at all, and a wrong answer."""
    rows = rows_from_traces(package_data / "traces" / "skyt1_long_cot_math500.jsonl.gz")
    real = next(r for r in rows if r["reasoning"] and r["finish_reason"] == "stop" and "\\boxed" in (r["answer"] or "")
                and '"label": true' in r["meta"] and len(r["reasoning"]) < 4000)
    thought, answer = real["reasoning"], real["answer"]
    drift = thought + "\n\n" + "或者，也许我需要重新考虑这个问题的条件，然后再计算一次结果。" * 12
    completions = [
        [{"role": "assistant", "content": f"<think>\n{thought}\n</think>\n\n{answer}"}],
        [{"role": "assistant", "content": f"<think>\n{drift}\n</think>\n\n{answer}"}],
        [{"role": "assistant", "content": answer}],
        [{"role": "assistant", "content": f"<think>\n{thought}\n</think>\n\nSo the answer is \\boxed{{-12345}}."}],
    ]
    prompts = [[{"role": "user", "content": real["problem"]}]] * G
    return real, prompts, completions


def test_format_reward(group):
    real, prompts, completions = group
    rewards = _grpo_call(format_reward, prompts, completions, domain=["math"] * G, solution=[real["reference_answer"]] * G)
    assert rewards == [1.0, 1.0, 0.0, 1.0]
    # strings (standard format) work too, and a missing box only matters for math rows
    texts = ["<think>x</think> 4", "<think>x</think> 4"]
    assert format_reward(texts, domain=["math", "general"]) == [0.0, 1.0]
    assert format_reward(["<think>unclosed thought"]) == [0.0]
    assert format_reward([]) == []


def test_language_consistency_reward(group):
    _, prompts, completions = group
    rewards = _grpo_call(language_consistency_reward, prompts, completions, language=["en"] * G)
    assert rewards[0] == 1.0 and rewards[3] == 1.0
    assert 0.0 < rewards[1] < 0.9  # the drifting thought loses reward in proportion
    assert all(0.0 <= r <= 1.0 for r in rewards)
    # default language is English; a French thought scores low against it, high against fr
    fr = ["<think>Je pense que la réponse est quatre, parce que deux et deux font quatre. Vérifions encore une fois.</think> 4"]
    assert language_consistency_reward(fr)[0] < 0.5
    assert language_consistency_reward(fr, language=["fr"])[0] == 1.0
    assert language_consistency_reward(["<think></think>4"]) == [0.0]


def test_accuracy_reward_delegates_to_the_math_verifier(group):
    real, prompts, completions = group
    # TRL's convention: the gold answer in a `solution` column
    rewards = _grpo_call(accuracy_reward, prompts, completions, solution=[real["reference_answer"]] * G)
    assert rewards == [1.0, 1.0, 1.0, 0.0]
    # factory datasets carry `reference_answer`
    assert accuracy_reward(completions, reference_answer=[real["reference_answer"]] * G) == [1.0, 1.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="solution"):
        accuracy_reward(completions)


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="expected 2 values"):
        format_reward(["a", "b"], domain=["math"])
    with pytest.raises(TypeError, match="string or a list of message dicts"):
        completion_text(42)  # type: ignore[arg-type]


# -- routing to the factory's verifiers, and the rewards factory rl adds -----------------------------

CD_META = json.dumps({"task": "countdown", "numbers": [3, 5, 7], "target": 22})
MUL_META = json.dumps({"task": "multiplication", "a": 12, "b": 34})
ADD_TESTS = {"style": "assert", "fn_name": "add", "inputs": [], "outputs": [], "asserts": ["assert add(2, 3) == 5"],
             "setup_code": None, "starter_code": None, "time_limit_s": None}


def test_accuracy_reward_routes_each_row_to_its_verifier():
    good_code = "<think>add them</think>\n```python\ndef add(a, b):\n    return a + b\n```"
    bad_code = "<think>oops</think>\n```python\ndef add(a, b):\n    return a - b\n```"
    rows = [  # (completion, meta, domain, tests, reference_answer, expected reward)
        ("<think>3*5=15, +7</think> <answer>3 * 5 + 7</answer>", CD_META, "puzzle", None, None, 1.0),
        ("<think>guess</think> <answer>3 * 7 + 5</answer>", CD_META, "puzzle", None, None, 0.0),
        ("<think>guess</think> <answer>3 * 5 + 5 + 2</answer>", CD_META, "puzzle", None, None, 0.0),
        ("<think>12*34</think> <answer>408</answer>", MUL_META, "puzzle", None, "408", 1.0),
        ("<think>12*34</think> <answer>418</answer>", MUL_META, "puzzle", None, "408", 0.0),
        (good_code, None, "code", ADD_TESTS, None, 1.0),
        (bad_code, None, "code", ADD_TESTS, None, 0.0),
        ("<think>half of 1</think> The answer is \\boxed{\\frac{1}{2}}.", None, "math", None, "0.5", 1.0),
        ("<think>x</think> <answer> 1/2 </answer>", None, "math", None, "\\frac{1}{2}", 1.0),  # R1-Zero tags
        ("<think>x</think> \\boxed{3}", None, "math", None, "\\frac{1}{2}", 0.0),
        ("<think>never closed \\boxed{\\frac{1}{2}}", None, "math", None, "\\frac{1}{2}", 0.0),
    ]
    completions = [[{"role": "assistant", "content": r[0]}] for r in rows]
    got = accuracy_reward(completions, meta=[r[1] for r in rows], domain=[r[2] for r in rows], tests=[r[3] for r in rows],
                          reference_answer=[r[4] for r in rows], prompts=[[{"role": "user", "content": "q"}]] * len(rows))
    assert got == [r[5] for r in rows]


def test_rewards_come_from_the_factory_verifiers(monkeypatch):
    """The task reward is the task checker's verdict: replace the checker and the reward follows."""
    from factory.filters import rewards as rw
    from factory.filters.tasks.countdown import Check

    calls = []
    monkeypatch.setattr(rw, "check_task", lambda text, spec: calls.append(text) or Check("correct"))
    out = rw.accuracy_reward(["<think>x</think> <answer>nonsense</answer>"] * 2, meta=[CD_META] * 2)
    assert out == [1.0, 1.0] and len(calls) == 2


def test_format_reward_accepts_the_r1_zero_answer_tags():
    done = "<think>reasoning here</think> <answer> 42 </answer>"
    assert format_reward([done, "<think>reasoning</think> 42", "<think>r</think> <answer></answer>"],
                         domain=["math", "math", "math"]) == [1.0, 0.0, 0.0]
    assert format_reward(["Let me solve this step by step.\n</think> <answer>1+2</answer>"], domain=["puzzle"]) == [1.0]


def test_length_reward_is_kimis_group_penalty_and_reuses_accuracy(monkeypatch):
    from factory.filters import rewards as rw

    # one prompt, 4 completions: lengths 10, 20, 30, 50 tokens; the two shortest are right
    completions = ["<think>a</think> <answer>3*5+7</answer>", "<think>b</think> <answer>3*5+7</answer>",
                   "<think>c</think> <answer>1</answer>", "<think>d</think> <answer>2</answer>"]
    kwargs = dict(meta=[CD_META] * 4, problem_id=["p"] * 4, completion_ids=[[0] * 10, [0] * 20, [0] * 30, [0] * 50])
    acc = rw.accuracy_reward(completions, **kwargs)
    assert acc == [1.0, 1.0, 0.0, 0.0]
    monkeypatch.setattr(rw, "check_task", lambda *a: pytest.fail("the verifier ran twice for one batch"))
    got = rw.length_reward(completions, **kwargs)
    # lambda = 0.5 - (len - 10) / (50 - 10): 0.5, 0.25, 0.0, -0.5; wrong ones get min(0, lambda)
    assert got == pytest.approx([0.5, 0.25, 0.0, -0.5])


def test_overlong_reward_is_dapos_soft_punishment():
    fn = overlong_reward(100, 20)
    ids = [[0] * n for n in (50, 80, 90, 100, 120)]
    assert fn(["x"] * 5, completion_ids=ids) == pytest.approx([0.0, 0.0, -0.5, -1.0, -1.0])
    with pytest.raises(ValueError, match="buffer"):
        overlong_reward(100, 0)


def test_reward_funcs_are_named_for_trl_logs():
    funcs = reward_funcs(["accuracy", "format", "language", "length", "overlong"], max_completion_length=64)
    assert [f.__name__ for f in funcs] == ["accuracy", "format", "language", "length", "overlong"]
    with pytest.raises(ValueError, match="unknown reward"):
        reward_funcs(["accuracy", "speed"])
    with pytest.raises(ValueError, match="once"):
        reward_funcs(["format", "format"])
