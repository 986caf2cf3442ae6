"""The verifiers and filters as reward functions for R1-Zero-style RL, with TRL's GRPO reward
signature `fn(completions, **kwargs) -> list[float]`.

`completions` are strings (standard format) or lists of message dicts (conversational format,
`[{"role": "assistant", "content": ...}]`); `kwargs` holds the dataset's other columns, one
value per completion (TRL repeats each prompt's row for its G generations), plus `prompts`.

- `format_reward`: 1.0 when the completion passes `FormatFilter`'s structural rules (a closed,
  non-empty thought followed by an answer; `\\boxed{}` when the row's `domain` is math),
  else 0.0. Length and stop rules are left to the trainer.
- `language_consistency_reward`: DeepSeek-R1's language-consistency reward: the share of the
  thought written in the target language (column `language`, default "en"), in [0, 1]; a
  thought too short to judge gets 1.0, an empty one 0.0.
- `accuracy_reward`: delegates to the math verifier's `accuracy_reward`
  (`factory.filters.math.reward`, imported when first called); the gold answer comes from the
  `solution` column, or `reference_answer` in factory datasets.

Use: `GRPOTrainer(..., reward_funcs=[accuracy_reward, format_reward, language_consistency_reward])`.
Exercise: `python -m pytest -q tests/test_rewards.py`.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from factory.filters.format import FormatFilter
from factory.filters.language import SegmentClassifier, analyse

Completion = str | list[dict[str, Any]]


def completion_text(completion: Completion) -> str:
    """The assistant's text: a string as is; for messages, the assistant contents joined."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        parts = [m.get("content") or "" for m in completion if isinstance(m, dict) and m.get("role", "assistant") == "assistant"]
        return "".join(p if isinstance(p, str) else "" for p in parts)
    raise TypeError(f"completion: expected a string or a list of message dicts, found {type(completion).__name__}")


def _column(kwargs: dict[str, Any], name: str, n: int, default: Any) -> list[Any]:
    values = kwargs.get(name)
    if values is None:
        return [default] * n
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        return [values] * n
    if len(values) != n:
        raise ValueError(f"reward kwarg '{name}': expected {n} values (one per completion), found {len(values)}")
    return [default if v is None else v for v in values]


_FORMAT = FormatFilter(require_stop=False, min_tokens=0, max_tokens=None)


def format_reward(completions: list[Completion], **kwargs: Any) -> list[float]:
    texts = [completion_text(c) for c in completions]
    n = len(texts)
    if n == 0:
        return []
    domains = _column(kwargs, "domain", n, "general")
    batch = pl.DataFrame(
        {
            "completion": texts,
            "reasoning": pl.Series([None] * n, dtype=pl.String),  # parsed from the raw tags
            "reasoning_finished": [True] * n,
            "answer": pl.Series([None] * n, dtype=pl.String),
            "finish_reason": ["stop"] * n,
            "completion_tokens": pl.Series([None] * n, dtype=pl.Int64),
            "domain": [str(d) for d in domains],
        }
    )
    ok = _FORMAT.keep(_FORMAT.score(batch))
    return [1.0 if v else 0.0 for v in ok.to_list()]


_CLASSIFIER = SegmentClassifier()


def language_consistency_reward(completions: list[Completion], **kwargs: Any) -> list[float]:
    texts = [completion_text(c) for c in completions]
    langs = _column(kwargs, "language", len(texts), "en")
    rewards = []
    for text, lang in zip(texts, langs):
        # score the thought when there is one; otherwise the whole completion
        head, sep, _ = text.partition("</think>")
        thought = head.replace("<think>", "") if sep else text
        rep = analyse(thought, str(lang), _CLASSIFIER)
        if rep.share is None:  # nothing long enough to judge: no language to penalise
            rewards.append(1.0 if thought.strip() else 0.0)
        else:
            rewards.append(float(rep.share))
    return rewards


def accuracy_reward(completions: list[Completion], **kwargs: Any) -> list[float | None]:
    """1.0 / 0.0 per completion from the math verifier's cascade; None where the reference
    cannot be parsed (TRL then ignores that reward). The reference comes from the dataset's
    `solution` column (TRL's convention) or, for factory datasets, `reference_answer`."""
    try:
        from factory.filters.math.reward import accuracy_reward as math_accuracy_reward
    except ImportError as e:  # pragma: no cover - the math verifier ships with factory
        from factory.schemas.errors import NotBuiltYetError

        raise NotBuiltYetError(f"accuracy_reward needs the math verifier (factory.filters.math.reward): {e}") from None
    if "solution" not in kwargs:
        if "reference_answer" not in kwargs:
            raise ValueError("accuracy_reward: expected a `solution` or `reference_answer` column with one gold answer per completion")
        kwargs = {**kwargs, "solution": kwargs["reference_answer"]}
    solution = kwargs.pop("solution")
    kwargs.pop("reference_answer", None)
    return list(math_accuracy_reward(completions, solution, **kwargs))
