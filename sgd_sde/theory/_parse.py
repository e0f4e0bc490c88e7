"""A whitelist parser from schedule strings to SymPy expressions in ``t``.

User text never reaches ``eval``, ``sympify`` or ``parse_expr``. A tokenizer accepts only numbers,
the names in :data:`NAMES` and :data:`FUNCTIONS`, and the operators ``+ - * / ^ ** ( ) ,``; a
recursive-descent parser builds the SymPy objects directly. Decimal literals become exact
rationals (``0.1`` is ``1/10``), so the decisions made on the result are exact.

Grammar (``^`` and ``**`` are the same right-associative power)::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := ("+" | "-") unary | power
    power  := atom (("^" | "**") unary)?
    atom   := NUMBER | NAME | FUNC "(" expr ("," expr)* ")" | "(" expr ")"
"""

from __future__ import annotations

import math
import re

__all__ = ["parse_schedule", "NAMES", "FUNCTIONS", "MAX_LENGTH"]

MAX_LENGTH = 400
_MAX_DEPTH = 60
_MAX_NUMERIC_EXPONENT = 256
_MAX_DIGITS = 300


def _log10_size(base, exponent) -> float:
    """``|exponent| * |log10|base||`` for numeric ``base``, ``inf`` when ``base`` overflows a float."""
    try:
        b = abs(complex(base))
    except (TypeError, OverflowError):
        return math.inf
    if b == 0 or not math.isfinite(b):
        return 0.0 if b == 0 else math.inf
    return abs(float(abs(exponent))) * abs(math.log10(b))

NAMES = ("t", "pi", "e")
FUNCTIONS = ("exp", "log", "ln", "sqrt", "floor", "ceil", "ceiling", "min", "max", "abs", "sin", "cos")

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z]+)|(?P<op>\*\*|[-+*/^(),]))"
)


