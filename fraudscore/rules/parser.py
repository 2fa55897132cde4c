"""Parse and check rule expressions (a small, whitelisted subset of Python).

The text is parsed with :func:`ast.parse` and walked once; every node must be
one of a short list of allowed forms, otherwise :class:`RuleSyntaxError` is
raised with the line, column and a caret under the offending part. The result
is a tree of small, immutable IR nodes (:class:`Const`, :class:`Name`, ...)
that both compilers (:mod:`.scalar` and :mod:`.vector`) understand. Nothing in
the user's text is ever executed.

Allowed: field / feature names, numbers, strings, ``True`` / ``False``,
``and`` / ``or`` / ``not``, comparisons (chained too), ``+ - * /`` and unary
minus, ``in`` / ``not in`` against literal lists or named lists (``@name``),
and the functions in :data:`FUNCTIONS`.

Examples
--------
>>> expr = parse_expression("amount > 1000 and channel in ['web', 'h5']")
>>> sorted(expr_names(expr))
['amount', 'channel']
>>> parse_expression("amount.__class__")
Traceback (most recent call last):
...
fraudscore.errors.RuleSyntaxError: attribute access is not allowed (line 1, column 6)
    amount.__class__
          ^
"""

from __future__ import annotations

import ast
import difflib
import io
import math
import tokenize
import warnings
from collections.abc import Iterable

from ..errors import RuleSyntaxError
from .ir import (Arith, BoolOp, Call, Compare, Const, Expr, ListLit, ListRef, Member, Name, Neg, Not, Pos,
                 walk)

__all__ = [
    "FUNCTIONS", "MAX_SOURCE_CHARS", "MAX_NODES", "MAX_DEPTH",
    "Expr", "Const", "Name", "ListRef", "ListLit", "Neg", "Arith", "Not", "BoolOp", "Compare",
    "Member", "Call", "walk", "parse_expression", "expr_names", "expr_lists", "check_names", "did_you_mean",
]

#: Allowed functions and their arity (``None`` = two or more arguments).
FUNCTIONS: dict[str, int | None] = {
    "abs": 1, "min": None, "max": None, "log1p": 1, "is_missing": 1, "startswith": 2, "lower": 1,
}
MAX_SOURCE_CHARS = 4000
MAX_NODES = 1000
MAX_DEPTH = 40

_CMP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_FORBIDDEN = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "subscripts are not allowed",
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.NamedExpr: "assignment expressions are not allowed",
    ast.IfExp: "conditional expressions are not allowed; write two rules or use 'and' / 'or'",
    ast.JoinedStr: "f-strings are not allowed",
    ast.Dict: "dict literals are not allowed",
    ast.Starred: "starred expressions are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}


def _err(msg: str, source: str, pos: Pos | None, code: str | None) -> RuleSyntaxError:
    line, col = pos if pos is not None else (None, None)
    return RuleSyntaxError(msg, code=code, source=source, line=line, col=col)


def _list_markers(source: str) -> set[Pos]:
    """Positions of ``@`` that start a named-list reference (``@name``)."""
    marks: set[Pos] = set()
    prev: tokenize.TokenInfo | None = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if (prev is not None and prev.type == tokenize.OP and prev.string == "@"
                    and tok.type == tokenize.NAME and tok.start == prev.end):
                marks.add(prev.start)
            prev = tok
    except (tokenize.TokenError, SyntaxError, ValueError):
        pass  # ast.parse below reports the problem with a position
    return marks


def _replace_markers(source: str, marks: set[Pos]) -> str:
    lines = source.split("\n")
    for line, col in marks:
        text = lines[line - 1]
        lines[line - 1] = text[:col] + "_" + text[col + 1:]
    return "\n".join(lines)


