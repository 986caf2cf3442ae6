"""The shape of an answer: equations, labelled lists, inequalities — read on prepared LaTeX.

Pure string functions used by `math_equiv` before any number is compared:

- `split_equation(s)`: the sides of a top-level `=` chain (`a = b = c`), or None. `<=`, `>=`,
  `!=`, `:=` and `==` are not equalities.
- `equation_name(lhs)`: the left side is a *name* — a symbol (`y`, `BC`, `a_n`, `S_{10}`, `y'`,
  `\\angle ABC`, `\\text{area}`) or a function application (`f(x)`, `v(r)`, `f^{-1}(x)`) — so
  `v(r) = \\sqrt{r}` states the value `\\sqrt{r}`; returns `(name, argument or None)`.
- `labelled_items(s)`: a top-level comma list split into `(label or None, value)` pairs:
  `a = -2, b = -2`, `Rayna: 7, Qing: 14`, `x = 1, 3, 5` (the label names the first item only).
- `inequality_to_interval(s)`: `k < -5` -> `(-\\infty,-5)`, `-2 \\le x < 3` -> `[-2,3)`, `x < 1 \\text{
  or } x > 4` -> `(-\\infty,1) \\cup (4,\\infty)`; None when `s` is not a one-variable inequality.
- `rename_symbol(s, old, new)`: replace a single-letter symbol outside command names.
- `fold_case(s)`: lower-case single-letter symbols when no letter appears in both cases.

Exercised by `python -m pytest -q tests/test_math_equiv.py`.
"""

from __future__ import annotations

import re
from functools import lru_cache

_OPEN, _CLOSE = "([{", ")]}"


def _top_level_positions(s: str, chars: str) -> list[int]:
    out, depth = [], 0
    for k, ch in enumerate(s):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif depth == 0 and ch in chars:
            out.append(k)
    return out


@lru_cache(maxsize=65536)
def split_equation(s: str) -> tuple[str, ...] | None:
    """Sides of a top-level equality chain, or None when `s` has no top-level `=`."""
    if "=" not in s:
        return None
    cuts = [k for k in _top_level_positions(s, "=") if (k == 0 or s[k - 1] not in "<>!:=\\") and (k + 1 >= len(s) or s[k + 1] != "=")]
    if not cuts:
        return None
    parts, prev = [], 0
    for k in cuts:
        parts.append(s[prev:k].strip())
        prev = k + 1
    parts.append(s[prev:].strip())
    if any(not p for p in parts):
        return None
    return tuple(parts)


_SYMBOL = (
    r"(?:\\angle\s*[A-Za-z](?:[A-Za-z]|_\{?\w+\}?)*"
    r"|\\(?:overline|overrightarrow|vec|widehat|hat|bar|tilde|text|mathrm|operatorname)\s*\{[^{}]*\}(?:_\{?\w+\}?)?"
    r"|\\[a-zA-Z]+(?:_(?:\{[^{}]*\}|\w))?"
    r"|[A-Za-z]{1,3}(?:_(?:\{[^{}]*\}|\w))?(?:'+)?"
    r"|\|[A-Za-z]{1,3}\|)"
)
_NAME = re.compile(r"\s*(" + _SYMBOL + r")\s*(\^\{?-1\}?\s*)?(?:\(\s*([^()]*?)\s*\))?\s*(\^\s*\{?\d\}?)?\s*")
# commands that are values or operators, never the name of a quantity
_NOT_NAMES = frozenset(
    "\\frac \\dfrac \\tfrac \\sqrt \\pi \\infty \\sin \\cos \\tan \\log \\ln \\exp \\cdot \\times \\pm \\mp "
    "\\left \\right \\binom \\dbinom \\sum \\prod \\int \\lim \\min \\max \\lfloor \\lceil \\e".split()
)


@lru_cache(maxsize=65536)
def equation_name(lhs: str) -> tuple[str, str | None] | None:
    """(name, argument) when `lhs` names a quantity or a function: `y`, `f(x)`, `BC^2`, `a_{n}`;
    None for an expression (`x^2 + y^2`, `2x`, `\\frac{a}{b}`)."""
    m = _NAME.fullmatch(lhs)
    if not m:
        return None
    name = m.group(1)
    if name.split("_")[0].strip() in _NOT_NAMES:
        return None
    arg = m.group(3)
    # the inverse mark and a power belong to the name: f^{-1}(x) is not f(x), BC^2 is not BC
    full = name + (m.group(2) or "") + (m.group(4) or "")
    return re.sub(r"\s+", "", full), (re.sub(r"\s+", "", arg) if arg is not None else None)


_LABEL = re.compile(
    r"\s*(?:\\textbf\{|\*\*)?\s*("
    + _SYMBOL
    + r"(?:\s*\([^()]*\))?|[^\W\d_][\w'’ .-]{0,30}?)\s*(?:\}|\*\*)?\s*(=|:|\\colon)\s*(?!=)(.+)$",
    re.DOTALL,
)


_EDGE_SPACE = re.compile(r"^(?:\s|\\[ ,;:!]|\\q?quad(?![a-zA-Z])|~)+|(?:\s|\\[ ,;:!]|\\q?quad(?![a-zA-Z])|~)+$")


def split_items(s: str) -> list[str]:
    """Top-level comma (or semicolon) items, LaTeX spacing trimmed."""
    cuts = _top_level_positions(s, ",;")
    if not cuts:
        return [_EDGE_SPACE.sub("", s)]
    out, prev = [], 0
    for k in cuts:
        out.append(_EDGE_SPACE.sub("", s[prev:k]))
        prev = k + 1
    out.append(_EDGE_SPACE.sub("", s[prev:]))
    return out


