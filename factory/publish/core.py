"""`factory publish DIR --repo-id ORG/NAME`: write the Hub-ready folder (Parquet shards under
`data/<config>/`, README.md = front matter + the dataset card, report.html), then create the
dataset repo if needed and upload with `huggingface_hub`.

Re-publishing unchanged data uploads nothing: shard bytes are deterministic, and before
uploading we list the remote files and compare hashes (LFS sha256, or the git blob sha1 for
small files), then upload only the files that differ and delete only this config's stale
shards. What is sent goes through `HfApi.upload_folder`, whose LFS/Xet uploads are
content-addressed, so a re-run after an interrupted upload skips what already arrived.

The token comes from `HF_TOKEN` or the user's `hf auth login`; it is never printed, logged or
put in an error message. Offline (`HF_HUB_OFFLINE=1`) or with no network, publishing stops
with one line saying what to do, never a traceback; `--dry-run` only writes the folder.

The card and the report follow the stage records from the published folder back to the sources
(factory.publish.lineage): nothing to list by hand.

Exercise: `factory publish runs/quickstart/sft -o runs/quickstart/hub --repo-id me/quickstart-sft --dry-run`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from factory.io.dataset import atomic_write_text, file_sha256
from factory.publish.card import build_card
from factory.publish.hub_layout import DEFAULT_MAX_SHARD, HubFolder, write_hub_folder
from factory.publish.facts import gather
from factory.publish.options import repo_id_problem
from factory.publish.report import render_html
from factory.schemas.errors import FactoryError, InputError

REPORT_FILE = "report.html"
# files of the folder that are the stage runner's, not the dataset's: never uploaded
NOT_UPLOADED = {"stage.json"}


class PublishError(FactoryError):
    """Publishing to the Hub failed: offline, unreachable, not authorised, or rejected."""


@dataclass
class UploadResult:
    repo_id: str
    revision: str | None
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    commit_url: str | None = None
    url: str = ""


@dataclass
class PublishResult:
    folder: HubFolder
    report: Path
    upload: UploadResult | None


def check_repo_id(repo_id: str) -> str:
    """The Hub's rules for a repo id (factory.publish.options.repo_id_problem), or InputError."""
    problem = repo_id_problem(repo_id)
    if problem:
        raise InputError(f"--repo-id: {problem}")
    return repo_id


def build_folder(
    src: str | Path,
    out: str | Path,
    *,
    repo_id: str | None = None,
    config: str = "default",
    max_shard_size: str | int = DEFAULT_MAX_SHARD,
    pretty_name: str | None = None,
) -> PublishResult:
    """Write the Hub-ready folder: shards, README.md (front matter + card) and report.html."""
    facts = gather(src)
    name = pretty_name or (repo_id.split("/")[-1] if repo_id else Path(src).resolve().name)

    def card(hub: HubFolder) -> str:
        return build_card(facts, repo_id=repo_id, config=hub.config, pretty_name=name, report_file=REPORT_FILE)

    hub = write_hub_folder(src, out, config=config, max_shard_size=max_shard_size, card_body=card,
                           front_matter_extra={"pretty_name": name})
    report = Path(out) / REPORT_FILE
    atomic_write_text(report, render_html(facts, title=f"{name}: dataset report"))
    return PublishResult(hub, report, None)


def publish(
    src: str | Path,
    *,
    repo_id: str | None,
    out: str | Path | None = None,
    config: str = "default",
    private: bool = False,
    revision: str | None = None,
    dry_run: bool = False,
    max_shard_size: str | int = DEFAULT_MAX_SHARD,
    api: Any = None,
) -> PublishResult:
    if repo_id is not None:
        check_repo_id(repo_id)
    elif not dry_run:
        raise InputError("--repo-id: required to upload (expected ORG/NAME)", hint="pass --repo-id ORG/NAME, or --dry-run to only write the folder")
    out = Path(out) if out is not None else Path(src) / "hub"
    if not dry_run:
        # fail fast, before minutes of shard writing, when the upload cannot happen anyway:
        # offline, no token, a refused token or namespace all show up here
        assert repo_id is not None
        api = open_repo(repo_id, private=private, revision=revision, api=api)
    result = build_folder(src, out, repo_id=repo_id, config=config, max_shard_size=max_shard_size)
    if not dry_run:
        assert repo_id is not None
        result.upload = upload_folder(out, repo_id=repo_id, config=config, revision=revision, api=api, ensure_repo=False)
    return result