def _allowed() -> str:
    return (
        f"allowed: numbers, the variable t, constants {', '.join(NAMES[1:])}, operators + - * / ^ ** ( ) , "
        f"and functions {', '.join(FUNCTIONS)}"
    )


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            bad = text[pos:].lstrip()[:1]
            where = len(text) - len(text[pos:].lstrip())
            raise ValueError(f"schedule: unexpected character {bad!r} at position {where}; {_allowed()}")
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "name" and value not in NAMES and value not in FUNCTIONS:
            raise ValueError(f"schedule: unknown name {value!r} at position {m.start(kind)}; {_allowed()}")
        if kind == "num" and len(value) > 40:
            raise ValueError(f"schedule: number literal too long at position {m.start(kind)} (at most 40 characters)")
        tokens.append((kind, value, m.start(kind)))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str):
        import sympy as sp

        self.sp = sp
        self.t = sp.Symbol("t", integer=True, nonnegative=True)
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0
        sp_funcs = {
            "exp": sp.exp, "log": sp.log, "ln": sp.log, "sqrt": sp.sqrt, "floor": sp.floor, "ceil": sp.ceiling,
            "ceiling": sp.ceiling, "min": sp.Min, "max": sp.Max, "abs": sp.Abs, "sin": sp.sin, "cos": sp.cos,
        }
        self.funcs = {name: sp_funcs[name] for name in FUNCTIONS}
        self.arity = {name: (1, 1) for name in FUNCTIONS}
        self.arity.update({"min": (2, 8), "max": (2, 8), "log": (1, 2), "ln": (1, 1)})

    # -- helpers -----------------------------------------------------------------------------
    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None, len(self.text))

    def take(self, value=None):
        kind, tok, pos = self.peek()
        if kind is None:
            raise ValueError(f"schedule: unexpected end of input{f', expected {value!r}' if value else ''}")
        if value is not None and tok != value:
            raise ValueError(f"schedule: expected {value!r} at position {pos}, got {tok!r}")
        self.i += 1
        return kind, tok, pos

    def enter(self):
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise ValueError(f"schedule: expression nested too deeply (at most {_MAX_DEPTH} levels)")

    # -- grammar -----------------------------------------------------------------------------
    def parse(self):
        if not self.tokens:
            raise ValueError("schedule: empty expression; expected an expression in t such as '1/(t+1)'")
        out = self.expr()
        kind, tok, pos = self.peek()
        if kind is not None:
            raise ValueError(
                f"schedule: unexpected {tok!r} at position {pos} (implicit multiplication is not allowed; write '*')"
            )
        return out

    def expr(self):
        self.enter()
        out = self.term()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            rhs = self.term()
            out = out + rhs if op == "+" else out - rhs
        self.depth -= 1
        return out

    def term(self):
        out = self.unary()
        while self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            rhs = self.unary()
            if op == "/" and rhs == 0:
                raise ValueError("schedule: division by zero")
            out = out * rhs if op == "*" else out / rhs
        return out

    def unary(self):
        self.enter()
        if self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            out = self.unary()
            out = -out if op == "-" else out
        else:
            out = self.power()
        self.depth -= 1
        return out

    def power(self):
        base = self.atom()
        if self.peek()[1] in ("^", "**"):
            _, _, pos = self.take()
            exponent = self.unary()
            sp = self.sp
            if base.is_number and exponent.is_number:
                # guard against 10^10^10-style blow-ups: both sides are numbers, so SymPy would
                # evaluate the power exactly
                if abs(exponent) > _MAX_NUMERIC_EXPONENT or _log10_size(base, exponent) > _MAX_DIGITS:
                    raise ValueError(
                        f"schedule: numeric power at position {pos} too large (|exponent| <= {_MAX_NUMERIC_EXPONENT}, "
                        f"result below 10^{_MAX_DIGITS})"
                    )
                if base == 0 and exponent.is_negative:
                    raise ValueError("schedule: division by zero (0 to a negative power)")
            return sp.Pow(base, exponent)
        return base

    def atom(self):
        sp = self.sp
        kind, tok, pos = self.take()
        if kind == "num":
            return sp.Rational(tok)  # exact: "0.1" -> 1/10, "1e-3" -> 1/1000
        if kind == "name" and tok in NAMES:
            return {"t": self.t, "pi": sp.pi, "e": sp.E}[tok]
        if kind == "name":  # a whitelisted function
            self.take("(")
            args = [self.expr()]
            while self.peek()[1] == ",":
                self.take(",")
                args.append(self.expr())
            self.take(")")
            lo, hi = self.arity[tok]
            if not lo <= len(args) <= hi:
                raise ValueError(f"schedule: {tok}() takes {lo}..{hi} arguments, got {len(args)} (position {pos})")
            return self.funcs[tok](*args)
        if tok == "(":
            self.enter()
            out = self.expr()
            self.take(")")
            self.depth -= 1
            return out
        raise ValueError(f"schedule: unexpected {tok!r} at position {pos}; {_allowed()}")


def parse_schedule(text: str):
    """Parse a learning-rate schedule string into a SymPy expression in ``t``.

    ``t`` is the integer step (``t = 0, 1, 2, …``), a SymPy ``Symbol("t", integer=True,
    nonnegative=True)``.

    Args:
        text: e.g. ``"0.5/(t+10)^0.75"``, ``"0.1*0.5^floor(t/30)"``, ``"1/((t+2)*log(t+2))"``.

    Returns:
        The SymPy expression.

    Raises:
        ValueError: for anything outside the grammar: unknown names (``__import__``, ``exec``,
            ``lambda``), attribute access (``t.__class__``), strings, brackets, too long input
            (more than :data:`MAX_LENGTH` characters), too deep nesting, huge numeric powers.
        TypeError: if ``text`` is not a ``str``.

    Examples:
        >>> parse_schedule("0.5/(t+1)^0.75")
        1/(2*(t + 1)**(3/4))
        >>> parse_schedule("__import__('os')")
        Traceback (most recent call last):
        ...
        ValueError: schedule: unexpected character '_' at position 0; allowed: ...
    """
    if not isinstance(text, str):
        raise TypeError(f"schedule must be a str or a SymPy expression, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"schedule: string too long ({len(text)} characters, at most {MAX_LENGTH})")
    return _Parser(text).parse()
