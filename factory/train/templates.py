"""`factory train --chat-template`: a Jinja file, or the name of a template shipped in
factory/data/templates (`chatml_think`, also written `chatml-think` or `chatml_think.jinja`).
A shipped template renders assistant turns verbatim (the `<think>` block intact) inside
`{% generation %}` markers, with the end-of-turn token in the trained span.

Exercise: `factory train --data D --student M -o OUT --chat-template chatml_think`.
"""

from __future__ import annotations

from pathlib import Path

from factory.data import DATA_DIR
from factory.schemas.errors import InputError

TEMPLATES = DATA_DIR / "templates"


def shipped() -> dict[str, Path]:
    """Shipped templates by name (the file's stem)."""
    return {p.stem: p for p in sorted(TEMPLATES.glob("*.jinja"))}


def _as_name(value: str) -> str:
    name = Path(value).name
    for suffix in (".jinja2", ".jinja", ".j2"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name.replace("-", "_")


def resolve(value: str | Path) -> tuple[Path, str]:
    """(file, label): an existing file wins; otherwise a shipped template's name."""
    p = Path(value).expanduser()
    if p.is_file():
        return p, str(value)
    # a recipe resolves relative paths against its run folder: a bare name arrives as RUN/NAME
    name = _as_name(str(value))
    found = shipped().get(name)
    if found is not None:
        return found, f"shipped template {name}"
    raise InputError(template_problem(str(value)) or f"--chat-template {value}: not found")


def template_problem(value: str) -> str | None:
    p = Path(value).expanduser()
    if p.is_file() or _as_name(value) in shipped():
        return None
    names = ", ".join(shipped()) or "none"
    return f"expected a .jinja file or the name of a shipped template ({names}), found {value!r}"


def read(value: str | Path) -> str:
    path, _ = resolve(value)
    return path.read_text(encoding="utf-8")
