"""The one exception family of factory. Every expected failure (bad input, bad recipe, a
half-written dataset, a missing optional library) is a `FactoryError`; the CLI boundary turns
it into one red line and exit code 1 (`factory --debug ...` shows the traceback).

Messages follow one shape: what was expected, what was found, and how to fix it.
"""

from __future__ import annotations


class FactoryError(Exception):
    """Base of every error factory raises on purpose. `hint` is the 'how to fix it' part."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class InputError(FactoryError):
    """Input data that cannot be read or mapped: names the file, the line/row and the field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f":{line}"
            if field is not None:
                where += f" field '{field}'"
            where += ": "
        super().__init__(where + message, hint=hint)
        self.path = path
        self.line = line
        self.field = field
        self.reason = message


class SchemaError(FactoryError):
    """A row or table does not match its contract (`path.to.field: expected X, found Y`)."""


class DatasetError(FactoryError):
    """A dataset folder is missing, half-written, corrupted or of the wrong contract."""


class RecipeError(FactoryError):
    """A recipe failed validation; the message lists every problem at once."""

    def __init__(self, problems: list[str], *, source: str | None = None, hint: str | None = None):
        head = f"recipe {source} is invalid" if source else "recipe is invalid"
        body = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{head} ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n{body}", hint=hint)
        self.problems = problems


class MissingDependencyError(FactoryError):
    """An optional library is not installed; the message carries the pip command."""

    def __init__(self, library: str, *, extra: str | None = None, purpose: str = "") -> None:
        cmd = f"pip install 'factory[{extra}]'" if extra else f"pip install {library}"
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(f"{library} is not installed{what}", hint=f"install it with: {cmd}")
        self.library = library
        self.extra = extra


class NotBuiltYetError(FactoryError):
    """A command or stage that is planned but not built yet."""
