"""Run one stage: the same path for `factory <stage> ...` and for a recipe's stage section.

`run_stage(kind, opts, ctx)` is the only place that decides whether work is needed:

1. the run's key is computed: the stage, its options that change the output, and the content
   fingerprint of every input (factory.io.record);
2. the output folder and its parts are locked (one writer per folder, factory.io.lock);
3. the output's record decides:
   - a finished run with the same key -> nothing to do, the recorded summary is returned and
     the log says "up to date";
   - an unfinished run (killed) with the same key -> the stage resumes where it can and
     restarts where it cannot (`ctx.mode == "resume"`), without `--overwrite`;
   - anything else already there (another key, or data no stage run made) -> refused, naming
     what changed, until `--overwrite` is given (`ctx.mode == "overwrite"`);
4. the pending mark is written, the stage runs, the record is written, the mark is removed:
   the output (all its parts) is complete only from that moment.

Stages that resume mid-run (keep finished work after a kill): generate (finished shards),
train (checkpoints), eval (per-sample cache through generate). verify, filter, dedup,
decontaminate, curate and ingest restart a killed run from the beginning (their outputs are
written in one pass and are cheap next to generation).

Exercise: `factory dedup IN -o OUT` twice; then with `--threshold 0.9` (refused), then with
`--overwrite`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from factory.io import record as rec
from factory.io.lock import folder_locks
from factory.schemas.errors import DatasetError
from factory.schemas.options import as_dict, options_of, paths

Mode = Literal["create", "overwrite", "resume"]


@dataclass
class StageContext:
    """What a stage's `run(opts, ctx)` gets besides its options."""

    stage: str = ""  # the entry name: `dedup`, or `ingest/traces` in a recipe
    seed: int | None = None  # the recipe's seed (stages default their own seed to it)
    overwrite: bool = False
    mode: Mode = "create"  # decided by run_stage
    log: Callable[[str], None] = print
    progress: bool = True  # progress bars (a terminal run) or plain log lines (recipes, tests)
    command: str = ""  # recorded in manifests and the stage record
    run_dir: Path | None = None  # the recipe's run folder (None on the command line)
    summaries: dict[str, Any] = field(default_factory=dict)  # earlier stages' summaries (recipes)
    recipe_name: str = ""

    def path(self, p: str | Path) -> Path:
        """A path as a stage option means it: `@data/...` is data shipped in the package; a
        relative path is relative to the recipe's run folder (or the working directory)."""
        return resolve_path(p, self.run_dir or Path.cwd())


def resolve_path(p: str | Path, base: Path) -> Path:
    from factory.data import DATA_DIR

    s = str(p)
    if s.startswith("@data/"):
        return DATA_DIR / s[len("@data/"):]
    q = Path(s).expanduser()
    return q if q.is_absolute() else base / q


def output_folder(opts: Any) -> Path | None:
    outs = paths(opts, "output")
    return Path(outs[0][1]) if outs else None


def _rel(p: str, out: Path) -> str:
    """How the record names an input: relative to the output folder (a moved run folder still
    resolves; no absolute path of this machine is recorded), or as given when remote."""
    if rec.is_remote(p) or p.startswith("hf:") or not Path(p).exists():
        return p  # a Hub id, a served model name, a URL
    try:
        return os.path.relpath(Path(p).resolve(), out.resolve())
    except ValueError:
        return p