def _check_shape(tree: ast.AST, conv: _Converter) -> None:
    """Bound node count and nesting depth, iteratively (no recursion on huge input)."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise conv.fail(f"expression is too large (more than {MAX_NODES} parts)", None)
        if depth > MAX_DEPTH:
            raise conv.fail(f"expression is nested too deeply (more than {MAX_DEPTH} levels)", node)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _pos_of(node: ast.AST, source: str) -> Pos | None:
    line = getattr(node, "lineno", None)
    col = getattr(node, "col_offset", None)
    if line is None or col is None:
        return None
    lines = source.split("\n")
    if 1 <= line <= len(lines):  # ast columns are UTF-8 byte offsets; convert to characters
        col = len(lines[line - 1].encode("utf-8")[:col].decode("utf-8", errors="ignore"))
    return (line, col)


def parse_expression(source: str, code: str | None = None) -> Expr:
    """Parse and check one rule expression.

    Parameters
    ----------
    source : str
        The expression text (may span several lines).
    code : str, optional
        The rule's reason code, named in error messages.

    Returns
    -------
    Expr
        The checked expression tree.

    Raises
    ------
    RuleSyntaxError
        For anything outside the language, with line, column and a caret.

    Examples
    --------
    >>> parse_expression("ip in @blocked_ips")
    Member(pos=(1, 0), negate=False, left=Name(pos=(1, 0), name='ip'), container=ListRef(pos=(1, 6), name='blocked_ips'))
    >>> parse_expression("__import__('os')")
    Traceback (most recent call last):
    ...
    fraudscore.errors.RuleSyntaxError: names starting with '__' are not allowed (line 1, column 0)
        __import__('os')
        ^
    """
    if not isinstance(source, str):
        raise RuleSyntaxError(f"the expression must be a string, got {type(source).__name__}", code=code)
    if len(source) > MAX_SOURCE_CHARS:
        raise _err(f"expression is too long ({len(source)} characters, at most {MAX_SOURCE_CHARS})",
                   source, None, code)
    if not source.strip():
        raise _err("the expression is empty", source, None, code)
    # Wrapped in parentheses so that an expression may span lines (and carry # comments).
    wrapped = "(" + source + "\n)"
    marks = _list_markers(wrapped)
    text = _replace_markers(wrapped, marks)
    try:
        with warnings.catch_warnings():  # e.g. "invalid decimal literal": we report our own errors
            warnings.simplefilter("ignore")
            tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        pos = _unwrap((exc.lineno or 1, (exc.offset or 0) - 1), source)
        raise _err(f"invalid syntax: {exc.msg}", source, pos, code) from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        raise _err(f"invalid expression: {type(exc).__name__}", source, None, code) from None
    conv = _Converter(source, wrapped, code, marks)
    _check_shape(tree, conv)
    try:
        return conv.conv(tree.body)
    except RecursionError:  # pragma: no cover - bounded by MAX_DEPTH
        raise _err("expression is nested too deeply", source, None, code) from None


def _unwrap(pos: Pos, source: str) -> Pos:
    """Map a position in the parenthesised text back to the user's source."""
    line, col = pos
    lines = source.split("\n")
    if line == 1:
        col -= 1
    if line > len(lines) or col < 0 and line == len(lines):
        return (len(lines), len(lines[-1]))
    return (max(line, 1), max(col, 0))


