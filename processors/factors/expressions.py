"""Factor expressions in Qlib's notation, parsed into a tree; nothing of the text is executed.

    expression := comparison
    comparison := sum (('>' | '<' | '>=' | '<=' | '==' | '!=') sum)?
    sum        := product (('+' | '-') product)*
    product    := unary (('*' | '/') unary)*
    unary      := '-' unary | primary
    primary    := number | '$' field | operator '(' arguments ')' | '(' expression ')'

Fields are the closed 1-minute bar's: `$open`, `$high`, `$low`, `$close`, `$volume`,
`$vwap`. Operators (`OPERATORS`) take series first, then, for the rolling ones, a window of
bars (a positive integer) and, for `Quantile`, the quantile (a number in [0, 1]). A
comparison is 1.0 or 0.0. Every operator and its exact definition is listed in
processors/factors/__init__.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from processors.factors.exceptions import ExpressionError

FIELDS = ("open", "high", "low", "close", "volume", "vwap")


@dataclass(frozen=True, slots=True)
class Spec:
    """An operator's arguments: `series` expressions, then a window (`window`), then a
    quantile (`quantile`). `lag`: the window is a lag (Ref, Delta: N bars back) rather than
    a rolling window of N bars. `least_window`: the smallest window that defines it."""

    series: int
    window: bool = False
    quantile: bool = False
    lag: bool = False
    least_window: int = 1


_ROLLING = Spec(1, window=True)
_SPREAD = Spec(1, window=True, least_window=2)  # a sample statistic or a regression
OPERATORS: dict[str, Spec] = {
    "Abs": Spec(1), "Log": Spec(1), "Sign": Spec(1),
    "Greater": Spec(2), "Less": Spec(2), "Power": Spec(2), "If": Spec(3),
    "Ref": Spec(1, window=True, lag=True), "Delta": Spec(1, window=True, lag=True),
    "Mean": _ROLLING, "Sum": _ROLLING, "Max": _ROLLING, "Min": _ROLLING, "Med": _ROLLING,
    "Mad": _ROLLING, "IdxMax": _ROLLING, "IdxMin": _ROLLING, "Rank": _ROLLING,
    "Quantile": Spec(1, window=True, quantile=True),
    "Std": _SPREAD, "Var": _SPREAD, "Slope": _SPREAD, "Rsquare": _SPREAD, "Resi": _SPREAD,
    "Corr": Spec(2, window=True, least_window=2), "Cov": Spec(2, window=True, least_window=2),
}
BINARY = {"+": "Add", "-": "Sub", "*": "Mul", "/": "Div", ">": "Gt", "<": "Lt", ">=": "Ge",
          "<=": "Le", "==": "Eq", "!=": "Ne"}
"""Infix operators and the names their nodes carry."""
_COMPARISONS = frozenset((">", "<", ">=", "<=", "==", "!="))


@dataclass(frozen=True, slots=True)
class Field:
    """A field of the bar (`$close`)."""

    name: str


@dataclass(frozen=True, slots=True)
class Constant:
    value: float


@dataclass(frozen=True, slots=True)
class Call:
    """An operator over `args`: a named one (`Mean`), an infix one (`Add`, `Gt`: see
    BINARY) or `Neg`; `window` and `quantile` where its Spec takes them."""

    op: str
    args: tuple[Node, ...]
    window: int = 0
    quantile: float = 0.0


Node = Field | Constant | Call

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | \$(?P<field>[A-Za-z_]\w*)
    | (?P<name>[A-Za-z_]\w*)
    | (?P<symbol>>=|<=|==|!=|[-+*/(),<>])
    )""", re.VERBOSE)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number, field, name, symbol, end
    text: str
    offset: int


