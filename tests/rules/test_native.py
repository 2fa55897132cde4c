"""The compiled rule evaluator (fraudscore/_core/rules.c) == the Python closures, rule by rule (hypothesis)."""

from __future__ import annotations

import copy
import os

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fraudscore._core import PURE_PYTHON_ENV, load
from fraudscore.errors import RuleSyntaxError
from fraudscore.rules import Rule, RuleSet
from fraudscore.rules.native import condition_tree, program
from fraudscore.rules.parser import parse_expression
from fraudscore.rules.scalar import compile_condition

from .test_parity import GRID, LIST_SETS, LISTS, expressions, tables

core = load("rules")
if core is None:  # pragma: no cover - only without the extension
    if os.environ.get("CI") and not os.environ.get(PURE_PYTHON_ENV):
        raise RuntimeError("the compiled rules module must be built in CI")
    pytest.skip("the compiled rules module is not built", allow_module_level=True)

# comparisons with numbers, and/or/not trees: the shapes the compiled evaluator runs itself
leaf = st.tuples(st.sampled_from(["a", "b", "m", "f", "s", "gone"]), st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
                 st.sampled_from(["0", "1", "2.5", "-1", "1e308", "-0.0", "True"])).map(" ".join)
trees = st.recursive(leaf, lambda ch: st.one_of(
    st.tuples(ch, st.sampled_from(["and", "or"]), ch).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    st.lists(ch, min_size=3, max_size=4).map(lambda xs: "(" + " and ".join(xs) + ")"),
    ch.map(lambda x: f"(not {x})")), max_leaves=8)


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(trees, expressions), min_size=1, max_size=6), tables())
def test_program_equals_closures(texts, table):
    _cols, rows, _n = table
    exprs = []
    for t in texts:
        try:
            exprs.append(parse_expression(t))
        except RuleSyntaxError:
            assume(False)
    prog = program(exprs, LIST_SETS)
    tests = [compile_condition(e, LIST_SETS) for e in exprs]
    for row in rows:
        assert prog.fired(row) == [i for i, f in enumerate(tests) if f(row)], (texts, row)


def test_grid_of_values_through_every_comparison():
    exprs = [parse_expression(f"x {op} {c}") for op in ("==", "!=", "<", "<=", ">", ">=")
             for c in ("0", "-0.0", "1", "2.5", "1e308", "True")]
    exprs.append(parse_expression("not (x > 1 or x <= 1)"))
    prog = program(exprs, LIST_SETS)
    tests = [compile_condition(e, LIST_SETS) for e in exprs]
    for v in [*GRID, [1], b"1", 10**400]:
        for row in ({"x": v}, {}):
            assert prog.fired(row) == [i for i, f in enumerate(tests) if f(row)], v


def test_ruleset_evaluate_uses_the_program_and_agrees():
    rs = RuleSet([Rule("A", "x > 1 and y in @l", action="decline"),
                  Rule("B", "not x <= 0", action="review", score=5), Rule("C", "z == 'web'", action="tag")],
                 lists={"l": LISTS["strs"]})
    crs = rs.compile(["x", "y", "z"])
    assert crs._program is not None
    ref = copy.copy(crs)
    ref._program = None
    for vals in ({"x": 2.0, "y": "web", "z": "web"}, {"x": float("nan"), "y": None}, {"x": 1, "y": "p:1"}, {}):
        assert crs.evaluate(vals) == ref.evaluate(vals)
    assert condition_tree(parse_expression("y in @strs"), LIST_SETS)[0] == "py"


@settings(deadline=None, max_examples=120, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(trees, expressions), min_size=1, max_size=5), tables(), st.data())
def test_evaluate_parts_equals_evaluate(texts, table, data):
    """Rules over (record, feature vector) without the merged dict == evaluate(merged dict), hits and reasons."""
    import math

    import numpy as np

    _cols, rows, _n = table
    rules = []
    for j, t in enumerate(texts):
        try:
            parse_expression(t)
        except RuleSyntaxError:
            assume(False)
        rules.append(Rule(f"R{j}", t, action="review", score=j, reason="value {a} and {s}"))
    rs = RuleSet(rules, lists=LISTS)
    names_all = ("a", "b", "m", "f", "s", "t")
    try:
        crs = rs.compile(list(names_all))
    except Exception:  # noqa: BLE001 - a template or name the generator made invalid
        assume(False)
    feats = tuple(data.draw(st.lists(st.sampled_from(["a", "b", "f", "m"]), min_size=1, max_size=4)))
    for row in rows:
        record = {k: v for k, v in row.items() if data.draw(st.booleans())}
        x = np.array([row[n] if isinstance(row.get(n), float) else math.nan for n in feats], dtype=np.float64)
        merged = dict(record)
        merged.update(zip(feats, x.tolist()))
        assert crs.evaluate_parts(record, x, feats) == crs.evaluate(merged)
