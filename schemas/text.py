"""The text rules every stage shares, defined once: how a completion splits into reasoning and
answer (the think and Sky-T1 tags), how tokens are estimated when a teacher recorded none, and
how language codes are written.

Reasoning split — the one implementation every stage uses (generate for live samples, ingest
for public trace files, curate, the card).

Formats understood:
- DeepSeek-R1 / Qwen3 / QwQ: `<think> … </think> answer`. The opening tag may be missing because
  the prompt prefilled it (`prefilled_think=True`, or a lone `</think>`): the completion then
  begins inside the thought.
- Sky-T1 / Bespoke: `<|begin_of_thought|> … <|end_of_thought|> <|begin_of_solution|> … <|end_of_solution|>`.
- A server's separate reasoning field (vLLM/SGLang `reasoning_content`, OpenRouter `reasoning`).
A completion cut by the token limit keeps what it has: `finished` is False when the thought never
closed (or the server's reasoning came with no answer after it).

Token estimate: `approx_tokens(text)` = ceil(characters / 4), the rule of thumb for English
and LaTeX with BPE tokenizers; used only where no tokenizer count was recorded (curate's budgets
and the card say so).

Language codes: `language_code("zho-CN") == "zh"`: the primary subtag, lower case, ISO 639-2/3
codes mapped to their ISO 639-1 form; `check_language_code` refuses codes outside ISO 639-1.

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


# -- token estimate ---------------------------------------------------------------------------------
CHARS_PER_TOKEN = 4


def approx_tokens(text: str | None) -> int:
    """ceil(characters / 4): the estimate used when no tokenizer count was recorded."""
    return -(-len(text or "") // CHARS_PER_TOKEN)


def approx_tokens_expr(expr):
    """The same estimate as a polars expression over a string column (nulls count 0)."""
    return (expr.fill_null("").str.len_chars() + (CHARS_PER_TOKEN - 1)) // CHARS_PER_TOKEN


# -- language codes ---------------------------------------------------------------------------------
# ISO 639-1: the codes language identification and the language filter speak
ISO639_1 = frozenset("""
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el en eo es
et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj
kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv
ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti
tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
""".split())
# ISO 639-2/3 codes met in public data (NTREX, FLORES, MGSM, Bespoke) -> ISO 639-1
ISO639_3 = {
    "eng": "en", "zho": "zh", "chi": "zh", "cmn": "zh", "yue": "zh", "deu": "de", "ger": "de", "fra": "fr", "fre": "fr",
    "spa": "es", "jpn": "ja", "rus": "ru", "kor": "ko", "ita": "it", "por": "pt", "vie": "vi", "hin": "hi", "ara": "ar",
    "arb": "ar", "ben": "bn", "tha": "th", "swa": "sw", "swh": "sw", "tel": "te", "tam": "ta", "urd": "ur", "tur": "tr",
    "pol": "pl", "nld": "nl", "dut": "nl", "ukr": "uk", "ces": "cs", "cze": "cs", "ell": "el", "gre": "el", "heb": "he",
    "ind": "id", "msa": "ms", "may": "ms", "fas": "fa", "per": "fa", "pes": "fa", "swe": "sv", "dan": "da", "fin": "fi",
    "nor": "no", "nob": "nb", "hun": "hu", "ron": "ro", "rum": "ro", "bul": "bg", "cat": "ca", "hrv": "hr", "srp": "sr",
    "slk": "sk", "slo": "sk", "slv": "sl", "lit": "lt", "lav": "lv", "est": "et", "kat": "ka", "geo": "ka", "hye": "hy",
    "arm": "hy", "mar": "mr", "guj": "gu", "kan": "kn", "mal": "ml", "pan": "pa", "tgl": "tl", "fil": "tl", "amh": "am",
}


def language_code(code: str | None) -> str:
    """'en', 'EN', 'zh-Hans', 'pt_PT', 'zho-CN', 'deu' -> 'en', 'en', 'zh', 'pt', 'zh', 'de';
    '' for nothing. Codes outside both tables come back as their lower-case primary subtag."""
    if not code:
        return ""
    head = re.split(r"[-_]", code.strip())[0].lower()
    return ISO639_3.get(head, head)


def check_language_code(code: str, *, what: str = "language") -> str:
    """The code in its ISO 639-1 form, or an error that lists the known codes."""
    from factory.schemas.errors import InputError

    c = language_code(code)
    if c not in ISO639_1:
        raise InputError(
            f"{what}: expected an ISO 639-1 code (or an ISO 639-2/3 code of a known language), found {code!r}",
            hint="known codes: " + " ".join(sorted(ISO639_1)),
        )
    return c
