"""Math accuracy as a GRPO reward: `accuracy_reward(completions, solution, **kwargs)`.

TRL's reward-function signature: `completions` is a list of strings (standard format) or a
list of message lists (conversational: `[{"role": "assistant", "content": ...}]`), `solution`
the dataset column holding each prompt's reference — a bare answer (`"\\frac{1}{2}"`) or a
worked solution whose last `\\boxed{}` is the answer. Returns 1.0 when the completion's final
answer (after its thought) is equivalent to the reference, 0.0 when it is wrong, missing or
timed out, and None when the reference itself cannot be parsed — TRL leaves None rewards out
of the sum, so a broken reference never rewards or punishes anything.

The verifier (and its symbolic worker pool, started on first need) is shared across calls:
the same gold repeats across the G generations of a prompt and across epochs, so its caches pay.

Exercised by `python -m pytest -q tests/test_math_verify.py -k reward`.
"""

from __future__ import annotations

import atexit
from typing import Any

from factory.filters.math.equiv import MathEquivalence
from factory.filters.math.extract import extract_from_trace, last_boxed

_EQUIV: MathEquivalence | None = None


def _shared() -> MathEquivalence:
    global _EQUIV
    if _EQUIV is None:
        _EQUIV = MathEquivalence()
        atexit.register(_EQUIV.close)
    return _EQUIV


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, or the last message's content in a message list."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content") or "")
    if isinstance(completion, (list, tuple)):
        if not completion:
            return ""
        return completion_text(completion[-1])
    raise TypeError(f"completion: expected a string or a list of message dicts, found {type(completion).__name__}")


def reference_answer(solution: Any) -> str | None:
    """The answer in a reference solution: its last \\boxed{} if it has one, else the text."""
    if solution is None:
        return None
    text = str(solution)
    boxed = last_boxed(text)
    return boxed if boxed is not None else text


def accuracy_reward(completions: list[Any], solution: list[Any], **kwargs: Any) -> list[float | None]:
    """1.0 / 0.0 per completion; None where the reference answer cannot be parsed."""
    if len(completions) != len(solution):
        raise ValueError(f"accuracy_reward: {len(completions)} completions but {len(solution)} solutions; expected one solution per completion")
    eq = _shared()
    eq.expect(len(completions))
    golds = [reference_answer(s) for s in solution]
    exts = [extract_from_trace(completion_text(c), None) for c in completions]
    # the gold decides the two gold-dependent readings (joined final boxes, an option letter)
    preds = [eq.choose(e, g)[0] for e, g in zip(exts, golds)]
    verdicts = eq.check(list(zip(golds, preds)))
    out: list[float | None] = []
    for v in verdicts:
        if v.verdict == "gold_unparseable":
            out.append(None)
        else:
            out.append(1.0 if v.verdict == "correct" else 0.0)
    return out
