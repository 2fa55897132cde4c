"""The scorer's latency budget against a frozen Redis (SIGSTOP of a server the test started).

Generous bounds only (the machine is loaded): today a frozen Redis made ``score(..., degrade=True)``
wait about 15 s (client retries) with the scorer's lock held, so every thread waited behind it.
"""

from __future__ import annotations

import threading
import time

import pytest

import fraudscore as fs
from fraudscore.errors import ConfigError

from .helpers import SECRET, small_bundle, synthetic

redis = pytest.importorskip("redis")
from fraudscore.bench.servers import RedisServer, have_redis_server  # noqa: E402

pytestmark = [pytest.mark.redis, pytest.mark.skipif(not have_redis_server(), reason="redis-server not installed")]


def test_frozen_redis_gives_degraded_decisions_within_the_budget_on_every_thread():
    events = synthetic().to_records()[:80]
    with RedisServer() as srv:
        client = redis.Redis(port=srv.port, socket_timeout=5, socket_connect_timeout=5)  # slow defaults...
        store = fs.RedisStore(client, prefix="fs:budget:")
        sc = fs.Scorer(small_bundle(), SECRET, store=store, degrade=True, latency_budget_ms=100)  # ...bounded
        for ev in events[:20]:
            assert not sc.score(ev).degraded
        inflight, peak, lock = [0], [0], threading.Lock()
        real = store._execute

        def counting(calls):
            with lock:
                inflight[0] += 1
                peak[0] = max(peak[0], inflight[0])
            try:
                return real(calls)
            finally:
                with lock:
                    inflight[0] -= 1

        store._execute = counting
        durations, decisions = [], []

        def work(k):
            for ev in events[20 + k * 5: 25 + k * 5]:
                t0 = time.monotonic()
                d = sc.score(ev)
                with lock:
                    durations.append(time.monotonic() - t0)
                    decisions.append(d)

        srv.freeze()
        try:
            threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            total = time.monotonic() - t0
        finally:
            srv.thaw()
        assert len(decisions) == 20 and all(d.degraded for d in decisions)
        assert all(d.reasons[-1].code == "SYS_DEGRADED" for d in decisions)
        assert max(durations) < 3.0 and total < 30.0  # bounded waits (about 0.1 s each), never 15 s
        assert peak[0] >= 2  # threads waited on their own calls at the same time: no scorer-wide lock
        for ev in events[40:50]:  # the server is back: scoring resumes
            assert not sc.score(ev).degraded


def test_latency_budget_is_validated():
    with pytest.raises(ConfigError, match="latency_budget_ms"):
        fs.Scorer(small_bundle(), SECRET, latency_budget_ms=0)
    sc = fs.Scorer(small_bundle(), SECRET, latency_budget_ms=50)  # the memory store has no network call
    assert sc.latency_budget_ms == 50.0 and not sc.score(synthetic().to_records()[0]).degraded
