"""The Redis store's one script per event (Lua), generated for a feature set.

:func:`event_script` writes one Lua script per compiled feature set: the
configuration (windows, filters, slots) is inlined as constants into one
function per key group, so a call carries only the event and the script does no
configuration lookups (the stand-alone Lua functions it defines first, and the label script, are in
:mod:`fraudscore.velocity.redis_lua_lib`). One call applies one event (or, on a cluster, the part of
it that lives in one hash slot), atomically, with a single ``MGET`` for every key
it reads:

1. **idempotency** -- if the application's record exists, return it (``dup``);
   with a device context that differs from the record's and ``replace`` set
   (a cluster retry after the device link changed), the recorded event rows are
   removed and the event is applied again;
2. **lateness** -- the worker judged it against its watermark; a late event
   returns ``late`` (nothing changes); while another event holds the **link
   lease** (a key holding its nonce, taken by an event whose decision conflicted
   twice, :data:`LEASE_MS` at most, released by its commit) a link call returns
   ``busy`` (nothing changes) and the worker sends it again: under contention on
   hot link state (a family's value counts) every event still commits;
3. **link** -- compare the heads of the link keys the worker's decision read
   (:mod:`fraudscore.fingerprint.linkstate_redis`: content version and stamp, or the
   content version only) and the value counts it read (one ``HMGET`` per hash); the
   counts under a *count dependency* (``ARGV[9]``, :data:`BAND`) are not compared one
   by one: the popularity they give now (:data:`POPULARITY_LUA`) must be in the
   decision's band. On any mismatch return the fresh values (``conflict``, nothing
   changes); else apply the link writes (set, refresh the expiry, *touch* a record:
   last sighting, count and IP on the record as it is, *move* a device to the front of
   a block as it is), and the count increments (one ``HSET`` per hash of the new values
   of the fields read, what ``HINCRBY`` would leave; ``HINCRBY`` for a field not read);
4. **velocity** -- per key group, the entity's events are one binary string: a
   4-byte expiry deadline, then fixed-width rows sorted by time (``<d`` event
   time, then per slot: flag ``B``, fixed-point value ``d``, valid ``B``, optional
   value ``d`` with NaN = missing, distinct-of hash ``c8``, application hash
   ``c8``), read in place: the event times with ``struct.unpack``, and each query
   reads only the values it uses at the row's offset (no table per row). Every query is answered scanning from
   the newest row back to its window's start; the new row is inserted at its time
   (after equal times), rows that left the horizon are cut from the front, and the
   string is written back (``SET ... KEEPTTL``; the expiry is pushed forward with
   ``PX`` only when less than the group's retention is left, so a key lives at
   least that long after its last event and at most 1.25 times it); when the row
   goes last, nothing is cut and the expiry stays, only the row is sent
   (``APPEND``, which keeps the expiry);
5. **record** -- store the packed outputs as the application's record (with a
   TTL) and return them (``ok``). Layout: event time ``<d``, the call's 8-byte
   nonce, the device context and the link outcome (``<H`` length + bytes each),
   ``<H`` groups, then per group ``<HH`` (group, outputs), the outputs as ``<d``
   and the event's row when the context is set (``<H`` length + bytes). The reply
   adds the counts' values when counts under a band moved, and what each touch and
   block move left (the record's new head; the block when its membership is not the
   one the worker cached).

Arguments are few and binary (their layout and the rows' formats are in
:mod:`fraudscore.velocity.redis_args`, packed by :mod:`fraudscore.velocity.redis_calls`;
a header, the link versions and values, one string
with every group's row): each ``ARGV`` entry costs the server about as much as a
small command. Outputs are exact integers (counts, micro-unit sums, times)
packed as doubles (NaN = none); the final division happens in Python with the
memory store's code.

Examples
--------
>>> from fraudscore.velocity.spec import FeatureSet, FeatureSpec
>>> from fraudscore.velocity.plan import Plan
>>> "if gi == 1 then" in event_script(Plan(FeatureSet([FeatureSpec("count", key="ip", window="1h")])), 0)
True
"""

