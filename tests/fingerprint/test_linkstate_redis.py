"""The Redis link state gives the same links as the memory state."""

from __future__ import annotations

import pytest

from fraudscore.errors import ConfigError, StoreError
from fraudscore.fingerprint import DeviceLinker, Fingerprinter, MemoryLinkState, RedisLinkState
from fraudscore.fingerprint.simulate import simulate
from fraudscore.keys import Keys

FPR = Fingerprinter(Keys(b"test-secret-for-fingerprints-0001"))


@pytest.mark.redis
def test_redis_state_matches_memory_state(redis_client, redis_prefix):
    s = simulate("mixed", n_devices=60, days=30, seed=5)
    mem = DeviceLinker(MemoryLinkState())
    red = DeviceLinker(RedisLinkState(redis_client, prefix=redis_prefix))
    for dev, t, ip in zip(s.devices, s.ts.tolist(), s.ip_prefix.tolist()):
        fp = FPR.fingerprint(dev)
        a, b = mem.link(fp, t, ip), red.link(fp, t, ip)
        assert a == b
    keys = list(redis_client.scan_iter(match=f"{redis_prefix}:*"))
    assert keys and all(redis_client.pttl(k) > 0 for k in keys[:50])
    raw = {d.get("android_id") for d in s.devices} | {d.get("idfv") for d in s.devices}
    for k in keys[:200]:  # only keyed hashes are stored, never a raw attribute
        blob = (redis_client.get(k) if redis_client.type(k) == b"string" else b"").decode()
        assert not any(r and r.lower() in blob.lower() for r in raw)


def test_redis_state_errors_are_store_errors():
    class Broken:
        def pipeline(self, transaction=False):
            raise ConnectionError("down")

        def mget(self, keys):
            raise ConnectionError("down")

    lk = DeviceLinker(RedisLinkState(Broken(), prefix="x"))
    with pytest.raises(StoreError, match="Redis link state failed"):
        lk.link(FPR.fingerprint({"os": "ios", "idfv": "A"}), 1)
    with pytest.raises(ConfigError):
        RedisLinkState(None)


def _store_links(stores, stream, plan):
    """Link every event of ``stream`` through the stores' one script per event, the stores taking turns."""
    out = []
    for i, (dev, t, ip) in enumerate(stream):
        store, linker = stores[i % len(stores)]
        rec = {"application_id": f"A{i}", "ts": t, "ip_prefix": ip}
        applied = store.apply_event(plan, rec, t, linker, FPR.fingerprint(dev))
        out.append(applied.link)
    return out


@pytest.mark.redis
def test_store_link_state_with_stale_worker_caches_gives_the_serial_links(redis_client, redis_prefix):
    """Three workers (stores) on one drifting stream: each decides on its own cache (often stale), the event
    script refuses a decision whose reads (versions and value counts) changed, the worker decides again;
    the links are those of one memory state, the device counts in Redis are exact, one worker alone never
    conflicts."""
    from fraudscore.fingerprint import MIN_LINK_CONFIDENCE
    from fraudscore.velocity import FeatureSet, FeatureSpec, RedisStore
    from fraudscore.velocity.plan import Plan

    s = simulate("mixed", n_devices=40, days=20, seed=11)
    stream = list(zip(s.devices, s.ts.tolist(), s.ip_prefix.tolist()))[:240]
    plan = Plan(FeatureSet([FeatureSpec("count", key="device_id", window="7d")]))
    mem = DeviceLinker(MemoryLinkState())
    want = []
    for dev, t, ip in stream:
        r = mem.link(FPR.fingerprint(dev), t, ip)
        want.append((r.device_id if r.link_confidence >= MIN_LINK_CONFIDENCE else None, r.link_confidence))
    stores = []
    for _ in range(3):
        st = RedisStore(redis_client, prefix=redis_prefix)
        st.bind(plan)
        stores.append((st, DeviceLinker(st.link_state())))
    assert _store_links(stores, stream, plan) == want
    assert sum(st.round_trips.phases for st, _ in stores) > len(stream)  # stale caches were refused and redone
    fam_n = sum(int(redis_client.hget(k, "n") or 0) for k in redis_client.scan_iter(match=f"{redis_prefix}f*"))
    assert fam_n == sum(1 for d in mem.state._devices.values())  # one count per device created, none twice
    solo = RedisStore(redis_client, prefix=redis_prefix + "solo:")
    solo.bind(plan)
    assert _store_links([(solo, DeviceLinker(solo.link_state()))], stream, plan) == want
    assert solo.round_trips.per_event() == 1.0


