"""The teacher protocol every backend implements: a batch of requests (one per problem, each
asking for some sample indices) plus sampling parameters in, one `Completion` per requested
sample out. Constructors are cheap (no model load, no network); a backend loads lazily on the
first `generate` call and frees its resources in `close()`.

Exercise: `factory generate --backend transformers --teacher DIR --problems P --out T`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from factory.generate.options import DEFAULT_MAX_TOKENS, GenerateOptions
from factory.schemas.errors import FactoryError
from factory.schemas.options import defaults

Backend = Literal["transformers", "vllm", "openai", "replay"]
BACKENDS: tuple[str, ...] = ("transformers", "vllm", "openai", "replay")


_OPTS = defaults(GenerateOptions)


class TeacherError(FactoryError):
    """The teacher cannot serve this run at all (bad credentials, unknown model, ...)."""


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling parameters shared by every request of a run (top_k None = disabled)."""

    # defaults from GenerateOptions, the one declaration of these settings
    temperature: float = _OPTS["temperature"]
    top_p: float = _OPTS["top_p"]
    max_tokens: int = DEFAULT_MAX_TOKENS
    n: int = _OPTS["n"]
    top_k: int | None = _OPTS["top_k"]
    seed: int | None = _OPTS["seed"]


def sampling_of(opts: GenerateOptions) -> SamplingConfig:
    """A run's sampling settings (its token budget: --max-tokens or the one the run derived)."""
    return SamplingConfig(temperature=opts.temperature, top_p=opts.top_p, max_tokens=opts.budget, n=opts.n,
                          top_k=opts.top_k, seed=opts.seed)


@dataclass
class Request:
    """One problem's prompt and the samples still wanted for it.

    `messages` is the chat (system?, user); `prefill` starts the assistant turn (e.g. "<think>\\n"
    for DeepSeek-R1) and is not part of the returned completion text. `seeds[i]` is the seed of
    sample `sample_indices[i]` (derived per (problem, sample), so it does not depend on batching).
    """

    key: str  # the problem id
    messages: list[dict[str, str]]
    sample_indices: list[int]
    seeds: list[int | None]
    prefill: str | None = None


@dataclass
class Completion:
    """One sample. `reasoning` is set only when the server returned it in a separate field.
    `error` is set (and finish_reason is "error") when the sample could not be produced."""

    text: str
    finish_reason: str = "unknown"  # stop | length | error | unknown
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning: str | None = None
    error: str | None = None
    teacher: str | None = None  # replay: the original teacher's name
    skip: str | None = None  # replay: no row to write, with the reason (counted, never silent)
    retries: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


OnResult = Callable[[int, int, Completion], None]  # (request index, position in sample_indices, completion)


class Teacher(Protocol):
    name: str
    backend: str
    # requests per generate() call the driver should send (None: all at once, the backend streams
    # results through on_result as they complete)
    chunk_requests: int | None
    gpus: int

    def generate(
        self, requests: list[Request], sampling: SamplingConfig, *, on_result: OnResult | None = None
    ) -> list[list[Completion]]: ...

    def close(self) -> None: ...


def sample_seed(run_seed: int | None, problem_id: str, sample_index: int) -> int | None:
    """Seed of one (problem, sample): a hash of the run seed and the key, so the same row gets the
    same seed whatever batch it lands in, and a resumed run draws the same samples. 31 bits so
    every backend (torch, vLLM, OpenAI `seed`) accepts it."""
    if run_seed is None:
        return None
    h = hashlib.sha256(f"{run_seed}\x1f{problem_id}\x1f{sample_index}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


def render_chat(tokenizer: Any, messages: list[dict[str, str]], prefill: str | None) -> str:
    """The prompt text exactly as a local model sees it: the tokenizer's chat template with the
    generation prompt, then the prefill (unless the template already opens the thought itself,
    as DeepSeek-R1's newer templates do)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if prefill and not text.endswith(prefill):
        text += prefill
    return text


def deliver(results: list[list[Completion]], on_result: OnResult | None) -> None:
    """Call on_result for every completion of a finished batch (backends without streaming)."""
    if on_result is None:
        return
    for i, comps in enumerate(results):
        for j, c in enumerate(comps):
            on_result(i, j, c)
