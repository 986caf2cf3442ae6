"""`factory generate`: the teacher writes chain-of-thought traces (thin: parse, call core, print)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from factory.generate.teachers.base import BACKENDS


def generate_cmd(
    teacher: Annotated[str, typer.Option("--teacher", help="Model folder or Hub id (transformers/vllm), the served model "
                                                            "name (openai), or a trace folder (replay).")],
    problems: Annotated[Path, typer.Option("--problems", help="Problem dataset folder (from `factory ingest`).")],
    out: Annotated[Path, typer.Option("--out", help="Trace folder to write (re-run the same command to resume).")],
    backend: Annotated[str, typer.Option("--backend", help=f"One of {', '.join(BACKENDS)}.")] = "transformers",
    n: Annotated[int, typer.Option("-n", "--n", help="Samples per problem.")] = 4,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (0 = greedy).")] = 0.6,
    top_p: Annotated[float, typer.Option("--top-p", help="Nucleus sampling mass.")] = 0.95,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Top-k cut (default: off).")] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Completion token limit per sample.")] = 32768,
    seed: Annotated[int, typer.Option(help="Run seed; each (problem, sample) gets a seed derived from it.")] = 0,
    prompt: Annotated[str, typer.Option("--prompt", help="Preset (deepseek-r1, qwq, qwen, sky-t1) or a .jinja file.")] = "deepseek-r1",
    limit: Annotated[int | None, typer.Option(help="Use only the first N problems.")] = None,
    only: Annotated[str, typer.Option("--only", help="all | truncated | errors: regenerate just rows with "
                                                      "finish_reason length (or error), keeping the rest.")] = "all",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out instead of resuming it.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="transformers: sequences per forward batch.")] = 16,
    device: Annotated[str, typer.Option(help="transformers: auto | cpu | cuda.")] = "auto",
    dtype: Annotated[str, typer.Option(help="Model dtype (auto = the checkpoint's).")] = "auto",
    tensor_parallel_size: Annotated[int, typer.Option("--tensor-parallel-size", "--tp", help="vllm: GPUs per replica.")] = 1,
    max_model_len: Annotated[int | None, typer.Option("--max-model-len", help="vllm: context length.")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="openai: server URL, e.g. http://localhost:8000/v1.")] = None,
    api_key_env: Annotated[str, typer.Option("--api-key-env", help="openai: environment variable holding the API key.")] = "OPENAI_API_KEY",
    concurrency: Annotated[int, typer.Option(help="openai: requests in flight at most.")] = 32,
    rpm: Annotated[float | None, typer.Option(help="openai: requests per minute limit.")] = None,
    tpm: Annotated[float | None, typer.Option(help="openai: tokens per minute limit.")] = None,
    request_timeout: Annotated[float, typer.Option("--request-timeout", help="openai: seconds per request.")] = 600.0,
    max_retries: Annotated[int, typer.Option("--max-retries", help="openai: retries per request before an error row.")] = 6,
    executor: Annotated[str, typer.Option(help="local | ray (teacher replicas as a Ray Data actor pool).")] = "local",
    replicas: Annotated[int, typer.Option(help="ray: teacher replicas (one per GPU, or per node with --tp).")] = 1,
    price_per_gpu_hour: Annotated[float | None, typer.Option("--price-per-gpu-hour", help="USD, for the cost in the manifest.")] = None,
    price_per_million_tokens: Annotated[float | None, typer.Option("--price-per-million-tokens", help="USD per 1M prompt+completion tokens.")] = None,
    flush_rows: Annotated[int, typer.Option("--flush-rows", help="Make rows durable every K rows...")] = 256,
    flush_seconds: Annotated[float, typer.Option("--flush-seconds", help="...or every T seconds.")] = 60.0,
) -> None:
    """The teacher writes n chain-of-thought samples per problem into a Trace folder (resumable:
    re-running the same command skips every finished (problem, sample))."""
    from factory.cli.console import err
    from factory.cli.console import out as console
    from factory.schemas.errors import InputError

    from factory.generate.core import GenerateOptions, run_generate

    def choice(flag: str, value: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            raise InputError(f"{flag}: expected one of {', '.join(allowed)}, found {value!r}")
        return value

    opts = GenerateOptions(
        teacher=teacher, backend=choice("--backend", backend, BACKENDS), problems=str(problems), out=str(out), n=n,  # type: ignore[arg-type]
        temperature=temperature, top_p=top_p, top_k=top_k, max_tokens=max_tokens, seed=seed, prompt=prompt,
        limit=limit, only=choice("--only", only, ("all", "truncated", "errors")), overwrite=overwrite,  # type: ignore[arg-type]
        batch_size=batch_size, device=device, dtype=dtype, tensor_parallel_size=tensor_parallel_size,
        max_model_len=max_model_len, base_url=base_url, api_key_env=api_key_env, concurrency=concurrency, rpm=rpm,
        tpm=tpm, request_timeout=request_timeout, max_retries=max_retries,
        executor=choice("--executor", executor, ("local", "ray")), replicas=replicas,  # type: ignore[arg-type]
        price_per_gpu_hour=price_per_gpu_hour, price_per_million_tokens=price_per_million_tokens,
        flush_rows=flush_rows, flush_seconds=flush_seconds,
    )
    summary = run_generate(opts, log=lambda m: err.print(m, markup=False))
    console.print(f"[green]done:[/] {summary['rows']} trace rows in {out}")
