"""The splits of the folder being published: a dataset folder is one split (`train`); a folder
of dataset folders (curate's output: `train/`, `validation/`) is one split per sub-folder, in
the order train, validation, test, then by name. `rejected/` and `hub/` are never splits.

Exercise: `factory publish runs/quickstart/sft -o runs/quickstart/hub --dry-run`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from factory.io.dataset import MANIFEST, Manifest, read_manifest
from factory.schemas.errors import DatasetError

SPLIT_ORDER = ("train", "validation", "test")
# Sub-folders that hold rows a stage dropped, or what publish wrote: not a split of the set.
NOT_A_SPLIT = {"rejected", "hub"}


@dataclass
class Split:
    name: str
    path: Path
    manifest: Manifest


def find_splits(src: str | Path) -> list[Split]:
    src = Path(src)
    if not src.is_dir():
        raise DatasetError(f"{src}: no such dataset folder", hint="pass the folder a stage wrote (it holds manifest.json, or train/ and validation/)")
    if (src / MANIFEST).exists():
        return [Split("train", src, read_manifest(src))]
    subs = [p for p in sorted(src.iterdir()) if p.is_dir() and (p / MANIFEST).exists() and p.name not in NOT_A_SPLIT]
    if not subs:
        raise DatasetError(
            f"{src}: expected a dataset folder (manifest.json) or a folder of split folders (train/, validation/), found neither",
            hint="pass the output folder of `factory curate` or of another stage",
        )
    bad = [p.name for p in subs if not re.fullmatch(r"[A-Za-z0-9_]+", p.name)]
    if bad:
        raise DatasetError(f"{src}: split folder names must be letters, digits or _ (Hub split names), found {bad}")
    rank = {n: i for i, n in enumerate(SPLIT_ORDER)}
    subs.sort(key=lambda p: (rank.get(p.name, len(rank)), p.name))
    return [Split(p.name, p, read_manifest(p)) for p in subs]
