"""Import direction schemas ◄ filters ◄ recipes ◄ factory core ◄ cli, and a cheap CLI import."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAYERS = {"schemas": 0, "filters": 1, "recipes": 2, "factory": 3, "cli": 4}
IMPORT_NAME = {"schemas": "factory.schemas", "filters": "factory.filters", "recipes": "factory.recipes", "cli": "factory.cli"}
HEAVY = ["torch", "transformers", "trl", "vllm", "ray", "huggingface_hub", "datasets", "peft", "accelerate"]


def _layer_of_module(mod: str) -> int | None:
    if not (mod == "factory" or mod.startswith("factory.")):
        return None
    parts = mod.split(".")
    if len(parts) >= 2 and parts[1] in ("schemas", "filters", "recipes", "cli"):
        return LAYERS[parts[1]]
    return LAYERS["factory"]


def test_import_direction():
    bad = []
    for folder, layer in LAYERS.items():
        for py in (REPO / folder).rglob("*.py"):
            tree = ast.parse(py.read_text(), filename=str(py))
            for node in ast.walk(tree):
                mods = []
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    mods = [node.module]
                for m in mods:
                    target = _layer_of_module(m)
                    if target is not None and target > layer:
                        bad.append(f"{py.relative_to(REPO)}:{node.lineno} imports {m}")
    assert not bad, "imports against the layer order schemas ◄ filters ◄ recipes ◄ factory ◄ cli:\n" + "\n".join(bad)


def test_cli_import_loads_no_heavy_library():
    code = (
        "import sys, json; import factory.cli.app; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_help_lists_every_product_command():
    from factory.cli.app import app
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ["ingest", "generate", "teacher", "verify", "filter", "dedup", "decontaminate", "curate", "recipes",
                "publish", "report", "train", "eval", "inspect", "schema", "run"]:
        assert f" {cmd} " in res.output, cmd


def test_wheel_maps_every_package_folder():
    import tomllib

    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    mapping = cfg["package-dir"]
    for top, folder in mapping.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            name = ".".join([top, *rel.parts]) if rel.parts else top
            if name.startswith("factory.") and name.split(".")[1] in IMPORT_NAME and top == "factory":
                continue  # folder inside factory/ that shadows a mapped name: none expected
            assert name in listed, f"{init.parent} is a package but not listed in pyproject packages"


def _project_import_graph() -> dict[str, set[str]]:
    """module -> project modules it imports (top-level or inside functions)."""
    roots = {"factory": "factory", "schemas": "factory.schemas", "filters": "factory.filters",
             "recipes": "factory.recipes", "cli": "factory.cli"}
    mods: dict[str, Path] = {}
    for folder, pkg in roots.items():
        for py in (REPO / folder).rglob("*.py"):
            parts = [p for p in py.relative_to(REPO / folder).with_suffix("").parts if p != "__init__"]
            mods[".".join([pkg, *parts])] = py
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, py in mods.items():
        for node in ast.walk(ast.parse(py.read_text(), filename=str(py))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            graph[m].update(t for t in targets if t in mods and t != m)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_no_import_cycle_among_project_modules():
    graph = _project_import_graph()
    assert len(graph) > 100  # the scan saw the project
    cycles = _cycles(graph)
    assert not cycles, "import cycles (function-level imports count too):\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_planted_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
