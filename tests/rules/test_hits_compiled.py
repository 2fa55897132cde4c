"""Round 16 (#13, ``fpstage``): the rule hits built in C and the merged dict built by the compiled loop.

* ``_core.rules.make_hits``: ``RuleHit`` objects without the frozen dataclass's ``__init__`` -- equal, hashing,
  printing, pickling-free and frozen as the constructor's, slot by slot;
* ``Program.fired_parts(record, x, index, names)``: the names tuple instead of a closure -- the same indices, and the
  same merged dict (keys in order, values and their types) as ``_merged``, for every shape of vector (an exact
  contiguous float64 ndarray runs in C; anything else answers ``None`` and the callable form runs);
* ``CompiledRuleSet.evaluate_parts`` == ``evaluate(merged dict)`` == the pure-Python reference, for random rule sets
  with static and rendered reasons.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fraudscore.errors import RuleSyntaxError
from fraudscore.rules import Rule, RuleSet
from fraudscore.rules import ruleset as ruleset_mod
from fraudscore.rules.combine import RuleHit
from fraudscore.rules.native import make_hits_kernel, program
from fraudscore.rules.parser import parse_expression
from fraudscore.rules.ruleset import _merged
from tests.helpers import compiled_core

from .test_native import trees
from .test_parity import LIST_SETS, LISTS, expressions, tables

core = compiled_core("rules", "the compiled rules module")

FIELDS = ("code", "action", "score", "reason", "shadow", "priority")


def _fields(h: RuleHit) -> tuple[object, ...]:
    return tuple(getattr(h, f) for f in FIELDS)


def _same_hits(got: list[RuleHit], want: list[RuleHit]) -> None:
    assert type(got) is list and len(got) == len(want)
    for g, w in zip(got, want):
        assert type(g) is RuleHit
        assert g == w and hash(g) == hash(w) and repr(g) == repr(w)
        assert all(a is b or (a == b and type(a) is type(b)) for a, b in zip(_fields(g), _fields(w)))


rows_st = st.lists(st.tuples(st.sampled_from(["A", "B_1", "ZZ"]), st.sampled_from(["decline", "review", "approve", "tag"]),
                             st.integers(-10**20, 10**20), st.booleans(), st.integers(-5, 5)), min_size=1, max_size=8)


@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(rows_st, st.data())
def test_make_hits_equals_the_constructor(rows, data):
    make = make_hits_kernel(RuleHit)
    assert make is not None
    hit_rows = tuple((c, a, s, None, sh, p) for c, a, s, sh, p in rows)
    idx = data.draw(st.lists(st.integers(0, len(rows) - 1), max_size=10))
    texts = st.one_of(st.text(max_size=8), st.sampled_from(["", "x is 3", "\ud800"]))
    reasons = [data.draw(texts) for _ in idx]
    got = make(hit_rows, idx, reasons)
    _same_hits(got, [RuleHit(c, a, s, r, sh, p) for (c, a, s, sh, p), r in zip((rows[i] for i in idx), reasons)])
    # static reasons by rule: None where one must be rendered -> None (the caller renders)
    static = tuple(data.draw(st.one_of(st.none(), texts)) for _ in rows)
    got = make(hit_rows, idx, static)
    if any(static[i] is None for i in idx):
        assert got is None
    else:
        _same_hits(got, [RuleHit(*rows[i][:3], static[i], *rows[i][3:]) for i in idx])


def test_made_hits_are_frozen_tracked_and_leak_free():
    import gc
    import tracemalloc
    from dataclasses import FrozenInstanceError

    make = make_hits_kernel(RuleHit)
    h = make((("C", "review", 5, None, False, 3),), [0], ["why"])[0]
    with pytest.raises(FrozenInstanceError):
        h.code = "D"  # type: ignore[misc]
    assert gc.is_tracked(h) == gc.is_tracked(RuleHit("C", "review", 5, "why", False, 3))
    assert h == RuleHit("C", "review", 5, "why", False, 3)
    rows = (("C", "review", 5, None, False, 3), ("D", "tag", 0, None, True, 1))
    for _ in range(200):
        make(rows, [0, 1, 1], ["a", "b", "c"])
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(3000):
        make(rows, [0, 1, 1], ["a", "b", "c"])
        make(rows, [1], ("s", None))
        make(rows, [1], ("s", "t"))
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert grown < 20_000


def test_make_hits_refuses_bad_arguments():
    make = make_hits_kernel(RuleHit)
    rows = (("C", "review", 5, None, False, 3),)
    with pytest.raises(IndexError):
        make(rows, [1], ["a"])
    with pytest.raises(IndexError):
        make(rows, [-1], ["a"])
    with pytest.raises(ValueError):
        make(rows, [0], ["a", "b"])
    with pytest.raises(TypeError):
        make(rows, (0,), ["a"])
    with pytest.raises(TypeError):
        make((("C", "review"),), [0], ["a"])
    assert make(rows, [], []) == []


def test_make_hits_kernel_refuses_other_classes():
    from dataclasses import dataclass

    @dataclass(frozen=True, slots=True)
    class Other:  # other fields: no kernel
        code: str

    @dataclass(frozen=True, slots=True)
    class Posted:  # a __post_init__: no kernel (the constructor must run it)
        code: str
        action: str
        score: int
        reason: str
        shadow: bool
        priority: int

        def __post_init__(self) -> None:
            pass

    assert make_hits_kernel(Other) is None
    assert make_hits_kernel(Posted) is None
    assert make_hits_kernel(int) is None


VECTORS = ("exact", "strided", "subclass", "float32", "readonly")


class _Sub(np.ndarray):
    pass


def _shape(x: np.ndarray, kind: str) -> np.ndarray:
    if kind == "strided":
        y = np.empty(2 * len(x))
        y[::2] = x
        return y[::2]
    if kind == "subclass":
        return x.view(_Sub)
    if kind == "float32":
        with np.errstate(over="ignore"):  # large doubles become inf, as any float32 copy would
            return x.astype(np.float32)
    if kind == "readonly":
        y = x.copy()
        y.setflags(write=False)
        return y
    return x


@settings(deadline=None, max_examples=120, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(trees, expressions), min_size=1, max_size=5), tables(), st.data())
def test_fired_parts_names_mode_equals_the_closure(texts, table, data):
    """The names tuple as make_values: the same indices and the same merged dict (keys in order, values, types) as
    the closure over ``_merged``; ``None`` for a vector that is not an exact contiguous float64 ndarray."""
    _cols, rows, _n = table
    exprs = []
    for t in texts:
        try:
            exprs.append(parse_expression(t))
        except RuleSyntaxError:
            assume(False)
    prog = program(exprs, LIST_SETS)
    feats = tuple(data.draw(st.lists(st.sampled_from(["a", "b", "f", "m", "s"]), min_size=0, max_size=5)))
    index = {n: i for i, n in enumerate(feats)}  # a repeated name: its last column, as the rule set's index
    for row in rows:
        record = {k: v for k, v in row.items() if data.draw(st.booleans())}
        x = np.array([row[n] if isinstance(row.get(n), float) else math.nan for n in feats], dtype=np.float64)
        if data.draw(st.booleans()) and len(x):  # a longer vector than the names (zip stops at the names)
            x = np.concatenate([x, [7.0]])
        want_idx, want_values = prog.fired_parts(record, x, index, lambda: _merged(record, x, feats))
        got = prog.fired_parts(record, x, index, feats)
        assert got is not None
        got_idx, got_values = got
        assert got_idx == want_idx
        assert (got_values is None) == (want_values is None)
        if got_values is not None:
            assert list(got_values) == list(want_values)  # the same keys in the same order
            for k, w in want_values.items():
                g = got_values[k]
                assert type(g) is type(w) and (g is w or g == w or (g != g and w != w)), k
        for kind in ("strided", "subclass", "float32"):
            if kind == "strided" and len(x) < 2:  # numpy flags a 0- or 1-element view C-contiguous
                continue
            assert prog.fired_parts(record, _shape(x, kind), index, feats) is None, kind
        ro = prog.fired_parts(record, _shape(x, "readonly"), index, feats)  # read-only but exact: read in C
        assert ro is not None and ro[0] == got_idx


@settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(trees, expressions), min_size=1, max_size=6), tables(), st.sampled_from(VECTORS),
       st.data())
def test_evaluate_parts_equals_evaluate_and_the_reference(texts, table, kind, data):
    """evaluate_parts (names mode or the callable form, hits made in C) == evaluate(merged dict) == the closures'
    path with hits made by the constructor (``_MAKE_HITS`` off): hits, reasons, order."""
    _cols, rows, _n = table
    rules = []
    for j, t in enumerate(texts):
        try:
            parse_expression(t)
        except RuleSyntaxError:
            assume(False)
        reason = data.draw(st.sampled_from(["value {a} and {s}", "static text", "", "{{braces}} only", "{f}", "{m}"]))
        rules.append(Rule(f"R{j}", t, action=data.draw(st.sampled_from(["review", "decline", "approve", "tag"])),
                          score=data.draw(st.integers(-50, 50)), reason=reason, shadow=data.draw(st.booleans()),
                          priority=data.draw(st.integers(-2, 2))))
    try:
        crs = RuleSet(rules, lists=LISTS).compile(["a", "b", "m", "f", "s", "t"])
    except Exception:  # noqa: BLE001 - a template or name the generator made invalid
        assume(False)
    feats = tuple(data.draw(st.lists(st.sampled_from(["a", "b", "f", "m"]), min_size=1, max_size=4)))
    for row in rows:
        record = {k: v for k, v in row.items() if data.draw(st.booleans())}
        x0 = np.array([row[n] if isinstance(row.get(n), float) else math.nan for n in feats], dtype=np.float64)
        x = _shape(x0, kind)
        merged = dict(record)
        merged.update(zip(feats, x.tolist()))
        got = crs.evaluate_parts(record, x, feats)
        want = crs.evaluate(merged)
        _same_hits(got, want)
        saved, ruleset_mod._MAKE_HITS = ruleset_mod._MAKE_HITS, None  # the constructor's hits
        try:
            ref = crs.evaluate_parts(record, x, feats)
        finally:
            ruleset_mod._MAKE_HITS = saved
        _same_hits(got, ref)


big = 2**53
list_numbers = st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(
    [0, 1, -1, 3, big, -big, big + 1, -big - 1, 10**30, True, False, 0.0, -0.0, 2.5, float(big + 2)]),
    st.integers(-2**60, 2**60)), max_size=6)
probe = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(
    [0.0, -0.0, 1.0, 2.5, float(big), float(big + 2), float(-big), 1e30, float(10**30)]))


@settings(deadline=None, max_examples=300)
@given(list_numbers, st.lists(probe, min_size=1, max_size=6))
def test_membership_as_doubles_equals_the_set(numbers, probes):
    """``x in @L`` with the list's numbers as doubles (round 16; ints past 2**53 keep the set) == the closure, for the
    value read from the record and from the feature vector."""
    from fraudscore.rules.scalar import compile_condition, split_list

    lists = {"L": split_list(numbers)}
    exprs = [parse_expression("x in @L"), parse_expression("x not in @L")]
    prog = program(exprs, lists)
    tests = [compile_condition(e, lists) for e in exprs]
    for v in probes:
        want = [i for i, f in enumerate(tests) if f({"x": v})]
        assert prog.fired({"x": v}) == want, (numbers, v)
        assert prog.fired_parts({}, np.array([v]), {"x": 0}, ("x",))[0] == want, (numbers, v)
