"""Dataset folders on an object store: a real S3-protocol HTTP server (moto's standalone server,
started here as a subprocess on 127.0.0.1) and the ordinary clients (s3fs, pyarrow's S3).

- ingest -> verify -> curate with every input and output at s3:// gives the folders the same
  chain gives on local disk (shard bytes, manifests apart from run facts), and
  `factory publish --dry-run` writes the same Hub folder from the s3:// SFT folder.
- The io readers stream from s3:// directly (manifest checks, record batches, a polars scan).
- A second run is up to date without downloading anything; a changed option is refused.
- A run killed after its first upload leaves the folder half-written (readers refuse it); the same
  command then uploads the finished staged result; a shard that does not match its manifest is
  refused; two writers of one URL on this machine: the second is refused; a stage's error names
  the URL, not the local copy it ran on.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("s3fs")  # the dev extra installs s3fs and moto[server]
pytest.importorskip("moto")

from factory.schemas.errors import DatasetError

from factory.io import store
from factory.io.dataset import (
    check_folder,
    iter_batches,
    read_manifest,
    read_table,
    scan,
)

RUN_FACTS = {"run", "command"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server on 127.0.0.1 and the environment every AWS client reads."""
    port = _free_port()
    exe = Path(sys.executable).with_name("moto_server")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with open(log, "w") as logf:  # the child keeps its own handle
        proc = subprocess.Popen([*cmd, "-H", "127.0.0.1", "-p", str(port)], stdout=logf, stderr=subprocess.STDOUT)
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "FACTORY_CACHE": str(tmp_path_factory.mktemp("cache"))}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"moto server did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        fs, _ = store.filesystem("s3://factory-test")
        fs.mkdir("factory-test")
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def cli(*args: str, ok: bool = True):
    from factory.cli.app import app
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, list(args))
    if ok:
        assert r.exit_code == 0, f"factory {' '.join(args)} exited {r.exit_code}:\n{r.output[-3000:]}"
    return r


def _manifest(folder: str | Path) -> dict:
    raw = store.read_bytes(f"{folder}/manifest.json") if store.is_store_url(folder) else (Path(folder) / "manifest.json").read_bytes()
    j = json.loads(raw)
    for k in RUN_FACTS:
        j.pop(k)
    # where the inputs were: a URL on one side, a local path on the other
    j["params"] = {k: v for k, v in j["params"].items() if k not in ("out", "input", "inputs", "traces", "presets")}
    for i in (j.get("stats") or {}).get("inputs") or []:
        i.pop("path", None)
    return j


def _same(local: Path, url: str) -> list[str]:
    """Every dataset folder under `local` is on the store under `url` with the same shard bytes."""
    seen = []
    for m in sorted(local.rglob("manifest.json")):
        rel = m.parent.relative_to(local).as_posix()
        remote = url if rel == "." else f"{url}/{rel}"
        a, b = _manifest(m.parent), _manifest(remote)
        assert a == b, (rel, {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)})
        for s in read_manifest(m.parent).shards:
            assert store.read_bytes(f"{remote}/{s.name}") == (m.parent / s.name).read_bytes(), (rel, s.name)
        seen.append(rel)
    return seen


@pytest.fixture(scope="module")
def chain(s3, package_data, tmp_path_factory):
    """The chain once on s3:// and once on local disk."""
    tmp = tmp_path_factory.mktemp("chain")
    src = package_data / "traces" / "skyt1_long_cot_math500.jsonl.gz"
    raw = "s3://factory-test/raw/skyt1_long_cot_math500.jsonl.gz"
    store.upload_file(src, raw)
    base = "s3://factory-test/run"
    for root, inp in ((base, raw), (str(tmp / "local"), str(src))):
        cli("ingest", inp, "--preset", "skyt1-traces", "--limit", "40", "-o", f"{root}/traces")
        cli("verify", f"{root}/traces", "-o", f"{root}/verified", "--filters", "math", "--workers", "1")
        cli("curate", "--recipe", "sky-t1-17k", "--traces", f"{root}/verified", "-o", f"{root}/sft", "--set", "mix.allow_short=true")
    return base, tmp / "local", tmp


def test_ingest_verify_curate_on_s3_equal_the_local_chain(chain):
    base, local, _ = chain
    assert _same(local / "traces", f"{base}/traces") == ["."]
    assert _same(local / "verified", f"{base}/verified") == [".", "rejected"]
    assert set(_same(local / "sft", f"{base}/sft")) >= {"train", "validation"}
    # the stage records on the store name the URLs they read, and the pending marks are gone
    record = json.loads(store.read_bytes(f"{base}/verified/stage.json"))
    assert record["inputs"][0]["path"] == f"{base}/traces"
    assert record["options"]["out"] == f"{base}/verified"
    names = store.list_files(base)
    assert not [n for n in names if n.endswith((".factory-run.json", ".tmp"))], names


def test_readers_stream_from_the_store(chain):
    base, local, _ = chain
    url = f"{base}/verified"
    m = check_folder(url, full=True)
    assert m.rows == read_manifest(local / "verified").rows > 0
    batches = list(iter_batches(url, columns=["id", "verdict_math"], batch_size=16))
    assert max(b.num_rows for b in batches) <= 16 and sum(b.num_rows for b in batches) == m.rows
    assert read_table(url).equals(read_table(local / "verified"))
    import polars as pl

    got = scan(url).select("id", "verdict_math").sort("id").collect()
    want = scan(local / "verified").select("id", "verdict_math").sort("id").collect()
    assert got.equals(want) and got.height == m.rows
    assert got.filter(pl.col("verdict_math") == "correct").height > 0


