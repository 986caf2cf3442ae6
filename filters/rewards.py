"""The verifiers and filters as reward functions for R1-Zero-style RL, with TRL's GRPO reward
signature `fn(completions, **kwargs) -> list[float | None]`.

`completions` are strings (standard format) or lists of message dicts (conversational format,
`[{"role": "assistant", "content": ...}]`); `kwargs` holds the dataset's other columns, one
value per completion (TRL repeats each prompt's row for its G generations), plus `prompts`,
`completion_ids` and the trainer's hooks.

- `accuracy_reward`: 1.0 / 0.0 from the factory's own verifiers, routed per row: a task row
  (`meta` holds `{"task": "countdown", ...}`) goes to the task's exact verifier
  (`factory.filters.tasks`), a code row with `tests` to the code sandbox
  (`factory.filters.code`, 1.0 when every test passes), any other row to the math cascade
  (`factory.filters.math`) against `solution` (TRL's convention) or `reference_answer`. A
  thought that never closed earns 0 (no committed answer). None where the reference itself is
  unusable (TRL leaves None out of the sum).
- `format_reward`: 1.0 when the completion passes `FormatFilter`'s structural rules (a closed,
  non-empty thought followed by an answer; for math rows the answer holds a `\\boxed{}` or is
  given in `<answer>…</answer>` tags, the R1-Zero/TinyZero template), else 0.0.
- `language_consistency_reward`: DeepSeek-R1's language-consistency reward: the share of the
  thought written in the target language (column `language`, default "en"), in [0, 1]; a
  thought too short to judge gets 1.0, an empty one 0.0.
- `length_reward`: Kimi k1.5's length penalty (arXiv 2501.12599, §2.3.3): within the G
  completions of one prompt, lambda = 0.5 - (len - min_len) / (max_len - min_len); a correct
  completion gets lambda, a wrong one min(0, lambda). It reuses the accuracy of the same batch.
- `overlong_reward(max_length, buffer)`: DAPO's soft overlong punishment (arXiv 2503.14476,
  eq. 13): 0 up to max_length - buffer tokens, then falling linearly to -1 at max_length.

`REWARDS` maps the short names used by `factory rl --rewards` to these; `reward_funcs(names)`
builds the list GRPOTrainer takes (each function named after its key, so TRL logs
`rewards/accuracy/mean`, `rewards/format/mean`, ...).

Use: `GRPOTrainer(..., reward_funcs=reward_funcs(["accuracy", "format", "language"]))`.
Exercise: `python -m pytest -q tests/test_rewards.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import polars as pl
from factory.filters.format import FormatFilter
from factory.filters.language import LanguageFilter
from factory.filters.tasks.answer import after_thought, answer_tag
from factory.filters.tasks.registry import check as check_task
from factory.filters.tasks.registry import spec_of

Completion = str | list[dict[str, Any]]
RewardFunc = Callable[..., list[float | None]]


def completion_text(completion: Completion) -> str:
    """The assistant's text: a string as is; for messages, the assistant contents joined."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        parts = [m.get("content") or "" for m in completion if isinstance(m, dict) and m.get("role", "assistant") == "assistant"]
        return "".join(p if isinstance(p, str) else "" for p in parts)
    raise TypeError(f"completion: expected a string or a list of message dicts, found {type(completion).__name__}")


def _column(kwargs: dict[str, Any], name: str, n: int, default: Any) -> list[Any]:
    values = kwargs.get(name)
    if values is None:
        return [default] * n
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        return [values] * n
    if len(values) != n:
        raise ValueError(f"reward kwarg '{name}': expected {n} values (one per completion), found {len(values)}")
    return [default if v is None else v for v in values]


# -- format ---------------------------------------------------------------------------------------

# no length bounds here: the trainer's max_completion_length (and the length rewards) own length.
_LENGTH_OFF = {"min_length_tokens": 0, "max_length_tokens": None}  # length is the length reward's job
_FORMAT = FormatFilter(require_stop=False, **_LENGTH_OFF)


def format_reward(completions: list[Completion], **kwargs: Any) -> list[float]:
    texts = [completion_text(c) for c in completions]
    n = len(texts)
    if n == 0:
        return []
    domains = _column(kwargs, "domain", n, "general")
    batch = pl.DataFrame(
        {
            "completion": texts,
            "reasoning": pl.Series([None] * n, dtype=pl.String),  # parsed from the raw tags
            "reasoning_finished": [True] * n,
            "answer": pl.Series([None] * n, dtype=pl.String),
            "finish_reason": ["stop"] * n,
            "completion_tokens": pl.Series([None] * n, dtype=pl.Int64),
            "domain": [str(d) for d in domains],
        }
    )
    verdicts = _FORMAT.score(batch).get_column("verdict_format").to_list()
    out = []
    for text, verdict in zip(texts, verdicts):
        if verdict == "no_boxed":
            # the R1-Zero / TinyZero template puts the answer in <answer> tags instead of a box
            part = after_thought(text)
            verdict = "ok" if part is not None and answer_tag(part) else verdict
        out.append(1.0 if verdict == "ok" else 0.0)
    return out


