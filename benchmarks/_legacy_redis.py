"""fraudscore 0.1's Redis store and link state, kept as the baseline of ``bench_redis.py``.

The velocity script of 0.1 parsed ``|``-joined text members in Lua and kept one
global latest-time key (0.1's link state, two to four round trips per link, is
replaced in the baseline by today's standalone ``RedisLinkState``: the learned linker
needs the new read/decide/write interface).
Benchmarks measure the current store against it on the same server, in the same
run. Not part of the library.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from fraudscore.errors import EventError, MissingDependencyError, StoreError
from fraudscore.velocity.memory_layout import GroupLayout
from fraudscore.velocity.plan import Group, Plan, finish

__all__ = ["LegacyRedisStore"]

_ARITY = {"mean": 2, "fraud_count": 2, "fraud_rate": 2}
_NAN = float("nan")


def _lua(x: Any) -> str:
    """A Lua literal of ints, plain strings and nested lists (the per-group configuration table)."""
    if isinstance(x, list):
        return "{" + ",".join(_lua(v) for v in x) + "}"
    if isinstance(x, str):
        assert x.isidentifier()
        return "'" + x + "'"
    return str(int(x))

LUA = r"""
local CFG = {--CONFIG--}
local t = tonumber(ARGV[1])
local lateness = tonumber(ARGV[2])
local lprefix = ARGV[3]
local ngroups = tonumber(ARGV[4])
local stored = redis.call('GET', KEYS[1])
local maxts = t
if stored then
  maxts = tonumber(stored)
  if t < maxts - lateness then return {'late'} end
  if t > maxts then maxts = t end
end
redis.call('SET', KEYS[1], string.format('%.0f', maxts))
local seq = redis.call('INCR', KEYS[2])
local function split(s, n, skip)
  local f = {}
  local pos = 1
  if skip then pos = string.find(s, '|', 1, true) + 1 end
  for k = 1, n do
    local q = string.find(s, '|', pos, true)
    if q then f[k] = string.sub(s, pos, q - 1); pos = q + 1 else f[k] = string.sub(s, pos); pos = #s + 2 end
  end
  return f
