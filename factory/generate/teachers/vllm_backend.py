"""The `vllm` teacher: vLLM's offline engine (`vllm.LLM`) on GPUs — tensor parallel, max model
length, prefix caching, and one seed per sample (each sample is its own request with n=1, so a
sample does not depend on what else is in the batch; prefix caching makes the repeated prompt
cheap). Prompts are rendered with the teacher tokenizer's chat template and passed as token ids
(so no second BOS is added). vLLM is an optional extra, imported on first use.

Exercise: `factory generate --backend vllm --teacher Qwen/QwQ-32B --tp 4 --problems P --out T`.
"""

from __future__ import annotations

from typing import Any

from factory.generate.teachers.base import (
    Completion,
    OnResult,
    Request,
    SamplingConfig,
    deliver,
    render_chat,
)
from factory.schemas.errors import MissingDependencyError


def require_vllm() -> None:
    """vLLM is an optional extra: say how to install it (before any other work of the run)."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        raise MissingDependencyError("vllm", extra="vllm", purpose="--backend vllm (needs CUDA GPUs)") from None


class VllmTeacher:
    backend = "vllm"

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        max_model_len: int | None = None,
        enable_prefix_caching: bool = True,
        dtype: str = "auto",
        gpu_memory_utilization: float = 0.9,
        trust_remote_code: bool = False,
        chunk_requests: int = 256,
    ) -> None:
        self.name = model
        self.tensor_parallel_size = tensor_parallel_size
        self.max_model_len = max_model_len
        self.enable_prefix_caching = enable_prefix_caching
        self.dtype = dtype
        self.gpu_memory_utilization = gpu_memory_utilization
        self.trust_remote_code = trust_remote_code
        # requests per generate() call: vLLM schedules inside it; durability is per call
        self.chunk_requests: int | None = chunk_requests
        self.gpus = tensor_parallel_size
        self._llm = None
        self._tok = None

    def _load(self) -> None:
        if self._llm is not None:
            return
        require_vllm()
        from vllm import LLM

        kwargs: dict[str, Any] = dict(
            model=self.name,
            tensor_parallel_size=self.tensor_parallel_size,
            enable_prefix_caching=self.enable_prefix_caching,
            dtype=self.dtype,
            gpu_memory_utilization=self.gpu_memory_utilization,
            trust_remote_code=self.trust_remote_code,
        )
        if self.max_model_len:
            kwargs["max_model_len"] = self.max_model_len
        self._llm = LLM(**kwargs)
        self._tok = self._llm.get_tokenizer()
        stop = set()
        for tid in (self._tok.eos_token_id, self._tok.convert_tokens_to_ids("<|im_end|>")):
            if isinstance(tid, int) and tid >= 0 and tid != getattr(self._tok, "unk_token_id", None):
                stop.add(tid)
        self._stop_ids = sorted(stop)

    def render(self, request: Request) -> list[int]:
        text = render_chat(self._tok, request.messages, request.prefill)
        return self._tok(text, add_special_tokens=False)["input_ids"]

    def generate(self, requests: list[Request], sampling: SamplingConfig, *,
                 on_result: OnResult | None = None) -> list[list[Completion]]:
        self._load()
        from vllm import SamplingParams

        prompts, params, where = [], [], []
        for i, r in enumerate(requests):
            ids = self.render(r)
            for j, seed in enumerate(r.seeds):
                kw: dict[str, Any] = dict(n=1, temperature=sampling.temperature, top_p=sampling.top_p,
                                          max_tokens=sampling.max_tokens, seed=seed, stop_token_ids=self._stop_ids,
                                          skip_special_tokens=False)
                if sampling.top_k:
                    kw["top_k"] = sampling.top_k
                prompts.append({"prompt_token_ids": ids})
                params.append(SamplingParams(**kw))
                where.append((i, j))
        outs = self._llm.generate(prompts, params, use_tqdm=False)
        results: list[list[Completion | None]] = [[None] * len(r.sample_indices) for r in requests]
        for (i, j), o in zip(where, outs):
            c = o.outputs[0]
            finish = c.finish_reason if c.finish_reason in ("stop", "length") else "unknown"
            results[i][j] = Completion(text=c.text, finish_reason=finish, prompt_tokens=len(o.prompt_token_ids or []),
                                       completion_tokens=len(c.token_ids))
        deliver(results, on_result)  # type: ignore[arg-type]
        return results  # type: ignore[return-value]

    def close(self) -> None:
        self._llm = None
        self._tok = None
