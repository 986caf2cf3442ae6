"""Normalisation of math answers: LaTeX clean-up, plain text -> LaTeX, and exact numeric evaluation.

Three pure functions feed the cascade in `math_equiv`:

- `normalize(s)`: a canonical string for the first (string-match) stage — strips `$`,
  `\\left`/`\\right`, spacing commands, `\\text{}`/`\\mbox{}` wrappers and trailing units,
  degrees (`^\\circ`, `°`), `\\$`, trailing periods, thousands separators, `\\dfrac`/`\\tfrac`,
  `\\frac12` -> `\\frac{1}{2}`, a leading `x =`; and rewrites plain-text math first
  (`plain_to_latex`), so `sqrt(3)/2` and `\\frac{\\sqrt{3}}{2}` land in the same grammar.
- `plain_to_latex(s)`: `sqrt(3)/2` -> `\\sqrt{3}/2`, `5pi/6` -> `5\\pi/6`, `2*sqrt(2)` ->
  `2\\cdot\\sqrt{2}`, `x**2` -> `x^{2}`, `inf` -> `\\infty`, `cbrt(x)` -> `\\sqrt[3]{x}`. Math-verify
  reads these plain forms wrongly (`5pi/6` parses as 5), so the symbolic stage feeds it LaTeX.
- `evaluate(s)`: exact/float value of a normalised answer made only of numbers, `\\frac`,
  `\\sqrt`, `\\pi`, `+ - * / ^`, parentheses, `%`, functions (`\\sin`, `\\cos`, `\\tan`, `\\ln`,
  `\\exp`, `\\log_b`, ...; floats) — or of a list/tuple/set/interval/matrix of them, a union of
  intervals, a collection of tuples, `a \\pm b` (two values), a repeating decimal. It never calls
  sympy and bounds every power and factorial, so it is safe (and fast) in the main process;
  anything else returns None and goes on. `evaluate_at(s, env)` does the same with values for
  single-letter and Greek variables (the identity test of `math_equiv`).
- `prepare(s)`: the answer made ready for comparison (delimiters, a trailing condition, the unit,
  currency signs, locale separators off; degrees inside trigonometric functions read as angles;
  words joining answers -> commas): what the symbolic stage parses.

Exercised by `python -m pytest -q tests/test_math_verify.py` and `python bench/verify_math.py`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from factory.filters.math.units import split_unit

# ------------------------------------------------------------------------------------------
# Plain text -> LaTeX
# ------------------------------------------------------------------------------------------

_FUNCS = ("arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp")


def _match_paren(s: str, i: int, open_ch: str = "(", close_ch: str = ")") -> int:
    """Index of the bracket closing the one at s[i], or -1 when unbalanced."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == open_ch:
            depth += 1
        elif s[j] == close_ch:
            depth -= 1
            if depth == 0:
                return j
    return -1


def _replace_call(s: str, name: str, fmt: str) -> str:
    """Rewrite `name(arg)` (not preceded by a backslash or a letter) as fmt.format(arg)."""
    out = []
    i = 0
    pat = re.compile(r"(?<![\\A-Za-z])" + name + r"\s*\(")
    while True:
        m = pat.search(s, i)
        if not m:
            out.append(s[i:])
            break
        open_at = m.end() - 1
        close_at = _match_paren(s, open_at)
        if close_at < 0:
            out.append(s[i:])
            break
        out.append(s[i : m.start()])
        out.append(fmt.format(_replace_call(s[open_at + 1 : close_at], name, fmt)))
        i = close_at + 1
    return "".join(out)


_UNICODE = {
    "π": "\\pi ", "∞": "\\infty ", "−": "-", "–": "-", "×": "\\times ", "·": "\\cdot ", "⋅": "\\cdot ",
    "≤": "\\leq ", "≥": "\\geq ", "≠": "\\neq ", "∈": "\\in ", "∪": "\\cup ", "±": "\\pm ",
    "½": "\\frac{1}{2}", "⅓": "\\frac{1}{3}", "⅔": "\\frac{2}{3}", "¼": "\\frac{1}{4}", "¾": "\\frac{3}{4}",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ", "，": ",", "：": ":",
    "α": "\\alpha ", "β": "\\beta ", "γ": "\\gamma ", "δ": "\\delta ", "θ": "\\theta ", "λ": "\\lambda ",
    "μ": "\\mu ", "σ": "\\sigma ", "φ": "\\phi ", "ω": "\\omega ", "Δ": "\\Delta ",
}
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_SUBSCRIPT = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")


def _unicode_math(s: str) -> str:
    """π, √3, √(x+1), ∞, −, ×, ·, ≤, ≥, ≠, ±, ½, x², m⁻¹, v₁, non-breaking spaces -> LaTeX/ASCII.
    The degree sign stays (the units layer reads °C); `normalize` drops a bare one."""
    if s.isascii():
        return s
    for k, v in _UNICODE.items():
        if k in s:
            s = s.replace(k, v)
    s = re.sub(r"[⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺]+", lambda m: "^{" + m.group(0).translate(_SUPERSCRIPT) + "}", s)
    s = re.sub(r"[₀₁₂₃₄₅₆₇₈₉]+", lambda m: "_{" + m.group(0).translate(_SUBSCRIPT) + "}", s)
    s = re.sub(r"√\s*(\d+|[a-zA-Z])", r"\\sqrt{\1}", s)
    s = s.replace("√", "sqrt")
    return s


def looks_plain(s: str) -> bool:
    """True when `s` uses plain-text math (sqrt(, pi without a backslash, **, *) that LaTeX
    parsers misread."""
    return bool(
        re.search(r"(?<![\\A-Za-z])(sqrt|cbrt|pi|infinity|inf|oo|theta)(?![A-Za-z])", s)
        or "**" in s
        or "^(" in s
        or re.search(r"(?<!\\)\*", s)
        or re.search(r"(?<![\\A-Za-z])(" + "|".join(_FUNCS) + r")\s*\(", s)
    )