# -- language -------------------------------------------------------------------------------------

# The language filter itself (same segmenting and classifier as `factory filter`): it scores big
# batches on a process pool over all cores. The pool lives as long as the training run, so it
# pays its start-up (~1 s per worker) once; batches from ~200 KB of thought text use it.
_LANGUAGE = LanguageFilter(workers=None)
_LANGUAGE.parallel_min_chars = 200_000


def _thought(text: str) -> str:
    """The thought when there is one (tags removed); otherwise the whole completion."""
    head, sep, _ = text.partition("</think>")
    return head.replace("<think>", "") if sep else text


def language_consistency_reward(completions: list[Completion], **kwargs: Any) -> list[float]:
    texts = [completion_text(c) for c in completions]
    if not texts:
        return []
    thoughts = [_thought(t) for t in texts]
    langs = [str(x) for x in _column(kwargs, "language", len(texts), "en")]
    batch = pl.DataFrame({"reasoning": thoughts, "completion": texts, "language": langs})
    shares = _LANGUAGE.score(batch).get_column("score_language").to_list()
    # nothing long enough to judge: no language to penalise (an empty thought earns nothing)
    return [(1.0 if th.strip() else 0.0) if share is None else float(share) for th, share in zip(thoughts, shares)]


# -- accuracy -------------------------------------------------------------------------------------

# The last accuracy computed, keyed by the identity of the completions list: GRPOTrainer hands
# the SAME list object to every reward function of a batch, so `length_reward` reuses the
# verdicts instead of running the verifiers twice. The list is kept referenced so its id
# cannot be recycled by a later batch.
_LAST: dict[str, Any] = {"key": None, "rewards": None}
_KEY_COLUMNS = ("solution", "reference_answer", "meta", "domain", "tests")


