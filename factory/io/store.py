"""Object-store paths: dataset folders at `s3://bucket/prefix` (or gs://, az://, ...) through
fsspec filesystems (s3fs for S3; credentials and endpoint the way the AWS clients read them:
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile, AWS_ENDPOINT_URL for MinIO, moto, R2...).

What an object store changes, and how factory keeps its guarantees there:

- No rename. A local shard is written under a temporary name and renamed; on a store each object
  is uploaded whole under its final name (a PUT is atomic: readers see all of the object or none
  of it), and the folder is committed by its manifest, uploaded after every shard it names.
  Readers only ever read what a manifest names, so a shard uploaded by a run that then died is
  never read; stray shards are removed by the next run's overwrite.
- Completeness is decided by the same two files as on disk: the pending mark
  (`.factory-run.json`) is uploaded before anything else of a run and deleted last, after
  `stage.json`. While it exists the folder and its parts read as half-written.
- Locks. A lock on a bucket would need the store's conditional writes; factory takes a local
  `flock` keyed by the URL in `~/.cache/factory/locks/` (FACTORY_CACHE moves it). That keeps two
  runs on ONE machine from writing the same URL; two machines writing one URL are NOT detected
  (give each machine its own prefix).
- Stages run on local files. The stage runner (factory.pipeline.runner) stages a remote output in
  a local folder (`~/.cache/factory/staging/`) and uploads it at commit: shards first, then the
  manifests, then `stage.json`, then the pending mark goes. A remote input folder is copied into
  `~/.cache/factory/inputs/` (kept by content fingerprint: a second stage reading it downloads
  nothing) and every shard is checked against the manifest's sha256. Trade-off: a stage needs
  local disk for its inputs and its output (not for the whole bucket), and no engine has to know
  about object stores; the finished output appears on the store at once at commit. The readers
  of factory.io.dataset (`read_manifest`, `check_folder`, `iter_batches`, `read_table`, `scan`)
  stream from a URL directly, one row group at a time, without a local copy.

Exercise: `factory verify s3://bucket/traces -o s3://bucket/verified` (tests/test_object_store.py
runs it against a local S3 server).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from factory.schemas.errors import DatasetError, MissingDependencyError

# fsspec protocols that are object stores (http(s) URLs and hf: ids are inputs of their own kind)
STORE_SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")


def is_store_url(path: Any) -> bool:
    s = str(path)
    return "://" in s and s.split("://", 1)[0].lower() in STORE_SCHEMES


def join(url: str, *names: str) -> str:
    return "/".join([url.rstrip("/"), *(n.strip("/") for n in names)])


def cache_dir() -> Path:
    """Local folder for locks, staged outputs and copied inputs (FACTORY_CACHE, else ~/.cache/factory)."""
    env = os.environ.get("FACTORY_CACHE")
    return Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "factory"


def url_key(url: str) -> str:
    return hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:24]


def filesystem(url: str):
    """(fsspec filesystem, path inside it) for a store URL; a missing client says how to install it."""
    try:
        import fsspec
    except ImportError:
        raise MissingDependencyError("fsspec", extra="s3", purpose=f"reading {url}") from None
    try:
        # no listings cache: other processes (another stage, another machine) change the prefix
        # between two calls, and s3fs answers reads of a key from a stale listing
        return fsspec.url_to_fs(url, use_listings_cache=False)
    except ImportError as e:
        raise MissingDependencyError(str(e.name or "s3fs"), extra="s3", purpose=f"reading {url}") from None
    except ValueError as e:
        raise DatasetError(f"{url}: not a usable object-store URL ({e})", hint="write it as s3://BUCKET/PREFIX") from None


@contextlib.contextmanager
def store_errors(url: str, doing: str) -> Iterator[None]:
    """Client errors -> one clear line naming the URL (credentials, endpoint, bucket, permission)."""
    try:
        yield
    except DatasetError:
        raise
    except FileNotFoundError:
        raise
    except PermissionError as e:
        raise DatasetError(f"{url}: permission denied while {doing} ({e})",
                           hint="check the credentials (AWS_ACCESS_KEY_ID/AWS_PROFILE) and the bucket policy") from None
    except Exception as e:  # noqa: BLE001 (botocore/aiohttp raise their own families: name them, never a traceback)
        name = type(e).__name__
        hint = "check AWS_ENDPOINT_URL, the network and the credentials, then re-run the same command"
        if "Credential" in name:
            hint = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), then re-run"
        elif "NoSuchBucket" in str(e) or "bucket does not exist" in str(e).lower():
            hint = "create the bucket, or fix its name in the URL"
        raise DatasetError(f"{url}: object store error while {doing}: {name}: {e}", hint=hint) from None


def exists(url: str) -> bool:
    fs, p = filesystem(url)
    with store_errors(url, "looking it up"):
        return bool(fs.exists(p))


def read_bytes(url: str) -> bytes | None:
    """The object's bytes, or None when there is no such object."""
    fs, p = filesystem(url)
    try:
        with store_errors(url, "reading it"):
            return fs.cat_file(p)
    except FileNotFoundError:
        return None


