"""Split a teacher completion into its reasoning and its final answer — the one implementation
every stage uses (generate for live samples, ingest for public trace files).

Formats understood:
- DeepSeek-R1 / Qwen3 / QwQ: `<think> … </think> answer`. The opening tag may be missing because
  the prompt prefilled it (`prefilled_think=True`, or a lone `</think>`): the completion then
  begins inside the thought.
- Sky-T1 / Bespoke: `<|begin_of_thought|> … <|end_of_thought|> <|begin_of_solution|> … <|end_of_solution|>`.
- A server's separate reasoning field (vLLM/SGLang `reasoning_content`, OpenRouter `reasoning`).
A completion cut by the token limit keeps what it has: `finished` is False when the thought never
closed (or the server's reasoning came with no answer after it).

Exercise: `factory generate ...` (every row's reasoning/answer/reasoning_finished columns).
"""

from __future__ import annotations

import re

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
SKY_THOUGHT_OPEN = "<|begin_of_thought|>"
SKY_THOUGHT_CLOSE = "<|end_of_thought|>"
SKY_SOLUTION_OPEN = "<|begin_of_solution|>"
SKY_SOLUTION_CLOSE = "<|end_of_solution|>"

_LEADING_THINK = re.compile(r"^\s*<think>")


def _clean(s: str | None) -> str | None:
    if s is None:
        return None
    s = s.strip()
    return s or None


def split_reasoning(
    text: str,
    *,
    prefilled_think: bool = False,
    reasoning_field: str | None = None,
    truncated: bool = False,
) -> tuple[str | None, str | None, bool]:
    """Return (reasoning, answer, finished).

    reasoning: the thought (None when the completion has none); answer: the text after it (None
    when empty or never reached); finished: the thought was closed (for a completion without any
    thought: it was not cut by the token limit, `truncated=False`).
    """
    text = text or ""
    if reasoning_field is not None and reasoning_field.strip():
        # the server already separated them; the text is the answer only
        answer = _clean(text)
        # a reply cut while still thinking has reasoning but no answer
        return _clean(reasoning_field), answer, not (truncated and answer is None)

    if SKY_THOUGHT_OPEN in text or SKY_THOUGHT_CLOSE in text or SKY_SOLUTION_OPEN in text:
        return _split_sky(text)

    has_open = _LEADING_THINK.match(text) is not None
    close = text.find(THINK_CLOSE)
    if has_open or prefilled_think or close >= 0:
        body = _LEADING_THINK.sub("", text, count=1) if has_open else text
        if prefilled_think and not has_open:
            # some models repeat the prefilled tag; do not keep it inside the thought
            body = _LEADING_THINK.sub("", body, count=1)
        close = body.find(THINK_CLOSE)
        if close < 0:
            return _clean(body), None, False
        return _clean(body[:close]), _clean(body[close + len(THINK_CLOSE) :]), True
    return None, _clean(text), not truncated


def _split_sky(text: str) -> tuple[str | None, str | None, bool]:
    start = text.find(SKY_THOUGHT_OPEN)
    body = text[start + len(SKY_THOUGHT_OPEN) :] if start >= 0 else text
    end = body.find(SKY_THOUGHT_CLOSE)
    if end < 0:
        # the solution tag may follow without the closing thought tag
        sol = body.find(SKY_SOLUTION_OPEN)
        if sol < 0:
            return _clean(body), None, False
        thought, rest = body[:sol], body[sol:]
    else:
        thought, rest = body[:end], body[end + len(SKY_THOUGHT_CLOSE) :]
    s = rest.find(SKY_SOLUTION_OPEN)
    if s >= 0:
        rest = rest[s + len(SKY_SOLUTION_OPEN) :]
    e = rest.find(SKY_SOLUTION_CLOSE)
    if e >= 0:
        rest = rest[:e]
    return _clean(thought), _clean(rest), True