# ---------------------------------------------------------------------------------------------
# upload
# ---------------------------------------------------------------------------------------------


def _preflight(api: Any) -> None:
    from huggingface_hub import constants, get_token

    if constants.is_offline_mode():
        raise PublishError(
            "cannot publish: Hugging Face offline mode is on (HF_HUB_OFFLINE=1); unset it to upload, or pass --dry-run to only write the folder"
        )
    token = getattr(api, "token", None) or get_token()
    if not token:
        raise PublishError(
            "cannot publish: no Hugging Face token found; set HF_TOKEN to a write token or run `hf auth login` (or pass --dry-run)"
        )


def _git_blob_sha1(path: Path) -> str:
    h = hashlib.sha1()
    h.update(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while b := f.read(1 << 20):
            h.update(b)
    return h.hexdigest()


def local_files(folder: Path) -> dict[str, Path]:
    """Files to publish, by path in the repo (hidden files, temporaries and the stage record left out)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and rel not in NOT_UPLOADED and not any(part.startswith(".") for part in rel.split("/")):
            out[rel] = p
    return out


def _same(local: Path, remote: Any) -> bool:
    lfs = getattr(remote, "lfs", None)
    if lfs is not None and getattr(lfs, "sha256", None):
        return lfs.sha256 == file_sha256(local)
    blob = getattr(remote, "blob_id", None)
    return blob is not None and blob == _git_blob_sha1(local)


def open_repo(repo_id: str, *, private: bool = False, revision: str | None = None, api: Any = None) -> Any:
    """Check we can publish (online, a token), create the dataset repo and the branch if
    needed; returns the HfApi object to upload with."""
    check_repo_id(repo_id)
    _preflight(api)
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    with hub_errors(repo_id, token=getattr(api, "token", None), endpoint=getattr(api, "endpoint", None)):
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
    return api


def upload_folder(
    folder: str | Path,
    *,
    repo_id: str,
    config: str = "default",
    private: bool = False,
    revision: str | None = None,
    api: Any = None,
    ensure_repo: bool = True,
    log: Callable[[str], None] = lambda s: None,
) -> UploadResult:
    """Upload what differs from the remote (creating the repo and branch first unless the
    caller did: `ensure_repo=False`)."""
    folder = Path(folder)
    if ensure_repo or api is None:
        api = open_repo(repo_id, private=private, revision=revision, api=api)
    endpoint = str(getattr(api, "endpoint", None) or "https://huggingface.co").rstrip("/")
    result = UploadResult(repo_id, revision, url=f"{endpoint}/datasets/{repo_id}")
    with hub_errors(repo_id, token=getattr(api, "token", None), endpoint=getattr(api, "endpoint", None)):
        remote = {f.path: f for f in api.list_repo_tree(repo_id, repo_type="dataset", revision=revision, recursive=True)
                  if hasattr(f, "blob_id")}
        local = local_files(folder)
        for rel, p in local.items():
            (result.unchanged if rel in remote and _same(p, remote[rel]) else result.uploaded).append(rel)
        prefix = f"data/{config}/"
        result.deleted = sorted(r for r in remote if r.startswith(prefix) and r not in local)
        if not result.uploaded and not result.deleted:
            log(f"{repo_id}: up to date, nothing to upload ({len(result.unchanged)} file(s) unchanged)")
            return result
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type="dataset",
            revision=revision,
            allow_patterns=result.uploaded or None,
            delete_patterns=result.deleted or None,
            commit_message=f"factory publish: config {config}, {len(result.uploaded)} file(s) changed, {len(result.deleted)} removed",
        )
        result.commit_url = getattr(info, "commit_url", None) or str(info)
    return result


def _redact(text: str, token: str | None) -> str:
    for t in {token, os.environ.get("HF_TOKEN"), os.environ.get("HUGGING_FACE_HUB_TOKEN")}:
        if t:
            text = text.replace(t, "***")
    return re.sub(r"hf_[A-Za-z0-9]{10,}", "hf_***", text)


@contextlib.contextmanager
def hub_errors(repo_id: str, *, token: str | None = None, endpoint: str | None = None) -> Iterator[None]:
    """Turn huggingface_hub / httpx2 failures into one PublishError line (token redacted)."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        HfHubHTTPError,
        HFValidationError,
        LocalTokenNotFoundError,
        OfflineModeIsEnabled,
    )

    try:
        yield
    except OfflineModeIsEnabled:
        raise PublishError(
            "cannot publish: Hugging Face offline mode is on (HF_HUB_OFFLINE=1); unset it to upload, or pass --dry-run to only write the folder"
        ) from None
    except LocalTokenNotFoundError:
        raise PublishError("cannot publish: no Hugging Face token found; set HF_TOKEN to a write token or run `hf auth login`") from None
    except HFValidationError as e:
        raise InputError(f"--repo-id: the Hub rejected {repo_id!r}: {_redact(str(e).splitlines()[0], token)}") from None
    except HfHubHTTPError as e:
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status == 401:
            msg = (f"cannot publish to {repo_id}: the Hub rejected the token (401 Unauthorized); "
                   "set HF_TOKEN to a valid write token or run `hf auth login`")
        elif status == 403:
            msg = (f"cannot publish to {repo_id}: the token may not write there (403 Forbidden); "
                   f"use a token with write access to '{repo_id.split('/')[0]}', or publish under your own namespace")
        elif status == 404:
            msg = f"cannot publish to {repo_id}: not found (404) — check the organisation name and --revision"
        else:
            detail = _redact((getattr(e, "server_message", None) or str(e)).splitlines()[0], token)
            msg = f"cannot publish to {repo_id}: the Hub answered {status or 'an error'}: {detail}"
        raise PublishError(msg) from None
    except httpx2.TransportError as e:
        kind = "timed out" if isinstance(e, httpx2.TimeoutException) else "connection failed"
        raise PublishError(
            f"cannot reach the Hugging Face Hub at {endpoint or constants.ENDPOINT} ({kind}: {type(e).__name__}); "
            "check the network or proxy, or pass --dry-run to only write the folder"
        ) from None


