"""Final-answer extraction from a model's solution, recording which rule found it.

`solution_text(completion, answer)` picks the text to search: the Trace `answer` column (the part
after the thought) when it is non-empty; else the part of the raw completion after an
end-of-thought marker (`</think>`, `<|end_of_thought|>`, Sky-T1's `<|begin_of_solution|>`); else
the completion's tail (the model never closed its thought) — the source is recorded, so a row
answered only inside its thought can be told apart.

`extract_answer(text)` tries, in order (the rule that found the answer is recorded):

| rule             | finds                                                                      |
|------------------|----------------------------------------------------------------------------|
| `boxed`          | the last `\\boxed{...}`/`\\fbox{...}` (balanced, nested braces; `\\boxed 5` too) |
| `hash`           | GSM8K's `#### N`                                                           |
| `answer_is`      | "the answer is ...", "final answer: ...", "Answer: B"; a sentence after it is read for its value ("Final answer: the largest $n$ is 34." -> 34) |
| `answer_is_i18n` | the same in other languages: `答案是 13`, `Réponse : 220`, `Antwort: 5`, `La respuesta es 7`, `Ответ: 3` |
| `list_items`     | a closing list after a lead-in line ending in ":" ("the pairs are:\\n* (3, 0)\\n* (-3, 1)" -> "(3, 0), (-3, 1)"); each item's label ("- KCl: 74.55 g/mol") is dropped |
| `final_line`     | the answer stated on the last line that states one: a bare value, a statement ("So, the sixth term is 350."), a labelled value, or a concluding line in another language ("所以…共有13只") |

Two more readings are kept on the `Extraction` for the verifier, which picks them only when the
gold asks for it (`MathEquivalence.choose`): `final_boxes`, the boxes of the closing answer block
(joined when the gold has several values: `\\boxed{(1,2)}, \\boxed{(2,1)}`, rule `boxes_joined`),
and `letter`, a multiple-choice letter stated in prose ("the correct answer is (C)", "**D.**
because", "Answer: B"; rule `mcq_letter`).

Exercised by `python -m pytest -q tests/test_math_verify.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from factory.filters.math.units import split_unit

Rule = Literal["boxed", "hash", "answer_is", "answer_is_i18n", "list_items", "final_line", "boxes_joined", "mcq_letter", "none"]
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
    # the searched text (not compared, not printed): the lazy readings below come from it
    text: str = field(default="", repr=False, compare=False)

    @cached_property
    def final_boxes(self) -> tuple[str, ...]:
        """The boxes of the closing answer block, in order (see `final_boxes`)."""
        return final_boxes(self.text) if self.text else ()

    @cached_property
    def letter(self) -> str | None:
        """A multiple-choice letter the text states as its answer (see `mcq_letter`)."""
        return mcq_letter(self.text) if self.text else None


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


def boxes(text: str) -> list[tuple[int, int, str]]:
    """Every complete \\boxed{...}/\\fbox{...} as (start, end, content), in order (nested braces
    balanced; a truncated box is left out)."""
    out = []
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
                        out.append((m.start(), j + 1, text[start + 1 : j].strip()))
                        break
            # unbalanced: this one is truncated, keep any earlier complete box
        else:
            m2 = re.match(r"([^\s$\\]+)", text[start:])  # \boxed 5
            if m2 and m.group(0).endswith((" ", "\t")):
                out.append((m.start(), start + m2.end(), m2.group(1).rstrip(".,;").strip()))
    return out


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} or \\fbox{...} (nested braces balanced)."""
    # walk back from the end: the last complete box is usually the last box, so only its own
    # characters are read (a long trace may hold dozens of earlier boxes)
    end = len(text)
    while True:
        k = max(text.rfind("\\boxed", 0, end), text.rfind("\\fbox", 0, end))
        if k < 0:
            return None
        found = boxes(text[k : k + 1 + _box_extent(text, k)])
        if found:
            return found[0][2]
        end = k


def _box_extent(text: str, k: int) -> int:
    """Characters from k to the end of the box starting there (or to the text's end)."""
    depth = 0
    j = text.find("{", k)
    if j < 0 or not re.fullmatch(r"\\(?:boxed|fbox)\s*", text[k:j]):
        # "\\boxed 5": no brace follows the command
        m = re.match(r"\\(?:boxed|fbox)\s*[^\s$\\]*", text[k:])
        return m.end() if m else 0
    for i in range(j, len(text)):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i - k
    return len(text) - k


