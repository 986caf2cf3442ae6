"""SFT rows: split a trace into its chain of thought and its final answer, render the assistant
turn in the target's think format, build rows in the `sft` contract, split train/validation BY
PROBLEM, and summarise a mix (counts per domain/kind/difficulty, token-length percentiles).

Think formats (`curate.output.format`):
- `think`  (DeepSeek-R1): `<think>\\n{reasoning}\\n</think>\\n\\n{answer}`
- `sky-t1` (Sky-T1/SkyThought): `<|begin_of_thought|>\\n\\n{reasoning}\\n\\n<|end_of_thought|>\\n\\n`
  `<|begin_of_solution|>\\n\\n{answer}\\n\\n<|end_of_solution|>`
- `plain`: the answer only (non-reasoning sets)

Exercise: `factory curate --recipe journey --traces DIR --out OUT`.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
from collections import Counter
from itertools import accumulate, chain
from json.encoder import (
    encode_basestring as _json_str,  # the C escaper json.dumps(ensure_ascii=False) uses
)
from typing import Any, Literal

from factory.schemas.contracts import meta_json
from factory.schemas.ids import seeded_hashes, sft_id
from factory.schemas.text import approx_tokens, approx_tokens_expr, split_reasoning

Format = Literal["think", "sky-t1", "plain"]

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
SKY_BT, SKY_ET = "<|begin_of_thought|>", "<|end_of_thought|>"
SKY_BS, SKY_ES = "<|begin_of_solution|>", "<|end_of_solution|>"
ALL_TAGS = (THINK_OPEN, THINK_CLOSE, SKY_BT, SKY_ET, SKY_BS, SKY_ES)

# Sky-T1's own system prompt (NovaSky-AI/SkyThought, used to train Sky-T1-32B-Preview).
SKY_T1_SYSTEM_PROMPT = (
    "Your role as an assistant involves thoroughly exploring questions through a systematic long thinking "
    "process before providing the final precise and accurate solutions. This requires engaging in a "
    "comprehensive cycle of analysis, summarizing, exploration, reassessment, reflection, backtracing, and "
    "iteration to develop well-considered thinking process. Please structure your response into two main "
    "sections: Thought and Solution. In the Thought section, detail your reasoning process using the specified "
    "format: <|begin_of_thought|> {thought with steps separated with '\\n\\n'} <|end_of_thought|> Each step "
    "should include detailed considerations such as analisying questions, summarizing relevant findings, "
    "brainstorming new ideas, verifying the accuracy of the current steps, refining any errors, and revisiting "
    "previous steps. In the Solution section, based on various attempts, explorations, and reflections from "
    "the Thought section, systematically present the final solution that you deem correct. The solution should "
    "remain a logical, accurate, concise expression style and detail necessary step needed to reach the "
    "conclusion, formatted as follows: <|begin_of_solution|> {final formatted, precise, and clear solution} "
    "<|end_of_solution|> Now, try to solve the following question through the above guidelines:"
)


def strip_tags(text: str) -> str:
    if "<" not in text:  # no tag can be there (the common case: one scan instead of six replaces)
        return text.strip()
    for t in ALL_TAGS:
        text = text.replace(t, "")
    return text.strip()


def _between(text: str, a: str, b: str) -> str | None:
    i = text.find(a)
    if i < 0:
        return None
    j = text.find(b, i + len(a))
    return text[i + len(a): j if j >= 0 else len(text)]


_FENCE_RE = r"(?s)```[^\n]*\n.*?```"
_FENCE = re.compile(_FENCE_RE)
_PARA = re.compile(r"\n\s*\n")
# A stated final answer without a box ("The final answer is 12.", "**Final Answer:** ...",
# "答案是 13"): models that do not box (Gemma, many chat models) still conclude with one of these.
# Written in the regex dialect shared by Python `re` and polars (Rust regex) so the scan can
# test it on a whole column (`trace_facts_exprs`).
# Spelled out in the cases models write (a case-insensitive pattern scans 3x slower over 1M rows).
ANSWER_CUE = r"(?:[Ff]inal [Aa]nswer|FINAL ANSWER|[Tt]he answer is|[Aa]nswer\s*[:：]|ANSWER\s*[:：]|答案)"
_CUE = re.compile(ANSWER_CUE)
_BOX = r"\\(?:boxed|fbox)"


def _paragraph_start(text: str, pos: int) -> int:
    """Where the paragraph holding `pos` starts: just after the last blank line before it (the
    end of the last `_PARA` match in text[:pos]), found by walking back over the newlines."""
    j = text.rfind("\n", 0, pos)
    while j > 0:
        i = text.rfind("\n", 0, j)
        if i < 0:
            return 0
        if not text[i + 1: j].strip():
            return j + 1
        j = i
    return 0


def final_paragraph(text: str) -> str | None:
    """The final answer of a short output: its last paragraph that states a boxed answer (short
    math CoT ends with one), else its last fenced code block (a program), else everything from
    the last paragraph that states an answer in words ("The final answer is 12.", a
    "**Final Answer:**" heading and what follows it)."""
    pos = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if pos >= 0:
        # the paragraph around the last box: from the last blank line before it to the next one
        start = _paragraph_start(text, pos)
        end = _PARA.search(text, pos)
        return text[start: end.start() if end else len(text)].strip()
    if "```" in text:
        blocks = _FENCE.findall(text)
        if blocks:
            return blocks[-1].strip()
    cues = [m.start() for m in _CUE.finditer(text)]
    if not cues:
        return None
    tail = text[_paragraph_start(text, cues[-1]):].strip()
    return tail or None


def split_trace(completion: str, reasoning: str | None, answer: str | None) -> tuple[str | None, str | None]:
    """(chain of thought, final answer text) of a trace, whatever format it was written in.

    Follows the trace contract as ingest/generate fill it: `reasoning` = the thought block,
    `answer` = what follows it. A short CoT with no thought block (reasoning null) is all
    reasoning, and its answer is its last paragraph with a boxed answer. A thought that never
    reached an answer gives (None, None): there is nothing to teach as a final answer. When
    both fields are empty the raw completion is parsed (`<think>` or Sky-T1 tags)."""
    if reasoning is not None and reasoning.strip():
        if answer is None or not answer.strip():
            return None, None
        return strip_tags(reasoning), strip_tags(answer)
    if answer is not None and answer.strip():
        text = strip_tags(answer)
        fin = final_paragraph(text)
        if fin is None:
            return None, None
        # an output that is nothing but its final answer (a bare program) has no chain of thought
        return (None if fin == text.strip() else text), fin
    text = completion or ""
    if SKY_BT in text or SKY_BS in text or THINK_CLOSE in text:
        # the one tag parser (schemas.text.split_reasoning); a Sky-T1 thought must have closed
        thought, sol, finished = split_reasoning(text)
        if not finished or thought is None or not sol or ((SKY_BT in text or SKY_BS in text) and SKY_ET not in text):
            return None, None
        return thought, sol
    fin = final_paragraph(text)
    if fin is None:
        return None, None
    return text.strip(), fin


def trace_facts(completion: str | None, reasoning: str | None, answer: str | None) -> tuple[bool, int, int, int]:
    """(has a final answer, length estimate, thought tokens, solution-section tokens) of one
    trace: the Python twin of `trace_facts_exprs`, used for the rare rows whose text is only in
    the raw completion."""
    has_r = bool(reasoning and reasoning.strip())
    if has_r or answer and answer.strip():
        r, a = split_trace(completion or "", reasoning, answer)
        thought, sol = (approx_tokens(reasoning), approx_tokens(answer)) if has_r else (0, 0)
        return a is not None, approx_tokens(reasoning) + approx_tokens(answer), thought, sol
    r, a = split_trace(completion or "", None, None)
    raw = (completion or "").strip()
    if a is not None and r is not None and r != raw:  # a thought block, then a solution section
        return True, approx_tokens(completion), approx_tokens(r), approx_tokens(a)
    return a is not None, approx_tokens(completion), 0, 0


def trace_facts_exprs() -> dict[str, Any]:
    """Polars expressions for `split_trace`'s verdict on whole columns, so a scan of 1M traces
    never builds a Python string: `has_final` (the trace states a final answer), `est_tokens`
    (thought + answer length, ~4 characters per token), `reasoning_tokens` / `solution_tokens`
    (the thought block and the solution section after it; both 0 for an output without a thought
    block, whose only "solution" is its own final paragraph) and `needs_completion` (both fields
    empty: only the raw completion can tell; `trace_facts` settles those rows one by one).

    The same rules as `split_trace`: a thought with no answer after it has none; a short output
    (no thought) has one when it holds a box, a fenced code block or an answer cue."""
    import polars as pl

    return _facts(**dict(_fact_parts(pl.col("reasoning"), pl.col("answer"))))


def trace_facts_staged() -> tuple[list[Any], dict[str, Any]]:
    """`trace_facts_exprs` in two steps for a lazy query: the per-text parts as columns
    (`_hr`, `_ha`, ...: `lf.with_columns(parts)`), then the facts from those columns. Each text
    test then runs once per row: in one step the answer's tests ran in three facts each (1M
    traces: 1.9 -> 1.7 CPU seconds)."""
    import polars as pl

    parts = [e.alias(f"_{k}") for k, e in _fact_parts(pl.col("reasoning"), pl.col("answer"))]
    return parts, _facts(**{k: pl.col(f"_{k}") for k in ("hr", "ha", "sf", "rt", "at")})


def _fact_parts(r: Any, a: Any) -> list[tuple[str, Any]]:
    import polars as pl

    return [
        ("hr", r.str.contains(r"\S").fill_null(False)),  # a thought
        ("ha", a.str.contains(r"\S").fill_null(False)),  # an answer
        # box | fenced block | answer cue in ONE pattern: one pass over the text instead of three
        ("sf", a.str.contains(_BOX + r"|(?s:```[^\n]*\n.*?```)|" + ANSWER_CUE).fill_null(False)),
        ("rt", approx_tokens_expr(r).cast(pl.Int64)),
        ("at", approx_tokens_expr(a).cast(pl.Int64)),
    ]


def _facts(*, hr: Any, ha: Any, sf: Any, rt: Any, at: Any) -> dict[str, Any]:
    import polars as pl

    return {
        "has_final": pl.when(hr).then(ha).otherwise(ha & sf),
        "est_tokens": rt + at,
        "reasoning_tokens": pl.when(hr).then(rt).otherwise(0),
        "solution_tokens": pl.when(hr).then(at).otherwise(0),
        "needs_completion": ~hr & ~ha,
    }


def render_assistant(reasoning: str | None, answer: str, *, fmt: Format, empty_think: bool = True) -> str:
    """The assistant turn. reasoning None = a trivial prompt answered without a chain of thought:
    R1 keeps an empty think block (`empty_think`), so the model learns when not to think."""
    answer = answer.strip()
    if fmt == "plain":
        return answer
    if fmt == "think":
        if reasoning is None:
            return f"{THINK_OPEN}\n\n{THINK_CLOSE}\n\n{answer}" if empty_think else answer
        return f"{THINK_OPEN}\n{reasoning.strip()}\n{THINK_CLOSE}\n\n{answer}"
    if reasoning is None:
        body = f"{SKY_BT}\n\n{SKY_ET}\n\n" if empty_think else ""
        return f"{body}{SKY_BS}\n\n{answer}\n\n{SKY_ES}"
    return f"{SKY_BT}\n\n{reasoning.strip()}\n\n{SKY_ET}\n\n{SKY_BS}\n\n{answer}\n\n{SKY_ES}"


# What Python counts as whitespace (`str.strip`, `re`'s `\s`) and Rust (polars) does not: the
# separators U+001C-U+001F. A text holding one, or a `<` (a tag strip_tags would cut), is rendered in
# Python; elsewhere the two dialects agree character for character.
_PY_ONLY = r"[<\x1c-\x1f]"


def render_stages(reasoning: str, answer: str, *, fmt: Format, out: str = "_asst") -> list[list[Any]]:
    """`render_assistant(*split_trace("", reasoning, answer), fmt=fmt)` in polars, over the string
    columns `reasoning` and `answer`, for the rows polars renders byte for byte: the column `out`,
    null where Python must decide (a text with a tag or a U+001C-U+001F character, no answer, or
    a short output whose final answer is not a box or a fenced block: the answer-cue rule). The
    expressions come in stages, each a `with_columns` on the previous (a step's result is used
    several times: one expression tree would compute it again at each use); the helper columns
    (`_r_*`) are dropped by the caller.

    The rules, as split_trace and final_paragraph state them: a thought and an answer -> both
    stripped; an answer alone -> its text, and its final paragraph: the one around its last box
    (from just after the last blank line before the box to the first blank line after it), else
    its last fenced block; the text is no chain of thought when it IS that final answer."""
    import polars as pl

    r, a = pl.col(reasoning), pl.col(answer)
    c = {k: pl.col(f"_r_{k}") for k in ("t", "hr", "ok", "box", "after", "fence", "fin", "thought", "final")}
    stage1 = [a.str.strip_chars().alias("_r_t"), r.str.contains(r"\S").fill_null(False).alias("_r_hr"),
              (~(r.str.contains(_PY_ONLY).fill_null(False) | a.str.contains(_PY_ONLY).fill_null(False))
               & a.str.contains(r"\S").fill_null(False)).alias("_r_ok")]
    t = c["t"]
    # text after the last box word (greedy: the last one; no capture group, so the regex engine's
    # fast path); its first fenced block otherwise
    stage2 = [t.str.contains(_BOX).fill_null(False).alias("_r_box"),
              t.str.replace(r"(?s)^.*" + _BOX, "").alias("_r_after"),
              t.str.extract_all(_FENCE_RE).list.last().alias("_r_fence")]
    n, m = t.str.len_chars(), c["after"].str.len_chars()
    # where the last box starts, in characters: the text's length less what follows the box word
    # less the word's own length (`\boxed` 6, `\fbox` 5: the five characters before `after` say which)
    pos = n - m - pl.when(t.str.slice(n - m - 5, 5) == "boxed").then(6).otherwise(5)
    # text[:pos] minus everything up to its last blank line (`_paragraph_start`: a newline,
    # whitespace without a newline, a newline), then text[pos:] cut at its first blank line
    # (`_PARA.search(text, pos)`)
    head = t.str.head(pos).str.replace(r"(?s)^.*\n[^\S\n]*\n", "")
    tail = t.str.slice(pos).str.replace(r"(?s)\n\s*\n.*$", "")
    stage3 = [pl.when(c["box"]).then(pl.concat_str([head, tail]).str.strip_chars())
              .otherwise(c["fence"].str.strip_chars()).alias("_r_fin"),
              (c["ok"] & (c["hr"] | c["box"] | c["fence"].is_not_null())).alias("_r_ok")]
    stage4 = [pl.when(c["hr"]).then(r.str.strip_chars()).when(c["fin"] == t).then(None).otherwise(t).alias("_r_thought"),
              pl.when(c["hr"]).then(t).otherwise(c["fin"]).alias("_r_final")]
    thought, final = c["thought"], c["final"]
    if fmt == "plain":
        body = final
    elif fmt == "think":
        body = pl.when(thought.is_null()).then(pl.lit(f"{THINK_OPEN}\n\n{THINK_CLOSE}\n\n") + final).otherwise(
            pl.concat_str([pl.lit(f"{THINK_OPEN}\n"), thought, pl.lit(f"\n{THINK_CLOSE}\n\n"), final]))
    else:
        body = pl.concat_str([pl.when(thought.is_null()).then(pl.lit(f"{SKY_BT}\n\n{SKY_ET}\n\n")).otherwise(
            pl.concat_str([pl.lit(f"{SKY_BT}\n\n"), thought, pl.lit(f"\n\n{SKY_ET}\n\n")])),
            pl.lit(f"{SKY_BS}\n\n"), final, pl.lit(f"\n\n{SKY_ES}")])
    return [stage1, stage2, stage3, stage4, [pl.when(c["ok"]).then(body).otherwise(None).alias(out)]]


def json_expr(e: Any) -> Any:
    """`_json_str` of a string column, by polars' JSON writer (`json_strs`, as an expression)."""
    import polars as pl

    return pl.struct(e.alias("v")).struct.json_encode().str.slice(5).str.strip_suffix("}")


