"""Final-answer extraction from a model's solution, recording which rule found it.

`solution_text(completion, answer)` picks the text to search: the Trace `answer` column (the part
after the thought) when it is non-empty; else the part of the raw completion after an
end-of-thought marker (`</think>`, `<|end_of_thought|>`, Sky-T1's `<|begin_of_solution|>`); else
the completion's tail (the model never closed its thought) — the source is recorded, so a row
answered only inside its thought can be told apart.

`extract_answer(text)` tries, in order: the last `\\boxed{...}`/`\\fbox{...}` (balanced, nested
braces; `\\boxed 5` too), GSM8K's `#### N`, "the answer is ..."/"final answer: ...", and the final
line. Returns an `Extraction(answer, rule, source)`; `answer` is None when nothing was found.

Exercised by `python -m pytest -q tests/test_math_verify.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Rule = Literal["boxed", "hash", "answer_is", "final_line", "none"]
Source = Literal["answer", "after_thought", "completion_tail", "text"]

# The tail searched when a completion has no solution part: long chains of thought put their
# (tentative) final answer near the end; 4,000 characters is ~1,000 tokens.
TAIL_CHARS = 4000

_END_THOUGHT = ("</think>", "<|end_of_thought|>", "<|begin_of_solution|>")
_SOLUTION_MARKERS = ("<|begin_of_solution|>", "<|end_of_solution|>", "<think>", "</think>", "<|im_end|>", "<|endoftext|>")


@dataclass(frozen=True)
class Extraction:
    answer: str | None
    rule: Rule
    source: Source


def solution_text(completion: str | None, answer: str | None) -> tuple[str, Source]:
    """The text that holds the final answer, and where it came from."""
    if answer is not None and answer.strip():
        return answer, "answer"
    completion = completion or ""
    cut = -1
    for marker in _END_THOUGHT:
        k = completion.rfind(marker)
        if k >= 0:
            cut = max(cut, k + len(marker))
    if cut >= 0:
        rest = completion[cut:]
        for marker in _SOLUTION_MARKERS:
            rest = rest.replace(marker, "")
        if rest.strip():
            return rest, "after_thought"
    return completion[-TAIL_CHARS:], "completion_tail"


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} or \\fbox{...} (nested braces balanced)."""
    best = None
    for m in re.finditer(r"\\(?:boxed|fbox)\s*", text):
        start = m.end()
        if start < len(text) and text[start] == "{":
            depth = 0
            for j in range(start, len(text)):
                ch = text[j]
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        best = text[start + 1 : j]
                        break
            # unbalanced: this one is truncated, keep any earlier complete box
        else:
            m2 = re.match(r"([^\s$\\]+)", text[start:])  # \boxed 5
            if m2 and m.group(0).endswith((" ", "\t")):
                best = m2.group(1).rstrip(".,;")
    return best.strip() if best is not None else None


_HASH = re.compile(r"####\s*(-?\$?\s*[\d.,]+[^\n]*)")
_ANSWER_IS = re.compile(
    r"(?:the\s+(?:final\s+)?answer\s+is|final\s+answer\s*(?:is|[:：]))\s*[:：]?\s*",
    re.IGNORECASE,
)


def _first_math_span(s: str) -> str | None:
    """The first $..$ / \\(..\\) / \\[..\\] span at the start of s."""
    s = s.lstrip()
    for a, b in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(a):
            end = s.find(b, len(a))
            if end > 0:
                return s[len(a) : end].strip()
    return None


def _clean_tail(s: str) -> str:
    s = s.strip().strip("*").strip()
    s = re.sub(r"[.;,]\s*$", "", s)
    return s.strip()


