"""The explicit name -> filter class registry (no auto-registration, no import-by-string).
Add a filter: write the class in its own module, import it here, add one line to FILTERS."""

from __future__ import annotations

from factory.filters.code.filter import CodeVerifier
from factory.filters.format import FormatFilter, ReadabilityFilter
from factory.filters.language import LanguageFilter
from factory.filters.math.filter import MathVerifier

FILTERS: dict[str, type] = {
    "format": FormatFilter,
    "readability": ReadabilityFilter,
    "language": LanguageFilter,
    "code": CodeVerifier,
    "math": MathVerifier,
}
