"""`factory publish`: the dry run writes the Hub folder and touches no network; the upload
calls huggingface_hub with the right arguments and re-publishing unchanged data uploads
nothing; every failure (offline, connection refused, 401, 403, other HTTP errors, bad repo id,
no token) is one clear line without the token. Network failures are real ones, on loopback:
a refused port and a tiny local HTTP server speaking the Hub's error responses."""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from factory.cli.app import app
from factory.schemas.errors import InputError
from publish_lineage import build_lineage
from typer.testing import CliRunner

from factory.io.dataset import read_manifest
from factory.pipeline.recipe import run_section, validate_section
from factory.publish.core import PublishError, check_repo_id, local_files, publish, upload_folder

SECRET = "hf_SECRETxxTOKENxx1234567890abcd"


@pytest.fixture(scope="module")
def lineage(tmp_path_factory, package_data) -> dict[str, Path]:
    return build_lineage(tmp_path_factory.mktemp("run"), package_data)


@pytest.fixture
def online(monkeypatch):
    """Turn the test-wide offline mode off for code paths whose HTTP goes to loopback or to a
    fake API object; the token is the secret the tests look for in the output."""
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", SECRET)


class FakeHub:
    """Stands in for HfApi: records calls; its remote is the files it was sent."""

    def __init__(self, token: str | None = SECRET) -> None:
        self.token = token
        self.endpoint = "https://hub.example"
        self.calls: list[tuple[str, dict]] = []
        self.remote: dict[str, bytes] = {}

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kw}))

    def create_branch(self, repo_id, **kw):
        self.calls.append(("create_branch", {"repo_id": repo_id, **kw}))

    def list_repo_tree(self, repo_id, **kw):
        self.calls.append(("list_repo_tree", {"repo_id": repo_id, **kw}))
        for path, data in sorted(self.remote.items()):
            blob = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
            lfs = SimpleNamespace(sha256=hashlib.sha256(data).hexdigest()) if path.endswith(".parquet") else None
            yield SimpleNamespace(path=path, blob_id=blob, lfs=lfs, size=len(data))

    def upload_folder(self, **kw):
        self.calls.append(("upload_folder", kw))
        root = Path(kw["folder_path"])
        for rel in kw["allow_patterns"] or []:
            self.remote[rel] = (root / rel).read_bytes()
        for rel in kw["delete_patterns"] or []:
            self.remote.pop(rel, None)
        return SimpleNamespace(commit_url=f"{self.endpoint}/datasets/{kw['repo_id']}/commit/1")

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


