"""``_core.pipeline.online`` (round 13: ``FeaturePipeline.online`` for the compiled memory store in one call) against
the Python steps it replaces and the pure-Python reference.

Three runs of the same stream must agree bit for bit: the one compiled call (``_online_ctx``), the Python steps
around the compiled head (``_online_ctx = None``: ``row``, ``device``, ``validate_record``, ``_apply_local``,
``_row_tail``) and the reference (``pipeline._ROW = None``). The stream mixes duplicates, late events, bad values
(an ``EventError`` naming the field, nothing counted), link outcomes below and above ``MIN_LINK_CONFIDENCE``, and a
linker that fails with a ``StoreError`` (raised, or degraded to NaN velocity features).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fraudscore.pipeline as pipeline_mod
from fraudscore.errors import EventError, StoreError
from fraudscore.fingerprint import DeviceLinker, LinkResult, MemoryLinkState
from fraudscore.keys import Keys
from fraudscore.pipeline import FeaturePipeline
from fraudscore.schema import DEFAULT_SCHEMA, Field, Schema
from fraudscore.velocity import FeatureSet, FeatureSpec, MemoryStore, OnlineVelocity
from fraudscore.velocity.memory_compiled import CompiledMemoryStore

ROW = pipeline_mod._ROW
pytestmark = pytest.mark.skipif(ROW is None or not hasattr(ROW, "online") or pipeline_mod._COMPILED_STORE is None,
                                reason="the compiled pipeline kernel or the compiled store is not in use")

KEYS = Keys(b"pipeline-online-test-secret-0001")
BARE = Schema((Field("application_id", "str", required=True), Field("ts", "timestamp", required=True),
               Field("applicant_id", "str", identifier="national_id", entity=True), Field("amount", "float")))
FEATS = [FeatureSpec("count", key="device_id", window="24h"),
         FeatureSpec("sum", key="applicant_id", field="amount", window="7d"),
         FeatureSpec("distinct", key="applicant_id", of="device_id", window="7d")]
DEVICES = [None, {}, {"os": "android", "model": "Mi 9", "screen": "1080x2340", "timezone": "Asia/Shanghai"},
           {"user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X)", "timezone": "America/New_York"},
           {"os": "ios", "canvas_hash": "abc123", "fonts_hash": "ff00"}, {"unknown_attr": "x"}]
event = st.fixed_dictionaries({}, optional={
    "applicant_id": st.sampled_from(["110101199003074573", "11010119900307457X", "bad", ""]),
    "phone": st.sampled_from(["+8613800138000", "13800138000", "12"]),
    "ip": st.sampled_from(["1.2.3.4", "10.0.0.1", "::1"]),
    "device": st.sampled_from(DEVICES),
    "amount": st.one_of(st.none(), st.floats(0, 1e9), st.integers(0, 10**9), st.just(5e12)),
    "ip_country": st.sampled_from(["CN", "US", ""]),
})
# what the linker does per event: link for real, a fixed outcome (confidence below / above the minimum), fail
LINKS = st.sampled_from(["real", "real", 0.001, 0.97, "fail"])


class ScriptedLinker:
    """A real linker, or a fixed outcome, or a ``StoreError``, per event as scripted."""

    def __init__(self) -> None:
        self.real = DeviceLinker(MemoryLinkState())
        self.script: object = "real"
        self.calls: list[tuple[object, ...]] = []

    def link(self, fp, ts, ip=None):
        self.calls.append((fp.id, ts, ip))
        if self.script == "real":
            return self.real.link(fp, ts, ip)
        if self.script == "fail":
            raise StoreError("link state unavailable")
        return LinkResult(f"d_{fp.hardware}", float(self.script))  # type: ignore[arg-type]


def _pipe(schema: Schema) -> FeaturePipeline:
    names = {f.name for f in schema.fields}
    names |= {"device_id"} if "device" in names else set()
    specs = [s for s in FEATS if set(s.key) <= names and (s.of is None or s.of in names)]
    return FeaturePipeline(schema, KEYS, FeatureSet(specs))


class Counting:
    """The pipeline kernel, counting the calls of ``online`` (the fast path taken)."""

    def __init__(self, mod) -> None:
        self._mod, self.n = mod, 0

    def __getattr__(self, name):
        return getattr(self._mod, name)

    def online(self, *args):
        self.n += 1
        return self._mod.online(*args)


def _run(schema, events, mode: str, degrade: bool, engine: str = "auto"):
    pipe = _pipe(schema)
    if mode == "steps":
        pipe._online_ctx = None
    linker = ScriptedLinker()
    velocity = OnlineVelocity(pipe.feature_set, MemoryStore(engine=engine))
    out = []
    old = pipeline_mod._ROW
    counting = Counting(ROW)
    pipeline_mod._ROW = None if mode == "reference" else counting
    try:
        for raw, script in events:
            linker.script = script
            try:
                ev = schema.validate({k: v for k, v in raw.items() if k in schema or k in ("application_id", "ts")})
                record, x, degraded, dup = pipe.online(ev, linker, velocity, degrade=degrade)
            except (EventError, StoreError) as exc:
                out.append(("error", type(exc).__name__, getattr(exc, "field", None)))
                continue
            assert x.dtype == np.float64 and x.shape == (len(pipe.feature_names),)
            out.append((list(record.items()), x.tobytes(), degraded, dup))
    finally:
        pipeline_mod._ROW = old
    return out, linker.calls, counting.n


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(event, st.integers(-7_200_000, 3_600_000), st.integers(0, 5), LINKS),
                min_size=1, max_size=14),
       st.sampled_from(["default", "bare"]), st.booleans())
def test_the_one_call_equals_the_python_steps(rows, which, degrade):
    schema = {"default": DEFAULT_SCHEMA, "bare": BARE}[which]
    t, events = 1_700_000_000_000, []
    for i, (ev, dt, app, script) in enumerate(rows):
        t += dt  # back in time too: late events are refused
        events.append(({**ev, "application_id": f"A{app if i % 3 == 0 else i}", "ts": t}, script))
    fast, fast_calls, n_fast = _run(schema, events, "online", degrade)
    steps, steps_calls, n_steps = _run(schema, events, "steps", degrade)
    ref, ref_calls, _ = _run(schema, events, "reference", degrade, engine="python")
    assert fast == steps == ref
    assert fast_calls == steps_calls == ref_calls  # the linker sees the same calls (none for refused events)
    assert n_steps == 0 and n_fast >= sum(1 for o in fast if o[0] != "error")  # every outcome from the one call


def test_the_fast_path_is_taken_and_hands_back():
    pipe = _pipe(DEFAULT_SCHEMA)
    assert pipe._online_ctx is not None
    velocity = OnlineVelocity(pipe.feature_set, MemoryStore())
    assert velocity.store.__class__ is CompiledMemoryStore
    linker = DeviceLinker(MemoryLinkState())
    ev = DEFAULT_SCHEMA.validate({"application_id": "A1", "ts": 1_700_000_000_000, "device": DEVICES[2]})
    x = np.empty(len(pipe.feature_names))
    out = ROW.online(pipe._online_ctx, ev, x, linker, velocity.plan, velocity.store)
    assert len(out) == 4 and out[1] is x and out[2] is False and out[3] is False
    again = ROW.online(pipe._online_ctx, ev, np.empty_like(x), linker, velocity.plan, velocity.store)
    assert again[3] is True and again[1].tobytes() == x.tobytes()  # the recorded outcome
    # off the fast path, nothing done: not an exact dict, an event time that is not an int, an unbound store
    y = np.full_like(x, -1.0)

    class Event(dict):
        pass

    assert ROW.online(pipe._online_ctx, Event(ev), y, linker, velocity.plan, velocity.store) is None
    assert ROW.online(pipe._online_ctx, {**ev, "ts": 1.5}, y, linker, velocity.plan, velocity.store) is None
    unbound = MemoryStore()
    assert ROW.online(pipe._online_ctx, ev, y, linker, velocity.plan, unbound) is None
    assert (y == -1.0).all()
    with pytest.raises(StoreError, match="bind"):  # the Python path decides for the unbound store
        pipe.online(ev, linker, _unbound(pipe, unbound))


def _unbound(pipe, store):
    velocity = OnlineVelocity(pipe.feature_set, MemoryStore())
    velocity.store = store
    return velocity


def test_a_bad_value_raises_naming_the_field_and_counts_nothing():
    pipe = _pipe(DEFAULT_SCHEMA)
    velocity = OnlineVelocity(pipe.feature_set, MemoryStore())
    linker = ScriptedLinker()
    t = 1_700_000_000_000
    good = DEFAULT_SCHEMA.validate({"application_id": "A1", "ts": t, "applicant_id": "110101199003074573",
                                    "amount": 10.0, "device": DEVICES[2]})
    bad = {**good, "application_id": "A2", "amount": 5e12}  # past the velocity bound: the record check refuses it
    with pytest.raises(EventError) as err:
        pipe.online(bad, linker, velocity)
    assert err.value.field == "amount" and linker.calls == []  # refused before the link and the store
    rec, x, _d, dup = pipe.online({**good, "application_id": "A3"}, linker, velocity)
    fresh = _pipe(DEFAULT_SCHEMA)  # the same event on fresh state: A2 was not counted
    want = fresh.online({**good, "application_id": "A3"}, ScriptedLinker(), OnlineVelocity(fresh.feature_set,
                                                                                           MemoryStore()))
    assert not dup and x.tobytes() == want[1].tobytes() and rec == want[0]


def test_tail_assign_equals_the_row_tail():
    pipe = _pipe(DEFAULT_SCHEMA)
    n, off = len(pipe.feature_names), pipe._n_static - 1
    vel = np.arange(n - off - 1, dtype=np.float32)  # not float64: numpy converts
    a, b = np.zeros(n), np.zeros(n)
    pipeline_mod._tail_assign(a, off, 0.25, vel)
    x = b
    x[off] = 0.25
    x[off + 1:] = vel
    assert a.tobytes() == b.tobytes()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(DEVICES[2:5] + [{"os": "android", "model": f"M{i}"} for i in range(4)]
                                + [{"os": "ios", "odd": [1, 2]}, {"model": "\ud800"}]), min_size=1, max_size=20),
       st.integers(1, 4), st.sampled_from([10**9, 3000, 1]))
def test_the_fingerprint_cache_in_c_equals_the_method(devices, size, budget):
    """``device`` with ``Fingerprinter.fingerprint``'s cache in C (``cached_fingerprint``) against the method: the
    same fingerprints, cache keys in the same LRU order, the same byte count, evictions by size and by bytes."""
    from fraudscore.fingerprint import Fingerprinter

    pipe = _pipe(DEFAULT_SCHEMA)
    assert pipe._device_ctx is not None and len(pipe._device_ctx) == 12
    fast = pipe.fingerprinter = Fingerprinter(KEYS, cache_size=size, cache_bytes=budget)
    ctx = (fast.fingerprint, *pipe._device_ctx[1:])
    ref = Fingerprinter(KEYS, cache_size=size, cache_bytes=budget)
    x = np.zeros(len(pipe.feature_names))
    for dev in devices:
        ev = {"application_id": "A1", "ts": 1_700_000_000_000, "device": dev}
        got = ROW.device(ctx, ev, {}, x, pipe._n_static - 1)
        want = ref.fingerprint(dev)
        assert got == want
        assert list(fast._cache) == list(ref._cache) and fast._cache_used == ref._cache_used
    # a subclass (or a replaced method) is called as it is
    class Sub(Fingerprinter):
        def fingerprint(self, device):
            return None

    sub = Sub(KEYS)
    ev = {"application_id": "A1", "ts": 1_700_000_000_000, "device": DEVICES[2]}
    assert ROW.device((sub.fingerprint, *pipe._device_ctx[1:]), ev, {}, x, pipe._n_static - 1) is None
