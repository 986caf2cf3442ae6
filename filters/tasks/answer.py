"""The final answer of a task completion, exactly where the task prompt asks for it: the last
`<answer>…</answer>` after the thought (TinyZero's and R1-Zero's template), else the last
`\\boxed{…}` after the thought (the factory's own convention). A thought that never closed has no
answer (the completion was cut off). No guessing from the last line: a task reward must not pay
for an answer the model did not commit to.

Exercised by `python -m pytest -q tests/test_tasks.py`.
"""

from __future__ import annotations

import re

from factory.filters.math.extract import last_boxed

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_CLOSE = ("</think>", "<|end_of_thought|>")
_OPEN = ("<think>", "<|begin_of_thought|>")


def after_thought(completion: str) -> str | None:
    """The part after the thought; the whole text when there is no thought; None when a thought
    was opened and never closed."""
    cut = max((completion.rfind(c) + len(c) for c in _CLOSE if c in completion), default=-1)
    if cut >= 0:
        return completion[cut:]
    if any(o in completion for o in _OPEN):
        return None
    return completion


def answer_tag(text: str) -> str | None:
    """Content of the last complete `<answer>…</answer>` in `text` (stripped), or None."""
    matches = _ANSWER_TAG.findall(text)
    return matches[-1].strip() if matches else None


def final_answer(completion: str) -> str | None:
    part = after_thought(completion or "")
    if part is None:
        return None
    tagged = answer_tag(part)
    if tagged is not None:
        return tagged
    return last_boxed(part)