def _batch_key(completions: list[Completion], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    return (completions, *(kwargs.get(c) for c in _KEY_COLUMNS))


def _same_batch(a: tuple[Any, ...] | None, b: tuple[Any, ...]) -> bool:
    return a is not None and len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _math_rewards(texts: list[str], golds: list[Any]) -> list[float | None]:
    try:
        from factory.filters.math.reward import accuracy_reward as math_accuracy_reward
    except ImportError as e:  # pragma: no cover - the math verifier ships with factory
        from factory.schemas.errors import NotBuiltYetError

        raise NotBuiltYetError(f"accuracy_reward needs the math verifier (factory.filters.math.reward): {e}") from None
    # An <answer>…</answer> after the thought (R1-Zero template) is the answer the model committed
    # to. A thought that never closed (cut off at the length limit) has no committed answer: 0,
    # even when a \boxed{} inside it happens to be right (else RL would pay for never finishing).
    out: list[float | None] = [0.0] * len(texts)
    idx, prepared, sub_golds = [], [], []
    for i, t in enumerate(texts):
        part = after_thought(t)
        if part is None:
            continue
        tagged = answer_tag(part)
        idx.append(i)
        prepared.append(f"</think>\n{tagged}" if tagged is not None else t)
        sub_golds.append(golds[i])
    for i, r in zip(idx, math_accuracy_reward(prepared, sub_golds) if idx else []):
        out[i] = r
    return out


def _code_rewards(texts: list[str], tests: list[Any]) -> list[float | None]:
    from factory.filters.code.filter import CodeVerifier

    answers = [after_thought(t) for t in texts]
    batch = pl.DataFrame({
        "domain": ["code"] * len(texts),
        "answer": pl.Series(["" if a is None else a for a in answers], dtype=pl.String),  # cut off: no code
        "completion": texts,
        "tests": tests,
    })
    verdicts = CodeVerifier().score(batch).get_column("verdict_code").to_list()
    return [None if v in ("bad_tests", "no_tests") else 1.0 if v == "pass" else 0.0 for v in verdicts]


def accuracy_reward(completions: list[Completion], **kwargs: Any) -> list[float | None]:
    """1.0 / 0.0 per completion from the factory's verifier for its row (task, code or math);
    None where the row's reference cannot be used."""
    key = _batch_key(completions, kwargs)
    if _same_batch(_LAST["key"], key) and len(_LAST["rewards"]) == len(completions):
        return list(_LAST["rewards"])
    texts = [completion_text(c) for c in completions]
    n = len(texts)
    metas = _column(kwargs, "meta", n, None)
    domains = _column(kwargs, "domain", n, None)
    tests = _column(kwargs, "tests", n, None)
    out: list[float | None] = [None] * n
    math_idx, code_idx = [], []
    for i in range(n):
        spec = spec_of(metas[i]) if isinstance(metas[i], str) else (metas[i] if isinstance(metas[i], dict) and metas[i].get("task") else None)
        if spec is not None:
            out[i] = 1.0 if check_task(texts[i], spec).correct else 0.0
        elif domains[i] == "code" and tests[i] is not None:
            code_idx.append(i)
        else:
            math_idx.append(i)
    if math_idx:
        gold_col = "solution" if "solution" in kwargs else "reference_answer" if "reference_answer" in kwargs else None
        if gold_col is None:
            raise ValueError("accuracy_reward: expected a `solution` or `reference_answer` column with one gold answer per "
                             "completion (math rows), a `meta` task spec (task rows) or `tests` (code rows)")
        golds = _column(kwargs, gold_col, n, None)
        for i, r in zip(math_idx, _math_rewards([texts[i] for i in math_idx], [golds[i] for i in math_idx])):
            out[i] = r
    if code_idx:
        for i, r in zip(code_idx, _code_rewards([texts[i] for i in code_idx], [tests[i] for i in code_idx])):
            out[i] = r
    _LAST.update(key=key, rewards=list(out))
    return out


# -- length ---------------------------------------------------------------------------------------


def _lengths(texts: list[str], completion_ids: Any) -> list[int]:
    if completion_ids is not None and len(completion_ids) == len(texts):
        return [len(ids) for ids in completion_ids]
    return [len(t) for t in texts]  # characters when token ids are not given


def length_reward(completions: list[Completion], **kwargs: Any) -> list[float | None]:
    """Kimi k1.5's length penalty within each prompt's group (see the module docstring)."""
    texts = [completion_text(c) for c in completions]
    n = len(texts)
    if n == 0:
        return []
    correct = accuracy_reward(completions, **kwargs)
    lengths = _lengths(texts, kwargs.get("completion_ids"))
    if "problem_id" in kwargs:
        keys = [str(k) for k in _column(kwargs, "problem_id", n, "")]
    elif kwargs.get("prompts") is not None:
        keys = [p if isinstance(p, str) else json.dumps(p, sort_keys=True) for p in kwargs["prompts"]]
    else:
        keys = [""] * n
    groups: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    out: list[float | None] = [0.0] * n
    for idx in groups.values():
        lo, hi = min(lengths[i] for i in idx), max(lengths[i] for i in idx)
        for i in idx:
            lam = 0.0 if hi == lo else 0.5 - (lengths[i] - lo) / (hi - lo)
            if correct[i] is None:
                out[i] = None
            else:
                out[i] = lam if correct[i] >= 1.0 else min(0.0, lam)
    return out


def overlong_reward(max_length: int, buffer: int) -> RewardFunc:
    """DAPO's soft overlong punishment for completions of up to `max_length` tokens."""
    if max_length < 1 or not 0 < buffer <= max_length:
        raise ValueError(f"overlong_reward: expected max_length >= 1 and 0 < buffer <= max_length, found {max_length}, {buffer}")
    start = max_length - buffer

    def overlong(completions: list[Completion], **kwargs: Any) -> list[float | None]:
        texts = [completion_text(c) for c in completions]
        out: list[float | None] = []
        for length in _lengths(texts, kwargs.get("completion_ids")):
            if length <= start:
                out.append(0.0)
            elif length <= max_length:
                out.append((start - length) / buffer)  # 0 at the buffer's start, -1 at max_length
            else:
                out.append(-1.0)
        return out

    return overlong


# -- registry -------------------------------------------------------------------------------------

REWARDS: dict[str, str] = {
    "accuracy": "the factory's verifier for the row: math cascade, code sandbox or task checker (1/0)",
    "format": "<think>…</think> then an answer (boxed or <answer> tags for math) (1/0)",
    "language": "DeepSeek-R1 language consistency: share of the thought in the target language",
    "length": "Kimi k1.5 length penalty within each prompt's group (uses accuracy)",
    "overlong": "DAPO soft overlong punishment (0 .. -1 in the last `overlong_buffer` tokens)",
}


def _named(fn: RewardFunc, name: str) -> RewardFunc:
    def reward(completions: list[Completion], **kwargs: Any) -> list[float | None]:
        return fn(completions, **kwargs)

    reward.__name__ = reward.__qualname__ = name  # TRL logs rewards/<__name__>/mean
    reward.__doc__ = fn.__doc__
    return reward


def reward_funcs(names: list[str], *, max_completion_length: int | None = None,
                 overlong_buffer: int | None = None) -> list[RewardFunc]:
    """The reward functions for `names` (keys of REWARDS), in order, each named after its key."""
    unknown = [n for n in names if n not in REWARDS]
    if unknown:
        raise ValueError(f"unknown reward(s) {unknown}: expected names from {sorted(REWARDS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"each reward may appear once, found {names}")
    out = []
    for name in names:
        if name == "overlong":
            if not max_completion_length:
                raise ValueError("the overlong reward needs max_completion_length")
            fn = overlong_reward(max_completion_length, overlong_buffer or max(1, max_completion_length // 4))
        else:
            fn = {"accuracy": accuracy_reward, "format": format_reward, "language": language_consistency_reward,
                  "length": length_reward}[name]
        out.append(_named(fn, name))
    return out
