"""The scorer on Redis (one node): the memory store's decisions, exactly once, refused events change no
state (property), and several workers whose link caches go stale."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import fraudscore as fs
from fraudscore.errors import EventError

from .helpers import SECRET, small_bundle, synthetic
from .test_scorer_reliability import streams

pytestmark = pytest.mark.redis
_COUNTER = itertools.count()


def redis_state(client, prefix):
    """Every key under ``prefix``: its value and whether it expires."""
    out = {}
    for k in client.scan_iter(match=prefix + "*", count=1000):
        kind = client.type(k)
        if kind == b"string":
            val = client.get(k)
        elif kind == b"hash":
            val = sorted(client.hgetall(k).items())
        else:
            val = client.zrange(k, 0, -1, withscores=True)
        out[k] = (val, client.pttl(k) > 0)
    return out


def _same(a, b):
    return (a.application_id, a.score, a.action, a.device_id, a.duplicate) == \
        (b.application_id, b.score, b.action, b.device_id, b.duplicate) and all(
        (math.isnan(v) and math.isnan(b.features[k])) or v == b.features[k] for k, v in a.features.items())


@settings(deadline=None, max_examples=8, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(stream=streams())
def test_refused_and_duplicate_events_change_no_redis_state(redis_client, redis_prefix, stream):
    events, now = stream
    prefix = redis_prefix + f"{next(_COUNTER)}:"
    red = fs.Scorer(small_bundle(), SECRET, clock=lambda: now, store=fs.RedisStore(redis_client, prefix=prefix))
    mem = fs.Scorer(small_bundle(), SECRET, clock=lambda: now)
    for ev in events:
        before = None
        try:
            want = mem.score(ev, return_features=True)
        except EventError as exc:  # the memory store refused it: Redis must refuse it and change nothing
            before = redis_state(redis_client, prefix)
            with pytest.raises(EventError) as got:
                red.score(ev)
            assert (got.value.field, got.value.problem) == (exc.field, exc.problem)
            assert redis_state(redis_client, prefix) == before
            continue
        if want.duplicate:
            before = redis_state(redis_client, prefix)
        d = red.score(ev, return_features=True)
        assert _same(d, want)
        if before is not None:  # a duplicate changes nothing either
            assert d.duplicate and redis_state(redis_client, prefix) == before


def test_workers_with_stale_link_caches_give_the_serial_decisions(redis_client, redis_prefix):
    """Four workers (stores) take turns on one stream: a worker's cached link state is often stale, it fetches
    what it never saw, the script refuses a decision whose dependencies changed and the worker decides again;
    the decisions are the serial ones."""
    events = synthetic().to_records()[:300]
    mem = fs.Scorer(small_bundle(), SECRET)
    want = [mem.score(ev, return_features=True) for ev in events]
    workers = [fs.Scorer(small_bundle(), SECRET, store=fs.RedisStore(redis_client, prefix=redis_prefix))
               for _ in range(4)]
    rng = np.random.default_rng(7)
    for ev, w in zip(events, want):
        assert _same(workers[int(rng.integers(0, 4))].score(ev, return_features=True), w)
    trips = sum(s.store.round_trips.phases for s in workers) / len(events)
    # one round trip per event, plus reads of what a worker never saw (records a block names, the candidate
    # blocks while contended) and, rarely, a second commit after a stale read
    assert 1.0 < trips < 4.0
    assert sum(s.store.conflicts for s in workers) / len(events) < 0.5
    one = fs.Scorer(small_bundle(), SECRET, store=fs.RedisStore(redis_client, prefix=redis_prefix + "solo:"))
    for ev in events:
        one.score(ev)
    assert one.store.round_trips.per_event() == pytest.approx(1.0, abs=0.02)  # one worker: its cache is fresh


def test_same_application_again_is_a_duplicate_with_the_same_decision(redis_client, redis_prefix):
    events = [e for e in synthetic().to_records()[:200] if e.get("device")][:40]
    sc = fs.Scorer(small_bundle(), SECRET, store=fs.RedisStore(redis_client, prefix=redis_prefix), explain=True)
    first = [sc.score(ev, return_features=True) for ev in events]
    state = redis_state(redis_client, redis_prefix)
    other = fs.Scorer(small_bundle(), SECRET, store=fs.RedisStore(redis_client, prefix=redis_prefix), explain=True)
    for a, ev in zip(first, events):  # another worker, the same applications: recorded decisions
        b = other.score(ev, return_features=True)
        assert b.duplicate and not a.duplicate
        assert (a.score, a.action, a.device_id, [r.code for r in a.reasons]) == \
            (b.score, b.action, b.device_id, [r.code for r in b.reasons])
    assert redis_state(redis_client, redis_prefix) == state


def test_rolling_upgrade_json_and_layout_1_workers_share_a_prefix(redis_client, redis_prefix):
    """A worker writing JSON link records (``link_record_layout=0``, what versions before layout 1 read) and one
    writing layout 1 take turns on one prefix: each reads the other's records, the decisions are the serial ones,
    and the JSON worker's records stay JSON (an earlier version could read them)."""
    from fraudscore.fingerprint.linkstate_redis_ops import _R, RECORD_LAYOUT

    events = synthetic().to_records()[:200]
    mem = fs.Scorer(small_bundle(), SECRET)
    want = [mem.score(ev, return_features=True) for ev in events]
    old = fs.Scorer(small_bundle(), SECRET, store=fs.RedisStore(redis_client, prefix=redis_prefix,
                                                                  link_record_layout=0))
    new = fs.Scorer(small_bundle(), SECRET, store=fs.RedisStore(redis_client, prefix=redis_prefix))
    for i, (ev, w) in enumerate(zip(events, want)):
        assert _same((old if i % 2 else new).score(ev, return_features=True), w)
    forms = {bytes(v[_R:_R + 1]) for k in redis_client.scan_iter(match=redis_prefix + "r*")
             if (v := redis_client.get(k)) is not None}
    assert forms == {b"{", bytes((RECORD_LAYOUT,))}
    json_only = fs.Scorer(small_bundle(), SECRET, store=fs.RedisStore(redis_client, prefix=redis_prefix + "j:",
                                                                        link_record_layout=0))
    for ev in events[:60]:
        json_only.score(ev)
    assert {bytes(redis_client.get(k)[_R:_R + 1]) for k in redis_client.scan_iter(match=redis_prefix + "j:r*")} \
        == {b"{"}


def test_link_record_layout_is_checked():
    from fraudscore.errors import ConfigError
    from fraudscore.fingerprint.linkstate_redis import OptimisticLinkState

    with pytest.raises(ConfigError, match="record_layout"):
        OptimisticLinkState(record_layout=2)
    with pytest.raises(ConfigError, match="link_record_layout"):
        fs.RedisStore(object(), link_record_layout=True)
