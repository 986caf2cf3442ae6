"""The options of `factory inspect`, declared once (its arguments and the recipe's `inspect:`
section are derived from `InspectOptions`).

Exercise: `factory inspect --help`.
"""

from __future__ import annotations

from dataclasses import dataclass

from factory.schemas.options import opt


@dataclass(kw_only=True)
class InspectOptions:
    """Show dataset folders' contract, counts, column summaries and a few rows (long text folded)."""

    path: list[str] = opt(default_factory=list, argument=True, role="input",
                          help="Dataset folders (default in a recipe: every folder the earlier stages wrote).")
    rows: int = opt(3, help="How many rows to print.", short="-n", ge=0)
    full_check: bool = opt(False, help="Also verify every shard's sha256 against the manifest.")
