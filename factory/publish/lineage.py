"""The lineage of a published folder, read from the stage records as a DAG.

Every stage run writes `OUT/stage.json` (factory.io.record): its stage, options, the parts it
wrote (`.`, `rejected`, `train`, ...) and each input's path RELATIVE to `OUT` with its content
fingerprint. Starting from the published folder's record, the inputs are followed recursively:

- an input that is a folder with its own record is a stage node (`verified/long_cot`);
- an input that is a part of a recorded output (`verified/long_cot/rejected`) is an edge to that
  node, reading that part;
- an input without a record is a leaf: a dataset folder made elsewhere or by a stage that does
  not record yet, a file (an ingested `.jsonl.gz`), a plain folder (a model), or a Hub id.

Nothing is guessed from command strings or folder names. Parallel branches stay separate nodes and
merge where a stage read several inputs (curate reading both trace branches), so each folder, and
each number, appears once. Nodes are listed sources first (a depth-first post-order from the
published folder, inputs in recorded order: the same folders give the same order).

No absolute path leaves this module: every node is named relative to the DAG root (the folder
that holds the published folder and, usually, the whole run), shipped package data as
`@data/...`, anything farther away by its last two path parts.

Exercise: `factory publish runs/quickstart/sft -o runs/quickstart/hub --dry-run` (the card's
Lineage section), `factory report runs/quickstart/sft -o report.html`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from factory.io import record as rec
from factory.io.dataset import MANIFEST
from factory.io.pending import PENDING

NodeKind = Literal["stage", "dataset", "folder", "file", "remote", "missing", "unfinished"]


@dataclass
class Edge:
    """`node` (a key of Lineage.nodes) read through its `part` ("." or e.g. "rejected")."""

    node: str
    part: str
    option: str


@dataclass
class Node:
    key: str  # display name, unique: relative to the DAG root, `@data/...`, or `…/a/b`
    path: Path  # resolved, on this machine: never printed
    kind: NodeKind
    stage: str | None = None  # the recorded stage (`dedup`); None for a leaf
    command: str | None = None  # the recorded command (`factory run quickstart: dedup`)
    record: dict[str, Any] | None = None
    inputs: list[Edge] = field(default_factory=list)
    parts: dict[str, Path] = field(default_factory=dict)  # dataset parts: "." / "rejected" / "train" -> folder
    changed: list[str] = field(default_factory=list)  # inputs re-made since this node was (their keys)

    @property
    def entry(self) -> str | None:
        """The recipe entry that ran it (`verify/long-cot`), from `factory run NAME: ENTRY`."""
        c = self.command or ""
        return c.split(": ", 1)[1] if c.startswith("factory run") and ": " in c else None


@dataclass
class Lineage:
    root: Path  # the DAG root: never printed
    top: str  # the published node's key
    nodes: dict[str, Node]  # sources first, the published node last

    def consumers(self, key: str) -> list[tuple[str, Edge]]:
        return [(k, e) for k, n in self.nodes.items() for e in n.inputs if e.node == key]

    def ancestors(self, key: str) -> set[str]:
        out: set[str] = set()
        stack = [e.node for e in self.nodes[key].inputs]
        while stack:
            k = stack.pop()
            if k not in out:
                out.add(k)
                stack.extend(e.node for e in self.nodes[k].inputs)
        return out

    def name(self, path: str | os.PathLike[str]) -> str:
        return display_path(path, self.root)

    def label(self, s: str) -> str:
        """A recorded name (a teacher): an absolute path becomes a relative name (display_path);
        anything else is scrubbed like free text."""
        return display_path(s, self.root) if os.path.isabs(s) else scrub(s, self.root)

    def text(self, s: str) -> str:
        """A recorded string made safe to publish: every absolute path of this machine inside it
        (the DAG root, the package data, the home folder) rewritten as a relative name."""
        return scrub(s, self.root)


def display_path(path: str | os.PathLike[str], root: Path) -> str:
    """How a path is shown: relative to `root` (at most two `..`), `@data/...` for package data,
    else `…/` and its last two parts; never absolute."""
    from factory.data import DATA_DIR

    p = Path(os.path.abspath(path))
    try:
        return "@data/" + p.relative_to(DATA_DIR).as_posix()
    except ValueError:
        pass
    try:
        rel = Path(os.path.relpath(p, root))
    except ValueError:  # another drive (Windows)
        rel = None
    if rel is not None and rel.parts.count("..") <= 2:
        return rel.as_posix()
    return "…/" + "/".join(p.parts[-2:])


def scrub(text: str, root: Path) -> str:
    """`text` with absolute paths under the root, the package data and the home folder made
    relative (a teacher recorded as a local model folder, a command line). A folder is replaced
    only as a whole path component, and never the filesystem root itself."""
    import re

    from factory.data import DATA_DIR

    if not text or ("/" not in text and "\\" not in text):
        return text
    swaps = [(DATA_DIR, "@data"), (root, "."), (Path.home(), "~")]
    for folder, name in sorted(swaps, key=lambda fn: -len(str(fn[0]))):
        if len(Path(folder).parts) < 2:
            continue  # `/` (or a drive): replacing it would rewrite every path separator
        f = re.escape(str(folder))
        text = re.sub(f + r"[/\\]", lambda m, n=name: "" if n == "." else n + "/", text)
        text = re.sub(f + r"(?![\w.-])", name, text)
    return text


def _locate(target: Path) -> tuple[Path, str, NodeKind]:
    """(node folder, part, kind) for a recorded input path."""
    if target.is_dir():
        if (target / rec.RECORD).exists():
            return target, ".", "stage"
        parent = target.parent
        if (parent / rec.RECORD).exists():
            r = rec.read_record(parent) or {}
            if target.name in (r.get("parts") or {}):
                return parent, target.name, "stage"
        if (target / PENDING).exists() or (parent / PENDING).exists():
            return target, ".", "unfinished"
        return target, ".", ("dataset" if (target / MANIFEST).exists() else "folder")
    if target.is_file():
        return target, ".", "file"
    return target, ".", "missing"


def read_lineage(src: str | os.PathLike[str]) -> Lineage:
    """Walk the records from `src` (the published folder) to the sources."""
    top = Path(src).resolve()
    found: dict[Path, Node] = {}  # by folder, in post-order once finished
    order: list[Path] = []
    edges: dict[Path, list[tuple[Path, str, str]]] = {}
    remote: dict[str, Node] = {}

    def visit(path: Path, kind: NodeKind) -> None:
        if path in found:
            return
        node = Node(key="", path=path, kind=kind)
        found[path] = node
        edges[path] = []
        if kind == "stage":
            r = rec.read_record(path) or {}
            node.record = r
            node.stage = (r.get("key") or {}).get("stage")
            node.command = (r.get("run") or {}).get("command")
            node.parts = {name: (path if name == "." else path / name) for name in (r.get("parts") or {})}
            for inp in r.get("inputs") or []:
                p, option = str(inp.get("path") or ""), str(inp.get("option") or "input")
                if not p:
                    continue
                if rec.is_remote(p) or p.startswith("hf:") or (not os.path.isabs(p) and not (path / p).exists() and not p.startswith(".")):
                    # a Hub id, a URL or a served model name: a leaf named as recorded
                    rn = remote.setdefault(p, Node(key=p, path=Path(p), kind="remote"))
                    edges[path].append((rn.path, ".", option))
                    found.setdefault(rn.path, rn)
                    continue
                target = (path / p).resolve()
                where, part, k = _locate(target)
                visit(where, k)
                edges[path].append((where, part, option))
                fp = inp.get("fingerprint")
                if fp and k in ("stage", "dataset") and part == "." and _current_fp(target) != fp:
                    node.changed.append(str(where))
        elif kind == "dataset":
            node.parts = {".": path}
        if path not in order:
            order.append(path)

    kind: NodeKind = "stage" if (top / rec.RECORD).exists() else ("dataset" if (top / MANIFEST).exists() else "folder")
    visit(top, kind)
    for p in list(found):
        if p not in order:
            order.insert(0, p)  # remote leaves
    if kind == "folder":  # a folder of split folders made without a record: its splits are its parts
        node = found[top]
        for sub in sorted(top.iterdir()):
            if sub.is_dir() and (sub / MANIFEST).exists():
                node.parts[sub.name] = sub

    root = _root(top, [p for p, n in found.items() if n.kind in ("stage", "dataset", "unfinished")])
    names: dict[Path, str] = {}
    used: set[str] = set()
    for p in order:
        n = found[p]
        name = n.key if n.kind == "remote" else display_path(p, root)
        base, i = name, 2
        while name in used:
            name, i = f"{base} ({i})", i + 1
        used.add(name)
        names[p] = name
    nodes: dict[str, Node] = {}
    for p in order:
        n = found[p]
        n.key = names[p]
        n.inputs = [Edge(names[w], part, opt) for w, part, opt in edges.get(p, [])]
        n.changed = [names[Path(c)] for c in n.changed]
        nodes[n.key] = n
    return Lineage(root=root, top=names[top], nodes=nodes)


def _current_fp(path: Path) -> str | None:
    try:
        return rec.fingerprint(path)
    except Exception:  # an unreadable upstream folder is reported by its own reader
        return None


def _root(top: Path, paths: list[Path]) -> Path:
    """The folder every node is named from: the closest common folder of the recorded nodes,
    unless that is far above the published folder (folders spread over the disk), then the
    published folder's parent."""
    if not paths:
        return top.parent
    try:
        common = Path(os.path.commonpath([str(p) for p in paths]))
    except ValueError:
        return top.parent
    if common == top or not top.parent.is_relative_to(common):
        return top.parent
    if len(top.parent.relative_to(common).parts) > 2:
        return top.parent
    return common


