"""Faults against a real redis-server started by the test: killed, frozen (SIGSTOP) and delayed mid-script.

After recovery the counts equal a serial run with no faults: a call whose reply is lost and retried
(by redis-py or by the caller) is applied exactly once.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from fraudscore.errors import StoreError
from fraudscore.velocity import FeatureSet, FeatureSpec, MemoryStore, OnlineVelocity, RedisStore

redis = pytest.importorskip("redis")
from fraudscore.bench.servers import RedisServer, have_redis_server  # noqa: E402

pytestmark = [pytest.mark.redis, pytest.mark.skipif(not have_redis_server(), reason="redis-server not installed")]

FS = FeatureSet([FeatureSpec("count", key="ip", window="1h"),
                 FeatureSpec("sum", key="ip", field="amount", window="1h"),
                 FeatureSpec("distinct", key="ip", of="applicant_id", window="1h"),
                 FeatureSpec("count", key="applicant_id", window="1d")], allowed_lateness="5m")


def _stream(n, seed=0):
    rng = np.random.default_rng(seed)
    t = 1_700_000_000_000
    out = []
    for i in range(n):
        t += int(rng.integers(0, 60_000))
        out.append({"application_id": f"A{i}", "ts": t, "ip": f"p:{rng.integers(0, 5)}",
                    "applicant_id": f"u:{rng.integers(0, 8)}", "amount": float(rng.integers(1, 100))})
    return out


def _serial(events):
    online = OnlineVelocity(FS, MemoryStore())
    return np.vstack([online.update_and_read(ev) for ev in events])


def _retrying_client(port, timeout=0.3, retries=20):
    from redis.backoff import ConstantBackoff
    from redis.retry import Retry

    return redis.Redis(port=port, socket_timeout=timeout, socket_connect_timeout=timeout,
                       retry=Retry(ConstantBackoff(0.05), retries))


@pytest.fixture
def server():
    srv = RedisServer(appendonly=True).start()
    yield srv
    srv.stop()


def _rows_of(client, prefix):
    """Event rows stored per entity key (4-byte head, fixed-width rows)."""
    return {k: client.strlen(k) for k in client.scan_iter(match=prefix + "v*")}


def test_reply_delayed_past_socket_timeout_is_counted_once(server):
    """redis-py retries a call whose reply did not come within socket_timeout; the server then runs every
    copy it received. Exactly once: the copies after the first return the record (same call nonce)."""
    events = _stream(60)
    client = _retrying_client(server.port)
    store = RedisStore(client, prefix="fs:delay:")
    online = OnlineVelocity(FS, store)
    client.config_resetstat()
    got = [online.update_and_read(ev) for ev in events[:30]]
    server.freeze()
    threading.Timer(1.0, server.thaw).start()
    t0 = time.monotonic()
    got.append(online.update_and_read(events[30]))  # sent, timed out, re-sent several times, then answered
    assert time.monotonic() - t0 > 0.5
    got += [online.update_and_read(ev) for ev in events[31:]]
    calls = client.info("commandstats")["cmdstat_evalsha"]["calls"]
    assert calls > len(events)  # the server ran more copies than there were events...
    np.testing.assert_array_equal(np.vstack(got), _serial(events))  # ...and each event counted once
    assert online.apply(events[30]).duplicate  # a later request for the same application is a duplicate


def test_server_busy_in_another_script_then_counted_once(server):
    """The server is delayed mid-script (a long script runs first): the call times out, is retried, and
    every copy runs after the delay; one counts."""
    events = _stream(40, seed=1)
    client = _retrying_client(server.port)
    online = OnlineVelocity(FS, RedisStore(client, prefix="fs:busy:"))
    got = [online.update_and_read(ev) for ev in events[:20]]
    other = redis.Redis(port=server.port)
    busy = threading.Thread(target=lambda: other.eval(
        "local t = redis.call('TIME'); local s = t[1] + t[2] / 1e6; "
        "repeat local n = redis.call('TIME'); until n[1] + n[2] / 1e6 - s > 0.8", 0))
    busy.start()
    time.sleep(0.1)
    got += [online.update_and_read(ev) for ev in events[20:]]
    busy.join()
    np.testing.assert_array_equal(np.vstack(got), _serial(events))


def test_killed_server_restarts_from_aof_and_retried_events_count_once(server):
    events = _stream(80, seed=2)
    client = _retrying_client(server.port, timeout=0.5, retries=1)
    online = OnlineVelocity(FS, RedisStore(client, prefix="fs:kill:"))
    got, failures = [], 0
    for i, ev in enumerate(events):
        if i == 40:
            server.kill()
        while True:
            try:
                got.append(online.update_and_read(ev))
                break
            except StoreError:
                failures += 1
                if failures == 2:
                    server.start()  # same port and folder: the AOF (fsync always) has every applied event
    assert failures >= 2
    np.testing.assert_array_equal(np.vstack(got), _serial(events))


def test_frozen_server_fails_fast_with_a_latency_budget_then_recovers(server):
    events = _stream(30, seed=3)
    store = RedisStore(redis.Redis(port=server.port, socket_timeout=5), prefix="fs:frozen:")
    store.set_latency_budget(150)
    online = OnlineVelocity(FS, store)
    got = [online.update_and_read(ev) for ev in events[:15]]
    server.freeze()
    try:
        t0 = time.monotonic()
        with pytest.raises(StoreError, match="Timeout"):
            online.update_and_read(events[15])
        assert time.monotonic() - t0 < 5.0  # bounded by the budget (0.15 s), never the 5 s socket timeout x retries
    finally:
        server.thaw()
    for _ in range(50):  # the timed-out call may still have been applied when the server resumed
        try:
            got.append(online.update_and_read(events[15]))
            break
        except StoreError:
            time.sleep(0.1)
    got += [online.update_and_read(ev) for ev in events[16:]]
    np.testing.assert_array_equal(np.vstack(got), _serial(events))


def test_cluster_with_a_frozen_primary_fails_fast_then_completes_on_retry():
    """A primary of a cluster is frozen: calls fail within the budget (the other primaries applied their
    slots); after it thaws, retrying the same events completes them exactly once."""
    from fraudscore.bench.servers import LocalCluster

    events = _stream(40, seed=4)
    with LocalCluster(3) as cluster:
        store = RedisStore(cluster.client(), prefix="fs:cfrozen:", shards=16)
        store.set_latency_budget(150)
        online = OnlineVelocity(FS, store)
        got = [online.update_and_read(ev) for ev in events[:20]]
        cluster.servers[1].freeze()
        try:
            failed = 0
            for ev in events[20:25]:
                t0 = time.monotonic()
                try:
                    online.update_and_read(ev)
                except StoreError:
                    failed += 1
                assert time.monotonic() - t0 < 5.0
        finally:
            cluster.servers[1].thaw()
        assert failed >= 1
        for ev in events[20:]:  # the caller retries; applied slots recall their part
            for _ in range(50):
                try:
                    got.append(online.update_and_read(ev))
                    break
                except StoreError:
                    time.sleep(0.1)
    np.testing.assert_array_equal(np.vstack(got), _serial(events))
