"""The repository is self-contained: no file in it (other than under `.ci/`) reaches for a folder
beside the checkout or names an absolute path of the machine it was written on, and every data file
shipped for the product or the tests is attributed in the SOURCES.md of its data folder.

A user's clone has nothing beside it, so a test, benchmark, quickstart or README that points there
fails for them and only for them. `.ci/run` proves the same end to end (`make test` in a fresh clone);
this test names the offending line right away. Run: `pytest tests/test_self_contained.py`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Built from pieces so this file does not match itself.
_SIBLING = "shared"
_OUTSIDE = [
    (re.compile(r"\.\.[/\\]" + _SIBLING + r"\b"), "a relative path out of the repository into ../" + _SIBLING),
    (re.compile(r"(?<![\w-])" + _SIBLING + r"/data\b"), "the team data folder beside the checkout"),
    (re.compile(r"""\.parents?(?:\[\d+\])?\s*/\s*["']""" + _SIBLING + """["']"""), "a pathlib path to a folder beside the checkout"),
    (re.compile(r"""["']\.\.["']\s*,\s*["']""" + _SIBLING + """["']"""), "os.path.join into a folder beside the checkout"),
    (re.compile(r"(?<![\w.:/-])/" + "work" + r"/"), "an absolute path of the development machine"),
]
_SKIP_DIRS = {".git", ".venv", "runs", "build", "dist", "node_modules", "__pycache__", ".pytest_cache", ".ci"}
_DATA_SUFFIXES = (".gz", ".jsonl", ".json", ".tsv", ".csv", ".parquet", ".txt")


def _repo_files() -> list[str]:
    """Tracked and new (not ignored) files, relative to the repository; outside git, a walk of the tree
    that skips virtualenvs, build outputs and run folders."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=REPO, capture_output=True, check=True, timeout=60).stdout
        files = [f for f in out.decode("utf-8", "surrogateescape").split("\0") if f]
    except (OSError, subprocess.SubprocessError):
        files = [str(p.relative_to(REPO)) for p in REPO.rglob("*")
                 if p.is_file() and not _SKIP_DIRS.intersection(p.relative_to(REPO).parts)]
    return sorted(f for f in files if (REPO / f).is_file() and not f.startswith(".ci/"))


def _text(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:8192] or path.suffix in (".gz", ".parquet", ".zst"):
        return None  # binary data, not a place where code or docs name paths
    return data.decode("utf-8", "replace")


def _machine_paths() -> list[re.Pattern]:
    """Where this checkout happens to live: no shipped file may name it (a user's clone lives elsewhere).
    Matched as a path of its own (not inside a URL such as https://host/DIR/... where DIR is its first folder)."""
    here = [str(REPO)]
    if len(REPO.parent.parts) > 1:
        here.append(str(REPO.parent) + "/")
    return [re.compile(r"(?<![\w.:/-])" + re.escape(p)) for p in here]


def test_no_file_reaches_outside_the_repository():
    problems = []
    local = _machine_paths()
    for rel in _repo_files():
        text = _text(REPO / rel)
        if text is None:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            why = next((why for pattern, why in _OUTSIDE if pattern.search(line)), None)
            if why:
                problems.append(f"{rel}:{n}: {why}: {line.strip()[:160]}")
            for p in local:
                if p.search(line):
                    problems.append(f"{rel}:{n}: names this checkout's absolute location {p.pattern!r}: {line.strip()[:160]}")
    assert not problems, (
        "files in the repository point outside it (a user's clone has nothing beside it):\n  "
        + "\n  ".join(problems)
        + "\nfix: copy the data the line needs into tests/data/ (test-only) or factory/data/ (the product uses it), "
        "trimmed and gzip-compressed, with its origin and license in that folder's SOURCES.md; "
        "reach it through the package_data / test_data fixtures or factory.data.DATA_DIR"
    )


def test_the_check_catches_what_it_should():
    """The patterns fire on the ways a file reaches outside, and not on ordinary uses of the word."""
    bad = ['DATA = REPO.parent / "%s" / "data"' % _SIBLING, "see ../%s/DESIGN.md" % _SIBLING,
           'Path(__file__).resolve().parents[2] / "%s"' % _SIBLING, "open('/%s/main/x')" % "work",
           'os.path.join(HERE, "..", "%s", "data")' % _SIBLING, "copied from the team's %s/data" % _SIBLING]
    good = ["the box is shared, wall time is noisy", "def test_long_shared_header_is_boilerplate():",
            "https://example.org/%s/items" % "work", "shared_memory = True", "./works/a"]
    for line in bad:
        assert any(p.search(line) for p, _ in _OUTSIDE), line
    for line in good:
        assert not any(p.search(line) for p, _ in _OUTSIDE), line


def test_every_shipped_data_file_is_attributed():
    """Each data file under factory/data/ and tests/data/ is named (by its path inside that folder) in
    the folder's SOURCES.md, which says where it came from and under which license."""
    missing = []
    for root in ("factory/data", "tests/data"):
        sources = REPO / root / "SOURCES.md"
        assert sources.is_file(), f"{root}/SOURCES.md is missing: it must give origin and license of every file in {root}/"
        listed = sources.read_text(encoding="utf-8")
        for rel in _repo_files():
            if not rel.startswith(root + "/") or not rel.endswith(_DATA_SUFFIXES):
                continue
            inner = rel[len(root) + 1:]
            if inner not in listed and f"`{Path(inner).name}`" not in listed:  # full path, or the name under its folder's heading
                missing.append(f"{rel} (add `{inner}` with its origin, license and trimming to {root}/SOURCES.md)")
    assert not missing, "data files without attribution:\n  " + "\n  ".join(missing)