def plain_to_latex(s: str) -> str:
    """Rewrite plain-text math into LaTeX; LaTeX input passes through unchanged."""
    s = _unicode_math(s)
    if not looks_plain(s):
        return s
    s = s.replace("**", "^")
    s = _replace_call(s, "sqrt", r"\sqrt{{{}}}")
    s = _replace_call(s, "cbrt", r"\sqrt[3]{{{}}}")
    for fn in _FUNCS:
        s = re.sub(r"(?<![\\A-Za-z])" + fn + r"(?=\s*\()", "\\\\" + fn, s)
    s = re.sub(r"(?<![\\A-Za-z])(infinity|inf|oo)(?![A-Za-z])", r"\\infty ", s)
    s = re.sub(r"(?<![\\A-Za-z])(pi|theta)(?![A-Za-z])", r"\\\1 ", s)
    s = re.sub(r"(?<!\\)\*", r"\\cdot ", s)
    # x^(n+1) -> x^{n+1}: LaTeX would take only the "(" as the exponent.
    out = []
    i = 0
    while i < len(s):
        if s[i] == "^" and i + 1 < len(s) and s[i + 1] == "(":
            close_at = _match_paren(s, i + 1)
            if close_at > 0:
                out.append("^{" + s[i + 2 : close_at] + "}")
                i = close_at + 1
                continue
        out.append(s[i])
        i += 1
    return "".join(out).strip()


# ------------------------------------------------------------------------------------------
# LaTeX normalisation (string stage)
# ------------------------------------------------------------------------------------------

# Words that only name a unit. Stripped when they trail an answer ("5 cm", "12\text{ inches}").
_UNITS = (
    "square units|square feet|square inches|square meters|square centimeters|square yards|"
    "cubic units|cubic feet|cubic inches|cubic meters|cubic centimeters|units|unit|"
    "centimeters|centimeter|meters|meter|kilometers|kilometer|millimeters|inches|inch|feet|foot|"
    "yards|yard|miles|mile|cm|mm|km|m|ft|in|sq|mph|hours|hour|minutes|minute|seconds|second|"
    "days|day|weeks|week|years|year|degrees|degree|dollars|dollar|cents|cent|pounds|pound|"
    "ounces|ounce|grams|gram|kg|liters|liter|gallons|gallon|people|students|marbles|ways|"
    "points|point|percent|mph|sq\\.?\\s*units|sq\\.?\\s*ft"
)
_UNIT_TAIL = re.compile(r"(?<=[0-9}\)])\s*(?:\\,|~)?\s*(?:" + _UNITS + r")\.?(?:\^\{?[23]\}?)?$", re.IGNORECASE)
_TEXT_CMD = re.compile(r"\\(?:text|textbf|textit|textrm|mbox|mathrm|mathbf|mathit|boldsymbol|operatorname|mathsf)\s*\{")


def _unwrap_cmd(s: str, pattern: re.Pattern[str]) -> str:
    """Replace `\\cmd{X}` by X for every match of pattern (balanced braces, nested)."""
    while True:
        m = pattern.search(s)
        if not m:
            return s
        close_at = _match_paren(s, m.end() - 1, "{", "}")
        if close_at < 0:
            return s[: m.start()] + s[m.end() :]
        s = s[: m.start()] + s[m.end() : close_at] + s[close_at + 1 :]


def strip_delimiters(s: str) -> str:
    """Remove math-mode delimiters around the whole answer: $..$, $$..$$, \\(..\\), \\[..\\]."""
    s = s.strip()
    changed = True
    while changed and s:
        changed = False
        for a, b in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
            if len(s) >= len(a) + len(b) and s.startswith(a) and s.endswith(b):
                s = s[len(a) : len(s) - len(b)].strip()
                changed = True
    return s


_FRAC_DD = re.compile(r"\\frac\s*(\d)\s*(\d)")
_FRAC_D_GROUP = re.compile(r"\\frac\s*(\d)\s*(?=\{)")
_FRAC_GROUP_D = re.compile(r"\\frac\s*\{([^{}]*)\}\s*(\d)")
_FRAC_D_CMD = re.compile(r"\\frac\s*(\d)\s*\\")
_SQRT_SHORT = re.compile(r"\\sqrt\s*(\d+|[a-zA-Z])")


def _fix_short_args(s: str) -> str:
    r"""\frac12 -> \frac{1}{2}, \frac1{x} -> \frac{1}{x}, \sqrt2 -> \sqrt{2}."""
    if "\\frac" in s:
        s = _FRAC_DD.sub(r"\\frac{\1}{\2}", s)
        s = _FRAC_D_GROUP.sub(r"\\frac{\1}", s)
        s = _FRAC_GROUP_D.sub(r"\\frac{\1}{\2}", s)
        s = _FRAC_D_CMD.sub(r"\\frac{\1}\\", s)
    if "\\sqrt" in s:
        s = _SQRT_SHORT.sub(r"\\sqrt{\1}", s)
    return s


_SIMPLE_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def normalize(s: str | None, *, decimal_comma: bool = False) -> str:
    """Canonical string for exact matching. Lossy only in ways every grader accepts.
    `decimal_comma=True` reads `1,5` as 1.5 and `12.000.023` as 12000023 (see `_numbers_by_locale`)."""
    return normalize_quantity(s, decimal_comma=decimal_comma)[0]


def normalize_quantity(s: str | None, *, decimal_comma: bool = False) -> tuple[str, str | None]:
    """(canonical string without its unit, the unit text that was stripped or None).
    The unit is what `math_units.split_unit` recognised (`km/h`, `\\text{ Å}`, `°C`); unit words it
    does not know ("square units", "students") are dropped without being reported."""
    if s is None:
        return "", None
    s = str(s).strip()
    if _SIMPLE_NUMBER.fullmatch(s) and len(s) < 30:
        return s, None  # most answers are plain numbers: nothing to rewrite
    return _normalize(s, decimal_comma)


# A trailing condition: ", \\quad \\text{for } x \\ne 9", "\\text{ where } k \\in \\mathbb{Z}", ", n \\in \\mathbb{Z}"
_CONDITION = re.compile(
    r"(?:,|;|\\quad|\\qquad|\\,|\\;|\\ |\s)*"
    r"(?:\\text\{\s*(?:for|where|when|if|with|provided|assuming|for all|for any|for every|for some)\b[^{}]*\}"
    r"|\\(?:text|mbox)\{\s*\}\s*(?:for|where|when|if)\b"
    r"|(?<=[\s,;])(?:for|where|when|if|provided)\s+(?=[a-zA-Z\\$(])"
    r"|(?<=[,;])\s*\(?\s*(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?\w+\}?)?\s*(?:\\in\s*\\mathbb\s*\{?[ZNRQC]\}?|\\(?:neq|ne)\b|\\notin|[<>]|\\[lg]eq?\b))"
)
_INT_PARAM = re.compile(r"(?<![\\A-Za-z])([a-zA-Z])\s*(?:\\in\s*\\mathbb\s*\{?Z\}?|\\text\{?\s*(?:is\s+)?(?:an?\s+)?(?:arbitrary\s+|any\s+)?integers?)|(?:for\s+(?:all|any|some)\s+)?integers?\s+([a-zA-Z])(?![A-Za-z])")


