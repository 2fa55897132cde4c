"""``_core.pipeline`` (the record and the feature vector written in place) against the Python reference.

``FeaturePipeline.online`` with the kernel and without it (``pipeline._ROW = None``, the reference
``_record_and_static`` + numpy assembly) on random streams: the same records (keys in the same
order, same values), feature vectors bit for bit, duplicates and errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fraudscore.pipeline as pipeline_mod
from fraudscore.categories import Categories, Vocabulary
from fraudscore.errors import EventError
from fraudscore.fingerprint import DeviceLinker, MemoryLinkState, device_signal_values
from fraudscore.keys import Keys
from fraudscore.pipeline import FeaturePipeline
from fraudscore.schema import DEFAULT_SCHEMA, Field, Schema
from fraudscore.velocity import FeatureSet, FeatureSpec, MemoryStore, OnlineVelocity

ROW = pipeline_mod._ROW
pytestmark = pytest.mark.skipif(ROW is None, reason="the compiled pipeline kernel is not in use")

KEYS = Keys(b"pipeline-compiled-test-secret-01")
WIDE = Schema((*DEFAULT_SCHEMA.fields, Field("opened_at", "timestamp"), Field("vip", "bool"),
               Field("score_in", "int"), Field("browser", "category"), Field("state", "category")))
PLAIN = Schema((Field("application_id", "str", required=True), Field("ts", "timestamp", required=True),
                Field("applicant_id", "str", identifier="national_id", entity=True),
                Field("handset", "str", identifier="device_id", entity=True), Field("amount", "float")))
# no device and no device identifier: the velocity features follow the static part directly (no link confidence)
BARE = Schema((Field("application_id", "str", required=True), Field("ts", "timestamp", required=True),
               Field("applicant_id", "str", identifier="national_id", entity=True), Field("amount", "float"),
               Field("browser", "category")))
CATS = Categories({"browser": Vocabulary(["Chrome", "Safari", "IE"])})
FEATS = [FeatureSpec("count", key="device_id", window="24h"), FeatureSpec("sum", key="applicant_id",
                                                                          field="amount", window="7d")]

DEVICES = [None, {}, {"os": "android", "model": "Mi 9", "screen": "1080x2340", "timezone": "Asia/Shanghai"},
           {"user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X)", "timezone": "America/New_York"},
           {"os": "ios", "canvas_hash": "abc123", "fonts_hash": "ff00"}, {"unknown_attr": "x"}]
event = st.fixed_dictionaries({}, optional={
    "applicant_id": st.sampled_from(["110101199003074573", "11010119900307457X", "bad", ""]),
    "phone": st.sampled_from(["+8613800138000", "13800138000", "12", "+8617012345678"]),
    "email": st.sampled_from(["a.b+x@gmail.com", "x@mailinator.com", "no-at"]),
    "ip": st.sampled_from(["1.2.3.4", "10.0.0.1", "::1", "999.1.1.1"]),
    "device": st.sampled_from(DEVICES),
    "amount": st.one_of(st.none(), st.floats(0, 1e9), st.integers(0, 10**9)),
    "term_months": st.one_of(st.none(), st.integers(1, 360)),
    "ip_country": st.sampled_from(["CN", "US", ""]),
    "opened_at": st.one_of(st.none(), st.integers(0, 1_800_000_000_000)),
    "vip": st.one_of(st.none(), st.booleans()),
    "score_in": st.one_of(st.none(), st.integers(-10**20, 10**20)),
    "browser": st.one_of(st.none(), st.sampled_from(["Chrome", "Opera", "IE"])),
    "state": st.one_of(st.none(), st.sampled_from(["a", "b"])),
    "handset": st.sampled_from(["h1", "h2", ""]),
})


def _pipe(schema: Schema, categories: Categories | None):
    names = {f.name for f in schema.fields}
    specs = [s for s in FEATS if set(s.key) <= names or (s.key == ("device_id",) and "device" in names)]
    assert specs, "every schema here keeps a velocity feature (the vector's tail is under test)"
    return FeaturePipeline(schema, KEYS, FeatureSet(specs), categories)


def _run(schema, categories, events, compiled: bool, engine: str = "auto"):
    pipe = _pipe(schema, categories)
    linker = DeviceLinker(MemoryLinkState())
    velocity = OnlineVelocity(pipe.feature_set, MemoryStore(engine=engine))
    out = []
    old = pipeline_mod._ROW
    pipeline_mod._ROW = ROW if compiled else None
    try:
        for raw in events:
            try:
                ev = schema.validate({k: v for k, v in raw.items() if k in schema or k in ("application_id", "ts")})
                record, x, degraded, dup = pipe.online(ev, linker, velocity)
            except EventError as exc:
                out.append(("error", exc.field))
                continue
            assert x.dtype == np.float64 and x.shape == (len(pipe.feature_names),)
            out.append((list(record.items()), x.tobytes(), degraded, dup))
    finally:
        pipeline_mod._ROW = old
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(event, st.integers(0, 3_600_000), st.integers(0, 5)), min_size=1, max_size=12),
       st.sampled_from(["wide", "default", "plain", "bare"]))
def test_online_equals_the_reference(rows, which):
    schema, cats = {"wide": (WIDE, CATS), "default": (DEFAULT_SCHEMA, None), "plain": (PLAIN, None),
                    "bare": (BARE, CATS)}[which]
    t, events = 1_700_000_000_000, []
    for i, (ev, dt, app) in enumerate(rows):
        t += dt
        events.append({**ev, "application_id": f"A{app if i % 3 == 0 else i}", "ts": t})
    assert _run(schema, cats, events, True) == _run(schema, cats, events, False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(event, st.integers(-7_200_000, 3_600_000), st.integers(0, 5)), min_size=1, max_size=12),
       st.sampled_from(["wide", "default", "plain", "bare"]))
def test_the_compiled_store_path_equals_the_python_store_path(rows, which):
    """``online`` with the compiled store (its admission and records in C: ``Store.admit`` / ``apply_rec``) against
    the Python store, the compiled head on and off: records, vectors bit for bit, duplicates, late and bad events.
    (Until round 11 the compiled store had a one-frame copy of ``online``, ``_online_fast``; round 12 merged it.)"""
    schema, cats = {"wide": (WIDE, CATS), "default": (DEFAULT_SCHEMA, None), "plain": (PLAIN, None),
                    "bare": (BARE, CATS)}[which]
    t, events = 1_700_000_000_000, []
    for i, (ev, dt, app) in enumerate(rows):
        t += dt  # events may go back in time: late ones (beyond the allowed lateness) are refused
        events.append({**ev, "application_id": f"A{app if i % 3 == 0 else i}", "ts": t})
    fast = _run(schema, cats, events, True)
    assert fast == _run(schema, cats, events, True, engine="python")
    assert fast == _run(schema, cats, events, False, engine="python")


def test_head_writes_the_static_features():
    pipe = _pipe(WIDE, CATS)
    ev = WIDE.validate({"application_id": "A1", "ts": 1_700_000_000_000, "amount": 12, "vip": True,
                        "opened_at": 1_699_000_000_000, "browser": "Safari", "phone": "13800138000"})
    pseudo, feats = pipe.identity.process(ev)
    x = np.full(len(pipe.feature_names), -1.0)
    record = ROW.head(pipe._row_plan, ev, pseudo, feats, x)
    ref, static, _fp = pipe._record_and_static(ev)
    k = len(pipe.numeric_fields) + len(pipe.time_fields) + len(pipe.category_fields) + len(feats)
    assert x[:k].tobytes() == np.array(static[:k], dtype=np.float64).tobytes()
    assert list(record.items()) == [(n, v) for n, v in ref.items() if n not in ("device_fp", "device_hw",
                                                                                  "device_canvas")]
    assert (x[k:] == -1.0).all()


def test_the_kernels_hand_uncommon_values_back():
    x = np.zeros(6)
    assert ROW.put(x, 1, [1.0, 2, True]) is True and x.tolist() == [0.0, 1.0, 2.0, 1.0, 0.0, 0.0]
    assert ROW.put(x, 0, (1.0,)) is False and ROW.put(x, 0, ["1.0"]) is False
    assert ROW.put(x, 0, [np.float64(1.0)]) is False and x[0] == 0.0
    with pytest.raises(ValueError):
        ROW.put(x, 5, [1.0, 2.0])
    with pytest.raises(OverflowError):
        ROW.put(x, 0, [10**400])
    assert ROW.tail(x, 1, 0.5, np.arange(4.0)) is True and x.tolist() == [0.0, 0.5, 0.0, 1.0, 2.0, 3.0]
    assert ROW.tail(x, 0, None, np.ones(5)) is True and x.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert ROW.tail(x, 1, 0.5, np.ones(3)) is False  # wrong length
    assert ROW.tail(x, 1, 0.5, np.ones(4, dtype=np.float32)) is False
    assert ROW.tail(x, 1, 0.5, [1.0] * 4) is False and ROW.tail(x, 1, 1, np.ones(4)) is False
    assert x.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    with pytest.raises((TypeError, ValueError, BufferError)):
        ROW.put(np.zeros(3, dtype=np.float32), 0, [1.0])
    pipe = _pipe(DEFAULT_SCHEMA, None)
    ev = DEFAULT_SCHEMA.validate({"application_id": "A1", "ts": 1_700_000_000_000})
    pseudo, feats = pipe.identity.process(ev)
    assert ROW.head(pipe._row_plan, dict(ev), pseudo, {**feats, "phone__valid": "1"}, np.zeros(60)) is None
    assert ROW.head(pipe._row_plan, ev, pseudo, feats, np.zeros(60)) is not None
    with pytest.raises(KeyError):
        ROW.head(pipe._row_plan, ev, pseudo, {}, np.zeros(60))
    with pytest.raises(ValueError):
        ROW.head(pipe._row_plan, ev, pseudo, feats, np.zeros(3))


@settings(max_examples=200, deadline=None)
@given(event, st.sampled_from(["wide", "default", "plain", "bare"]),
       st.one_of(st.integers(-10**13, 10**13), st.just(True), st.just(1.5)))
def test_row_equals_process_and_head(raw, which, t):
    """``row`` (the identity kernel writing into the record and the vector) against ``Identity.process`` +
    ``head`` and the Python reference: the same record (keys in the same order), the head of the vector bit for
    bit; an event time that is not an exact int is handed back (None) with nothing else changed."""
    schema, cats = {"wide": (WIDE, CATS), "default": (DEFAULT_SCHEMA, None), "plain": (PLAIN, None),
                    "bare": (BARE, CATS)}[which]
    pipe = _pipe(schema, cats)
    assert pipe._ident_plan is not None
    try:
        ev = schema.validate({**{k: v for k, v in raw.items() if k in schema}, "application_id": "A1",
                              "ts": 1_700_000_000_000})
    except EventError:
        return
    ev[schema.time_field] = t  # any event time the kernel may meet (validate gives ints; negatives, bools too)
    n = len(pipe.feature_names)
    x, want = np.full(n, -1.0), np.full(n, -1.0)
    record = ROW.row(pipe._ident_plan, ev, x)
    if t.__class__ is not int:
        assert record is None and (x == -1.0).all()
        return
    pseudo, feats = pipe.identity.process(ev)
    ref = ROW.head(pipe._row_plan, ev, pseudo, feats, want)
    assert list(record.items()) == list(ref.items())
    assert x.tobytes() == want.tobytes()
    # the Python reference (without the device: its fingerprint is not part of the head)
    rec_py, static, _fp = pipe._record_and_static({**ev, "device": None} if "device" in ev else ev)
    k = len(pipe.numeric_fields) + len(pipe.time_fields) + len(pipe.category_fields) + len(feats)
    assert x[:k].tobytes() == np.array(static[:k], dtype=np.float64).tobytes()
    assert list(record.items()) == [(f, v) for f, v in rec_py.items() if f not in ("device_fp", "device_hw",
                                                                                     "device_canvas")]


def test_into_writes_what_process_returns():
    pipe = _pipe(DEFAULT_SCHEMA, None)
    ident = pipe.identity
    ev = DEFAULT_SCHEMA.validate({"application_id": "A1", "ts": 1_700_000_000_000, "applicant_id": "110101199003074573",
                                  "phone": "13800138000", "email": "A.B+x@gmail.com", "ip": "1.2.3.4",
                                  "bank_card": "6225883353530590"})
    pseudo, feats = ident.process(ev)
    record, x = {"a": 1}, np.full(len(feats) + 3, -1.0)
    assert ident._kernel.into(ev, ident._kplan, ev["ts"], ident._has_ip, None, record, x, 2) is True
    assert list(record.items()) == [("a", 1), *pseudo.items()]
    assert x.tolist()[:2] == [-1.0, -1.0] and x[-1] == -1.0
    assert x[2:-1].tobytes() == np.array([feats[f] for f in ident.feature_names]).tobytes()
    with pytest.raises(ValueError):
        ident._kernel.into(ev, ident._kplan, ev["ts"], ident._has_ip, None, {}, np.zeros(len(feats) - 1), 0)
    with pytest.raises(ValueError):
        ident._kernel.into(ev, ident._kplan, ev["ts"], ident._has_ip, None, {}, np.zeros(3, dtype=np.float32), 0)
    # a describer (the reference, off the fast path) giving a feature that is not a number: handed back (None)
    odd = tuple((name, code, (lambda raw: ("p:x", ("1", 0.0, 0.0), None)), fn) for name, code, _d, fn in ident._kplan)
    assert ident._kernel.into({"phone": "\u00e9"}, odd, None, False, None, {}, np.zeros(len(feats)), 0) is None


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.none(), st.sampled_from(DEVICES), st.dictionaries(
    st.sampled_from(["os", "model", "screen", "timezone", "x", "id", "languages", "OS"]),
    st.one_of(st.none(), st.just(""), st.just([]), st.text(max_size=5), st.integers(-3, 3), st.floats(0, 2),
              st.booleans(), st.lists(st.text(max_size=3), max_size=2), st.just(np.float64(1.5))), max_size=5)),
       st.sampled_from(["CN", "US", None]))
def test_the_device_step_equals_the_reference(dev, country):
    """``device`` (``_device`` + ``device_signal_values`` + ``put`` in one call) against the reference steps:
    the same fingerprint ids in the record, the same signals in the vector, the same ``EventError``."""
    pipe = _pipe(DEFAULT_SCHEMA, None)
    assert pipe._device_ctx is not None
    ev = {"application_id": "A1", "ts": 1_700_000_000_000, "device": dev, "ip_country": country}
    end = pipe._n_static - 1
    got_rec, want_rec = {"a": 1}, {"a": 1}
    x, want = np.full(len(pipe.feature_names), -1.0), np.full(len(pipe.feature_names), -1.0)
    try:
        fp = pipe._device(ev, want_rec)
    except Exception as exc:  # EventError naming the device; a value the reference cannot compare (numpy's)
        with pytest.raises(type(exc)) as got:
            ROW.device(pipe._device_ctx, ev, got_rec, x, end)
        assert getattr(got.value, "field", None) == getattr(exc, "field", None) and got_rec == {"a": 1}
        return
    pipe._row_signals(want, device_signal_values(fp, ev))
    got_fp = ROW.device(pipe._device_ctx, ev, got_rec, x, end)
    assert (got_fp is None) == (fp is None) and (fp is None or got_fp.id == fp.id)
    assert list(got_rec.items()) == list(want_rec.items())
    assert x.tobytes() == want.tobytes()


def test_the_device_step_hands_uncommon_signals_to_numpy():
    pipe = _pipe(DEFAULT_SCHEMA, None)
    ctx = list(pipe._device_ctx)
    ctx[8] = lambda fp, ev: [np.float64(0.5)] * len(device_signal_values(None))  # not a float: numpy's assignment
    ctx[6] = None
    ev = {"application_id": "A1", "ts": 1, "device": {"os": "ios"}}
    x = np.zeros(len(pipe.feature_names))
    assert ROW.device(tuple(ctx), ev, {}, x, pipe._n_static - 1) is not None
    n = len(device_signal_values(None))
    assert (x[pipe._n_static - 1 - n:pipe._n_static - 1] == 0.5).all() and x[pipe._n_static - 1] == 0.0
    with pytest.raises(ValueError):
        ROW.device(pipe._device_ctx, ev, {}, np.zeros(3), pipe._n_static - 1)