# ---------------------------------------------------------------------------------------------
# the stage
# ---------------------------------------------------------------------------------------------


def preflight(opts: Any) -> None:
    """Before anything is written: a real upload must be possible (online, a token, the repo
    creatable); offline, a missing or refused token stop here with one line."""
    if not opts.dry_run and opts.repo_id:
        open_repo(opts.repo_id, private=opts.private, revision=opts.revision)


def run(opts: Any, ctx: Any) -> dict[str, Any]:
    """The publish stage (`factory publish` and a recipe's `publish:` section): the runner locks
    and records OUT; a re-run with the same input and options is a no-op."""
    src, out = ctx.path(opts.input), ctx.path(opts.out)
    res = publish(src, repo_id=opts.repo_id, out=out, config=opts.config, private=opts.private, revision=opts.revision,
                  dry_run=opts.dry_run, max_shard_size=opts.max_shard_size)
    hub = res.folder
    ctx.log(f"{ctx.stage or 'publish'}: wrote {out} ({', '.join(f'{s.name} {s.rows} rows' for s in hub.splits)})"
            + (" — dry run, nothing uploaded" if res.upload is None else f" — uploaded {len(res.upload.uploaded)} file(s)"))
    up = res.upload
    return {
        "out": str(opts.out),  # as given: no absolute path in the record
        "config": hub.config,
        "splits": {s.name: {"rows": s.rows, "files": len(s.files)} for s in hub.splits},
        "card": "README.md",
        "report": REPORT_FILE,
        "uploaded": None if up is None else {"url": up.url, "uploaded": up.uploaded, "deleted": up.deleted,
                                             "unchanged": len(up.unchanged), "commit": up.commit_url},
    }