# Between two boxes of one answer block: a short stretch that takes nothing back. A gap that
# says "wait", "but", "however" or "instead" (or is long) starts a new attempt.
_BLOCK_GAP = 600
_RETRACT = re.compile(r"\b(?:wait|but|however|instead|actually|mistake|incorrect|wrong|re-?check|re-?examine|hmm|alternatively|not)\b", re.IGNORECASE)


def final_boxes(text: str) -> tuple[str, ...]:
    """The boxes of the closing answer block: walking back from the last box while the text
    between two boxes is short and retracts nothing. "Case 1: \\boxed{(1,2)} ... Case 2:
    \\boxed{(2,1)}" gives both; "\\boxed{3}. Wait, ... \\boxed{4}" gives only 4."""
    if "boxed" not in text and "fbox" not in text:
        return ()
    found = boxes(text)
    if not found:
        return ()
    block = [found[-1]]
    for prev in reversed(found[:-1]):
        gap = text[prev[1] : block[0][0]]
        if len(gap) > _BLOCK_GAP or _RETRACT.search(gap):
            break
        block.insert(0, prev)
    return tuple(b[2] for b in block)


_LETTER_PATTERNS = (
    # "the correct answer is (C)", "answer: B", "Answer: **D**", "the right option is A": a
    # statement (a verb or a colon); a bare mention ("option D fails") is not one
    re.compile(r"(?:answer|option|choice)\s*(?:is|would be|should be|must be|=|:|：)\s*(?:option|choice)?\s*[*_]*\s*(?:\\textbf\{)?\(?((?-i:[A-E]))\)?(?![A-Za-z0-9])", re.IGNORECASE),
    # a boxed letter: \boxed{C}, \boxed{\text{(C)}}
    re.compile(r"\\boxed\{\s*(?:\\text(?:bf)?\{)?\s*\(?([A-E])\)?\s*\}?\s*\}"),
    # a line that starts with the letter: "D. because ...", "**(B)** is right", "C) 12"
    re.compile(r"(?m)^\s*[*_]*\s*\(?([A-E])[).:][*_]*(?:\s|$)"),
    # "(C) is correct", "C is the correct answer"
    re.compile(r"\(?\b([A-E])\)?\s+is\s+(?:the\s+)?(?:correct|right|answer)"),
)


def mcq_letter(text: str) -> str | None:
    """The option letter the text states as its answer, or None: the last match of the strongest
    pattern that matches (an "answer ... is (C)" statement, then a boxed letter, then a line that
    starts with a letter, then "(C) is correct")."""
    tail = text[-3000:]
    for pat in _LETTER_PATTERNS:
        found = pat.findall(tail)
        if found:
            return found[-1].upper()
    return None


_HASH = re.compile(r"####\s*(-?\$?\s*[\d.,]+[^\n]*)")
# Every phrase contains "answer": the search looks for that word (a literal, fast on long
# traces), then checks what surrounds it.
_ANSWER_WORD = re.compile(r"answer", re.IGNORECASE)
_ANSWER_BEFORE = re.compile(r"(?:the\s+(?:final\s+|correct\s+)?|final\s+|(?:^|\n)\W{0,4})$", re.IGNORECASE)
_ANSWER_AFTER = re.compile(r"\s+is\b\s*[:：]?\s*|\s*[:：]\s*", re.IGNORECASE)


class _Phrase:
    """A found phrase, shaped like a match (start, end, group(0))."""

    __slots__ = ("_end", "_start", "_text")

    def __init__(self, start: int, end: int, text: str):
        self._start, self._end, self._text = start, end, text

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def group(self, _k: int = 0) -> str:
        return self._text[self._start : self._end]


class _AnswerIsPhrases:
    """"the answer is", "the final answer is", "the correct answer is", "final answer:",
    "Answer:" at the start of a line."""

    def finditer(self, text: str):
        for m in _ANSWER_WORD.finditer(text):
            before = _ANSWER_BEFORE.search(text, max(0, m.start() - 16), m.start())
            if before is None:
                continue
            lead = before.group(0).strip().lower()
            after = _ANSWER_AFTER.match(text, m.end())
            if after is None:
                continue
            verb_is = "is" in after.group(0).lower()
            if lead.startswith("the") and not verb_is:
                continue  # "the answer: ..." is rare; "the answer to part (a)" is not a statement
            if not lead.startswith(("the", "final")) and verb_is:
                continue  # "Answer is" without "the" at a line start: take only "Answer:"
            yield _Phrase(before.start(), after.end(), text)


