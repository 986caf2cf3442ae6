"""`factory train --push-to-hub ORG/NAME`: upload the trained student to a Hub model repo — the
weights, tokenizer and chat template, generation config, model card, training log and curve
(and TensorBoard runs when reported), never the checkpoints or the factory's own bookkeeping.

Checked before training starts: the repo id, offline mode and the token (a run that cannot
upload fails in a second, not after hours of training). `--push-dry-run` checks the repo id and
lists what would be uploaded, without any network — the way `factory publish --dry-run` works.
A finished run re-run with `--push-to-hub` only uploads (training is up to date).

Exercise: `factory train --data D --student tiny -o OUT --push-to-hub me/tiny-student --push-dry-run`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from factory.schemas.errors import FactoryError

NOT_UPLOADED = ("stage.json",)


class PushError(FactoryError):
    """The student cannot be uploaded (offline, no token, refused)."""


def upload_files(out: Path) -> list[str]:
    """Paths (relative, posix) of what a push sends: everything but checkpoints and hidden files."""
    files = []
    for p in sorted(Path(out).rglob("*")):
        rel = p.relative_to(out)
        if not p.is_file() or rel.as_posix() in NOT_UPLOADED:
            continue
        if any(part.startswith(".") for part in rel.parts) or rel.parts[0].startswith("checkpoint-"):
            continue
        files.append(rel.as_posix())
    return files


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def preflight(repo_id: str) -> None:
    """Before any training: uploading must be possible (online, a token)."""
    from huggingface_hub import constants, get_token

    if constants.is_offline_mode():
        raise PushError(f"--push-to-hub {repo_id}: the Hugging Face Hub is offline (HF_HUB_OFFLINE=1); unset it to upload",
                        hint="or add --push-dry-run to check what would be uploaded, or leave --push-to-hub out")
    if not get_token():
        raise PushError(f"--push-to-hub {repo_id}: no Hugging Face token found",
                        hint="set HF_TOKEN to a write token or run `hf auth login` (or add --push-dry-run)")


def push_student(out: Path, repo_id: str, *, private: bool = False, dry_run: bool = False,
                 log: Callable[[str], None] = print, api: Any = None) -> dict[str, Any]:
    from huggingface_hub import constants

    out = Path(out)
    files = upload_files(out)
    if not any(f in files for f in ("config.json", "adapter_config.json")):
        raise PushError(f"{out}: holds no trained student (no config.json) to upload", hint="train first: run the same command without --push-dry-run")
    total = sum((out / f).stat().st_size for f in files)
    url = f"{str(getattr(api, 'endpoint', None) or constants.ENDPOINT).rstrip('/')}/{repo_id}"
    result: dict[str, Any] = {"repo": repo_id, "url": url, "files": files, "bytes": total, "private": private,
                              "dry_run": dry_run, "commit_url": None}
    if dry_run:
        log(f"push dry run: would upload {len(files)} files ({_size(total)}) to {url} "
            f"({'private ' if private else ''}model repo); nothing was sent")
        return result
    preflight(repo_id)
    from factory.publish.core import hub_errors

    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    with hub_errors(repo_id, token=getattr(api, "token", None), endpoint=getattr(api, "endpoint", None)):
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=str(out), repo_type="model", allow_patterns=files,
                                 commit_message=f"factory train: student ({len(files)} files)")
    result["commit_url"] = getattr(info, "commit_url", None) or str(info)
    log(f"pushed the student to {url} ({len(files)} files, {_size(total)})")
    return result
