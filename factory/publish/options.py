"""The options of `factory publish` and `factory report`, declared once (the commands' flags
and the recipe sections `publish:` / `report:` are derived from these dataclasses).

There is no lineage option: the card and the report follow the stage records (`stage.json`)
from INPUT back to the sources (factory.publish.lineage).

publish writes a folder (`--out`, locked and recorded like every stage output; re-running it
with the same input and options is a no-op, so a dry run followed by an upload is a change of
`dry_run`: the second run says so and needs `--overwrite`, which rewrites the folder and uploads
only the files the Hub does not hold yet). report writes ONE self-contained .html file
(`OUTPUT_IS_FILE`: the runner neither locks nor records it; it is rewritten on every run, and a
file there that is not a factory report is kept unless `--overwrite`).

Exercise: `factory publish --help`, `factory report --help`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from factory.schemas.options import opt

_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_HUB = "Hub"


def repo_id_problem(repo_id: str) -> str | None:
    """`ORG/NAME`, each part letters, digits, '-', '_', '.', not starting or ending with '-'/'.',
    no '--' or '..', at most 96 characters (the Hub's rules); None when fine."""
    ok = re.fullmatch(rf"{_REPO_PART}/{_REPO_PART}", repo_id or "") and "--" not in repo_id and ".." not in repo_id
    if ok:
        return None
    return f"expected ORG/NAME (letters, digits, '-', '_', '.'; up to 96 characters each; no '--' or '..'), found {repo_id!r}"


@dataclass(kw_only=True)
class PublishOptions:
    """Write a Hub-ready folder (Parquet shards, README.md with the dataset card, report.html), then upload it."""

    input: str = opt(help="SFT output folder (train/, validation/) or any dataset folder.", role="input", argument=True)
    out: str = opt(help="Hub-ready folder to write (data/<config>/*.parquet, README.md, report.html).", role="output", short="-o")
    repo_id: str | None = opt(None, help="Hub dataset repo ORG/NAME (required unless --dry-run).", panel=_HUB)
    dry_run: bool = opt(False, help="Only write the folder; no network.", panel=_HUB)
    private: bool = opt(False, help="Create the repo as private (when it does not exist yet).", identity=False, panel=_HUB)
    revision: str | None = opt(None, help="Branch to publish to (created if missing).", panel=_HUB)
    config: str = opt("default", help="Config name: files go to data/<config>/.")
    max_shard_size: str = opt("500MB", help="Largest Parquet shard, e.g. 500MB, 1GB.")

    def cross_checks(self) -> list[tuple[str, str]]:
        from factory.publish.hub_layout import parse_size
        from factory.schemas.errors import FactoryError

        out = []
        if self.repo_id is None and not self.dry_run:
            out.append(("repo_id", "expected ORG/NAME (required unless it is a dry run), found nothing"))
        elif self.repo_id is not None and (p := repo_id_problem(self.repo_id)):
            out.append(("repo_id", p))
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.config):
            out.append(("config", f"expected letters, digits, '_', '-' or '.', found {self.config!r}"))
        try:
            parse_size(self.max_shard_size)
        except FactoryError:
            out.append(("max_shard_size", f"expected a size like 500MB, 1GB, 256MiB (at least 1KiB), found {self.max_shard_size!r}"))
        return out


@dataclass(kw_only=True)
class ReportOptions:
    """Write a self-contained HTML report (lineage, funnel, teachers, token lengths, mix, acceptance, language) of a dataset folder."""

    OUTPUT_IS_FILE: ClassVar[bool] = True

    input: str = opt(help="SFT output folder (train/, validation/) or any dataset folder.", role="input", argument=True)
    out: str = opt(help="HTML file to write (e.g. report.html).", role="output", short="-o")

    def cross_checks(self) -> list[tuple[str, str]]:
        if not self.out.lower().endswith((".html", ".htm")):
            return [("out", f"expected an .html file path, found {self.out!r}")]
        return []
