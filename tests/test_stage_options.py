"""Every stage's options are declared once: its command exposes exactly the dataclass's fields
(same names, defaults and help), its recipe section accepts exactly those keys, and both front
ends refuse a bad value with the same words. Also: every flag a hint names exists."""

from __future__ import annotations

import ast
import re
import typing
from dataclasses import MISSING
from pathlib import Path

import click
import pytest
import typer

from factory.cli.app import app
from factory.pipeline.stages import STAGES
from factory.schemas.options import check_values, options_of

REPO = Path(__file__).resolve().parents[1]
# parameters a command adds on top of its options: run control and presentation only
EXTRAS = {"overwrite", "help", "preflight_only", "as_json"}


def _click_command(name: str) -> click.Command:
    group = typer.main.get_command(app)
    return group.commands[name]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", list(STAGES))
def test_cli_exposes_exactly_the_options(name):
    cls, _ = STAGES[name]
    cmd = _click_command(name)
    params = {p.name: p for p in cmd.params if p.name not in EXTRAS}
    declared = {o.name: o for o in options_of(cls) if o.cli}
    assert set(params) == set(declared), f"{name}: CLI {sorted(params)} vs options {sorted(declared)}"
    for n, o in declared.items():
        p = params[n]
        assert (p.help or "") == o.help, (name, n)
        if o.argument:
            assert p.param_type_name == "argument", (name, n)
            continue
        assert o.flag in p.opts or any(o.flag in s for s in p.secondary_opts + p.opts), (name, n, p.opts)
        if o.short:
            assert o.short in p.opts, (name, n)
        if o.required:
            assert p.required, (name, n)
        elif not isinstance(o.default, (list, dict)):
            assert p.default == o.default, (name, n, p.default, o.default)


@pytest.mark.parametrize("name", list(STAGES))
def test_recipe_section_accepts_exactly_the_options(name):
    cls, _ = STAGES[name]
    visible = [o for o in options_of(cls) if o.recipe]
    required = {o.name: ([] if typing.get_origin(o.base) is list else "x") for o in visible if o.required}
    for o in visible:
        values = {**required, o.name: o.default if o.default is not MISSING else required[o.name]}
        assert not [p for p in check_values(cls, values, path=name) if "unknown key" in p], (name, o.name)
    problems = check_values(cls, {**required, "no_such_option": 1}, path=name)
    assert any(p.startswith(f"{name}.no_such_option: unknown key") for p in problems)
    hidden = [o.name for o in options_of(cls) if not o.recipe]
    for h in hidden:
        assert any("unknown key" in p for p in check_values(cls, {**required, h: None}, path=name)), (name, h)


def _bad_value(o) -> object | None:
    b = o.base
    if b is int and (o.ge is not None or o.gt is not None):
        return int((o.ge if o.ge is not None else o.gt) - 1)
    if b is float and (o.gt is not None or o.ge is not None):
        return float((o.gt if o.gt is not None else o.ge) - 1)
    if typing.get_origin(b) is typing.Literal:
        return "no-such-choice"
    return None


@pytest.mark.parametrize("name", list(STAGES))
def test_cli_and_recipe_refuse_with_the_same_words(name):
    cls, _ = STAGES[name]
    required = {o.name: ([] if typing.get_origin(o.base) is list else "x") for o in options_of(cls) if o.required}
    checked = 0
    for o in options_of(cls):
        bad = _bad_value(o)
        if bad is None or not (o.cli and o.recipe):
            continue
        values = {**required, o.name: bad}
        recipe = [p for p in check_values(cls, values, style="recipe", path=name) if p.startswith(f"{name}.{o.name}")]
        cli = [p for p in check_values(cls, values, style="cli") if p.startswith(o.ref("cli"))]
        assert recipe and cli, (name, o.name)
        assert recipe[0].split(": ", 1)[1] == cli[0].split(": ", 1)[1], (recipe, cli)
        checked += 1
    assert checked or name in ("inspect", "publish", "report"), f"{name}: no bounded option checked"


def test_a_bad_value_is_refused_on_the_command_line_like_in_a_recipe(tmp_path):
    from typer.testing import CliRunner

    from factory.pipeline.recipe import validate_section

    res = CliRunner().invoke(app, ["dedup", str(tmp_path), "-o", str(tmp_path / "o"), "--threshold", "1.5"])
    assert res.exit_code == 1
    assert "--threshold: expected a number in (0, 1), found 1.5" in res.output
    assert validate_section("dedup", {"input": "a", "out": "b", "threshold": 1.5}) == [
        "dedup.threshold: expected a number in (0, 1), found 1.5"]


def _all_flags() -> set[str]:
    flags = {"--debug", "--version", "--help"}
    group = typer.main.get_command(app)

    def walk(cmd: click.Command) -> None:
        for p in cmd.params:
            flags.update(p.opts)
            flags.update(p.secondary_opts)
        for sub in getattr(cmd, "commands", {}).values():
            walk(sub)

    walk(group)
    return flags


def _hint_strings() -> list[tuple[str, int, str]]:
    """Every hint text (`hint=...`) in the product, its string pieces joined (an f-string's
    values stand as `{}`)."""
    out = []
    for folder in ("factory", "filters", "recipes", "schemas", "cli"):
        for py in (REPO / folder).rglob("*.py"):
            tree = ast.parse(py.read_text(), filename=str(py))
            for node in ast.walk(tree):
                if isinstance(node, ast.keyword) and node.arg == "hint":
                    parts = []
                    for sub in ast.walk(node.value):
                        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                            parts.append(sub.value)
                        elif isinstance(sub, ast.FormattedValue):
                            parts.append("{}")
                    if parts:
                        out.append((str(py.relative_to(REPO)), node.value.lineno, "".join(parts)))
    return out


def _factory_flags_named(text: str) -> list[str]:
    """Flags a hint tells the user to pass to factory: those outside `code spans`, and those in
    spans that run factory (`factory ...`); a span running another tool (`hf download ...`,
    `pip install ...`) names that tool's flags."""
    flags = []
    for i, piece in enumerate(re.split(r"`", text)):
        if i % 2 == 1 and piece.strip() and not piece.strip().startswith("factory"):
            continue
        flags += re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", piece)
    return flags


def test_every_flag_a_hint_names_exists():
    flags = _all_flags()
    hints = _hint_strings()
    assert len(hints) > 50  # the scan found the hints
    bad = []
    for where, line, text in hints:
        for flag in _factory_flags_named(text):
            if flag not in flags:
                bad.append(f"{where}:{line}: {flag} in {text!r}")
    assert not bad, "hints name flags no command has:\n" + "\n".join(bad)


def test_the_hint_scan_tells_factory_flags_from_other_tools():
    assert _factory_flags_named("pass --overwrite, or `factory verify --strict`") == ["--overwrite", "--strict"]
    assert _factory_flags_named("download it with `hf download ORG/NAME --repo-type dataset`") == []