class _Converter:
    def __init__(self, source: str, wrapped: str, code: str | None, marks: set[Pos]) -> None:
        self.source, self.wrapped, self.code, self.marks = source, wrapped, code, marks

    def wpos(self, node: ast.AST) -> Pos | None:
        return _pos_of(node, self.wrapped)

    def spos(self, node: ast.AST) -> Pos | None:
        p = _pos_of(node, self.wrapped)
        return None if p is None else _unwrap(p, self.source)

    def fail(self, msg: str, node: ast.AST | None) -> RuleSyntaxError:
        if node is None:
            return _err(msg, self.source, None, self.code)
        pos = self.spos(node)
        if isinstance(node, (ast.Attribute, ast.Subscript)):  # point at the '.' or '['
            inner = node.value
            end = ast.Name(lineno=inner.end_lineno, col_offset=inner.end_col_offset)
            pos = self.spos(end) or pos
        return _err(msg, self.source, pos, self.code)

    def kind(self, e: Expr) -> str:
        """Static kind: 'num', 'str', 'bool' or 'any' (a name: known only at run time)."""
        if isinstance(e, Const):
            return "str" if isinstance(e.value, str) else "num"
        if isinstance(e, (Neg, Arith)):
            return "num"
        if isinstance(e, Call):
            return {"lower": "str", "is_missing": "bool", "startswith": "bool"}.get(e.func, "num")
        if isinstance(e, (Not, BoolOp, Compare, Member)):
            return "bool"
        return "any"

    def need(self, e: Expr, node: ast.AST, forbid: str, what: str) -> Expr:
        if self.kind(e) == forbid:
            raise self.fail(what, node)
        return e

    def conv(self, node: ast.AST) -> Expr:
        pos = self.spos(node) or (1, 0)
        if type(node) in _FORBIDDEN:
            raise self.fail(_FORBIDDEN[type(node)], node)
        if isinstance(node, ast.Constant):
            return Const(pos, self.const(node))
        if isinstance(node, ast.Name):
            if self.wpos(node) in self.marks:
                raise self.fail("a named list (@name) is only allowed after 'in' or 'not in'", node)
            return Name(pos, self.name(node))
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            return BoolOp(pos, op, tuple(self.conv(v) for v in node.values))
        if isinstance(node, ast.UnaryOp):
            operand = self.conv(node.operand)
            if isinstance(node.op, ast.Not):
                return Not(pos, operand)
            if isinstance(node.op, (ast.USub, ast.UAdd)):
                self.need(operand, node.operand, "str", "arithmetic needs numbers, not a string")
                return Neg(pos, operand) if isinstance(node.op, ast.USub) else Arith(pos, "+", Const(pos, 0.0), operand)
            raise self.fail("operator '~' is not allowed", node)
        if isinstance(node, ast.BinOp):
            op = _ARITH.get(type(node.op))
            if op is None:
                raise self.fail(f"operator {type(node.op).__name__} is not allowed (use + - * /)", node)
            left, right = self.conv(node.left), self.conv(node.right)
            self.need(left, node.left, "str", "arithmetic needs numbers, not a string")
            self.need(right, node.right, "str", "arithmetic needs numbers, not a string")
            return Arith(pos, op, left, right)
        if isinstance(node, ast.Compare):
            return self.compare(node, pos)
        if isinstance(node, ast.Call):
            return self.call(node, pos)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            raise self.fail("a list is only allowed after 'in' or 'not in'", node)
        raise self.fail(f"{type(node).__name__} is not allowed in a rule expression", node)

    def const(self, node: ast.Constant) -> float | str:
        v = node.value
        if isinstance(v, bool):
            return 1.0 if v else 0.0
        if isinstance(v, str):
            return v
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            try:
                f = float(v)
            except OverflowError:
                raise self.fail("number is too large", node) from None
            if math.isnan(f):  # pragma: no cover - no NaN literal in Python syntax
                raise self.fail("NaN is not a valid constant", node)
            return f
        if v is None:
            raise self.fail("None is not allowed; test for missing values with is_missing(x)", node)
        raise self.fail(f"{type(v).__name__} constants are not allowed", node)

    def name(self, node: ast.Name) -> str:
        if node.id.startswith("__"):
            raise self.fail("names starting with '__' are not allowed", node)
        if not node.id.isascii():
            raise self.fail("names must be ASCII", node)
        return node.id

    def compare(self, node: ast.Compare, pos: Pos) -> Expr:
        parts: list[Expr] = []
        left_node = node.left
        left = self.conv(left_node)
        for op, right_node in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                container = self.container(right_node)
                parts.append(Member(pos, isinstance(op, ast.NotIn), left, container))
                right: Expr = container
            elif type(op) in _CMP:
                right = self.conv(right_node)
                kinds = {self.kind(left), self.kind(right)}
                if _CMP[type(op)] not in ("==", "!=") and kinds == {"num", "str"}:
                    raise self.fail("cannot order a string against a number", right_node)
                parts.append(Compare(pos, _CMP[type(op)], left, right))
            else:
                raise self.fail("'is' / 'is not' are not allowed; use == or is_missing(x)", node)
            left, left_node = right, right_node
        return parts[0] if len(parts) == 1 else BoolOp(pos, "and", tuple(parts))

    def container(self, node: ast.AST) -> ListRef | ListLit:
        pos = self.spos(node) or (1, 0)
        if isinstance(node, ast.Name) and self.wpos(node) in self.marks:
            if node.id[1:].startswith("__") or not node.id.isascii():
                raise self.fail("list names must be ASCII and not start with '__'", node)
            return ListRef(pos, node.id[1:])
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            values: list[float | str] = []
            for elt in node.elts:
                if isinstance(elt, ast.UnaryOp) and isinstance(elt.op, ast.USub) \
                        and isinstance(elt.operand, ast.Constant) and not isinstance(elt.operand.value, str):
                    v = self.const(elt.operand)
                    values.append(-v if isinstance(v, float) else v)
                elif isinstance(elt, ast.Constant):
                    values.append(self.const(elt))
                else:
                    raise self.fail("list items must be numbers or strings", elt)
            return ListLit(pos, tuple(values))
        raise self.fail("'in' needs a literal list like ['a', 'b'] or a named list like @blocked_ips", node)

    def call(self, node: ast.Call, pos: Pos) -> Expr:
        if not isinstance(node.func, ast.Name):
            raise self.fail("only calls of the functions " + ", ".join(FUNCTIONS) + " are allowed", node)
        fname = node.func.id
        if fname.startswith("__"):
            raise self.fail("names starting with '__' are not allowed", node.func)
        if fname not in FUNCTIONS:
            hint = did_you_mean(fname, FUNCTIONS)
            raise self.fail(f"unknown function {fname!r}{hint}; allowed: " + ", ".join(FUNCTIONS), node.func)
        if node.keywords:
            raise self.fail("keyword arguments are not allowed", node.keywords[0].value)
        args = tuple(self.conv(a) for a in node.args)
        arity = FUNCTIONS[fname]
        if (arity is None and len(args) < 2) or (arity is not None and len(args) != arity):
            want = "two or more arguments" if arity is None else f"{arity} argument" + ("s" if arity > 1 else "")
            raise self.fail(f"{fname}() takes {want}, got {len(args)}", node)
        if fname in ("abs", "min", "max", "log1p"):
            for a, n in zip(args, node.args):
                self.need(a, n, "str", f"{fname}() needs numbers, not a string")
        elif fname in ("lower", "startswith"):
            for a, n in zip(args, node.args):
                if self.kind(a) in ("num", "bool"):
                    raise self.fail(f"{fname}() needs strings", n)
        return Call(pos, fname, args)


