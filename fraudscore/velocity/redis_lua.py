"""The Redis store's one script per event (Lua), and its per-feature-set configuration.

One call of :data:`EVENT_LUA` applies one event (or, on a cluster, the part of it
that lives in one hash slot), atomically:

1. **idempotency** -- if the application's record exists, return it (``dup``);
   with a device context that differs from the record's and ``replace`` set
   (a cluster retry after the device link changed), the recorded members are
   removed and the event is applied again;
2. **lateness** -- the worker judged it against its watermark; a late event
   returns ``late`` (nothing changes);
3. **link** -- compare the versions of the link keys the worker's decision read
   (:mod:`fraudscore.fingerprint.linkstate_redis`); on any mismatch return their
   fresh values (``conflict``, nothing changes); else write the link keys;
4. **velocity** -- per key group: read the widest window
   (``ZRANGEBYSCORE ... WITHSCORES``), decode each fixed-width binary member once
   with ``struct.unpack`` (8-byte event nonce, then per slot: flag ``B``,
   fixed-point value ``d``, valid ``B``, optional value ``d`` with NaN = missing,
   distinct-of hash ``c8``, application hash ``c8``), answer every query of the
   group (events are time-sorted: each window is scanned from its newest end),
   ``ZADD`` the event, trim what left the horizon, refresh the expiry;
5. **record** -- store the packed outputs as the application's record (with a
   TTL) and return them (``ok``).

Outputs are exact integers (counts, micro-unit sums, times) packed as doubles
(NaN = none); the final division happens in Python with the memory store's code.

Examples
--------
>>> from fraudscore.velocity.spec import FeatureSet, FeatureSpec
>>> from fraudscore.velocity.plan import Plan
>>> cfg = group_config(Plan(FeatureSet([FeatureSpec("sum", key="ip", field="amount", window="1h")])).groups[0], 0, 0)
>>> cfg.startswith("{3600000,3600000,86400000,'<c8dB'")
True
"""

from __future__ import annotations

from typing import Any

from .plan import Group

__all__ = ["EVENT_LUA", "LABEL_LUA", "group_config", "member_format", "AGG_CODES", "SLOT_CODES"]

AGG_CODES = {"count": 1, "sum": 2, "mean": 3, "min": 4, "max": 5, "distinct": 6, "first_seen_age": 7,
             "time_since_last": 8, "fraud_count": 9, "fraud_rate": 10}
#: struct codes per slot kind (Lua's struct and Python's agree on these)
SLOT_CODES = {"flag": "B", "val": "d", "valid": "B", "opt": "d", "dist": "c8", "app": "c8"}


def member_format(g: Group) -> str:
    """The Lua ``struct`` format of a group's members (``<`` little endian, ``c8`` nonce first)."""
    return "<c8" + "".join(SLOT_CODES[s[0]] for s in g.slots)


def group_config(g: Group, lateness: int, min_ttl_ms: int) -> str:
    """A group's Lua table: ``{widest, horizon, ttl, fmt, {queries...}}`` (-1 = unbounded)."""
    widest = -1 if any(q.lo is None for q in g.queries) else max(q.lo for q in g.queries)  # type: ignore[type-var]
    horizon = -1 if g.horizon is None else g.horizon
    ttl = 0 if g.horizon is None else max(g.horizon + lateness, min_ttl_ms)
    qs = []
    for q in g.queries:  # slot indices are positions in the unpacked member (1 = nonce)
        qs.append("{%d,%d,%d,%d,%d,%d,%d}" % (
            AGG_CODES[q.agg], -1 if q.lo is None else q.lo, q.hi, int(q.include_current),
            0 if q.flag is None else q.flag + 2, 0 if q.slot is None else q.slot + 2,
            0 if q.slot2 is None else q.slot2 + 2))
    return "{%d,%d,%d,'%s',{%s}}" % (widest, horizon, ttl, member_format(g), ",".join(qs))


