"""The Redis link state gives the same links as the memory state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraudscore.errors import ConfigError, StoreError
from fraudscore.fingerprint import (
    DeviceLinker,
    Fingerprinter,
    MemoryLinkState,
    RedisLinkState,
)
from fraudscore.fingerprint.linker import COMMON_POPULARITY
from fraudscore.fingerprint.linkstate_redis import confidence_band
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
    from fraudscore.fingerprint.linkstate_redis_ops import decode_record

    for st in [st_ for st_, _ in stores] + [solo]:  # a record's parsed form (kept through touches) is its value's
        parsed = [(raw, rec) for raw, rec in st.link_state()._cache.values() if rec is not None]
        # (the same fields in the same order, with the same types: repr tells 1 from 1.0 and True)
        assert parsed and all(repr(rec) == repr(decode_record(raw)) for raw, rec in parsed)


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
    a few tries, nothing raises, and every device a committed decision counted is counted once."""
    import threading

    from fraudscore.velocity import RedisStore

    s = simulate("mixed", n_devices=30, days=10, seed=13)
    stream = list(zip(s.devices, s.ts.tolist(), s.ip_prefix.tolist()))[:160]
    plan = _count_plan()
    errors: list[BaseException] = []
    stores = []
    committed: list = []

    def work(w: int) -> None:
        st = RedisStore(redis_client.__class__(connection_pool=redis_client.connection_pool), prefix=redis_prefix)
        st.bind(plan)
        stores.append(st)
        linker = DeviceLinker(st.link_state())
        decided: list = []
        decide = linker.link

        def link(fp, ts, ip=None):  # the last decision of an event is the one its commit applied
            decided.append(decide(fp, ts, ip))
            return decided[-1]

        linker.link = link
        try:
            for i in range(w, len(stream), 4):
                dev, t, ip = stream[i]
                st.apply_event(plan, {"application_id": f"A{i}", "ts": t, "ip_prefix": ip}, t, linker,
                               FPR.fingerprint(dev))
                committed.append(decided[-1])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[0]
    assert sum(st.round_trips.phases for st in stores) > len(stream)  # conflicts happened
    # the family device counts are exactly the devices the committed decisions counted. (Not the number of device
    # records: events of different workers commit out of time order, and some serial out-of-order runs of the memory
    # state too create a class record without counting a device.)
    assert len(committed) == len(stream)
    fam_n = sum(int(redis_client.hget(k, "n") or 0) for k in redis_client.scan_iter(match=f"{redis_prefix}f*"))
    assert fam_n == sum(r.new for r in committed) > 0
    assert not list(redis_client.scan_iter(match=f"{redis_prefix}k*"))  # every lease was released


# -- the count dependency: a popularity band instead of exact count checks -----------------------------------



def _conf(pop, x, floor):
    return round(min(1.0, x / max(pop, floor)), 3)


@given(pop=st.one_of(st.floats(1.0, 1.01), st.floats(1.0, 60.0), st.sampled_from([1.0, 2.0, COMMON_POPULARITY])),
       x=st.one_of(st.just(1.0), st.floats(0.0, 1.0)), floor=st.sampled_from([1.0, 2.0]), split=st.booleans(),
       t=st.floats(0.0, 1.0))
def test_every_popularity_in_the_band_gives_the_same_outcome(pop, x, floor, split, t):
    """The band holds the popularity, and every popularity in it gives the same rounded confidence and, when the
    plan splits at COMMON_POPULARITY, the same side of it."""
    conf = _conf(pop, x, floor)
    lo, hi = confidence_band(pop, x, floor, split, conf)
    assert lo <= pop <= hi
    for p in (lo, hi, pop + (hi - pop) * t if hi != float("inf") else pop * (1 + 100 * t),
              pop - (pop - lo) * t if lo != float("-inf") else pop - 100 * t):
        assert _conf(p, x, floor) == conf
        if split:
            assert (p >= COMMON_POPULARITY) == (pop >= COMMON_POPULARITY)
    assert confidence_band(pop, x, floor, split, round(conf + 0.001, 3)) is None  # not its outcome


