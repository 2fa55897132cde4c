"""The feature vector read without the buffer protocol (round 15, ``fraudscore/_core/f64view.h``): ``Kernel.into``,
``Program.fired_parts`` and the pipeline's row kernel read an exact float64 ``numpy.ndarray`` from the array object
itself and every other vector through ``PyObject_GetBuffer``. Both give the same answers, bit for bit: the same
vector as an exact array, a subclass, an ``array.array``, a big-endian or a sliced array (the other paths), and the
same errors for what neither takes (read-only where writing, strided, float32)."""

from __future__ import annotations

import array
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.keys import Keys
from fraudscore.rules.native import program
from fraudscore.rules.parser import parse_expression
from fraudscore.schema import DEFAULT_SCHEMA
from tests.helpers import compiled_core

core = compiled_core("rules", "the compiled rules module")
compiled_core("identity", "the compiled identity kernel")


class Sub(np.ndarray):
    """An ndarray subclass: never the shortcut (exact type only)."""


def kinds(values: list[float]):
    """The same doubles as every kind of vector the kernels take: (name, vector, takes the shortcut)."""
    base = np.array(values, dtype=np.float64)
    wide = np.zeros(2 * len(values) + 1)
    wide[1::2] = values
    return [
        ("ndarray", base.copy(), True),
        ("slice of a longer array", np.concatenate([[7.0], base])[1:], True),
        ("subclass", base.copy().view(Sub), False),
        ("big-endian", base.astype(">f8"), False),
        ("array.array", array.array("d", values), False),
        ("bytearray-backed", np.frombuffer(bytearray(base.tobytes()), dtype=np.float64), True),
        ("strided copy", np.ascontiguousarray(wide[1::2]), True),
    ]


finite = st.floats(allow_nan=True, allow_infinity=True, width=64)
EXPRS = ["a > 1", "b <= 0.5", "a + b > 2", "m == 3", "a > 1 and not b > 1", "f >= 0"]


@settings(deadline=None, max_examples=150)
@given(st.lists(finite, min_size=4, max_size=4), st.dictionaries(st.sampled_from("abfm"), finite, max_size=2))
def test_fired_parts_equal_for_every_vector_kind(values, record):
    prog = program([parse_expression(e) for e in EXPRS], {})
    index = {"a": 0, "b": 1, "f": 2, "m": 3}
    merged = dict(record)
    merged.update(zip("abfm", values))
    want = prog.fired(merged)
    for name, x, _fast in kinds(values):
        if name == "big-endian":  # not doubles in native order: refused on the format path, as before
            with pytest.raises(TypeError):
                prog.fired_parts(record, x, index, dict)
            continue
        got, _ = prog.fired_parts(record, x, index, lambda m=merged: dict(m))
        assert got == want, name


def test_fired_parts_refuses_what_it_refused():
    prog = program([parse_expression("a > 1")], {})
    wide = np.arange(6, dtype=np.float64)
    with pytest.raises((TypeError, ValueError, BufferError)):
        prog.fired_parts({}, wide[::2], {"a": 0}, dict)  # strided: not C-contiguous
    with pytest.raises(TypeError):
        prog.fired_parts({}, np.zeros(2, dtype=np.float32), {"a": 0}, dict)
    with pytest.raises(TypeError):
        prog.fired_parts({}, np.zeros(2, dtype=np.int64), {"a": 0}, dict)
    ro = np.array([2.0, 0.0])
    ro.setflags(write=False)  # read-only is fine for reading, on either path
    assert prog.fired_parts({}, ro, {"a": 0}, dict)[0] == [0]
    assert prog.fired_parts({}, ro.view(Sub), {"a": 0}, dict)[0] == [0]


def _identity():
    from fraudscore.identity import Identity

    ident = Identity(Keys(b"f64view-round15-test-secret-0001"))
    assert ident._kernel is not None
    return ident


EVENTS = st.fixed_dictionaries({
    "application_id": st.just("A1"), "ts": st.integers(1_500_000_000_000, 1_900_000_000_000),
    "applicant_id": st.sampled_from(["110101199003074573", "11010119900307457X", "x", ""]),
    "phone": st.sampled_from(["13800138000", "+86 138-0013-8000", "1", ""]),
    "email": st.sampled_from(["A.B+x@gmail.com", "a@mailinator.com", "bad", ""]),
    "ip": st.sampled_from(["1.2.3.4", "10.0.0.1", "::1", ""]),
    "bank_card": st.sampled_from(["6225883353530590", "4111111111111111", "12", ""]),
})


@settings(deadline=None, max_examples=60)
@given(EVENTS, st.integers(0, 3))
def test_into_writes_the_same_doubles_into_every_writable_kind(raw, off):
    ident = _identity()
    ev = DEFAULT_SCHEMA.validate(raw)
    n = len(ident.feature_names) + off + 1
    outs = []
    for name, x, _fast in kinds([-1.0] * n):
        if name == "big-endian":  # not doubles in native order: refused on the format path, as before
            with pytest.raises(ValueError):
                ident._kernel.into(ev, ident._kplan, ev["ts"], ident._has_ip, None, {}, x, off)
            continue
        record = {}
        assert ident._kernel.into(ev, ident._kplan, ev["ts"], ident._has_ip, None, record, x, off) is True
        outs.append((name, list(record.items()), bytes(memoryview(x).cast("B"))))
    for name, rec, data in outs[1:]:
        assert rec == outs[0][1], name
        assert data == outs[0][2], name
    assert not any(math.isnan(v) for v in np.frombuffer(outs[0][2])[:off])  # nothing written before the offset


def test_into_refuses_what_it_refused():
    ident = _identity()
    ev = DEFAULT_SCHEMA.validate({"application_id": "A1", "ts": 1_700_000_000_000, "phone": "13800138000"})
    n = len(ident.feature_names)
    ro = np.zeros(n)
    ro.setflags(write=False)
    for bad in (ro, np.zeros(2 * n)[::2], np.zeros(n, dtype=np.float32), np.zeros(n - 1)):
        with pytest.raises((ValueError, BufferError, TypeError)):
            ident._kernel.into(ev, ident._kplan, ev["ts"], ident._has_ip, None, {}, bad, 0)
    with pytest.raises(ValueError):  # an offset past the end
        ident._kernel.into(ev, ident._kplan, ev["ts"], ident._has_ip, None, {}, np.zeros(n), n + 1)
