"""Format and readability filters for chain-of-thought traces (DeepSeek-R1's rejection rules).

`FormatFilter` ("format") checks the shape of a completion: the thought (`<think>…</think>`, or
Sky-T1's `<|begin_of_thought|>…<|end_of_thought|>`) is present, closed and not nested or
repeated, the reasoning is not empty, an answer follows the thought, a math answer holds a
`\\boxed{}`, the generation stopped by itself (`finish_reason == "stop"`; `unknown`, what
ingested public traces carry, passes unless `accept_unknown_finish=False`), and the length is
within token bounds (`completion_tokens` when the backend reported it, else len(completion)/4:
English BPE tokenisers average ~4 characters per token). The Trace's `reasoning`/`answer`
columns (split by ingest/generate) are used when present; otherwise the raw tags are parsed.

`ReadabilityFilter` ("readability") checks the chain of thought is readable: no overly long
paragraphs (chars and words, separate knobs), no code blocks in math reasoning, and no
degenerate repetition — the loops a model falls into ("Alternatively, perhaps ... Alternatively,
perhaps ..."), measured two ways: the zlib compression ratio of the text (prose compresses about
3x, a loop 10x or more) and the share of word 10-grams that are repeats (hashed n-grams counted
with numpy). Thresholds were set from the shipped real traces (see tests/test_format_filter.py).

Every verdict names the first failing rule; every rule's raw measurement is a typed score
column, so thresholds (constructor keyword-only args) can be changed without re-scoring.

Exercise: `factory filter TRACES --out OUT --filters format,readability`.
"""

from __future__ import annotations

import zlib
from typing import ClassVar

import numpy as np
import polars as pl

_OPEN = r"<think>|<\|begin_of_thought\|>"
_CLOSE = r"</think>|<\|end_of_thought\|>"
_SOLUTION_TAGS = r"<\|(?:begin|end)_of_solution\|>"
CHARS_PER_TOKEN = 4  # English BPE average; only used when completion_tokens is missing