def run_key(kind: str, opts: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(key, inputs): the key decides resume; the inputs (with paths) go to the record."""
    inputs = [{"option": name, "path": p, "fingerprint": rec.fingerprint(p)} for name, p in paths(opts, "input")]
    key = {"stage": kind, "options": as_dict(opts, identity_only=True),
           "inputs": [{"option": i["option"], "fingerprint": i["fingerprint"]} for i in inputs]}
    return _jsonable(key), inputs


def _jsonable(x: Any) -> Any:
    import json

    return json.loads(json.dumps(x, default=str))


def _recorded_options(opts: Any, out: Path) -> dict[str, Any]:
    """Every option (secrets left out), folder paths made relative to the output folder."""
    values = _jsonable(as_dict(opts))
    for o in options_of(type(opts)):
        if o.role in ("input", "output") and o.name in values:
            v = values[o.name]
            values[o.name] = [_rel(x, out) for x in v] if isinstance(v, list) else _rel(v, out) if isinstance(v, str) else v
    return values


def _has_content(out: Path) -> bool:
    """Anything but our own lock files (parts' folders count only when they hold something)."""
    if not out.is_dir():
        return False
    for p in out.iterdir():
        if p.name.startswith(".factory"):
            continue
        if not p.is_dir() or _has_content(p):
            return True
    return False


def decide(kind: str, out: Path, key: dict[str, Any], *, overwrite: bool) -> tuple[Mode | None, dict[str, Any] | None]:
    """(mode, finished record): mode None means "up to date" (the record holds the summary)."""
    done = rec.read_record(out) if out.is_dir() else None
    pending = rec.read_pending(out) if out.is_dir() else None
    if pending is not None:
        if pending.get("key") == key and not overwrite:
            return "resume", None
        if not overwrite:
            changes = rec.describe_changes(pending.get("key") or {}, key)
            raise DatasetError(
                f"{out}: holds an unfinished {pending.get('key', {}).get('stage', '?')} run with other settings "
                f"({'; '.join(changes) or 'unknown changes'})",
                hint="re-run it with its own settings to finish it, pass --overwrite to replace it, or choose another --out",
            )
        return "overwrite", None
    if done is not None:
        if done.get("key") == key and not overwrite:
            return None, done
        if not overwrite:
            changes = rec.describe_changes(done.get("key") or {}, key)
            raise DatasetError(
                f"{out}: holds the output of a {done.get('key', {}).get('stage', '?')} run with other settings "
                f"({'; '.join(changes) or 'unknown changes'})",
                hint="pass --overwrite to replace it, or choose another --out",
            )
        return "overwrite", None
    if _has_content(out):
        if not overwrite:
            raise DatasetError(
                f"{out}: already holds files that no finished {kind} run wrote",
                hint="pass --overwrite to replace them, or choose another --out",
            )
        return "overwrite", None
    return "create", None


def run_stage(kind: str, opts: Any, ctx: StageContext, run: Callable[[Any, StageContext], dict[str, Any]]) -> dict[str, Any]:
    """Run `run(opts, ctx)` under the resume, lock and record rules above."""
    out = output_folder(opts)
    if out is None or getattr(type(opts), "OUTPUT_IS_FILE", False):
        return run(opts, ctx)
    parts = [out, *(out / p for p in getattr(type(opts), "PARTS", ()))]
    created = [p for p in parts if not p.exists()]
    try:
        with folder_locks(parts, command=ctx.command or None):
            return _run_locked(kind, opts, ctx, run, out)
    except BaseException:
        if not _has_content(out):
            _remove_traces(out, created)  # a run that failed before writing anything leaves nothing behind
        raise


def _remove_traces(out: Path, created: list[Path]) -> None:
    import contextlib

    from factory.io.lock import LOCK_NAME

    for p in [*(q for q in created if q != out), out]:
        for name in (LOCK_NAME, rec.PENDING):
            with contextlib.suppress(OSError):
                (p / name).unlink()
    for p in sorted(created, key=lambda q: len(q.parts), reverse=True):
        with contextlib.suppress(OSError):
            p.rmdir()


def _run_locked(kind: str, opts: Any, ctx: StageContext, run: Callable[[Any, StageContext], dict[str, Any]], out: Path) -> dict[str, Any]:
    key, inputs = run_key(kind, opts)
    mode, done = decide(kind, out, key, overwrite=ctx.overwrite)
    if mode is None:
        assert done is not None
        ctx.log(f"{ctx.stage or kind}: {out} is up to date (same inputs and options); nothing to do — pass --overwrite to redo it")
        return {**(done.get("summary") or {}), "skipped": True}
    if mode == "resume":
        ctx.log(f"{ctx.stage or kind}: {out} holds an unfinished run with the same settings; "
                + ("resuming it" if getattr(type(opts), "RESUMABLE", False) else "starting it again"))
    ctx.mode = mode
    t0 = time.time()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rec.begin(out, key, command=ctx.command)
    try:
        summary = run(opts, ctx)
    except BaseException:
        rec.release(out)  # the pending mark stays: the folder reads as half-written
        raise
    record = {
        "key": key,
        "inputs": [{**i, "path": _rel(i["path"], out)} for i in inputs],
        "options": _recorded_options(opts, out),
        "parts": rec.parts_of(out),
        "summary": _jsonable(summary),
        "run": {"started": started, "seconds": round(time.time() - t0, 3), "command": ctx.command, "pid": os.getpid()},
    }
    try:
        rec.commit(out, record)
    finally:
        rec.release(out)
    return summary