_RELATION_IN = re.compile(r"[<>]|\\[lg]eq?(?![a-zA-Z])|\\neq?(?![a-zA-Z])")


def strip_condition(s: str) -> tuple[str, str | None]:
    """(answer, condition) for an answer followed by a condition: "\\frac{1}{9-x^2}, \\quad \\text{for }
    x^2 \\ne 9" -> ("\\frac{1}{9-x^2}", "\\text{for } x^2 \\ne 9"). The condition restricts where the
    answer holds; it is not part of the value. Nothing is cut when nothing would remain."""
    if "," not in s and ";" not in s and "\\text" not in s and " " not in s:
        return s, None
    for m in _CONDITION.finditer(s):
        # only at the top level: "\\{x \\mid x > 0\\}" keeps its condition
        depth = sum(1 if ch in "([{" else -1 if ch in ")]}" else 0 for ch in s[: m.start()])
        if depth != 0 or m.start() == 0:
            continue
        head = s[: m.start()].rstrip(" ,;")
        if not head or not re.search(r"[\w}]", head):
            continue
        if _RELATION_IN.search(head) and not re.match(r"[\s,;\\quad]*\\(?:text|mbox)", s[m.start() :]):
            continue  # "x > 1, x < 5": the inequalities are the answer, not a condition on it
        return head, s[m.start() :].strip(" ,;")
    return s, None


def integer_parameters(condition: str | None) -> frozenset[str]:
    """Letters a condition declares to be integers: "n \\in \\mathbb{Z}", "where k is an integer"."""
    if not condition:
        return frozenset()
    return frozenset(a or b for a, b in _INT_PARAM.findall(condition))


_GREEK_NAMES = "pi|theta|alpha|beta|gamma|lambda|sigma|omega|mu|phi|varphi|rho|tau|delta|epsilon|varepsilon|eta|xi|zeta|kappa|nu|psi|chi"
_KNOWN_CMD_PREFIX = re.compile(r"\\(" + _GREEK_NAMES + r"|cdot|times|infty)([a-z]{1,2})(?![a-zA-Z])")
# a constant or Greek letter then a space and a letter: "\\pi k" must not become the command "\\pik"
_CMD_SPACE_LETTER = re.compile(r"\\(" + _GREEK_NAMES + r"|infty)\s+(?=[a-zA-Z])")


def _split_glued_commands(s: str) -> str:
    """`\\pik` -> `\\pi k`, `\\cdotx` -> `\\cdot x`: a known command glued to a variable when a
    grader's normalisation removed the spaces (an unknown command otherwise)."""
    if "\\" not in s:
        return s
    return _KNOWN_CMD_PREFIX.sub(r"\\\1 \2", s)


# a whole number then a proper fraction of integers: 918\frac{1}{2} is 918 + 1/2 (a mixed number)
_MIXED = re.compile(r"(?<![\d.^_{}\w\\])(-?)(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}")


def _mixed_numbers(s: str) -> str:
    def sub(m: re.Match[str]) -> str:
        num, den = int(m.group(3)), int(m.group(4))
        if not 0 < num < den:
            return m.group(0)  # 2\frac{3}{2} is a product, not a mixed number
        return f"{m.group(1)}({m.group(2)}+\\frac{{{num}}}{{{den}}})"

    return _MIXED.sub(sub, s) if "\\frac" in s else s


def _numbers_by_locale(s: str, decimal_comma: bool) -> str:
    """Decimal and thousands separators. Everywhere: `1{,}5` (LaTeX's decimal comma) is 1.5 unless
    the group has exactly three digits (`12{,}000` = 12000). With `decimal_comma` (the answer's
    language writes 1,5 for 1.5: French, German, Spanish, Russian, ...): a comma between digits
    with no space after it is the decimal mark ("1,5"; "1, 5" stays a list), and dots between
    three-digit groups are thousands separators when there are two or more groups or a decimal
    comma follows ("12.000.023", "1.234,5"); a single ".ddd" stays a decimal point, the way
    mathematical text writes it in every language."""
    if "{,}" in s:
        s = re.sub(r"(?<=\d)\{,\}(?=\d{1,2}(?!\d)|\d{4,})", ".", s)
    if not decimal_comma or "," not in s and "." not in s:
        return s
    s = re.sub(r"(?<![\d.,])\d{1,3}(?:\.\d{3}){2,}(?:,\d+)?(?![\d.])|(?<![\d.,])\d{1,3}(?:\.\d{3})+,\d+(?![\d.])", lambda m: m.group(0).replace(".", ""), s)
    # one comma inside a number; "1,2,3" (no spaces) stays a list
    s = re.sub(r"(?<![\d,.])(\d+),(\d+)(?![\d,])", r"\1.\2", s)
    return s


_CURRENCY_SIGNS = re.compile(r"\\(?:euro|pounds|textdollar|textsterling|textyen|yen)\b\s*|[€£¥₹]\s*|(?<=\d)\s*(?:USD|EUR|GBP|CNY|RMB)\b|\b(?:USD|EUR|GBP|CNY|RMB)\s*(?=\d)")


@dataclass(frozen=True)
class Prepared:
    """An answer made ready for comparison, before canonicalisation: `latex` is what the symbolic
    stage parses (delimiters, a trailing condition, the unit, currency signs and locale separators
    removed; plain-text math rewritten as LaTeX); `unit` the unit text split off; `condition` the
    trailing condition cut off ("\\text{for } n \\in \\mathbb{Z}")."""

    latex: str
    unit: str | None
    condition: str | None


# "3 \\text{ and } 5", "E_1 \\text{ or } E_2": several answers joined by words become a list
_JOINING_WORD = re.compile(r"\s*(?:,\s*)?(?:\\(?:text|mbox|textrm)\s*\{\s*(?:and|or)\s*\}|(?<=[\s}$])(?:and|or)(?=[\s\\$]))\s*")


_TRIG = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)(?![a-zA-Z])")
_DEGREES_IN_TRIG = re.compile(r"(\d+(?:\.\d+)?)\s*(?:\^\s*\{?\s*\\circ\s*\}?|°)")
_TRAILING_BACKSLASH = re.compile(r"(?<!\\)\\+$")
# what a trailing condition needs: a word that opens one, a set membership or a relation
_CONDITION_GATE = re.compile(r"for|where|when|if|with|provided|assuming|\\in|\\n(?:e|otin)|[<>]|\\[lg]e")


