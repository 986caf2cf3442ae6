"""What `factory ingest` did beyond the row counts, so nothing happens silently: which input
columns no preset field took (kept in `meta` under their own names, or listed as not kept, with
why), and which domain each row was given when the preset infers it. Both the row path
(`factory.ingest.core`) and the batch path (`factory.ingest.fast`) apply the same two rules
here, row by row or column by column, and add their counts to one `RunReport`, which the
manifest's stats and the CLI's summary lines come from.

Exercise: `factory ingest mine.jsonl --preset problems --out problems/` (a file with a `topic`
column: "kept in meta: topic (3 rows)").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

ExtraColumns = Literal["scalars", "all", "none"]
EXTRA_COLUMNS: tuple[str, ...] = ("scalars", "all", "none")

# meta keys the trace builders and the driver write themselves: a column of the same name
# would be overwritten in trace rows, so it is never copied (and is reported as not kept)
RESERVED_META = frozenset({"format", "label_correct", "label_pred", "reward_score", "source_id",
                           "reference_answers", "reference_solutions"})

# meta keys that describe the problem alone: kept in problem rows, not copied into each trace
# (the Trace contract has no reference_solution either; `--to problem` writes them)
PROBLEM_ONLY_META = frozenset({"reference_solutions"})

# why a column was not kept (the report's wording)
WHY_TRACE = "read only for trace rows (this run makes problem rows)"
WHY_NONE = "extra_columns='none'"
WHY_NESTED = "a list or object (extra_columns='scalars'; keep it with --map meta.KEY=COLUMN)"
WHY_BINARY = "binary data"
WHY_TAKEN = "its name is already a meta key"


def extra_why(key: str, val: Any, meta: dict[str, Any], ignored: dict[str, str], mode: str) -> str | None:
    """None: copy `val` into meta[key]; else why the column is not kept. `val` is not None;
    `ignored`: columns the preset knows and leaves out on purpose, with why."""
    if key in ignored:
        return ignored[key]
    if mode == "none":
        return WHY_NONE
    if isinstance(val, (bytes, bytearray, memoryview)):
        return WHY_BINARY
    if mode == "scalars" and isinstance(val, (list, tuple, dict)):
        return WHY_NESTED
    if key in meta or key in RESERVED_META:
        return WHY_TAKEN
    return None


def ignored_columns(preset: Any, kind: str) -> dict[str, str]:
    """The columns a preset leaves out on purpose when making `kind` rows, with why: its own
    `ignores`, and when making problem rows the columns only its trace builder reads."""
    out = dict(preset.ignores)
    if kind == "problem":
        out.update({c: WHY_TRACE for c in preset.trace_columns if c not in out})
    return out


def add_extras(data: dict[str, Any], used: set[str], ignored: dict[str, str], mode: str,
               meta: dict[str, Any], counts: Counter) -> None:
    """Copy the columns of one input row that no field took into its meta (the rule above), and
    count per column: ("kept", col) or ("not_kept", col, why). Null values carry nothing."""
    for key, val in data.items():
        if val is None or key in used:
            continue
        why = extra_why(key, val, meta, ignored, mode)
        if why is None:
            meta[key] = val
            counts["kept", key] += 1
        else:
            counts["not_kept", key, why] += 1


# A generic preset (problems, think-traces, messages) gives each problem its domain from what the
# problem itself holds, never from one sample's completion, so every sample of a problem gets the
# same domain (and the same problem id): tests -> code; a reference answer, or `\boxed{` in the
# problem text or reference solution -> math; else the preset's default (general).
BOXED = "\\boxed{"


def infer_domain(default: str, problem: str, reference_answer: str | None, reference_solution: str | None,
                 tests: Any) -> str:
    if tests is not None:
        return "code"
    if reference_answer is not None or BOXED in problem or (reference_solution is not None and BOXED in reference_solution):
        return "math"
    return default


@dataclass
class RunReport:
    """Counts summed over the inputs of one run (JSON-safe through `to_json`)."""

    extras: Counter = field(default_factory=Counter)  # ("kept", col) / ("not_kept", col, why) -> input rows
    domains: Counter = field(default_factory=Counter)  # inferred domain -> rows written
    infer_inputs: list[str] = field(default_factory=list)  # inputs whose rows had their domain inferred

    def add(self, other: Counter) -> None:
        self.extras.update(other)

    def kept(self) -> dict[str, int]:
        return {k[1]: n for k, n in sorted(self.extras.items()) if k[0] == "kept"}

    def not_kept(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for k, n in sorted(self.extras.items()):
            if k[0] == "not_kept":
                entry = out.setdefault(k[1], {"rows": 0, "why": k[2]})
                entry["rows"] += n
                if entry["why"] != k[2]:
                    entry["why"] = f"{entry['why']}; {k[2]}"
        return out

    def to_json(self) -> dict[str, Any]:
        return {"columns_kept_in_meta": self.kept(), "columns_not_kept": self.not_kept(),
                "domains_inferred": dict(sorted(self.domains.items()))}

    def notes(self, kind: str) -> list[str]:
        """The lines the CLI prints after the counts table."""
        lines = []
        if self.domains:
            counts = ", ".join(f"{d} {n}" for d, n in sorted(self.domains.items(), key=lambda x: (-x[1], x[0])))
            lines.append(f"domain inferred (no --domain given): {counts} {kind} row(s); math = has a reference answer "
                         "or \\boxed{} in the problem/solution, code = has tests; pass --domain to set it")
        kept = self.kept()
        if kept:
            lines.append("kept in meta (columns no field took): " + ", ".join(f"{c} ({n} rows)" for c, n in kept.items()))
        for col, e in self.not_kept().items():
            lines.append(f"not kept: column {col!r} ({e['rows']} rows): {e['why']}")
        return lines


__all__ = ["EXTRA_COLUMNS", "ExtraColumns", "PROBLEM_ONLY_META", "RESERVED_META", "RunReport", "add_extras", "extra_why",
           "ignored_columns", "infer_domain"]