def test_publish_dry_run_from_an_s3_folder(chain):
    base, local, tmp = chain
    cli("publish", f"{base}/sft", "-o", str(tmp / "hub-s3"), "--dry-run")
    cli("publish", str(local / "sft"), "-o", str(tmp / "hub-local"), "--dry-run")
    a = sorted(p.relative_to(tmp / "hub-s3").as_posix() for p in (tmp / "hub-s3").rglob("*.parquet"))
    b = sorted(p.relative_to(tmp / "hub-local").as_posix() for p in (tmp / "hub-local").rglob("*.parquet"))
    assert a == b and a
    for rel in a:
        assert (tmp / "hub-s3" / rel).read_bytes() == (tmp / "hub-local" / rel).read_bytes(), rel
    assert (tmp / "hub-s3" / "README.md").exists()


def test_a_second_run_is_up_to_date_without_downloading(chain):
    base, _, _ = chain
    cache = Path(os.environ["FACTORY_CACHE"]) / "inputs"
    shutil.rmtree(cache, ignore_errors=True)
    r = cli("verify", f"{base}/traces", "-o", f"{base}/verified", "--filters", "math", "--workers", "1")
    assert "up to date" in r.output
    assert not cache.exists() or not any(cache.iterdir())
    r = cli("verify", f"{base}/traces", "-o", f"{base}/verified", "--filters", "math,format", "--workers", "1", ok=False)
    assert r.exit_code == 1 and "other settings" in r.output and "--overwrite" in r.output


def _subprocess_cli(args: list[str], **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **env}
    return subprocess.run([sys.executable, "-m", "factory.cli.app", *args], env=full, capture_output=True, text=True,
                          timeout=300, check=False)


def test_a_run_killed_while_uploading_is_half_written_then_finished_by_the_same_command(chain):
    base, local, _ = chain
    # durable writes: the remote pending mark, the staging run's own (mark, shards, manifests,
    # record), then one per uploaded file. Find the first kill that leaves a shard uploaded but
    # no stage record: the run died mid-upload
    for k in range(7, 16):
        out = f"{base}/killed-{k}"
        args = ["verify", f"{base}/traces", "-o", out, "--filters", "math", "--workers", "1"]
        r = _subprocess_cli(args, FACTORY_KILL_AFTER_WRITES=str(k))
        assert r.returncode == -9, (k, r.stderr[-2000:])
        names = store.list_files(out)
        if any(n.endswith(".parquet") for n in names):
            break
    else:
        raise AssertionError("no kill landed between the first upload and the commit")
    assert ".factory-run.json" in names and "stage.json" not in names, names
    with pytest.raises(DatasetError, match="half-written"):
        read_manifest(out)
    with pytest.raises(DatasetError, match="half-written"):
        read_manifest(f"{out}/rejected")
    r = _subprocess_cli(args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "uploading its finished result" in r.stdout + r.stderr
    assert {"manifest.json", "rejected/manifest.json", "stage.json"} <= set(store.list_files(out)), k
    assert _same(local / "verified", out) == [".", "rejected"]
    check_folder(out, full=True)


def test_a_shard_that_does_not_match_its_manifest_is_refused(chain):
    base, _, _ = chain
    url = f"{base}/traces"
    name = read_manifest(url).shards[0].name
    good = store.read_bytes(f"{url}/{name}")
    store.write_bytes(f"{url}/{name}", good[:-10])
    try:
        with pytest.raises(DatasetError, match="truncated or overwritten"):
            check_folder(url)
    finally:
        store.write_bytes(f"{url}/{name}", good)
    check_folder(url, full=True)


def test_a_second_writer_of_one_url_on_this_machine_is_refused(chain):
    base, _, _ = chain
    out = f"{base}/locked"
    lock = store.cache_dir() / "locks" / store.url_key(out)
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import time\nfrom factory.io.lock import folder_lock\n"
                                f"with folder_lock({str(lock)!r}, command='factory verify (the first run)'):\n"
                                "    print('held', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        r = cli("verify", f"{base}/traces", "-o", out, "--filters", "math", ok=False)
        assert r.exit_code == 1 and "another run is writing" in r.output and "the first run" in r.output
    finally:
        holder.kill()
        holder.wait()
    assert not store.list_files(out)  # the refused run touched nothing on the store


def test_a_stage_error_names_the_url_not_the_local_copy(chain):
    base, _, tmp = chain
    store.write_bytes(f"{base}/empty-sft/stage.json", store.read_bytes(f"{base}/sft/stage.json"))
    for part in ("train", "validation"):
        m = json.loads(store.read_bytes(f"{base}/sft/{part}/manifest.json"))
        m.update(rows=0, shards=[])
        store.write_bytes(f"{base}/empty-sft/{part}/manifest.json", json.dumps(m).encode())
    r = cli("publish", f"{base}/empty-sft", "-o", str(tmp / "hub-empty"), "--dry-run", ok=False)
    error = r.output[r.output.index("error:"):]
    assert r.exit_code == 1 and f"{base}/empty-sft: every split is empty" in error, r.output
    assert str(store.cache_dir()) not in error
