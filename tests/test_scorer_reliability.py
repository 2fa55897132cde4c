"""Reliability of the scorer's state (memory store): clock-skew bound, exactly once, refusals change nothing.

The Redis versions of these properties are in tests/velocity/test_redis_reliability.py.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fraudscore as fs
from fraudscore.errors import ConfigError, EventError
from fraudscore.rescore import ChunkedScorer

from .helpers import SECRET, small_bundle, synthetic

HOUR = 3_600_000


def _events(n=200, start=0):
    return [dict(e) for e in synthetic().to_records()[start:start + n]]


def _clock_after(events, ms=HOUR):
    now = max(int(e["ts"]) for e in events) + ms
    return lambda: now


def memory_state(sc: fs.Scorer):
    """Everything an event can change in a memory-store scorer: velocity, records, labels, links."""
    store, st_ = sc.store, sc.linker.state
    with store._lock:
        if getattr(store, "engine", "python") == "compiled":  # the C state's dump and the records
            vel = (store._core.dump(), copy.deepcopy(store._results.to_raw()), store.latest_time())
        else:
            vel = copy.deepcopy(store._payload())
    links = copy.deepcopy((list(st_._devices.items()), list(st_._exact.items()), list(st_._blocks.items())))
    return vel, links


def test_far_future_event_is_refused_and_cannot_block_later_events():
    evs = _events(50)
    clock = _clock_after(evs)
    sc = fs.Scorer(small_bundle(), SECRET, clock=clock)
    for ev in evs[:10]:
        sc.score(ev)
    before = memory_state(sc)
    far = {**evs[10], "ts": "2199-06-01T00:00:00Z", "application_id": "FAR"}
    with pytest.raises(EventError) as info:
        sc.score(far)
    assert info.value.field == "ts" and "max_clock_skew" in str(info.value)
    assert memory_state(sc) == before
    for ev in evs[10:]:  # nothing is rejected as late afterwards
        sc.score(ev)
    # just inside the bound is accepted; the bound is configurable and can be disabled
    now = clock()
    ok = sc.score({**evs[-1], "ts": now + 5 * 60_000, "application_id": "EDGE"})
    assert not ok.duplicate
    with pytest.raises(EventError):
        sc.score({**evs[-1], "ts": now + 5 * 60_000 + 1, "application_id": "EDGE2"})
    lax = fs.Scorer(small_bundle(), SECRET, clock=clock, max_clock_skew="2d")
    lax.score({**evs[-1], "ts": now + 86_400_000, "application_id": "DAY"})
    off = fs.Scorer(small_bundle(), SECRET, clock=clock, max_clock_skew=None)
    off.score(far)
    with pytest.raises(ConfigError, match="max_clock_skew"):
        fs.Scorer(small_bundle(), SECRET, max_clock_skew="-5m")
    with pytest.raises(ConfigError, match="clock"):
        fs.Scorer(small_bundle(), SECRET, clock=123)


def test_batch_refuses_the_same_future_rows():
    evs = _events(40)
    clock = _clock_after(evs)
    evs[7] = {**evs[7], "ts": clock() + 10 * 60_000}
    batch = fs.Scorer(small_bundle(), SECRET, clock=clock).score_batch(evs)
    assert [(e.row, e.field) for e in batch.errors] == [(7, "ts")]
    assert "max_clock_skew" in str(batch.errors[0])
    online = fs.Scorer(small_bundle(), SECRET, clock=clock)
    for i, ev in enumerate(evs):
        if i == 7:
            with pytest.raises(EventError, match="max_clock_skew"):
                online.score(ev)
        else:
            assert online.score(ev).score == batch[i - (i > 7)].score


def test_retry_returns_the_same_decision_without_counting_again():
    evs = [e for e in _events(400) if e.get("device")][:60]
    sc = fs.Scorer(small_bundle(), SECRET, explain=True)
    first = [sc.score(ev, return_features=True) for ev in evs]
    state = memory_state(sc)
    again = [sc.score(ev, return_features=True) for ev in evs]
    assert memory_state(sc) == state  # nothing counted, linked or recorded again
    for a, b in zip(first, again):
        assert not a.duplicate and b.duplicate
        da, db = a.to_dict(), b.to_dict()
        da.pop("duplicate"), db.pop("duplicate")
        assert da == db or all((k == "features" and all(
            (math.isnan(x) and math.isnan(db[k][n])) or x == db[k][n] for n, x in v.items())) or v == db[k]
            for k, v in da.items())
    # a fresh scorer fed the same events twice counts each application once
    fresh = fs.Scorer(small_bundle(), SECRET)
    for ev in evs:
        fresh.score(ev)
        fresh.score(ev)
    assert memory_state(fresh)[0][:1] == state[0][:1] if isinstance(state[0], tuple) else \
        memory_state(fresh)[0]["groups"] == state[0]["groups"]


def test_record_expires_after_the_idempotency_ttl():
    store = fs.MemoryStore(idempotency_ttl="1h")
    sc = fs.Scorer(small_bundle(), SECRET, store=store)
    evs = _events(300)
    sc.score(evs[0])
    later = [e for e in evs if int(e["ts"]) > int(evs[0]["ts"]) + 2 * HOUR][0]
    sc.score(later)  # the watermark moves more than the TTL past the first record
    again = sc.score({**evs[0], "ts": later["ts"]})
    assert not again.duplicate  # scored (and counted) as a new application


@st.composite
def streams(draw):
    recs = synthetic().to_records()
    start = draw(st.integers(0, len(recs) - 120))
    n = draw(st.integers(5, 40))
    pool = recs[start:start + 120]
    events = []
    for j in range(n):
        op = draw(st.sampled_from(["new", "new", "new", "retry", "reuse", "future", "late"]))
        if op == "retry" and events:
            ev = dict(draw(st.sampled_from(events)))  # the same event again
        elif op == "reuse" and events:
            ev = dict(draw(st.sampled_from(pool)))  # another event under an id already used
            ev["application_id"] = draw(st.sampled_from(events))["application_id"]
        else:
            ev = dict(draw(st.sampled_from(pool)))
            ev["application_id"] = f"P{j}"
            if op == "future":
                ev["ts"] = "FUTURE"
            elif op == "late":
                ev["ts"] = int(ev["ts"]) - draw(st.sampled_from([600_000, 7_200_000]))
        events.append(ev)
    now = max((int(e["ts"]) for e in events if e["ts"] != "FUTURE"), default=int(pool[0]["ts"])) + HOUR
    for e in events:
        if e["ts"] == "FUTURE":
            e["ts"] = now + draw(st.sampled_from([60_000, 400_000, 10**9]))
    return events, now


@settings(max_examples=25)
@given(streams())
def test_online_and_batch_give_the_same_verdicts(stream):
    events, now = stream
    bundle = small_bundle()
    online = fs.Scorer(bundle, SECRET, clock=lambda: now)
    decisions, refused = [], []
    for i, ev in enumerate(events):
        before = memory_state(online)
        try:
            decisions.append(online.score(ev, return_features=True))
        except EventError as exc:
            refused.append((i, exc.field, exc.problem))
            assert memory_state(online) == before  # a refused event changes no state
            continue
        if decisions[-1].duplicate:
            assert memory_state(online) == before  # nor does a duplicate
    batch = fs.Scorer(bundle, SECRET, clock=lambda: now).score_batch(events, return_features=True)
    assert [(e.row, e.field, e.problem) for e in batch.errors] == refused
    assert len(batch) == len(decisions)
    for i, d in enumerate(decisions):
        b = batch[i]
        assert (d.application_id, d.duplicate, d.score, d.action, d.device_id) == \
               (b.application_id, b.duplicate, b.score, b.action, b.device_id), i
        for name, v in d.features.items():
            w = b.features[name]
            assert (math.isnan(v) and math.isnan(w)) or v == w, (i, name)
    # chunked rescoring (state carried across chunks) agrees with the single batch call
    chunked = ChunkedScorer(fs.Scorer(bundle, SECRET, clock=lambda: now))
    parts = [chunked.score(events[k:k + 7], return_features=True) for k in range(0, len(events), 7)]
    assert [e.row for p in parts for e in p.errors] == [e.row for e in batch.errors]
    got = [d for p in parts for d in p]
    assert [(d.duplicate, d.score, d.device_id) for d in got] == [(d.duplicate, d.score, d.device_id) for d in batch]
    np.testing.assert_array_equal(np.vstack([np.column_stack(list(p.features.values())) for p in parts if len(p)]),
                                  np.column_stack(list(batch.features.values())))
