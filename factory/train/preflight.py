"""Template preflight for `factory train`, run before any training step. It catches the most
common reasons a distilled student never stops or loses its think tags:

1. the chat template renders our `messages` with the assistant's `<think>` block intact;
2. it has `{% generation %}` markers for assistant-only loss — when missing we patch it with
   TRL's known-good training template for the family (Qwen, Llama, ...), else refuse with
   instructions (`--chat-template FILE`; a ChatML template with think support ships in
   factory/data/templates/chatml_think.jinja);
3. the end-of-turn token the template emits after an assistant turn is one that generation
   stops on (generation_config / tokenizer eos) and lies INSIDE the trained span;
4. tokenising and decoding a rendered sample round-trips.

Exercise: `factory train --data DIR --student MODEL --out DIR` (preflight runs first), or
`factory train --preflight-only ...`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from factory.data import DATA_DIR
from factory.schemas.errors import FactoryError

CHATML_THINK_TEMPLATE = DATA_DIR / "templates" / "chatml_think.jinja"


class TemplateError(FactoryError):
    """The student's chat template cannot train reasoning data safely."""


@dataclass
class PreflightReport:
    chat_template: str
    patched: bool
    eot_token: str
    stop_token_ids: list[int]
    trained_tokens: int
    notes: list[str] = field(default_factory=list)


def _stop_ids(tokenizer: Any, generation_config: Any | None) -> list[int]:
    ids: list[int] = []
    if generation_config is not None and getattr(generation_config, "eos_token_id", None) is not None:
        e = generation_config.eos_token_id
        ids.extend(e if isinstance(e, list) else [e])
    elif tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return ids


def preflight(
    tokenizer: Any,
    *,
    generation_config: Any | None = None,
    sample_messages: list[dict[str, str]] | None = None,
    chat_template: str | None = None,
) -> PreflightReport:
    """Check (and if needed patch) the template; raise TemplateError with instructions."""
    from trl.chat_template_utils import (
        get_training_chat_template,
        has_generation_markers,
    )

    notes: list[str] = []
    template = chat_template or tokenizer.chat_template
    how = (
        "pass --chat-template FILE with a template that renders assistant content verbatim inside "
        "{% generation %}...{% endgeneration %} and ends the turn with the eos token (a ChatML one ships: "
        f"{CHATML_THINK_TEMPLATE})"
    )
    if not template:
        raise TemplateError("the student's tokenizer has no chat template", hint=how)
    patched = False
    if not has_generation_markers(template):
        try:
            candidate = get_training_chat_template(tokenizer) if chat_template is None else None
        except Exception:  # unsupported family: TRL raises for templates it does not know
            candidate = None
        if candidate and has_generation_markers(candidate):
            template, patched = candidate, True
            notes.append("template had no {% generation %} markers: patched with TRL's training template for this family")
        else:
            raise TemplateError(
                "the chat template has no {% generation %} markers, so assistant-only loss cannot find the trained span",
                hint=how,
            )

    msgs = sample_messages or [
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "<think>\nTwo plus three is five.\n</think>\n\nThe answer is $\\boxed{5}$."},
    ]
    assistant = next((m["content"] for m in reversed(msgs) if m["role"] == "assistant"), None)
    if assistant is None or "<think>" not in assistant:
        raise TemplateError("preflight needs a sample whose assistant message holds a <think> block")
    rendered = tokenizer.apply_chat_template(msgs, tokenize=False, chat_template=template)
    if assistant not in rendered:
        think = assistant.split("</think>")[0] + "</think>"
        found = "dropped" if think not in rendered else "altered"
        raise TemplateError(
            f"the chat template does not keep the assistant's <think> block intact (it is {found}): "
            f"expected the assistant content verbatim, found {rendered[-200:]!r}",
            hint="templates that strip reasoning from assistant turns (e.g. Qwen3's for past turns) train students "
            "that never think; " + how,
        )

    enc = tokenizer.apply_chat_template(
        msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True, chat_template=template
    )
    ids, mask = list(enc["input_ids"]), list(enc["assistant_masks"])
    trained = [i for i, m in zip(ids, mask) if m]
    if not trained:
        raise TemplateError("the template's {% generation %} markers select no tokens", hint=how)
    stops = _stop_ids(tokenizer, generation_config)
    # What does the template emit right after the assistant content? Decode the trained span
    # minus the content: that remainder is the end-of-turn marker the student must learn.
    trained_text = tokenizer.decode(trained)
    tail_ids = _tokens_after_content(tokenizer, ids, rendered, assistant)
    eot_id = tail_ids[0] if tail_ids else None
    eot_tok = tokenizer.convert_ids_to_tokens(eot_id) if eot_id is not None else "<none>"
    if eot_id is None or eot_id not in stops:
        stop_names = [tokenizer.convert_ids_to_tokens(i) for i in stops]
        raise TemplateError(
            f"the end-of-turn token the template emits after an assistant turn ({eot_tok!r}) is not a token generation "
            f"stops on ({stop_names}): the student would never stop",
            hint="set the tokenizer's eos_token / generation_config.eos_token_id to the template's end-of-turn token, or "
            + how,
        )
    if eot_id not in trained or not trained_text.rstrip().endswith(tokenizer.convert_ids_to_tokens(eot_id)):
        raise TemplateError(
            f"the end-of-turn token {eot_tok!r} is outside the trained span (the {{% generation %}} block ends before it): "
            "the student would never learn to stop",
            hint="move the end-of-turn token inside {% generation %}...{% endgeneration %}; " + how,
        )
    round_trip = tokenizer.decode(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    if round_trip != rendered:
        raise TemplateError(
            "tokenising then decoding a rendered sample does not give it back "
            f"(first difference at char {_first_diff(round_trip, rendered)})",
            hint="the tokenizer normalises text (e.g. strips spaces or lowercases); use the student's own fast tokenizer",
        )
    return PreflightReport(template, patched, eot_tok, stops, len(trained), notes)


def _tokens_after_content(tokenizer: Any, ids: list[int], rendered: str, content: str) -> list[int]:
    """Token ids that follow the assistant content in the rendered sample."""
    end_char = rendered.rfind(content) + len(content)
    enc = tokenizer(rendered, add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for tid, (s, e) in zip(enc["input_ids"], enc["offset_mapping"]):
        if s >= end_char:
            out.append(tid)
    return out


def _first_diff(a: str, b: str) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))
