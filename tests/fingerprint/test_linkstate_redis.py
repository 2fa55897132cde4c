"""The Redis link state gives the same links as the memory state."""

from __future__ import annotations

import pytest

from fraudscore.errors import ConfigError, StoreError
from fraudscore.fingerprint import DeviceLinker, Fingerprinter, MemoryLinkState, RedisLinkState
from fraudscore.keys import Keys

FPR = Fingerprinter(Keys(b"test-secret-for-fingerprints-0001"))


def _sample():
    devices = pytest.importorskip("fraudscore.synth.devices")
    return devices.simulate_drift(n_devices=60, observations_per_device=5, drift_rate=0.4, seed=5)


@pytest.mark.redis
def test_redis_state_matches_memory_state(redis_client, redis_prefix):
    s = _sample()
    mem = DeviceLinker(MemoryLinkState())
    red = DeviceLinker(RedisLinkState(redis_client, prefix=redis_prefix))
    for dev, t in zip(s.devices, s.ts):
        fp = FPR.fingerprint(dev)
        a, b = mem.link(fp, int(t)), red.link(fp, int(t))
        assert a == b
    keys = list(redis_client.scan_iter(match=f"{redis_prefix}*"))
    assert keys and all(redis_client.pttl(k) > 0 for k in keys[:50])
    raw_ids = {d.get("android_id") for d in s.devices} | {d.get("idfv") for d in s.devices}
    for k in keys[:200]:  # only keyed hashes are stored, never a raw attribute
        blob = (redis_client.get(k) if redis_client.type(k) == b"string" else b"").decode("utf-8", "replace")
        assert not any(r and r.lower() in blob.lower() for r in raw_ids)


def test_redis_state_errors_are_store_errors():
    class Broken:
        def pipeline(self, transaction=False):
            raise ConnectionError("down")

        def mget(self, keys):
            raise ConnectionError("down")

        def get(self, key):
            raise ConnectionError("down")

    lk = DeviceLinker(RedisLinkState(Broken(), prefix="x"))
    with pytest.raises(StoreError, match="Redis link state failed"):
        lk.link(FPR.fingerprint({"os": "ios", "idfv": "A"}), 1)
    with pytest.raises(ConfigError):
        RedisLinkState(None)


@pytest.mark.redis
def test_a_commit_on_stale_reads_is_refused(redis_client, redis_prefix):
    """The version check: a decision made on reads another writer changed since is not applied."""
    fp = FPR.fingerprint({"os": "android", "model": "M1", "manufacturer": "X", "android_id": "abc123"})
    a = RedisLinkState(redis_client, prefix=redis_prefix)
    b = RedisLinkState(redis_client, prefix=redis_prefix)
    ids, blocks = (fp.id,), fp.link_keys
    assert a.lookup(ids, blocks, 1_000) == (None, [])  # a reads: nothing there yet
    DeviceLinker(b).link(fp, 1_000)  # b links the device meanwhile
    record = {"id": "d_x_1", "fp": fp.id, "hw": fp.hardware, "bf": None, "ov": None, "bv": None, "av": None,
              "c": list(fp.components), "f": 1_000, "t": 1_000, "n": 1}
    with pytest.raises(StoreError, match="changed concurrently"):
        a.commit(record, ids, blocks, 1_000)
    assert DeviceLinker(a).link(fp, 2_000).how == "exact"  # linking again reads the fresh state
