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

Object stores: when an input or the output is a URL (`s3://bucket/prefix`, factory.io.store),
the same rules hold with the store's files: the key fingerprints remote inputs from their
manifests (no download to find a run up to date); the lock is a local lock keyed by the URL (one
writer per URL on this machine; two machines are not detected); the pending mark is uploaded
first; the stage runs on local files (remote inputs copied into the cache and checked against
their manifests' sha256, the output staged in a local folder); at commit the staged output is
uploaded shards first, manifests next, `stage.json` last, and the pending mark is deleted. A run
that dies while uploading leaves the mark: the folder reads as half-written and the same command
uploads the staged result again without recomputing it.

Exercise: `factory dedup IN -o OUT` twice; then with `--threshold 0.9` (refused), then with
`--overwrite`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from factory.io import record as rec
from factory.io import store
from factory.io.lock import folder_locks
from factory.schemas.errors import DatasetError
from factory.schemas.options import as_dict, options_of, paths

Mode = Literal["create", "overwrite", "resume", "update"]


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


def _update_note(opts: Any) -> str:
    only = getattr(opts, "only", None)
    return f"--only {only}" if only else "an update of its rows"


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
        if p.name.startswith((".factory", "..factory")):  # marks, locks, a mark's temporary (killed before its rename)
            continue
        if not p.is_dir() or _has_content(p):
            return True
    return False


def decide(kind: str, out: Path, key: dict[str, Any], *, overwrite: bool, opts: Any = None) -> tuple[Mode | None, dict[str, Any] | None]:
    """(mode, finished record): mode None means "up to date" (the record holds the summary).
    An options object may declare that it updates a finished output in place
    (`updates(old_key) -> bool`, e.g. generate --only truncated): then the mode is "update"."""
    done = rec.read_record(out) if out.is_dir() else None
    pending = rec.read_pending(out) if out.is_dir() else None
    updates = getattr(opts, "updates", None)
    if done is not None and pending is None and updates is not None and updates(done.get("key") or {}):
        return "update", done
    return _decide(kind, out, key, done, pending, _has_content(out), overwrite=overwrite)


def _decide(kind: str, out: Path | str, key: dict[str, Any], done: dict[str, Any] | None, pending: dict[str, Any] | None,
            has_content: bool, *, overwrite: bool) -> tuple[Mode | None, dict[str, Any] | None]:
    if pending is not None:
        if pending.get("key") == key and not overwrite:
            return "resume", None
        if not overwrite:
            changes = rec.describe_changes(pending.get("key") or {}, key)
            raise DatasetError(
                f"{out}: holds an unfinished `{pending.get('key', {}).get('stage', '?')}` run with other settings "
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
                f"{out}: holds the output of an earlier `{done.get('key', {}).get('stage', '?')}` run with other settings "
                f"({'; '.join(changes) or 'unknown changes'})",
                hint="pass --overwrite to replace it, or choose another --out",
            )
        return "overwrite", None
    if has_content:
        if not overwrite:
            raise DatasetError(
                f"{out}: already holds files that no finished {kind} run wrote",
                hint="pass --overwrite to replace them, or choose another --out",
            )
        return "overwrite", None
    return "create", None


def run_stage(kind: str, opts: Any, ctx: StageContext, run: Callable[[Any, StageContext], dict[str, Any]]) -> dict[str, Any]:
    """Run `run(opts, ctx)` under the resume, lock and record rules above."""
    outs = paths(opts, "output")
    if outs and store.is_store_url(outs[0][1]):
        if getattr(type(opts), "OUTPUT_IS_FILE", False):
            raise DatasetError(f"{outs[0][1]}: {kind} writes a single file; object-store outputs are dataset folders",
                               hint="write it to a local path, then copy it")
        return _run_to_store(kind, opts, ctx, run, outs[0][1])
    if any(store.is_store_url(p) for _, p in paths(opts, "input")):
        run = _with_local_inputs(run)
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
    mode, done = decide(kind, out, key, overwrite=ctx.overwrite, opts=opts)
    if mode == "update":
        assert done is not None
        key = done["key"]  # the folder still is what its first run made; this run improves rows in place
        ctx.log(f"{ctx.stage or kind}: updating {out} in place ({_update_note(opts)}); the other rows are kept")
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


# -- object stores (factory.io.store) -------------------------------------------------------------
def _with_local_inputs(run: Callable[[Any, StageContext], dict[str, Any]]) -> Callable[[Any, StageContext], dict[str, Any]]:
    """`run`, called with the remote inputs replaced by checked local copies (made only when the
    stage really runs: an up-to-date output downloads nothing)."""
    def local_run(opts: Any, ctx: StageContext) -> dict[str, Any]:
        copies: dict[str, str] = {}
        local = localize_inputs(opts, log=ctx.log, copies=copies)
        with _errors_name_urls(copies):
            return run(local, ctx)

    return local_run


def localize_inputs(opts: Any, *, log: Callable[[str], None] = print, copies: dict[str, str] | None = None) -> Any:
    """The options with every object-store input replaced by a local copy in the cache (kept by
    content: a folder already copied with the same fingerprint is reused). `copies` collects
    {local copy: URL}."""
    fields = {f.name for f in dataclasses.fields(opts)}
    changes: dict[str, Any] = {}
    for name, p in paths(opts, "input"):
        if not store.is_store_url(p):
            continue
        if name not in fields:
            raise DatasetError(f"{p}: an object-store URL inside {name} is not supported",
                               hint="name the folder as a stage input (e.g. --traces), or copy it locally first")
        local = fetch_input(p, log=log)
        if copies is not None:
            copies[local] = p.rstrip("/")
        v = changes.get(name, getattr(opts, name))
        changes[name] = [local if x == p else x for x in v] if isinstance(v, list) else local
    return dataclasses.replace(opts, **changes) if changes else opts


def fetch_input(url: str, *, log: Callable[[str], None] = print) -> str:
    """A local, checked copy of a remote input: a dataset folder or stage output (every dataset
    folder in it checked against its manifest's sha256), or a single object."""
    import uuid

    from factory.io.dataset import check_folder

    url = url.rstrip("/")
    fp = rec.fingerprint(url)
    if fp.startswith("missing:"):
        raise DatasetError(f"{url}: no such object or folder", hint="check the bucket and prefix")
    root = store.cache_dir() / "inputs"
    target = root / store.url_key(url + "\0" + fp)
    single = fp.startswith("object:")
    if (target / ".complete").exists():
        return str(target / url.rsplit("/", 1)[-1]) if single else str(target)
    if not single:
        pending = rec.read_pending(url)
        if pending is not None:
            raise DatasetError(f"{url}: half-written: the run writing it did not finish",
                               hint="re-run the command that writes it (it resumes or restarts on its own)")
    tmp = root / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        if single:
            store.download_file(url, tmp / url.rsplit("/", 1)[-1])
        else:
            names = store.download_tree(url, tmp)
            log(f"{url}: copied {len(names)} file(s) to {target}")
            for m in sorted(tmp.rglob("manifest.json")):
                check_folder(m.parent, full=True)  # every shard as its manifest recorded it
        (tmp / ".complete").touch()
        if target.exists():
            store.clear(target)
        os.replace(tmp, target)
    finally:
        store.clear(tmp)
    return str(target / url.rsplit("/", 1)[-1]) if single else str(target)


def _store_has_content(url: str) -> bool:
    return any(not any(part.startswith(".factory") for part in n.split("/")) for n in store.list_files(url))


def _run_to_store(kind: str, opts: Any, ctx: StageContext, run: Callable[[Any, StageContext], dict[str, Any]],
                  url: str) -> dict[str, Any]:
    """run_stage for an output on an object store: stage locally, upload at commit (see the
    module docstring and factory.io.store)."""
    from factory.io.lock import folder_lock

    url = url.rstrip("/")
    key_dir = store.url_key(url)
    staging = store.cache_dir() / "staging" / key_dir
    with folder_lock(store.cache_dir() / "locks" / key_dir, command=ctx.command or None):
        key, inputs = run_key(kind, opts)
        mode, done = _decide(kind, url, key, rec.read_record(url), rec.read_pending(url), _store_has_content(url),
                             overwrite=ctx.overwrite)
        if mode is None:
            assert done is not None
            ctx.log(f"{ctx.stage or kind}: {url} is up to date (same inputs and options); nothing to do — pass --overwrite to redo it")
            return {**(done.get("summary") or {}), "skipped": True}
        staged = rec.read_record(staging) if staging.is_dir() else None
        ready = mode == "resume" and staged is not None and staged.get("key") == key
        if mode == "resume":
            ctx.log(f"{ctx.stage or kind}: {url} holds an unfinished run with the same settings; "
                    + ("uploading its finished result" if ready else "resuming it" if getattr(type(opts), "RESUMABLE", False)
                       else "starting it again"))
        else:
            store.clear(staging)  # a staging folder left by another run is not this one's
        pending = {"format": rec.RECORD_FORMAT, "key": key, "pid": os.getpid(), "command": ctx.command,
                   "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "staging": str(staging)}
        store.write_bytes(store.join(url, rec.PENDING), (json.dumps(pending, indent=2, default=str) + "\n").encode())
        if ready:
            summary = staged.get("summary") or {}  # type: ignore[union-attr]
        else:
            summary = _run_staged(kind, opts, ctx, run, url, staging, key, inputs, mode)
        store.remove_tree(url, keep=(rec.PENDING,))  # an overwritten run's objects, a failed upload's leftovers
        files = store.upload_order(staging)
        for f in files:
            store.upload_file(f, store.join(url, f.relative_to(staging).as_posix()))
        store.remove(store.join(url, rec.PENDING))  # from here on the folder on the store is complete
        ctx.log(f"{ctx.stage or kind}: uploaded {len(files)} file(s) to {url}")
        return summary


def _run_staged(kind: str, opts: Any, ctx: StageContext, run: Callable[[Any, StageContext], dict[str, Any]], url: str,
                staging: Path, key: dict[str, Any], inputs: list[dict[str, Any]], mode: Mode) -> dict[str, Any]:
    """Run the stage into the local staging folder (with its own pending mark and record), the
    record naming the URLs."""
    staging.mkdir(parents=True, exist_ok=True)
    copies: dict[str, str] = {str(staging): url}
    local_opts = localize_inputs(opts, log=ctx.log, copies=copies)
    outs = paths(opts, "output")
    local_opts = dataclasses.replace(local_opts, **{outs[0][0]: str(staging)})
    ctx.mode = mode if mode != "create" or not _has_content(staging) else "overwrite"
    t0 = time.time()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rec.begin(staging, key, command=ctx.command)
    try:
        with _errors_name_urls(copies):
            summary = run(local_opts, ctx)
    except BaseException:
        rec.release(staging)
        raise
    for m in staging.rglob("manifest.json"):  # manifests name the URLs, not this machine's cache
        m.write_text(json.dumps(_renamed(json.loads(m.read_text(encoding="utf-8")), copies), indent=2, ensure_ascii=False)
                     + "\n", encoding="utf-8")
    recorded = _jsonable(as_dict(opts))
    record = {
        "key": key,
        "inputs": [{**i, "path": i["path"] if store.is_store_url(i["path"]) else _rel(i["path"], staging)} for i in inputs],
        "options": recorded,
        "parts": rec.parts_of(staging),
        "summary": _jsonable(summary),
        "run": {"started": started, "seconds": round(time.time() - t0, 3), "command": ctx.command, "pid": os.getpid(),
                "staged_in": str(staging)},
    }
    try:
        rec.commit(staging, record)
    finally:
        rec.release(staging)
    return summary


def _renamed(x: Any, copies: dict[str, str]) -> Any:
    """`x` with every string (and key) that names a local copy or the staging folder renamed to its URL."""
    if isinstance(x, dict):
        return {_renamed(k, copies): _renamed(v, copies) for k, v in x.items()}
    if isinstance(x, list):
        return [_renamed(v, copies) for v in x]
    if isinstance(x, str):
        for local, url in copies.items():
            if x == local or x.startswith(local + "/"):
                return url + x[len(local):]
    return x


@contextlib.contextmanager
def _errors_name_urls(copies: dict[str, str]):
    """A stage's error names the URL the user gave, not this machine's local copy of it."""
    from factory.schemas.errors import FactoryError

    try:
        yield
    except FactoryError as e:
        e.message = _renamed_text(e.message, copies)
        e.args = (e.message, *e.args[1:])
        if e.hint:
            e.hint = _renamed_text(e.hint, copies)
        raise


def _renamed_text(text: str, copies: dict[str, str]) -> str:
    for local, url in sorted(copies.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(local, url)
    return text
