"""Compile a checked expression into a vectorised numpy evaluator over columns.

The semantics are exactly those of :mod:`.scalar` (see its module docstring);
hypothesis tests check that both agree on every row. A value is held as a
:class:`Vec`: a numeric part (``float64``, ``NaN`` where the row is not a number)
and a string part (``object``, ``None`` where the row is not a string); either
part may be absent (``None``) or a broadcast scalar. Conditions are boolean
arrays. Rows are never looped over in Python; string operations run through
``numpy.frompyfunc`` (a C loop calling ``str`` methods).

Sub-expressions without any name are folded with the scalar compiler, so the
constant cases share one implementation.

Examples
--------
>>> import numpy as np
>>> from fraudscore.rules.parser import parse_expression
>>> f = compile_vector(parse_expression("amount > 1000 and channel == 'web'"), {})
>>> env = ColumnEnv({"amount": np.array([5000.0, np.nan]),
...                  "channel": np.array(["web", "web"], dtype=object)}, 2)
>>> f(env)
array([ True, False])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from .parser import (Arith, BoolOp, Call, Compare, Const, Expr, ListLit, ListRef, Member, Name, Neg, Not,
                     expr_names)
from .scalar import compile_condition, compile_value, normalize, split_list

__all__ = ["Vec", "ColumnEnv", "compile_vector", "column_vec"]

Arr = Any  # np.ndarray | scalar
ListSets = Mapping[str, tuple[frozenset[float], frozenset[str]]]

_normalize_u = np.frompyfunc(normalize, 1, 1)
_type_u = np.frompyfunc(type, 1, 1)
_is_str_u = np.frompyfunc(lambda x: x.__class__ is str, 1, 1)
_lower_u = np.frompyfunc(lambda x: x.lower() if x.__class__ is str else None, 1, 1)
_startswith_u = np.frompyfunc(
    lambda x, y: x.__class__ is str and y.__class__ is str and x.startswith(y), 2, 1)


@dataclass(frozen=True, slots=True)
class Vec:
    """A column of values: numeric part (NaN = not a number) and string part (None = not a string)."""

    num: Arr = None
    s: Arr = None


_MISSING = Vec()


def column_vec(col: Any, n: int) -> Vec:
    """Turn one input column into a :class:`Vec` (missing: NaN in numbers, None in objects).

    Examples
    --------
    >>> v = column_vec(np.array(["a", None, 3.0], dtype=object), 3)
    >>> v.num, v.s
    (array([nan, nan,  3.]), array(['a', None, None], dtype=object))
    """
    if col is None:
        return _MISSING
    arr = np.asarray(col)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ConfigError(f"Every column must be one-dimensional with {n} rows. Got shape {arr.shape} instead.")
    kind = arr.dtype.kind
    if kind == "f":  # contiguous: a feature column is a strided view of the batch matrix, read by many conditions
        return Vec(num=np.ascontiguousarray(arr, dtype=np.float64))
    if kind in "biu":
        return Vec(num=arr.astype(np.float64))
    if kind == "U":
        return Vec(s=arr.astype(object))
    if kind != "O":
        return _MISSING
    if n == 0:
        return _MISSING
    types = _type_u(arr)
    is_str = np.asarray(np.equal(types, str), dtype=bool)
    other = ~(is_str | np.asarray(np.equal(types, type(None)), dtype=bool))
    if not other.any():  # the common case: strings and None only
        return Vec(s=arr) if is_str.any() else _MISSING
    with np.errstate(all="ignore"):  # numbers, bools, str subclasses, other objects
        normed = np.empty(n, dtype=object)
        normed[other] = _normalize_u(arr[other])
    num_mask = other & ~np.asarray(np.equal(normed, None), dtype=bool) & ~np.asarray(_is_str_u(normed), dtype=bool)
    str_mask = is_str | (other & np.asarray(_is_str_u(normed), dtype=bool))
    num = None
    if num_mask.any():
        num = np.full(n, np.nan)
        num[num_mask] = normed[num_mask].astype(np.float64)
    s = None
    if str_mask.any():
        s = np.where(is_str, arr, np.where(str_mask, normed, None))
    return Vec(num, s)


class ColumnEnv:
    """Columns of one batch, converted to :class:`Vec` lazily and cached.

    Parameters
    ----------
    columns : mapping of str to array
        Numeric ``float64`` (NaN missing), strings as ``object`` (None missing),
        booleans as float 1/0/NaN (or ``bool``). Absent names are all-missing.
    n : int
        Number of rows.

    Examples
    --------
    >>> ColumnEnv({"a": np.array([1.0])}, 1).get("a").num
    array([1.])
    """

    def __init__(self, columns: Mapping[str, Any], n: int) -> None:
        self.columns, self.n = columns, int(n)
        self._cache: dict[str, Vec] = {}
        self._memo: dict[Any, np.ndarray] = {}

    def memo(self, key: Any, fn: Callable[[ColumnEnv], np.ndarray]) -> np.ndarray:
        """Evaluate a condition once per batch, however many rules share it."""
        r = self._memo.get(key)
        if r is None:
            r = self._memo[key] = fn(self)
        return r

    def get(self, name: str) -> Vec:
        """Return the :class:`Vec` for ``name`` (all missing when the column is absent)."""
        v = self._cache.get(name)
        if v is None:
            v = self._cache[name] = column_vec(self.columns.get(name), self.n)
        return v


def _nv(x: Arr) -> Arr:
    if x is None:
        return False
    return ~np.isnan(x) if isinstance(x, np.ndarray) else x == x


def _sv(x: Arr) -> Arr:
    if x is None:
        return False
    return np.not_equal(x, None) if isinstance(x, np.ndarray) else True


def _full(res: Arr, n: int) -> np.ndarray:
    if isinstance(res, np.ndarray) and res.shape == (n,):
        return res.astype(bool, copy=False)
    return np.broadcast_to(np.asarray(res, dtype=bool), (n,)).copy()


def _num_cmp(op: str, a: Arr, b: Arr) -> Arr:
    with np.errstate(invalid="ignore"):
        if op == "==":
            return np.equal(a, b)
        if op == "!=":
            return np.not_equal(a, b) & _nv(a) & _nv(b)
        if op == "<":
            return np.less(a, b)
        if op == "<=":
            return np.less_equal(a, b)
        if op == ">":
            return np.greater(a, b)
        return np.greater_equal(a, b)


_STR_OPS = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
            ">": np.greater, ">=": np.greater_equal}


def _str_cmp(op: str, a: Arr, b: Arr, n: int) -> np.ndarray:
    if op in ("==", "!=") and (isinstance(a, str) or isinstance(b, str)):  # column vs constant: no indexing
        col = b if isinstance(a, str) else a
        if op == "==":
            return np.asarray(np.equal(a, b), dtype=bool)  # None == "x" is False
        return np.asarray(np.not_equal(a, b), dtype=bool) & np.asarray(_sv(col), dtype=bool)
    both = _full(_sv(a) & _sv(b), n)
    out = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(both)
    if idx.size:
        xa = a[idx] if isinstance(a, np.ndarray) else a
        xb = b[idx] if isinstance(b, np.ndarray) else b
        out[idx] = np.asarray(_STR_OPS[op](xa, xb), dtype=bool)
    return out


def _compare(op: str, a: Vec, b: Vec, n: int) -> np.ndarray:
    res: Arr = False
    if a.num is not None and b.num is not None:
        res = res | _num_cmp(op, a.num, b.num)
    if a.s is not None and b.s is not None:
        res = res | _str_cmp(op, a.s, b.s, n)
    if op == "!=":
        res = res | (_nv(a.num) & _sv(b.s)) | (_sv(a.s) & _nv(b.num))
    return _full(res, n)


def _truth(v: Vec, n: int) -> np.ndarray:
    res: Arr = False
    if v.num is not None:
        with np.errstate(invalid="ignore"):
            res = res | (_nv(v.num) & np.not_equal(v.num, 0.0))
    if v.s is not None:
        res = res | (_sv(v.s) & np.not_equal(v.s, ""))
    return _full(res, n)


def _member(v: Vec, nums: frozenset[float], strs: frozenset[str], negate: bool, n: int) -> np.ndarray:
    hit: Arr = False
    if v.num is not None and nums:
        hit = hit | np.isin(v.num, np.array(sorted(nums), dtype=np.float64))
    if v.s is not None and strs:
        hit = hit | np.frompyfunc(strs.__contains__, 1, 1)(v.s).astype(bool)
    hit = _full(hit, n)
    if not negate:
        return hit
    return _full(_nv(v.num) | _sv(v.s), n) & ~hit


def _arith(op: str, a: Vec, b: Vec) -> Vec:
    if a.num is None or b.num is None:
        return _MISSING
    with np.errstate(all="ignore"):
        if op == "+":
            r = np.add(a.num, b.num)
        elif op == "-":
            r = np.subtract(a.num, b.num)
        elif op == "*":
            r = np.multiply(a.num, b.num)
        else:
            r = np.where(np.equal(b.num, 0.0), np.nan, np.divide(a.num, b.num))
    return Vec(num=r)


VecFn = Callable[[ColumnEnv], Vec]
CondVecFn = Callable[[ColumnEnv], np.ndarray]


def _const_vec(x: Any) -> Vec:
    if x is None:
        return _MISSING
    return Vec(s=x) if isinstance(x, str) else Vec(num=np.float64(x))


def compile_value_vec(e: Expr, lists: ListSets) -> VecFn:
    """Compile an expression to a function of a :class:`ColumnEnv` returning a :class:`Vec`."""
    if not expr_names(e):
        const = _const_vec(compile_value(e, lists)({}))
        return lambda env: const
    if isinstance(e, Name):
        name = e.name
        return lambda env: env.get(name)
    if isinstance(e, Neg):
        a = compile_value_vec(e.operand, lists)
        return lambda env: Vec(num=None if (x := a(env).num) is None else np.negative(x))
    if isinstance(e, Arith):
        fa, fb, op = compile_value_vec(e.left, lists), compile_value_vec(e.right, lists), e.op
        return lambda env: _arith(op, fa(env), fb(env))
    if isinstance(e, Call) and e.func in ("abs", "log1p", "lower", "min", "max"):
        return _call_vec(e.func, [compile_value_vec(x, lists) for x in e.args])
    cond = compile_vector(e, lists)
    return lambda env: Vec(num=cond(env).astype(np.float64))


def _call_vec(func: str, args: list[VecFn]) -> VecFn:
    if func == "lower":
        (a,) = args
        return lambda env: _MISSING if (s := a(env).s) is None else Vec(s=_lower_u(s))
    if func == "abs":
        (a,) = args
        return lambda env: _MISSING if (x := a(env).num) is None else Vec(num=np.abs(x))
    if func == "log1p":
        (a,) = args

        def log1p(env: ColumnEnv) -> Vec:
            x = a(env).num
            if x is None:
                return _MISSING
            with np.errstate(all="ignore"):
                return Vec(num=np.where(np.greater(x, -1.0), np.log1p(x), np.nan))
        return log1p
    ufunc = np.minimum if func == "min" else np.maximum

    def minmax(env: ColumnEnv) -> Vec:
        parts = [f(env).num for f in args]
        if any(p is None for p in parts):
            return _MISSING
        r = parts[0]
        for p in parts[1:]:
            r = ufunc(r, p)
        return Vec(num=r + 0.0)
    return minmax


def compile_vector(e: Expr, lists: ListSets) -> CondVecFn:
    """Compile an expression to a function of a :class:`ColumnEnv` returning a boolean array.

    Parameters
    ----------
    e : Expr
        A checked expression.
    lists : mapping
        Named lists as ``name -> (numbers, strings)``.

    Examples
    --------
    >>> from fraudscore.rules.parser import parse_expression
    >>> f = compile_vector(parse_expression("not is_missing(x) and x != 2"), {})
    >>> f(ColumnEnv({"x": np.array([1.0, 2.0, np.nan])}, 3))
    array([ True, False, False])
    """
    if not expr_names(e):
        const = bool(compile_condition(e, lists)({}))
        return lambda env: np.full(env.n, const)
    if isinstance(e, (Compare, Member)) and all(isinstance(x, (Name, Const, ListRef, ListLit)) for x in
                                                 ((e.left, e.right) if isinstance(e, Compare) else (e.left,))):
        # leaf predicates shared by several rules (``channel in ['h5', 'web']``) are computed once per batch
        inner, key = _compile_leaf(e, lists), _key(e)
        return lambda env: env.memo(key, inner)
    return _compile_leaf(e, lists)


def _key(e: Expr) -> Any:
    """A structural key of a leaf predicate (positions ignored; lists by content)."""
    def part(x: Expr) -> Any:
        if isinstance(x, Name):
            return ("name", x.name)
        if isinstance(x, Const):
            return ("const", type(x.value).__name__, x.value)
        if isinstance(x, ListRef):
            return ("list", x.name)
        assert isinstance(x, ListLit)
        return ("lit", tuple((type(v).__name__, v) for v in x.values))
    if isinstance(e, Compare):
        return ("cmp", e.op, part(e.left), part(e.right))
    assert isinstance(e, Member)
    return ("in", e.negate, part(e.left), part(e.container))


def _compile_leaf(e: Expr, lists: ListSets) -> CondVecFn:
    if isinstance(e, Compare):
        fa, fb, op = compile_value_vec(e.left, lists), compile_value_vec(e.right, lists), e.op
        return lambda env: _compare(op, fa(env), fb(env), env.n)
    if isinstance(e, Member):
        if isinstance(e.container, ListRef):
            nums, strs = lists[e.container.name]
        else:
            assert isinstance(e.container, ListLit)
            nums, strs = split_list(e.container.values)
        fa, neg = compile_value_vec(e.left, lists), e.negate
        return lambda env: _member(fa(env), nums, strs, neg, env.n)
    if isinstance(e, BoolOp):
        fns = [compile_vector(o, lists) for o in e.operands]
        combine = np.logical_and if e.op == "and" else np.logical_or

        def boolop(env: ColumnEnv) -> np.ndarray:
            r = fns[0](env)
            for f in fns[1:]:
                r = combine(r, f(env))
            return r
        return boolop
    if isinstance(e, Not):
        inner = compile_vector(e.operand, lists)
        return lambda env: ~inner(env)
    if isinstance(e, Call) and e.func == "is_missing":
        fa = compile_value_vec(e.args[0], lists)

        def is_missing(env: ColumnEnv) -> np.ndarray:
            v = fa(env)
            return ~_full(_nv(v.num) | _sv(v.s), env.n)
        return is_missing
    if isinstance(e, Call) and e.func == "startswith":
        fa, fb = compile_value_vec(e.args[0], lists), compile_value_vec(e.args[1], lists)

        def startswith(env: ColumnEnv) -> np.ndarray:
            a, b = fa(env).s, fb(env).s
            if a is None or b is None:
                return np.zeros(env.n, dtype=bool)
            return _full(np.asarray(_startswith_u(a, b), dtype=bool), env.n)
        return startswith
    fv = compile_value_vec(e, lists)
    return lambda env: _truth(fv(env), env.n)
