"""The Redis store's round trips: one link read before a decision (LINK_READ_LUA) and the direct connection."""

from __future__ import annotations

import threading
import uuid

import pytest

import fraudscore as fs
from fraudscore._redis import DirectConnection, Script, tag
from fraudscore.fingerprint.linkstate_redis_read import _KNOWN, LINK_READ_LUA
from fraudscore.velocity import RedisStore

from ..helpers import SECRET, small_bundle, synthetic


def _decisions(scorer, events):
    return [(d.application_id, d.score, d.action, d.device_id, d.duplicate) for d in map(scorer.score, events)]


def _alternate(workers, events):
    """Workers take turns; per event: (round trips, refused link decisions) of the worker that scored it."""
    got, per_event = [], []
    for i, ev in enumerate(events):
        st = workers[i % len(workers)].store
        p0, c0 = st.round_trips.phases, st.conflicts
        got += _decisions(workers[i % len(workers)], [ev])
        per_event.append((st.round_trips.phases - p0, st.conflicts - c0))
    return got, per_event


@pytest.mark.redis
def test_workers_sharing_link_state_take_two_round_trips_per_event(redis_client, redis_prefix):
    """Two workers alternate: a worker reads what it may have stale in one request, then commits; a third round
    trip only follows a refused commit. The decisions are the serial memory ones."""
    events = synthetic().to_records()[:240]
    want = _decisions(fs.Scorer(small_bundle(), SECRET), events)
    workers = [fs.Scorer(small_bundle(), SECRET, store=RedisStore(redis_client, prefix=redis_prefix))
               for _ in range(2)]
    got, per_event = _alternate(workers, events)
    assert got == want
    # each attempt: at most one read and one commit
    assert all(trips <= 2 * (1 + refused) for trips, refused in per_event)
    assert sum(t for t, _ in per_event) / len(events) <= 2.1
    assert sum(r for _, r in per_event) / len(events) < 0.1
    assert sum(w.store.link_state().fetches for w in workers) > 0


@pytest.mark.redis
def test_one_worker_alone_never_reads_before_deciding(redis_client, redis_prefix):
    events = synthetic().to_records()[:150]
    sc = fs.Scorer(small_bundle(), SECRET, store=RedisStore(redis_client, prefix=redis_prefix))
    for ev in events:
        sc.score(ev)
    assert sc.store.round_trips.per_event() == 1.0
    assert sc.store.link_state().fetches == 0


@pytest.mark.redis_cluster
def test_cluster_workers_read_once_per_decision(redis_cluster, redis_cluster_prefix):
    events = synthetic().to_records()[:160]
    want = _decisions(fs.Scorer(small_bundle(), SECRET), events)
    workers = [fs.Scorer(small_bundle(), SECRET, store=RedisStore(redis_cluster, prefix=redis_cluster_prefix))
               for _ in range(2)]
    got, per_event = _alternate(workers, events)
    assert got == want
    # a cluster event may take a second commit phase when its device link changed a slot's device context
    assert all(trips <= 3 * (1 + refused) for trips, refused in per_event)
    assert sum(w.store.link_state().fetches for w in workers) > 0


@pytest.mark.redis
def test_link_read_script_returns_blocks_records_and_counts(redis_client, redis_prefix):
    p = redis_prefix
    t = tag(p, 5)
    head_a, head_b = b"AAAAaaaa", b"BBBBbbbb"
    fam = "fam1"
    redis_client.set(f"{p}x{t}:fp1", b"V000S000" + b"d_fam1_a|2")
    redis_client.set(f"{p}b{t}:blk", b"V001S001" + b"d_fam1_b,d_fam1_a,d_fam2_z,plain,d_fam1_gone")
    redis_client.set(f"{p}r{t}:d_fam1_a", head_a + b"rec-a")
    redis_client.set(f"{p}r{t}:d_fam1_b", head_b + b"rec-b")
    redis_client.set(f"{p}r{t}:plain", b"PPPPpppp" + b"rec-p")
    redis_client.hset(f"{p}f{t}:{fam}", mapping={"n": 7, "17": 3})
    known = b"".join(_KNOWN.pack(len(d)) + d + h for d, h in ((b"d_fam1_a", head_a), (b"d_fam1_b", b"BBBBxxxx")))
    keys = [f"{p}x{t}:fp1", f"{p}x{t}:absent", f"{p}b{t}:blk", f"{p}f{t}:{fam}"]
    vals, dids, recs, counts = redis_client.eval(LINK_READ_LUA, len(keys), *keys, f"{p}r{t}:", fam, known,
                                                 "n,17,99", 2)
    assert vals == [b"V000S000d_fam1_a|2", None, b"V001S001d_fam1_b,d_fam1_a,d_fam2_z,plain,d_fam1_gone"]
    # another family's device lives in another shard: left to the caller
    assert dids == [b"d_fam1_a", b"d_fam1_b", b"plain", b"d_fam1_gone"]
    # a: the caller's head is current (''); b: its head is stale (the value); gone: absent
    assert recs == [b"", head_b + b"rec-b", b"PPPPppppprec-p"[:8] + b"rec-p", None]
    assert counts == [b"7", b"3", None]


@pytest.mark.redis
def test_direct_connection_per_thread_reconnects_and_loads_scripts(redis_client):
    d = DirectConnection()
    assert d.call(redis_client, "PING") in (b"PONG", True)
    me = d.call(redis_client, "CLIENT", "ID")
    assert d.call(redis_client, "CLIENT", "ID") == me  # the same connection on every call of a thread
    other: list = []
    th = threading.Thread(target=lambda: other.append(d.call(redis_client, "CLIENT", "ID")))
    th.start()
    th.join()
    assert other and other[0] != me
    redis_client.client_kill_filter(_id=me)  # the connection drops while idle: the next call reconnects
    assert d.call(redis_client, "PING") in (b"PONG", True)
    assert d.call(redis_client, "CLIENT", "ID") != me
    script = Script(f"return ARGV[1] .. '-{uuid.uuid4().hex}'")  # never loaded: NOSCRIPT, loaded, run
    assert script.direct(d, redis_client, [], ["x"]).startswith(b"x-")
    d.close()


@pytest.mark.redis
def test_direct_connection_repairs_an_idle_connection_the_server_closed(redis_client):
    """Even without client-side retries (a latency budget): as the pool does when it hands out a connection."""
    from fraudscore.velocity.redis_wire import budget_client

    client = budget_client(redis_client, 2000)
    d = DirectConnection()
    me = d.call(client, "CLIENT", "ID")
    redis_client.client_kill_filter(_id=me)
    assert d.call(client, "PING") in (b"PONG", True)
    client.close()
    # a server that is down stays an error (a redis-py ConnectionError; the store turns it into a StoreError)
    import redis

    dead = redis.Redis(port=1, socket_connect_timeout=0.2)
    with pytest.raises(redis.ConnectionError):
        d.call(dead, "PING")
