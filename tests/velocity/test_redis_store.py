"""RedisStore against a real redis-server: parity with the memory store, errors, privacy, expiry."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from fraudscore.errors import EventError, StoreError
from fraudscore.velocity import FeatureSet, FeatureSpec, MemoryStore, OnlineVelocity, RedisStore
from fraudscore.velocity.reference import reference

from .test_parity import CAL_FS, FS, assert_same, calendar_streams, run_online, streams

pytestmark = pytest.mark.redis
_COUNTER = itertools.count()


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(stream=streams())
def test_redis_equals_reference_and_memory(redis_client, redis_prefix, stream):
    recs, labels = stream
    prefix = redis_prefix + f"{next(_COUNTER)}:"
    got = run_online(FS, recs, labels, RedisStore(redis_client, prefix=prefix))
    assert_same(got, reference(FS, recs, labels), "redis vs reference")
    assert_same(got, run_online(FS, recs, labels, MemoryStore()), "redis vs memory")


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(stream=calendar_streams())
def test_redis_calendar_windows_and_ratios_equal_reference(redis_client, redis_prefix, stream):
    recs, labels = stream
    prefix = redis_prefix + f"{next(_COUNTER)}:"
    got = run_online(CAL_FS, recs, labels, RedisStore(redis_client, prefix=prefix))
    assert_same(got, reference(CAL_FS, recs, labels), "redis vs reference", CAL_FS)


def test_two_workers_share_state(redis_client, redis_prefix):
    import redis

    fs = FeatureSet([FeatureSpec("count", key="device_id", window="1h"),
                     FeatureSpec("distinct", key="device_id", of="applicant_id", window="1h")])
    other = redis.Redis(connection_pool=redis.ConnectionPool(**redis_client.connection_pool.connection_kwargs))
    w1 = OnlineVelocity(fs, RedisStore(redis_client, prefix=redis_prefix))
    w2 = OnlineVelocity(fs, RedisStore(other, prefix=redis_prefix))
    mem = OnlineVelocity(fs)
    for i in range(20):
        rec = {"application_id": f"A{i}", "ts": 1_700_000_000_000 + i * 1000, "device_id": f"d{i % 3}",
               "applicant_id": f"p{i % 5}"}
        got = (w1 if i % 2 else w2).update_and_read(rec)
        np.testing.assert_array_equal(got, mem.update_and_read(rec))


def test_late_event_rejected_without_state_change(redis_client, redis_prefix):
    fs = FeatureSet([FeatureSpec("count", key="ip", window="1h")], allowed_lateness="1m")
    online = OnlineVelocity(fs, RedisStore(redis_client, prefix=redis_prefix))
    assert online.update_and_read({"application_id": "A", "ts": 10_000_000, "ip": "p:1"})[0] == 1.0
    with pytest.raises(EventError) as err:
        online.update_and_read({"application_id": "B", "ts": 10_000_000 - 61_000, "ip": "p:1"})
    assert err.value.field == "ts"
    assert online.update_and_read({"application_id": "C", "ts": 10_000_000, "ip": "p:1"})[0] == 2.0


def test_identifiers_are_pseudonymised_and_keys_expire(redis_client, redis_prefix):
    fs = FeatureSet([FeatureSpec("distinct", key="phone", of="applicant_id", window="1h"),
                     FeatureSpec("fraud_count", key="phone", window="1d", delay="1h")])
    online = OnlineVelocity(fs, RedisStore(redis_client, prefix=redis_prefix))
    online.update_and_read({"application_id": "APP-42", "ts": 10_000_000, "phone": "PHONE-SECRET",
                            "applicant_id": "ID-SECRET"})
    online.record_label("APP-42", True, 10_000_001)
    keys = list(redis_client.scan_iter(match=redis_prefix + "*"))
    dump = b" ".join(keys)
    for k in keys:
        if redis_client.type(k) == b"zset":
            dump += b" ".join(redis_client.zrange(k, 0, -1))
            assert redis_client.pttl(k) > 0
    for secret in (b"PHONE-SECRET", b"ID-SECRET", b"APP-42"):
        assert secret not in dump
    assert any(redis_client.pttl(k) > 0 for k in keys if b":l{" in k)


def _no_retry_client(redis, port):
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.3, socket_timeout=0.3,
                       retry=Retry(NoBackoff(), 0))


def test_store_error_when_redis_is_down():
    redis = pytest.importorskip("redis")
    online = OnlineVelocity(FeatureSet([FeatureSpec("count", key="ip", window="1h")]),
                            RedisStore(_no_retry_client(redis, 1)))
    with pytest.raises(StoreError):
        online.update_and_read({"application_id": "A", "ts": 10_000_000, "ip": "p:1"})
    with pytest.raises(StoreError):
        online.record_label("A", True, 10_000_000)


def test_store_error_on_timeout():
    import socket

    redis = pytest.importorskip("redis")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)  # accepts the connection, never answers
    try:
        online = OnlineVelocity(FeatureSet([FeatureSpec("count", key="ip", window="1h")]),
                                RedisStore(_no_retry_client(redis, server.getsockname()[1])))
        with pytest.raises(StoreError, match="Timeout"):
            online.update_and_read({"application_id": "A", "ts": 10_000_000, "ip": "p:1"})
    finally:
        server.close()


def test_row_appended_keeps_expiry_and_rows(redis_client, redis_prefix):
    """An event that goes last with nothing to cut is APPENDed: the key keeps its expiry, and its rows are the
    ones a full rewrite gives (events in order, then one in the middle, then one that cuts the oldest)."""
    fs = FeatureSet([FeatureSpec("count", key="ip", window="1h"),
                     FeatureSpec("distinct", key="ip", of="applicant_id", window="1h")], allowed_lateness="1h")
    red = OnlineVelocity(fs, RedisStore(redis_client, prefix=redis_prefix))
    mem = OnlineVelocity(fs)
    t0 = 1_700_000_000_000
    before = redis_client.info("commandstats").get("cmdstat_append", {"calls": 0})["calls"]
    times = [0, 60_000, 120_000, 90_000, 3_700_000, 7_300_000]  # in order, in order, a middle one, last, cuts
    keys: list[bytes] = []
    for i, dt in enumerate(times):
        rec = {"application_id": f"A{i}", "ts": t0 + dt, "ip": "p:ip1", "applicant_id": f"p{i % 2}"}
        np.testing.assert_array_equal(red.update_and_read(rec), mem.update_and_read(rec))
        keys = list(redis_client.scan_iter(match=redis_prefix + "v{*"))
        assert keys and all(redis_client.pttl(k) > 0 for k in keys)  # the expiry set at the first write stays
    assert redis_client.info("commandstats").get("cmdstat_append", {"calls": 0})["calls"] > before
    blob = redis_client.get(keys[0])
    rows = (len(blob) - 4) // 16  # event time + one distinct-of hash per row
    assert len(keys) == 1 and rows == 3  # 0, 60 s and 90 s left the horizon + lateness (2 h) at 7,300 s