_ANSWER_IS = _AnswerIsPhrases()
# "the answer is" in other languages (final lines of multilingual traces)
_ANSWER_IS_I18N = re.compile(
    r"(?:最终答案|故答案|所以答案|因此答案|答案)\s*(?:是|为|為|应为|應為)?\s*[:：]?|(?m:^)\s*答\s*[:：]"
    r"|(?:la\s+)?r[ée]ponse(?:\s+finale)?\s*(?:est\s*)?[:：]?"
    r"|(?:die\s+)?(?:endg[üu]ltige\s+)?antwort\s*(?:ist|lautet)?\s*[:：]?"
    r"|(?:la\s+)?respuesta(?:\s+final)?\s*(?:es\s*)?[:：]?"
    r"|(?:a\s+)?resposta(?:\s+final)?\s*(?:é\s*)?[:：]?"
    r"|(?:la\s+)?risposta(?:\s+finale)?\s*(?:è\s*)?[:：]?"
    r"|(?:окончательный\s+)?ответ\s*[:：—-]?"
    r"|答え\s*(?:は)?\s*[:：]?|정답\s*(?:은|는)?\s*[:：]?"
    r"|jawaban(?:nya)?\s*(?:adalah\s*)?[:：]?|antwoord\s*(?:is\s*)?[:：]?|odpowied[źz]\s*[:：]|cevap\s*[:：]",
    re.IGNORECASE,
)
# the answer words of _ANSWER_IS_I18N, lower-cased: a cheap test before the full pattern runs
_I18N_WORDS = re.compile(r"答|ponse|antwo|respu|respo|rispo|ответ|정답|jawab|cevap|odpow")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
# words that open a concluding sentence in Chinese/Japanese/Korean: so, therefore, in total
_CJK_CONCLUDING = re.compile(r"所以|因此|故|综上|總共|总共|一共|共有|共计|答|总计|合计|したがって|よって|따라서")


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


# A statement taken back right after it is made, or one the model only remembers: "I recall
# that the correct answer is 1/2. Hmm, maybe I made a mistake" states no answer of its own.
_DOUBT_AFTER = re.compile(
    r"\b(?:mistake|wrong|incorrect|not sure|doesn'?t (?:match|make sense)|does not (?:match|make sense)|contradict\w*|doubt|hmm+)\b",
    re.IGNORECASE,
)
_HEARSAY_BEFORE = re.compile(r"\b(?:recall|remember|heard|supposed(?:ly)?|the book|the key|expected|should get)\b[^.\n]{0,40}$", re.IGNORECASE)


def _retracted(text: str, start: int, end: int) -> bool:
    after = text[end : end + 160]
    nxt = re.split(r"(?<=[.!?])\s+|\n\s*\n", after, maxsplit=2)
    window = " ".join(nxt[1:3]) if len(nxt) > 1 else ""
    return bool(_DOUBT_AFTER.search(window) or _HEARSAY_BEFORE.search(text[max(0, start - 60) : start]))


# "326.5 is the correct sum", "x = 4 is indeed the correct solution": a value confirmed
# searched in the lower-cased text (a case-sensitive pattern that starts with literals scans fast)
_CONFIRMED = re.compile(
    r"\bis\s+(?:indeed\s+|definitely\s+|clearly\s+)?(?:the\s+)?(?:correct|right|final)\s+(?:answer|solution|result|value|sum|total|count)\b"
)
# the value right before "is the correct ...": a math span or a number
_CONFIRMED_VALUE = re.compile(r"(\\\(.{1,80}?\\\)|\$[^$]{1,80}\$|-?\d[\d,]*(?:\.\d+)?(?:\s*(?:π|\\pi))?)\s+$")


def _confirmed(text: str) -> str | None:
    low = text.lower()
    if "correct" not in low and "right" not in low and "final" not in low:
        return None
    for m in reversed(list(_CONFIRMED.finditer(low))):
        v = _CONFIRMED_VALUE.search(text, max(0, m.start() - 90), m.start())
        if v is None or _retracted(text, v.start(), m.end()):
            continue
        v = v.group(1)
        span = _spans(v)
        if span:
            inner = span[0][2]
            if "=" in inner:
                inner = inner.rsplit("=", 1)[1].strip()
            return inner or None
        return _unicode_number(v)
    return None


def _unicode_number(v: str) -> str:
    return v.replace("π", "\\pi").strip()


