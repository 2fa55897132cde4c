"""Lua functions and scripts of the Redis store that stand alone (tested one by one on a real server).

* :data:`POPULARITY_LUA`, :data:`UNPACK_ALL_LUA`, :data:`BLOCK_FRONT_LUA`: functions the event script
  (:func:`fraudscore.velocity.redis_lua.event_script`) defines before its body;
* :data:`LABEL_LUA`: the label script (one call records or clears a fraud label in every shard).

Examples
--------
>>> "local function popularity(counts, band)" in POPULARITY_LUA
True
"""

from __future__ import annotations

__all__ = ["POPULARITY_LUA", "UNPACK_ALL_LUA", "BLOCK_FRONT_LUA", "LABEL_LUA"]

#: The popularity of a fingerprint from the counts read (``counts``: the values of the call's count reads, in
#: order) and a count dependency (``band``, :data:`BAND`): :meth:`DeviceLinker._popularity
#: <fraudscore.fingerprint.DeviceLinker>`'s arithmetic, operation for operation in doubles (as Python's
#: floats), so both give the same bits; returns it and the band's ends.
POPULARITY_LUA = r"""
local function popularity(counts, band)
  local _, kk, ndev, glob, prior, minfam, lo, hi, ni, m, p2 = struct.unpack('<HBddddddHH', band)
  local n = counts[ni] - kk
  local est = 1.0
  if n > 0 then
    local others = n
    for _ = 1, m do
      local idx
      idx, p2 = struct.unpack('<H', band, p2)
      local c = counts[idx] - kk
      if c <= 0 then others = 0; break end
      others = others * (c / n)
    end
    est = est + others
  end
  est = est * glob
  local pop = ndev
  if est > ndev then pop = est end
  if pop < 1.0 then pop = 1.0 end
  if prior > 0 and n < minfam and pop < prior then pop = prior end
  return pop, lo, hi
end
"""

#: ``unpack_all(f, k, n, s)`` of the event script: ``n`` items of a ``struct`` format (``k`` values each) as one
#: flat table (tested in ``tests/velocity/test_redis_lua.py``).
UNPACK_ALL_LUA = r"""
-- ``n`` items of format ``f`` (``k`` values each) from ``s`` as one flat table (values 1 .. n * k; more may follow):
-- one struct call for all of them
-- (a C call's stack holds 8000 values: beyond 2000 values, one call per item)
local function unpack_all(f, k, n, s)
  if n == 0 then return {} end
  if n * k <= 2000 then return {struct.unpack('<' .. string.rep(f, n), s)} end
  local out, p = {}, 1
  for i = 1, n do
    local got = {struct.unpack('<' .. f, s, p)}
    for j = 1, k do out[(i - 1) * k + j] = got[j] end
    p = got[k + 1]
  end
  return out
end
"""

#: :func:`block_front` of the event script (a block move, kind 3): a Lua function, tested against the id-by-id
#: reference (``string.gmatch``) in ``tests/velocity/test_redis_lua.py``.
BLOCK_FRONT_LUA = r"""
-- A block (8-byte head, then comma-joined device ids) with device ``did`` moved to the front and cut to ``cap``
-- ids, without a Lua string per id: the block's version when ``did`` was in it (else ``nv``) and the new value;
-- ``nil`` when the block has an empty id, ``did`` twice or ``did`` is empty (the caller goes id by id).
local sfind, ssub, sbyte = string.find, string.sub, string.byte
local function block_front(v, did, nd, nv, stamp, cap)
  local lv = 0
  if v then lv = #v end
  if nd == 0 then return nil end
  if lv <= 8 then return nv, nv .. stamp .. did end
  if sbyte(v, 9) == 44 or sbyte(v, lv) == 44 or sfind(v, ',,', 9, true) then return nil end
  local at, a = nil, 9
  while true do  -- did as a whole id
    local f = sfind(v, did, a, true)
    if not f then break end
    if (f == 9 or sbyte(v, f - 1) == 44) and (f + nd == lv + 1 or sbyte(v, f + nd) == 44) then
      if at then return nil end
      at = f
    end
    a = f + 1
  end
  local ver, rest = nv, nil
  if at then
    ver = ssub(v, 1, 4)
    if at == 9 then rest = ssub(v, 9 + nd + 1)
    elseif at + nd - 1 == lv then rest = ssub(v, 9, at - 2)
    else rest = ssub(v, 9, at - 2) .. ssub(v, at + nd) end
  else
    rest = ssub(v, 9)
  end
  if rest ~= '' then  -- the first cap - 1 other ids
    if cap - 1 <= 0 then rest = ''
    else
      local q, c = 0, 0
      while c < cap - 1 do
        q = sfind(rest, ',', q + 1, true)
        if not q then break end
        c = c + 1
      end
      if q then rest = ssub(rest, 1, q - 1) end
    end
  end
  if rest == '' then return ver, ver .. stamp .. did end
  return ver, ver .. stamp .. did .. ',' .. rest
end
"""


#: Record (or clear) a fraud label in every shard: KEYS = (label hash, prune index) per shard;
#: ARGV = application hash, label time ('' clears), now (wall clock ms), label ttl ms (0 = never expires).
LABEL_LUA = r"""
local app, lt, now, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
for i = 1, #KEYS, 2 do
  local h, z = KEYS[i], KEYS[i + 1]
  if lt == '' then
    redis.call('HDEL', h, app)
    redis.call('ZREM', z, app)
  else
    redis.call('HSET', h, app, lt)
    if ttl > 0 then
      redis.call('ZADD', z, now, app)
      redis.call('PEXPIRE', h, ttl)
      redis.call('PEXPIRE', z, ttl)
      local old = redis.call('ZRANGEBYSCORE', z, '-inf', '(' .. string.format('%.0f', now - ttl), 'LIMIT', 0, 64)
      for j = 1, #old do redis.call('HDEL', h, old[j]); redis.call('ZREM', z, old[j]) end
    end
  end
end
return #KEYS / 2
"""