def _answer_is(text: str) -> str | None:
    matches = list(_ANSWER_IS.finditer(text))
    for m in reversed(matches):
        rest = text[m.end() :]
        rest = rest.lstrip(" *:")
        boxed = last_boxed(rest.split("\n")[0])
        if boxed:
            return boxed
        span = _first_math_span(rest)
        if span:
            return span
        line = rest.split("\n")[0]
        line = re.split(r"(?<=[^\d])\.\s|\.$", line)[0]
        line = _clean_tail(line)
        if line and not re.search(r"[\d\\]", line):
            first = line.split()[0].lower().strip(",.")
            if first in _NUMBER_WORDS:
                return _NUMBER_WORDS[first]  # "the answer is three boxes ..."
            if len(line.split()) > 3:
                continue  # prose, not an answer
        if line and re.match(r"[A-Za-z]+\s", line) and (re.search(r"\d", line) or _spans(line)):
            got = _value_in(line)  # "the answer is should be 284" -> 284
            if got:
                return got
        if line and len(line) <= 80:
            return line
    return None


_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]")
_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?%?|-?\.\d+")
_OPTION = re.compile(r"\([A-E]\)")
# "$93 - $15": a dollar sign before a number that is not closed right after it is currency
_CURRENCY = re.compile(r"\$(?=\d[\d,]*(?:\.\d+)?(?![\d$]))")
_COPULA = re.compile(r"\s(?:is|are|equals|was|be|becomes|gives)\s", re.IGNORECASE)
_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
}


def _spans(line: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), next(g for g in m.groups() if g is not None).strip()) for m in _MATH_SPAN.finditer(line)]


def _value_in(segment: str) -> str | None:
    """The first answer-like thing in a piece of a sentence: a math span (right of its last
    '='), else a number (units and words after it dropped)."""
    spans = _spans(segment)
    if spans:
        inner = spans[0][2]
        if "=" in inner:
            inner = inner.rsplit("=", 1)[1].strip()
        return inner or None
    opt = _OPTION.search(segment)
    if opt:
        return opt.group(0)
    if "=" in segment:
        segment = segment.rsplit("=", 1)[1]  # "together: 720 - 240 = 480" -> 480
    m = _NUMBER.search(segment)
    if m:
        return m.group(0).strip().rstrip(",")
    return None


_CONCLUDING = re.compile(r"\b(?:therefore|thus|so|hence|answer|result|total|final|indeed|get|gives)\b", re.IGNORECASE)


def _statement_answer(line: str) -> str | None:
    """Answer stated by a concluding line: "So, the sixth term is 350.", "the coordinates are
    \\( (8, -2) \\)", "Total: 5 + 3 + 5 = 13.", or a short display-math line "... = \\frac{1}{8}".
    A line in the middle of a computation ("x^2 + kx + (1/2", "\\frac{dR}{d\\theta} = 4 \\cdot 2
    \\cos\\theta ...") states nothing: None."""
    spans = _spans(line)

    def outside(pos: int) -> bool:
        return not any(a <= pos < b for a, b, _ in spans)

    cops = [m for m in _COPULA.finditer(line) if outside(m.start())]
    concluding = bool(cops) or bool(_CONCLUDING.search(line))
    for m in reversed(cops):
        rest = line[m.end() :]
        # the value follows the verb closely: "is 350", "is indeed 0.35625", "are \( (8,-2) \)";
        # "k is such that the exponent of \(x\) ..." states no value
        head = re.match(r"\s*(?:[A-Za-z]+,?\s+){0,2}", rest)
        if head and not re.match(r"\s*(?:[A-Za-z]+,?\s+){0,2}(?:\$|\\\(|\\\[|-?\d|-?\.\d|\([A-E]\)|\(-?\d)", rest):
            continue
        got = _value_in(rest)
        if got:
            return got
    if spans and concluding:
        inner = spans[-1][2]
        if "=" in inner:
            inner = inner.rsplit("=", 1)[1].strip()
        if inner:
            return inner
    eqs = [k for k, ch in enumerate(line) if ch == "=" and outside(k)]
    if eqs:
        rest = line[eqs[-1] + 1 :].strip()
        rest = re.sub(r"[.;,]\s*$", "", rest).strip()
        lhs = line[: eqs[-1]].strip()
        if rest == "0" and not re.search(r"[A-Za-z]{4,}\s", lhs) and re.search(r"[a-z]", lhs):
            return line.strip()  # an equation is the answer: "5x - 7y + 11z + 4 = 0"
        if rest and len(rest) <= 40 and re.search(r"\d|\\pi", rest) and not re.search(r"[A-Za-z]{4,}\s+[A-Za-z]{3,}", rest):
            if balanced_parens(rest):
                return rest  # "... = \frac{1}{8}", "5 + 3 + 5 = 13"
        if concluding:
            got = _value_in(rest)
            if got:
                return got
    if concluding:
        nums = _NUMBER.findall(line)
        return nums[-1].strip().rstrip(",") if nums else None
    return None


