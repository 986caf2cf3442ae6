"""The units layer: splitting a unit off an answer, reading it, converting between units.

Run: python -m pytest -q tests/test_math_units.py
"""

from __future__ import annotations

import math

import pytest
from factory.filters.math.units import convert, parse_unit, split_unit


@pytest.mark.parametrize(
    ("answer", "value", "unit"),
    [
        (r"4.2 \text{ m/s}", "4.2", r"\text{ m/s}"),
        ("290°C", "290", "°C"),
        (r"120^\circ F", "120", r"^\circ F"),
        (r"1.2 \times 10^{-3} \text{ m}", r"1.2 \times 10^{-3}", r"\text{ m}"),
        ("8,500 kcal m^{-2} yr^{-1}", "8,500", "kcal m^{-2} yr^{-1}"),
        (r"33.3 \mathrm{~km} / \mathrm{h}", "33.3", r"\mathrm{~km} / \mathrm{h}"),
        (r"\frac{40}{3} \text{ cm}^2", r"\frac{40}{3}", r"\text{ cm}^2"),
        ("7 m", "7", "m"),
        (r"6 \mu s", "6", r"\mu s"),
        ("15 square feet", "15", "feet^2"),
    ],
)
def test_split_unit(answer, value, unit):
    assert split_unit(answer) == (value, unit)


@pytest.mark.parametrize(
    "answer",
    [
        "7m",  # a product, not 7 metres (a one-letter unit needs a space or \text{})
        "2x + 3 m",  # the value has a variable
        r"2\pi",
        "12 apples",  # not a unit
        "3",
    ],
)
def test_split_unit_leaves_non_quantities_alone(answer):
    assert split_unit(answer) == (answer, None)


@pytest.mark.parametrize(
    ("a", "b", "factor"),
    [
        ("km", "m", 1000),
        ("mA", "A", 1e-3),
        ("µs", "s", 1e-6),
        ("nm", "Å", 10),
        ("kPa", "Pa", 1e3),
        ("km/h", "m/s", 1000 / 3600),
        ("kWh", "J", 3.6e6),
        ("kcal", "J", 4184),
        ("mL", "cm^3", 1),
        ("GHz", "Hz", 1e9),
        ("kg m s^{-2}", "N", 1),
        ("eV", "J", 1.602176634e-19),
        ("mi", "km", 1.609344),
        ("°", "rad", math.pi / 180),
        ("J/(mol K)", "J mol^{-1} K^{-1}", 1),
        (r"\frac{\text{km}}{\text{h}}", "m/s", 1000 / 3600),
        ("(m/s)^2", "J/kg", 1),
    ],
)
def test_parse_and_convert(a, b, factor):
    ua, ub = parse_unit(a), parse_unit(b)
    assert ua is not None and ub is not None and ua.dims == ub.dims
    assert convert(1.0, ua, ub) == pytest.approx(factor, rel=1e-9)


def test_temperatures_convert_with_their_offset():
    assert convert(100.0, parse_unit("°C"), parse_unit("K")) == pytest.approx(373.15)
    assert convert(212.0, parse_unit("°F"), parse_unit("°C")) == pytest.approx(100.0)


@pytest.mark.parametrize("text", ["apples", "m/apples", "kq", ""])
def test_unknown_units_are_not_read(text):
    assert parse_unit(text) is None


def test_different_kinds_have_different_dimensions():
    assert parse_unit("m").dims != parse_unit("s").dims
    assert parse_unit("J").dims == parse_unit("N m").dims
    assert parse_unit("W").dims == parse_unit("J/s").dims