from __future__ import annotations

import struct

from .plan import Group, Plan, Query
from .redis_args import BLOB_HEAD as _BLOB_HEAD
from .redis_args import LEASE_MS, SLOT_CODES, retention_ms, row_format, row_size
from .redis_args import SIZES as _SIZES
from .redis_lua_lib import BLOCK_FRONT_LUA, LABEL_LUA, POPULARITY_LUA, UNPACK_ALL_LUA

__all__ = ["event_script", "LABEL_LUA", "POPULARITY_LUA", "BLOCK_FRONT_LUA", "UNPACK_ALL_LUA"]


def _num(x: int) -> str:
    return str(int(x))


def _field(g: Group, idx: int) -> str:
    """Lua expression reading slot ``idx - 2`` of row ``e`` straight from ``blob`` (a flag or valid byte with
    ``byte``, a hash with ``sub``, a double with ``unpack_``): rows are never decoded into tables, and a query
    reads only the values it uses."""
    off = _BLOB_HEAD + 1 + 8 + sum(_SIZES[SLOT_CODES[s[0]]] for s in g.slots[:idx - 2])
    code = SLOT_CODES[g.slots[idx - 2][0]]
    at = f"{off} + (e - 1) * {row_size(g)}"
    if code == "B":
        return f"byte(blob, {at})"
    if code == "c8":
        return f"sub(blob, {at}, {at} + 7)"
    return f"unpack_('<d', blob, {at})"


