"""Output of `factory publish DIR -o HUB [--repo-id ORG/NAME] [--dry-run] ...` (its flags come
from factory.publish.options.PublishOptions): the Hub-ready folder written (shards, README.md
with the dataset card, report.html) and what was uploaded."""

from __future__ import annotations

from typing import Any

from factory.cli.console import out


def before(opts: Any, extra: dict[str, Any]) -> bool:
    """Fail fast, before minutes of shard writing and before OUT is touched, when the upload
    cannot happen anyway (offline, no token, a refused token or namespace)."""
    from factory.publish.core import preflight

    preflight(opts)
    return False


def present(summary: dict[str, Any], opts: Any) -> None:
    if summary.get("skipped"):
        out.print(f"up to date: {opts.out} (same input and options; nothing written or uploaded — pass --overwrite to redo it)")
        return
    splits = summary.get("splits") or {}
    out.print(f"wrote {opts.out} (config {summary.get('config')}): "
              + ", ".join(f"{name} {s['rows']:,} rows in {s['files']} shard(s)" for name, s in splits.items()))
    out.print(f"  card   {opts.out}/{summary.get('card')}")
    out.print(f"  report {opts.out}/{summary.get('report')}")
    up = summary.get("uploaded")
    if up is None:
        out.print("dry run: nothing uploaded")
    elif not up["uploaded"] and not up["deleted"]:
        out.print(f"{up['url']}: up to date, nothing uploaded ({up['unchanged']} file(s) unchanged)")
    else:
        out.print(f"uploaded {len(up['uploaded'])} file(s), removed {len(up['deleted'])}, unchanged {up['unchanged']}: {up['url']}")