def expr_names(expr: Expr) -> set[str]:
    """Field and feature names an expression reads.

    Examples
    --------
    >>> sorted(expr_names(parse_expression("max(a, b) > c")))
    ['a', 'b', 'c']
    """
    return {e.name for e in walk(expr) if isinstance(e, Name)}


def expr_lists(expr: Expr) -> set[str]:
    """Named lists (``@name``) an expression uses.

    Examples
    --------
    >>> expr_lists(parse_expression("ip in @blocked_ips"))
    {'blocked_ips'}
    """
    return {e.name for e in walk(expr) if isinstance(e, ListRef)}


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest candidate, or ``""``.

    Examples
    --------
    >>> did_you_mean("amout", ["amount", "channel"])
    "; did you mean 'amount'?"
    """
    best = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {best[0]!r}?" if best else ""


def check_names(expr: Expr, source: str, known: set[str] | frozenset[str], lists: Iterable[str],
                code: str | None = None) -> None:
    """Raise :class:`RuleSyntaxError` for the first unknown name or list, with a suggestion.

    Examples
    --------
    >>> e = parse_expression("amout > 5")
    >>> check_names(e, "amout > 5", {"amount"}, [])
    Traceback (most recent call last):
    ...
    fraudscore.errors.RuleSyntaxError: unknown name 'amout'; did you mean 'amount'? (line 1, column 0)
        amout > 5
        ^
    """
    list_names = set(lists)
    for e in walk(expr):
        if isinstance(e, Name) and e.name not in known:
            hint = did_you_mean(e.name, known)
            raise _err(f"unknown name {e.name!r}{hint}", source, e.pos, code)
        if isinstance(e, ListRef) and e.name not in list_names:
            hint = did_you_mean(e.name, list_names)
            raise _err(f"unknown list '@{e.name}'{hint}", source, e.pos, code)
