"""Stable content-hash ids. An id is a prefix plus the first 16 hex digits of the sha256 of the
fields that define the row, joined with an ASCII unit separator (0x1f) so that ("ab","c") and
("a","bc") hash differently. 16 hex digits = 64 bits: the chance of any collision among 100M rows
is about n^2 / 2^65 = 1e16 / 3.7e19 ≈ 3e-4.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

_SEP = "\x1f"


def _update(h: Any, part: Any) -> None:
    if part is None:
        h.update(b"\x00")
    elif isinstance(part, str):
        h.update(part.encode("utf-8"))
    else:
        h.update(json.dumps(part, sort_keys=True, ensure_ascii=False).encode("utf-8"))


def stable_hash(*parts: Any, digits: int = 16) -> str:
    """Hex digest of the parts; non-strings are JSON-encoded with sorted keys."""
    h = hashlib.sha256()
    for i, part in enumerate(parts):
        if i:
            h.update(_SEP.encode())
        _update(h, part)
    return h.hexdigest()[:digits]


def seeded_hashes(parts: tuple[Any, ...], keys: list[str | None]) -> list[str]:
    """`stable_hash(*parts, key)` for every key, the same digests, with the shared prefix hashed
    once (a copied sha256 state per key: ~0.4 us instead of ~10 us, 170K candidates in 0.1 s)."""
    h = hashlib.sha256()
    for part in parts:
        _update(h, part)
        h.update(_SEP.encode())
    out = []
    for k in keys:
        c = h.copy()
        _update(c, k)
        out.append(c.hexdigest()[:16])
    return out


def problem_id(domain: str, problem: str, reference_answer: str | None = None, tests: dict | None = None) -> str:
    """Same statement, answer and tests in the same domain -> same id, whatever file it came
    from. The answer and tests are part of the identity because real sets repeat a statement
    with different tests (MBPP has 4 such pairs); exact-text dedup is the dedup stage's job."""
    return "p_" + stable_hash(domain, problem.strip(), reference_answer, tests)


def trace_id(problem_id: str, sample_index: int, teacher: str, completion: str) -> str:
    return "t_" + stable_hash(problem_id, int(sample_index), teacher, completion)


def sft_id(messages: list[dict[str, str]], kind: str) -> str:
    return "s_" + stable_hash([[m["role"], m["content"]] for m in messages], kind)
