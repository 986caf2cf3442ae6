"""Exact, sandbox-free arithmetic for the task verifiers: our own tokenizer and recursive-descent
parser for `+ - * /`, parentheses and number literals, evaluated with exact rationals
(`fractions.Fraction`). Nothing is ever handed to `eval`, `ast` or a sandbox: the only thing a
completion can make this code do is build Fractions from digit strings.

Grammar (usual precedence; binary operators left-associative; unary signs bind tightest):

    expr  := term (('+' | '-') term)*
    term  := unary (('*' | '/') unary)*
    unary := ('+' | '-') unary | atom
    atom  := NUMBER | '(' expr ')' | '[' expr ']' | '{' expr '}' | '\\frac' '{' expr '}' '{' expr '}'

Spellings models write are accepted: `×`, `·`, `∗`, `\\times`, `\\cdot` for `*`; `÷`, `\\div` for
`/`; `−` (U+2212) and `–` for `-`; `\\left(`/`\\right)`; `$` and `\\(`/`\\)` math delimiters are
ignored. NUMBER is an integer or a decimal (`2.5` is exactly 5/2). No implicit multiplication
(`2(3+4)` is an error: in Countdown it would hide an operator), no powers.

Bounds keep hostile input cheap: at most MAX_CHARS characters, MAX_DIGITS digits per literal
and MAX_DEPTH nested brackets/unary signs (recursion stays far below Python's limit).

Exercised by `python -m pytest -q tests/test_tasks.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

MAX_CHARS = 2_000
MAX_DIGITS = 60
MAX_DEPTH = 64

# LaTeX commands and unicode signs mapped to the ASCII operator (longest first where prefixes clash)
_WORDS: tuple[tuple[str, str], ...] = (
    ("\\times", "*"), ("\\cdot", "*"), ("\\ast", "*"), ("\\div", "/"),
    ("\\left", ""), ("\\right", ""), ("\\big", ""), ("\\Big", ""), ("\\(", ""), ("\\)", ""), ("\\,", ""), ("\\!", ""),
    ("\\;", ""), ("\\ ", ""),
)
_CHARS = {"×": "*", "·": "*", "∗": "*", "⋅": "*", "÷": "/", "−": "-", "–": "-", "＋": "+", "（": "(", "）": ")", "$": ""}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CLOSE = {"(": ")", "[": "]", "{": "}"}


class ExpressionError(ValueError):
    """The text is not a well-formed expression (or divides by zero); `kind` says which."""

    def __init__(self, kind: str, message: str, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} (at character {position})")
        self.kind = kind  # "unparseable" | "division_by_zero" | "too_long"
        self.position = position


@dataclass(frozen=True)
class Token:
    kind: str  # "num" | "op" | "open" | "close" | "frac"
    text: str
    pos: int
    value: Fraction | None = None


@dataclass(frozen=True)
class Evaluated:
    """An expression's exact value and the literals it used, in order of appearance."""

    value: Fraction
    literals: tuple[Fraction, ...]


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_CHARS:
        raise ExpressionError("too_long", f"expression is {len(text)} characters, more than {MAX_CHARS}")
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "\\":
            if text.startswith("\\frac", i) or text.startswith("\\dfrac", i) or text.startswith("\\tfrac", i):
                j = i + (5 if text.startswith("\\frac", i) else 6)
                tokens.append(Token("frac", "\\frac", i))
                i = j
                continue
            for word, op in _WORDS:
                if text.startswith(word, i):
                    if op:
                        tokens.append(Token("op", op, i))
                    i += len(word)
                    break
            else:
                raise ExpressionError("unparseable", f"unexpected {text[i:i + 12]!r}", i)
            continue
        if ch in _CHARS:
            mapped = _CHARS[ch]
            if mapped in "+-*/":
                tokens.append(Token("op", mapped, i))
            elif mapped in "()":
                tokens.append(Token("open" if mapped == "(" else "close", mapped, i))
            i += 1
            continue
        if ch in "+-*/":
            tokens.append(Token("op", ch, i))
            i += 1
            continue
        if ch in "([{":
            tokens.append(Token("open", ch, i))
            i += 1
            continue
        if ch in ")]}":
            tokens.append(Token("close", ch, i))
            i += 1
            continue
        m = _NUMBER.match(text, i)
        if m:
            digits = m.group(0)
            if len(digits.replace(".", "")) > MAX_DIGITS:
                raise ExpressionError("too_long", f"number literal longer than {MAX_DIGITS} digits", i)
            tokens.append(Token("num", digits, i, Fraction(digits)))
            i = m.end()
            continue
        raise ExpressionError("unparseable", f"unexpected character {ch!r}", i)
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token], text: str) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.end = len(text)
        self.literals: list[Fraction] = []

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, what: str) -> ExpressionError:
        tok = self.peek()
        found = f"{tok.text!r}" if tok else "the end"
        return ExpressionError("unparseable", f"expected {what}, found {found}", tok.pos if tok else self.end)

    def expr(self) -> Fraction:
        value = self.term()
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text in "+-":
            self.take()
            rhs = self.term()
            value = value + rhs if tok.text == "+" else value - rhs
        return value

    def term(self) -> Fraction:
        value = self.unary()
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text in "*/":
            self.take()
            rhs = self.unary()
            if tok.text == "*":
                value = value * rhs
            else:
                if rhs == 0:
                    raise ExpressionError("division_by_zero", "division by zero", tok.pos)
                value = value / rhs
        return value

    def _nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            tok = self.peek()
            raise ExpressionError("too_long", f"more than {MAX_DEPTH} nested brackets or signs", tok.pos if tok else None)

    def unary(self) -> Fraction:
        tok = self.peek()
        if tok is not None and tok.kind == "op" and tok.text in "+-":
            self.take()
            self._nest()
            value = self.unary()
            self.depth -= 1
            return -value if tok.text == "-" else value
        return self.atom()

    def _group(self, open_text: str | None = None) -> Fraction:
        tok = self.peek()
        if tok is None or tok.kind != "open" or (open_text is not None and tok.text != open_text):
            raise self.fail(f"'{open_text or '('}'")
        self.take()
        self._nest()
        value = self.expr()
        close = self.peek()
        if close is None or close.kind != "close" or close.text != _CLOSE[tok.text]:
            raise self.fail(f"'{_CLOSE[tok.text]}' to close the '{tok.text}' at character {tok.pos}")
        self.take()
        self.depth -= 1
        return value

    def atom(self) -> Fraction:
        tok = self.peek()
        if tok is None:
            raise self.fail("a number or '('")
        if tok.kind == "num":
            self.take()
            assert tok.value is not None
            self.literals.append(tok.value)
            return tok.value
        if tok.kind == "open":
            return self._group()
        if tok.kind == "frac":
            self.take()
            num = self._group("{")
            den = self._group("{")
            if den == 0:
                raise ExpressionError("division_by_zero", "division by zero in \\frac", tok.pos)
            return num / den
        raise self.fail("a number or '('")


def evaluate(text: str) -> Evaluated:
    """Parse and evaluate `text` exactly; raises ExpressionError (with `.kind`) when it cannot."""
    tokens = tokenize(text)
    if not tokens:
        raise ExpressionError("unparseable", "empty expression", 0)
    p = _Parser(tokens, text)
    value = p.expr()
    if p.peek() is not None:
        raise p.fail("an operator or the end")
    return Evaluated(value, tuple(p.literals))


def is_literal(text: str) -> Fraction | None:
    """The value when `text` is one (optionally signed) number literal and nothing else."""
    try:
        tokens = tokenize(text)
    except ExpressionError:
        return None
    sign = 1
    if tokens and tokens[0].kind == "op" and tokens[0].text in "+-":
        sign = -1 if tokens[0].text == "-" else 1
        tokens = tokens[1:]
    if len(tokens) == 1 and tokens[0].kind == "num" and tokens[0].value is not None:
        return sign * tokens[0].value
    return None
