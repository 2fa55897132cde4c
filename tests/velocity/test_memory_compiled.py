"""The compiled memory store == the Python reference MemoryStore == batch replay, bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fraudscore
from fraudscore.errors import ConfigError, StoreError
from fraudscore.velocity import FeatureSet, FeatureSpec, MemoryStore, OnlineVelocity, replay
from fraudscore.velocity.memory_compiled import CompiledMemoryStore

from ..helpers import SECRET, compiled_core, small_bundle
from ..test_scorer_reliability import memory_state
from ..test_scorer_reliability import streams as event_streams
from .test_parity import CAL_FS, FS, calendar_streams, run_online, streams, to_columns

core = compiled_core("velocity_store", "the compiled velocity store")

# big values: sums of a few of them overflow int64 micro-units (128-bit accumulators needed)
BIG_FS = FeatureSet([
    FeatureSpec("sum", key="a", field="x", window="all"),
    FeatureSpec("mean", key="a", field="x", window=5000),
    FeatureSpec("min", key="a", field="x", window=5000),
    FeatureSpec("max", key=("a", "b"), field="x", window=5000),
    FeatureSpec("count", key="b", window=2000, filter={"ch": ["web", 1]}),
    FeatureSpec("distinct", key="b", of="a", window=5000),
], allowed_lateness=1000)


def both(fs, recs, labels, **kw):
    py = run_online(fs, recs, labels, MemoryStore(engine="python", sweep_every=3, **kw))
    c = run_online(fs, recs, labels, MemoryStore(engine="compiled", **kw))
    return py, c


def same(a, b, names, what):
    for j, name in enumerate(names):
        np.testing.assert_array_equal(a[:, j], b[:, j], err_msg=f"{what}: feature {name}")


def test_default_engine_is_compiled():
    # fails when MemoryStore (the reference) gains a method or parameter the compiled store lacks:
    # port it to fraudscore/_core/velocity_store.c + memory_compiled.py
    from fraudscore.velocity.memory import _compiled_has_api

    assert _compiled_has_api()
    s = MemoryStore()
    assert isinstance(s, CompiledMemoryStore) and isinstance(s, MemoryStore) and s.engine == "compiled"
    assert MemoryStore(engine="python").engine == "python"
    with pytest.raises(ConfigError, match="engine"):
        MemoryStore(engine="fast")


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(streams(max_size=40))
def test_compiled_equals_python_equals_replay(stream):
    recs, labels = stream
    py, c = both(FS, recs, labels)
    same(c, py, FS.names, "compiled vs python")
    cols, lab = to_columns(recs, labels)
    same(c, replay(FS, cols, lab), FS.names, "compiled vs replay")


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(calendar_streams(max_size=40))
def test_calendar_windows_and_ratios_compiled_equals_python_equals_replay(stream):
    # date-only rows at midnight, steps of days, late rows across midnight, labels near day edges
    recs, labels = stream
    py, c = both(CAL_FS, recs, labels)
    same(c, py, CAL_FS.names, "compiled vs python")
    cols, lab = to_columns(recs, labels)
    same(c, replay(CAL_FS, cols, lab), CAL_FS.names, "compiled vs replay")


@st.composite
def day_edge_streams(draw):
    """Times before 1970 (negative epoch ms: the C floor-to-midnight must match Python's %) and big values."""
    n = draw(st.integers(1, 20))
    day = 86_400_000
    t = draw(st.integers(-3, 2)) * day + draw(st.sampled_from([0, 1, -1, day // 2]))
    recs = []
    for i in range(n):
        t += draw(st.sampled_from([0, 1, 999, day - 1, day, 2 * day + 1]))
        late = draw(st.integers(0, 2000))
        recs.append({"application_id": f"A{i}", "ts": t - late, "a": draw(st.sampled_from(["a1", "a2"])),
                     "b": draw(st.sampled_from(["b1", None])), "ch": draw(st.sampled_from(["web", "app", None])),
                     "x": draw(st.one_of(st.none(), st.sampled_from([0.0, 1e12, -1e12, 0.5, -0.5]),
                                         st.floats(-1e12, 1e12, allow_nan=False)))})
        t = max(t, recs[-1]["ts"])
    return recs


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(day_edge_streams())
def test_calendar_edges_before_1970_and_big_ratios(recs):
    py, c = both(CAL_FS, recs, [None] * len(recs))
    same(c, py, CAL_FS.names, "compiled vs python")


def test_calendar_snapshot_round_trip(tmp_path):
    rng = np.random.default_rng(11)
    day = 86_400_000
    recs, t = [], 20_000 * day
    for i in range(300):
        t += int(rng.choice([0, 0, 1000, day // 3, day]))
        recs.append({"application_id": f"A{i}", "ts": t - int(rng.integers(0, 1500)), "a": f"a{rng.integers(0, 8)}",
                     "b": str(rng.choice(["b1", "b2"])), "ch": str(rng.choice(["web", "app"])),
                     "x": float(rng.integers(1, 1000)) / 8})
    labels = [None] * len(recs)
    full = run_online(CAL_FS, recs, labels, MemoryStore(engine="python"))
    for writer in ("python", "compiled"):
        src = MemoryStore(engine=writer)
        first = run_online(CAL_FS, recs[:150], labels[:150], src)
        path = tmp_path / f"{writer}.snap"
        src.snapshot(str(path))
        dst = MemoryStore(engine="compiled")
        online = OnlineVelocity(CAL_FS, dst)
        dst.restore(str(path))
        rest = np.vstack([online.update_and_read(r) for r in recs[150:]])
        np.testing.assert_array_equal(np.vstack([first, rest]), full, err_msg=writer)


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(streams(max_size=40), st.integers(1, 4))
def test_label_lru_eviction_matches(stream, max_labels):
    recs, labels = stream  # more frauds than max_labels: the LRU drops the same ones
    py, c = both(FS, recs, labels, max_labels=max_labels)
    same(c, py, FS.names, f"max_labels={max_labels}")


@st.composite
def big_streams(draw):
    n = draw(st.integers(1, 25))
    t, recs = 10**12, []
    for i in range(n):
        t += draw(st.integers(-900, 1500))
        t = max(t, max([r["ts"] for r in recs], default=t) - 1000)
        recs.append({"application_id": f"A{i}", "ts": t,
                     "a": draw(st.sampled_from(["p:" + "ab" * 16, "p:" + "0" * 31 + "1", "p:" + "0" * 31 + "2",
                                                "a2", 7, None])),
                     "b": draw(st.sampled_from(["b1", "b2", None])),
                     "ch": draw(st.sampled_from(["web", 1, True, 1.0, "app", None])),
                     "x": draw(st.one_of(st.none(), st.sampled_from([1e12, -1e12, 999_999_999_999.5, 0.5, -0.5]),
                                         st.floats(-1e12, 1e12, allow_nan=False)))})
    return recs


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(big_streams())
def test_large_values_filters_and_key_types(recs):
    py, c = both(BIG_FS, recs, [None] * len(recs))
    same(c, py, BIG_FS.names, "compiled vs python")


def test_int128_to_float_is_correctly_rounded():
    rng = np.random.default_rng(0)
    vals = [0, 1, -1, 2**53 + 1, 2**63 - 1, -(2**63), 2**63, 2**64 + 1, -(2**64) - 3, 2**126 + 2**73 + 1,
            -(2**127), 2**127 - 1, 10**19 + 1, 3 * 10**19 + 7]
    vals += [int(x) for x in rng.integers(-(2**62), 2**62, 200)]
    vals += [int(a) * 2**40 + int(b) for a, b in zip(rng.integers(-(2**62), 2**62, 300), rng.integers(0, 2**40, 300))]
    vals += [(1 << k) + (1 << (k - 53)) + j for k in range(54, 126, 7) for j in (-1, 0, 1)]  # ties and near-ties
    for v in vals:
        assert core.int128_to_float(v) == float(v), v


def test_value_keys_follow_python_equality():
    k = core.value_key
    assert k(5) == k(np.int64(5)) == k(5.0)
    assert k(1) == k(True) and k("1") != k(1) and k("a") != k("b")
    # a pseudonym's own bits, folded: values of that shape that are not uniform stay distinct
    assert len({k("p:" + f"{i:032x}") for i in range(1000)}) == 1000
    assert len({k("p:" + f"{i << 64:032x}") for i in range(1000)} | {k("p:" + f"{i:032x}") for i in range(1, 1000)}) \
        == 1999
    assert k("é") != k("e") and k("日本") == k("日本")
    with pytest.raises(TypeError):
        k(object())


def test_eviction_is_incremental_and_bounded():
    fs = FeatureSet([FeatureSpec("count", key="d", window="1h")], allowed_lateness="10m")
    store = MemoryStore(engine="compiled")
    online = OnlineVelocity(fs, store)
    sizes = []
    for i in range(5000):  # a new entity every minute: 70 minutes of them are live
        online.update_and_read({"application_id": f"A{i}", "ts": 10**12 + i * 60_000, "d": f"d{i}"})
        sizes.append(store.stats()["entities"])
    assert max(sizes[200:]) <= 72 and store.stats()["events"] == store.stats()["entities"]
    assert store.memory_bytes() < 64 * 1024


def test_snapshot_both_ways_and_reference_snapshots(tmp_path):
    rng = np.random.default_rng(4)
    recs, labels, t = [], [], 10**12
    for i in range(400):
        t += int(rng.integers(0, 400))
        recs.append({"application_id": f"A{i}", "ts": t - int(rng.integers(0, 1500)),
                     "a": f"a{rng.integers(0, 30)}", "b": str(rng.choice(["b1", "b2", "b3"])),
                     "ch": str(rng.choice(["web", "app"])), "x": float(rng.integers(0, 1000)) / 8})
        labels.append((bool(rng.integers(0, 2)), recs[-1]["ts"] + 900) if rng.random() < 0.3 else None)
    full = run_online(FS, recs, labels, MemoryStore(engine="python"))
    for writer in ("python", "compiled"):
        src = MemoryStore(engine=writer)
        first = run_online(FS, recs[:200], labels[:200], src)
        path = tmp_path / f"{writer}.snap"
        src.snapshot(str(path))
        dst = MemoryStore(engine="compiled")
        online = OnlineVelocity(FS, dst)
        dst.restore(str(path))  # the compiled store reads both formats
        assert dst.stats()["labels"] == src.stats()["labels"] and dst.latest_time() == src.latest_time()
        cut = recs[199]["ts"]
        pending = sorted((lab[1], i, lab[0]) for i, lab in enumerate(labels) if lab is not None and lab[1] > cut)
        rest, k = [], 0
        for r in recs[200:]:
            while k < len(pending) and pending[k][0] <= r["ts"]:
                online.record_label(recs[pending[k][1]]["application_id"], pending[k][2], pending[k][0])
                k += 1
            rest.append(online.update_and_read(r))
        np.testing.assert_array_equal(np.vstack([first, np.vstack(rest)]), full, err_msg=writer)
    # a compiled snapshot cannot be read by the reference (it holds keys, not pseudonyms): a clear error
    with pytest.raises(StoreError, match="compiled"):
        OnlineVelocity(FS, MemoryStore(engine="python")).store.restore(str(tmp_path / "compiled.snap"))


def test_corrupt_dumps_are_refused_and_leave_an_empty_store():
    fs = FeatureSet([FeatureSpec("count", key="d", window="1h"), FeatureSpec("distinct", key="d", of="a", window="1h")])
    store = MemoryStore(engine="compiled")
    online = OnlineVelocity(fs, store)
    for i in range(50):
        online.update_and_read({"application_id": f"A{i}", "ts": 10**12 + i, "d": f"d{i % 5}", "a": f"a{i % 3}"})
    blob = store._core.dump()
    rng = np.random.default_rng(9)
    for _ in range(200):
        b = bytearray(blob)
        cut = int(rng.integers(0, len(b)))
        if rng.random() < 0.5:
            b = b[:cut]
        else:
            b[cut] ^= 1 << int(rng.integers(0, 8))
        try:
            store._core.load(bytes(b))
        except ValueError:
            assert store.stats()["entities"] == 0
    store._core.load(blob)
    assert store.stats()["entities"] == 5


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=st.data())
def test_reliability_semantics_match_the_python_store(stream):
    """Exactly once, the clock-skew bound and refusals that change no state: both engines, one stream.

    Retries, reused application ids, far-future and late events go to a scorer on each engine: the
    same decisions, the same refusals, and a refused or duplicate event changes neither engine's state.
    """
    events, now = stream.draw(event_streams())
    bundle = small_bundle()
    py = fraudscore.Scorer(bundle, SECRET, clock=lambda: now, store=MemoryStore(engine="python"))
    cc = fraudscore.Scorer(bundle, SECRET, clock=lambda: now, store=MemoryStore(engine="compiled"))
    assert cc.store.engine == "compiled" and getattr(py.store, "engine", "python") == "python"
    for ev in events:
        before = (memory_state(py), memory_state(cc))
        out = []
        for sc in (py, cc):
            try:
                out.append(sc.score(dict(ev), return_features=True))
            except fraudscore.EventError as exc:
                out.append((exc.field, exc.problem))
        a, b = out
        if isinstance(a, tuple) or isinstance(b, tuple):
            assert a == b  # the same refusal, naming the same field
            assert (memory_state(py), memory_state(cc)) == before  # and neither engine changed
            continue
        assert (a.application_id, a.duplicate, a.score, a.action, a.device_id) == \
               (b.application_id, b.duplicate, b.score, b.action, b.device_id)
        assert all((math.isnan(v) and math.isnan(b.features[k])) or v == b.features[k] for k, v in a.features.items())
        if a.duplicate:
            assert (memory_state(py), memory_state(cc)) == before
    assert py.store.latest_time() == cc.store.latest_time()


def test_late_event_message_is_the_references():
    # found by scripts/fuzz_core.py: the compiled store had its own wording for a late event
    from fraudscore.errors import EventError

    fs = FeatureSet([FeatureSpec("count", key="a", window=1000)], allowed_lateness=700)
    msgs = []
    for engine in ("python", "compiled"):
        online = OnlineVelocity(fs, MemoryStore(engine=engine))
        online.update_and_read({"application_id": "A1", "ts": 10_000, "a": "x"})
        with pytest.raises(EventError) as exc:
            online.update_and_read({"application_id": "A2", "ts": 9_000, "a": "x"})
        msgs.append(str(exc.value))
    assert msgs[0] == msgs[1] and "allowed lateness (700ms)" in msgs[0]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.lists(st.integers(0, 9), min_size=30, max_size=30), st.integers(1, 6), st.integers(1, 4000))
def test_exactly_once_table_matches_the_python_store(stream, ids, max_results, ttl):
    """The compiled store's exactly-once record (round 10: a new id's record written without
    ``ResultCache.put`` while the table has room and its head is live) == the Python store's, through reused
    ids, a small table (evictions) and a short TTL (expiry): the same outcomes, ``admit`` == ``recall`` +
    ``latest_time``, and the same records in the same order."""
    recs, _labels = stream
    stores = [MemoryStore(engine=e, max_results=max_results, idempotency_ttl=ttl) for e in ("python", "compiled")]
    onlines = [OnlineVelocity(FS, s) for s in stores]
    for i, rec in enumerate(recs):
        rec = {**rec, "application_id": f"A{ids[i]}"}
        c = stores[1]
        assert c.admit(rec["application_id"], rec["ts"])[1] == c.latest_time()
        seen = c.admit(rec["application_id"], rec["ts"])[0]
        ref = c.recall(rec["application_id"], rec["ts"])
        assert (seen is None) == (ref is None) and (seen is None or seen.features.tobytes() == ref.features.tobytes())
        out = [s.apply(o.plan, rec, rec["ts"], ("d", 0.5)) for s, o in zip(stores, onlines)]
        assert out[0].duplicate == out[1].duplicate and out[0].ts == out[1].ts and out[0].link == out[1].link
        assert out[0].features.tobytes() == out[1].features.tobytes()
        assert stores[0]._results.to_raw() == stores[1]._results.to_raw()