@pytest.mark.redis
def test_store_value_counts_equal_the_memory_state(redis_client, redis_prefix):
    """The event script reads the count hashes with one HMGET each and writes the increments of the fields it
    read with one HSET: every family and global count in Redis equals the memory state's after workers with
    stale caches (refused and redone decisions) linked one stream."""
    from fraudscore._redis import tag
    from fraudscore.velocity import FeatureSet, FeatureSpec, RedisStore
    from fraudscore.velocity.plan import Plan

    s = simulate("mixed", n_devices=30, days=15, seed=23)
    stream = list(zip(s.devices, s.ts.tolist(), s.ip_prefix.tolist()))[:150]
    plan = Plan(FeatureSet([FeatureSpec("count", key="device_id", window="7d")]))
    mem = DeviceLinker(MemoryLinkState())
    for dev, t, ip in stream:
        mem.link(FPR.fingerprint(dev), t, ip)
    stores = []
    for _ in range(2):
        st = RedisStore(redis_client, prefix=redis_prefix)
        st.bind(plan)
        stores.append((st, DeviceLinker(st.link_state())))
    _store_links(stores, stream, plan)
    ls = stores[0][0].link_state()
    assert mem.state._fam and any(c for _n, c in mem.state._fam.values())  # value counts, not only devices
    for fam, (n, counts) in mem.state._fam.items():
        got = redis_client.hgetall(f"{redis_prefix}f{tag(redis_prefix, ls.shard(fam))}:{fam}")
        want = {b"n": n, **{str(k).encode(): v for k, v in counts.items()}}
        assert {k: int(v) for k, v in got.items() if int(v) or k == b"n"} == {k: v for k, v in want.items()
                                                                              if v or k == b"n"}
    g = {k: int(v) for k, v in redis_client.hgetall(ls.global_key).items()}
    assert g.get(b"n", 0) == mem.state._glob[0]
    assert {k: v for k, v in g.items() if k != b"n"} == {str(k).encode(): v for k, v in mem.state._glob[1].items()}


def _count_plan():
    from fraudscore.velocity import FeatureSet, FeatureSpec
    from fraudscore.velocity.plan import Plan

    return Plan(FeatureSet([FeatureSpec("count", key="device_id", window="7d")]))


@pytest.mark.redis
def test_a_link_call_waits_while_another_worker_holds_the_link_lease(redis_client, redis_prefix):
    """A lease held by another event (a foreign nonce) makes the script answer 'busy' and change nothing; the
    worker sends the call again until the lease expires, then commits the serial link."""
    from fraudscore._redis import tag
    from fraudscore.fingerprint import MIN_LINK_CONFIDENCE
    from fraudscore.velocity import RedisStore

    s = simulate("mixed", n_devices=10, days=5, seed=3)
    stream = list(zip(s.devices, s.ts.tolist(), s.ip_prefix.tolist()))[:12]
    plan = _count_plan()
    mem = DeviceLinker(MemoryLinkState())
    want = []
    for dev, t, ip in stream:
        r = mem.link(FPR.fingerprint(dev), t, ip)
        want.append((r.device_id if r.link_confidence >= MIN_LINK_CONFIDENCE else None, r.link_confidence))
    st = RedisStore(redis_client, prefix=redis_prefix)
    st.bind(plan)
    worker = (st, DeviceLinker(st.link_state()))
    lease = f"{redis_prefix}k{tag(redis_prefix, 0)}"

    def link(i: int) -> tuple:
        dev, t, ip = stream[i]
        return st.apply_event(plan, {"application_id": f"A{i}", "ts": t, "ip_prefix": ip}, t, worker[1],
                              FPR.fingerprint(dev)).link

    got = [link(i) for i in range(6)]
    assert st.round_trips.per_event() == 1.0
    redis_client.set(lease, b"someone!", px=150)
    got.append(link(6))
    assert st.round_trips.phases > 7  # 'busy' answers while the lease lived, then the commit
    got += [link(i) for i in range(7, len(stream))]
    assert got == want
    assert redis_client.get(lease) is None


@pytest.mark.redis
def test_workers_on_hot_link_state_all_commit(redis_client, redis_prefix):
    """Four threads, each a worker with its own store, link one family-heavy stream at once: every decision
    conflicts often (the family's value counts change under it), the link lease lets each event commit after
    a few tries, nothing raises, and every device is counted once."""
    import threading

    from fraudscore.velocity import RedisStore

    s = simulate("mixed", n_devices=30, days=10, seed=13)
    stream = list(zip(s.devices, s.ts.tolist(), s.ip_prefix.tolist()))[:160]
    plan = _count_plan()
    errors: list[BaseException] = []
    stores = []

    def work(w: int) -> None:
        st = RedisStore(redis_client.__class__(connection_pool=redis_client.connection_pool), prefix=redis_prefix)
        st.bind(plan)
        stores.append(st)
        linker = DeviceLinker(st.link_state())
        try:
            for i in range(w, len(stream), 4):
                dev, t, ip = stream[i]
                st.apply_event(plan, {"application_id": f"A{i}", "ts": t, "ip_prefix": ip}, t, linker,
                               FPR.fingerprint(dev))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[0]
    assert sum(st.round_trips.phases for st in stores) > len(stream)  # conflicts happened
    devices = {k for k in redis_client.scan_iter(match=f"{redis_prefix}r*")}
    fam_n = sum(int(redis_client.hget(k, "n") or 0) for k in redis_client.scan_iter(match=f"{redis_prefix}f*"))
    assert fam_n == len(devices) > 0
    assert not list(redis_client.scan_iter(match=f"{redis_prefix}k*"))  # every lease was released
