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