def id_bytes_expr(user: Any, assistant: Any, *, system: str | None, kind: str) -> Any:
    """The bytes `_pairs_id` hashes for (system, user, assistant) messages of one kind, as a
    polars Binary expression (null where user or assistant is): the caller's sha256 of each is
    the row's `sft_id` without a JSON escape per row in Python."""
    import polars as pl

    head = "[" + (f"[{_ROLES['system']}, {_json_str(system)}], " if system else "") + f"[{_ROLES['user']}, "
    return pl.when(user.is_not_null() & assistant.is_not_null()).then(pl.concat_str([
        pl.lit(head), json_expr(user), pl.lit(f"], [{_ROLES['assistant']}, "), json_expr(assistant),
        pl.lit("]]\x1f" + kind)])).cast(pl.Binary)


def parse_assistant(content: str, *, fmt: Format) -> tuple[str, str] | None:
    """Inverse of render_assistant for a well-formed turn: (reasoning, answer), or None when the
    blocks are missing, repeated, out of order or empty."""
    if fmt == "think":
        if content.count(THINK_OPEN) != 1 or content.count(THINK_CLOSE) != 1 or not content.startswith(THINK_OPEN):
            return None
        head, _, tail = content[len(THINK_OPEN):].partition(THINK_CLOSE)
        reasoning, answer = head.strip(), tail.strip()
    elif fmt == "sky-t1":
        if any(content.count(t) != 1 for t in (SKY_BT, SKY_ET, SKY_BS, SKY_ES)):
            return None
        if not (content.index(SKY_BT) < content.index(SKY_ET) < content.index(SKY_BS) < content.index(SKY_ES)):
            return None
        reasoning = (_between(content, SKY_BT, SKY_ET) or "").strip()
        answer = (_between(content, SKY_BS, SKY_ES) or "").strip()
    else:
        return ("", content.strip()) if content.strip() else None
    if not answer or any(t in reasoning or t in answer for t in ALL_TAGS):
        return None
    return reasoning, answer


