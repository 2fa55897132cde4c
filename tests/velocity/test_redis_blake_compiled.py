"""The compiled one-shot BLAKE2b of the Redis worker path (``_core/redis_blake.h``, round 14) against hashlib.

``hash_bytes`` (the store's identifier hashes) and ``single_groups`` (entity keys, distinct-of hashes) hash with
the compression of ``blake2b_fast.h`` straight from the input; the digest must be hashlib's, bit for bit, with
the scalar and the AVX2 compression, at every length across the block edges, every digest size and
personalisations of every length.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore._redis import hash_bytes_py

core = pytest.importorskip("fraudscore._core.redis_calls")

SIMD_MODES = [0, 1]  # scalar, AVX2 (where the machine has it: _set_simd says which one runs)


@pytest.fixture(params=SIMD_MODES, ids=["scalar", "avx2"])
def simd(request: pytest.FixtureRequest) -> Iterator[int]:
    got = core._set_simd(request.param)
    yield got
    core._set_simd(-1)


def _ref(data: bytes, size: int, person: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=size, person=person).digest()


@pytest.mark.parametrize("n", [0, 1, 2, 63, 64, 126, 127, 128, 129, 255, 256, 257, 383, 384, 385, 1000])
@pytest.mark.parametrize("size", [1, 4, 8, 12, 16, 32, 63, 64])
def test_block_edges(simd: int, n: int, size: int) -> None:
    data = bytes((i * 37 + n) % 256 for i in range(n))
    assert core.hash_bytes(data, size) == _ref(data, size, b"fs-velocity")
    assert core.hash_bytes(data, size, b"fs-shard") == _ref(data, size, b"fs-shard")


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600), size=st.integers(1, 64), person=st.binary(max_size=16))
def test_bytes_equal_hashlib(simd: int, data: bytes, size: int, person: bytes) -> None:
    assert core.hash_bytes(data, size, person) == _ref(data, size, person)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200), size=st.integers(1, 64))
def test_text_equal_reference(simd: int, text: str, size: int) -> None:
    try:
        want = hash_bytes_py(text, size)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            core.hash_bytes(text, size)
        return
    assert core.hash_bytes(text, size) == want


def test_simd_switch() -> None:
    assert core._set_simd(0) == 0
    assert core._set_simd(-1) in (0, 1)
