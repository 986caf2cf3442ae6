"""The options of `factory dedup` and `factory decontaminate`, declared once (the command's
flags and the recipe sections `dedup:` / `decontaminate:` are derived from these dataclasses).

Exercise: `factory dedup --help`, `factory decontaminate --help`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from factory.schemas.options import opt
from factory.schemas.sizes import parse_size

_PERF = "Performance"
MIN_MEMORY_BUDGET = 64 * 10**6  # 64MB


@dataclass(kw_only=True)
class DedupOptions:
    """Remove exact and near-duplicate problems (or traces) and report the clusters."""

    PARTS: ClassVar[tuple[str, ...]] = ("rejected",)

    input: str = opt(help="Problem or trace dataset folder.", role="input", argument=True)
    out: str = opt(help="Output folder (kept rows; removed rows go to OUT/rejected/).", role="output", short="-o")
    by: Literal["problem", "trace"] = opt("problem", help="problem: duplicate problem statements (traces of a removed problem go too); trace: duplicate trace texts.")
    method: Literal["exact", "minhash"] = opt("minhash", help="exact: normalised text only; minhash: exact + near duplicates.")
    threshold: float = opt(0.8, help="Jaccard similarity of word shingles above which texts are duplicates.", gt=0, lt=1)
    ngram: int = opt(5, help="Words per shingle.", ge=1)
    num_perm: int = opt(128, help="MinHash permutations.", ge=2, le=1024)
    bands: int = opt(0, help="LSH bands (with --rows; 0: chosen from --threshold).", ge=0)
    rows: int = opt(0, help="Signature rows per LSH band (with --bands).", ge=0)
    seed: int = opt(1, help="Seed of the MinHash permutations.")
    verify: Literal["jaccard", "none"] = opt("jaccard", help="jaccard: keep only candidate pairs whose estimated Jaccard reaches the threshold.")
    keep: Literal["most_correct", "smallest_id"] = opt("most_correct", help="Which member of a cluster stays: most verified-correct traces (ties: smallest id), or smallest id.")
    boilerplate: float = opt(0.01, help="Shingles in at least this fraction of distinct texts (a shared header) are left out of signatures; 0 = off.", ge=0, lt=1)
    family: Literal["answer+question", "answer", "none"] = opt(
        "answer+question", help="Near-duplicate problems that are different questions stay, marked with meta.family_id: "
        "answer+question: their reference answers differ, or they ask another question after a shared preamble; "
        "answer: only the first; none: every near-duplicate is removed (--by problem).")
    text_field: str | None = opt(None, help="Column holding the text (default: problem, or reasoning with --by trace).")
    memory_budget: str = opt("2GB", help="Memory budget (e.g. 2GB, 512MiB); LSH buckets and output partitions spill to disk beyond it.", identity=False, panel=_PERF)
    workers: int = opt(0, help="Fingerprint workers (0 = all cores).", ge=0, identity=False, panel=_PERF)
    pool: Literal["threads", "processes"] = opt("threads", help="Fingerprint workers: threads (no start-up cost) or spawned processes.", identity=False, panel=_PERF)
    executor: Literal["local", "ray"] = opt("local", help="local: this machine's cores; ray: Ray Data map_batches + groupby shuffle.", identity=False, panel=_PERF)

    def cross_checks(self) -> list[tuple[str, str]]:
        out = []
        if (self.bands or self.rows) and not (self.bands > 0 and self.rows > 0 and self.bands * self.rows <= self.num_perm):
            out.append(("bands", f"expected bands and rows both > 0 with bands*rows <= num_perm ({self.num_perm}), found {self.bands} x {self.rows}"))
        size = parse_size(self.memory_budget)
        if size is None:
            out.append(("memory_budget", f"expected a size like 2GB or 512MB, found {self.memory_budget!r}"))
        elif size < MIN_MEMORY_BUDGET:
            out.append(("memory_budget", f"expected at least 64MB, found {self.memory_budget!r}"))
        return out


@dataclass(kw_only=True)
class DecontamOptions:
    """Remove benchmark problems (reworded, renumbered or reformatted copies too) by n-gram overlap."""

    PARTS: ClassVar[tuple[str, ...]] = ("rejected",)

    input: str = opt(help="Problem or trace dataset folder.", role="input", argument=True)
    out: str = opt(help="Output folder (contaminated rows go to OUT/rejected/ with --action drop).", role="output", short="-o")
    ngram: int = opt(8, help="Words per n-gram (13 is the GPT-3 choice).", ge=2)
    action: Literal["drop", "flag"] = opt("drop", help="drop: move contaminated rows to rejected/; flag: keep them with verdict_decontam.")
    builtin: list[Literal["math500", "aime24", "aime25", "amc23", "gsm8k", "humaneval", "mbpp", "none"]] = opt(
        default_factory=lambda: ["math500", "aime24", "aime25", "amc23", "gsm8k", "humaneval", "mbpp"],
        help="Built-in benchmarks to check against (repeatable; default: all shipped ones; none: only --benchmark files).")
    benchmarks: list[str] = opt(default_factory=list, help="Extra benchmark NAME=PATH[:COLUMN] (.jsonl[.gz], .json, .parquet or a dataset folder); repeatable.", flag="--benchmark", short="-b")
    fields: list[str] = opt(default_factory=lambda: ["problem"], help="Text column(s) to check (add reasoning for traces); repeatable.", flag="--field")
    min_matches: int = opt(2, help="Distinct shared n-grams needed to call a row contaminated.", ge=1)
    common_items: int = opt(3, help="Skip n-grams found in this many benchmark items or more (boilerplate).", ge=2)
    min_overlap: float = opt(0.2, help="Shared n-grams must be at least this fraction of the shorter text's n-grams.", ge=0, le=1)
    min_content_words: int = opt(3, help="An n-gram counts only with at least this many content (non-stop) words.", ge=0)
    executor: Literal["local", "ray"] = opt("local", help="local: this machine; ray: match and write on Ray workers (the driver stays light).", identity=False, panel=_PERF)

    def cross_checks(self) -> list[tuple[str, str]]:
        out = []
        if "none" in self.builtin and len(self.builtin) > 1:
            out.append(("builtin", f"expected benchmark names or none alone, found {self.builtin}"))
        if not [b for b in self.builtin if b != "none"] and not self.benchmarks:
            out.append(("builtin", "expected at least one benchmark (a built-in one or --benchmark NAME=PATH), found none"))
        for b in self.benchmarks:
            name, sep, rest = b.partition("=")
            if not sep or not name or not rest:
                out.append(("benchmarks", f"expected NAME=PATH[:COLUMN], found {b!r}"))
        return out