@lru_cache(maxsize=65536)
def prepare(s: str, decimal_comma: bool = False) -> Prepared:
    s = strip_delimiters(str(s).strip())
    s = _unicode_math(s)
    if s.endswith("\\"):
        s = _TRAILING_BACKSLASH.sub("", s).strip()  # "185\\": a stray trailing backslash
    cond = None
    if _CONDITION_GATE.search(s):
        s, cond = strip_condition(s)
    s = _numbers_by_locale(s, decimal_comma)
    if not s.isascii() or "\\" in s or "USD" in s or "EUR" in s or "GBP" in s or "CNY" in s or "RMB" in s:
        s = _CURRENCY_SIGNS.sub("", s)
    if "and" in s or "or" in s:
        s = _JOINING_WORD.sub(", ", s)
    if "\\" in s and ("circ" in s or "°" in s) and _TRIG.search(s):
        s = _DEGREES_IN_TRIG.sub(r"(\1\\pi/180)", s)  # \\tan 45^\\circ: an angle, read in radians
    value, unit = split_unit(s)
    if unit is not None:
        s = value
    s = plain_to_latex(s)
    s = _split_glued_commands(s)
    return Prepared(latex=s, unit=unit, condition=cond)


# a repeating decimal: 0.\\overline{3} = 1/3, 1.2\\overline{45} = 1.2454545...
_REPEATING = re.compile(r"(?<![\d.])(\d*)\.(\d*)\\overline\{(\d{1,12})\}")


def _repeating_fraction(m: re.Match[str]) -> str:
    whole, fixed, rep = m.group(1) or "0", m.group(2), m.group(3)
    value = Fraction(int(whole)) + (Fraction(int(fixed), 10 ** len(fixed)) if fixed else 0)
    value += Fraction(int(rep), (10 ** len(rep) - 1) * 10 ** len(fixed))
    return f"\\frac{{{value.numerator}}}{{{value.denominator}}}"


# the canonicalisation rules, compiled once (a module-level re.sub looks its pattern up per call)
_SIZING = re.compile(r"\\(left|right|big|Big|bigg|Bigg)(?![a-zA-Z])")
_STYLE = re.compile(r"\\(displaystyle|textstyle|quad|qquad)(?![a-zA-Z])")
_SPACING = re.compile(r"\\[!,;:> ]")
_DT_FRAC = re.compile(r"\\[dt]frac")
_DEGREE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?")
_TEXT_UNIT = re.compile(r"\\(?:text|mbox|mathrm)\s*\{\s*(?:" + _UNITS + r")\s*\}(\^\{?[23]\}?)?", re.IGNORECASE)
_OR_AND = re.compile(r"(?<=[\d}])\s+(?:or|and)\s+(?=[-\d\\])")
_SPACES = re.compile(r"\s+")
_TRAILING_WORDS = re.compile(r"(.*?(?:[\d}]|\\[a-zA-Z]+))\s+([A-Za-z]{2,}(?:\s+[A-Za-z]+)*)")
_ANY_COMMAND = re.compile(r"\\[a-zA-Z]+")
_LETTER = re.compile(r"[A-Za-z]")
_ORDINAL = re.compile(r"(?<=\d)\s*(?:\^\s*\{?\s*)?(?:st|nd|rd|th)\b\}?(?:\s*grade)?")
_IN_SET = re.compile(r"^\s*[a-zA-Z]\s*\\in\s*")
_LONE_LHS = re.compile(r"^\s*(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_(?:\{\w+\}|\w))?\s*=\s*(?!=)")
_LE = re.compile(r"\\le(?![a-zA-Z])")
_GE = re.compile(r"\\ge(?![a-zA-Z])")
_ONE_CHAR_GROUP = re.compile(r"([_^])\{(\w)\}")
_BEGIN_MATRIX = re.compile(r"\\begin\{[pbvB]?matrix\}")
_END_MATRIX = re.compile(r"\\end\{[pbvB]?matrix\}")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:(?:,|\{,\})\d{3})+(?:\.\d+)?")
_LEADING_DOT = re.compile(r"(?<![\d.])\.(\d)")


@lru_cache(maxsize=65536)
def _normalize(s: str, decimal_comma: bool = False) -> tuple[str, str | None]:
    prep = prepare(s, decimal_comma)
    s, unit = prep.latex, prep.unit
    s = s.replace("\n", " ")
    cmd = "\\" in s
    if cmd:
        # a line break; inside a matrix it separates rows (kept as ";;" so spacing rules keep it)
        s = s.replace("\\\\", ";;" if "\\begin" in s else " ")
        # sizing and spacing commands carry no meaning
        s = _SIZING.sub("", s)
        s = _STYLE.sub(" ", s)
        s = _SPACING.sub("", s)
        s = _DT_FRAC.sub(r"\\frac", s)
        s = s.replace("\\fbox", "\\boxed")
    s = s.replace("~", " ")
    # degrees
    if cmd or "°" in s:
        s = _DEGREE.sub("", s)
        s = s.replace("\\circ", "").replace("°", "").replace("\\degree", "")
    if cmd:
        # units inside \text{...} then the wrapper itself
        s = _TEXT_UNIT.sub("", s)
        s = _unwrap_cmd(s, _TEXT_CMD)
    s = s.replace("\\$", "").replace("$", "")
    s = s.replace("\\%", "%")
    if " " in s:
        s = _OR_AND.sub(",", s)  # "3 \text{ or } 5" -> "3,5"
        s = _SPACES.sub(" ", s)
    s = s.strip()
    if _LETTER.search(s):
        s = _UNIT_TAIL.sub("", s).strip()
        # "9 boys", "28 different pizzas", "12\pi inches per second": words after a math answer
        m = _TRAILING_WORDS.fullmatch(s)
        if m and not _LETTER.search(_ANY_COMMAND.sub("", m.group(1))):
            s = m.group(1)
    s = s.rstrip(".").strip()
    if _LETTER.search(s):
        # ordinals: 12^{th} grade, 3rd -> 12, 3
        s = _ORDINAL.sub("", s)
        # "x \in [-2, 7]" -> "[-2, 7]"
        s = _IN_SET.sub("", s)
        # "x = 3" -> "3" (a lone symbol on the left; longer left sides are real equations)
        m = _LONE_LHS.match(s)
        if m and "=" not in s[m.end() :] and "," not in s:
            s = s[m.end() :]
    if "\\" in s:
        s = s.replace("\\le ", "\\leq ").replace("\\ge ", "\\geq ")
        s = _LE.sub(r"\\leq", s)
        s = _GE.sub(r"\\geq", s)
        s = s.replace("\\{", "{").replace("\\}", "}")
        s = _fix_short_args(s)
        s = s.replace("\\cdot", "*").replace("\\times", "*")
        s = _CMD_SPACE_LETTER.sub(r"\\\1*", s)
    s = s.replace(" ", "")
    if "{" in s:
        s = _ONE_CHAR_GROUP.sub(r"\1\2", s)  # 4210_{5} -> 4210_5, x^{2} -> x^2
        if "matrix" in s:
            s = _BEGIN_MATRIX.sub(r"\\begin{pmatrix}", s)
            s = _END_MATRIX.sub(r"\\end{pmatrix}", s)
    # thousands separators: 1,000,000 -> 1000000 (only when every group has three digits)
    if "," in s and _THOUSANDS.fullmatch(s):
        s = s.replace("{,}", "").replace(",", "")
    if "." in s:
        s = _LEADING_DOT.sub(r"0.\1", s)  # .5 -> 0.5
    s = _mixed_numbers(s)
    if "\\overline" in s:
        s = _REPEATING.sub(_repeating_fraction, s)
    s = s.rstrip(".")
    return s, unit


