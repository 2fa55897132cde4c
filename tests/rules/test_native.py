"""The compiled rule evaluator (fraudscore/_core/rules.c) == the Python closures, rule by rule (hypothesis)."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fraudscore.errors import RuleSyntaxError
from fraudscore.rules import Rule, RuleSet
from fraudscore.rules.native import condition_tree, program
from fraudscore.rules.parser import parse_expression
from fraudscore.rules.scalar import compile_condition
from tests.helpers import compiled_core

from .test_parity import GRID, LIST_SETS, LISTS, expressions, tables

core = compiled_core("rules", "the compiled rules module")

# comparisons with numbers, and/or/not trees: the shapes the compiled evaluator runs itself
leaf = st.tuples(st.sampled_from(["a", "b", "m", "f", "s", "gone"]), st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
                 st.sampled_from(["0", "1", "2.5", "-1", "1e308", "-0.0", "True"])).map(" ".join)
trees = st.recursive(leaf, lambda ch: st.one_of(
    st.tuples(ch, st.sampled_from(["and", "or"]), ch).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    st.lists(ch, min_size=3, max_size=4).map(lambda xs: "(" + " and ".join(xs) + ")"),
    ch.map(lambda x: f"(not {x})")), max_leaves=8)



def _parsed(texts):
    """The expressions of ``texts`` (an example with one that does not parse is discarded)."""
    exprs = []
    for t in texts:
        try:
            exprs.append(parse_expression(t))
        except RuleSyntaxError:
            assume(False)
    return exprs

@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(trees, expressions), min_size=1, max_size=6), tables())
def test_program_equals_closures(texts, table):
    _cols, rows, _n = table
    exprs = _parsed(texts)
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
    assert condition_tree(parse_expression("y in @strs"), LIST_SETS)[0] == "in"


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
        # a reason with placeholders reads the merged dict; a static one (round 10) skips building it
        reason = data.draw(st.sampled_from(["value {a} and {s}", "static text", "", "{{braces}} only", "{f}"]))
        rules.append(Rule(f"R{j}", t, action="review", score=j, reason=reason))
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


def test_membership_and_string_leaves_run_in_c_and_agree_on_every_value():
    """``in`` / ``not in`` lists and ``== / != 'text'`` are compiled leaves; every value kind gives the closure's answer,
    from a dict and from (record, feature vector) parts, without building the merged dict unless the closure decides."""
    import math

    import numpy as np

    texts = ["x in @nums", "x not in @nums", "x in @strs", "x not in @strs", "x in @empty", "x not in @empty",
             "x in [1, 'web', -0.0]", "x not in ['A', 2.5]", "x == 'web'", "x != 'web'", "x == ''", "x != ''",
             "not x in @strs and x != 'A'"]
    exprs = [parse_expression(t) for t in texts]
    assert [condition_tree(e, LIST_SETS)[0] for e in exprs[:-1]] == ["in"] * 8 + ["streq"] * 4
    prog = program(exprs, LIST_SETS)
    tests = [compile_condition(e, LIST_SETS) for e in exprs]
    calls = []

    def make(values):
        return lambda: calls.append(1) or dict(values)

    for v in [*GRID, -0.0, math.inf, "p:1", "A", [1], b"web", 10**400, np.float64(2.5)]:
        for row in ({"x": v}, {}, {"x": None}):
            want = [i for i, f in enumerate(tests) if f(row)]
            assert prog.fired(row) == want, (v, row)
            calls.clear()
            got, _values = prog.fired_parts(row, np.zeros(0), {}, make(row))
            assert got == want, v
            if v.__class__ in (str, float) or row.get("x") is None:
                assert not calls, v  # decided in C: no merged dict built
        if isinstance(v, float):  # the same value as a feature column (it overrides the record's value)
            row = {"x": v}
            got, _values = prog.fired_parts({"x": "web"}, np.array([v]), {"x": 0}, make(row))
            assert got == [i for i, f in enumerate(tests) if f(row)], v


@settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(trees, expressions), min_size=1, max_size=5), tables(), st.data())
def test_fired_parts_with_resolved_columns_equals_the_dict(texts, table, data):
    """``fired_parts`` resolves each leaf's column once per index dict (round 10): one program called with the same
    index for many rows, then with other index dicts (other columns, a shorter vector), always == ``fired`` of the
    merged dict, and an out-of-range column raises as the per-leaf lookup did."""
    import math

    import numpy as np

    _cols, rows, _n = table
    exprs = _parsed(texts)
    prog = program(exprs, LIST_SETS)
    for _round in range(3):  # three index dicts, each used for every row (the first resolves, the rest reuse)
        feats = tuple(dict.fromkeys(data.draw(st.lists(st.sampled_from(["a", "b", "f", "m", "s"]), min_size=0,
                                                       max_size=4))))
        index = {n: i for i, n in enumerate(feats)}
        for row in rows:
            record = {k: v for k, v in row.items() if data.draw(st.booleans())}
            x = np.array([row[n] if isinstance(row.get(n), float) else math.nan for n in feats], dtype=np.float64)
            merged = dict(record)
            merged.update(zip(feats, x.tolist()))
            got, _values = prog.fired_parts(record, x, index, lambda m=merged: dict(m))
            assert got == prog.fired(merged)


def test_fired_parts_columns_out_of_range_and_odd_index_values():
    import numpy as np

    prog = program([parse_expression("a > 1"), parse_expression("b > 1")], LIST_SETS)
    index = {"a": 0, "b": 1}
    assert prog.fired_parts({}, np.array([2.0, 0.0]), index, dict)[0] == [0]
    assert prog.fired_parts({}, np.array([0.0, 2.0]), index, dict)[0] == [1]
    with pytest.raises(IndexError):  # the same resolved index with a vector too short for it
        prog.fired_parts({}, np.array([0.0]), index, dict)
    with pytest.raises(IndexError):  # a negative column: the per-leaf lookup decides (and raises)
        prog.fired_parts({}, np.array([2.0, 2.0]), {"a": -1, "b": 1}, dict)
    with pytest.raises(TypeError):  # not an int: the lookup's error, as before
        prog.fired_parts({}, np.array([2.0, 2.0]), {"a": "0", "b": 1}, dict)
    # a name missing from the index reads the record
    assert prog.fired_parts({"a": 5.0}, np.array([0.0]), {"b": 0}, dict)[0] == [0]
    assert prog.fired_parts({"a": 5.0}, np.array([2.0, 2.0]), index, dict)[0] == [0, 1]