end
local fmt = function(x) return string.format('%.0f', x) end
local labels = {}
local out = {}
local a = 5
for gi = 1, ngroups do
  local key = KEYS[2 + gi]
  local cfg = CFG[tonumber(ARGV[a])]
  local member = ARGV[a + 1]
  a = a + 2
  local widest, horizon, ttl, nslots = cfg[1], cfg[2], cfg[3], cfg[4]
  local qs = cfg[5]
  local nq = #qs
  local lower = '-inf'
  if widest >= 0 then lower = '(' .. fmt(t - widest) end
  local raw = redis.call('ZRANGEBYSCORE', key, lower, fmt(t), 'WITHSCORES')
  local ets, ev, ne = {}, {}, 0
  for i = 1, #raw, 2 do
    ne = ne + 1
    ets[ne] = tonumber(raw[i + 1])
    ev[ne] = split(raw[i], nslots, true)
  end
  local cur = split(member, nslots, false)
  for qi = 1, nq do
    local qc = qs[qi]
    local agg, lo, hi, inc, flag, slot, slot2 = qc[1], qc[2], qc[3], qc[4] == 1, qc[5], qc[6], qc[7]
    local upper = t - hi
    local lowt = nil
    if lo >= 0 then lowt = t - lo end
    local incc = inc and (flag == 0 or cur[flag] == '1')
    local n, s, nv, k = 0, 0, 0, 0
    local best = nil
    local seen = {}
    for e = 1, ne do
      local te = ets[e]
      if te <= upper and (lowt == nil or te > lowt) then
        local f = ev[e]
        if flag == 0 or f[flag] == '1' then
          if agg == 'count' then n = n + 1
          elseif agg == 'sum' or agg == 'mean' then
            s = s + tonumber(f[slot])
            if slot2 > 0 then nv = nv + tonumber(f[slot2]) end
          elseif agg == 'min' or agg == 'max' then
            local v = f[slot]
            if v ~= '' then
              v = tonumber(v)
              if best == nil or (agg == 'min' and v < best) or (agg == 'max' and v > best) then best = v end
            end
          elseif agg == 'distinct' then
            local v = f[slot]
            if v ~= '' and not seen[v] then seen[v] = true; k = k + 1 end
          elseif agg == 'first_seen_age' then
            if best == nil or te < best then best = te end
          elseif agg == 'time_since_last' then
            if best == nil or te > best then best = te end
          else
            local app = f[slot]
            if app ~= '' then
              n = n + 1
              if app ~= '-' then
                local lt = labels[app]
                if lt == nil then
                  lt = redis.call('GET', lprefix .. app)
                  if lt then lt = tonumber(lt) else lt = false end
                  labels[app] = lt
                end
                if lt and lt <= t then k = k + 1 end
              end
            end
          end
        end
      end
    end
    if agg == 'count' then
      if incc then n = n + 1 end
      out[#out + 1] = fmt(n)
    elseif agg == 'sum' or agg == 'mean' then
      if incc then
        s = s + tonumber(cur[slot])
        if slot2 > 0 then nv = nv + tonumber(cur[slot2]) end
      end
      out[#out + 1] = fmt(s)
      if agg == 'mean' then out[#out + 1] = fmt(nv) end
    elseif agg == 'min' or agg == 'max' then
      if incc and cur[slot] ~= '' then
        local v = tonumber(cur[slot])
        if best == nil or (agg == 'min' and v < best) or (agg == 'max' and v > best) then best = v end
      end
      if best == nil then out[#out + 1] = '' else out[#out + 1] = fmt(best) end
    elseif agg == 'distinct' then
      if incc and cur[slot] ~= '' and not seen[cur[slot]] then k = k + 1 end
      out[#out + 1] = fmt(k)
    elseif agg == 'first_seen_age' or agg == 'time_since_last' then
      if incc and (best == nil or agg == 'time_since_last') then best = t end
      if best == nil then out[#out + 1] = '' else out[#out + 1] = fmt(best) end
    else
      out[#out + 1] = fmt(k)
      out[#out + 1] = fmt(n)
    end
  end
  redis.call('ZADD', key, t, seq .. '|' .. member)
  if horizon >= 0 then redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(maxts - lateness - horizon)) end
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end
return out
"""


def _h(value: Any, size: int = 10) -> str:
    """Hash of an identifier value (type-tagged so 1 and '1' stay apart)."""
    tag = "i" if isinstance(value, (int, np.integer)) else "s"
    if isinstance(value, tuple):
        text = "\x1f".join(("i" if isinstance(v, (int, np.integer)) else "s") + str(v) for v in value)
    else:
        text = tag + str(value)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=size, person=b"fs-velocity").hexdigest()


class LegacyRedisStore:
    """fraudscore 0.1's Redis velocity store (text members, a shared latest-time key).

    Parameters
    ----------
    client : redis.Redis
        A redis-py client (``decode_responses=False``); give it a socket timeout.
    prefix : str, default "fs:"
        Every key lives under this prefix.
    min_ttl_ms : int, default 86_400_000
        Lower bound of the wall-clock expiry set on entity keys (the expiry is
        ``max(horizon + allowed_lateness, min_ttl_ms)``; all-time groups never expire).

    Raises
    ------
    StoreError
        From ``update_and_read`` / ``record_label`` when Redis fails (down, timeout).
    MissingDependencyError
        When redis-py is not installed.
    """

    def __init__(self, client: Any, prefix: str = "fs:", min_ttl_ms: int = 86_400_000) -> None:
        self.client = client
        self.prefix = prefix
        self.min_ttl_ms = min_ttl_ms
        self._plan: Plan | None = None
        self._script: Any = None
        self._static: dict[int, str] = {}
        self._layouts: dict[int, GroupLayout] = {}
        self._outs: dict[int, tuple[tuple[int, str, int], ...]] = {}
        self._label_ttl: int | None = None

    @staticmethod
    def _redis() -> Any:
        try:
            import redis
        except ImportError:  # pragma: no cover - depends on the environment
            raise MissingDependencyError("RedisStore needs redis-py: pip install 'fraudscore[redis]'") from None
        return redis

    def bind(self, plan: Plan) -> None:
        """Attach a compiled feature set and register the Lua script (no round trip yet)."""
        self._redis()
        self._plan = plan
        cfg = []
        for g in plan.groups:
            widest = -1 if any(q.lo is None for q in g.queries) else max(q.lo for q in g.queries)  # type: ignore[type-var]
            horizon = -1 if g.horizon is None else g.horizon
            ttl = 0 if g.horizon is None else max(g.horizon + plan.lateness, self.min_ttl_ms)
            qs = [[q.agg, -1 if q.lo is None else q.lo, q.hi, int(q.include_current),
                   0 if q.flag is None else q.flag + 1, 0 if q.slot is None else q.slot + 1,
                   0 if q.slot2 is None else q.slot2 + 1] for q in g.queries]
            cfg.append(_lua([widest, horizon, ttl, len(g.slots), qs]))
            self._static[g.index] = str(g.index + 1)
            self._layouts[g.index] = GroupLayout(g)
            self._outs[g.index] = tuple((q.out, q.agg, _ARITY.get(q.agg, 1)) for q in g.queries)
        self._script = self.client.register_script(LUA.replace("--CONFIG--", ",".join(cfg)))
        label_lo = [q.lo for g in plan.groups for q in g.queries if q.agg in ("fraud_count", "fraud_rate")]
        if label_lo and all(lo is not None for lo in label_lo):
            self._label_ttl = max(max(label_lo) + plan.lateness, self.min_ttl_ms)  # type: ignore[type-var]

    def latest_time(self) -> int | None:
        """The latest event time seen by any worker (epoch ms), or None."""
        redis = self._redis()
        try:
            raw = self.client.get(self.prefix + "maxts")
        except redis.RedisError as exc:
            raise StoreError(f"Redis velocity store failed: {type(exc).__name__}: {exc}") from None
        return None if raw is None else int(raw)

    def _member(self, g: Group, cur: list[Any]) -> str:
        parts = []
        for desc, v in zip(g.slots, cur):
            kind = desc[0]
            if kind in ("flag", "val", "valid"):
                parts.append(str(v))
            elif kind == "opt":
                parts.append("" if v is None else str(v))
            elif kind == "dist":
                parts.append("" if v is None else _h(v))
            else:
                parts.append("" if v is None else ("-" if v == "" else _h(v, 12)))
        return "|".join(parts)

    def update_and_read(self, plan: Plan, record: Mapping[str, Any], ts: int) -> np.ndarray:
        """One round trip: lateness check, read all windows, add the event."""
        keys = [self.prefix + "maxts", self.prefix + "seq"]
        present: list[Group] = []
        args: list[Any] = [str(ts), str(plan.lateness), self.prefix + "l:", ""]
        layouts = self._layouts
        for g in plan.groups:
            lay = layouts[g.index]
            ent = lay.entity(record)
            if ent is None:
                continue
            present.append(g)
            keys.append(f"{self.prefix}e:{g.signature}:{_h(ent, 16)}")
            args.append(self._static[g.index])
            args.append(self._member(g, lay.extract(record)))
        args[3] = str(len(present))
        redis = self._redis()
        try:
            res = self._script(keys=keys, args=args)
        except redis.RedisError as exc:
            raise StoreError(f"Redis velocity store failed: {type(exc).__name__}: {exc}") from None
        if res and res[0] == b"late":
            raise EventError("ts", f"is more than allowed_lateness ({plan.lateness} ms) behind the latest event time")
        out = [_NAN] * plan.n_features
        i = 0
        for g in present:
            for o, agg, k in self._outs[g.index]:
                if k == 1:
                    v = res[i]
                    vals: tuple[Any, ...] = (None if v == b"" else int(v),)
                else:
                    vals = tuple(None if v == b"" else int(v) for v in res[i:i + k])
                i += k
                out[o] = finish(agg, vals, ts)
        return np.array(out, dtype=np.float64)

    def record_label(self, plan: Plan, application_id: str, is_fraud: bool, label_time_ms: int) -> None:
        """Store (or clear) a fraud label under the hashed application id."""
        redis = self._redis()
        key = f"{self.prefix}l:{_h(application_id, 12)}"
        try:
            if is_fraud:
                self.client.set(key, str(label_time_ms), px=self._label_ttl)
            else:
                self.client.delete(key)
        except redis.RedisError as exc:
            raise StoreError(f"Redis velocity store failed: {type(exc).__name__}: {exc}") from None
