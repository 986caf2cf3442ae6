"""Sizes a user types (`--memory-budget 2GB`, `--max-shard-size 500MB`), read one way everywhere:
KB/MB/GB/TB are powers of 1000 and KiB/MiB/GiB/TiB powers of 1024 (the Hub's `max_shard_size`
convention), K/M/G/T alone are read as KB/MB/GB/TB, case does not matter, and a bare number is
a byte count.

Exercise: `factory dedup IN --out OUT --memory-budget 512MB`.
"""

from __future__ import annotations

import re

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12,
          "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str | int) -> int | None:
    """`500MB` -> 500_000_000, `1GiB` -> 1_073_741_824, `1.5g` -> 1_500_000_000, `2048` or 2048
    -> 2048; None when it is not a size (the caller names the option in its error)."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text if text >= 0 else None
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*", str(text).lower())
    if not m or m.group(2) not in _UNITS:
        return None
    return int(float(m.group(1)) * _UNITS[m.group(2)])