@lru_cache(maxsize=65536)
def labelled_items(s: str) -> tuple[tuple[str | None, str], ...] | None:
    """`a = -2, b = -2` -> (("a", "-2"), ("b", "-2")); None when no item carries a label.
    A label is a name followed by `=` or `:` whose value has no further top-level `=`."""
    if "=" not in s and ":" not in s and "\\colon" not in s:
        return None
    out, any_label = [], False
    for item in split_items(s):
        if not item:
            return None
        m = _LABEL.match(item)
        if m and (m.group(2) != "=" or equation_name(m.group(1)) is not None) and split_equation(m.group(3)) is None:
            label = re.sub(r"\s+|\\textbf|\*\*", "", m.group(1)).strip("{}")
            out.append((label, m.group(3).strip()))
            any_label = True
        else:
            out.append((None, item))
    return tuple(out) if any_label else None


_REL = re.compile(r"\\leqslant|\\geqslant|\\leq|\\geq|\\le(?![a-zA-Z])|\\ge(?![a-zA-Z])|<=|>=|<|>")
_OR = re.compile(r"\\text\s*\{\s*or\s*\}|\\mbox\s*\{\s*or\s*\}|\\lor|\\vee|\\cup|(?<=[\s\d}])or(?=[\s\\\-\d])|,|;")
_VAR = re.compile(r"\s*([a-zA-Z]|\\(?:alpha|beta|gamma|theta|lambda|mu|omega|phi|varphi|rho|sigma|tau)(?![a-zA-Z]))(?:_\{?\w+\}?)?\s*")
_INF = "\\infty"


def _rel_kind(op: str) -> tuple[str, bool]:
    """('<' or '>', inclusive)."""
    less = op.startswith(("<", "\\le"))
    return ("<" if less else ">"), ("=" in op or op.startswith(("\\le", "\\ge")))


def _one_interval(piece: str) -> tuple[str, str] | None:
    """(interval LaTeX, variable) for `a < x <= b`, `x > 3`, `3 >= x`."""
    ops = list(_REL.finditer(piece))
    if not ops or len(ops) > 2:
        return None
    parts, prev = [], 0
    for m in ops:
        parts.append(piece[prev : m.start()].strip())
        prev = m.end()
    parts.append(piece[prev:].strip())
    if any(not p for p in parts):
        return None
    kinds = [_rel_kind(m.group(0)) for m in ops]
    if len(parts) == 2:
        a, b = parts
        (k, inc) = kinds[0]
        va, vb = _VAR.fullmatch(a), _VAR.fullmatch(b)
        if va and not vb:
            var, bound, var_first = va.group(0).strip(), b, True
        elif vb and not va:
            var, bound, var_first = vb.group(0).strip(), a, False
        else:
            return None
        # x < b  or  b > x: the variable is below the bound
        below = (k == "<") == var_first
        if below:
            return f"(-{_INF},{bound}{']' if inc else ')'}", var
        return f"{'[' if inc else '('}{bound},{_INF})", var
    a, v, b = parts
    vm = _VAR.fullmatch(v)
    if not vm or kinds[0][0] != kinds[1][0]:
        return None
    (k, inc_a), (_, inc_b) = kinds
    if k == ">":  # 5 > x > 1 -> 1 < x < 5
        a, b, inc_a, inc_b = b, a, inc_b, inc_a
    return f"{'[' if inc_a else '('}{a},{b}{']' if inc_b else ')'}", vm.group(0).strip()


@lru_cache(maxsize=16384)
def inequality_to_interval(s: str) -> str | None:
    """Interval (or union) for a one-variable inequality; None otherwise."""
    if not _REL.search(s):
        return None
    pieces = [p for p in _OR.split(s) if p.strip()]
    if not pieces or len(pieces) > 4:
        return None
    out, var = [], None
    for p in pieces:
        got = _one_interval(p)
        if got is None:
            return None
        if var is not None and got[1] != var:
            return None
        var = got[1]
        out.append(got[0])
    return " \\cup ".join(out)


def rename_symbol(s: str, old: str, new: str) -> str:
    """Replace the single-letter symbol `old` by `new` (never inside a command name like \\max)."""
    return re.sub(r"(?<![\\A-Za-z])" + re.escape(old) + r"(?![A-Za-z])", new, s)


_COMMAND = re.compile(r"\\[a-zA-Z]+")


def letters(s: str) -> set[str]:
    """Single-letter symbols outside command names (`\\frac{x}{y}` -> {x, y})."""
    return set(re.findall(r"[A-Za-z]", _COMMAND.sub(" ", s)))


def fold_case(s: str) -> str | None:
    """`s` with its letters lower-cased, or None when that is not safe: a letter used in both
    cases (`K` and `k` may be different constants) or a multi-letter word."""
    plain = _COMMAND.sub(" ", s)
    if re.search(r"[A-Za-z]{2,}", plain):
        return None
    ls = set(re.findall(r"[A-Za-z]", plain))
    if not any(c.isupper() for c in ls) or any(c.lower() in ls and c.upper() in ls for c in ls):
        return None if any(c.lower() in ls and c.upper() in ls for c in ls) else s
    return re.sub(r"(?<![\\A-Za-z])[A-Z](?![A-Za-z])", lambda m: m.group(0).lower(), s)
