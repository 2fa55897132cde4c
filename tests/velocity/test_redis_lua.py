"""The event script's Lua helpers against their Python references (run on a real redis-server)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore.velocity.redis_lua import BLOCK_FRONT_LUA, UNPACK_ALL_LUA

pytestmark = pytest.mark.redis

_CALL = BLOCK_FRONT_LUA + r"""
local v = ARGV[1]
if ARGV[6] == '1' then v = false end
local ver, nb = block_front(v, ARGV[2], #ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]))
if not nb then return {'none'} end
return {ver, nb}
"""


def _reference(v: bytes | None, did: bytes, nv: bytes, stamp: bytes, cap: int) -> tuple[bytes, bytes]:
    """The id-by-id move (the script's ``string.gmatch`` loop): ``did`` first, the other non-empty ids in order
    up to ``cap`` in all, the block's version kept when ``did`` was in it."""
    out, ver = [did], nv
    if v is not None and len(v) > 8:
        for i in (x for x in v[8:].split(b",") if x):
            if i == did:
                ver = v[:4]
            elif len(out) < cap:
                out.append(i)
    return ver, ver + stamp + b",".join(out)


_IDS = st.sampled_from([b"d_a", b"d_b", b"d_ab", b"a", b"b_d_a", b"d_a_1", b""])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(_IDS, max_size=8), did=_IDS, cap=st.integers(0, 6), absent=st.booleans(),
       short=st.booleans())
def test_block_front_equals_id_by_id(redis_client, ids, did, cap, absent, short):
    head, nv, stamp = b"VVVVSSSS", b"NNNN", b"TTTT"
    v = None if absent else (b"VVVV" if short else head + b",".join(ids))
    got = redis_client.eval(_CALL, 0, v or b"", did, nv, stamp, cap, "1" if v is None else "0")
    if got == [b"none"]:  # left to the id-by-id loop: an empty id, did twice or empty
        assert did == b"" or b"" in ids or ids.count(did) > 1
        return
    assert tuple(got) == _reference(v, did, nv, stamp, cap)


_UNPACK = UNPACK_ALL_LUA + r"""
local t = unpack_all(ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])
for i = 1, #t do t[i] = tostring(t[i]) end
return t
"""


@pytest.mark.parametrize("n", [0, 1, 7, 666, 667, 1500])
def test_unpack_all_one_call_and_item_by_item(redis_client, n):
    """Up to 2000 values in one ``struct.unpack``, item by item above: the same flat values either way."""
    items = [(i % 7 + 1, f"f{i}".encode(), float(i * 3) + 0.5) for i in range(n)]
    blob = b"".join(struct.pack("<HH", k, len(f)) + f + struct.pack("<d", v) for k, f, v in items)
    got = redis_client.eval(_UNPACK, 0, "HHc0d", 3, n, blob)
    want = [x for k, f, v in items for x in (str(k).encode(), f, ("%.14g" % v).encode())]
    assert got[:len(want)] == want  # (one call also leaves the next position after the values)
