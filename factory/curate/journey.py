"""Journey learning (O1 Replication Journey, Qin et al. 2024): for a problem with both a wrong
and a correct verified trace, build ONE chain of thought that makes the wrong attempt, notices
the error (a reflection transition in the trace's language, chosen from a phrase bank by a
seeded hash), and continues into the correct solution; the final answer is the correct one.

    <think>
    {wrong attempt, cut at its wrong conclusion (or earlier, at a paragraph boundary)}

    {reflection: "Wait, I got $3$, but that doesn't look right. Let me go back and check."}

    {the correct trace's reasoning}
    </think>

    {the correct trace's final answer}

Every sample is validated before it is kept, and each failed check is a named drop:
the wrong part's stated answer really is wrong per the math verifier (cut `earlier`: the wrong
part states no answer and the wrong trace's own final answer is wrong), the final answer is
right per the verifier, the think format is well-formed, and the length is within budget.

Fluency rewrite: pass `rewrite(texts) -> texts` (one chain of thought in, one out). The curate
stage builds it from `journey.rewrite: {teacher, backend}` with the generate stage's backends
(`factory.curate.stage.make_rewrite`); rewritten chains are validated again (well-formed, final answer right, first stated
answer still the wrong one, length) and a chain that fails is dropped by name.

Exercise: `factory curate --recipe journey --traces DIR --out OUT`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from factory.curate.sft import (
    approx_tokens,
    parse_assistant,
    render_assistant,
    split_trace,
    strip_tags,
)
from factory.schemas.ids import stable_hash

Rewrite = Callable[[list[str]], list[str]]
Cut = Literal["conclusion", "earlier"]

# Reflection transitions. `{wrong}` is replaced by the wrong attempt's stated answer (only used
# when the cut is at the conclusion, where that answer is on the page).
DEFAULT_PHRASES: dict[str, list[str]] = {
    "en": [
        "Wait, I got ${wrong}$, but that doesn't look right. Let me go back and check my work carefully.",
        "Hmm, wait. Let me double-check this. Something seems off with ${wrong}$, so I'll re-examine the problem from the beginning.",
        "Wait a moment. I think I made a mistake somewhere. Let me reconsider the approach.",
        "Actually, hold on. That doesn't seem right. Let me solve this again more carefully.",
        "Hmm, before concluding I should verify this. Looking back, I'm not confident in my reasoning, so let me try a different approach.",
    ],
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

_ISO3 = {"eng": "en", "zho": "zh", "cmn": "zh", "deu": "de", "ger": "de", "fra": "fr", "fre": "fr", "spa": "es",
         "jpn": "ja", "rus": "ru", "kor": "ko", "ita": "it", "por": "pt", "vie": "vi", "hin": "hi", "arb": "ar", "ara": "ar"}


def base_language(code: str | None) -> str:
    """`zh-Hans`, `zho-CN`, `ZH` -> `zh`; None -> `en` (the contract's default)."""
    if not code:
        return "en"
    head = re.split(r"[-_]", code.strip().lower())[0]
    return _ISO3.get(head, head)


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...}/\\fbox{...} — the math verifier's extractor when present."""
    try:
        from factory.filters.math.extract import last_boxed as _lb
    except ImportError:  # the math verifier (issue 4) not installed in this tree: same rule, local
        _lb = _last_boxed_local
    return _lb(text)


def _last_boxed_local(text: str) -> str | None:
    best = None
    for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        depth, start = 0, m.end() - 1
        for j in range(start, len(text)):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    best = text[start + 1: j]
                    break
    return best.strip() if best is not None else None


class AnswerChecker:
    """(gold, predicted) pairs -> verdict strings (`correct`, `wrong`, ...), through the project's
    math verifier (`factory.filters.math.equiv.MathEquivalence`); `math_verify` when that module
    is absent. Inject `verdicts=` in tests of other behaviour."""

    def __init__(self, *, verdicts: Callable[[list[tuple[str, str]]], list[str]] | None = None, workers: int = 1):
        self._fn = verdicts
        self._eq = None
        self.backend = "injected" if verdicts else ""
        if verdicts is None:
            try:
                from factory.filters.math.equiv import MathEquivalence

                self._eq = MathEquivalence(workers=workers)
                self.backend = "factory.filters.math.equiv"
            except ImportError:
                self.backend = "math_verify"

    def verdicts(self, pairs: Sequence[tuple[str, str | None]]) -> list[str]:
        if not pairs:
            return []
        if self._fn is not None:
            return list(self._fn(list(pairs)))
        if self._eq is not None:
            return [v.verdict for v in self._eq.check(list(pairs))]
        from math_verify import parse, verify

        out = []
        for gold, pred in pairs:
            if pred is None or not str(pred).strip():
                out.append("no_answer")
                continue
            g, p = parse(f"${gold}$"), parse(f"${pred}$")
            out.append("correct" if g and p and verify(g, p) else "wrong")
        return out

    def close(self) -> None:
        if self._eq is not None:
            self._eq.close()


