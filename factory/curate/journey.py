"""Journey learning (O1 Replication Journey, Qin et al. 2024): for a problem with both a wrong
and a correct verified trace, build ONE chain of thought that makes the wrong attempt, notices
the error in a reflection that names the wrong answer and the kind of mistake, and continues into
the correct solution; the final answer is the correct one.

    <think>
    {wrong attempt, cut where it concludes (or earlier, at a paragraph boundary)}

    {reflection: "Hold on. Is $-4$ really the answer? The sign looks off, so I probably dropped a
     minus sign along the way. Let me redo this carefully."}

    {the correct trace's reasoning, its opening restatement of the problem left out}
    </think>

    {the correct trace's final answer}

Where the wrong attempt concludes (`cut: conclusion`):
- a thought with a solution section (long CoT): its answer is read from the solution section
  (the math verifier's extractor: box, "the answer is", final line...), and the thought is cut at
  the first paragraph where it states that answer; a thought that never states it is followed by
  the solution's concluding paragraph instead of the whole polished solution;
- a short CoT: the paragraph that states its final answer (box or sentence); anything after it
  (chat boilerplate such as "Let me know if...") is left out;
- an attempt that never concludes (cut off mid-thought, looping, or giving up): it is cut before
  it starts repeating itself and before any closing boilerplate, and the reflection says it is
  going nowhere (mistake kind `no_conclusion`).
`cut: earlier` stops at a paragraph boundary about `earlier_fraction` of the way to that point,
so the wrong part states no answer (the wrong trace's own answer must still be wrong).

The reflection is composed from a seeded choice of an opener, a doubt about the stated answer, a
clause naming the kind of mistake (sign, off by one, over/under-counting, missing or extra
solutions, arithmetic slip, setup: read off the wrong and the reference answers; no conclusion,
gave up: read off the attempt)
and a plan, in the trace's language (English composed; other languages from phrase banks with
`{wrong}`); or written by a teacher backend (`journey.reflection: teacher`, prompt preset
`o1-journey`), checked (names the wrong answer, does not give away the right one, no tags or
boxes, short) and replaced by the composed one when it fails, counted by reason.

Every sample is validated before it is kept, and each failed check is a named drop: the wrong
answer really is wrong per the math verifier, the final answer is right, the think format is
well-formed, and the length is within budget.

Fluency rewrite: pass `rewrite(texts) -> texts` (one chain of thought in, one out); the curate
stage builds it from `journey.rewrite: {teacher, backend}`. Rewritten chains are validated again
and a chain that fails is dropped by name.

Exercise: `factory curate --recipe journey --traces DIR --out OUT`;
          `python bench/journey_yield.py` (yield and drop funnel on real MATH-500 and
          OlympiadBench pairs with reviewed verdicts).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from factory.curate.sft import (
    approx_tokens,
    parse_assistant,
    render_assistant,
    split_trace,
    strip_tags,
)
from factory.schemas.ids import stable_hash
from factory.schemas.text import language_code

Rewrite = Callable[[list[str]], list[str]]
Cut = Literal["conclusion", "earlier"]
Reflection = Literal["template", "teacher"]

# ---------------------------------------------------------------------------------------------
# reflections
# ---------------------------------------------------------------------------------------------

# English reflections are composed: opener + doubt about the stated answer + the kind of mistake
# + a plan, each part drawn by its own seeded hash: 8 x 8 x (3-4) x 7 ≈ 1,600 wordings, so no
# sentence repeats across a few hundred samples the way one fixed line did.
OPENERS = ["Wait.", "Hmm, wait.", "Hold on.", "Hmm.", "Wait a moment.", "Actually, hold on.", "But wait.",
           "Hmm, let me pause here."]
DOUBTS = [
    "I got ${wrong}$, but I don't think that's right.",
    "Is ${wrong}$ really the answer? Checking it against the problem, it doesn't hold up.",
    "Before I commit to ${wrong}$, let me check it, and it doesn't fit.",
    "Something about ${wrong}$ doesn't sit right.",
    "Plugging ${wrong}$ back into the conditions of the problem, it doesn't work.",
    "I'm not convinced ${wrong}$ is correct.",
    "${wrong}$ can't be right.",
    "Let me double-check ${wrong}$... no, that doesn't look right.",
]
DOUBTS_UNSTATED = [  # cut `earlier`: no answer on the page yet
    "I'm not sure this line of reasoning is right.",
    "I don't think this is going to work out.",
    "Something in what I've done so far seems off.",
    "Before I go further, I should check these steps.",
    "I'm not confident in this approach.",
]
MISTAKES: dict[str, list[str]] = {
    "sign": ["I think I made a sign error somewhere.",
             "The sign looks off, so I probably dropped a minus sign along the way.",
             "I suspect a sign slipped when I moved terms around."],
    "off_by_one": ["It looks like I'm off by one; I should recheck whether the endpoints count.",
                   "I may have miscounted the boundary cases.",
                   "This looks like an off-by-one error in the counting."],
    "overcount": ["I probably overcounted: some cases seem to be counted more than once.",
                  "I think I counted some configurations twice.",
                  "The count is too big, so I must have double-counted somewhere."],
    "undercount": ["I think I missed some cases.",
                   "It seems I've left out some of the possibilities.",
                   "The count looks too small, so I must have skipped some cases."],
    "missing_solutions": ["I don't think I've found all the solutions.",
                          "There should be more solutions than the ones I found.",
                          "I may have missed some of the solutions."],
    "extra_solutions": ["Some of these values may not actually satisfy the original conditions.",
                        "I should check each candidate; some of them probably don't work.",
                        "I think I included values that the conditions rule out."],
    "arithmetic": ["The value is close, so this is probably an arithmetic slip.",
                   "I likely made a computational error in one of the steps.",
                   "One of my calculations must be off."],
    "setup": ["I think I set up the problem incorrectly.",
              "One of the steps in my derivation doesn't hold.",
              "I may have misread one of the conditions.",
              "My approach has a flaw somewhere."],
    # an attempt that never settled (cut off while looping or re-checking, or a sketch that gives
    # up): true of its text even where it mentioned the right value on the way
    "no_conclusion": ["I keep going back and forth without settling on an answer.",
                      "This is getting long, and I still haven't settled on a definite answer.",
                      "I'm not converging on anything definite this way.",
                      "I haven't pinned down a definite answer yet, and this approach is getting messy."],
    # a short answer that stops at an outline or says it cannot give an answer
    "gave_up": ["I've only outlined an approach without actually working it out.",
                "An outline is not an answer: I haven't computed anything concrete yet.",
                "I stopped at a plan instead of carrying it through to an actual answer."],
}
PLANS = ["Let me redo this carefully.", "Let me go back and work through it again.",
         "Let me start over with a cleaner approach.", "Let me rethink the approach from the beginning.",
         "I'll solve it again, step by step.", "Let me try a different approach.",
         "Let me work it out properly this time."]

# Other languages: whole phrases (`{wrong}` is replaced by the stated answer). A user bank
# (`journey.phrases: {lang: [...]}`) replaces a language's bank, English included; it may use
# `{mistake}` for the mistake clause.
DEFAULT_PHRASES: dict[str, list[str]] = {
    "zh": [
        "等等，我得到的答案是 ${wrong}$，但这似乎不对。让我回头仔细检查一下。",
        "嗯，等一下，我好像在某个地方出错了。让我重新考虑这个问题。",
        "不对，让我再验证一下，重新仔细地解一遍。",
    ],
    "de": [
        "Moment, ich habe ${wrong}$ erhalten, aber das scheint nicht zu stimmen. Ich prüfe meine Rechnung noch einmal.",
        "Hmm, warte. Ich glaube, ich habe irgendwo einen Fehler gemacht. Ich überlege den Ansatz noch einmal.",
    ],
    "fr": [
        "Attends, j'ai obtenu ${wrong}$, mais cela ne semble pas correct. Je reprends mon raisonnement avec soin.",
        "Hmm, attends. Je crois que je me suis trompé quelque part. Reprenons l'approche.",
    ],
    "es": [
        "Espera, obtuve ${wrong}$, pero eso no parece correcto. Voy a revisar mi trabajo con cuidado.",
        "Hmm, espera. Creo que cometí un error en algún paso. Voy a replantear el enfoque.",
    ],
    "ja": [
        "待ってください、答えが ${wrong}$ になりましたが、これは正しくないようです。もう一度丁寧に確認します。",
        "うーん、どこかで間違えたようです。解き方を見直してみます。",
    ],
    "ru": [
        "Подождите, у меня получилось ${wrong}$, но это не похоже на правду. Проверю решение ещё раз внимательно.",
        "Хм, кажется, я где-то ошибся. Попробую пересмотреть подход.",
    ],
}

def base_language(code: str | None) -> str:
    """`zh-Hans`, `zho-CN`, `ZH` -> `zh`; None -> `en` (the contract's default)."""
    return language_code(code) or "en"


def _pick(options: list[str], seed: int, *key: str) -> str:
    return options[int(stable_hash(seed, "journey", *key), 16) % len(options)]


def compose_reflection(*, wrong: str | None, kind: str, key: str, seed: int, lang: str = "en",
                       bank: list[str] | None = None) -> str:
    """The reflection after a wrong attempt. `wrong`: the answer the wrong part states (None: it
    states none). Each part is chosen by its own seeded hash of `key` (deterministic)."""
    mistake = _pick(MISTAKES.get(kind) or MISTAKES["setup"], seed, "mistake", key)
    if bank is not None:
        usable = [p for p in bank if "{wrong}" not in p] if wrong is None else list(bank)
        text = _pick(usable or list(bank), seed, "phrase", key)
        return text.replace("{wrong}", wrong if wrong is not None else "this").replace("{mistake}", mistake)
    if kind == "no_conclusion":
        doubt = ""
    elif wrong is None:
        doubt = _pick(DOUBTS_UNSTATED, seed, "doubt", key)
    else:
        doubt = _pick(DOUBTS, seed, "doubt", key).replace("{wrong}", wrong)
    parts = [_pick(OPENERS, seed, "opener", key), doubt, mistake, _pick(PLANS, seed, "plan", key)]
    return " ".join(p for p in parts if p)


# ---------------------------------------------------------------------------------------------
# the kind of mistake, read off the wrong and the reference answers
# ---------------------------------------------------------------------------------------------

_FRAC = re.compile(r"^(-?)\\[dt]?frac\{(-?\d+)\}\{(-?\d+)\}$")


def _number(s: str) -> Fraction | None:
    """A plain number in an answer string (`-3`, `12,000`, `0.25`, `\\frac{3}{4}`, `3/4`), else None."""
    t = re.sub(r"\\[,!;: ]|\\left|\\right|\$|\s|\\%|%|\^\{?\\circ\}?|°", "", s.strip())
    t = t.strip(".")
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", t):
        t = t.replace(",", "")
    m = _FRAC.match(t)
    if m:
        den = int(m.group(3))
        return Fraction(int(m.group(2)), den) * (-1 if m.group(1) else 1) if den else None
    if re.fullmatch(r"-?\d+/\d+", t):
        a, b = t.split("/")
        return Fraction(int(a), int(b)) if int(b) else None
    if re.fullmatch(r"-?\d+(\.\d+)?", t):
        return Fraction(t)
    return None


def _items(s: str) -> list[str]:
    """Top-level comma-separated items of an answer (`1, 3` / `(1,2),(2,1)` / `\\{2, 5\\}`)."""
    t = re.sub(r"^\\\{|\\\}$|^\{|\}$", "", s.strip())
    out, depth, cur = [], 0, ""
    for ch in t:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [re.sub(r"\s|\$", "", x) for x in out if x.strip()]


_COUNTING = re.compile(r"how many|number of|in how many ways|count|arrangements|possible (values|outcomes)", re.IGNORECASE)


def mistake_kind(wrong: str | None, gold: str | None, problem: str | None = None) -> str:
    """A guess at the kind of mistake, for the reflection's wording: the wrong answer is
    compared with the reference (sign flip; off by one, a whole-number multiple or fraction:
    miscounting in a counting problem, else arithmetic or setup; a near miss; missing or extra
    solutions); anything else is a flaw in the `setup`."""
    if wrong is None:
        return "no_conclusion"
    if not gold:
        return "setup"
    counting = bool(problem and _COUNTING.search(problem))
    w, g = _number(wrong), _number(gold)
    if w is not None and g is not None:
        if g != 0 and w == -g:
            return "sign"
        if w.denominator == g.denominator == 1 and abs(w - g) == 1:
            return "off_by_one" if counting else "arithmetic"
        if counting and g > 0 and w > 0 and w != g:
            ratio = w / g
            if ratio.denominator == 1 and 2 <= ratio <= 12:
                return "overcount"
            if (1 / ratio).denominator == 1 and 2 <= 1 / ratio <= 12:
                return "undercount"
        if g != 0 and abs((w - g) / g) <= Fraction(1, 50):
            return "arithmetic"
        return "setup"
    wi, gi = _items(wrong), _items(gold)
    if len(gi) > 1 or len(wi) > 1:
        if set(wi) < set(gi) or len(wi) < len(gi):
            return "missing_solutions"
        if set(gi) < set(wi) or len(wi) > len(gi):
            return "extra_solutions"
    return "setup"


# ---------------------------------------------------------------------------------------------
# the wrong attempt: its answer and where it concludes
# ---------------------------------------------------------------------------------------------

_PARA = re.compile(r"\n\s*\n")
# words that mark a paragraph of a long thought as its conclusion (with the answer stated as a
# result): "e^2 = 16" is a step, "So the maximum value is 16" concludes
_CONCLUDES = re.compile(r"answer|therefore|thus|hence|final|conclu|in total|altogether|so,? the|"
                        r"the (maximum|minimum|largest|smallest|value|sum|total|number|probability|area|result)", re.IGNORECASE)
# closing chat boilerplate and give-ups: never part of a thought
_BOILERPLATE = re.compile(
    r"^\W*(let me know|i hope|note:|\*\*note|please note|feel free|if you have|this (outline|process|approach) "
    r"(provides|involves)|while we can't|due to the complexity|without further)", re.IGNORECASE)
_GIVE_UP = re.compile(r"(difficult|impossible|cannot|can't|not possible) to (provide|determine|give|find) "
                      r"(a |an |the )?(definitive|exact|specific|final)|without further (analysis|information|"
                      r"calculation)|requires (more|further) (analysis|information)", re.IGNORECASE)


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...}/\\fbox{...} — the math verifier's extractor."""
    from factory.filters.math.extract import last_boxed as _lb

    return _lb(text)


