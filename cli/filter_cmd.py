"""`factory filter IN --out OUT`: quality filters over a trace folder — format, readability and
language consistency by default (any registered filters with `--filters`). Kept rows go to OUT,
rejected rows with their `reject_reason` to OUT/rejected/, and the funnel (in -> out per filter
and per domain, first-rejection reasons) is printed and stored in OUT's manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer
from factory.cli.console import err, out

Executor = Literal["local", "ray"]


def parse_filter_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        from factory.schemas.errors import FactoryError

        raise FactoryError(f"--filters: expected comma-separated filter names, found {text!r}")
    return names


def run_and_print(
    *,
    input_dir: Path,
    out_dir: Path,
    names: list[str],
    options: dict[str, dict[str, Any]],
    executor: Executor,
    workers: int,
    batch_rows: int,
    overwrite: bool,
    command: str,
) -> None:
    """Shared by `factory filter` and `factory verify`: build the chain, run it, print the funnel."""
    from factory.schemas.errors import FactoryError

    from factory.score.runner import filter_specs, funnel_table, run_filters

    stray = [n for n in options if n not in names]
    if stray:
        raise FactoryError(
            f"options were given for filter(s) {stray}, which are not in --filters {','.join(names)}",
            hint="add them to --filters or drop those options",
        )
    # inside Ray each actor is one worker: its filters get one pool process each
    specs = filter_specs(names, options=options, common={"workers": workers if executor == "local" else 1})
    chain = [cls(**kw) for cls, kw in specs]
    params = {"options": options, "batch_rows": batch_rows}
    res = run_filters(
        input_dir, out_dir, filters=chain, executor=executor, batch_rows=batch_rows, overwrite=overwrite,
        command=command, params=params, actors=max(1, workers), cpus_per_actor=1.0, specs=specs,
        log=lambda s: err.print(s),
    )
    out.print(funnel_table(res.funnel, title=f"{command} funnel"))
    f = res.funnel
    out.print(f"wrote {f.rows_out} kept rows to {res.out}, {f.rows_in - f.rows_out} rejected rows to {res.rejected}"
              + (" (already done: nothing re-run)" if res.skipped else ""))


def _opts(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


def filter_command(
    input_dir: Annotated[Path, typer.Argument(help="Trace dataset folder.", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder (kept rows; rejected rows go to OUT/rejected/).")],
    filters: Annotated[str, typer.Option("--filters", help="Comma-separated filters, in chain order.")] = "format,readability,language",
    language: Annotated[Optional[str], typer.Option("--language", help="Target language for every row (default: each row's `language`).")] = None,
    language_threshold: Annotated[Optional[float], typer.Option("--language-threshold", help="Minimum share of the chain of thought in the target language (default 0.95).", min=0.0, max=1.0)] = None,
    max_foreign_runs: Annotated[Optional[int], typer.Option("--max-foreign-runs", help="Foreign-script words allowed inside the thought (default 0).", min=0)] = None,
    min_tokens: Annotated[Optional[int], typer.Option("--min-tokens", help="Shortest completion kept, in tokens (default 1).", min=0)] = None,
    max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", help="Longest completion kept, in tokens (default 32768).", min=1)] = None,
    think: Annotated[Literal["required", "optional"], typer.Option("--think", help="required: reject completions without a thought block.")] = "required",
    boxed: Annotated[Literal["required", "optional"], typer.Option("--boxed", help="required: math answers must hold \\boxed{}.")] = "required",
    finish: Annotated[Literal["stop-or-unknown", "stop"], typer.Option("--finish", help="Finish reasons kept: stop-or-unknown (public traces rarely record one) or stop only.")] = "stop-or-unknown",
    max_paragraph_chars: Annotated[Optional[int], typer.Option("--max-paragraph-chars", help="Longest paragraph of the thought, in characters (default 4000).", min=1)] = None,
    max_paragraph_words: Annotated[Optional[int], typer.Option("--max-paragraph-words", help="Longest paragraph of the thought, in words (default 700).", min=1)] = None,
    max_compression: Annotated[Optional[float], typer.Option("--max-compression", help="Highest zlib compression ratio of the thought before it counts as a loop (default 6).", min=1.0)] = None,
    max_repeated_ngrams: Annotated[Optional[float], typer.Option("--max-repeated-ngrams", help="Highest share of repeated word 10-grams (default 0.5).", min=0.0, max=1.0)] = None,
    executor: Annotated[Executor, typer.Option("--executor", help="local: this process; ray: Ray Data map_batches.")] = "local",
    workers: Annotated[int, typer.Option("--workers", help="Worker processes of filters that use them (local) or Ray actors (ray).", min=1)] = 1,
    batch_rows: Annotated[int, typer.Option("--batch-rows", help="Rows per scored batch.", min=1)] = 1000,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing dataset at --out.")] = False,
) -> None:
    """Format, readability and language-consistency filters over a trace folder."""
    names = parse_filter_names(filters)
    candidates = {
        "format": _opts(min_tokens=min_tokens, max_tokens=max_tokens,
                        require_think=None if think == "required" else False,
                        require_boxed_for_math=None if boxed == "required" else False,
                        accept_unknown_finish=None if finish == "stop-or-unknown" else False),
        "readability": _opts(max_paragraph_chars=max_paragraph_chars, max_paragraph_words=max_paragraph_words,
                             max_compression_ratio=max_compression, max_repeated_ngram_share=max_repeated_ngrams),
        "language": _opts(target=language, threshold=language_threshold, max_foreign_runs=max_foreign_runs),
    }
    options = {k: v for k, v in candidates.items() if v}
    run_and_print(input_dir=input_dir, out_dir=out_dir, names=names, options=options, executor=executor,
                  workers=workers, batch_rows=batch_rows, overwrite=overwrite, command="factory filter")