def _answer_is(text: str, pattern: re.Pattern[str] | _AnswerIsPhrases = _ANSWER_IS) -> str | None:
    matches = list(pattern.finditer(text))
    for m in reversed(matches):
        if _retracted(text, m.start(), m.end()):
            continue
        if pattern is _ANSWER_IS_I18N and not _CJK.search(m.group(0)) and m.start() > 0 and text[m.start() - 1].isalpha():
            continue  # "antwort" inside a longer word
        rest = text[m.end() : m.end() + 1500].lstrip(" *:：")  # the statement is right after
        if not rest.strip():
            continue
        line = rest.split("\n", 1)[0]
        boxed = last_boxed(line)
        if boxed:
            return boxed
        span = _first_math_span(rest)
        if span:
            after = rest.lstrip()[len(span) :].lstrip("$\\)] ")
            if re.match(r"(?:is|are|equals|=)\b", after):
                got = _statement_answer(line)  # "Final answer: $p(x)$ is $x^2 + 1$." -> the value
                if got:
                    return _clean_tail(got)
            return span
        line = re.split(r"(?<=[^\d])[.。]\s|[.。]$", line)[0]
        line = _clean_tail(line)
        if _CJK.search(line):
            got = _value_in(line)  # "答案是 13 只" -> 13
            if got:
                return got
            continue
        if line and _COPULA.search(line) and re.search(r"\d|\$|\\\(", line):
            got = _statement_answer(line)  # "Final answer: the largest $n$ is 34." -> 34
            if got:
                return _clean_tail(got)
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
_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?(?:%|\s*(?:π|\\pi)(?![a-zA-Z]))?|-?\.\d+")
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
        return _with_unit(inner, segment[spans[0][1] :]) if inner else None
    opt = _OPTION.search(segment)
    if opt:
        return opt.group(0)
    if "=" in segment:
        segment = segment.rsplit("=", 1)[1]  # "together: 720 - 240 = 480" -> 480
    m = _NUMBER.search(segment)
    if m:
        return _with_unit(m.group(0).strip().rstrip(","), segment[m.end() :])
    return None


def _with_unit(value: str, after: str) -> str:
    """A unit written right after the value stays with it ("520 nm", "$5.2 \\times 10^{-7}$ m",
    "3.2 m/s"), so the verifier can convert it; other words are dropped."""
    clause = _CLAUSE_END.split(after, 1)[0]
    if clause.strip() and re.match(r"\s", clause) and not re.search(r"[$\\]", clause):
        got, unit = split_unit(value + clause.rstrip())
        if unit is not None and got == value.strip():
            return f"{value} {unit}"
    return value


# where the words after a number stop belonging to it: a comma, a semicolon, a sentence end
_CLAUSE_END = re.compile(r"[,;(]|\.(?:\s|$)| (?:and|or|which|because|since|so|for|per cent)\b")


_CONCLUDING = re.compile(r"\b(?:therefore|thus|so|hence|answer|result|total|final|indeed|get|gives)\b", re.IGNORECASE)


def _statement_answer(line: str) -> str | None:
    """Answer stated by a concluding line: "So, the sixth term is 350.", "the coordinates are
    \\( (8, -2) \\)", "Total: 5 + 3 + 5 = 13.", or a short display-math line "... = \\frac{1}{8}".
    A line in the middle of a computation ("x^2 + kx + (1/2", "\\frac{dR}{d\\theta} = 4 \\cdot 2
    \\cos\\theta ...") states nothing: None."""
    if "≈" in line or "\\approx" in line:
        line = line.replace("≈", "=").replace("\\approx", "=")  # "v ≈ 2.5 m/s": the value stated
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


_BULLET = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)])\s+(.*)$")
# "KCl: 74.55 g/mol", "**Rayna:** 7": a short label, a colon, then the value
_ITEM_LABEL = re.compile(r"^\s*(?:\*\*)?[^:：=\d$\\]{1,40}?(?:\*\*)?\s*[:：]\s*(?:\*\*)?(?=\S)")


def _item_value(item: str) -> str | None:
    """The value a list item states: "**(3, 0)**" -> "(3, 0)", "KCl: 74.55 g/mol" -> "74.55 g/mol",
    "Rayna is 7 years old." -> "7"."""
    item = item.strip()
    boxed = last_boxed(item)
    if boxed:
        return boxed
    m = _ITEM_LABEL.match(item)
    if m and re.search(r"\d|\$|\\\(", item[m.end() :]):
        item = item[m.end() :]
    item = item.replace("**", "").strip()
    spans = _spans(item)
    if spans and spans[0][0] == 0 and spans[0][1] >= len(item.rstrip(" .;,")):
        return spans[0][2]
    if len(item) <= 40 and not re.search(r"[A-Za-z]{3,}\s+[A-Za-z]{3,}", item):
        return _clean_tail(item) or None
    got = _statement_answer(item)
    return _clean_tail(got) if got else None