def make_row(
    *,
    user: str,
    assistant: str,
    system: str | None,
    kind: str,
    domain: str,
    source: str,
    trace_ids: list[str],
    problem_id: str | None,
    language: str | None,
    license: str | None,
    meta: dict[str, Any] | None = None,
    repeat: int = 0,
) -> dict[str, Any]:
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    rid = fast_sft_id(messages, kind)
    if repeat:
        rid = f"{rid}_r{repeat}"  # an up-sampled copy: same content, distinct row id
    return {
        "id": rid, "messages": messages, "trace_ids": list(trace_ids), "problem_id": problem_id, "kind": kind,
        "domain": domain, "source": source, "language": language, "license": license, "meta": fast_meta_json(meta),
    }


_ROLES = {r: _json_str(r) for r in ("system", "user", "assistant")}


def fast_sft_id(messages: list[dict[str, str]], kind: str) -> str:
    """`factory.schemas.ids.sft_id`, the same digest: the same bytes are hashed (json.dumps of
    [[role, content], ...] with its default separators, then the unit separator, then the kind),
    built with json's own C string escaper instead of a json.dumps call per row (a 50K-row mix:
    0.5 s -> 0.25 s). tests/test_curate.py pins the equality on hostile strings."""
    return _pairs_id(tuple((m["role"], m["content"]) for m in messages), kind)