@dataclass
class JourneyConfig:
    cut: Cut = "conclusion"
    earlier_fraction: float = 0.6
    phrases: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_PHRASES))
    max_tokens: int | None = None
    fmt: Literal["think", "sky-t1"] = "think"
    seed: int = 0

    @classmethod
    def from_section(cls, j: dict[str, Any], *, fmt: str, seed: int, max_tokens: int | None) -> JourneyConfig:
        phrases = dict(DEFAULT_PHRASES)
        for lang, bank in (j.get("phrases") or {}).items():
            phrases[base_language(lang)] = list(bank)  # a user bank replaces that language's bank
        return cls(cut=j.get("cut", "conclusion"), earlier_fraction=float(j.get("earlier_fraction", 0.6)),
                   phrases=phrases, max_tokens=j.get("max_tokens") or max_tokens, fmt=fmt, seed=seed)  # type: ignore[arg-type]


def wrong_text(row: dict[str, Any]) -> str:
    """All the wrong trace wrote (thought + answer), tags removed: the attempt we replay."""
    parts = [p for p in (row.get("reasoning"), row.get("answer")) if p and p.strip()]
    text = "\n\n".join(parts) if parts else (row.get("completion") or "")
    return strip_tags(text)


_PARA = re.compile(r"\n\s*\n")