def _last_lines(text: str, n: int) -> list[str]:
    """The last n non-blank lines, from a tail slice (a long trace is not split whole)."""
    size = 2000
    while True:
        start = max(0, len(text) - size)
        lines = text[start:].split("\n")
        if start > 0:
            lines = lines[1:]  # the slice may begin inside a line
        kept = [ln for ln in lines if ln and not ln.isspace()]
        if len(kept) >= n or start == 0:
            return kept[-n:]
        size *= 4


def _list_items(text: str, lines: list[str] | None = None) -> str | None:
    """A closing list introduced by a line that ends with ":": its items' values, joined."""
    lines = _last_lines(text, 14) if lines is None else lines[-14:]
    if not lines or not _BULLET.match(lines[-1]):
        return None
    items: list[str] = []
    k = len(lines) - 1
    while k >= 0 and _BULLET.match(lines[k]):
        items.insert(0, _BULLET.match(lines[k]).group(1))  # type: ignore[union-attr]
        k -= 1
    if not items or k < 0 or len(items) > 12:
        return None
    lead = lines[k].strip().strip("*").strip()
    if not lead.endswith((":", "：")):
        return None
    values = [_item_value(it) for it in items]
    if any(v is None or not re.search(r"\d|\\|[A-Za-z]", v) for v in values):
        return None
    return ", ".join(values)  # type: ignore[arg-type]


def _final_line(text: str, *, lookback: int = 5, tail: list[str] | None = None) -> str | None:
    """The answer stated on the last line that states one (closing delimiters, markers and
    lines without any digit or math, like "I think that's the answer.", are skipped; at most
    `lookback` lines back)."""
    lines = [ln.strip() for ln in (_last_lines(text, 40) if tail is None else tail)]
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
        if _CJK.search(line):
            if _CJK_CONCLUDING.search(line):
                spans = _spans(line)
                if spans:
                    return _clean_tail(spans[-1][2])
                nums = _NUMBER.findall(line)
                if nums:
                    return nums[-1].strip().rstrip(",")  # "所以…共有13只" -> 13
            continue
        m = _BULLET.match(line)
        if m:
            line = m.group(1)  # "- KCl: 74.55 g/mol" -> "KCl: 74.55 g/mol"
            lab = _ITEM_LABEL.match(line)
            if lab and re.search(r"\d", line[lab.end() :]):
                return _clean_tail(line[lab.end() :].replace("**", ""))
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
        return Extraction(boxed, "boxed", source, text)
    if "####" in text:
        hashes = _HASH.findall(text)
        if hashes:
            ans = _clean_tail(hashes[-1])
            if ans:
                return Extraction(ans, "hash", source, text)
    ans = _answer_is(text) or _confirmed(text[-1200:])
    if ans:
        return Extraction(ans, "answer_is", source, text)
    if _I18N_WORDS.search(text[-2000:].lower()):
        ans = _answer_is(text[-2000:], _ANSWER_IS_I18N)
        if ans:
            return Extraction(ans, "answer_is_i18n", source, text)
    tail = _last_lines(text, 40)
    ans = _list_items(text, tail)
    if ans:
        return Extraction(ans, "list_items", source, text)
    ans = _final_line(text, tail=tail)
    if ans:
        return Extraction(ans, "final_line", source, text)
    return Extraction(None, "none", source, text)


def extract_from_trace(completion: str | None, answer: str | None) -> Extraction:
    """Solution part first (see module docstring), then the rules. With no solution part, the
    last \\boxed{} anywhere in the completion counts (then the rules on its tail); with a
    solution part that states nothing (cut off), the thought's tail is tried, flagged by source."""
    text, source = solution_text(completion, answer)
    if source == "completion_tail":
        boxed = last_boxed(completion or "")
        if boxed:
            return Extraction(boxed, "boxed", source, completion or "")
    ext = extract_answer(text, source=source)
    if source == "after_thought" and completion and (ext.answer is None or (ext.rule in _WEAK_RULES and _cut_off_solution(completion))):
        # the solution part states nothing, or was cut off before it stated its answer (a line of
        # working is not an answer): the thought's own conclusion counts, flagged by its source
        ends = [k for k in (completion.find(m) for m in _END_THOUGHT) if k >= 0]
        thought = completion[: min(ends)] if ends else completion
        got = extract_answer(thought[-TAIL_CHARS:], source="completion_tail")
        if ext.answer is None or got.rule in _STRONG_RULES:
            ext = got
    return ext


_WEAK_RULES = frozenset({"final_line", "list_items"})
_STRONG_RULES = frozenset({"boxed", "hash", "answer_is", "answer_is_i18n"})


def _cut_off_solution(completion: str) -> bool:
    """A Sky-T1 solution block that was opened and never closed (the output hit its length limit)."""
    return "<|begin_of_solution|>" in completion and "<|end_of_solution|>" not in completion