def _query(q: Query, k: int, outs: list[str], g: Group) -> list[str]:
    """Lua lines answering one query into locals ``o<k>...`` (appended to ``outs``)."""
    f = 0 if q.flag is None else q.flag + 2
    s1 = 0 if q.slot is None else q.slot + 2
    s2 = 0 if q.slot2 is None else q.slot2 + 2
    upper = "t" if q.hi == 0 else f"t - {_num(q.hi)}"
    inwin = "true" if q.lo is None else f"ets[e] > t - {_num(q.lo)}"
    flag_ok = "true" if f == 0 else f"{_field(g, f)} == 1"
    inc = "false" if not q.include_current else ("true" if f == 0 else f"c{f} == 1")
    o = f"o{k}"
    lines = []
    cal, excl = int(getattr(q, "cal_days", 0) or 0), int(bool(getattr(q, "excl_day", False)))
    if cal or excl:  # calendar edges from the UTC day of t - delay (see Query.edges)
        dlow = "nil" if q.lo is None else f"t - {_num(q.lo)}"
        lines.append(f"  local up{k}, lw{k} = cal_edges({upper}, {cal}, {excl}, {dlow})")
        upper = f"up{k}"
        inwin = f"(lw{k} == nil or ets[e] > lw{k})"
    lines.append(f"  e = n; while e >= first and ets[e] > {upper} do e = e - 1 end")
    loop = f"  while e >= first and {inwin} do"
    agg = q.agg
    if agg == "count":
        outs.append(o)
        lines += [f"  local {o} = 0", loop, f"    if {flag_ok} then {o} = {o} + 1 end", "    e = e - 1", "  end",
                  f"  if {inc} then {o} = {o} + 1 end"]
    elif agg in ("sum", "mean", "ratio_to_mean"):
        if agg == "ratio_to_mean":  # (the event's own value or none, sum, valid count)
            ox = f"o{k}x"
            outs.append(ox)
            lines += [f"  local {ox} = NAN; if c{s2} == 1 then {ox} = c{s1} end"]
        outs.append(o)
        lines += [f"  local {o} = 0"]
        body = [f"      {o} = {o} + {_field(g, s1)}"]
        tail = [f"  if {inc} then {o} = {o} + c{s1}"]
        if agg != "sum":
            o2 = f"o{k}b"
            outs.append(o2)
            lines += [f"  local {o2} = 0"]
            body += [f"      {o2} = {o2} + {_field(g, s2)}"]
            tail += [f"    {o2} = {o2} + c{s2}"]
        lines += [loop, f"    if {flag_ok} then", *body, "    end", "    e = e - 1", "  end",
                  *tail[:1], *tail[1:], "  end"]
    elif agg in ("min", "max"):
        outs.append(o)
        cmp = "<" if agg == "min" else ">"
        lines += [f"  local {o} = nil", loop, f"    local v = {_field(g, s1)}",
                  f"    if {flag_ok} and v == v and ({o} == nil or v {cmp} {o}) then {o} = v end",
                  "    e = e - 1", "  end",
                  f"  do local v = c{s1}; if {inc} and v == v and ({o} == nil or v {cmp} {o}) then {o} = v end end",
                  f"  if {o} == nil then {o} = NAN end"]
    elif agg == "distinct":
        outs.append(o)
        lines += [f"  local {o} = 0", "  local seen = EMPTYT", "  if e >= first then seen = {} end", loop,
                  f"    local v = {_field(g, s1)}",
                  f"    if {flag_ok} and v ~= NONE and not seen[v] then seen[v] = true; {o} = {o} + 1 end",
                  "    e = e - 1", "  end",
                  f"  do local v = c{s1}; if {inc} and v ~= NONE and not seen[v] then {o} = {o} + 1 end end"]
    elif agg in ("first_seen_age", "time_since_last"):
        outs.append(o)
        brk = " break" if agg == "time_since_last" else ""
        lines += [f"  local {o} = nil", loop, f"    if {flag_ok} then {o} = ets[e];{brk} end", "    e = e - 1",
                  "  end"]
        if agg == "time_since_last":
            lines += [f"  if {inc} then {o} = t end"]
        else:
            lines += [f"  if {inc} and {o} == nil then {o} = t end"]
        lines += [f"  if {o} == nil then {o} = NAN end"]
    else:  # fraud_count / fraud_rate: (labelled, counted)
        o2 = f"o{k}b"
        outs += [o, o2]
        lines += [f"  local {o}, {o2} = 0, 0", loop, f"    local a = {_field(g, s1)}",
                  f"    if {flag_ok} and a ~= NONE then",
                  f"      {o2} = {o2} + 1",
                  "      if a ~= EMPTY and lkey then",
                  "        local lt = labels[a]",
                  "        if lt == nil then",
                  "          lt = redis.call('HGET', lkey, a)",
                  "          if lt then lt = tonumber(lt) else lt = false end",
                  "          labels[a] = lt",
                  "        end",
                  f"        if lt and lt <= t then {o} = {o} + 1 end",
                  "      end",
                  "    end", "    e = e - 1", "  end"]
    return lines