def test_dry_run_writes_the_folder_and_touches_no_network(lineage, tmp_path, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", lambda *a, **k: pytest.fail("dry run must not build an HfApi"))
    out = tmp_path / "hub"
    r = CliRunner().invoke(app, ["publish", str(lineage["sft"]), "--repo-id", "me/quick-sft", "--dry-run", "-o", str(out)])
    assert r.exit_code == 0, r.output
    train_rows = read_manifest(lineage["sft"] / "train").rows
    assert "dry run: nothing uploaded" in r.output and f"train {train_rows} rows" in r.output
    readme = (out / "README.md").read_text()
    assert readme.startswith("---\nlicense: other\n") and "# quick-sft" in readme
    assert 'load_dataset("me/quick-sft")' in readme and "## Lineage" in readme
    assert (out / "report.html").read_text().count('<img class="plot"') == 8
    # the runner recorded the folder; the record is never uploaded
    assert (out / "stage.json").exists() and "stage.json" not in local_files(out)
    r = CliRunner().invoke(app, ["publish", str(lineage["sft"]), "--repo-id", "me/quick-sft", "--dry-run", "-o", str(out)])
    assert r.exit_code == 0 and "up to date" in r.output
    assert sorted(p.name for p in (out / "data" / "default").iterdir()) == [
        "train-00000-of-00001.parquet", "validation-00000-of-00001.parquet"]
    import datasets  # the card and report beside the data do not confuse the loader

    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert {k: v.num_rows for k, v in ds.items()} == {s: read_manifest(lineage["sft"] / s).rows for s in ("train", "validation")}


def test_upload_arguments_and_republishing_unchanged_uploads_nothing(lineage, tmp_path, online):
    hub = FakeHub()
    res = publish(lineage["sft"], repo_id="me/quick-sft", out=tmp_path / "hub", private=True, revision="v1",
                  max_shard_size="40KB", api=hub)
    assert hub.names() == ["create_repo", "create_branch", "list_repo_tree", "upload_folder"]
    assert hub.calls[0][1] == {"repo_id": "me/quick-sft", "repo_type": "dataset", "private": True, "exist_ok": True}
    assert hub.calls[1][1] == {"repo_id": "me/quick-sft", "repo_type": "dataset", "branch": "v1", "exist_ok": True}
    up = hub.calls[3][1]
    files = sorted(str(p.relative_to(tmp_path / "hub")) for p in (tmp_path / "hub").rglob("*") if p.is_file())
    assert up["repo_id"] == "me/quick-sft" and up["repo_type"] == "dataset" and up["revision"] == "v1"
    assert up["folder_path"] == str(tmp_path / "hub") and sorted(up["allow_patterns"]) == files
    assert up["delete_patterns"] is None and "README.md" in files and "report.html" in files
    assert res.upload is not None and sorted(res.upload.uploaded) == files and res.upload.unchanged == []

    # same data again (folder rewritten from scratch): every hash matches, no commit at all
    hub.calls.clear()
    res = publish(lineage["sft"], repo_id="me/quick-sft", out=tmp_path / "hub2", private=True, revision="v1",
                  max_shard_size="40KB", api=hub)
    assert hub.names() == ["create_repo", "create_branch", "list_repo_tree"]
    assert res.upload.uploaded == [] and res.upload.deleted == [] and sorted(res.upload.unchanged) == files

    # one split changed (a validation row dropped): only its shard and the card/report go up
    import shutil

    from factory.io.dataset import read_table, write_dataset

    changed = tmp_path / "sft_changed"
    shutil.copytree(lineage["sft"] / "train", changed / "train")
    val = read_table(lineage["sft"] / "validation")
    write_dataset(changed / "validation", "sft", val.slice(1), params=read_manifest(lineage["sft"] / "validation").params,
                  stats=read_manifest(lineage["sft"] / "validation").stats)
    hub.calls.clear()
    res = publish(changed, repo_id="me/quick-sft", out=tmp_path / "hub3", revision="v1", max_shard_size="40KB", api=hub)
    up = hub.calls[-1][1]
    assert sorted(up["allow_patterns"]) == ["README.md", "data/default/validation-00000-of-00001.parquet", "report.html"]
    assert up["delete_patterns"] is None

    # bigger shards: the new train shard goes up, this config's old train shards are deleted
    hub.calls.clear()
    res = publish(changed, repo_id="me/quick-sft", out=tmp_path / "hub4", revision="v1", api=hub)
    up = hub.calls[-1][1]
    assert "data/default/train-00000-of-00001.parquet" in up["allow_patterns"]
    assert sorted(up["delete_patterns"]) == sorted(f for f in files if f.startswith("data/default/train-"))
    assert sorted(hub.remote) == sorted(str(p.relative_to(tmp_path / "hub4")) for p in (tmp_path / "hub4").rglob("*") if p.is_file())


def test_offline_fails_fast_in_one_line_before_writing_anything(lineage, tmp_path):
    r = CliRunner().invoke(app, ["publish", str(lineage["sft"]), "--repo-id", "me/quick-sft", "-o", str(tmp_path / "hub")])
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "offline mode is on (HF_HUB_OFFLINE=1)" in lines[0] and "--dry-run" in lines[0]
    assert "Traceback" not in r.output and not (tmp_path / "hub").exists()


def test_offline_raised_inside_a_call_is_the_same_line(tmp_path, online):
    from huggingface_hub.errors import OfflineModeIsEnabled

    hub = FakeHub()
    hub.create_repo = lambda *a, **k: (_ for _ in ()).throw(OfflineModeIsEnabled("Cannot reach https://huggingface.co"))
    (tmp_path / "f").mkdir()
    with pytest.raises(PublishError, match="offline mode is on"):
        upload_folder(tmp_path / "f", repo_id="me/x", api=hub)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_one_line_naming_the_endpoint(tmp_path, online):
    from huggingface_hub import HfApi

    endpoint = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    (tmp_path / "f").mkdir()
    with pytest.raises(PublishError) as e:
        upload_folder(tmp_path / "f", repo_id="me/x", api=HfApi(endpoint=endpoint, token=SECRET))
    msg = str(e.value)
    assert "\n" not in msg and f"cannot reach the Hugging Face Hub at {endpoint}" in msg and "ConnectError" in msg
    assert SECRET not in msg


class _HubErrors(http.server.BaseHTTPRequestHandler):
    """Answers every request with the status in the path's first part, like the Hub's API
    does for a bad token (401), a namespace the token may not write (403) or an outage (500),
    and echoes the Authorization header in the error to prove it never reaches the user."""

    status = 401

    def _answer(self) -> None:
        body = json.dumps({"error": f"denied for {self.headers.get('authorization')}"}).encode()
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *a) -> None:
        pass