def option_letter(norm: str) -> str | None:
    """Multiple-choice answer "(C)", "C", "\\textbf{(C)}" -> "C"."""
    m = re.fullmatch(r"\(?([A-E])\)?", norm)
    return m.group(1) if m else None


# short words that are answers (shorter letter strings such as "ab", "xyz" are products)
_SHORT_WORDS = frozenset("yes no odd all any none both even true false up down left right north south east west".split())


def is_text_answer(norm: str) -> bool:
    """A word answer ("Monday", "east", "(C)", "yes"): letters only, no LaTeX commands, and a
    word of 4+ letters, several words, or a known short word ("no", "odd"); "ab" or "xyz" are
    products of variables. Compared case-insensitively by the string stage."""
    core = norm.strip("()")
    if len(core) < 2 or "\\" in norm or not re.fullmatch(r"[A-Za-z][A-Za-z ,'\-]*", core):
        return False
    return len(core) >= 4 or core.lower() in _SHORT_WORDS or not core.isalpha()


def balanced(s: str) -> bool:
    """Braces and brackets balance (intervals may mix ( and ], so those count together)."""
    depth_curly = 0
    depth_round = 0
    for ch in s:
        if ch == "{":
            depth_curly += 1
        elif ch == "}":
            depth_curly -= 1
        elif ch in "([":
            depth_round += 1
        elif ch in ")]":
            depth_round -= 1
        if depth_curly < 0 or depth_round < 0:
            return False
    return depth_curly == 0 and depth_round == 0


# ------------------------------------------------------------------------------------------
# Exact numeric evaluation (numeric stage)
# ------------------------------------------------------------------------------------------

# Bounds that keep evaluation instant: 2^4096 has ~1233 digits; 170! is the largest float.
_MAX_EXACT_BITS = 4096
_MAX_FACTORIAL = 170


class _Unsupported(Exception):
    """Raised inside the evaluator for anything it does not handle (goes to the next stage)."""


Number = Fraction | float | complex


@dataclass(frozen=True)
class Value:
    """A parsed answer: a scalar, or a flat collection with its bracket kind.

    kind: "scalar"; "tuple" for (..) ; "list" for [..]; "interval[)"/"interval(]" for half-open
    intervals; "set" for {..}; "bare" for an
    unbracketed comma list (several answers, order does not matter). `percent` records a
    trailing % on a scalar; `decimals` the number of decimal places written in a decimal
    literal (None when the answer is exact), used to compare against rounded golds.
    """

    kind: str
    items: tuple[Number, ...]
    percent: bool = False
    decimals: int | None = None
    # per item: (significant digits, value of one unit in the last written digit) of a decimal
    # literal ("0.15" -> (2, 0.01), "1.87e6" -> (3, 1e4)); None for an exact item (1/3, 12, \\pi)
    precision: tuple[tuple[int, float] | None, ...] = ()


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?|\.\d+)(?P<exp>[eE][+-]?\d+)?|(?P<cmd>\\[a-zA-Z]+)|(?P<imag>i)(?![a-zA-Z])|(?P<var>[a-zA-Z])|(?P<op>[-+*/^(){}\[\]!%_]))"
)


