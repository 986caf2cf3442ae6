"""The completion budget of a generate run, settled BEFORE the first request: `--max-tokens`
is checked against the model's context, and when it is not given the budget is derived from the
context instead of a fixed number.

Where the context comes from, per backend:
- transformers: the checkpoint's config, `max_position_embeddings` (of the text config);
- vllm: `--max-model-len` when given, else the same config value (what vLLM itself defaults to);
- openai: the server's `/v1/models` entry for the model (`max_model_len`, which vLLM reports),
  else `--max-model-len`; when neither says, nothing can be checked up front and the first HTTP
  400 that names the context stops the run with one clear error (teachers/openai_backend.py).

Prompt lengths are exact where a tokenizer is at hand: the local model's, the server's
`/tokenize`, or (openai) the served model's own tokenizer when it is a local folder or a cached
Hub id. Otherwise they are estimated from the UTF-8 length: a byte-level tokenizer never makes
more tokens than bytes, so the estimate is an upper bound and a derived budget stays inside the
context (at the price of some budget; pass --max-tokens to use it all).

The derived budget is `min(context - longest prompt, 32768)`: the longest prompt still fits,
and 32768 is the budget DeepSeek-R1 reports for its own evaluations. It is recorded in the trace
rows (`sampling.max_tokens`) and in the manifest (`params.budget`).

Exercise: `factory generate --teacher DIR --problems P --out T` (no --max-tokens: the log says
which budget it derived and why).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from factory.generate.options import DEFAULT_MAX_TOKENS
from factory.generate.prompts import RenderedPrompt
from factory.schemas.errors import FactoryError, InputError


SERVER_COUNTED = 64  # prompts measured through the server's /tokenize (the longest by bytes)


class ContextError(FactoryError):
    """The requested budget does not fit the model's context."""


