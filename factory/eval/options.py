"""The options of `factory eval`, declared once (its flags and the recipe's `eval:` section are
derived from `EvalOptions`).

Exercise: `factory eval --help`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from factory.schemas.options import opt

Benchmark = Literal["math500", "aime24", "aime25", "amc23", "gsm8k", "humaneval", "mbpp"]


@dataclass(kw_only=True)
class EvalOptions:
    """Score a model: pass@1 (mean over n samples), pass@k and majority vote maj@n."""

    RESUMABLE: ClassVar[bool] = True

    model: str = opt(help="Model folder or Hub id (or the served name with --backend openai).", role="input", hub_ok=True)
    benchmarks: list[Benchmark] = opt(default_factory=lambda: ["math500"], help="Benchmarks (repeatable, or comma-separated).")
    out: str = opt("runs/eval", help="Folder for samples and eval.json.", role="output", short="-o")
    backend: Literal["transformers", "vllm", "openai"] = opt("transformers", help="Where the model runs.")
    n: int = opt(4, help="Samples per problem.", short="-n", ge=1)
    temperature: float = opt(0.6, help="Sampling temperature.", ge=0, le=5)
    top_p: float = opt(0.95, help="Nucleus sampling mass.", gt=0, le=1)
    max_tokens: int | None = opt(None, help="Generation budget per sample, checked against the model's context before any "
                                            "sampling (default: the context minus the longest prompt, at most 32768).", ge=1)
    seed: int = opt(0, help="Sampling seed.")
    limit: int | None = opt(None, help="Only the first N problems of each benchmark.", ge=1)
    prompt: str | None = opt(None, help="Prompt preset or .jinja file.")
    base_url: str | None = opt(None, help="OpenAI-compatible server URL (with --backend openai).", identity=False)
    max_model_len: int | None = opt(None, help="Context length (vllm; with --backend openai when the server does not report it).", ge=1)
    batch_size: int = opt(16, help="Sequences per forward batch (transformers).", ge=1, identity=False)
    workers: int | None = opt(None, help="Verifier worker processes (default: all cores).", ge=1, identity=False)
    sandbox: Literal["strict", "weak"] = opt("strict", help="How code samples are confined while judged (see `factory verify --help`).")
    note: str | None = opt(None, help="Printed with the results (e.g. what accuracy to expect).", identity=False, cli=False)
    extra: dict[str, Any] = opt(default_factory=dict, help="More `factory generate` options for the sampling run (Python API).", cli=False, recipe=False)

    def cross_checks(self) -> list[tuple[str, str]]:
        if self.backend == "openai" and not self.base_url:
            return [("base_url", "expected the server's URL with backend openai, found nothing")]
        return []
