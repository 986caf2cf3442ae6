"""The half-written mark of a stage output. The stage runner writes `OUT/.factory-run.json`
before touching `OUT` and removes it after `OUT/stage.json` (see factory.io.record); while the
mark exists, `OUT` and its parts (`OUT/rejected`, `OUT/train`, ...) are half-written and every
reader refuses them — except the process writing them, which may read its own output back to
resume.

On an object store the runner uploads the same mark to `URL/.factory-run.json` before anything
else of the run and deletes it after `URL/stage.json`; factory.io.dataset's readers refuse a URL
(or its parent) that carries it, just as they refuse a local folder.

Exercise: kill `factory verify IN -o OUT` mid-run, then `factory inspect OUT/rejected`.
"""

from __future__ import annotations

import os
from pathlib import Path

PENDING = ".factory-run.json"

# output folders this process is writing right now
_WRITING: set[Path] = set()


def mark_writing(out: Path) -> None:
    _WRITING.add(Path(out).resolve())


def unmark_writing(out: Path) -> None:
    _WRITING.discard(Path(out).resolve())


def pending_owner(folder: str | os.PathLike[str]) -> Path | None:
    """The output folder whose unfinished run covers `folder` (itself or its parent), unless it
    is this process's own."""
    p = Path(folder)
    for cand in (p, p.parent):
        if (cand / PENDING).exists() and cand.resolve() not in _WRITING:
            return cand
    return None
