"""The Redis link state's one read before a decision: entries, candidate blocks, the records they name, counts.

:class:`~fraudscore.fingerprint.linkstate_redis.OptimisticLinkState` decides from
a worker-local cache. When the cache may be stale (the worker's commits were
refused lately) or misses a record an entry or block names, :func:`read_all`
reads everything the decision may need in one request (:data:`LINK_READ_LUA`,
run by the store in the link keys' slot): the fingerprint's exact entries, its
candidate blocks, the records both name (a record whose head the worker already
holds comes back as ``''``) and the family's value counts. The decision then
runs on the fresh cache and the event's script commits it: two round trips.

Examples
--------
>>> _KNOWN.pack(3) + b"d_1" + b"VVVVSSSS"
b'\\x03\\x00d_1VVVVSSSS'
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from .linkstate_redis_ops import _V

__all__ = ["LINK_READ_LUA", "read_all"]

_KNOWN = struct.Struct("<H")  # LINK_READ_LUA's cached heads: the device id's length (then the id and head)

#: One read of what a link decision may need, before deciding (one round trip): the values of the exact
#: entries and candidate blocks (``KEYS[1..n]``), the records they name that live in this hash tag, and the
#: family's value counts. KEYS: entries and blocks, then the family's count hash. ARGV[1]: the record key
#: prefix of the tag (``<prefix>r{..}:``); ARGV[2]: the family (device ids ``d_<family>_<suffix>`` and ids of
#: another form live in the tag; ``d_<other family>_..`` ids are left to the caller); ARGV[3]: the heads the
#: caller has cached, ``<H`` length + device id + 8-byte head each (an unchanged record comes back as ``''``);
#: ARGV[4]: the count fields, comma-joined; ARGV[5]: how many of the keys are exact entries (the rest are
#: blocks). Reply: the entries' and blocks' values, the device ids, their
#: records (``false``: absent, ``''``: the caller's cached value is current), the counts. Reads only; the
#: record keys are not declared (they share the tag's slot, which Redis Cluster allows).
LINK_READ_LUA = r"""
local sub, unpack_ = string.sub, struct.unpack
local rpre, fam, known, fields, nx = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local nk = #KEYS - 1
local kh = {}
local pos = 1
while pos <= #known do
  local d, h
  d, h, pos = unpack_('<Hc0c8', known, pos)
  kh[d] = h
end
local mk = {}
for i = 1, nk do mk[i] = KEYS[i] end
local vals = redis.call('MGET', unpack(mk))
local dids, seen = {}, {}
local function add(d)
  if d == nil or d == '' or seen[d] then return end
  seen[d] = true
  if sub(d, 1, 2) == 'd_' then
    local i = string.find(d, '_[^_]*$', 3)
    if i and sub(d, 3, i - 1) ~= fam then return end
  end
  dids[#dids + 1] = d
end
for i = 1, nk do
  local v = vals[i]
  if v and #v > 8 then
    local body = sub(v, 9)
    if i <= nx then add(string.match(body, '^(.*)|[^|]*$'))
    else for id in string.gmatch(body, '[^,]+') do add(id) end end
  end
end
local recs = {}
if #dids > 0 then
  local rk = {}
  for i = 1, #dids do rk[i] = rpre .. dids[i] end
  recs = redis.call('MGET', unpack(rk))
  for i = 1, #dids do
    local v = recs[i]
    if v and kh[dids[i]] == sub(v, 1, 8) then recs[i] = '' end
  end
end
local counts = {}
if #fields > 0 then
  local names = {}
  for f in string.gmatch(fields, '[^,]+') do names[#names + 1] = f end
  counts = redis.call('HMGET', KEYS[#KEYS], unpack(names))
end
return {vals, dids, recs, counts}
"""


def read_all(state: Any, txn: Any, fp_ids: Sequence[str], block_keys: Sequence[str], fam: str,
              fam_keys: Sequence[int], shared_key: str | None) -> int:
    """One request (:data:`~.linkstate_redis_ops.LINK_READ_LUA`): the exact entries, the candidate blocks,
    the records they name (unchanged ones are not sent again) and the family's counts, into the cache;
    returns how many entries, blocks and records had another content version than the cached one."""
    assert state.preread is not None
    xkeys = [state._key("x", f) for f in fp_ids]
    if shared_key is not None:
        xkeys.append(state._key("x", shared_key))
    keys = xkeys + [state._key("b", b) for b in block_keys]
    fk = state._key("f", fam)
    fields = ["n", *(str(k) for k in fam_keys)]
    known: dict[str, bytes] = {}
    cache = state._cache
    with state._lock:
        for i, k in enumerate(keys):
            hit = cache.get(k)
            raw = hit[0] if hit is not None else None
            if raw is None or len(raw) <= _V:
                continue
            body = raw[_V:].decode("utf-8")
            for did in ((body.rpartition("|")[0],) if i < len(xkeys) else body.split(",")):
                if did in known:
                    continue
                rh = cache.get(state._rkeys.get(did) or state._rkey(did))
                if rh is not None and rh[0] is not None:
                    d = did.encode("utf-8")
                    known[did] = _KNOWN.pack(len(d)) + d + rh[0][:_V]
    rpre = f"{state.prefix}r{txn.tag}:"
    vals, dids, recs, counts = state.preread(txn.tag or "", [*keys, fk],
                                            [rpre, fam, b"".join(known.values()), ",".join(fields), len(xkeys)])
    state.fetches += len(keys) + len(dids)
    changed = 0
    with state._lock:
        for k, v in zip(keys, vals):
            hit = cache.get(k)
            old = hit[0] if hit is not None else None
            if v != old:
                changed += old is None or v is None or old[:4] != v[:4]
                state._put(k, v)
        for d, v in zip(dids, recs):
            rk = rpre + d.decode("utf-8")
            if v == b"":  # the cached value is current
                if rk in cache:
                    cache.move_to_end(rk)
                continue
            hit = cache.get(rk)
            old = hit[0] if hit is not None else None
            if v != old:
                changed += old is None or v is None or old[:4] != v[:4]
                state._put(rk, v)
        for f, c in zip(fields, counts):
            state._put((fk, f), int(c or 0))
    return changed
