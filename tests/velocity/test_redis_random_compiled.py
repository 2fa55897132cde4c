"""The compiled pool of link versions and event nonces (``_core/redis_random.h``, round 14) against its reference.

``random_bytes`` (``fraudscore._redis.random_bytes_py``'s contract: ``n`` bytes never handed out before, a forked
child never handing out its parent's next bytes) and ``link_version`` (``linkstate_redis.version_py``: 8 bytes,
neither half all zeros).
"""

from __future__ import annotations

import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

core = pytest.importorskip("fraudscore._core.redis_calls")


@settings(deadline=None, max_examples=50)
@given(ns=st.lists(st.integers(0, 5000), min_size=1, max_size=20))
def test_lengths_as_urandom(ns: list[int]) -> None:
    for n in ns:
        assert len(core.random_bytes(n)) == n


def test_bad_lengths_raise_as_urandom() -> None:
    for bad, exc in ((-1, ValueError), ("8", TypeError)):
        with pytest.raises(exc):
            os.urandom(bad)
        with pytest.raises(exc):
            core.random_bytes(bad)


def test_never_repeated_across_refills_and_threads() -> None:
    seen = [core.random_bytes(8) for _ in range(3000)]  # several 4 KiB refills
    seen += [core.link_version() for _ in range(1500)]
    other: list[bytes] = []
    ths = [threading.Thread(target=lambda: other.extend(core.random_bytes(8) for _ in range(600)))
           for _ in range(4)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    assert len(set(seen + other)) == len(seen) + len(other)


def test_versions_have_no_zero_half() -> None:
    for _ in range(2000):
        v = core.link_version()
        assert type(v) is bytes and len(v) == 8
        assert v[:4] != b"\0\0\0\0" and v[4:] != b"\0\0\0\0"


def test_the_store_uses_the_compiled_pool_when_built() -> None:
    from fraudscore import _redis
    from fraudscore._core import load as load_core
    from fraudscore.fingerprint import linkstate_redis as lr

    if load_core("redis_calls") is None:  # FRAUDSCORE_PURE_PYTHON=1: the references
        assert _redis.random_bytes is _redis.random_bytes_py
        assert lr.OptimisticLinkState._version is lr.version_py
        v = lr.version_py()
        assert len(v) == 8 and v[:4] != b"\0\0\0\0" and v[4:] != b"\0\0\0\0"
    else:
        assert _redis.random_bytes is core.random_bytes
        assert lr.OptimisticLinkState._version is core.link_version


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_forked_child_has_its_own_pool() -> None:
    core.random_bytes(8)  # a pool with bytes left
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(w, core.random_bytes(8) + core.link_version())
        os._exit(0)
    os.close(w)
    child = os.read(r, 16)
    os.close(r)
    os.waitpid(pid, 0)
    assert len(child) == 16
    assert child[:8] != core.random_bytes(8)  # the parent's next bytes are not the child's