_META_KEYS: dict[tuple[Any, ...], tuple[tuple[str, str], ...] | None] = {}


def fast_meta_json(meta: dict[str, Any] | None) -> str | None:
    """`meta_json` for a small dict of strings (the common row meta), same text, no json.dumps
    call: the key order and the keys' JSON are worked out once per set of keys."""
    if not meta:
        return None
    keys = tuple(meta)
    order = _META_KEYS.get(keys, ())
    if order == ():
        order = _META_KEYS[keys] = (tuple((k, _json_str(k)) for k in sorted(keys))
                                    if all(isinstance(k, str) for k in keys) else None)
    if order is None:
        return meta_json(meta)
    items = []
    for k, kj in order:
        v = meta[k]
        if v is None:
            items.append(f"{kj}: null")
        elif isinstance(v, str):
            items.append(f"{kj}: {_json_str(v)}")
        else:
            return meta_json(meta)
    return "{" + ", ".join(items) + "}"


def _group(problem_id: str | None, row_id: str) -> str:
    return problem_id or row_id.split("_r")[0]


def validation_groups(groups: set[str], *, fraction: float, seed: int) -> set[str]:
    """The groups (problems) that go to validation: ordered by a seeded hash, the first
    round(fraction * groups) (at least 1 and at most all but 1 when there are several)."""
    if fraction <= 0:
        return set()
    names = list(groups)  # any order: the order below is by (hash, name)
    n_val = int(round(fraction * len(names)))
    if len(names) > 1:
        n_val = min(max(n_val, 1), len(names) - 1)
    # the n_val smallest (hash, name) pairs: `sorted(...)[:n_val]` without sorting all of them
    # (50K problems, 1% to validation: 0.07 -> 0.01 s)
    return {g for _, g in heapq.nsmallest(n_val, zip(seeded_hashes((seed, "split"), names), names))}


