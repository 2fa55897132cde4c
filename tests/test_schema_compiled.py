"""The compiled fast path of Schema.validate (fraudscore/_core/schema.c) == the Python reference, bit for bit."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.errors import EventError
from fraudscore.schema import DEFAULT_SCHEMA, Field, Schema, mapping_check
from tests.helpers import compiled_core

core = compiled_core("schema", "the compiled schema module")

CUSTOM = Schema((Field("id", "str", required=True), Field("at", "timestamp", required=True),
                 Field("n", "int", minimum=0, maximum=100), Field("x", "float", minimum=-1.5),
                 Field("flag", "bool"), Field("kind", "category"), Field("when", "timestamp"),
                 Field("phone", "str", identifier="phone"), Field("device", "mapping")),
                id_field="id", time_field="at", allow_extra=False)


def reference_of(schema: Schema) -> Schema:
    ref = copy.copy(schema)
    object.__setattr__(ref, "_fast", None)
    return ref


def outcome(schema: Schema, event):
    try:
        return ("ok", schema.validate(event))
    except EventError as exc:
        return ("error", type(exc), str(exc), exc.field)


def typed(x):
    """A value with the types inside it, so 1 != 1.0 != True and NaN == NaN."""
    if isinstance(x, dict):
        return {k: typed(v) for k, v in x.items()}
    if isinstance(x, list):
        return [typed(v) for v in x]
    if isinstance(x, tuple):
        return tuple(typed(v) for v in x)
    if isinstance(x, float) and math.isnan(x):
        return ("nan",)
    return (type(x).__name__, x)


big = st.integers(-(2**1100), 2**1100)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**14), 10**14), big,
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                    st.text(st.sampled_from(" \t\x00\x1fa1-"), max_size=8), st.sampled_from(["true", "0", "2026-01-01"]),
                    st.just(np.int64(3)), st.just(np.float64(2.5)))
names = st.sampled_from(["os", "screen", "fonts", "", "x" * 70, "\u00e9t\u00e9", "emulator", 3])
device_values = st.one_of(scalars, st.lists(st.one_of(st.text(max_size=5), st.integers(), st.floats(), st.booleans(),
                                                      st.text("ab", min_size=257, max_size=258)), max_size=4),
                          st.tuples(st.text(max_size=3)), st.text("a", min_size=2040, max_size=2050))
devices = st.one_of(st.dictionaries(names, device_values, max_size=6), scalars)
field_values = st.one_of(scalars, devices)


def events(schema: Schema):
    keys = list(schema.names) + ["extra_1", "_bad", "x y"]
    return st.dictionaries(st.sampled_from(keys), field_values, max_size=len(keys))


@settings(deadline=None, max_examples=300)
@given(st.data())
def test_validate_equals_reference(data):
    for schema in (DEFAULT_SCHEMA, CUSTOM):
        ev = data.draw(events(schema))
        ev.setdefault(schema.id_field, data.draw(st.sampled_from(["A1", " A2 ", "", 7])))
        ev.setdefault(schema.time_field, data.draw(st.sampled_from([1772409930777, 1772409930, "2026-03-02T00:00:00Z",
                                                                     1.5e12, 10**20])))
        got, want = outcome(schema, ev), outcome(reference_of(schema), ev)
        assert typed(got) == typed(want), (ev, got, want)


@settings(deadline=None, max_examples=200)
@given(devices)
def test_mapping_check_equals_reference(dev):
    f = DEFAULT_SCHEMA["device"]
    check = mapping_check(f)
    try:
        got = ("ok", typed(check(dev)))
    except EventError as exc:
        got = ("error", str(exc))
    try:
        want = ("ok", typed(f.check("device", dev)))
    except EventError as exc:
        want = ("error", str(exc))
    assert got == want


def test_fast_path_is_taken_and_copies_survive():
    ev = {"application_id": "A1", "ts": 1772409930777, "phone": " 13800138000 ", "amount": 5,
          "device": {"os": "ios", "fonts": ["a", "b"], "vpn": 1}, "promo": "x"}
    assert DEFAULT_SCHEMA._fast.validate(ev) is not None
    out = DEFAULT_SCHEMA.validate(ev)
    assert out["phone"] == "13800138000" and out["amount"] == 5.0 and out["promo"] == "x"
    assert out["device"] == ev["device"] and out["device"]["fonts"] is not ev["device"]["fonts"]
    cloudpickle = pytest.importorskip("cloudpickle")  # how Dask ships a schema to its workers
    clone = cloudpickle.loads(cloudpickle.dumps(DEFAULT_SCHEMA))
    assert clone._fast is not None and clone.validate(ev) == out
    assert copy.deepcopy(DEFAULT_SCHEMA).validate(ev) == out


column_values = st.lists(st.one_of(st.none(), st.text(max_size=8), st.text(" \t\x00a\x1c", max_size=5),
                                   st.integers(-5, 5), st.floats(allow_nan=True), st.text("a", min_size=510,
                                                                                         max_size=515)), max_size=30)


@settings(deadline=None, max_examples=120)
@given(column_values, st.booleans())
def test_batch_text_columns_equal_reference(monkeypatch_values, required):
    """batch._check_str_column with the compiled loop == without it (values and errors)."""
    from fraudscore import batch

    f = Field("channel", "str", required=required)
    raw = np.empty(len(monkeypatch_values), dtype=object)
    raw[:] = monkeypatch_values
    errs_c: dict = {}
    got = batch._check_str_column(f, "channel", raw, errs_c)
    real = batch.load_core
    try:
        batch.load_core = lambda name: None
        errs_p: dict = {}
        want = batch._check_str_column(f, "channel", raw, errs_p)
    finally:
        batch.load_core = real
    assert typed(got.tolist()) == typed(want.tolist())
    assert {k: str(v) for k, v in errs_c.items()} == {k: str(v) for k, v in errs_p.items()}


@settings(deadline=None, max_examples=120)
@given(column_values)
def test_identity_factorize_equals_reference(values):
    from fraudscore.identity import columns

    col = np.empty(len(values), dtype=object)
    col[:] = values
    codes, uniq = columns._factorize(col, len(values))
    real = columns.load_core
    try:
        columns.load_core = lambda name: None
        codes_p, uniq_p = columns._factorize(col, len(values))
    finally:
        columns.load_core = real
    assert codes.tolist() == codes_p.tolist() and typed(uniq) == typed(uniq_p)


device_values = st.one_of(st.none(), st.integers(-2, 2), st.text(max_size=4),
                          st.dictionaries(st.sampled_from(["os", "fonts", "tz", "é", "", "x" * 70]),
                                          st.one_of(st.text("ab é", max_size=6), st.integers(-3, 3),
                                                    st.floats(allow_nan=True), st.booleans(), st.none(),
                                                    st.lists(st.text("ab", max_size=3), max_size=3),
                                                    st.dictionaries(st.just("k"), st.just(1))), max_size=4))


@settings(deadline=None, max_examples=150)
@given(st.lists(device_values, max_size=12), st.lists(st.integers(0, 11), max_size=6), st.booleans())
def test_batch_mapping_columns_equal_reference(values, shared, required):
    """batch._check_mapping_column with the compiled column loop (mapping_column) == the per-value loop, and ==
    the pure-Python checker: values, errors, and one output object per distinct input object."""
    from fraudscore import _checkers, batch

    values = list(values)
    for j in shared:  # rows holding the very same mapping object
        if j < len(values):
            values.append(values[j])
    f = Field("device", "mapping", required=required)
    raw = np.empty(len(values), dtype=object)
    raw[:] = values

    def run(batch_core: bool, checker_core: bool):
        real_b, real_c = batch.load_core, _checkers.load_core
        try:
            if not batch_core:
                batch.load_core = lambda name: None
            if not checker_core:
                _checkers.load_core = lambda name: None
            errs: dict = {}
            out = batch._check_mapping_column(f, "device", raw, errs)
        finally:
            batch.load_core, _checkers.load_core = real_b, real_c
        return out, {k: str(v) for k, v in errs.items()}

    got, errs = run(True, True)
    for other in (run(False, True), run(False, False)):
        assert typed(got.tolist()) == typed(other[0].tolist()) and errs == other[1]
    by_id: dict = {}
    for v, o in zip(values, got.tolist()):  # equal sharing: one normalised dict per input object
        if o is not None:
            assert by_id.setdefault(id(v), id(o)) == id(o)


def test_mapping_column_arguments():
    with pytest.raises(TypeError):
        core.mapping_column([{}], 64)
    with pytest.raises(TypeError):
        core.mapping_column(5, 64, 256)
    assert core.mapping_column([], 64, 256) == ([], [])
    d = {"os": "ios"}
    out, rest = core.mapping_column([d, None, d, 3, {"é": "x"}], 64, 256)
    assert out[0] == {"os": "ios"} and out[0] is out[2] and out[0] is not d and rest == [1, 3, 4]


@settings(deadline=None, max_examples=300)
@given(st.dictionaries(names, device_values, max_size=12), st.lists(names, max_size=4))
def test_mapping_copy_keeps_order_objects_and_list_copies(dev, deleted):
    """Round 13: the fast path checks the items, then copies the dict in one call (``PyDict_Copy``) and replaces
    list values with copies. Against the reference: the same keys in the same order, the very same value objects
    but for lists (equal copies, never the caller's), also for a dict with deleted entries (not compact)."""
    for k in deleted:  # deletions leave dummy entries: PyDict_Copy's slower, general path
        dev.pop(k, None)
    f = DEFAULT_SCHEMA["device"]
    try:
        want = f.check("device", dev)
    except EventError:
        return
    got = mapping_check(f)(dev)
    assert list(got) == list(want) == list(dev)
    for k, v in dev.items():
        if isinstance(v, list):
            assert got[k] == v and got[k] is not v
        elif type(want[k]) is type(v) and want[k] is v:
            assert got[k] is v
    assert got is not dev