@pytest.mark.redis
def test_the_script_computes_the_linkers_popularity_bit_for_bit(redis_client):
    """The event script's popularity (POPULARITY_LUA) equals DeviceLinker._popularity to the last bit, on random
    counts, device numbers, known/unknown, mobile prior and global factors."""
    import random
    import struct

    from fraudscore.velocity.redis_args import BAND
    from fraudscore.velocity.redis_lua import POPULARITY_LUA

    linker = DeviceLinker()
    script = redis_client.register_script(
        POPULARITY_LUA + "local counts = {}\nfor i = 2, #ARGV do counts[i - 1] = tonumber(ARGV[i]) end\n"
        "local pop = popularity(counts, ARGV[1])\nreturn struct.pack('<d', pop)")
    rng = random.Random(7)
    fps = [FPR.fingerprint(d) for d in (
        {"os": "android", "model": "M1", "screen": "1080x2400", "timezone": "Asia/Shanghai", "languages": "zh-CN"},
        {"os": "windows", "user_agent": "Mozilla/5.0 Chrome/120", "screen": "1920x1080", "fonts": "Arial,Calibri",
         "timezone": "Europe/Berlin", "canvas": "c1"},
        {"os": "ios", "idfv": "X", "screen": "1170x2532"})]
    for i in range(300):
        fp = fps[i % len(fps)]
        keys = linker.pop_keys(fp)
        fam_n = rng.choice([0, 1, 2, 5, 29, 30, 31, 200, 10_000])
        counts = {k: rng.randint(0, max(fam_n, 1)) for k in keys}
        ndev, known = rng.randint(1, 4), rng.random() < 0.5
        g = rng.choice([1.0, 0.5, rng.random()])
        want = linker._popularity(fp, keys, fam_n, counts, ndev, known, g)
        from fraudscore.fingerprint.linkkeys import _ID_TAGS

        prior = linker.mobile_prior if fp.mobile and not any(fp.components[p] for p, _ in _ID_TAGS) else 0.0
        band = struct.pack(BAND, 1, int(known), float(ndev), g, prior, float(linker.min_family_devices), 0.0, 0.0,
                           1, len(keys)) + struct.pack(f"<{len(keys)}H", *range(2, len(keys) + 2))
        got = struct.unpack("<d", script(keys=[], args=[band, fam_n, *(counts[k] for k in keys)]))[0]
        assert got == want, (i, got, want)


@pytest.mark.redis
def test_threads_commit_with_exact_counts_and_absorb_moves_within_the_band(redis_client, redis_prefix):
    """Four workers (threads, each its own store and cache) link one stream at once: every value count in Redis
    is exactly the sum of the increments of the decisions that committed, and some commits were accepted with
    counts that moved under them (within their popularity band) instead of being refused."""
    import threading

    from fraudscore.fingerprint.linkstate_redis import OptimisticLinkState
    from fraudscore.velocity import RedisStore

    s = simulate("mixed", n_devices=40, days=10, seed=17)
    stream = list(zip(s.devices, s.ts.tolist(), s.ip_prefix.tolist()))[:200]
    plan = _count_plan()
    committed: list[dict] = []
    lock = threading.Lock()
    orig = OptimisticLinkState.applied

    def applied(self, txn, *args):
        with lock:
            committed.append(dict(txn.hincr))
        return orig(self, txn, *args)

    errors: list[BaseException] = []
    stores = []

    def work(w: int) -> None:
        st_ = RedisStore(redis_client.__class__(connection_pool=redis_client.connection_pool), prefix=redis_prefix)
        st_.bind(plan)
        with lock:
            stores.append(st_)
        linker = DeviceLinker(st_.link_state())
        # no read of the counts before deciding (the link read script would hand every decision fresh counts):
        # decisions on cached counts exercise the popularity band at commit
        st_.link_state().preread = None
        try:
            for i in range(w, len(stream), 4):
                dev, t, ip = stream[i]
                st_.apply_event(plan, {"application_id": f"A{i}", "ts": t, "ip_prefix": ip}, t, linker,
                                FPR.fingerprint(dev))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    OptimisticLinkState.applied = applied
    try:
        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        OptimisticLinkState.applied = orig
    assert not errors, errors[0]
    assert len(committed) == len(stream)  # each event committed its decision exactly once
    want: dict[tuple[str, str], int] = {}
    for inc in committed:
        for k, d in inc.items():
            want[k] = want.get(k, 0) + d
    got = {(k.decode(), f.decode()): int(v) for k in redis_client.scan_iter(match=f"{redis_prefix}[fg]*")
           for f, v in redis_client.hgetall(k).items()}
    assert got == {k: v for k, v in want.items() if v}
    assert sum(st_.absorbed for st_ in stores) > 0