def split_by_problem(rows: list[dict[str, Any]], *, fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Train/validation split where every problem lands on one side only. Groups (problem_id, or
    the row id for rows without a problem) are ordered by a seeded hash and the first
    round(fraction * groups) go to validation, so the split is exact in groups and stable."""
    if fraction <= 0:
        return rows, []
    val_groups = validation_groups({_group(r["problem_id"], r["id"]) for r in rows}, fraction=fraction, seed=seed)
    train, val = [], []
    for r in rows:
        (val if _group(r["problem_id"], r["id"]) in val_groups else train).append(r)
    return train, val


def split_positions(pids: list[str | None], ids: list[str], *, fraction: float, seed: int,
                    known: tuple[set[str], set[str]] | None = None) -> tuple[list[int], list[int]]:
    """Positions of the train and validation rows among rows with these problem ids and row
    ids (`split_by_problem`'s rule: a row's group is its problem, else its own id). `known`:
    (groups, their validation groups) worked out before, used when the rows' groups are those."""
    keys = [_group(p, i) for p, i in zip(pids, ids)]
    groups = set(keys)
    val_groups = (known[1] if known is not None and known[0] == groups
                  else validation_groups(groups, fraction=fraction, seed=seed))
    train = [k for k, g in enumerate(keys) if g not in val_groups]
    val = [k for k, g in enumerate(keys) if g in val_groups]
    return train, val


_ROW_COLS = ("id", "trace_ids", "problem_id", "kind", "domain", "source", "language", "license", "meta")


class MixRows:
    """The mix's rows held column by column, in mix order, for 50K+ rows: a dict per row and
    pyarrow's row-wise conversion were a large share of curate's time at scale. Rows come in
    either as `make_row` dicts (`put_row`) or as fields (`put`, the shortcut path); `split`,
    `report` and `table` give what `split_by_problem`, `mix_report` and `pa.Table.from_pylist`
    give for the same rows (tests/test_curate.py pins the shards byte for byte)."""

    def __init__(self, n: int):
        self.cols: dict[str, list[Any]] = {c: [None] * n for c in _ROW_COLS}
        self.msgs: list[tuple[tuple[str, str], ...] | None] = [None] * n
        self.difficulty: list[Any] = [None] * n

    def __len__(self) -> int:
        return len(self.msgs)

    def put_row(self, pos: int, row: dict[str, Any], *, difficulty: Any = None) -> None:
        for c in _ROW_COLS:
            self.cols[c][pos] = row[c]
        self.msgs[pos] = tuple((m["role"], m["content"]) for m in row["messages"])
        self.difficulty[pos] = difficulty

    def put(self, pos: int, *, user: str, assistant: str, system: str | None, kind: str, domain: str, source: str,
            trace_ids: list[str], problem_id: str | None, language: str | None, license: str | None,
            meta: dict[str, Any] | None, repeat: int = 0, difficulty: Any = None) -> None:
        """`make_row`'s row, without building it as a dict."""
        msgs = ((("system", system),) if system else ()) + (("user", user), ("assistant", assistant))
        rid = _pairs_id(msgs, kind)
        c = self.cols
        c["id"][pos] = f"{rid}_r{repeat}" if repeat else rid
        c["trace_ids"][pos] = list(trace_ids)
        c["problem_id"][pos], c["kind"][pos], c["domain"][pos], c["source"][pos] = problem_id, kind, domain, source
        c["language"][pos], c["license"][pos], c["meta"][pos] = language, license, fast_meta_json(meta)
        self.msgs[pos] = msgs
        self.difficulty[pos] = difficulty

    def put_many(self, rows: list[tuple[Any, ...]], *, system: str | None, kind: str) -> None:
        """`put` for many rows of one kind and system prompt: rows of (pos, user, assistant, domain,
        source, trace_id, problem_id, language, license, teacher, difficulty, repeat, id_bytes), the
        shortcut path. Same columns as `put`, with the per-row work cut down (50K rows: ~0.9 -> ~0.4 s):
        the system turn's JSON and the kind's bytes once, the meta JSON once per (teacher, difficulty),
        no keyword call per row. `id_bytes` (or None) is what `_pairs_id` would hash for the row,
        built by polars (`id_bytes_expr`): then only the sha256 is left to do here; or, as a str,
        the row id itself (the text pass hashed it already: `ids_from_bytes`)."""
        c = self.cols
        ids, tids, pids, kinds, doms, srcs = c["id"], c["trace_ids"], c["problem_id"], c["kind"], c["domain"], c["source"]
        langs, lics, metas, msgs_c, diffs = c["language"], c["license"], c["meta"], self.msgs, self.difficulty
        sys_msgs = (("system", system),) if system else ()
        fast = isinstance(kind, str) and (not system or isinstance(system, str))
        # `_pairs_id`'s bytes: "[" + ", ".join(f"[{role}, {content}]") + "]", then \x1f and the kind
        head = "[" + "".join(f"[{_ROLES['system']}, {_json_str(system)}], " for _ in sys_msgs) if fast else ""
        tail = b"\x1f" + kind.encode("utf-8") if fast else b""
        sha256 = hashlib.sha256
        meta_of: dict[tuple[Any, Any], str | None] = {}
        last: tuple[Any, Any, str] | None = None
        hashed = fast  # id bytes from polars hold the same system turn and kind (core.py builds them so)
        fast = fast and all(isinstance(r[1], str) and isinstance(r[2], str) for r in rows if r[12] is None)
        # JSON-escape (by polars) only the rows polars has not already turned into id bytes
        todo = [i for i, r in enumerate(rows) if r[12] is None or not hashed] if fast else []
        users_json: list[str | None] = [None] * len(rows)
        answers_json: list[str | None] = [None] * len(rows)
        for i, uj, aj in zip(todo, json_strs([rows[i][1] for i in todo]), json_strs([rows[i][2] for i in todo])):
            users_json[i], answers_json[i] = uj, aj
        for (pos, user, assistant, dom, src, tid, pid, lang, lic, teacher, diff, rep, id_bytes), uj, aj in zip(
                rows, users_json, answers_json):
            msgs = sys_msgs + (("user", user), ("assistant", assistant))
            if last is not None and last[0] is user and last[1] is assistant:
                rid = last[2]  # an up-sampled copy of the row before: same messages, same digest
            elif id_bytes is not None and hashed:
                rid = id_bytes if isinstance(id_bytes, str) else "s_" + sha256(id_bytes).hexdigest()[:16]
            elif fast:
                rid = "s_" + sha256(f'{head}[{_ROLES["user"]}, {uj}], [{_ROLES["assistant"]}, {aj}]]'.encode()
                                    + tail).hexdigest()[:16]
            else:
                rid = _pairs_id(msgs, kind)
            last = (user, assistant, rid)
            key = (teacher, diff)
            meta = meta_of.get(key, False)
            if meta is False:
                meta = meta_of[key] = fast_meta_json({"teacher": teacher, "difficulty": diff})
            ids[pos] = f"{rid}_r{rep}" if rep else rid
            tids[pos] = [tid]
            pids[pos], kinds[pos], doms[pos], srcs[pos] = pid, kind, dom, src
            langs[pos], lics[pos], metas[pos] = lang, lic, meta
            msgs_c[pos] = msgs
            diffs[pos] = diff

    def split(self, *, fraction: float, seed: int,
              known: tuple[set[str], set[str]] | None = None) -> tuple[list[int], list[int]]:
        """Row positions of train and validation (`split_by_problem`'s rule). `known`: (groups,
        their validation groups) worked out before, used when the rows' groups are those."""
        return split_positions(self.cols["problem_id"], self.cols["id"], fraction=fraction, seed=seed, known=known)

    def report(self, idx: list[int]) -> dict[str, Any]:
        """`mix_report` of the rows at `idx`."""
        c = self.cols

        def count(values) -> dict[str, int]:
            return dict(sorted(Counter(values).items()))

        toks = [approx_tokens(self.msgs[i][-1][1]) for i in idx]
        kinds = [c["kind"][i] for i in idx]
        by_kind_tokens = {k: percentiles([t for t, kk in zip(toks, kinds) if kk == k]) for k in sorted(set(kinds))}
        return {
            "rows": len(idx),
            "by_domain": count(c["domain"][i] for i in idx),
            "by_kind": count(kinds),
            "by_source": count(c["source"][i] for i in idx),
            "by_difficulty": count(str(self.difficulty[i] or "unknown") for i in idx),
            "problems": len({c["problem_id"][i] for i in idx if c["problem_id"][i]}),
            "assistant_tokens_est": percentiles(toks),
            "assistant_tokens_est_by_kind": by_kind_tokens,
        }

    def table(self, idx: list[int]):
        """The rows at `idx` as an Arrow table in the `sft` contract."""
        import pyarrow as pa

        from factory.schemas.contracts import SFT_SCHEMA

        msgs = [self.msgs[i] for i in idx]
        offsets = list(accumulate(map(len, msgs), initial=0))  # type: ignore[arg-type]
        pairs = list(chain.from_iterable(msgs))  # type: ignore[arg-type]
        roles = [p[0] for p in pairs]
        contents = [p[1] for p in pairs]
        mtype = SFT_SCHEMA.field("messages").type
        messages = pa.ListArray.from_arrays(
            _arrow(offsets, pa.int32()),
            pa.StructArray.from_arrays([_arrow(roles, pa.string()), _arrow(contents, pa.string())],
                                       fields=list(mtype.value_type)))
        arrays = {c: _arrow([self.cols[c][i] for i in idx], SFT_SCHEMA.field(c).type) for c in _ROW_COLS}
        arrays["messages"] = messages
        return pa.Table.from_arrays([arrays[f.name] for f in SFT_SCHEMA], schema=SFT_SCHEMA)


def ids_from_bytes(values: list[bytes | None]) -> list[str | None]:
    """The sft ids of rows from the bytes `id_bytes_expr` built for them (None stays None)."""
    sha = hashlib.sha256
    return [None if b is None else "s_" + sha(b).hexdigest()[:16] for b in values]


def _arrow(values: list[Any], type: Any):
    """`pa.array(values, type)` for a list of str / int32 / list-of-str, built by polars: pa.array on a
    Python list imports pandas to ask whether the list is a pandas object (0.3-0.5 s once per
    process, an eighth of curating 1M traces), polars does not."""
    import polars as pl
    import pyarrow as pa

    if type == pa.list_(pa.string()) and all(v is not None for v in values):
        # flat values + offsets (polars converts a list of lists ~100x slower than a list of str)
        offsets = [0]
        flat: list[Any] = []
        for v in values:
            flat.extend(v)
            offsets.append(len(flat))
        return pa.ListArray.from_arrays(_arrow(offsets, pa.int32()), _arrow(flat, pa.string()))
    dtype = {pa.string(): pl.String, pa.int32(): pl.Int32}.get(type)
    if dtype is None:
        return pa.array(values, type)
    return pl.Series(values, dtype=dtype).to_arrow(compat_level=pl.CompatLevel.oldest()).cast(type)


def json_strs(values: list[str]) -> list[str]:
    """`[_json_str(v) for v in values]`, escaped by polars' JSON writer on its threads (50K strings of
    650 characters: 0.25 -> 0.11 s). Its escaper writes what Python's `ensure_ascii=False` one does,
    byte for byte: `"`, `\\`, \\b \\f \\n \\r \\t, other characters below U+0020 as \\u00xx, nothing
    else (checked on every code point). A string polars cannot hold (a lone surrogate) falls back
    to Python's escaper."""
    import polars as pl

    try:
        s = pl.Series("v", values, dtype=pl.String)
    except Exception:  # noqa: BLE001 - not valid UTF-8: Python's escaper handles what polars refuses
        return [_json_str(v) for v in values]
    # {"v":"..."} -> "..."
    return s.to_frame().select(pl.struct("v").struct.json_encode().str.slice(5).str.strip_suffix("}"))["v"].to_list()


def _pairs_id(msgs: tuple[tuple[str, str], ...], kind: str) -> str:
    """`fast_sft_id` for (role, content) pairs."""
    parts = []
    for role, content in msgs:
        if not (isinstance(role, str) and isinstance(content, str)):
            return sft_id([{"role": r, "content": c} for r, c in msgs], kind)
        parts.append(f"[{_ROLES.get(role) or _json_str(role)}, {_json_str(content)}]")
    h = hashlib.sha256(("[" + ", ".join(parts) + "]").encode("utf-8"))
    h.update(b"\x1f")
    h.update(kind.encode("utf-8"))
    return "s_" + h.hexdigest()[:16]


def percentiles(values: list[int], qs: tuple[int, ...] = (5, 25, 50, 75, 95, 100)) -> dict[str, int]:
    if not values:
        return {}
    s = sorted(values)
    out = {}
    for q in qs:
        # nearest-rank percentile: the smallest value with at least q% of values at or below it
        k = max(1, math.ceil(q / 100 * len(s)))
        out[f"p{q}"] = s[k - 1]
    return out


def mix_report(rows: list[dict[str, Any]], difficulty: dict[str, str | None]) -> dict[str, Any]:
    """Counts per domain/kind/difficulty/source and assistant-token percentiles (estimated)."""
    def count(key) -> dict[str, int]:
        return dict(sorted(Counter(key(r) for r in rows).items()))

    toks = [approx_tokens(r["messages"][-1]["content"]) for r in rows]
    by_kind_tokens = {}
    for kind in sorted({r["kind"] for r in rows}):
        by_kind_tokens[kind] = percentiles([t for t, r in zip(toks, rows) if r["kind"] == kind])
    return {
        "rows": len(rows),
        "by_domain": count(lambda r: r["domain"]),
        "by_kind": count(lambda r: r["kind"]),
        "by_source": count(lambda r: r["source"]),
        "by_difficulty": count(lambda r: str(difficulty.get(r["id"]) or "unknown")),
        "problems": len({r["problem_id"] for r in rows if r["problem_id"]}),
        "assistant_tokens_est": percentiles(toks),
        "assistant_tokens_est_by_kind": by_kind_tokens,
    }

