"""Pull the candidate program out of a model's answer: the LAST fenced code block.

Used by `factory.filters.code.verify` (exercised by `python -m pytest -q tests/test_code_verify.py`).
A block is ```lang ... ``` (3+ backticks or tildes, the closing fence at least as long). Blocks
tagged with a Python tag (python, py, python3, ...) or untagged are candidates; a block tagged
with another language (text, bash, json, ...) is skipped, so a sample-output block printed after
the solution does not win. A final fence left open (a cut-off answer) still counts: the code
up to the end is returned and compiles or not on its own. Reasoning in `<think>...</think>` is
never searched: the answer part after the thought is.
"""

from __future__ import annotations

import re

PYTHON_TAGS = {"", "python", "py", "python3", "py3", "python2", "pycon", "ipython", "sage"}
_FENCE = re.compile(r"^[ \t]{0,3}(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$", re.MULTILINE)
_THINK_END = re.compile(r"</think>|<\|end_of_thought\|>", re.IGNORECASE)


def answer_part(text: str) -> str:
    """The text after the last end-of-thought marker (the whole text when there is none)."""
    last = None
    for last in _THINK_END.finditer(text):
        pass
    return text[last.end():] if last else text


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """All fenced blocks as (language tag lower-cased, body), in order."""
    blocks: list[tuple[str, str]] = []
    pos = 0
    while True:
        m = _FENCE.search(text, pos)
        if not m:
            return blocks
        fence, tag = m.group("fence"), m.group("info").strip().split(" ")[0].lower()
        body_start = m.end() + 1
        close = re.compile(r"^[ \t]{0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$", re.MULTILINE)
        c = close.search(text, body_start)
        if c is None:  # open fence to the end of the text (truncated answer)
            blocks.append((tag, text[body_start:]))
            return blocks
        blocks.append((tag, text[body_start : c.start()]))
        pos = c.end()


def extract_program(answer: str | None) -> str | None:
    """The last Python (or untagged) fenced block of the answer part, or None when there is none."""
    if not answer:
        return None
    candidates = [body for tag, body in fenced_blocks(answer_part(answer)) if tag.lstrip("{.").rstrip("}") in PYTHON_TAGS]
    if not candidates:
        return None
    code = candidates[-1].strip("\n")
    return code if code.strip() else None
