"""The compiled store's per-event field cache (round 16): each field read once per event, each str key hashed once.

Oracles: the Python reference ``MemoryStore`` (bit for bit), and the compiled store itself reading a ``dict``
subclass -- the cache is used for exact dicts only, so a subclass record takes the pre-round-16 path (every read
from the dict). A record that Python code changes during the store's reads (a value's ``__float__``) is read from
the dict again from then on, so both give the same features and state.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore.velocity import FeatureSet, FeatureSpec, MemoryStore, OnlineVelocity

from ..helpers import compiled_core

core = compiled_core("velocity_store", "the compiled velocity store")

S = FeatureSpec
# fields read by several groups: "a" as a key (alone, composite) and as distinct-of values, "b" likewise,
# application_id twice (fraud counts), "x" by two groups, a filter on "ch"
FS = FeatureSet([
    S("count", key="a", window=3000),
    S("distinct", key="a", of="b", window=5000),
    S("fraud_count", key="a", window=9000, delay=500),
    S("sum", key="a", field="x", window=5000),
    S("distinct", key="b", of="a", window=5000),
    S("max", key="b", field="x", window=4000, filter={"ch": ["web", 1]}),
    S("count", key=("a", "b"), window=5000),
    S("distinct", key=("b", "a"), of="c", window=5000),
    S("fraud_rate", key="c", window=9000, delay=0),
    S("distinct", key="c", of="a", window="all"),
    S("time_since_last", key="c", window=6000),
], allowed_lateness=1000)

VALUES = st.sampled_from(["p:" + "ab" * 16, "p:" + "0" * 31 + "1", "a1", "a2", "é", "\U0001f600", 7, 7.0, True,
                          np.int64(7), (1, "a1"), 2**70, None])


class Sub(dict):
    """A dict subclass: the compiled store reads it without the cache (the pre-round-16 path)."""


@st.composite
def streams(draw, max_size=40):
    n = draw(st.integers(1, max_size))
    t, recs = 0, []
    for i in range(n):
        t += draw(st.integers(0, 1500))
        recs.append({"application_id": draw(st.sampled_from([f"A{i}", i, None])), "ts": t,
                     "a": draw(VALUES), "b": draw(VALUES), "c": draw(VALUES),
                     "ch": draw(st.sampled_from(["web", 1, "app", None])),
                     "x": draw(st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False), st.integers(-99, 99)))})
    return recs


def run(recs, engine, wrap=dict):
    store = MemoryStore(engine=engine)
    online = OnlineVelocity(FS, store)
    out = []
    for i, rec in enumerate(recs):
        if i % 3 == 2:  # labels: fraud_count / fraud_rate read the application ids
            store.record_label(online.plan, str(recs[i - 1]["application_id"]), True, rec["ts"])
        out.append(store.apply(online.plan, wrap(rec), rec["ts"]).features)
    return np.vstack(out), store


@settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_cached_reads_equal_the_reference_and_the_uncached_path(recs):
    py, _ = run(recs, "python")
    c, cs = run(recs, "compiled")
    u, us = run(recs, "compiled", Sub)
    for j, name in enumerate(FS.names):
        np.testing.assert_array_equal(c[:, j], py[:, j], err_msg=f"cached vs python: {name}")
        np.testing.assert_array_equal(c[:, j], u[:, j], err_msg=f"cached vs uncached: {name}")
    assert cs.stats() == us.stats()


class Mutating:
    """A value whose float() changes the record it sits in (Python code running inside the store's reads)."""

    def __init__(self, rec, x):
        self.rec, self.x, self.calls = rec, x, 0

    def __float__(self):
        self.calls += 1
        self.rec["a"] = f"a-moved-{self.calls}"
        self.rec["b"] = self.calls
        return self.x


@pytest.mark.parametrize("x", [1.5, -2.0])
def test_a_record_changed_during_the_reads_is_read_again(x):
    feats, states = [], []
    for wrap in (dict, Sub):
        store = MemoryStore(engine="compiled")
        online = OnlineVelocity(FS, store)
        rows = []
        for i in range(6):
            rec = wrap({"application_id": f"A{i}", "ts": 100 * i, "a": "a1", "b": "b1", "c": "c1", "ch": "web"})
            rec["x"] = Mutating(rec, x)
            rows.append(store.apply(online.plan, rec, rec["ts"]).features)
            rows.append([rec["a"] == "a1", rec["b"] == "b1", float(rec["x"].calls)])
        feats.append(np.concatenate([np.asarray(r, dtype=float) for r in rows]))
        states.append(store.stats())
    np.testing.assert_array_equal(feats[0], feats[1])
    assert states[0] == states[1]


@pytest.mark.parametrize("bad", [[1], {"k": 1}, object()])
def test_a_bad_value_raises_and_changes_nothing(bad):
    """Validated (``ts`` not given): the same EventError in both engines, nothing counted. Not validated (the
    store's own reads): the cached path raises as the uncached one and leaves the same state."""
    outs = []
    for engine, wrap, ts in (("python", dict, None), ("compiled", dict, None), ("compiled", dict, 10),
                             ("compiled", Sub, 10)):
        store = MemoryStore(engine=engine)
        online = OnlineVelocity(FS, store)
        store.apply(online.plan, {"application_id": "A0", "ts": 0, "a": "a1", "b": "b1", "c": "c1", "x": 1.0}, 0)
        with pytest.raises((TypeError, ValueError)) as info:
            store.apply(online.plan, wrap({"application_id": "A1", "ts": 10, "a": "a1", "b": "b1", "c": bad}), ts)
        after = store.apply(online.plan, {"application_id": "A2", "ts": 20, "a": "a1", "b": "b1", "c": "c1"}, 20)
        outs.append((type(info.value), str(info.value), after.features, store.stats()))
    for i, j in ((0, 1), (2, 3)):
        assert outs[i][:2] == outs[j][:2]
        np.testing.assert_array_equal(outs[i][2], outs[j][2])
        assert outs[i][3] == outs[j][3]