def tree_lines(lin: Lineage, describe: Any) -> list[str]:
    """The DAG drawn as text, read from the published folder back to the sources: each folder's
    inputs are its branches; a folder already drawn (where branches merge: the problems both
    trace branches were generated from) is named again with `↑`, never expanded or counted twice.
    `describe(node, part)` gives the text after the name."""
    rows: list[tuple[str, str]] = []
    shown: set[str] = set()

    def walk(key: str, part: str, prefix: str, connector: str, child_prefix: str) -> None:
        node = lin.nodes[key]
        name = key if part == "." else f"{key}/{part}"
        if key in shown:
            rows.append((f"{prefix}{connector}{name}", "↑ " + (f"the {part}/ part of {key}, above" if part != "." else "above")
                         + (f": {describe(node, part)}" if part != "." else "")))
            return
        shown.add(key)
        rows.append((f"{prefix}{connector}{name}", describe(node, part) + (f" (read: its {part}/ part)" if part != "." else "")))
        for i, e in enumerate(node.inputs):
            last = i == len(node.inputs) - 1
            walk(e.node, e.part, child_prefix, "└── " if last else "├── ", child_prefix + ("    " if last else "│   "))

    walk(lin.top, ".", "", "", "")
    width = max(len(a) for a, _ in rows)
    return [f"{a.ljust(width)}  {b}".rstrip() for a, b in rows]