def write_bytes(url: str, data: bytes) -> None:
    """Upload one object whole (a PUT: it appears complete or not at all)."""
    fs, p = filesystem(url)
    with store_errors(url, "writing it"):
        fs.pipe_file(p, data)
    from factory.io.files import durable_write_done

    durable_write_done()


def remove(url: str) -> None:
    fs, p = filesystem(url)
    with contextlib.suppress(FileNotFoundError), store_errors(url, "removing it"):
        fs.rm_file(p)


def list_files(url: str) -> dict[str, int]:
    """{path relative to url: size} of every object under the prefix."""
    fs, p = filesystem(url)
    p = p.rstrip("/")
    with store_errors(url, "listing it"):
        try:
            found = fs.find(p, detail=True)
        except FileNotFoundError:
            return {}
    return {k[len(p) + 1:]: int(v.get("size") or 0) for k, v in found.items() if k.startswith(p + "/")}


def remove_tree(url: str, *, keep: tuple[str, ...] = ()) -> None:
    """Remove every object under the prefix except the relative names in `keep`."""
    fs, p = filesystem(url)
    doomed = [join(p, k) for k in list_files(url) if k not in keep]
    if doomed:
        with store_errors(url, "removing its old objects"):
            fs.rm(doomed)
        fs.invalidate_cache(p)


def open_input(url: str):
    """A seekable binary file over the object (range reads: Parquet footers and row groups only)."""
    fs, p = filesystem(url)
    with store_errors(url, "opening it"):
        return fs.open(p, "rb")


def object_tag(url: str) -> str:
    """A content tag of one object without reading it: its size and ETag (the store's content hash)."""
    fs, p = filesystem(url)
    with store_errors(url, "looking it up"):
        info = fs.info(p)
    tag = info.get("ETag") or info.get("etag") or info.get("md5") or info.get("LastModified") or ""
    return hashlib.sha256(f"{info.get('size')}:{tag}".encode()).hexdigest()[:32]


def download_tree(url: str, dest: Path, *, skip_hidden: bool = True) -> list[str]:
    """Copy every object under the prefix into `dest` (hidden names, i.e. locks and marks, left
    out); returns the relative names copied."""
    fs, p = filesystem(url)
    names = [n for n in list_files(url) if not (skip_hidden and any(part.startswith(".") for part in n.split("/")))]
    with store_errors(url, "downloading it"):
        for n in names:
            target = dest / n
            target.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(join(p, n), str(target))
    return names


def download_file(url: str, dest: Path) -> Path:
    fs, p = filesystem(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with store_errors(url, "downloading it"):
        try:
            fs.get_file(p, str(dest))
        except FileNotFoundError:
            raise DatasetError(f"{url}: no such object", hint="check the URL (bucket and key)") from None
    return dest


def upload_file(local: Path, url: str) -> None:
    fs, p = filesystem(url)
    with store_errors(url, "uploading it"):
        fs.put_file(str(local), p)
    from factory.io.files import durable_write_done

    durable_write_done()


def upload_order(root: Path) -> list[Path]:
    """Files of a finished local folder in commit order: shards, then other files, then the
    manifests (sub-folders' before the top's), then `stage.json`. Hidden files (locks, the local
    pending mark, temporaries) are never uploaded."""
    files = [f for f in root.rglob("*") if f.is_file() and not any(p.startswith(".") for p in f.relative_to(root).parts)]

    def rank(f: Path) -> tuple[int, int, str]:
        rel = f.relative_to(root)
        if f.suffix == ".parquet":
            r = 0
        elif f.name == "manifest.json":
            r = 2
        elif rel.as_posix() == "stage.json":
            r = 3
        else:
            r = 1
        return (r, -len(rel.parts), rel.as_posix())

    return sorted(files, key=rank)


def clear(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