def _group_branch(gi: int, g: Group, lateness: int, min_ttl_ms: int) -> str:
    """The code of one key group: from ``blob`` (its stored string) and ``row`` to ``res, nb, px``."""
    widest = None if any(q.lo is None for q in g.queries) else max(q.lo for q in g.queries)  # type: ignore[type-var]
    rs = row_size(g)
    rf = row_format(g)
    keep = retention_ms(g, lateness, min_ttl_ms)
    outs: list[str] = []
    body: list[str] = []
    for k, q in enumerate(g.queries, 1):
        body += _query(q, k, outs, g)
    cur = ", ".join(f"c{j}" for j in range(1, len(g.slots) + 2))
    floor = "" if widest is None else f"    if te <= t - {_num(widest)} then break end"
    if g.horizon is None:
        cut = "  local cut = 1"
    else:
        cut = f"  local cut = 1; if n > 0 then cut = cut_at(blob, ets, ins, {rs}, t - {_num(lateness + g.horizon)}) end"
    if keep:
        ttl = (f"  if n == 0 or unpack_('<I4', blob) - now < {keep / 1000.0!r} then\n"
               f"    px = '{int(keep * 1.25)}'; head = pk('<I4', math.floor(now + {keep * 1.25 / 1000.0!r}))\n"
               f"  end")
    else:
        ttl = ""
    return "\n".join([
        f"if gi == {gi} then",
        f"  local n = 0; if #blob > {_BLOB_HEAD} then n = (#blob - {_BLOB_HEAD}) / {rs} end",
        "  local ets = EMPTYT",
        "  local first = 1",
        "  local ins = n",
        "  if n > 0 then",
        "    ets = {}",
        "    local e = n",
        "    while e >= 1 do",
        f"      local te = unpack_('<d', blob, {_BLOB_HEAD + 1} + (e - 1) * {rs})",
        "  " + floor if floor else "",
        "      ets[e] = te; e = e - 1",
        "    end",
        "    first = e + 1",
        "    while ins >= first and ets[ins] > t do ins = ins - 1 end",
        "  end",
        f"  local {cur} = unpack_('{rf}', row)",
        "  local labels = {}" if any(q.agg in ("fraud_count", "fraud_rate") for q in g.queries) else "",
        "  local e",
        *body,
        cut,
        "  local px = false",
        f"  local head = ZERO4; if n > 0 then head = sub(blob, 1, {_BLOB_HEAD}) end",
        ttl,
        "  local nb",
        "  if n == 0 then nb = head .. row",
        "  elseif ins == n and cut == 1 and not px and not dirty then nb = false  -- the new row goes last: APPEND it",
        "  else",
        f"    local at = {_BLOB_HEAD} + ins * {rs}",
        f"    nb = head .. sub(blob, {_BLOB_HEAD + 1} + (cut - 1) * {rs}, at) .. row .. sub(blob, at + 1)",
        "  end",
        f"  return pk('<HH{'d' * len(outs)}', {gi}, {len(outs)}, {', '.join(outs)}), nb, px",
    ])


_PRELUDE = r"""
local sub, byte, unpack_, pk = string.sub, string.byte, struct.unpack, struct.pack
local NONE = '\0\0\0\0\0\0\0\0'
local EMPTY = '\255\255\255\255\255\255\255\255'
local NAN = 0 / 0
local ZERO4 = '\0\0\0\0'
local EMPTYT = {}
local DAY = 86400000
local function cal_edges(r, cal, excl, dlow)
  local d0 = r - r % DAY
  local up, lw = r, dlow
  if excl == 1 then up = d0 - 1 end
  if cal > 0 then lw = d0 - (cal - 1 + excl) * DAY - 1 end
  return up, lw
end
local t, now, late, replace, nr, nw, ng, lateness, idem_ttl, link_ttl, nonce, nh, ni, check, lease, lease_i =
  unpack_('<ddBBHHHdddc8HHBBH', ARGV[1])
local ctx, extra, versions, values, rows, hreads, hincr = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local band = ARGV[9] or ''
local band_ki = 0  -- the count hash whose reads the band replaces
if #band > 0 then band_ki = unpack_('<H', band) end
-- numbers passed to redis.call are formatted with %.17g on every call: format the TTLs once, as integers
local link_ttl_s, idem_ttl_s = string.format('%d', link_ttl), string.format('%d', idem_ttl)
-- first row (index) with time > cutoff among the sorted rows 1..ins (decoded ones are in ets)
local function cut_at(blob, ets, ins, rs, cutoff)
  local lo, hi = 1, ins
  while lo <= hi do
    local mid = math.floor((lo + hi) / 2)
    local tm = ets[mid]
    if tm == nil then tm = unpack_('<d', blob, 5 + (mid - 1) * rs) end
    if tm <= cutoff then lo = mid + 1 else hi = mid - 1 end
  end
  return lo
end
"""

