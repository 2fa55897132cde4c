"""The keys primed for a Redis-path link decision (``linkstate_redis_keys.prime_keys``) == ``DeviceLinker._keys``
of the pure-Python linker; nothing primed where the compiled entry is not in use (no server needed)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore.fingerprint import DeviceLinker, Fingerprinter, MemoryLinkState
from fraudscore.fingerprint.linkstate_redis_keys import prime_keys
from fraudscore.keys import Keys
from tests.fingerprint.test_linkstate_compiled import device
from tests.helpers import compiled_core, pure_python

core = compiled_core("linkstate", "the compiled link state")
FPR = Fingerprinter(Keys(b"0123456789abcdef-test-secret"))


def _reference(fp):
    with pure_python():
        linker = DeviceLinker(MemoryLinkState())
    assert linker._link_entry is None
    return linker._keys(fp)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(device(), min_size=1, max_size=4))
def test_primed_keys_are_the_reference(devs):
    linker = DeviceLinker(MemoryLinkState())
    for d in devs:
        fp = FPR.fingerprint(d)
        prime_keys(linker, fp)
        assert fp.id in linker._key_memo
        assert linker._keys(fp) == _reference(fp)


def test_nothing_primed_without_the_compiled_entry():
    fp = FPR.fingerprint({"os": "android", "model": "X1", "screen": "1080x2400"})
    with pure_python():
        plain = DeviceLinker(MemoryLinkState())
    prime_keys(plain, fp)
    assert plain._key_memo == {}

    class Sub(DeviceLinker):
        pass

    sub = Sub(MemoryLinkState())
    prime_keys(sub, fp)
    assert sub._key_memo == {}


def test_a_known_id_is_left_to_the_linker():
    fp = FPR.fingerprint({"os": "android", "model": "X1", "screen": "1080x2400"})
    linker = DeviceLinker(MemoryLinkState())
    linker._key_memo[fp.id] = sentinel = ("not", "keys")
    prime_keys(linker, fp)
    assert linker._key_memo[fp.id] is sentinel