@pytest.fixture
def fake_hub_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HubErrors)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize(("status", "expected"), [
    (401, "the Hub rejected the token (401 Unauthorized); set HF_TOKEN"),
    (403, "the token may not write there (403 Forbidden); use a token with write access to 'someorg'"),
    (500, "the Hub answered 500"),
])
def test_http_errors_from_the_hub_are_one_line_without_the_token(lineage, tmp_path, online, monkeypatch,
                                                                  fake_hub_server, status, expected):
    import huggingface_hub
    from huggingface_hub import HfApi

    fake_hub_server.status = status
    endpoint = f"http://127.0.0.1:{fake_hub_server.server_address[1]}"
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda *a, **k: HfApi(endpoint=endpoint))  # token from HF_TOKEN
    r = CliRunner().invoke(app, ["publish", str(lineage["sft"]), "--repo-id", "someorg/set", "-o", str(tmp_path / "hub")])
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[-1].startswith("error: cannot publish to someorg/set: "), r.output
    assert expected in lines[-1]
    assert SECRET not in r.output and "Traceback" not in r.output
    assert not (tmp_path / "hub").exists(), "a refused token must stop publish before the folder is written"
    if status == 500:
        assert "***" in lines[-1]  # the server echoed the token; it was redacted


def test_repo_id_and_token_problems(lineage, tmp_path, online, monkeypatch):
    for bad in ("noslash", "a/b/c", "-org/name", "org/na--me", "org/" + "x" * 97, ""):
        with pytest.raises(InputError, match="--repo-id: expected ORG/NAME"):
            check_repo_id(bad)
    assert check_repo_id("my-org/r1_distill.v2") == "my-org/r1_distill.v2"
    r = CliRunner().invoke(app, ["publish", str(lineage["sft"]), "--repo-id", "not a repo", "--dry-run", "-o", str(tmp_path / "h")])
    assert r.exit_code == 1 and "--repo-id: expected ORG/NAME" in r.output
    r = CliRunner().invoke(app, ["publish", str(lineage["sft"]), "-o", str(tmp_path / "h")])
    assert r.exit_code == 1 and "--repo-id: expected ORG/NAME (required unless it is a dry run), found nothing" in r.output
    # the Hub's own validation (HFValidationError) is reported the same way
    from huggingface_hub.errors import HFValidationError

    hub = FakeHub()
    hub.create_repo = lambda *a, **k: (_ for _ in ()).throw(HFValidationError("Repo id must use alphanumeric chars"))
    (tmp_path / "f").mkdir()
    with pytest.raises(InputError, match="the Hub rejected 'me/x'"):
        upload_folder(tmp_path / "f", repo_id="me/x", api=hub)
    # no token anywhere: say how to log in, before any request
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_TOKEN_PATH", str(tmp_path / "hf_home" / "token"))
    monkeypatch.setattr(c, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf_home" / "stored_tokens"))
    with pytest.raises(PublishError, match="no Hugging Face token found"):
        upload_folder(tmp_path / "f", repo_id="me/x", api=FakeHub(token=None))


def test_publish_and_report_recipe_sections(lineage, tmp_path):
    root = lineage["sft"].parent
    assert validate_section("publish", {"input": "sft", "out": "hub", "dry_run": True}) == []
    problems = validate_section("publish", {"input": "sft", "out": "hub", "repo_id": "bad", "private": "yes",
                                            "max_shard_size": "huge", "colour": 1})
    assert len(problems) == 4 and any("publish.colour: unknown key" in p for p in problems), problems
    assert validate_section("publish", {"input": "sft", "out": "hub"}) == [
        "publish.repo_id: expected ORG/NAME (required unless it is a dry run), found nothing"]
    assert validate_section("publish", {"input": "sft", "out": "hub", "dry_run": True, "lineage": ["traces"]}) == [
        "publish.lineage: unknown key (expected one of: config, dry_run, input, max_shard_size, out, private, repo_id, revision)"]
    assert validate_section("report", {"input": "sft", "out": "report.txt"}) == ["report.out: expected an .html file path, found 'report.txt'"]
    logs: list[str] = []
    section = {"input": "sft", "out": "hub-recipe", "dry_run": True, "repo_id": "me/quick"}
    s = run_section("publish", section, run_dir=root, log=logs.append)
    assert s["splits"]["train"]["rows"] == read_manifest(lineage["sft"] / "train").rows and s["uploaded"] is None
    assert (root / "hub-recipe" / "README.md").read_text().count("## Funnel") == 1
    # the same section again is a no-op; another setting is refused, naming it
    assert run_section("publish", section, run_dir=root, log=logs.append).get("skipped") and "up to date" in logs[-1]
    with pytest.raises(Exception, match="config"):
        run_section("publish", {**section, "config": "other"}, run_dir=root, log=logs.append)
    s = run_section("report", {"input": "sft", "out": "report.html"}, run_dir=root, log=logs.append)
    assert (root / "report.html").read_text().startswith("<!DOCTYPE html>") and Path(s["out"]) == root / "report.html"