_MAIN = r"""
-- group descriptors: (group, key index, label key index) then the row, per group
local GI, KI, LI, ROW = NILG, NILG, NILG, NILG
local pos = 1
for gj = 1, ng do
  local gi, ki, li
  gi, ki, li, pos = unpack_('<HHH', rows, pos)
  local rs = RS[gi]
  GI[gj], KI[gj], LI[gj], ROW[gj] = gi, ki, li, sub(rows, pos, pos + rs - 1)
  pos = pos + rs
end
-- one read of everything: the record, the link keys read, every group's events
local mk = {unpack(KEYS, 1, 1 + nr)}  -- (the record and the link keys read: one C call)
local nm = 1 + nr
for gj = 1, ng do nm = nm + 1; mk[nm] = KEYS[KI[gj]] end
if lease > 0 then mk[#mk + 1] = KEYS[lease_i] end
local got = redis.call('MGET', unpack(mk))
local held = false  -- the link lease's holder (its event nonce), read in the same MGET
if lease > 0 then held = got[#mk] end
-- 1. idempotency
local undo = nil
if idem_ttl > 0 then
  local rec = got[1]
  if rec then
    local rctx = unpack_('<Hc0', rec, 17)
    if rctx == ctx or replace ~= 1 then
      if held == nonce then redis.call('DEL', KEYS[lease_i]) end
      return {'dup', rec}
    end
    undo = rec
  end
end
-- 2. lateness (judged by the worker against its watermark)
if late == 1 then
  if held == nonce then redis.call('DEL', KEYS[lease_i]) end
  return {'late'}
end
-- 2b. the link lease: another worker holds it, wait (nothing changes)
if held and held ~= nonce then return {'busy'} end
-- 3. link: every head read must be unchanged: 8 zero bytes = expected absent; a zero stamp = the content
-- version only (a touch, which changes the stamp, does not matter); else version and stamp
local bad = false
-- the heads expected, all in one unpack (one C call instead of one per key)
local xh = unpack_all('I4', 1, 2 * nr, versions)
for i = 1, nr do
  local v = got[1 + i]
  -- heads compared as numbers (uint32 version, uint32 stamp): no Lua string is made per comparison
  local xv, xs = xh[2 * i - 1], xh[2 * i]
  if xv == 0 and xs == 0 then
    if v then bad = true end
  elseif not v or #v < 8 then bad = true
  else
    local hv, hs = unpack_('<I4I4', v)
    if hv ~= xv or (xs ~= 0 and hs ~= xs) then bad = true end
  end
end
-- the count reads, flat (key index, field, value per read), in one unpack
local hr = unpack_all('HHc0d', 3, nh, hreads)
-- one HMGET per hash (the caller sends the reads of one hash together)
local counts, cur = {}, {}  -- cur[key index][field]: the value read
local moved = false  -- a count under the band changed (checked through the popularity)
local i = 1
while i <= nh do
  local ki, j = hr[3 * i - 2], i
  local names, byf = {}, {}
  while j <= nh and hr[3 * j - 2] == ki do names[j - i + 1] = hr[3 * j - 1]; j = j + 1 end
  local vals = redis.call('HMGET', KEYS[ki], unpack(names))
  for m = i, j - 1 do
    local c = tonumber(vals[m - i + 1] or '0')
    counts[m] = c
    byf[hr[3 * m - 1]] = c
    if c ~= hr[3 * m] then
      if ki == band_ki then moved = true else bad = true end
    end
  end
  cur[ki] = byf
  i = j
end
-- 3b. the count dependency: the popularity from the counts now (DeviceLinker._popularity's arithmetic,
-- operation for operation, in doubles) must be in the decision's band
if moved and not bad then
  local pop, lo, hi = popularity(counts, band)
  if pop < lo or pop > hi then bad = true end
end
if bad and check == 1 then
  if lease == 2 then redis.call('SET', KEYS[lease_i], nonce, 'PX', LEASE_MS) end
  local fresh = {}
  for i = 1, nr do fresh[i] = got[1 + i] or '' end
  local fc = {}
  for i = 1, nh do fc[i] = tostring(counts[i]) end
  return {'conflict', fresh, fc}
end
pos = 1
local heads = {}  -- the new head and tail of each record touched, in order
-- a key's value read above (a touch or block move of a key read needs no GET): a scan of the read keys (Lua
-- strings compare by pointer), no table of them
local function read_value(k)
  for i = 1, nr do if KEYS[1 + i] == k then return got[1 + i] end end
  return nil
end
for i = 1, nw do
  local kind
  kind = byte(values, pos); pos = pos + 1
  local k = KEYS[1 + nr + i]
  if kind == 0 then redis.call('PEXPIRE', k, link_ttl_s)
  elseif kind == 1 then
    local val
    val, pos = unpack_('<I4c0', values, pos)
    redis.call('SET', k, val, 'PX', link_ttl_s)
  elseif kind == 2 then  -- touch: last sighting max(t, now), one more sighting, the IP when given; content kept
    local stamp, tnow, ip
    stamp, tnow, ip, pos = unpack_('<c4dd', values, pos)
    local v = read_value(k)
    if v == nil then v = redis.call('GET', k) end
    local head = ''
    if v then
      local t0, n0, ip0 = unpack_('<ddd', v, 9)
      if tnow > t0 then t0 = tnow end
      if ip ~= 0 then ip0 = ip end
      head = sub(v, 1, 4) .. stamp .. pk('<ddd', t0, n0 + 1, ip0)
      redis.call('SET', k, head .. sub(v, 33), 'PX', link_ttl_s)
    end
    heads[#heads + 1] = head
  elseif kind == 3 then  -- a block: the device to the front (new: cut to cap, new membership version)
    local nv, stamp, cv, cap, did
    nv, stamp, cv, cap, did, pos = unpack_('<c4c4c4HHc0', values, pos)
    local v = read_value(k)
    if v == nil then v = redis.call('GET', k) end
    local nd = #did
    if v and sub(v, 9, 8 + nd) == did and (#v == 8 + nd or sub(v, 9 + nd, 9 + nd) == ',') then
      redis.call('PEXPIRE', k, link_ttl_s)  -- already in front: nothing moves
      if sub(v, 1, 4) ~= cv then heads[#heads + 1] = v else heads[#heads + 1] = '' end
    else
      local ver, nb = block_front(v, did, nd, nv, stamp, cap)
      if not nb then  -- (a block with empty ids or a repeated one: id by id)
        local out = {did}
        ver = nv
        if v and #v > 8 then
          for id in string.gmatch(sub(v, 9), '[^,]+') do
            if id == did then ver = sub(v, 1, 4) elseif #out < cap then out[#out + 1] = id end
          end
        end
        nb = ver .. stamp .. table.concat(out, ',')
      end
      redis.call('SET', k, nb, 'PX', link_ttl_s)
      if ver ~= cv then heads[#heads + 1] = nb else heads[#heads + 1] = '' end
    end
  end
end
-- increments: of a field just read, one HSET per hash with the new values (what HINCRBY would leave);
-- of any other field, HINCRBY
local touched, tkeys = {}, {}
local hn = unpack_all('HHc0d', 3, ni, hincr)
for i = 1, ni do
  local ki, f, d = hn[3 * i - 2], hn[3 * i - 1], hn[3 * i]
  local byf = cur[ki]
  local c = byf and byf[f]
  local hs = touched[ki]
  if not hs then hs = {}; touched[ki] = hs; tkeys[#tkeys + 1] = ki end
  if c then
    byf[f] = c + d
    hs[#hs + 1] = f; hs[#hs + 1] = string.format('%d', c + d)
  else
    redis.call('HINCRBY', KEYS[ki], f, string.format('%d', d))
  end
end
for _, ki in ipairs(tkeys) do
  local hs = touched[ki]
  if #hs > 0 then redis.call('HSET', KEYS[ki], unpack(hs)) end
  redis.call('PEXPIRE', KEYS[ki], link_ttl_s)
end
-- rows of a replaced record (cluster: the device link changed after a retry), by group
local old = {}
if undo then
  local p = 17
  local _c
  _c, p = unpack_('<Hc0', undo, p)
  _c, p = unpack_('<Hc0', undo, p)
  local old_ng
  old_ng, p = unpack_('<H', undo, p)
  for _ = 1, old_ng do
    local gi, no
    gi, no, p = unpack_('<HH', undo, p)
    p = p + 8 * no
    local m
    m, p = unpack_('<Hc0', undo, p)
    if m ~= '' then old[gi] = m end
  end
end
-- 4. velocity
local out = {pk('<d', t), nonce, pk('<H', #ctx), ctx, pk('<H', #extra), extra, pk('<H', ng)}
local no = 7  -- the record's parts so far
local keep = ctx ~= ''
for gj = 1, ng do
  local gi, key, li, row = GI[gj], KEYS[KI[gj]], LI[gj], ROW[gj]
  local blob = got[1 + nr + gj] or ''
  local gone = old[gi]
  if gone then  -- remove the replaced event's row (any row with the same bytes is equivalent)
    local rs = RS[gi]
    for p = 5, #blob, rs do
      if sub(blob, p, p + rs - 1) == gone then blob = sub(blob, 1, p - 1) .. sub(blob, p + rs); break end
    end
  end
  local lkey = nil
  if li > 0 then lkey = KEYS[li] end
  local res, nb, px = apply_group(gi, blob, row, lkey, gone)
  if nb == false then redis.call('APPEND', key, row)  -- keeps the key's expiry; nothing else changes
  elseif px then redis.call('SET', key, nb, 'PX', px)
  elseif RETAIN[gi] then redis.call('SET', key, nb, 'KEEPTTL')
  else redis.call('SET', key, nb) end
  out[no + 1] = res
  if keep then out[no + 2] = RSH[gi]; out[no + 3] = row; no = no + 3 else out[no + 2] = '\0\0'; no = no + 2 end
end
-- 5. record
if held then redis.call('DEL', KEYS[lease_i]) end
local rec = table.concat(out, "", 1, no)
if idem_ttl > 0 then redis.call('SET', KEYS[1], rec, 'PX', idem_ttl_s) end
if check == 0 and nh > 0 then  -- unchecked counts (a cluster's global counts): their values now
  local fc = {}
  for i = 1, nh do fc[i] = redis.call('HGET', KEYS[hr[3 * i - 2]], hr[3 * i - 1]) or '0' end
  return {'ok', rec, fc}
end
local fc = false
if moved then  -- counts under the band moved: their values now (after this event's increments)
  fc = {}
  for i = 1, nh do fc[i] = string.format("%d", cur[hr[3 * i - 2]][hr[3 * i - 1]]) end
end
if #heads > 0 then return {'ok', rec, fc, heads} end
if fc then return {'ok', rec, fc} end
return {'ok', rec}
"""


