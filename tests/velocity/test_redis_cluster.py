"""RedisStore on a Redis Cluster: same features and decisions as the memory store, exactly once per
application id across slots (including a retry after a partial failure), and after a node restart."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import fraudscore as fs
from fraudscore.errors import StoreError
from fraudscore.velocity import MemoryStore, RedisStore
from fraudscore.velocity.reference import reference

from ..helpers import SECRET, small_bundle, synthetic
from .test_parity import FS, assert_same, run_online, streams

pytestmark = pytest.mark.redis_cluster
_COUNTER = itertools.count()


@settings(deadline=None, max_examples=10, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(stream=streams())
def test_cluster_equals_reference_and_memory(redis_cluster, redis_cluster_prefix, stream):
    recs, labels = stream
    store = RedisStore(redis_cluster, prefix=redis_cluster_prefix + f"{next(_COUNTER)}:", shards=16)
    got = run_online(FS, recs, labels, store)
    assert_same(got, reference(FS, recs, labels), "cluster vs reference")
    assert_same(got, run_online(FS, recs, labels, MemoryStore()), "cluster vs memory")


def _decisions(scorer, events):
    return [(d.application_id, d.score, d.action, d.device_id, d.duplicate,
             tuple(np.nan_to_num(list(d.features.values()), nan=-1.0)))
            for d in (scorer.score(ev, return_features=True) for ev in events)]


def test_two_cluster_workers_give_the_serial_memory_decisions(redis_cluster, redis_cluster_prefix):
    """Two workers (stores) alternate on one stream: link conflicts are re-decided, counts are exact."""
    events = synthetic().to_records()[:260]
    mem = _decisions(fs.Scorer(small_bundle(), SECRET), events)
    workers = [fs.Scorer(small_bundle(), SECRET, store=RedisStore(redis_cluster, prefix=redis_cluster_prefix))
               for _ in range(2)]
    for w in workers:  # no fetch of the records a worker never saw: its decisions on a stale cache are refused
        w.store.link_state().fetch = None
    got = []
    for i, ev in enumerate(events):
        got += _decisions(workers[i % 2], [ev])
    assert got == mem
    stores = [w.store for w in workers]
    phases = sum(s.round_trips.phases for s in stores) / len(events)
    assert 1.0 <= phases < 3.0  # one round trip per event, a second one when a link changed elsewhere
    # a worker that had not seen a device decided "new device" on its stale cache; after the conflict it linked
    # the known one, and the slots that counted distinct devices with the first guess were redone
    assert sum(s.replaced for s in stores) > 0
    # the global device count lives in another slot: each worker's increments travel with its next event,
    # so the count plus what is still pending equals the devices counted per family, exactly
    state = stores[0].link_state()
    fam_n = glob_n = 0
    for node in redis_cluster.get_primaries():
        conn = redis_cluster.get_redis_connection(node)
        for k in conn.scan_iter(match=f"{state.prefix}f*", count=1000):
            fam_n += int(conn.hget(k, "n") or 0)
    glob_n = int(redis_cluster.hget(state.global_key, "n") or 0)
    pending = sum(d for s in stores for (k, f), d in s._pending.items() if f == "n")
    assert fam_n > 0 and glob_n + pending == fam_n


def test_two_cluster_workers_fetching_what_they_never_saw(redis_cluster, redis_cluster_prefix):
    """The same with the link state's fetch (records named by a block or entry, candidate blocks while
    contended): the serial memory decisions, fewer refused decisions than events."""
    events = synthetic().to_records()[:200]
    mem = _decisions(fs.Scorer(small_bundle(), SECRET), events)
    workers = [fs.Scorer(small_bundle(), SECRET, store=RedisStore(redis_cluster, prefix=redis_cluster_prefix))
               for _ in range(2)]
    got = []
    for i, ev in enumerate(events):
        got += _decisions(workers[i % 2], [ev])
    assert got == mem
    stores = [w.store for w in workers]
    assert sum(s.link_state().fetches for s in stores) > 0
    assert sum(s.conflicts for s in stores) < len(events) / 4


def test_retry_after_a_partial_failure_applies_only_the_missing_slots(redis_cluster, redis_cluster_prefix,
                                                                      monkeypatch):
    events = synthetic().to_records()[:80]
    store = RedisStore(redis_cluster, prefix=redis_cluster_prefix)
    sc = fs.Scorer(small_bundle(), SECRET, store=store)
    mem = fs.Scorer(small_bundle(), SECRET)
    for ev in events[:60]:
        sc.score(ev)
        mem.score(ev)
    ev = next(e for e in events[60:] if e.get("device"))
    real = store._cluster_send

    def one_slot_fails(commands, tags):  # the first slot's script never runs (its node is unreachable)
        keep = [i for i, t in enumerate(tags) if t != tags[0]]
        got = iter(real([commands[i] for i in keep], [tags[i] for i in keep]))
        return [StoreError("node down") if t == tags[0] else next(got) for t in tags]

    monkeypatch.setattr(store, "_cluster_send", one_slot_fails)
    with pytest.raises(StoreError):
        sc.score(ev)
    monkeypatch.setattr(store, "_cluster_send", real)
    again = sc.score(ev, return_features=True)
    want = mem.score(ev, return_features=True)
    assert not again.duplicate  # one slot had not applied it: this call completed it, the others recalled
    assert again.features == pytest.approx(want.features, nan_ok=True)
    third = sc.score(ev, return_features=True)  # now every slot has its record
    assert third.duplicate and third.features == pytest.approx(want.features, nan_ok=True)
    for e in events[60:]:  # later events see every event counted exactly once
        a, b = sc.score(e, return_features=True), mem.score(e, return_features=True)
        assert a.features == pytest.approx(b.features, nan_ok=True) and a.score == b.score


@pytest.mark.slow
def test_counts_after_a_node_restart_with_aof_equal_a_serial_single_node_run(redis_client, redis_prefix):
    """A primary of an AOF cluster is killed mid-stream; while it is down, events fail (the other primaries
    apply their parts); it restarts from its AOF and every failed event is retried until it succeeds."""
    import time

    from fraudscore.bench.servers import LocalCluster, have_redis_server

    if not have_redis_server():
        pytest.skip("redis-server is not installed")
    events = synthetic().to_records()[:240]
    serial = _decisions(fs.Scorer(small_bundle(), SECRET, store=RedisStore(redis_client, prefix=redis_prefix)),
                        events)
    with LocalCluster(3, appendonly=True, full_coverage=False) as cluster:
        client = cluster.client(socket_timeout=1, socket_connect_timeout=1)
        store = RedisStore(client, prefix="fsrestart:")
        sc = fs.Scorer(small_bundle(), SECRET, store=store)
        got, failed = [], 0
        for i, ev in enumerate(events):
            if i == 120:
                cluster.servers[1].kill()
            for _attempt in range(100):
                try:
                    got += _decisions(sc, [ev])
                    break
                except StoreError:
                    failed += 1
                    if failed == 3:
                        cluster.servers[1].start()  # same port, folder and AOF
                        cluster.wait_ok()
                    time.sleep(0.1)
            else:
                pytest.fail("the cluster did not come back")
    assert failed >= 3  # the events scored while the primary was down failed and were retried
    assert got == serial
