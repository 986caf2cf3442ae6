"""Units of measure on answers: split `2.5 \\text{ m/s}` into a value and a unit, and convert.

`split_unit(s)` finds a trailing unit expression on an answer and returns `(value, unit_text)`:
`"3 \\times 10^{-4} \\text{ m}"` -> `("3 \\times 10^{-4}", "m")`, `"350°C"` -> `("350", "°C")`,
`"12,000 kcal m^{-2} yr^{-1}"` -> `("12,000", "kcal m^{-2} yr^{-1}")`, `"85.71 \\mathrm{~km} /
\\mathrm{h}"` -> `("85.71", "km/h")`. A tail counts as a unit only when every token of it is a
known unit (with an SI prefix where the unit takes one, and a power), and the value part is
numeric (no free letters), so `2x + 3 m` or `5m` (a product) are never split. A single-letter
unit (`m`, `s`, `K`, ...) must be separated from the number by a space or wrapped in `\\text{}`.

`parse_unit(text)` turns a unit expression into a `Unit(scale, dims, offset)`: the factor to the
coherent SI unit, the exponents of (m, kg, s, A, K, mol, cd, rad, currency), and an offset for
°C/°F. Two quantities compare by magnitude when their dimensions agree (`5200 Å` = `520 nm`,
`1.5 km` = `1500 m`, `300 K` = `26.85 °C`); see `math_equiv` for how a missing unit is treated
(the number alone is compared, since answers may leave the unit out).

Pure Python, no sympy: it runs in the calling process, inside the string/numeric stages.
Exercised by `python -m pytest -q tests/test_math_units.py`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

# dimension exponents: length, mass, time, current, temperature, amount, luminosity, angle, money
_DIMS = ("m", "kg", "s", "A", "K", "mol", "cd", "rad", "money")


def _d(**kw: int) -> tuple[int, ...]:
    return tuple(kw.get(k, 0) for k in _DIMS)


_L, _M, _T, _I, _TH, _N, _J, _ANG, _CUR = (_d(**{k: 1}) for k in _DIMS)
_NONE = _d()


def _mul(a: tuple[int, ...], b: tuple[int, ...], k: int = 1) -> tuple[int, ...]:
    return tuple(x + k * y for x, y in zip(a, b))


_FORCE = _d(kg=1, m=1, s=-2)
_ENERGY = _d(kg=1, m=2, s=-2)
_POWER = _d(kg=1, m=2, s=-3)
_PRESSURE = _d(kg=1, m=-1, s=-2)
_CHARGE = _d(A=1, s=1)
_VOLT = _d(kg=1, m=2, s=-3, A=-1)
_VOLUME = _d(m=3)

# units that take SI prefixes: symbol -> (scale to SI, dims)
_PREFIXABLE: dict[str, tuple[float, tuple[int, ...]]] = {
    "m": (1.0, _L),
    "g": (1e-3, _M),
    "s": (1.0, _T),
    "A": (1.0, _I),
    "K": (1.0, _TH),
    "mol": (1.0, _N),
    "cd": (1.0, _J),
    "L": (1e-3, _VOLUME),
    "l": (1e-3, _VOLUME),
    "N": (1.0, _FORCE),
    "J": (1.0, _ENERGY),
    "W": (1.0, _POWER),
    "Pa": (1.0, _PRESSURE),
    "Hz": (1.0, _d(s=-1)),
    "C": (1.0, _CHARGE),
    "V": (1.0, _VOLT),
    "Ω": (1.0, _d(kg=1, m=2, s=-3, A=-2)),
    "F": (1.0, _d(kg=-1, m=-2, s=4, A=2)),
    "T": (1.0, _d(kg=1, s=-2, A=-1)),
    "Wb": (1.0, _d(kg=1, m=2, s=-2, A=-1)),
    "H": (1.0, _d(kg=1, m=2, s=-2, A=-2)),
    "eV": (1.602176634e-19, _ENERGY),
    "cal": (4.184, _ENERGY),
    "bar": (1e5, _PRESSURE),
    "M": (1e3, _d(mol=1, m=-3)),  # molar
    "rad": (1.0, _ANG),
}
_PREFIXES = {
    "Y": 1e24, "Z": 1e21, "E": 1e18, "P": 1e15, "T": 1e12, "G": 1e9, "M": 1e6, "k": 1e3, "h": 1e2,
    "da": 1e1, "d": 1e-1, "c": 1e-2, "m": 1e-3, "µ": 1e-6, "μ": 1e-6, "u": 1e-6, "n": 1e-9, "p": 1e-12,
    "f": 1e-15, "a": 1e-18,
}
# prefixed forms that are real units but read wrongly by the rule, or would be too ambiguous
_NO_PREFIX = {"Pa", "ha", "cd", "Gy", "dam", "mm2"}  # "Pa" is pascal, not peta-annum

_YEAR = 365.25 * 86400
_PLAIN: dict[str, tuple[float, tuple[int, ...]]] = {
    # time
    "min": (60.0, _T), "mins": (60.0, _T), "minute": (60.0, _T), "minutes": (60.0, _T),
    "h": (3600.0, _T), "hr": (3600.0, _T), "hrs": (3600.0, _T), "hour": (3600.0, _T), "hours": (3600.0, _T),
    "second": (1.0, _T), "seconds": (1.0, _T), "sec": (1.0, _T), "secs": (1.0, _T),
    "day": (86400.0, _T), "days": (86400.0, _T), "week": (604800.0, _T), "weeks": (604800.0, _T),
    "yr": (_YEAR, _T), "yrs": (_YEAR, _T), "year": (_YEAR, _T), "years": (_YEAR, _T), "a": (_YEAR, _T),
    "month": (_YEAR / 12, _T), "months": (_YEAR / 12, _T),
    # length
    "meter": (1.0, _L), "meters": (1.0, _L), "metre": (1.0, _L), "metres": (1.0, _L),
    "Å": (1e-10, _L), "\\AA": (1e-10, _L), "\\mathring{A}": (1e-10, _L), "angstrom": (1e-10, _L), "angstroms": (1e-10, _L),
    "in": (0.0254, _L), "inch": (0.0254, _L), "inches": (0.0254, _L),
    "ft": (0.3048, _L), "foot": (0.3048, _L), "feet": (0.3048, _L),
    "yd": (0.9144, _L), "yard": (0.9144, _L), "yards": (0.9144, _L),
    "mi": (1609.344, _L), "mile": (1609.344, _L), "miles": (1609.344, _L),
    "au": (1.495978707e11, _L), "AU": (1.495978707e11, _L), "ly": (9.4607304725808e15, _L), "pc": (3.0856775814913673e16, _L),
    # mass
    "gram": (1e-3, _M), "grams": (1e-3, _M), "kilogram": (1.0, _M), "kilograms": (1.0, _M),
    "t": (1e3, _M), "tonne": (1e3, _M), "tonnes": (1e3, _M), "ton": (1e3, _M), "tons": (1e3, _M),
    "lb": (0.45359237, _M), "lbs": (0.45359237, _M), "pound": (0.45359237, _M), "pounds": (0.45359237, _M),
    "oz": (0.028349523125, _M), "ounce": (0.028349523125, _M), "ounces": (0.028349523125, _M),
    "u": (1.66053906660e-27, _M), "amu": (1.66053906660e-27, _M), "Da": (1.66053906660e-27, _M),
    # volume
    "liter": (1e-3, _VOLUME), "liters": (1e-3, _VOLUME), "litre": (1e-3, _VOLUME), "litres": (1e-3, _VOLUME),
    "gal": (3.785411784e-3, _VOLUME), "gallon": (3.785411784e-3, _VOLUME), "gallons": (3.785411784e-3, _VOLUME),
    "cc": (1e-6, _VOLUME),
    # energy, power, pressure
    "joule": (1.0, _ENERGY), "joules": (1.0, _ENERGY), "calorie": (4.184, _ENERGY), "calories": (4.184, _ENERGY),
    "Cal": (4184.0, _ENERGY), "Wh": (3600.0, _ENERGY), "kWh": (3.6e6, _ENERGY), "erg": (1e-7, _ENERGY),
    "watt": (1.0, _POWER), "watts": (1.0, _POWER), "hp": (745.6998715822702, _POWER),
    "atm": (101325.0, _PRESSURE), "mmHg": (133.322387415, _PRESSURE), "torr": (101325.0 / 760, _PRESSURE),
    "Torr": (101325.0 / 760, _PRESSURE), "psi": (6894.757293168, _PRESSURE),
    "newton": (1.0, _FORCE), "newtons": (1.0, _FORCE), "dyn": (1e-5, _FORCE),
    "ohm": (1.0, _d(kg=1, m=2, s=-3, A=-2)), "ohms": (1.0, _d(kg=1, m=2, s=-3, A=-2)), "\\Omega": (1.0, _d(kg=1, m=2, s=-3, A=-2)),
    "G": (1e-4, _d(kg=1, s=-2, A=-1)),  # gauss
    # angle
    "°": (math.pi / 180, _ANG), "deg": (math.pi / 180, _ANG), "degree": (math.pi / 180, _ANG), "degrees": (math.pi / 180, _ANG),
    "radian": (1.0, _ANG), "radians": (1.0, _ANG), "rev": (2 * math.pi, _ANG),
    # speed, rate
    "mph": (1609.344 / 3600, _d(m=1, s=-1)), "kph": (1000 / 3600, _d(m=1, s=-1)), "knot": (1852 / 3600, _d(m=1, s=-1)),
    "knots": (1852 / 3600, _d(m=1, s=-1)), "rpm": (2 * math.pi / 60, _d(rad=1, s=-1)),
    # money
    "dollar": (1.0, _CUR), "dollars": (1.0, _CUR), "cent": (0.01, _CUR), "cents": (0.01, _CUR),
    "USD": (1.0, _CUR), "usd": (1.0, _CUR), "\\$": (1.0, _CUR), "$": (1.0, _CUR),
    "euro": (1.0, _CUR), "euros": (1.0, _CUR), "€": (1.0, _CUR), "EUR": (1.0, _CUR),
    "£": (1.0, _CUR), "¥": (1.0, _CUR), "yuan": (1.0, _CUR), "元": (1.0, _CUR), "₹": (1.0, _CUR),
    # amount
    "mole": (1.0, _N), "moles": (1.0, _N),
}
# Prefixed full names: kilometre, milligram, nanoseconds, ...
_NAME_PREFIXES = {"kilo": 1e3, "mega": 1e6, "giga": 1e9, "centi": 1e-2, "milli": 1e-3, "micro": 1e-6, "nano": 1e-9, "pico": 1e-12}
_NAME_BASES = {
    "meter": (1.0, _L), "metre": (1.0, _L), "gram": (1e-3, _M), "second": (1.0, _T), "liter": (1e-3, _VOLUME),
    "litre": (1e-3, _VOLUME), "joule": (1.0, _ENERGY), "watt": (1.0, _POWER), "newton": (1.0, _FORCE),
    "volt": (1.0, _VOLT), "ampere": (1.0, _I), "pascal": (1.0, _PRESSURE), "hertz": (1.0, _d(s=-1)),
    "calorie": (4.184, _ENERGY), "mole": (1.0, _N),
}
# words that name what was counted: stripped, but carry no scale ("12 students")
_SINGLE_LETTER = re.compile(r"[A-Za-zµμΩ°Å']")


@dataclass(frozen=True)
class Unit:
    scale: float
    dims: tuple[int, ...]
    offset: float = 0.0  # °C, °F: SI value = value * scale + offset

    def to_si(self, x: float) -> float:
        return x * self.scale + self.offset


_TEMPS = {
    "°C": Unit(1.0, _TH, 273.15), "℃": Unit(1.0, _TH, 273.15), "^\\circC": Unit(1.0, _TH, 273.15),
    "°F": Unit(5 / 9, _TH, 273.15 - 32 * 5 / 9), "^\\circF": Unit(5 / 9, _TH, 273.15 - 32 * 5 / 9),
    "°K": Unit(1.0, _TH), "degC": Unit(1.0, _TH, 273.15), "celsius": Unit(1.0, _TH, 273.15),
    "Celsius": Unit(1.0, _TH, 273.15), "kelvin": Unit(1.0, _TH), "Kelvin": Unit(1.0, _TH),
}


def _lookup(name: str) -> tuple[float, tuple[int, ...]] | None:
    """Scale and dims of one unit symbol or name, with an SI prefix where the unit takes one."""
    if name in _PLAIN:
        return _PLAIN[name]
    if name in _PREFIXABLE:
        return _PREFIXABLE[name]
    low = name.lower()
    if low in _PLAIN and len(low) > 3:
        return _PLAIN[low]  # "Meters", "Hours"
    if name in _NO_PREFIX:
        return None
    for p in ("da", *[k for k in _PREFIXES if k != "da"]):
        if name.startswith(p) and len(name) > len(p):
            base = name[len(p) :]
            if base in _PREFIXABLE:
                scale, dims = _PREFIXABLE[base]
                return scale * _PREFIXES[p], dims
    for p, f in _NAME_PREFIXES.items():
        if low.startswith(p):
            base = low[len(p) :].rstrip("s")
            if base in _NAME_BASES:
                scale, dims = _NAME_BASES[base]
                return scale * f, dims
    return None


_UNIT_OP = re.compile(r"\s*(?:/|\\cdot|\*|·|\\times|\\per)\s*")
_POWER = re.compile(r"\s*\^\s*(?:\{\s*(?P<pb>[-+−]?\s*\d+)\s*\}|(?P<p>[-+−]?\d))")
_UNIT_NAME = re.compile(
    r"(?P<name>°C|°F|℃|°|Å|\\AA|\\mathring\{A\}|\\Omega|\\\$|[A-Za-zµμΩ$€£¥₹元]+)"
    r"(?:\s*\^\s*(?:\{\s*(?P<pb>[-+−]?\s*\d+)\s*\}|(?P<p>[-+−]?\d)))?"
)


@lru_cache(maxsize=4096)
def parse_unit(text: str) -> Unit | None:
    """`km/h`, `kcal m^{-2} yr^{-1}`, `J/(mol K)`, `\\frac{m}{s^2}`, `\\mathrm{~m} \\cdot
    \\mathrm{s}^{-2}`, `°C` -> Unit; None when any token is not a known unit."""
    t = _clean_unit_text(text)
    if not t:
        return None
    if t in _TEMPS:
        return _TEMPS[t]
    got = _parse_product(t, 0, 0)
    if got is None or got[2] != len(t):
        return None
    return Unit(got[0], got[1])


def _parse_product(t: str, pos: int, depth: int) -> tuple[float, tuple[int, ...], int] | None:
    """Units multiplied (space, *, \\cdot) or divided (/ applies to the next factor, which may be
    a parenthesised group); returns (scale, dims, end)."""
    scale, dims = 1.0, _NONE
    first = True
    while True:
        while pos < len(t) and t[pos] == " ":
            pos += 1
        if pos >= len(t) or t[pos] == ")":
            return (scale, dims, pos) if not first else None
        denom = False
        m = _UNIT_OP.match(t, pos)
        if m:
            denom = m.group(0).strip() in ("/", "\\per")
            pos = m.end()
            while pos < len(t) and t[pos] == " ":
                pos += 1
        if pos < len(t) and t[pos] == "(":
            if depth > 3:
                return None
            inner = _parse_product(t, pos + 1, depth + 1)
            if inner is None or inner[2] >= len(t) or t[inner[2]] != ")":
                return None
            f_scale, f_dims, pos = inner[0], inner[1], inner[2] + 1
            pm = _POWER.match(t, pos)
            power = 1
            if pm:
                power = int((pm.group("pb") or pm.group("p")).replace("−", "-").replace(" ", ""))
                pos = pm.end()
        else:
            m = _UNIT_NAME.match(t, pos)
            if not m:
                return None
            got = _lookup(m.group("name"))
            if got is None:
                return None
            f_scale, f_dims = got
            power = int((m.group("pb") or m.group("p") or "1").replace("−", "-").replace(" ", ""))
            pos = m.end()
        if denom:
            power = -power
        scale *= f_scale**power
        dims = _mul(dims, f_dims, power)
        first = False


_WRAP = re.compile(r"\\(?:text|mathrm|mbox|textrm|rm|operatorname|mathit|textnormal|unit|si)\s*\{")


def _unwrap(t: str) -> str:
    """\\mathrm{m\\,s^{-2}} -> " m\\,s^{-2} " (balanced braces)."""
    while True:
        m = _WRAP.search(t)
        if not m:
            return t
        depth, j = 0, m.end() - 1
        for j in range(m.end() - 1, len(t)):
            depth += {"{": 1, "}": -1}.get(t[j], 0)
            if depth == 0:
                break
        if depth:
            return t
        t = t[: m.start()] + " " + t[m.end() : j] + " " + t[j + 1 :]


def _clean_unit_text(text: str) -> str:
    t = text.strip()
    t = t.replace("{\\rm ", "{").replace("\\rm ", "")
    t = _unwrap(t)
    t = t.replace("~", " ").replace("\\,", " ").replace("\\;", " ").replace("\\ ", " ").replace("\\!", "")
    t = re.sub(r"\^\s*\{?\s*\\circ\s*\}?\s*", "°", t)  # ^\circ C -> °C
    t = t.replace("\\degree", "°").replace("\\%", "%")
    t = re.sub(r"\\(?:mu|micro)\s*", "µ", t)  # \\mu s, \\mu m: the micro prefix
    # \\frac{m}{s^2} -> m/(s^2)
    for _ in range(3):
        t2 = re.sub(r"\\[dt]?frac\s*\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}\s*\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}", r"(\1)/(\2)", t)
        if t2 == t:
            break
        t = t2
    t = t.replace("{", " ").replace("}", " ") if "^" not in t else t
    t = re.sub(r"\s+", " ", t).strip()
    t = re.sub(r"°\s+([CF])\b", r"°\1", t)
    return t.strip(" .")


# a unit needs a wrapper (\\text, \\mathrm, ...), a unit sign, or a letter that is not part of a
# LaTeX command (the letters of \\frac or \\sqrt name no unit)
_UNIT_GATE = re.compile(r"\\(?:text|mathrm|mbox|textrm|rm|operatorname|AA|Omega|circ|degree|mathring|\$|unit|si|mu)|[µμΩ°Å℃$€£¥₹元]|(?<![\\A-Za-z])[A-Za-z]")
_VALUE_OK = re.compile(r"\d|\\pi|\\infty")
# a unit may start after a digit, a closing bracket or a constant
_CUT_BEFORE = re.compile(r"(?<=[\d})\]])|(?<=\\pi)|(?<=\\infty)")
# what a unit tail starts with: a wrapper, a space, a degree mark, a currency sign or a letter
_TAIL_START = re.compile(r"\s|\\(?:text|mathrm|mbox|textrm|rm|operatorname|,|;| |AA|Omega|mathring|\$|mu)|~|\^\s*\{?\s*\\circ|[A-Za-zµμΩ°Å℃$€£¥₹元{]")
_SQUARE = re.compile(r"\b(?:square|sq\.?)\s+([A-Za-z]+)")
_CUBIC = re.compile(r"\b(?:cubic|cu\.?)\s+([A-Za-z]+)")


@lru_cache(maxsize=65536)
def split_unit(s: str) -> tuple[str, str | None]:
    """(value, unit text) when `s` ends in a unit expression after a numeric value, else (s, None)."""
    s = s.strip()
    if not s or not _VALUE_OK.search(s) or not _UNIT_GATE.search(s):
        return s, None
    for m in _CUT_BEFORE.finditer(s):
        cut = m.start()
        tail = s[cut:]
        if not tail.strip() or not _TAIL_START.match(tail):
            continue
        value = s[:cut].strip()
        if not value or not _numeric_value(value):
            continue
        unit_text = _SQUARE.sub(r"\1^2", _CUBIC.sub(r"\1^3", tail))
        if parse_unit(unit_text) is None:
            continue
        # a bare single-letter unit must be set off by a space or wrapped: "5 m", "5\,m", "5\text{ m}"
        clean = _clean_unit_text(unit_text)
        if re.fullmatch(r"[A-Za-z]", clean) and not re.match(r"\s|\\|~", tail):
            continue
        value = re.sub(r"(?:\\,|\\;|\\ |~|\\quad|\\!)+$", "", value).strip()
        return value, unit_text.strip()
    return s, None


def _numeric_value(v: str) -> bool:
    """A value made of numbers and number-only LaTeX (no free letters): 3, 1.5 \\times 10^{-4},
    \\frac{600}{7}, 2\\sqrt{3}, 12,000."""
    if not _VALUE_OK.search(v):
        return False
    core = re.sub(r"\\(?:frac|dfrac|tfrac|sqrt|pi|times|cdot|infty|left|right|approx|sim|,|;|!| )", "", v)
    core = re.sub(r"\\text\{\s*\}|\{,\}", "", core)
    core = core.replace("\\$", "").replace("$", "")
    # e-notation and a leading "=" or "\approx" are fine; any other letter is a variable
    core = re.sub(r"(?<=\d)[eE](?=[-+]?\d)", "", core)
    return not re.search(r"[A-Za-z\\]", core)


def same_dims(a: Unit, b: Unit) -> bool:
    return a.dims == b.dims


def convert(value: float, frm: Unit, to: Unit) -> float:
    """value in unit `frm` expressed in unit `to` (same dimensions)."""
    return (frm.to_si(value) - to.offset) / to.scale
