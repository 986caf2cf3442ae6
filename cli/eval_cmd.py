"""`factory eval --model DIR|ID --benchmarks math500,aime24,... -n 4 ...`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer


def eval_cmd(
    model: Annotated[str, typer.Option("--model", help="Model folder or Hub id (or the served name for openai).")],
    benchmarks: Annotated[str, typer.Option("--benchmarks", help="Comma list: math500,aime24,aime25,amc23,gsm8k,humaneval,mbpp")] = "math500",
    out: Annotated[Path, typer.Option("--out", help="Folder for samples and eval.json.")] = Path("runs/eval"),
    backend: Annotated[Literal["transformers", "vllm", "openai"], typer.Option("--backend")] = "transformers",
    n: Annotated[int, typer.Option("-n", help="Samples per problem.")] = 4,
    temperature: Annotated[float, typer.Option("--temperature")] = 0.6,
    top_p: Annotated[float, typer.Option("--top-p")] = 0.95,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Generation budget per sample.")] = 32768,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N problems of each benchmark.")] = None,
    prompt: Annotated[str | None, typer.Option("--prompt", help="Prompt preset or .jinja file.")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible server URL.")] = None,
    max_model_len: Annotated[int | None, typer.Option("--max-model-len", help="Context length (needed for --backend openai).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON record instead of the table.")] = False,
) -> None:
    """Score a model: pass@1 (mean over n samples), pass@k and majority vote maj@n."""
    import json

    from factory.cli.console import err
    from factory.cli.console import out as console

    from factory.eval.core import EvalOptions, results_table, run_eval

    record = run_eval(EvalOptions(model=model, benchmarks=benchmarks.split(","), out=out, backend=backend, n=n,
                                  temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed, limit=limit,
                                  prompt=prompt, base_url=base_url, max_model_len=max_model_len),
                      log=lambda m: err.print(m))
    if as_json:
        typer.echo(json.dumps(record, indent=2))
    else:
        console.print(results_table(record))
        console.print(f"written: {out / 'eval.json'}")