def event_script(plan: Plan, min_ttl_ms: int) -> str:
    """The event script of a compiled feature set (see the module doc)."""
    branches = [_group_branch(i, g, plan.lateness, min_ttl_ms) for i, g in enumerate(plan.groups, 1)]
    dispatch = ("local function apply_group(gi, blob, row, lkey, dirty)\n" + "\nelse".join(branches) + "\nend\nend\n")
    sizes = ", ".join(str(row_size(g)) for g in plan.groups)
    retain = ", ".join("true" if retention_ms(g, plan.lateness, min_ttl_ms) else "false" for g in plan.groups)
    tables = f"local RS = {{{sizes}}}\nlocal RETAIN = {{{retain}}}\nlocal LEASE_MS = '{LEASE_MS}'\n"
    ng = len(plan.groups)
    nils = "{" + ", ".join(["nil"] * ng) + "}"  # a table sized for every group (no regrowth)
    # each group's row length as a Lua string literal (<H, the record's row prefix): no pack per call
    tables += "local RSH = {" + ", ".join(_lua_bytes(struct.pack("<H", row_size(g))) for g in plan.groups) + "}\n"
    return (_PRELUDE + UNPACK_ALL_LUA + BLOCK_FRONT_LUA + POPULARITY_LUA + dispatch + tables
            + _MAIN.replace("NILG", nils))


def _lua_bytes(b: bytes) -> str:
    """A Lua string literal of ``b`` (decimal escapes: any byte)."""
    return '"' + "".join(f"\\{x}" for x in b) + '"'
