"""Scalar and vectorised evaluators agree on every row, missing values included (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fraudscore.errors import RuleSyntaxError
from fraudscore.rules import Rule, RuleSet
from fraudscore.rules.parser import parse_expression
from fraudscore.rules.scalar import compile_condition, compile_value, split_list
from fraudscore.rules.vector import ColumnEnv, compile_value_vec, compile_vector

NUMS = [0.0, -0.0, 1.0, -1.0, 2.0, 2.5, 3.0, 0.1, 1e-300, 1e308, -1e308, math.inf, -math.inf, 7.0]
STRS = ["", "a", "A", "ab", "Ab", "web", "app", "p:1", "İ", "ß", "web "]
LISTS = {"nums": [1, 2.5, -0.0, "a"], "strs": ["web", "p:1", "", "A"], "empty": []}
NUM_COLS, STR_COLS, MIXED_COLS, BOOL_COLS = ("a", "b"), ("s", "t"), ("m",), ("f",)
ABSENT = ("gone",)

num_lit = st.sampled_from(["0", "1", "2.5", "3", "-1", "1e308", "0.1", "True", "False", "-0.0", "7"])
str_lit = st.sampled_from([repr(x) for x in STRS])
name = st.sampled_from(NUM_COLS + STR_COLS + MIXED_COLS + BOOL_COLS + ABSENT)


def _values(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, st.sampled_from("+-*/"), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        children.map(lambda x: f"(-{x})"),
        st.sampled_from(["abs", "log1p", "lower"]).flatmap(lambda f: children.map(lambda x: f"{f}({x})")),
        st.tuples(st.sampled_from(["min", "max"]), st.lists(children, min_size=2, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"),
        _conditions(children),
    )


def _conditions(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
    lit_list = st.lists(st.one_of(num_lit, str_lit), max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]")
    return st.one_of(
        st.tuples(children, ops, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(children, ops, children, ops, children).map(lambda t: f"({' '.join(t)})"),
        st.tuples(children, st.sampled_from(["in", "not in"]),
                  st.one_of(lit_list, st.sampled_from(["@nums", "@strs", "@empty"]))).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(children, st.sampled_from(["and", "or"]), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        children.map(lambda x: f"(not {x})"),
        children.map(lambda x: f"is_missing({x})"),
        st.tuples(children, children).map(lambda t: f"startswith({t[0]}, {t[1]})"),
    )


expressions = st.recursive(st.one_of(name, num_lit, str_lit), _values, max_leaves=8)


@st.composite
def tables(draw: st.DrawFn) -> tuple[dict[str, np.ndarray], list[dict[str, object]], int]:
    n = draw(st.integers(1, 12))
    numf = st.one_of(st.sampled_from(NUMS), st.just(math.nan), st.floats(allow_nan=True, allow_infinity=True))
    strv = st.one_of(st.sampled_from(STRS), st.none())
    cols: dict[str, np.ndarray] = {}
    rows: list[dict[str, object]] = [{} for _ in range(n)]
    for c in NUM_COLS:
        vals = draw(st.lists(numf, min_size=n, max_size=n))
        cols[c] = np.array(vals, dtype=np.float64)
        for r, v in zip(rows, vals):
            r[c] = v
    for c in STR_COLS:
        vals = draw(st.lists(strv, min_size=n, max_size=n))
        cols[c] = np.array(vals, dtype=object)
        for r, v in zip(rows, vals):
            r[c] = v
    for c in MIXED_COLS:
        vals = draw(st.lists(st.one_of(numf, strv, st.booleans(), st.integers(-3, 3)), min_size=n, max_size=n))
        arr = np.empty(n, dtype=object)
        arr[:] = vals
        cols[c] = arr
        for r, v in zip(rows, vals):
            r[c] = v
    for c in BOOL_COLS:
        vals = draw(st.lists(st.one_of(st.booleans(), st.none()), min_size=n, max_size=n))
        cols[c] = np.array([math.nan if v is None else float(v) for v in vals])
        for r, v in zip(rows, vals):
            r[c] = v
    return cols, rows, n


LIST_SETS = {k: split_list(v) for k, v in LISTS.items()}


def _same(x: object, y: object) -> bool:
    if x is None or y is None:
        return x is None and y is None
    if isinstance(x, float) and isinstance(y, float):
        return x == y and math.copysign(1, x) == math.copysign(1, y) or (math.isnan(x) and math.isnan(y))
    return x == y


GRID: list[object] = [*NUMS, math.nan, None, True, False, 3, *STRS]
BINARY = ["{x} == {y}", "{x} != {y}", "{x} < {y}", "{x} <= {y}", "{x} > {y}", "{x} >= {y}", "{x} + {y} > 0",
          "{x} - {y} > 0", "{x} * {y} > 0", "{x} / {y} > 0", "min({x}, {y}) >= 0", "max({x}, {y}) < 0",
          "startswith({x}, {y})", "{x} in @nums", "{x} not in @strs",
          "{x} and {y}", "{x} or {y}", "not {x}", "is_missing({x})", "{x}", "abs({x}) > 1", "log1p({x}) > 0",
          "lower({x}) == 'ab'", "-{x} < 0", "1 / ({x} - {y}) > 0", "{x} != 'web'", "{x} != 2.5",
          "{x} == ''", "{x} < 'b'", "1 / min({x}, {y}) > 0", "1 / max({x}, {y}) < 0", "1 / abs({x}) > 0"]


def test_exhaustive_grid_parity() -> None:
    """Every pair of edge values through every operator: both evaluators agree exactly."""
    pairs = [(x, y) for x in GRID for y in GRID]
    n = len(pairs)
    cx, cy = np.empty(n, dtype=object), np.empty(n, dtype=object)
    cx[:] = [p[0] for p in pairs]
    cy[:] = [p[1] for p in pairs]
    cols = {"x": cx, "y": cy}
    for tpl in BINARY:
        expr = parse_expression(tpl.format(x="x", y="y"))
        got = compile_vector(expr, LIST_SETS)(ColumnEnv(cols, n))
        f = compile_condition(expr, LIST_SETS)
        want = [f({"x": x, "y": y}) for x, y in pairs]
        assert got.tolist() == want, tpl
    # the same with the right side a constant and the left a numeric float64 column
    xs = np.array([v for v in GRID if isinstance(v, float)], dtype=np.float64)
    for tpl in BINARY:
        for const in ("1", "-0.0", "'web'", "2.5"):
            try:
                expr = parse_expression(tpl.format(x="x", y=const))
            except RuleSyntaxError:
                continue
            got = compile_vector(expr, LIST_SETS)(ColumnEnv({"x": xs}, xs.size))
            f = compile_condition(expr, LIST_SETS)
            assert got.tolist() == [f({"x": float(v)}) for v in xs], (tpl, const)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(expressions, tables())
def test_condition_parity(src: str, table: tuple[dict[str, np.ndarray], list[dict[str, object]], int]) -> None:
    try:
        expr = parse_expression(src)
    except RuleSyntaxError:
        assume(False)
        return
    cols, rows, n = table
    scalar = compile_condition(expr, LIST_SETS)
    vector = compile_vector(expr, LIST_SETS)
    got = vector(ColumnEnv(cols, n))
    assert got.dtype == bool and got.shape == (n,)
    want = [scalar(r) for r in rows]
    assert all(isinstance(w, bool) for w in want)
    assert got.tolist() == want, src


@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(expressions, tables())
def test_value_parity(src: str, table: tuple[dict[str, np.ndarray], list[dict[str, object]], int]) -> None:
    """Values (not only conditions) agree too: numbers bit for bit, strings, missing."""
    try:
        expr = parse_expression(src)
    except RuleSyntaxError:
        assume(False)
        return
    cols, rows, n = table
    scalar = compile_value(expr, LIST_SETS)
    vec = compile_value_vec(expr, LIST_SETS)(ColumnEnv(cols, n))
    num = np.broadcast_to(np.asarray(vec.num if vec.num is not None else np.nan, dtype=float), (n,))
    strs = np.broadcast_to(np.asarray(vec.s if vec.s is not None else None, dtype=object), (n,))
    for i, r in enumerate(rows):
        v = scalar(r)
        if isinstance(v, str):
            assert strs[i] == v, src
        elif v is None:
            assert math.isnan(num[i]) and strs[i] is None, src
        else:
            assert _same(float(num[i]), v), (src, num[i], v)


@settings(deadline=None, max_examples=60)
@given(st.lists(expressions, min_size=1, max_size=5), tables())
def test_ruleset_parity(srcs: list[str], table: tuple[dict[str, np.ndarray], list[dict[str, object]], int]) -> None:
    """Whole rule sets: hits, actions, points and rendered reasons agree row by row."""
    rules = []
    for i, src in enumerate(srcs):
        try:
            rules.append(Rule(f"R{i}", src, action=["decline", "review", "approve", "tag"][i % 4], score=10 * i,
                              shadow=i == 2, priority=i % 3, reason="a={a} s={s} m={m}"))
        except RuleSyntaxError:
            continue
    assume(rules)
    cols, rows, n = table
    crs = RuleSet(rules, lists=LISTS).compile(NUM_COLS + STR_COLS + MIXED_COLS + BOOL_COLS + ABSENT)
    m = crs.evaluate_columns(cols, n)
    actions = m.actions()
    for i, r in enumerate(rows):
        hits = crs.evaluate(r)
        assert [h.code for h in hits] == [m.codes[j] for j in np.flatnonzero(m.matrix[i])]
        assert hits == m.hits_for_row(i, cols)
        action, points = crs.combine(hits)
        assert action == actions[i] and points == m.points[i]