def _tokenize(s: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m or m.end() == pos:
            if s[pos:].strip() == "":
                break
            raise _Unsupported(s[pos:])
        pos = m.end()
        if m.group("num") is not None:
            if len(m.group("num")) > 400 or (m.group("exp") and abs(int(m.group("exp")[1:])) > 400):
                raise _Unsupported("number too long")  # Fraction("1e999999999") would build that integer
            out.append(("num", m.group("num") + (m.group("exp") or "")))
        elif m.group("cmd") is not None:
            cmd = m.group("cmd")
            if cmd not in _KNOWN_COMMANDS and (glued := _GLUED_FUNCTION.match(cmd)):
                # "\\sin x" lost its space in normalisation: "\\sinx" is \\sin applied to x
                out.append(("cmd", glued.group(1)))
                out.extend(("var", ch) for ch in glued.group(2))
            else:
                out.append(("cmd", cmd))
        elif m.group("imag") is not None:
            out.append(("cmd", "i"))  # the imaginary unit: 6 - 5i
        elif m.group("var") is not None:
            out.append(("var", m.group("var")))
        else:
            out.append(("op", m.group("op")))
    return out


def _to_float(x: Number) -> float | complex:
    return complex(x) if isinstance(x, complex) else float(x)


def _pow(a: Number, b: Number) -> Number:
    if isinstance(b, Fraction) and b.denominator == 1 and isinstance(a, Fraction):
        e = b.numerator
        # bits of the result ~ |e| * bits(a); refuse what would be slow or huge
        size = max(a.numerator.bit_length(), a.denominator.bit_length(), 1)
        if abs(e) * size > _MAX_EXACT_BITS:
            raise _Unsupported("power too large")
        if e < 0 and a == 0:
            raise _Unsupported("division by zero")
        return a**e
    if isinstance(b, Fraction) and isinstance(a, Fraction) and a > 0 and b.denominator <= 64:
        # exact when a is a perfect power: 8^(1/3) = 2, 4^(3/2) = 8
        num = _int_root(a.numerator, b.denominator)
        den = _int_root(a.denominator, b.denominator)
        if num is not None and den is not None:
            return _pow(Fraction(num, den), Fraction(b.numerator))
    try:
        fa, fb = _to_float(a), _to_float(b)
        if isinstance(fa, float) and isinstance(fb, float) and abs(fb) * math.log2(abs(fa) + 1e-300) > 1020:
            raise _Unsupported("overflow")
        r = fa**fb
    except (OverflowError, ZeroDivisionError, ValueError) as exc:
        raise _Unsupported(str(exc)) from exc
    return r


def _int_root(n: int, k: int) -> int | None:
    if n < 0:
        return None
    if n.bit_length() > 2000:
        return None
    r = round(n ** (1.0 / k)) if n < 2**1000 else None
    if r is None:
        return None
    for c in (r - 1, r, r + 1):
        if c >= 0 and c**k == n:
            return c
    return None


class _Parser:
    """Pratt parser over the token list: expr := term (('+'|'-') term)*, implicit products."""

    def __init__(self, tokens: list[tuple[str, str]], env: dict[str, Number] | None = None):
        self.t = tokens
        self.env = env  # values of single-letter variables (the identity test); None: no variables
        self.i = 0
        self.decimals: int | None = None
        self.literals = 0  # number literals read (a lone decimal literal carries a precision)
        self.precision: tuple[int, float] | None = None

    def peek(self) -> tuple[str, str] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise _Unsupported("unexpected end")
        self.i += 1
        return tok

    def expect(self, op: str) -> None:
        tok = self.take()
        if tok != ("op", op):
            raise _Unsupported(f"expected {op}")

    def expr(self) -> Number:
        val = self.term()
        while (tok := self.peek()) in (("op", "+"), ("op", "-")):
            self.take()
            rhs = self.term()
            val = val + rhs if tok[1] == "+" else val - rhs
        return val

    def term(self) -> Number:
        val = self.unary()
        while True:
            tok = self.peek()
            if tok in (("op", "*"), ("op", "/")):
                self.take()
                rhs = self.unary()
                if tok[1] == "*":
                    val = val * rhs
                else:
                    if rhs == 0:
                        raise _Unsupported("division by zero")
                    val = val / rhs
            elif tok is not None and (tok[0] in ("num", "cmd", "var") or tok in (("op", "("), ("op", "{"), ("op", "["))):
                val = val * self.unary()  # implicit multiplication: 2\sqrt{3}, 5\pi
            else:
                return val

    def unary(self) -> Number:
        tok = self.peek()
        if tok == ("op", "-"):
            self.take()
            return -self.unary()
        if tok == ("op", "+"):
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Number:
        base = self.postfix()
        if self.peek() == ("op", "^"):
            self.take()
            exp = self.unary_atom()
            return _pow(base, exp)
        return base

    def unary_atom(self) -> Number:
        # exponent: a single atom or a braced group (with its own sign); right-associative
        tok = self.peek()
        if tok == ("op", "-"):
            self.take()
            return -self.unary_atom()
        return self.power()

    def postfix(self) -> Number:
        val = self.atom()
        while self.peek() == ("op", "!"):
            self.take()
            if not (isinstance(val, Fraction) and val.denominator == 1 and 0 <= val <= _MAX_FACTORIAL):
                raise _Unsupported("factorial")
            val = Fraction(math.factorial(int(val)))
        return val

    def group(self) -> Number:
        self.expect("{")
        val = self.expr()
        self.expect("}")
        return val

    def atom(self) -> Number:
        kind, text = self.take()
        if kind == "var":
            if self.env is None or text not in self.env:
                raise _Unsupported(text)
            return self.env[text]
        if kind == "num":
            self.literals += 1
            mant, _, exp = text.lower().partition("e")
            if "." in mant or exp:
                frac = mant.split(".")[1] if "." in mant else ""
                digits = (mant.replace(".", "").lstrip("0")) or "0"
                self.precision = (len(digits), 10.0 ** (int(exp or 0) - len(frac)))
            if exp:
                return Fraction(text)  # Fraction parses "1.5e3" exactly
            if "." in text:
                self.decimals = max(self.decimals or 0, len(text.split(".")[1]))
            return Fraction(text)
        if kind == "op":
            if text == "(":
                val = self.expr()
                self.expect(")")
                return val
            if text == "{":
                val = self.expr()
                self.expect("}")
                return val
            if text == "[":
                val = self.expr()  # square brackets group inside an expression: \\frac12 [a + b]
                self.expect("]")
                return val
            raise _Unsupported(text)
        if text == "\\frac":
            num = self.group()
            den = self.group()
            if den == 0:
                raise _Unsupported("division by zero")
            return num / den
        if text == "\\sqrt":
            index: Number = Fraction(2)
            if self.peek() == ("op", "["):
                self.take()
                index = self.expr()
                self.expect("]")
            radicand = self.group()
            if index == 0:
                raise _Unsupported("zeroth root")
            if isinstance(radicand, Fraction) and radicand < 0 and index == 2:
                return complex(0, math.sqrt(-float(radicand)))
            return _pow(radicand, Fraction(1) / index if isinstance(index, Fraction) else 1 / index)
        if self.env is not None and text in self.env:
            return self.env[text]  # a Greek letter as a variable (the identity test)
        if text == "\\pi":
            return math.pi
        if text == "i":
            return 1j
        if text == "\\infty":
            return math.inf
        if text in _FUNCTIONS or text == "\\log":
            return self.function(text)
        raise _Unsupported(text)

    def function(self, name: str) -> Number:
        """\\sin x, \\sin(2x), \\sin^2 x, \\log_2 8, \\ln{5}: the argument is a bracketed group or
        the product of the factors right after the name (\\sin 2x = sin(2x)); floats."""
        base = None
        if name == "\\log":
            if self.peek() != ("op", "_"):
                raise _Unsupported("\\log without a base")  # natural or base 10? a grader cannot tell
            self.take()
            base = self.factor_arg()
        power = None
        if self.peek() == ("op", "^"):
            self.take()
            power = self.unary_atom()  # \\sin^2 x
        arg = self.factor_arg()
        if isinstance(arg, complex) or (isinstance(arg, float) and (math.isinf(arg) or math.isnan(arg))):
            raise _Unsupported("argument")
        x = float(arg)
        try:
            if base is not None:
                val = math.log(x) / math.log(float(base))
            else:
                val = _FUNCTIONS[name](x)
        except (ValueError, ZeroDivisionError, OverflowError) as exc:
            raise _Unsupported(str(exc)) from exc
        return _pow(val, power) if power is not None else val

    def factor_arg(self) -> Number:
        tok = self.peek()
        if tok in (("op", "("), ("op", "{")):
            return self.atom()
        val = self.power()
        # "2x", "3\\pi": adjacent numbers, letters and constants belong to the argument
        while (nxt := self.peek()) is not None and (nxt[0] in ("num", "var") or nxt in (("cmd", "\\pi"), ("cmd", "i"))):
            val = val * self.power()
        return val


_KNOWN_COMMANDS = frozenset(
    "\\sin \\cos \\tan \\cot \\sec \\csc \\arcsin \\arccos \\arctan \\sinh \\cosh \\tanh \\ln \\exp \\log "
    "\\frac \\sqrt \\pi \\infty".split()
)
_GLUED_FUNCTION = re.compile(r"(\\(?:arcsin|arccos|arctan|sinh|cosh|tanh|sin|cos|tan|cot|sec|csc|ln|exp))([a-zA-Z]{1,3})")


def _cot(x: float) -> float:
    return math.cos(x) / math.sin(x)


_FUNCTIONS = {
    "\\sin": math.sin, "\\cos": math.cos, "\\tan": math.tan, "\\cot": _cot,
    "\\sec": lambda x: 1 / math.cos(x), "\\csc": lambda x: 1 / math.sin(x),
    "\\arcsin": math.asin, "\\arccos": math.acos, "\\arctan": math.atan,
    "\\sinh": math.sinh, "\\cosh": math.cosh, "\\tanh": math.tanh, "\\ln": math.log, "\\exp": math.exp,
}


# "1.87 \\times 10^{6}" / "1.87*10^6": a decimal times a power of ten keeps the decimal's digits
_SCI = re.compile(r"-?(\d+\.?\d*)\*10\^\{?(-?\d+)\}?")


def _eval_scalar(s: str, env: dict[str, Number] | None = None) -> tuple[Number, int | None, tuple[int, float] | None]:
    p = _Parser(_tokenize(s), env)
    val = p.expr()
    if p.peek() is not None:
        raise _Unsupported("trailing tokens")
    precision = p.precision if p.literals == 1 else None
    m = _SCI.fullmatch(s)
    if m and "." in m.group(1):
        frac = m.group(1).split(".")[1]
        precision = (len(m.group(1).replace(".", "").lstrip("0") or "0"), 10.0 ** (int(m.group(2)) - len(frac)))
    return val, p.decimals, precision


def split_top_level(s: str, sep: str = ",") -> list[str]:
    """Split at separators outside (), [], {}."""
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _outer(s: str) -> tuple[str, str] | None:
    """Bracket kind when one pair of brackets encloses the whole string."""
    if len(s) >= 2 and s[0] in "([{" and s[-1] in ")]}":
        close = {"(": ")", "[": "]", "{": "}"}[s[0]]
        # the first bracket must close at the very end (intervals may end with the other kind)
        depth = 0
        for k, ch in enumerate(s):
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
                if depth == 0 and k != len(s) - 1:
                    return None
        return s[0], s[-1] if s[-1] in ")]}" else close
    return None


@lru_cache(maxsize=65536)
def evaluate(norm: str) -> Value | None:
    """Value of a normalised answer, or None when it needs the symbolic stage."""
    return _evaluate(norm, None)


def evaluate_at(norm: str, env: dict[str, Number]) -> Value | None:
    """Value of an answer with its single-letter variables set to `env` (the identity test)."""
    return _evaluate(norm, env)


def _expand_pm(parts: list[str]) -> list[str] | None:
    """"3\\pm2\\sqrt{2}" -> ["3+2\\sqrt{2}", "3-2\\sqrt{2}"]; "\\pm1" -> ["1", "-1"]. None past 8 values."""
    out: list[str] = []
    for part in parts:
        todo = [part]
        while any("\\pm" in t or "\\mp" in t for t in todo):
            nxt = []
            for t in todo:
                k = t.find("\\pm") if "\\pm" in t else t.find("\\mp")
                if k < 0:
                    nxt.append(t)
                    continue
                head, tail = t[:k], t[k + 3 :]
                plus, minus = ("+", "-") if head.strip() else ("", "-")
                nxt += [head + plus + tail, head + minus + tail]
            todo = nxt
            if len(out) + len(todo) > 8:
                return None
        out += todo
    return out


def _interval_key(v: Value) -> tuple | None:
    """(closed left, a, b, closed right) of an interval value; a pair reads as open."""
    if len(v.items) != 2:
        return None
    closed = {"tuple": (False, False), "list": (True, True), "interval[)": (True, False), "interval(]": (False, True)}.get(v.kind)
    if closed is None:
        return None
    return (closed[0], v.items[0], v.items[1], closed[1])


def _evaluate(norm: str, env: dict[str, Number] | None) -> Value | None:
    if not norm or len(norm) > 300:
        return None
    s = norm
    percent = False
    if "\\cup" in s:
        parts = s.split("\\cup")
        keys = []
        for part in parts:
            v = _evaluate(part, env)
            key = _interval_key(v) if v is not None else None
            if key is None:
                return None
            keys.append(key)
        return Value(kind="union", items=tuple(x for k in keys for x in k[1:3]), precision=tuple(keys))  # type: ignore[arg-type]
    try:
        m = re.fullmatch(r"\\begin\{pmatrix\}(.*)\\end\{pmatrix\}", s)
        if m:
            rows = m.group(1).split(";;")
            cells = [split_top_level(r, "&") for r in rows]
            if len({len(c) for c in cells}) != 1:
                return None
            items = []
            for c in (c for row in cells for c in row):
                if not c:
                    return None
                items.append(_eval_scalar(c, env)[0])
            return Value(kind=f"matrix{len(rows)}x{len(cells[0])}", items=tuple(items))
        outer = _outer(s)
        if outer is not None and "," in s:
            inner = s[1:-1]
            kind = {("(", ")"): "tuple", ("[", "]"): "list", ("{", "}"): "set", ("[", ")"): "interval[)", ("(", "]"): "interval(]"}.get(outer)
            if kind is None:
                return None
            parts = split_top_level(inner)
        elif "," in s:
            kind, parts = "bare", split_top_level(s)
        else:
            kind, parts = "scalar", [s]
            if s.endswith("%"):
                percent, s = True, s[:-1]
                parts = [s]
        if kind in ("bare", "set") and len(parts) > 1 and any(_outer(p) is not None and "," in p for p in parts):
            # "(1,2),(2,1)": a collection of tuples (or intervals), compared without order
            values = []
            for part in parts:
                v = _evaluate(part, env)
                if v is None:
                    return None
                values.append(v)
            return Value(kind="collection", items=tuple(values))  # type: ignore[arg-type]
        if "\\pm" in s or "\\mp" in s:
            # 3 \\pm 2\\sqrt{2}: two values (a set), inside a set or list as well
            expanded = _expand_pm(parts)
            if expanded is None or kind in ("tuple", "list", "interval[)", "interval(]"):
                return None
            parts = expanded
            kind = "set" if kind == "set" else "bare"
        items = []
        precision = []
        decimals = None
        for part in parts:
            if not part:
                return None
            val, dec, prec = _eval_scalar(part, env)
            if dec is not None:
                decimals = max(decimals or 0, dec)
            items.append(val)
            precision.append(prec)
        return Value(kind=kind, items=tuple(items), percent=percent, decimals=decimals, precision=tuple(precision))
    except (_Unsupported, ZeroDivisionError, OverflowError, ValueError, TypeError, RecursionError):
        return None


# The precision rule for rounded answers (documented in README and math_equiv):
# - a gold written as a decimal with at least 2 significant digits ("0.15", "1.87e6") is taken as
#   rounded: a prediction within half a unit of its last digit passes (0.1476 for 0.15);
# - a prediction written as a decimal with at least 4 significant digits passes against an exact
#   gold when it is that gold correctly rounded to the digits shown (85.71 for 600/7, 1.414 for
#   \\sqrt{2}), but not when it is off by more (165.93 for 166: rounded intermediate steps);
# - fewer digits are never enough: "0.5" as a gold is exact; "0.333" does not pass for 1/3 nor
#   "3.14" for \\pi (an approximation where an exact value was asked).
MIN_GOLD_DIGITS = 2
MIN_PRED_DIGITS = 4


def _close(a: Number, b: Number, *, tol: float | None = None) -> bool:
    """a == b exactly (Fractions), to 1e-9 relative (floats), or within `tol` when given."""
    if a == b:
        return True  # also inf == inf, which the difference below cannot show
    if isinstance(a, Fraction) and isinstance(b, Fraction) and tol is None:
        return False
    try:
        fa, fb = complex(a), complex(b)
    except (OverflowError, TypeError):
        return False
    if any(math.isinf(x) or math.isnan(x) for x in (fa.real, fa.imag, fb.real, fb.imag)):
        return False  # 3 against \\infty: the difference is infinite, never "close"
    if abs(fa - fb) <= 1e-9 * max(1.0, abs(fa), abs(fb)):
        return True
    if tol is not None and fa.imag == 0 and fb.imag == 0:
        return abs(fa.real - fb.real) <= tol * (1 + 1e-9) + 1e-15
    return False


def rounding_tolerance(gold_prec: tuple[int, float] | None, pred_prec: tuple[int, float] | None) -> float | None:
    """How far a prediction may be from the gold under the precision rule (None: exact)."""
    if gold_prec is not None:
        sig, step = gold_prec
        if sig < MIN_GOLD_DIGITS:
            return None
        if pred_prec is not None and pred_prec[1] >= step:
            return None  # the prediction is no more precise than the gold: compare as written
        return step / 2
    if pred_prec is not None and pred_prec[0] >= MIN_PRED_DIGITS:
        return pred_prec[1] / 2
    return None


def _item_prec(v: Value, k: int) -> tuple[int, float] | None:
    return v.precision[k] if k < len(v.precision) else None


def numbers_equal(gold: Value, pred: Value) -> bool | None:
    """Compare two evaluated answers. True/False when the structures are comparable; None
    when they are not (e.g. gold is a tuple, prediction a bare list) and a later stage decides."""
    if gold.kind == "scalar" and pred.kind == "scalar":
        g, p = gold.items[0], pred.items[0]
        if _close(g, p, tol=rounding_tolerance(_item_prec(gold, 0), _item_prec(pred, 0))):
            return True
        # 50% vs 0.5: one side written as a percentage
        if gold.percent != pred.percent:
            scale = Fraction(100)
            if gold.percent and _close(g / scale if isinstance(g, Fraction) else g / 100, p):
                return True
            if pred.percent and _close(g, p / scale if isinstance(p, Fraction) else p / 100):
                return True
        return False
    if (gold.kind == "scalar") != (pred.kind == "scalar"):
        return False  # one number against several (or a matrix): never the same answer
    if gold.kind == "collection" or pred.kind == "collection":
        if gold.kind != pred.kind:
            return False if {gold.kind, pred.kind} & {"tuple", "list", "interval[)", "interval(]"} else None
        if len(gold.items) != len(pred.items):
            return False
        remaining = list(pred.items)
        for gi in gold.items:
            for pos, pi in enumerate(remaining):
                if numbers_equal(gi, pi):  # type: ignore[arg-type]
                    del remaining[pos]
                    break
            else:
                return False
        return True
    if gold.kind == "union" or pred.kind == "union":
        gk = list(gold.precision) if gold.kind == "union" else [_interval_key(gold)]
        pk = list(pred.precision) if pred.kind == "union" else [_interval_key(pred)]
        if None in gk or None in pk or len(gk) != len(pk):
            return False if None not in gk and None not in pk else None
        remaining = list(pk)
        for a in gk:
            for pos, b in enumerate(remaining):
                if a[0] == b[0] and a[3] == b[3] and _close(a[1], b[1]) and _close(a[2], b[2]):  # type: ignore[index]
                    del remaining[pos]
                    break
            else:
                return False
        return True
    intervals = {"tuple", "list", "interval[)", "interval(]"}
    if gold.kind != pred.kind and gold.kind in intervals and pred.kind in intervals and len(gold.items) == len(pred.items) == 2:
        if any(isinstance(x, float) and math.isinf(x) for x in gold.items + pred.items):
            return False  # (2, \infty) vs [2, \infty): same ends, different brackets: different sets
    if gold.kind != pred.kind:
        if {gold.kind, pred.kind} <= {"bare", "set"}:
            pass  # {1,2} and "1, 2" are both unordered answers
        elif gold.kind == "bare" and pred.kind == "tuple":
            pass  # gold "-2, -2" (values, stored sorted) against "(-2, -2)": compare the values
        elif gold.kind == "tuple" and pred.kind == "bare":
            if len(gold.items) != len(pred.items):
                return False
            return all(_close(g, p) for g, p in zip(gold.items, pred.items))  # "(-1, 6)" written "-1, 6"
        else:
            return None
    if len(gold.items) != len(pred.items):
        return False

    def close(i: int, j: int) -> bool:
        return _close(gold.items[i], pred.items[j], tol=rounding_tolerance(_item_prec(gold, i), _item_prec(pred, j)))

    if gold.kind in ("tuple", "list", "interval[)", "interval(]") or gold.kind.startswith("matrix"):
        return all(close(k, k) for k in range(len(gold.items)))
    # unordered: greedy matching (exact for exact values; tolerances are far apart in practice)
    remaining = list(range(len(pred.items)))
    for i in range(len(gold.items)):
        for pos, j in enumerate(remaining):
            if close(i, j):
                del remaining[pos]
                break
        else:
            return False
    return True
