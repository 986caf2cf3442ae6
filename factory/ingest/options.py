"""The options of `factory ingest`, declared once (its flags and the recipe's `ingest:` section
are derived from `IngestOptions`).

Exercise: `factory ingest --help`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from factory.schemas.options import opt

Domain = Literal["math", "code", "science", "puzzle", "general"]

_PRESET_HELP = (
    "Input format: gsm8k, math500, aime24, aime25, amc23, humaneval, mbpp, apps, skyt1-traces, qwen-traces, "
    "think-traces, messages, problems (generic). Guessed from the file name and columns when left out."
)


@dataclass(kw_only=True)
class IngestOptions:
    """Turn problem sets and existing trace sets (JSONL/JSON/Parquet/CSV files, `datasets`
    folders, hf:OWNER/NAME) into a factory dataset folder. Bad rows stop the run with file, line
    and field (--on-error fail) or go to OUT/rejected/rejects.jsonl (--on-error skip)."""

    PARTS: ClassVar[tuple[str, ...]] = ("rejected",)

    inputs: list[str] = opt(help="Files (.jsonl[.gz], .json, .parquet, .csv), datasets save_to_disk folders, or hf:OWNER/NAME[:CONFIG]:SPLIT.",
                            role="input", argument=True)
    out: str = opt(help="Output dataset folder.", role="output", short="-o")
    preset: str | None = opt(None, help=_PRESET_HELP, short="-p")
    to: Literal["problem", "trace"] | None = opt(None, help="Row kind to write (default: the preset's).")
    map: dict[str, str] = opt(default_factory=dict, help="DEST=COLUMN (repeatable), e.g. problem=question, reference_answer=answer, meta.url=link.", short="-m")
    on_error: Literal["fail", "skip"] = opt("fail", help="fail: stop at the first bad row; skip: send bad rows to OUT/rejected/rejects.jsonl.")
    limit: int | None = opt(None, help="Read at most N input rows (all inputs together).", ge=1)
    domain: Domain | None = opt(None, help="Domain of every row (overrides the preset's).")
    source: str | None = opt(None, help="Source name stored on every row.")
    license: str | None = opt(None, help="License stored on every row.")
    language: str | None = opt(None, help="Language code stored on every row (default en).")
    teacher: str | None = opt(None, help="Teacher name for trace rows (default: the file's model column, else 'unknown').")
    extra_columns: Literal["scalars", "all", "none"] = opt("scalars", help="Input columns no field takes: scalars: strings, numbers and booleans kept in meta, lists and objects listed as left out; all: lists and objects kept too; none: nothing kept. The report names every column either way.")
    infer_domain: bool = opt(True, help="Generic presets without --domain: a row with tests is code, one with a reference answer or \\boxed{} is math, else general (counts reported).")

    def cross_checks(self) -> list[tuple[str, str]]:
        from factory.ingest.presets import PRESETS, allowed_dests

        from factory.schemas.errors import InputError
        from factory.schemas.text import check_language_code

        out = []
        if self.language is not None:
            try:
                check_language_code(self.language)
            except InputError as e:
                out.append(("language", f"expected an ISO 639-1 code such as en, zh, fr, found {self.language!r} ({e.hint})"))
        if self.preset is not None and self.preset not in PRESETS:
            out.append(("preset", f"expected one of {', '.join(sorted(PRESETS))}, found {self.preset!r}"))
            return out
        if self.preset is not None and self.to == "trace" and PRESETS[self.preset].traces is None:
            out.append(("to", f"preset {self.preset!r} makes problem rows only, found to: trace"))
        if self.preset is not None:
            kind = self.to or PRESETS[self.preset].kind
            allowed = allowed_dests(PRESETS[self.preset], kind)
            for dst in self.map:
                if dst not in allowed and not (dst.startswith("meta.") and len(dst) > 5):
                    out.append(("map", f"expected a destination the preset {self.preset!r} reads ({', '.join(allowed)} or meta.KEY), found {dst!r}"))
        return out