@dataclass(frozen=True)
class Budget:
    max_tokens: int  # what every request asks for
    derived: bool  # True when --max-tokens was not given
    context: int | None  # the model's context in tokens (None: unknown)
    context_source: str  # where `context` came from
    longest_prompt: int | None  # tokens of the longest prompt (chat template and prefill included)
    prompt_tokens: str  # "exact" | "estimate" | "unknown"

    def record(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        if self.context is None:
            return (f"max tokens {self.max_tokens}" + (" (default: the model's context is unknown; pass --max-tokens or "
                                                      "--max-model-len)" if self.derived else ""))
        how = "derived: context - longest prompt" + (f", capped at {DEFAULT_MAX_TOKENS}" if self.max_tokens == DEFAULT_MAX_TOKENS else "")
        return (f"max tokens {self.max_tokens}" + (f" ({how})" if self.derived else "")
                + f"; context {self.context} ({self.context_source}), longest prompt {self.longest_prompt} tokens"
                + (" (estimated)" if self.prompt_tokens == "estimate" else ""))


def estimate_tokens(messages: list[dict[str, str]]) -> int:
    # an upper bound: every token of a byte-level BPE covers at least one byte; +64 for the chat
    # template's markers and a default system prompt (Qwen's is ~20 tokens)
    return sum(len((m.get("content") or "").encode("utf-8")) for m in messages) + 64


def local_context(model: str, *, max_model_len: int | None = None, backend: str = "transformers") -> tuple[int | None, str, Any]:
    """(context, source, tokenizer) of a local or cached checkpoint, without loading its weights."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        cfg = AutoConfig.from_pretrained(model)
        tok = AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot load the teacher model's config and tokenizer: {e}", path=model,
                         hint="pass a local model folder, or a Hub id that is cached (HF_HUB_OFFLINE may be set)") from None
    limit = getattr(cfg.get_text_config(), "max_position_embeddings", None)
    if max_model_len and backend == "vllm":
        if limit and max_model_len > limit:
            raise ContextError(f"--max-model-len {max_model_len} is longer than the model's context of {limit} tokens "
                               "(config max_position_embeddings)", hint=f"pass --max-model-len {limit} or less")
        return max_model_len, "--max-model-len", tok
    return (int(limit) if limit else None), "config max_position_embeddings", tok


def _local_lengths(tok: Any, prompts: Sequence[RenderedPrompt], prefill: bool) -> list[int]:
    from factory.generate.teachers.base import render_chat

    if getattr(tok, "chat_template", None) is None:
        raise InputError("the teacher's tokenizer has no chat template", hint="use a chat/instruct model, or set tokenizer.chat_template")
    texts = [render_chat(tok, p.messages(), p.prefill if prefill else None) for p in prompts]
    lengths: list[int] = []
    for start in range(0, len(texts), 1024):  # batched: the fast tokenizer works in parallel
        lengths.extend(len(ids) for ids in tok(texts[start : start + 1024], add_special_tokens=False)["input_ids"])
    return lengths


def _served_lengths(teacher: Any, name: str, prompts: Sequence[RenderedPrompt]) -> int | None:
    """The longest prompt in tokens, exactly: the served model's own tokenizer when it is on this
    machine (a local folder or a cached Hub id), else the server's /tokenize; None when neither."""
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(name, local_files_only=True)
        if getattr(tok, "chat_template", None):
            return max(_local_lengths(tok, prompts, prefill=False))
    except Exception:  # not a model this machine has: ask the server
        pass
    # one request per prompt: only the longest by bytes (token counts follow byte counts closely)
    by_bytes = sorted(prompts, key=lambda p: -sum(len(m["content"].encode("utf-8")) for m in p.messages()))[:SERVER_COUNTED]
    counted = teacher.count_prompt_tokens([p.messages() for p in by_bytes])
    return max(counted) if counted else None


def plan_budget(opts: Any, prompts: Sequence[RenderedPrompt], *, prefill: bool, log: Callable[[str], None] = print) -> Budget:
    """Settle the budget for `prompts` (one per problem); raise ContextError when `--max-tokens`
    plus the longest prompt does not fit the model's context."""
    backend = opts.backend
    if backend == "replay" or not prompts:
        return Budget(opts.max_tokens or DEFAULT_MAX_TOKENS, opts.max_tokens is None, None, "not checked (replay)", None, "unknown")
    exact = True
    if backend in ("transformers", "vllm"):
        if backend == "vllm":
            from factory.generate.teachers.vllm_backend import require_vllm

            require_vllm()
        context, source, tok = local_context(opts.teacher, max_model_len=opts.max_model_len, backend=backend)
        longest = max(_local_lengths(tok, prompts, prefill))
    elif backend == "openai":
        from factory.generate.teachers import make_teacher

        teacher = make_teacher(opts)
        info = teacher.server_info()
        context, source = info.max_model_len, "the server's /v1/models max_model_len"
        if context is None and opts.max_model_len:
            context, source = opts.max_model_len, "--max-model-len"
        longest = _served_lengths(teacher, opts.teacher, prompts) if context else None
        if longest is None:
            exact = False
            longest = max(estimate_tokens(p.messages()) for p in prompts)
    else:
        raise InputError(f"--backend: expected one of transformers, vllm, openai, replay; found {backend!r}")

    if context is None:
        budget = opts.max_tokens or DEFAULT_MAX_TOKENS
        if opts.max_tokens is None:
            log(f"generate: the model's context is unknown ({'the server does not report it' if backend == 'openai' else 'not in its config'}): "
                f"max tokens {budget}; pass --max-tokens or --max-model-len to set it")
        return Budget(budget, opts.max_tokens is None, None, "unknown", longest, "exact" if exact else "estimate")
    room = context - longest
    if room < 1:
        raise ContextError(f"the longest prompt ({longest} tokens{'' if exact else ', estimated'}) fills the model's context of "
                           f"{context} tokens ({source}): no room to generate",
                           hint="use a model with a longer context, or drop the longest problems (--limit or a filter)")
    if opts.max_tokens is None:
        b = Budget(min(room, DEFAULT_MAX_TOKENS), True, context, source, longest, "exact" if exact else "estimate")
        log(f"generate: {b.describe()}")
        return b
    if opts.max_tokens + longest > context:
        what = (f"the longest prompt ({longest} tokens) plus --max-tokens {opts.max_tokens} exceeds the model's context of "
                f"{context} tokens ({source})")
        if exact or opts.max_tokens >= context:
            raise ContextError(what, hint=f"lower --max-tokens to at most {room}, or leave it out to use the context minus "
                                          "the longest prompt")
        log(f"generate: warning: {what} by an estimate of the prompt length; a refused request stops the run")
    return Budget(opts.max_tokens, False, context, source, longest, "exact" if exact else "estimate")