_TENTATIVE = re.compile(r"^\W*(?:wait|hmm|maybe|perhaps|alternatively|let|let's|if|suppose|assume|check)\b", re.IGNORECASE)


def balanced_parens(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += ch in "({["
        depth -= ch in ")}]"
        if depth < 0:
            return False
    return depth == 0


def _final_line(text: str, *, lookback: int = 5) -> str | None:
    """The answer stated on the last line that states one (closing delimiters, markers and
    lines without any digit or math, like "I think that's the answer.", are skipped; at most
    `lookback` lines back)."""
    lines = [ln.strip() for ln in text.strip().split("\n") if ln.strip()]
    looked = 0
    while lines and looked < lookback:
        line = lines.pop()
        line = _CURRENCY.sub("", line)
        if not re.search(r"\d|\\frac|\\sqrt|\\pi|\$|\\\(|\([A-E]\)", line):
            if not re.fullmatch(r"[\\\[\]$()<>|_a-z\s]*", line):
                looked += 1  # a prose line; closing "\]" / "$$" / markers do not count
            continue
        looked += 1
        if _TENTATIVE.match(line) or line.rstrip().endswith(":"):
            continue  # "Wait, perhaps the quotient should be 204": a doubt, not a conclusion
        line = re.sub(r"^(?:answer|final answer|solution)\s*[:：]\s*", "", line, flags=re.IGNORECASE)
        if len(line) <= 40 and not re.search(r"[A-Za-z]{3,}\s", line):
            whole = _spans(line)
            # a bare answer line: "$\frac{1}{8}$", "42", "(8, -2)"
            cand = whole[-1][2] if whole else line
            if "=" not in cand and balanced_parens(cand):
                return _clean_tail(cand)
        ans = _statement_answer(line)
        if ans:
            return _clean_tail(ans)
    return None


def extract_answer(text: str | None, *, source: Source = "text") -> Extraction:
    """Apply the extraction rules in order; the first that finds an answer wins."""
    if not text or not text.strip():
        return Extraction(None, "none", source)
    boxed = last_boxed(text)
    if boxed:
        return Extraction(boxed, "boxed", source)
    hashes = _HASH.findall(text)
    if hashes:
        ans = _clean_tail(hashes[-1])
        if ans:
            return Extraction(ans, "hash", source)
    ans = _answer_is(text)
    if ans:
        return Extraction(ans, "answer_is", source)
    ans = _final_line(text)
    if ans:
        return Extraction(ans, "final_line", source)
    return Extraction(None, "none", source)


def extract_from_trace(completion: str | None, answer: str | None) -> Extraction:
    """Solution part first (see module docstring), then the rules. With no solution part, the
    last \\boxed{} anywhere in the completion counts (then the rules on its tail); with a
    solution part that states nothing (cut off), the thought's tail is tried, flagged by source."""
    text, source = solution_text(completion, answer)
    if source == "completion_tail":
        boxed = last_boxed(completion or "")
        if boxed:
            return Extraction(boxed, "boxed", source)
    ext = extract_answer(text, source=source)
    if ext.answer is None and source == "after_thought" and completion:
        ends = [k for k in (completion.find(m) for m in _END_THOUGHT) if k >= 0]
        thought = completion[: min(ends)] if ends else completion
        ext = extract_answer(thought[-TAIL_CHARS:], source="completion_tail")
    return ext
