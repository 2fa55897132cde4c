"""Compile a checked expression into a tree of Python closures (one event at a time).

No text is evaluated: each IR node (:mod:`.parser`) becomes a small closure over
its pre-resolved children, names and constants. Common leaf shapes
(``name <op> number``, ``name in @list``) get a specialised closure with the
fast path inlined, which keeps 50 typical rules within a few microseconds.

Value semantics (the same in :mod:`.vector`):

* a value is a number (``float``; ``bool`` counts as ``1.0`` / ``0.0``), a
  string, or *missing* (``None``, ``NaN``, an absent key, any other type);
* arithmetic with a missing or string operand, division by zero and NaN results
  are missing;
* every comparison and membership test involving a missing value is false
  (``!=`` included); comparing a string with a number is false, except ``!=``,
  which is true;
* a value used as a condition is true when it is a non-zero number or a
  non-empty string; missing is false (so ``not x`` is true for a missing ``x``).

Examples
--------
>>> from fraudscore.rules.parser import parse_expression
>>> test = compile_condition(parse_expression("amount > 1000 and channel == 'web'"), {})
>>> test({"amount": 5000.0, "channel": "web"}), test({"amount": None, "channel": "web"})
(True, False)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .ir import Arith, BoolOp, Call, Compare, Const, Expr, ListLit, ListRef, Member, Name, Neg, Not

__all__ = ["normalize", "compile_value", "compile_condition", "split_list", "Values", "Scalar"]

Scalar = float | str | None
Values = Mapping[str, Any]
ValueFn = Callable[[Values], Scalar]
CondFn = Callable[[Values], bool]


def normalize(v: Any) -> Scalar:
    """Map an input value to a number (``float``), a string, or ``None`` (missing).

    Examples
    --------
    >>> normalize(True), normalize(3), normalize(float("nan")), normalize("x"), normalize([1])
    (1.0, 3.0, None, 'x', None)
    """
    t = v.__class__
    if t is float:
        return v if v == v else None
    if t is str or v is None:
        return v
    if isinstance(v, str):
        return str(v)
    if isinstance(v, (bytes, bytearray, complex)):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        return None
    return f if f == f else None


def split_list(values: tuple[Any, ...] | list[Any]) -> tuple[frozenset[float], frozenset[str]]:
    """Split list entries into a set of numbers and a set of strings (missing entries dropped).

    Examples
    --------
    >>> split_list([1, "a", True, None])
    (frozenset({1.0}), frozenset({'a'}))
    """
    nums: set[float] = set()
    strs: set[str] = set()
    for v in values:
        n = normalize(v)
        if n.__class__ is str:
            strs.add(n)  # type: ignore[arg-type]
        elif n is not None:
            nums.add(n + 0.0)  # type: ignore[operator]
    return frozenset(nums), frozenset(strs)


def _truth(x: Scalar) -> bool:
    return x is not None and x != 0.0 and x != ""


def _cmp(op: str, x: Scalar, y: Scalar) -> bool:
    if x is None or y is None:
        return False
    if (x.__class__ is str) is not (y.__class__ is str):
        return op == "!="
    if op == "==":
        return x == y
    if op == "!=":
        return x != y
    if op == "<":
        return x < y  # type: ignore[operator]
    if op == "<=":
        return x <= y  # type: ignore[operator]
    if op == ">":
        return x > y  # type: ignore[operator]
    return x >= y  # type: ignore[operator]


def _name_fn(name: str) -> ValueFn:
    def value(values: Values) -> Scalar:
        v = values.get(name)
        if v.__class__ is float:
            return v if v == v else None
        if v.__class__ is str or v is None:
            return v
        return normalize(v)
    return value


def _name_num_cmp(name: str, op: str, c: float) -> CondFn:
    """``name <op> number`` with the float fast path inlined (NaN compares false)."""
    def slow(v: Any) -> bool:
        return _cmp(op, normalize(v), c)
    if op == ">":
        def f(values: Values) -> bool:
            v = values.get(name)
            return v > c if v.__class__ is float else slow(v)
    elif op == ">=":
        def f(values: Values) -> bool:
            v = values.get(name)
            return v >= c if v.__class__ is float else slow(v)
    elif op == "<":
        def f(values: Values) -> bool:
            v = values.get(name)
            return v < c if v.__class__ is float else slow(v)
    elif op == "<=":
        def f(values: Values) -> bool:
            v = values.get(name)
            return v <= c if v.__class__ is float else slow(v)
    elif op == "==":
        def f(values: Values) -> bool:
            v = values.get(name)
            return v == c if v.__class__ is float else slow(v)
    else:
        def f(values: Values) -> bool:
            v = values.get(name)
            return (v == v and v != c) if v.__class__ is float else slow(v)
    return f


def _name_str_eq(name: str, op: str, c: str) -> CondFn:
    eq = op == "=="

    def f(values: Values) -> bool:
        v = values.get(name)
        if v.__class__ is str:
            return (v == c) is eq
        return _cmp(op, normalize(v), c)
    return f


def compile_value(e: Expr, lists: Mapping[str, tuple[frozenset[float], frozenset[str]]]) -> ValueFn:
    """Compile an expression to a closure returning a number, a string or ``None``.

    Examples
    --------
    >>> from fraudscore.rules.parser import parse_expression
    >>> compile_value(parse_expression("a / b"), {})({"a": 1.0, "b": 0.0}) is None
    True
    """
    if isinstance(e, Const):
        c = e.value
        return lambda values: c
    if isinstance(e, Name):
        return _name_fn(e.name)
    if isinstance(e, Neg):
        a = compile_value(e.operand, lists)

        def neg(values: Values) -> Scalar:
            x = a(values)
            return -x if x.__class__ is float else None  # type: ignore[operator]
        return neg
    if isinstance(e, Arith):
        return _arith(e.op, compile_value(e.left, lists), compile_value(e.right, lists))
    if isinstance(e, Call) and e.func in ("abs", "log1p", "lower", "min", "max"):
        return _call_value(e.func, [compile_value(a, lists) for a in e.args])
    cond = compile_condition(e, lists)
    return lambda values: 1.0 if cond(values) else 0.0


def _arith(op: str, a: ValueFn, b: ValueFn) -> ValueFn:
    def f(values: Values) -> Scalar:
        x = a(values)
        if x.__class__ is not float:
            return None
        y = b(values)
        if y.__class__ is not float:
            return None
        if op == "+":
            r = x + y  # type: ignore[operator]
        elif op == "-":
            r = x - y  # type: ignore[operator]
        elif op == "*":
            r = x * y  # type: ignore[operator]
        elif y == 0.0:
            return None
        else:
            r = x / y  # type: ignore[operator]
        return r if r == r else None
    return f


def _call_value(func: str, args: list[ValueFn]) -> ValueFn:
    if func == "lower":
        (a,) = args

        def lower(values: Values) -> Scalar:
            x = a(values)
            return x.lower() if x.__class__ is str else None  # type: ignore[union-attr]
        return lower
    if func == "abs":
        (a,) = args
        return lambda values: abs(x) if (x := a(values)).__class__ is float else None  # type: ignore[arg-type]
    if func == "log1p":
        (a,) = args

        def log1p(values: Values) -> Scalar:
            x = a(values)
            if x.__class__ is not float or not x > -1.0:  # type: ignore[operator]
                return None
            return float(np.log1p(x))  # numpy's log1p, bit-identical to the vector path
        return log1p
    pick_min = func == "min"

    def minmax(values: Values) -> Scalar:
        best: float | None = None
        for a in args:
            x = a(values)
            if x.__class__ is not float:
                return None
            if best is None or (x < best if pick_min else x > best):  # type: ignore[operator]
                best = x  # type: ignore[assignment]
        return best + 0.0  # type: ignore[operator]  # -0.0 -> 0.0, as in the vector path
    return minmax


def compile_condition(e: Expr, lists: Mapping[str, tuple[frozenset[float], frozenset[str]]]) -> CondFn:
    """Compile an expression to a closure returning ``bool`` (missing-aware, see module doc).

    Parameters
    ----------
    e : Expr
        A checked expression (:func:`~fraudscore.rules.parser.parse_expression`).
    lists : mapping
        Named lists as ``name -> (numbers, strings)`` (see :func:`split_list`).

    Examples
    --------
    >>> from fraudscore.rules.parser import parse_expression
    >>> f = compile_condition(parse_expression("ip in @bad"), {"bad": split_list(["p:1"])})
    >>> f({"ip": "p:1"}), f({"ip": None}), f({})
    (True, False, False)
    """
    if isinstance(e, Compare):
        if isinstance(e.left, Name) and isinstance(e.right, Const):
            if isinstance(e.right.value, float):
                return _name_num_cmp(e.left.name, e.op, e.right.value)
            if e.op in ("==", "!="):
                return _name_str_eq(e.left.name, e.op, e.right.value)
        a, b, op = compile_value(e.left, lists), compile_value(e.right, lists), e.op
        return lambda values: _cmp(op, a(values), b(values))
    if isinstance(e, Member):
        return _member(e, lists)
    if isinstance(e, BoolOp):
        fns = [compile_condition(o, lists) for o in e.operands]
        if len(fns) == 2:
            f1, f2 = fns
            if e.op == "and":
                return lambda values: f1(values) and f2(values)
            return lambda values: f1(values) or f2(values)
        if e.op == "and":
            return lambda values: all(f(values) for f in fns)
        return lambda values: any(f(values) for f in fns)
    if isinstance(e, Not):
        inner = compile_condition(e.operand, lists)
        return lambda values: not inner(values)
    if isinstance(e, Call) and e.func == "is_missing":
        a = compile_value(e.args[0], lists)
        return lambda values: a(values) is None
    if isinstance(e, Call) and e.func == "startswith":
        s, p = compile_value(e.args[0], lists), compile_value(e.args[1], lists)

        def startswith(values: Values) -> bool:
            x, y = s(values), p(values)
            return x.__class__ is str and y.__class__ is str and x.startswith(y)  # type: ignore[union-attr]
        return startswith
    if isinstance(e, Name):
        name = e.name

        def truthy_name(values: Values) -> bool:
            v = values.get(name)
            if v.__class__ is float:
                return v != 0.0 and v == v
            return _truth(normalize(v))
        return truthy_name
    value = compile_value(e, lists)
    return lambda values: _truth(value(values))


def _member(e: Member, lists: Mapping[str, tuple[frozenset[float], frozenset[str]]]) -> CondFn:
    if isinstance(e.container, ListRef):
        nums, strs = lists[e.container.name]
    else:
        assert isinstance(e.container, ListLit)
        nums, strs = split_list(e.container.values)
    neg = e.negate
    if isinstance(e.left, Name):
        name = e.left.name

        def member_name(values: Values) -> bool:
            v = values.get(name)
            if v.__class__ is str:
                return (v in strs) is not neg
            x = normalize(v)
            if x is None:
                return False
            return ((x in strs) if x.__class__ is str else (x in nums)) is not neg
        return member_name
    a = compile_value(e.left, lists)

    def member(values: Values) -> bool:
        x = a(values)
        if x is None:
            return False
        return ((x in strs) if x.__class__ is str else (x in nums)) is not neg
    return member