def _lua_config(groups: list[Any]) -> str:
    return ",".join(groups)


EVENT_LUA = r"""
local CFG = {--CONFIG--}
local t = tonumber(ARGV[1])
local late, idem_ttl, ctx, replace = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local link_ttl, extra = ARGV[6], ARGV[7]
local nr, nw, ng, lateness = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local A = 12
local ikey = KEYS[1]
local NONE = string.rep('\0', 8)
local EMPTY = string.rep('\255', 8)
local fmt = function(x) return string.format('%.0f', x) end
local pk = struct.pack

-- 1. idempotency
local undo = nil
if idem_ttl > 0 then
  local rec = redis.call('GET', ikey)
  if rec then
    local rctx = struct.unpack('<Hc0', rec, 9)
    if rctx == ctx or replace ~= '1' then return {'dup', rec} end
    undo = rec
  end
end
-- 2. lateness (judged by the worker against its watermark)
if late == '1' then return {'late'} end
-- 3. link: every version read must be unchanged
if nr > 0 then
  local bad = false
  local fresh = {}
  for i = 1, nr do
    local v = redis.call('GET', KEYS[1 + i])
    local exp = ARGV[A + i - 1]
    if exp == '' then
      if v then bad = true end
    elseif not v or string.sub(v, 1, 4) ~= exp then bad = true end
    fresh[i] = v or ''
  end
  if bad then return {'conflict', fresh} end
end
for i = 1, nw do
  local val = ARGV[A + nr + i - 1]
  local k = KEYS[1 + nr + i]
  if val == '' then redis.call('PEXPIRE', k, link_ttl) else redis.call('SET', k, val, 'PX', link_ttl) end
end
A = A + nr + nw
-- undo the members of a replaced record (cluster: the device link changed after a retry)
if undo then
  local pos = 9
  local _c
  _c, pos = struct.unpack('<Hc0', undo, pos)
  _c, pos = struct.unpack('<Hc0', undo, pos)
  local old_ng
  old_ng, pos = struct.unpack('<H', undo, pos)
  local gkey = {}
  for gj = 1, ng do gkey[tonumber(ARGV[A + 4 * (gj - 1)])] = KEYS[tonumber(ARGV[A + 4 * (gj - 1) + 1])] end
  for _ = 1, old_ng do
    local gi, no
    gi, no, pos = struct.unpack('<HH', undo, pos)
    pos = pos + 8 * no
    local m
    m, pos = struct.unpack('<Hc0', undo, pos)
    if m ~= '' and gkey[gi] then redis.call('ZREM', gkey[gi], m) end
  end
end
-- 4. velocity
local out = {pk('<d', t), pk('<H', #ctx), ctx, pk('<H', #extra), extra, pk('<H', ng)}
local keep = ctx ~= ''
for gj = 1, ng do
  local gi = tonumber(ARGV[A]); local key = KEYS[tonumber(ARGV[A + 1])]
  local li = tonumber(ARGV[A + 2]); local member = ARGV[A + 3]
  A = A + 4
  local cfg = CFG[gi]
  local widest, horizon, ttl, mfmt, qs = cfg[1], cfg[2], cfg[3], cfg[4], cfg[5]
  local lower = '-inf'
  if widest >= 0 then lower = '(' .. fmt(t - widest) end
  local raw = redis.call('ZRANGEBYSCORE', key, lower, fmt(t), 'WITHSCORES')
  local ne = #raw / 2
  local ets, ev = {}, {}
  for i = 1, ne do
    ets[i] = tonumber(raw[2 * i])
    ev[i] = {struct.unpack(mfmt, raw[2 * i - 1])}
  end
  local cur = {struct.unpack(mfmt, member)}
  local lkey = nil
  if li > 0 then lkey = KEYS[li] end
  local labels = {}
  local res = {}
  for qi = 1, #qs do
    local q = qs[qi]
    local code, lo, hi, flag, slot, slot2 = q[1], q[2], q[3], q[5], q[6], q[7]
    local upper = t - hi
    local lowt = nil
    if lo >= 0 then lowt = t - lo end
    local incc = q[4] == 1 and (flag == 0 or cur[flag] == 1)
    local n, s, nv, k = 0, 0, 0, 0
    local best = nil
    local e = ne
    while e >= 1 and ets[e] > upper do e = e - 1 end
    if code == 1 then
      while e >= 1 and (lowt == nil or ets[e] > lowt) do
        if flag == 0 or ev[e][flag] == 1 then n = n + 1 end
        e = e - 1
      end
      if incc then n = n + 1 end
      res[#res + 1] = n
    elseif code == 2 or code == 3 then
      while e >= 1 and (lowt == nil or ets[e] > lowt) do
        local f = ev[e]
        if flag == 0 or f[flag] == 1 then
          s = s + f[slot]
          if slot2 > 0 then nv = nv + f[slot2] end
        end
        e = e - 1
      end
      if incc then
        s = s + cur[slot]
        if slot2 > 0 then nv = nv + cur[slot2] end
      end
      res[#res + 1] = s
      if code == 3 then res[#res + 1] = nv end
    elseif code == 4 or code == 5 then
      while e >= 1 and (lowt == nil or ets[e] > lowt) do
        local f = ev[e]
        local v = f[slot]
        if (flag == 0 or f[flag] == 1) and v == v then
          if best == nil or (code == 4 and v < best) or (code == 5 and v > best) then best = v end
        end
        e = e - 1
      end
      local v = cur[slot]
      if incc and v == v and (best == nil or (code == 4 and v < best) or (code == 5 and v > best)) then best = v end
      if best == nil then best = 0 / 0 end
      res[#res + 1] = best
    elseif code == 6 then
      local seen = {}
      while e >= 1 and (lowt == nil or ets[e] > lowt) do
        local f = ev[e]
        local v = f[slot]
        if (flag == 0 or f[flag] == 1) and v ~= NONE and not seen[v] then seen[v] = true; k = k + 1 end
        e = e - 1
      end
      local v = cur[slot]
      if incc and v ~= NONE and not seen[v] then k = k + 1 end
      res[#res + 1] = k
    elseif code == 7 or code == 8 then
      while e >= 1 and (lowt == nil or ets[e] > lowt) do
        if flag == 0 or ev[e][flag] == 1 then
          best = ets[e]
          if code == 8 then break end
        end
        e = e - 1
      end
      if incc and (best == nil or code == 8) then best = t end
      if best == nil then best = 0 / 0 end
      res[#res + 1] = best
    else
      while e >= 1 and (lowt == nil or ets[e] > lowt) do
        local f = ev[e]
        local app = f[slot]
        if (flag == 0 or f[flag] == 1) and app ~= NONE then
          n = n + 1
          if app ~= EMPTY and lkey then
            local lt = labels[app]
            if lt == nil then
              lt = redis.call('HGET', lkey, app)
              if lt then lt = tonumber(lt) else lt = false end
              labels[app] = lt
            end
            if lt and lt <= t then k = k + 1 end
          end
        end
        e = e - 1
      end
      res[#res + 1] = k
      res[#res + 1] = n
    end
  end
  redis.call('ZADD', key, fmt(t), member)
  if horizon >= 0 then redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(t - lateness - horizon)) end
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
  out[#out + 1] = pk('<HH', gi, #res)
  for i = 1, #res do out[#out + 1] = pk('<d', res[i]) end
  if keep then out[#out + 1] = pk('<H', #member); out[#out + 1] = member else out[#out + 1] = pk('<H', 0) end
end
-- 5. record
local rec = table.concat(out)
if idem_ttl > 0 then redis.call('SET', ikey, rec, 'PX', idem_ttl) end
return {'ok', rec}
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
