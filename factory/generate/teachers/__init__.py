"""Teacher backends (one protocol: a batch of prompts + sampling parameters in, n completions
per prompt out) and teacher utilities such as the tiny random model for offline tests.
`make_teacher(opts)` builds the backend an options object names (each backend module, and its
heavy libraries, load only when chosen)."""

from __future__ import annotations

from typing import Any

from factory.schemas.errors import InputError


def make_teacher(opts: Any):
    """The backend object; cheap (models load / connections open on first generate)."""
    if opts.backend == "transformers":
        from factory.generate.teachers.hf import TransformersTeacher

        t = TransformersTeacher(opts.teacher, device=opts.device, dtype=opts.dtype, batch_size=opts.batch_size)
        # results are durable per forward batch (on_result), so a chunk can span many batches;
        # a bigger chunk lets the backend group prompts of similar length
        t.chunk_requests = max(1, 16 * opts.batch_size // opts.n)
        return t
    if opts.backend == "vllm":
        from factory.generate.teachers.vllm_backend import VllmTeacher

        return VllmTeacher(opts.teacher, tensor_parallel_size=opts.tensor_parallel_size, max_model_len=opts.max_model_len,
                           enable_prefix_caching=opts.enable_prefix_caching, dtype=opts.dtype,
                           gpu_memory_utilization=opts.gpu_memory_utilization)
    if opts.backend == "openai":
        from factory.generate.teachers.openai_backend import OpenAITeacher

        return OpenAITeacher(opts.teacher, base_url=opts.base_url or "", api_key_env=opts.api_key_env,
                             concurrency=opts.concurrency, rpm=opts.rpm, tpm=opts.tpm, timeout=opts.request_timeout,
                             max_retries=opts.max_retries)
    if opts.backend == "replay":
        from factory.generate.teachers.replay import ReplayTeacher

        return ReplayTeacher(opts.teacher)
    raise InputError(f"--backend: expected one of transformers, vllm, openai, replay; found {opts.backend!r}")