def _answer_of(text: str) -> tuple[str | None, str]:
    """(answer, rule) the math verifier's extractor reads from a solution text. An answer that
    is a sentence or a give-up ("it's difficult to provide a definitive answer") is no answer."""
    from factory.filters.math.extract import extract_answer

    ext = extract_answer(text)
    a = (ext.answer or "").strip()
    if not a or _GIVE_UP.search(a) or len(re.findall(r"[A-Za-z]{3,}", re.sub(r"\\[A-Za-z]+", "", a))) > 5 or len(a) > 120:
        return None, "none"
    return a, ext.rule


def _answer_pattern(answer: str) -> re.Pattern[str]:
    """The answer as it may be written in running text: spaces, `$` and `\\left`/`\\right` free,
    `\\dfrac` = `\\frac`, and not glued to a neighbouring digit or letter (`4` is not in `14`)."""
    core = re.sub(r"\\left|\\right|\\[,!; ]|\$|\s", "", answer.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac"))
    gap = r"(?:\s|\$|\\left|\\right|\\[,!; ])*"
    body = gap.join(re.escape(ch) for ch in core)
    frac = re.fullmatch(r"(-?)\\frac\{(\d+)\}\{(\d+)\}", core)
    if frac:  # \frac{11}{36} is also written 11/36 in running text
        body = f"(?:{body}|{re.escape(frac.group(1))}{frac.group(2)}{gap}/{gap}{frac.group(3)})"
    head = r"(?<![0-9A-Za-z.])" if core[:1].isalnum() else ""
    tail = r"(?![0-9A-Za-z]|\.\d)" if core[-1:].isalnum() else ""
    return re.compile(head + body + tail)


def _result_pattern(answer: str) -> re.Pattern[str]:
    """`answer` stated as a result: right after `=`, "is", "equals", "be", "get(s)", "give(s)",
    ":" or "answer", and not the start of a longer expression (`= 24` and "is 24." are; the
    "-9" inside "3 - 9 + 6" and the "8" of "(8,0)" are not)."""
    inner = _answer_pattern(answer).pattern
    lead = r"(?:=|\bis|\bequals|\bbe|\bgets?|\bgives?|:|\banswer)\s*(?:\$|\\\(|\\\[|\*\*)?\s*"
    return re.compile(lead + inner + r"(?!\s*[-+*/^_{(\d=])", re.IGNORECASE)


def _normalise_fracs(text: str) -> str:
    return text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")


def states(text: str, answer: str) -> bool:
    """Does `text` state `answer` (in a box or in running text)?"""
    if not answer.strip():
        return False
    return _answer_pattern(answer).search(_normalise_fracs(text)) is not None


def _paragraphs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph."""
    out, start = [], 0
    for m in _PARA.finditer(text):
        if text[start: m.start()].strip():
            out.append((start, m.start()))
        start = m.end()
    if text[start:].strip():
        out.append((start, len(text)))
    return out


def _conclusion_end(text: str, answer: str, *, last: bool = False) -> int | None:
    """End of the paragraph where `text` concludes `answer`: a box holding it, else a paragraph
    stating it as a result (`= 90`, "is 90") with a conclusion word ("therefore", "the largest
    ..."; `last=True`: as a result). A thought concludes at its FIRST such paragraph (what follows
    is re-checking); a short solution (`last=True`) at its LAST one, where the extractor read the
    answer. None when the text never states it."""
    paras = _paragraphs(text)
    pat = _answer_pattern(answer)
    order = list(reversed(paras)) if last else paras
    for s, e in order:
        p = _normalise_fracs(text[s:e])
        for b in re.finditer(r"\\(?:boxed|fbox)\s*\{", p):
            if pat.search(p[b.end(): b.end() + len(answer) + 40]):
                return e
    res = _result_pattern(answer)
    stated = [(s, e) for s, e in order if res.search(_normalise_fracs(text[s:e]))
              and (last or _CONCLUDES.search(text[s:e]))]
    return stated[0][1] if stated else None


def _concludes(text: str, answer: str) -> bool:
    """Does `text` state `answer` as a result somewhere (`... = 24`, "the minimum is 17")?"""
    return _result_pattern(answer).search(_normalise_fracs(text)) is not None


def _last_paragraphs(text: str, n: int) -> str:
    paras = _paragraphs(text)
    return text[paras[-n][0]:] if len(paras) >= n else text


def _trim_tail(text: str) -> str:
    """The text without its closing boilerplate paragraphs ("Let me know if...", "**Note:**")."""
    paras = _paragraphs(text)
    while paras and (_BOILERPLATE.search(text[paras[-1][0]: paras[-1][1]].strip("*# \n"))
                     or _GIVE_UP.search(text[paras[-1][0]: paras[-1][1]])
                     or re.fullmatch(r"\W*(final answer|conclusion|answer)\W*", text[paras[-1][0]: paras[-1][1]], re.IGNORECASE)):
        paras.pop()
    return text[: paras[-1][1]].rstrip() if paras else ""


def _before_loop(text: str, *, fraction: float, max_chars: int | None, gold: str | None = None) -> str:
    """A thought that never concludes, cut at a paragraph boundary before it starts repeating a
    paragraph it already wrote (a degenerate loop), at most `fraction` of the way through, and
    within `max_chars`; never right after a paragraph that states the reference answer as a
    result (the reflection says the attempt has not settled: its last steps must not have)."""
    paras = _paragraphs(text)
    seen: set[str] = set()
    end = len(paras)
    for i, (s, e) in enumerate(paras):
        key = re.sub(r"\s+", " ", text[s:e]).strip()
        if len(key) >= 30 and key in seen:
            end = i
            break
        seen.add(key)
    end = min(end, max(1, round(len(paras) * fraction)) if len(paras) > 3 else end)
    while end > 1 and max_chars is not None and paras[end - 1][1] > max_chars:
        end -= 1
    res = _result_pattern(gold) if gold else None
    while end > 1 and (text[paras[end - 1][0]: paras[end - 1][1]].rstrip().endswith(":")  # introduces what follows
                       or (res is not None and any(res.search(_normalise_fracs(text[a:b])) for a, b in paras[max(0, end - 2): end]))):
        end -= 1
    return text[: paras[end - 1][1]].rstrip() if end >= 1 and paras else ""


@dataclass
class Attempt:
    """The wrong trace read for a journey: its final answer (None: it never concludes), the rule
    that found it, and the part of it the journey replays (cut where it concludes)."""

    answer: str | None
    rule: str
    part: str
    cut_point: str          # thought_conclusion | solution_statement | statement | no_conclusion


def read_attempt(row: dict[str, Any], *, max_chars: int | None = None, fraction: float = 0.6,
                 gold: str | None = None) -> Attempt | None:
    """Where the wrong trace concludes, and with what answer (see the module docstring)."""
    reasoning = strip_tags(row.get("reasoning") or "")
    answer = strip_tags(row.get("answer") or "")
    if not reasoning and not answer:  # only the raw completion: split it the way the scan does
        raw = row.get("completion") or ""
        r, a = split_trace(raw, None, None)
        if a is None:
            reasoning = strip_tags(raw)            # a thought that never reached an answer
        elif r is not None and r != raw.strip():
            reasoning, answer = strip_tags(r), strip_tags(a)   # thought block + solution
        else:
            answer = strip_tags(raw)               # a short CoT: one text
    if reasoning and answer:
        stated, rule = _answer_of(answer)
        if stated is None:
            part = _before_loop(_trim_tail(reasoning), fraction=1.0, max_chars=max_chars, gold=gold)
            return Attempt(None, "none", part, "no_conclusion") if part else None
        end = _conclusion_end(reasoning, stated)
        if end is not None:
            return Attempt(stated, rule, reasoning[:end].rstrip(), "thought_conclusion")
        # the thought never states it: follow it with the solution's concluding paragraph only
        closing = _statement_paragraph(answer, stated)
        return Attempt(stated, rule, f"{_trim_tail(reasoning)}\n\n{closing}".strip(), "solution_statement")
    text = reasoning or answer
    if not text:
        return None
    stated, rule = _answer_of(text) if answer else (None, "none")
    if stated is None:  # a thought cut off before it concluded, or a short answer that gives up
        part = _before_loop(_trim_tail(text), fraction=fraction if not answer else 1.0, max_chars=max_chars, gold=gold)
        return Attempt(None, "none", part, "no_conclusion") if part else None
    end = _conclusion_end(text, stated, last=True)
    if end is None:
        end = len(_trim_tail(text))
    return Attempt(stated, rule, text[:end].rstrip(), "statement")


def _statement_paragraph(text: str, stated: str) -> str:
    """The paragraph of a solution section that states its answer (the last one that does)."""
    paras = [text[s:e].strip() for s, e in _paragraphs(text)]
    hits = [p for p in paras if states(p, stated)]
    return hits[-1] if hits else f"So the answer is ${stated}$."


def earlier_cut(part: str, *, fraction: float) -> str | None:
    """A paragraph boundary about `fraction` of the way into `part`, before anything it states."""
    paras = _paragraphs(part)
    if len(paras) < 2:
        return None
    target = fraction * len(part)
    ends = [e for _, e in paras[:-1]]
    best = min(ends, key=lambda e: (abs(e - target), e))
    return part[:best].rstrip() or None


# ---------------------------------------------------------------------------------------------
# the correct trace: its reasoning without the opening restatement
# ---------------------------------------------------------------------------------------------

_RESTATE = re.compile(r"^(?:so,? |okay,? so |alright,? so |well,? )?(?:i(?:'ve| have) (?:got )?(?:this|a|these) "
                      r"(?:problem|question|function|equation)|let's tackle this|i need to (?:solve|find|figure))", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]{3,}|\d+")


def drop_restatement(reasoning: str, problem: str | None) -> str:
    """The correct trace's reasoning without its opening sentences that only restate the problem
    ("So I have this problem here: ..."), which read as a second author re-reading the question
    after the reflection. A first paragraph ending in ':' (it introduces what follows) is kept."""
    paras = _paragraphs(reasoning)
    if len(paras) < 2:
        return reasoning
    s, e = paras[0]
    first = reasoning[s:e].strip()
    if first.endswith(":"):
        return reasoning
    pwords = {w.lower() for w in _WORD.findall(problem or "")}
    sentences = re.split(r"(?<=[.?!])\s+", first)
    k = 0
    while k < len(sentences):
        words = [w.lower() for w in _WORD.findall(sentences[k])]
        overlap = sum(w in pwords for w in words) / max(len(words), 1)
        if _RESTATE.match(sentences[k]) or (len(words) >= 4 and overlap >= 0.6):
            k += 1
        else:
            break
    if k == 0:
        return reasoning
    rest = " ".join(sentences[k:]).strip()
    tail = reasoning[paras[1][0]:]
    return f"{rest}\n\n{tail}" if rest else tail


# ---------------------------------------------------------------------------------------------
# verifier
# ---------------------------------------------------------------------------------------------

class AnswerChecker:
    """(gold, predicted) pairs -> verdict strings (`correct`, `wrong`, ...), through the project's
    math verifier (`factory.filters.math.equiv.MathEquivalence`). Inject `verdicts=` in tests of
    other behaviour."""

    def __init__(self, *, verdicts: Callable[[list[tuple[str, str]]], list[str]] | None = None, workers: int = 1):
        self._fn = verdicts
        self._eq = None
        self.backend = "injected" if verdicts else "factory.filters.math.equiv"
        if verdicts is None:
            from factory.filters.math.equiv import MathEquivalence

            self._eq = MathEquivalence(workers=workers)

    def verdicts(self, pairs: Sequence[tuple[str, str | None]]) -> list[str]:
        if not pairs:
            return []
        if self._fn is not None:
            return list(self._fn(list(pairs)))
        assert self._eq is not None
        return [v.verdict for v in self._eq.check(list(pairs))]

    def solution_verdicts(self, items: Sequence[tuple[str, str]]) -> list[str]:
        """(gold, solution text) -> verdicts, with the verifier's own choice of what to compare
        (the final answer the extractor reads; several final boxes joined when the gold is a
        collection), as `factory verify` judges a trace's answer section."""
        from factory.filters.math.extract import extract_answer

        exts = [extract_answer(text) for _, text in items]
        preds: list[str | None] = []
        for (gold, _), ext in zip(items, exts):
            choose = getattr(self._eq, "choose", None)
            preds.append(choose(ext, gold)[0] if choose is not None else ext.answer)
        return self.verdicts([(gold, p) for (gold, _), p in zip(items, preds)])

    def close(self) -> None:
        if self._eq is not None:
            self._eq.close()


# ---------------------------------------------------------------------------------------------
# drafts
# ---------------------------------------------------------------------------------------------

@dataclass
class JourneyConfig:
    cut: Cut = "conclusion"
    earlier_fraction: float = 0.6
    phrases: dict[str, list[str]] = field(default_factory=dict)   # user banks (replace a language's wording)
    max_tokens: int | None = None
    fmt: Literal["think", "sky-t1"] = "think"
    seed: int = 0
    reflection: Reflection = "template"

    @classmethod
    def from_section(cls, j: dict[str, Any], *, fmt: str, seed: int, max_tokens: int | None) -> JourneyConfig:
        phrases = {base_language(lang): list(bank) for lang, bank in (j.get("phrases") or {}).items()}
        return cls(cut=j.get("cut", "conclusion"), earlier_fraction=float(j.get("earlier_fraction", 0.6)),
                   phrases=phrases, max_tokens=j.get("max_tokens") or max_tokens, fmt=fmt, seed=seed,  # type: ignore[arg-type]
                   reflection=j.get("reflection") or "template")

    def bank(self, lang: str) -> list[str] | None:
        """A whole-phrase bank for `lang` (a user's, or a built-in non-English one); None for
        English without a user bank (composed)."""
        if lang in self.phrases:
            return self.phrases[lang]
        return None if lang == "en" else DEFAULT_PHRASES.get(lang)


@dataclass
class Draft:
    problem_id: str
    wrong: dict[str, Any]
    correct: dict[str, Any]
    wrong_part: str
    stated: str | None          # the answer the wrong part states (None: it states none)
    wrong_final: str | None     # the wrong trace's own final answer (None: it never concludes)
    transition: str             # the reflection
    correct_reasoning: str
    final: str
    kind: str = "setup"         # the kind of mistake the reflection names
    cut_point: str = ""         # where the wrong attempt was cut (see Attempt)
    reflection_source: str = "template"
    chain: str = ""
    content: str = ""
    drop: str | None = None

    @property
    def key(self) -> str:
        return f"{self.wrong['id']}|{self.correct['id']}"


def draft(wrong: dict[str, Any], correct: dict[str, Any], cfg: JourneyConfig, *,
          reference: str | None = None) -> Draft | str:
    """Assemble one journey chain from a wrong and a correct trace row (dicts with completion,
    reasoning, answer, language, id, problem); a string is the name of the reason it cannot be
    built."""
    max_chars = cfg.max_tokens * 4 // 2 if cfg.max_tokens else None  # the wrong part: at most half the budget
    att = read_attempt(wrong, max_chars=max_chars, fraction=cfg.earlier_fraction, gold=reference)
    if att is None or not att.part:
        return "wrong_attempt_is_empty"
    part, stated = att.part, att.answer
    if cfg.cut == "earlier" and att.answer is not None:
        early = earlier_cut(part, fraction=cfg.earlier_fraction)
        if early is None:
            return "wrong_attempt_no_cut_point"
        part, stated = early, None
    lang = base_language(wrong.get("language"))
    bank = cfg.bank(lang)
    if lang != "en" and bank is None:
        return f"no_reflection_phrase_for_language_{lang}"
    c_reasoning, c_final = split_trace(correct.get("completion") or "", correct.get("reasoning"), correct.get("answer"))
    if c_reasoning is None or c_final is None:
        return "correct_trace_has_no_final_answer"
    c_reasoning = drop_restatement(c_reasoning.strip(), correct.get("problem"))
    kind = mistake_kind(att.answer, reference, correct.get("problem") or wrong.get("problem"))
    if stated is None and att.answer is not None:
        kind = "setup"  # cut earlier: the wrong answer is not on the page, so neither is its kind
    elif att.answer is None and not (wrong.get("reasoning") or "").strip() and (wrong.get("answer") or "").strip():
        kind = "gave_up"  # a short answer that never got past an outline
    key = f"{wrong['id']}|{correct['id']}"
    transition = compose_reflection(wrong=stated, kind=kind, key=key, seed=cfg.seed, lang=lang, bank=bank)
    d = Draft(problem_id=wrong["problem_id"], wrong=wrong, correct=correct, wrong_part=part, stated=stated,
              wrong_final=att.answer, transition=transition, correct_reasoning=c_reasoning, final=c_final,
              kind=kind, cut_point=att.cut_point if cfg.cut == "conclusion" or att.answer is None else "earlier")
    set_chain(d, cfg)
    return d


def set_chain(d: Draft, cfg: JourneyConfig, chain: str | None = None) -> None:
    d.chain = chain if chain is not None else f"{d.wrong_part}\n\n{d.transition}\n\n{d.correct_reasoning}"
    d.content = render_assistant(d.chain, d.final, fmt=cfg.fmt)


def validate(drafts: list[Draft], *, reference: dict[str, str], checker: AnswerChecker, cfg: JourneyConfig,
             rewritten: bool = False) -> None:
    """Set `d.drop` to the first failed check's name (None = valid). All verifier calls go in
    one batch. `reference` maps problem_id -> reference answer."""
    pairs: list[tuple[str, str | None]] = []
    slots: list[tuple[int, str]] = []
    finals: list[tuple[str, str]] = []
    final_of: list[int] = []
    for i, d in enumerate(drafts):
        parsed = parse_assistant(d.content, fmt=cfg.fmt)
        if parsed is None:
            d.drop = "malformed_format"
            continue
        reasoning, answer = parsed
        if cfg.max_tokens is not None and approx_tokens(d.content) > cfg.max_tokens:
            d.drop = "over_token_budget"
            continue
        gold = reference.get(d.problem_id)
        if not gold:
            d.drop = "no_reference_answer"
            continue
        if rewritten:
            # the rewrite may reword everything: the wrong answer must still be stated (before the
            # correct part), and nothing else changes what is checked
            if d.stated is not None and not states(reasoning, d.stated):
                d.drop = "wrong_part_answer_is_no_answer"
                continue
        else:
            k = reasoning.find(d.transition)
            if k < 0:
                d.drop = "transition_missing"
                continue
            wrong_part = reasoning[:k]
            if d.stated is not None and not states(wrong_part, d.stated):
                d.drop = "wrong_part_answer_is_no_answer"
                continue
            if d.stated is None and last_boxed(wrong_part) is not None:
                # an attempt cut before it concludes must not box anything: a box there is an
                # answer the reflection does not address (it may even be the right one)
                d.drop = "unconcluded_attempt_states_an_answer"
                continue
            if d.wrong_final is None and _concludes(_last_paragraphs(wrong_part, 2), gold):
                # its last steps state the right answer: "I haven't settled on an answer" would
                # be false (read_attempt cuts before such steps; this is the safety net)
                d.drop = "unconcluded_attempt_reaches_the_answer"
                continue
        if d.wrong_final is not None:
            pairs.append((gold, d.wrong_final))
            slots.append((i, "wrong_part_answer"))
        finals.append((gold, answer))
        final_of.append(i)
    verdicts = checker.verdicts(pairs) + checker.solution_verdicts(finals)
    slots += [(i, "final_answer") for i in final_of]
    for (i, what), v in zip(slots, verdicts):
        d = drafts[i]
        if d.drop is not None:
            continue
        if what == "wrong_part_answer" and v != "wrong":
            d.drop = f"wrong_part_answer_is_{v}"
        elif what == "final_answer" and v != "correct":
            d.drop = f"final_answer_is_{v}"


def build(
    pairs: list[tuple[dict[str, Any], dict[str, Any]]],
    *,
    reference: dict[str, str],
    cfg: JourneyConfig,
    checker: AnswerChecker,
    rewrite: Rewrite | None = None,
    reflect: ReflectionWriter | None = None,
) -> tuple[list[Draft], Counter]:
    """Draft, validate, optionally have a teacher write the reflections and rewrite the chains
    (re-validating after each), and return the valid drafts (in input order) with a Counter of
    named drops (`reflection_fallback:<reason>` counts teacher reflections replaced by the
    composed one; those samples are kept)."""
    drops: Counter = Counter()
    drafts: list[Draft] = []
    for w, c in pairs:
        d = draft(w, c, cfg, reference=reference.get(w["problem_id"]))
        if isinstance(d, str):
            drops[d] += 1
        else:
            drafts.append(d)
    validate(drafts, reference=reference, checker=checker, cfg=cfg)
    for d in drafts:
        if d.drop:
            drops[d.drop] += 1
    kept = [d for d in drafts if d.drop is None]
    if reflect is not None and kept:
        for d, (text, why) in zip(kept, reflect(kept, reference)):
            if text is None:
                drops[f"reflection_fallback:{why}"] += 1
                continue
            d.transition, d.reflection_source = text, "teacher"
            set_chain(d, cfg)
        validate(kept, reference=reference, checker=checker, cfg=cfg)
        for d in kept:
            if d.drop:
                drops["teacher_reflection_" + d.drop] += 1
        kept = [d for d in kept if d.drop is None]
    if rewrite is not None and kept:
        new = rewrite([d.chain for d in kept])
        if len(new) != len(kept):
            from factory.schemas.errors import FactoryError

            raise FactoryError(f"journey rewrite: expected {len(kept)} texts back, found {len(new)}")
        for d, text in zip(kept, new):
            if not text or not strip_tags(text):
                d.drop = "failed"
                continue
            set_chain(d, cfg, strip_tags(text))
        validate([d for d in kept if d.drop is None], reference=reference, checker=checker, cfg=cfg, rewritten=True)
        for d in kept:
            if d.drop:
                drops["rewrite_" + d.drop] += 1
        kept = [d for d in kept if d.drop is None]
    return kept, drops


def funnel(drafts: list[Draft], drops: Counter, n_pairs: int) -> dict[str, Any]:
    """The journey report: pairs in, samples out, yield, drops by name, and how the kept samples
    were built (cut points, mistake kinds, reflection sources)."""
    return {
        "pairs": n_pairs, "built": len(drafts), "yield": round(len(drafts) / n_pairs, 4) if n_pairs else None,
        "drops": dict(sorted(drops.items())),
        "cut_points": dict(sorted(Counter(d.cut_point for d in drafts).items())),
        "mistake_kinds": dict(sorted(Counter(d.kind for d in drafts).items())),
        "reflections": dict(sorted(Counter(d.reflection_source for d in drafts).items())),
        "distinct_reflections": len({d.transition for d in drafts}),
    }


# ---------------------------------------------------------------------------------------------
# teacher-written reflections and rewrites
# ---------------------------------------------------------------------------------------------

# Prompt presets for `journey.reflection: teacher`. `o1-journey`: the O1 Replication Journey's
# way: a strong model sees the failed attempt next to a correct solution and writes the
# reflection that leads from one to the other, without giving the answer away.
REFLECTION_PRESETS: dict[str, str] = {
    "o1-journey": (
        "Below is a math problem, an attempt at it that went wrong, and a correct solution.\n\n"
        "Problem:\n{problem}\n\nEnd of the attempt:\n{attempt}\n\n"
        "The attempt's answer, {wrong}, is wrong. A correct solution, for your reference only:\n{solution}\n\n"
        "Write the short reflection (2 to 4 sentences, first person, thinking aloud as the author of "
        "the attempt) that comes right after the attempt: notice that {wrong} is wrong, say what kind "
        "of mistake was made and where, and say how you will redo it. Do not state the correct answer "
        "and do not solve the problem. Output only the reflection."),
    "brief": (
        "Problem:\n{problem}\n\nA solution attempt ended like this:\n{attempt}\n\nIts answer {wrong} is wrong. "
        "In one or two sentences, as the attempt's author thinking aloud, notice the mistake and say "
        "you will redo it. Do not give the correct answer. Output only those sentences."),
}
ReflectionWriter = Callable[[list[Draft], dict[str, str]], list[tuple[str | None, str]]]


def check_reflection(text: str, *, wrong: str | None, gold: str | None, max_chars: int = 1200) -> str | None:
    """Why a teacher-written reflection cannot be used (None: it can)."""
    t = text.strip()
    if not t:
        return "empty"
    if any(tag in t for tag in ("<think>", "</think>", "<|begin_of_thought|>", "<|end_of_thought|>",
                                "<|begin_of_solution|>", "<|end_of_solution|>")):
        return "has_think_tags"
    if "\\boxed" in t or "\\fbox" in t:
        return "boxes_an_answer"
    if len(t) > max_chars:
        return "too_long"
    if len(re.findall(r"[^\W\d_]{2,}|[\u4e00-\u9fff]", t)) < 4 or not re.search(r"[.!?。！？]\W*$", t):
        return "not_sentences"  # a few words or a fragment (a cut-off or broken sample)
    if wrong is not None and not states(t, wrong):
        return "does_not_name_the_wrong_answer"
    if gold and _number(gold) is not None and states(t, gold):
        return "gives_away_the_answer"
    if gold and _number(gold) is None and len(gold) >= 4 and states(t, gold):
        return "gives_away_the_answer"
    return None


def reflection_with_teacher(teacher: Any, *, prompt: str = REFLECTION_PRESETS["o1-journey"],
                            max_tokens: int = 512, attempt_chars: int = 1500,
                            solution_chars: int = 3000) -> ReflectionWriter:
    """A reflection writer on any teacher backend (factory.generate.teachers protocol), greedy,
    one sample per draft. Requests are keyed by the problem id and the pair's rank within its
    problem (so a `replay` folder of reflections keyed the same way serves them). A reasoning
    teacher's own thought block is removed. Returns (text or None, why) per draft."""
    from factory.generate.teachers.base import Request, SamplingConfig

    def write(drafts: list[Draft], reference: dict[str, str]) -> list[tuple[str | None, str]]:
        rank: Counter = Counter()
        reqs = []
        for d in drafts:
            i = rank[d.problem_id]
            rank[d.problem_id] += 1
            text = prompt.format(problem=d.correct.get("problem") or d.wrong.get("problem") or "",
                                 attempt=d.wrong_part[-attempt_chars:], wrong=d.stated or "(no answer)",
                                 solution=d.correct_reasoning[:solution_chars])
            reqs.append(Request(key=d.problem_id, messages=[{"role": "user", "content": text}],
                                sample_indices=[i], seeds=[0]))
        res = teacher.generate(reqs, SamplingConfig(temperature=0.0, top_p=1.0, max_tokens=max_tokens, n=1, seed=0))
        out: list[tuple[str | None, str]] = []
        for d, comps in zip(drafts, res):
            c = comps[0] if comps else None
            if c is None or c.error or c.skip:
                out.append((None, "teacher_failed"))
                continue
            text = c.text
            if "</think>" in text or "<|end_of_thought|>" in text:
                _, after = split_trace(text, None, None)
                text = after or ""
            text = text.strip()
            why = check_reflection(text, wrong=d.stated, gold=reference.get(d.problem_id))
            out.append((None, why) if why else (text, "ok"))
        return out

    return write


REWRITE_PROMPT = (
    "Rewrite the following chain of thought so that it reads as one fluent line of reasoning by a single "
    "author who makes an attempt, notices the mistake and corrects it. Keep every calculation, every "
    "boxed answer and the order of the steps; do not add new steps and do not solve the problem "
    "differently. Output only the rewritten chain of thought.\n\n{text}"
)


def rewrite_with_teacher(teacher: Any, *, prompt: str = REWRITE_PROMPT, max_tokens: int = 16384) -> Rewrite:
    """A `rewrite(texts) -> texts` hook on any teacher backend (factory.generate.teachers protocol:
    `generate(requests, sampling)`), greedy, one sample per chain. A reasoning teacher's own
    thought block is removed from what it returns. A failed or empty sample comes back as ""
    (dropped as `rewrite_failed`)."""
    from factory.generate.teachers.base import Request, SamplingConfig

    def rewrite(texts: list[str]) -> list[str]:
        reqs = [Request(key=f"rewrite-{i}", messages=[{"role": "user", "content": prompt.format(text=t)}],
                        sample_indices=[0], seeds=[0]) for i, t in enumerate(texts)]
        res = teacher.generate(reqs, SamplingConfig(temperature=0.0, top_p=1.0, max_tokens=max_tokens, n=1, seed=0))
        out = []
        for t, comps in zip(texts, res):
            c = comps[0] if comps else None
            if c is None or c.error or not c.text.strip():
                out.append("")  # a failed sample is a named drop (rewrite_failed), never the original
                continue
            text = c.text
            if "</think>" in text or "<|end_of_thought|>" in text:
                _, after = split_trace(text, None, None)
                text = after or text
            out.append(text.strip())
        return out

    return rewrite