def cut_wrong(text: str, *, cut: Cut, fraction: float) -> tuple[str, str | None] | None:
    """(wrong part, its stated answer). `conclusion`: up to the end of the paragraph holding the
    last boxed answer. `earlier`: a paragraph boundary at about `fraction` of the way to the
    first boxed answer, so the wrong part states no answer. None when no cut is possible."""
    boxes = [m.start() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    if not boxes:
        return None
    if cut == "conclusion":
        m = _PARA.search(text, boxes[-1])
        prefix = text[: m.start()] if m else text
        stated = last_boxed(prefix)
        return (prefix.rstrip(), stated) if stated else None
    bounds = [m.start() for m in _PARA.finditer(text) if m.start() < boxes[0]]
    if not bounds:
        return None
    target = fraction * boxes[0]
    best = min(bounds, key=lambda b: (abs(b - target), b))
    prefix = text[:best].rstrip()
    return (prefix, None) if prefix else None


def choose_phrase(bank: list[str], *, key: str, seed: int, stated: str | None) -> str:
    usable = [p for p in bank if "{wrong}" not in p] if stated is None else list(bank)
    if not usable:
        usable = list(bank)
    p = usable[int(stable_hash(seed, "journey-phrase", key), 16) % len(usable)]
    return p.replace("{wrong}", stated) if stated is not None else p.replace("{wrong}", "this")


@dataclass
class Draft:
    problem_id: str
    wrong: dict[str, Any]
    correct: dict[str, Any]
    wrong_part: str
    stated: str | None          # the answer the wrong part states (cut=conclusion)
    wrong_final: str | None     # the wrong trace's own final answer
    transition: str
    correct_reasoning: str
    final: str
    chain: str = ""
    content: str = ""
    drop: str | None = None


def draft(wrong: dict[str, Any], correct: dict[str, Any], cfg: JourneyConfig) -> Draft | str:
    """Assemble one journey chain from a wrong and a correct trace row (dicts with completion,
    reasoning, answer, language, id); a string is the name of the reason it cannot be built."""
    text = wrong_text(wrong)
    cw = cut_wrong(text, cut=cfg.cut, fraction=cfg.earlier_fraction)
    if cw is None:
        return "wrong_attempt_states_no_answer" if cfg.cut == "conclusion" else "wrong_attempt_no_cut_point"
    wrong_part, stated = cw
    lang = base_language(wrong.get("language"))
    bank = cfg.phrases.get(lang)
    if not bank:
        return f"no_reflection_phrase_for_language_{lang}"
    c_reasoning, c_final = split_trace(correct.get("completion") or "", correct.get("reasoning"), correct.get("answer"))
    if c_reasoning is None or c_final is None:
        return "correct_trace_has_no_final_answer"
    transition = choose_phrase(bank, key=f"{wrong['id']}|{correct['id']}", seed=cfg.seed, stated=stated)
    chain = f"{wrong_part}\n\n{transition}\n\n{c_reasoning.strip()}"
    d = Draft(problem_id=wrong["problem_id"], wrong=wrong, correct=correct, wrong_part=wrong_part, stated=stated,
              wrong_final=last_boxed(text), transition=transition, correct_reasoning=c_reasoning, final=c_final)
    set_chain(d, chain, cfg)
    return d


def set_chain(d: Draft, chain: str, cfg: JourneyConfig) -> None:
    d.chain = chain
    d.content = render_assistant(chain, d.final, fmt=cfg.fmt)


def validate(drafts: list[Draft], *, reference: dict[str, str], checker: AnswerChecker, cfg: JourneyConfig,
             rewritten: bool = False) -> None:
    """Set `d.drop` to the first failed check's name (None = valid). All verifier calls go in
    one batch. `reference` maps problem_id -> reference answer."""
    pairs: list[tuple[str, str | None]] = []
    slots: list[tuple[int, str]] = []
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
            # the rewrite may reword the transition: the first stated answer must still be wrong
            first = _first_boxed(reasoning)
            if cfg.cut == "conclusion":
                pairs.append((gold, first))
                slots.append((i, "wrong_part_answer"))
        else:
            k = reasoning.find(d.transition)
            wrong_part = reasoning[:k] if k >= 0 else None
            if wrong_part is None:
                d.drop = "transition_missing"
                continue
            if cfg.cut == "conclusion":
                pairs.append((gold, last_boxed(wrong_part)))
                slots.append((i, "wrong_part_answer"))
            else:
                if last_boxed(wrong_part) is not None:
                    d.drop = "earlier_cut_states_an_answer"
                    continue
                pairs.append((gold, d.wrong_final))
                slots.append((i, "wrong_part_answer"))
        pairs.append((gold, last_boxed(answer)))
        slots.append((i, "final_answer"))
    verdicts = checker.verdicts(pairs)
    for (i, what), v in zip(slots, verdicts):
        d = drafts[i]
        if d.drop is not None:
            continue
        if what == "wrong_part_answer" and v != "wrong":
            d.drop = f"wrong_part_answer_is_{v}"
        elif what == "final_answer" and v != "correct":
            d.drop = f"final_answer_is_{v}"


def _first_boxed(text: str) -> str | None:
    m = re.search(r"\\(?:boxed|fbox)\s*\{", text)
    if not m:
        return None
    return last_boxed(text[: _PARA.search(text, m.start()).start()] if _PARA.search(text, m.start()) else text)


def build(
    pairs: list[tuple[dict[str, Any], dict[str, Any]]],
    *,
    reference: dict[str, str],
    cfg: JourneyConfig,
    checker: AnswerChecker,
    rewrite: Rewrite | None = None,
) -> tuple[list[Draft], Counter]:
    """Draft, validate, optionally rewrite (and re-validate) journey samples. Returns the valid
    drafts (in input order) and a Counter of named drops."""
    drops: Counter = Counter()
    drafts: list[Draft] = []
    for w, c in pairs:
        d = draft(w, c, cfg)
        if isinstance(d, str):
            drops[d] += 1
        else:
            drafts.append(d)
    validate(drafts, reference=reference, checker=checker, cfg=cfg)
    for d in drafts:
        if d.drop:
            drops[d.drop] += 1
    kept = [d for d in drafts if d.drop is None]
    if rewrite is not None and kept:
        new = rewrite([d.chain for d in kept])
        if len(new) != len(kept):
            from factory.schemas.errors import FactoryError

            raise FactoryError(f"journey rewrite: expected {len(kept)} texts back, found {len(new)}")
        for d, text in zip(kept, new):
            if not text or not strip_tags(text):
                d.drop = "failed"
                continue
            set_chain(d, strip_tags(text), cfg)
        validate([d for d in kept if d.drop is None], reference=reference, checker=checker, cfg=cfg, rewritten=True)
        for d in kept:
            if d.drop:
                drops["rewrite_" + d.drop] += 1
        kept = [d for d in kept if d.drop is None]
    return kept, drops


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
    from factory.curate.sft import split_trace as _split
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
                _, after = _split(text, None, None)
                text = after or text
            out.append(text.strip())
        return out

    return rewrite
