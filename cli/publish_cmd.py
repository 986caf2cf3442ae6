"""`factory publish DIR --repo-id ORG/NAME [--private] [--revision REV] [--config NAME]
[--dry-run] [--out FOLDER] [--max-shard-size 500MB] [--lineage DIR]...`: write the Hub-ready
folder (shards, README.md with the dataset card, report.html) and upload it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from factory.cli.console import out


def publish(
    src: Annotated[Path, typer.Argument(help="SFT output folder (train/, validation/) or any dataset folder.", show_default=False)],
    repo_id: Annotated[str | None, typer.Option("--repo-id", help="Hub dataset repo ORG/NAME (required unless --dry-run).")] = None,
    private: Annotated[bool, typer.Option("--private", help="Create the repo as private (when it does not exist yet).")] = False,
    revision: Annotated[str | None, typer.Option("--revision", help="Branch to publish to (created if missing).")] = None,
    config: Annotated[str, typer.Option("--config", help="Config name: files go to data/<config>/.")] = "default",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only write the folder; no network.")] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where to write the Hub folder [default: DIR/hub].")] = None,
    max_shard_size: Annotated[str, typer.Option("--max-shard-size", help="Largest Parquet shard, e.g. 500MB, 1GB.")] = "500MB",
    lineage: Annotated[list[Path] | None, typer.Option("--lineage", help="An upstream dataset folder to read funnels from (repeatable).")] = None,
) -> None:
    """Write a Hub-ready folder with a generated dataset card and report, then upload it."""
    from factory.publish.core import publish as run_publish

    res = run_publish(src, repo_id=repo_id, out=out_dir, config=config, private=private, revision=revision,
                      dry_run=dry_run, max_shard_size=max_shard_size, lineage=list(lineage or []))
    hub = res.folder
    out.print(f"wrote {hub.path} (config {hub.config}): "
              + ", ".join(f"{s.name} {s.rows:,} rows in {len(s.files)} shard(s)" for s in hub.splits))
    out.print(f"  card   {hub.readme}")
    out.print(f"  report {res.report}")
    up = res.upload
    if up is None:
        out.print("dry run: nothing uploaded")
    elif not up.uploaded and not up.deleted:
        out.print(f"{up.url}: up to date, nothing uploaded ({len(up.unchanged)} file(s) unchanged)")
    else:
        out.print(f"uploaded {len(up.uploaded)} file(s), removed {len(up.deleted)}, unchanged {len(up.unchanged)}: {up.url}")
