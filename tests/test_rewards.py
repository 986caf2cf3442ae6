"""Reward functions with TRL's GRPO signature, called the way GRPOTrainer calls them
(`reward_func(prompts=..., completions=..., completion_ids=..., **dataset_columns, trainer_state=...)`,
each prompt repeated for its G generations), on real completions and handmade variants."""

from __future__ import annotations

import math

import pytest
from factory.filters.rewards import (
    accuracy_reward,
    completion_text,
    format_reward,
    language_consistency_reward,
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