class FormatFilter:
    """Shape of a completion: thought closed, reasoning non-empty, answer, boxed, stopped, length."""

    name: ClassVar[str] = "format"
    columns: ClassVar[tuple[str, ...]] = (
        "completion", "reasoning", "reasoning_finished", "answer", "finish_reason", "completion_tokens", "domain",
    )
    # rule order = verdict priority (the first failing rule names the verdict)
    RULES: ClassVar[tuple[str, ...]] = (
        "not_stopped", "no_think", "unclosed_think", "malformed_think", "empty_reasoning", "no_answer", "no_boxed",
        "too_short", "too_long",
    )

    def __init__(
        self,
        *,
        require_think: bool = True,
        require_stop: bool = True,
        accept_unknown_finish: bool = True,
        require_boxed_for_math: bool = True,
        min_length_tokens: int = 1,
        max_length_tokens: int | None = 32768,
    ) -> None:
        if max_length_tokens is not None and max_length_tokens < min_length_tokens:
            raise ValueError(f"max_length_tokens ({max_length_tokens}) must be >= min_length_tokens ({min_length_tokens})")
        self.require_think = require_think
        self.require_stop = require_stop
        # public traces (ingested, replayed) often do not record why generation ended: `unknown`
        # passes the stop rule, and the structural rules (closed thought, answer) catch cut-offs
        self.accept_unknown_finish = accept_unknown_finish
        self.require_boxed_for_math = require_boxed_for_math
        self.min_length_tokens = min_length_tokens
        self.max_length_tokens = max_length_tokens

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        raw = pl.col("completion").fill_null("")
        n_open = raw.str.count_matches(_OPEN)
        n_close = raw.str.count_matches(_CLOSE)
        # parsed from the raw tags, for rows whose reasoning/answer columns were not split
        before_close = raw.str.extract(r"(?s)^(.*?)(?:" + _CLOSE + ")", 1)
        parsed_reasoning = before_close.str.replace(r"(?s)^.*?(?:" + _OPEN + ")", "")
        parsed_answer = raw.str.extract(r"(?s)(?:" + _CLOSE + r")(.*)$", 1)
        has_split = pl.col("reasoning").is_not_null()
        reasoning = pl.when(has_split).then(pl.col("reasoning")).otherwise(parsed_reasoning)
        answer = (
            pl.when(has_split | (n_close > 0))
            .then(pl.coalesce(pl.col("answer"), parsed_answer))
            .when(n_open == 0)
            .then(pl.coalesce(pl.col("answer"), raw))  # no thought at all: the completion is the answer
            .otherwise(pl.col("answer"))  # cut off inside the thought: no answer
            .fill_null("")
            .str.replace_all(_SOLUTION_TAGS, "")
            .str.strip_chars()
        )
        unfinished = (has_split & ~pl.col("reasoning_finished").fill_null(True)) | (~has_split & (n_open > n_close))
        think = (
            pl.when(unfinished)
            .then(pl.lit("unclosed"))
            .when(reasoning.is_null())
            .then(pl.lit("missing"))
            .when((n_open > 1) | (n_close > 1))
            .then(pl.lit("malformed"))  # two thoughts, or a stray tag inside the answer
            .when(reasoning.str.strip_chars().str.len_chars() == 0)
            .then(pl.lit("empty"))
            .otherwise(pl.lit("closed"))
        )
        tokens = pl.coalesce(
            pl.col("completion_tokens").cast(pl.Int64),
            (raw.str.len_chars() // CHARS_PER_TOKEN).cast(pl.Int64),
        )
        scores = batch.select(
            think.cast(pl.String).alias("score_format_think"),
            (answer.str.len_chars()).cast(pl.Int64).alias("score_format_answer_chars"),
            answer.str.contains(r"\\(?:boxed|fbox)\s*\{").alias("score_format_boxed"),
            (pl.col("domain") == "math").alias("score_format_is_math"),
            (pl.col("finish_reason") == "stop").fill_null(False).alias("score_format_stop"),
            pl.col("finish_reason").fill_null("unknown").cast(pl.String).alias("score_format_finish"),
            tokens.alias("score_format_tokens"),
        )
        return scores.with_columns(self._verdict().alias("verdict_format"))

    def _verdict(self) -> pl.Expr:
        think = pl.col("score_format_think")
        checks: list[tuple[str, pl.Expr]] = []
        if self.require_stop:
            stopped = pl.col("score_format_stop")
            if self.accept_unknown_finish:
                stopped = stopped | (pl.col("score_format_finish") == "unknown")
            checks.append(("not_stopped", ~stopped))
        if self.require_think:
            checks.append(("no_think", think == "missing"))
        checks += [
            ("unclosed_think", think == "unclosed"),
            ("malformed_think", think == "malformed"),
            ("empty_reasoning", think == "empty"),
            ("no_answer", pl.col("score_format_answer_chars") == 0),
        ]
        if self.require_boxed_for_math:
            checks.append(("no_boxed", pl.col("score_format_is_math") & ~pl.col("score_format_boxed")))
        checks.append(("too_short", pl.col("score_format_tokens") < self.min_length_tokens))
        if self.max_length_tokens is not None:
            checks.append(("too_long", pl.col("score_format_tokens") > self.max_length_tokens))
        expr = pl.when(checks[0][1]).then(pl.lit(checks[0][0]))
        for name, cond in checks[1:]:
            expr = expr.when(cond).then(pl.lit(name))
        return expr.otherwise(pl.lit("ok")).cast(pl.String)

    def keep(self, scores: pl.DataFrame) -> pl.Series:
        return scores.select((self._verdict() == "ok").alias("keep")).to_series()


# -- readability ---------------------------------------------------------------------------------

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def compression_ratio(text: str) -> float:
    """Raw UTF-8 bytes / zlib-compressed bytes. Prose ~2.5-3.5; a looping text climbs with
    every copy of the loop (25 copies of one passage compress to about one copy)."""
    data = text.encode("utf-8")
    if len(data) < 200:
        return 1.0  # too short to say anything; zlib's header dominates
    return len(data) / len(zlib.compress(data, 6))


def repeated_ngram_share(text: str, *, n: int = 10) -> tuple[float, int]:
    """(share of word n-grams that repeat an earlier one, count of the most repeated n-gram).

    Words are mapped to ids, n-grams hashed with a polynomial over uint64 in numpy (n vector
    passes), counted with np.unique. A healthy long CoT repeats a formula now and then (share
    ~0.05-0.2); a loop repeats whole passages (share > 0.5)."""
    words = text.split()
    if len(words) < 2 * n:
        return 0.0, 1 if words else 0
    vocab: dict[str, int] = {}
    ids = np.fromiter((vocab.setdefault(w, len(vocab) + 1) for w in words), dtype=np.uint64, count=len(words))
    m = len(words) - n + 1
    h = np.zeros(m, dtype=np.uint64)
    base = np.uint64(1_000_003)
    with np.errstate(over="ignore"):  # wrap-around multiplication is the hash
        for k in range(n):
            h = h * base + ids[k : k + m]
    _, counts = np.unique(h, return_counts=True)
    return float((m - len(counts)) / m), int(counts.max())


class ReadabilityFilter:
    """DeepSeek-R1's readability rules for a chain of thought."""

    name: ClassVar[str] = "readability"
    columns: ClassVar[tuple[str, ...]] = ("completion", "reasoning", "domain")

    def __init__(
        self,
        *,
        max_paragraph_chars: int = 4000,
        max_paragraph_words: int = 700,
        allow_code_in_math: bool = False,
        max_compression_ratio: float = 6.0,
        max_repeated_ngram_share: float = 0.5,
        ngram: int = 10,
    ) -> None:
        self.max_paragraph_chars = max_paragraph_chars
        self.max_paragraph_words = max_paragraph_words
        self.allow_code_in_math = allow_code_in_math
        self.max_compression_ratio = max_compression_ratio
        self.max_repeated_ngram_share = max_repeated_ngram_share
        self.ngram = ngram

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        thought = pl.coalesce("reasoning", "completion").fill_null("")
        paragraphs = thought.str.replace_all(r"\n[ \t]*\n", "\x00").str.split("\x00")
        base = batch.select(
            paragraphs.list.eval(pl.element().str.len_chars()).list.max().fill_null(0).cast(pl.Int64)
            .alias("score_readability_max_paragraph_chars"),
            paragraphs.list.eval(pl.element().str.count_matches(r"\S+")).list.max().fill_null(0).cast(pl.Int64)
            .alias("score_readability_max_paragraph_words"),
            (thought.str.count_matches(r"(?m)^\s*```") // 2 + thought.str.count_matches(r"(?m)^\s*```") % 2)
            .cast(pl.Int64).alias("score_readability_code_blocks"),
            (pl.col("domain") == "math").alias("score_readability_is_math"),
        )
        texts = batch.select(thought).to_series().to_list()
        ratios = [compression_ratio(t) for t in texts]
        reps = [repeated_ngram_share(t, n=self.ngram) for t in texts]
        scores = base.with_columns(
            pl.Series("score_readability_compression", ratios, dtype=pl.Float64),
            pl.Series("score_readability_repeated_ngrams", [r[0] for r in reps], dtype=pl.Float64),
            pl.Series("score_readability_top_ngram_count", [r[1] for r in reps], dtype=pl.Int64),
        )
        return scores.with_columns(self._verdict().alias("verdict_readability"))

    def _verdict(self) -> pl.Expr:
        checks: list[tuple[str, pl.Expr]] = [
            ("repetition", (pl.col("score_readability_compression") > self.max_compression_ratio)
             | (pl.col("score_readability_repeated_ngrams") > self.max_repeated_ngram_share)),
            ("long_paragraph", (pl.col("score_readability_max_paragraph_chars") > self.max_paragraph_chars)
             | (pl.col("score_readability_max_paragraph_words") > self.max_paragraph_words)),
        ]
        if not self.allow_code_in_math:
            checks.append(("code_in_math", pl.col("score_readability_is_math") & (pl.col("score_readability_code_blocks") > 0)))
        expr = pl.when(checks[0][1]).then(pl.lit(checks[0][0]))
        for name, cond in checks[1:]:
            expr = expr.when(cond).then(pl.lit(name))
        return expr.otherwise(pl.lit("ok")).cast(pl.String)

    def keep(self, scores: pl.DataFrame) -> pl.Series:
        return scores.select((self._verdict() == "ok").alias("keep")).to_series()