def _tokens(text: str) -> list[_Token]:
    tokens, offset = [], 0
    while offset < len(text):
        if text[offset:].isspace():
            break
        match = _TOKEN.match(text, offset)
        if match is None or match.lastgroup is None:
            position = len(text) - len(text[offset:].lstrip())
            raise ExpressionError(f"unexpected character {text[position]!r} at {position}")
        kind = match.lastgroup
        start = match.start(kind) - (kind == "field")  # a field's offset is its `$`'s
        tokens.append(_Token(kind, text[start:match.end()], start))
        offset = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive descent over the tokens; each method parses one rule of the grammar."""

    def __init__(self, text: str) -> None:
        self._tokens = _tokens(text)
        self._at = 0

    def parse(self) -> Node:
        node = self._comparison()
        self._expect_end()
        return node

    def _peek(self) -> _Token:
        return self._tokens[self._at]

    def _next(self) -> _Token:
        token = self._tokens[self._at]
        self._at += 1
        return token

    def _take(self, *symbols: str) -> str | None:
        token = self._peek()
        if token.kind == "symbol" and token.text in symbols:
            self._at += 1
            return token.text
        return None

    def _expect(self, symbol: str) -> None:
        if self._take(symbol) is None:
            token = self._peek()
            raise ExpressionError(f"expected {symbol!r} at {token.offset}, found "
                                  f"{token.text or 'the end'!r}")

    def _expect_end(self) -> None:
        token = self._peek()
        if token.kind != "end":
            raise ExpressionError(f"unexpected {token.text!r} at {token.offset}")

    def _comparison(self) -> Node:
        left = self._sum()
        symbol = self._take(*_COMPARISONS)
        if symbol is None:
            return left
        return Call(BINARY[symbol], (left, self._sum()))

    def _sum(self) -> Node:
        node = self._product()
        while (symbol := self._take("+", "-")) is not None:
            node = Call(BINARY[symbol], (node, self._product()))
        return node

    def _product(self) -> Node:
        node = self._unary()
        while (symbol := self._take("*", "/")) is not None:
            node = Call(BINARY[symbol], (node, self._unary()))
        return node

    def _unary(self) -> Node:
        if self._take("-") is not None:
            operand = self._unary()
            if isinstance(operand, Constant):
                return Constant(-operand.value)
            return Call("Neg", (operand,))
        return self._primary()

    def _primary(self) -> Node:
        token = self._next()
        if token.kind == "number":
            return Constant(float(token.text))
        if token.kind == "field":
            if token.text[1:] not in FIELDS:
                raise ExpressionError(f"unknown field {token.text} at {token.offset}; "
                                      f"fields: {', '.join('$' + f for f in FIELDS)}")
            return Field(token.text[1:])
        if token.kind == "name":
            return self._call(token)
        if token.kind == "symbol" and token.text == "(":
            node = self._comparison()
            self._expect(")")
            return node
        raise ExpressionError(f"unexpected {token.text or 'end'!r} at {token.offset}")

    def _call(self, name: _Token) -> Call:
        spec = OPERATORS.get(name.text)
        if spec is None:
            raise ExpressionError(f"unknown operator {name.text!r} at {name.offset}; "
                                  f"operators: {', '.join(sorted(OPERATORS))}")
        self._expect("(")
        arguments: list[tuple[Node, int]] = []
        if self._take(")") is None:
            while True:
                start = self._peek().offset
                arguments.append((self._comparison(), start))
                if self._take(")") is not None:
                    break
                self._expect(",")
        return _checked_call(name, spec, arguments)


def _checked_call(name: _Token, spec: Spec, arguments: list[tuple[Node, int]]) -> Call:
    """The call's node, once its arguments fit its Spec."""
    wanted = ["series"] * spec.series + ["window"] * spec.window + ["quantile"] * spec.quantile
    if len(arguments) != len(wanted):
        raise ExpressionError(f"{name.text} at {name.offset} takes {len(wanted)} arguments "
                              f"({', '.join(wanted)}), not {len(arguments)}")
    series = tuple(node for node, _ in arguments[:spec.series])
    window, quantile = 0, 0.0
    if spec.window:
        node, offset = arguments[spec.series]
        if (not isinstance(node, Constant) or node.value != int(node.value)
                or node.value < spec.least_window):
            raise ExpressionError(f"{name.text} at {name.offset}: the window at {offset} "
                                  f"must be an integer of at least {spec.least_window}")
        window = int(node.value)
    if spec.quantile:
        node, offset = arguments[-1]
        if not isinstance(node, Constant) or not 0 <= node.value <= 1:
            raise ExpressionError(f"{name.text} at {name.offset}: the quantile at {offset} "
                                  "must be a number in [0, 1]")
        quantile = node.value
    return Call(name.text, series, window, quantile)


def parse(text: str) -> Node:
    """The tree of an expression; an ExpressionError says what is wrong and where."""
    return _Parser(text).parse()


def reach(node: Node) -> int:
    """How many bars before its own the node reads of its arguments: N - 1 for a rolling
    window of N, N for `Ref` / `Delta` of N, 0 for the rest."""
    if not isinstance(node, Call) or node.op not in OPERATORS:
        return 0
    spec = OPERATORS[node.op]
    if not spec.window:
        return 0
    return node.window if spec.lag else node.window - 1


def lookback(node: Node) -> int:
    """How many bars before the current one the expression reads (0: the current bar only)."""
    if not isinstance(node, Call):
        return 0
    return max(lookback(arg) for arg in node.args) + reach(node)
