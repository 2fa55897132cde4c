"""Device-link state in Redis: a worker-local versioned cache, checked and committed atomically.

A linker decides in Python (rules today, a learned pairwise model tomorrow), which
Lua inside Redis cannot run. So the Redis link protocol is *optimistic*, in three
steps per event:

1. **read block** -- the linker reads the link state through this
   :class:`~fraudscore.fingerprint.linkstate.LinkState` (``lookup``,
   ``candidates``, ``get``); the reads come from a local cache of the
   fingerprint's candidate block (exact index entries, block lists, device
   records), and each key read is logged with the *version* seen (or "absent"):
   the read set. A key this worker never saw is assumed absent.
2. **decide** -- the linker decides and calls ``commit`` / ``touch``; nothing is
   sent, the new values are buffered: the write set.
3. **commit** -- the read set and the write set travel inside the event's one
   Redis script (:class:`~fraudscore.velocity.RedisStore`), which checks every
   version and, only if all match, applies the writes together with the event's
   velocity update and idempotency record. Otherwise it returns the fresh values
   of the read set, this cache takes them and the linker decides again (a second
   round trip; a third when the fresh values point at records this worker has not
   seen yet).

Any linker plugs in unchanged as long as ``link(fp, ts)`` reads and writes state
only through its :class:`LinkState` and is a deterministic function of what it
reads (it may be run more than once per event); see ``docs/stores.md``.

Layout (hash tag ``{..}`` = the shard of the fingerprint's hardware section, so
one event's link keys share one slot): ``<prefix>x{..}:<fp id>`` -> device id,
``<prefix>r{..}:<device id>`` -> the device record (JSON), ``<prefix>b{..}:<block>``
-> device ids, most recent first. Each value starts with a 4-byte random version;
every key has a wall-clock expiry of ``ttl_ms`` (records are also checked against
event time, as in :class:`~fraudscore.fingerprint.linkstate.MemoryLinkState`).

Used on its own (``DeviceLinker(RedisLinkState(client))``), the state reads the
keys it needs fresh from Redis and commits each link at once with the same check
(two or three round trips per link; a concurrent change raises
:class:`~fraudscore.errors.StoreError`).
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from .._redis import DEFAULT_SHARDS, Script, check_prefix, check_shards, is_cluster, shard_of, store_error, tag
from ..errors import ConfigError, StoreError
from .linkstate import DEFAULT_TTL_MS, LinkState, Record, _check

__all__ = ["RedisLinkState", "LinkTxn", "CAS_LUA"]

_V = 4  # version bytes at the head of every value


class LinkTxn:
    """One link decision's read set (key -> version seen, ``b""`` = absent) and write set."""

    __slots__ = ("reads", "writes", "tag")

    def __init__(self) -> None:
        self.reads: dict[str, bytes] = {}
        self.writes: dict[str, bytes | None] = {}  # None: refresh the expiry only
        self.tag: str | None = None

    def keys(self) -> list[str]:
        return list(dict.fromkeys([*self.reads, *self.writes]))


#: The compare-and-set step of the event script (also run alone by a standalone state).
#: KEYS: reads then writes; ARGV: n_reads, n_writes, ttl, expected versions, new values ('' = expiry only).
CAS_LUA = r"""
local nr, nw, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local bad = false
local fresh = {}
for i = 1, nr do
  local v = redis.call('GET', KEYS[i])
  local exp = ARGV[3 + i]
  if exp == '' then
    if v then bad = true end
  elseif not v or string.sub(v, 1, 4) ~= exp then bad = true end
  fresh[i] = v or ''
end
if bad then return {'conflict', fresh} end
for i = 1, nw do
  local val = ARGV[3 + nr + i]
  if val == '' then redis.call('PEXPIRE', KEYS[nr + i], ttl)
  else redis.call('SET', KEYS[nr + i], val, 'PX', ttl) end
end
return {'ok'}
"""
_CAS = Script(CAS_LUA)


class RedisLinkState(LinkState):
    """Link state in Redis, shared by worker processes (see the module doc).

    Parameters
    ----------
    client : redis.Redis or redis.cluster.RedisCluster, optional
        Needed for standalone use; a :class:`~fraudscore.velocity.RedisStore`
        creates its own state (``store.link_state()``) that commits through the
        store's one script per event.
    prefix : str, default "fs:"
        Key prefix (no braces).
    ttl_ms : int, default 180 days
    max_per_block : int, default 8
    shards : int, default 64
        Hash-tag shards (must match the store's).
    cache_size : int, default 200_000
        Most keys cached by this worker (least recently used dropped first).
    """

    def __init__(self, client: Any = None, prefix: str = "fs:", ttl_ms: int = DEFAULT_TTL_MS,
                 max_per_block: int = 8, *, shards: int = DEFAULT_SHARDS, cache_size: int = 200_000,
                 standalone: bool = True) -> None:
        if standalone and (client is None or not hasattr(client, "pipeline")):
            got = "None" if client is None else type(client).__name__
            raise ConfigError(f"The 'client' parameter of RedisLinkState must be a redis client. Got {got} instead.")
        self.client = client
        self.prefix = check_prefix(prefix, "RedisLinkState")
        self.ttl_ms = _check("ttl_ms", "RedisLinkState", ttl_ms)
        self.max_per_block = _check("max_per_block", "RedisLinkState", max_per_block)
        self.shards = check_shards(shards, "RedisLinkState")
        self.cache_size = _check("cache_size", "RedisLinkState", cache_size)
        self.standalone = standalone
        self._cache: OrderedDict[str, tuple[bytes | None, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()

    # -- layout ------------------------------------------------------------------------------
    def shard(self, hardware: str) -> int:
        """The shard of a hardware section: a fingerprint's link keys all live in it."""
        return shard_of("hw:" + hardware, self.shards)

    def device_shard(self, device_id: Any) -> int | None:
        """The shard of a device's record, from its id ``d_<hardware>_<suffix>`` (``None`` for other ids)."""
        if isinstance(device_id, str) and device_id.startswith("d_") and device_id.count("_") >= 2:
            return self.shard(device_id.split("_", 2)[1])
        return None

    def _key(self, kind: str, name: str) -> str:
        t = None
        if kind == "r":
            s = self.device_shard(name)
            t = None if s is None else tag(self.prefix, s)
        return f"{self.prefix}{kind}{t or self._txn().tag}:{name}"

    # -- transactions -------------------------------------------------------------------------
    def begin(self, hardware: str) -> LinkTxn:
        """Open the calling thread's transaction for a fingerprint with this hardware section."""
        txn = LinkTxn()
        txn.tag = tag(self.prefix, self.shard(hardware))
        self._local.txn = txn
        return txn

    def end(self) -> LinkTxn | None:
        """Close and return the calling thread's transaction."""
        txn = getattr(self._local, "txn", None)
        self._local.txn = None
        return txn

    def _txn(self) -> LinkTxn:
        txn = getattr(self._local, "txn", None)
        if txn is None:
            raise StoreError("RedisLinkState used outside a link transaction (begin() first)")
        return txn

    def refresh(self, keys: Sequence[str], values: Sequence[bytes | None]) -> None:
        """Take fresh values (``None`` or ``b""`` = absent) of ``keys`` into the cache."""
        with self._lock:
            for k, v in zip(keys, values):
                self._put(k, v or None)

    def applied(self, txn: LinkTxn) -> None:
        """The transaction was committed: its writes are now the cached values."""
        with self._lock:
            for k, v in txn.writes.items():
                if v is not None:
                    self._put(k, v)

    def forget(self, txn: LinkTxn) -> None:
        """The outcome of a transaction is unknown (a failed call): drop its keys from the cache."""
        with self._lock:
            for k in txn.keys():
                self._cache.pop(k, None)

    def clear_cache(self) -> None:
        """Drop every cached key (the next reads assume absent and are corrected by the checks)."""
        with self._lock:
            self._cache.clear()

    def _put(self, key: str, raw: bytes | None) -> None:
        c = self._cache
        c[key] = (raw, None)
        c.move_to_end(key)
        while len(c) > self.cache_size:
            c.popitem(last=False)

    # -- reads (logged) ------------------------------------------------------------------------
    def _read(self, key: str) -> tuple[bytes | None, Any]:
        txn = self._txn()
        w = txn.writes.get(key)
        if w is not None:  # read your own write
            return w, None
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
        raw, parsed = hit if hit is not None else (None, None)
        if key not in txn.reads:
            txn.reads[key] = b"" if raw is None else raw[:_V]
        return raw, parsed

    def _record(self, device_id: str, now: int) -> Record | None:
        key = self._key("r", device_id)
        raw, parsed = self._read(key)
        if raw is None:
            return None
        if parsed is None:
            parsed = json.loads(raw[_V:])
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None and hit[0] is raw:
                    self._cache[key] = (raw, parsed)
        if now - parsed["t"] > self.ttl_ms:
            return None
        return dict(parsed)

    def _ids(self, key: str) -> list[str]:
        raw, _ = self._read(key)
        if raw is None or len(raw) <= _V:
            return []
        return raw[_V:].decode("ascii").split(",")

    def get(self, device_id: str, now: int) -> Record | None:
        if self.standalone:
            self._auto(device_id.split("_", 2)[1] if self.device_shard(device_id) is not None else "")
            self._fetch([self._key("r", device_id)])
        return self._record(device_id, now)

    def get_exact(self, fp_ids: Sequence[str], now: int) -> str | None:
        if self.standalone:
            self._auto(_hardware(fp_ids, ()))
            xkeys = [self._key("x", f) for f in fp_ids]
            self._fetch(xkeys)
            self._fetch([self._key("r", d) for k in xkeys for d in self._ids(k)])
        for fid in fp_ids:
            ids = self._ids(self._key("x", fid))
            if ids and self._record(ids[0], now) is not None:
                return ids[0]
        return None

    def lookup(self, fp_ids: Sequence[str], block_keys: Sequence[str],
               now: int) -> tuple[Record | None, list[Record]]:
        if self.standalone:
            self._auto(_hardware(fp_ids, block_keys))
        xkeys = [self._key("x", f) for f in fp_ids]
        bkeys = [self._key("b", b) for b in block_keys]
        if self.standalone:
            self._fetch(xkeys + bkeys)
            dids = [d for k in (*xkeys, *bkeys) for d in self._ids(k)]
            self._fetch([self._key("r", d) for d in dict.fromkeys(dids)])
        for k in xkeys:  # get_exact then get, as the memory state does
            ids = self._ids(k)
            if ids:
                rec = self._record(ids[0], now)
                if rec is not None:
                    return rec, []
        return None, self._candidates(bkeys, now)

    def candidates(self, block_keys: Sequence[str], now: int) -> list[Record]:
        if self.standalone:
            self._auto(_hardware((), block_keys))
        bkeys = [self._key("b", b) for b in block_keys]
        if self.standalone:
            self._fetch(bkeys)
            self._fetch([self._key("r", d) for k in bkeys for d in self._ids(k)])
        return self._candidates(bkeys, now)

    def _candidates(self, bkeys: list[str], now: int) -> list[Record]:
        out: list[Record] = []
        seen: set[str] = set()
        for k in bkeys:
            for did in self._ids(k):
                if did in seen:
                    continue
                seen.add(did)
                rec = self._record(did, now)
                if rec is not None:
                    out.append(rec)
        return out

    # -- writes (buffered) ---------------------------------------------------------------------
    @staticmethod
    def _version() -> bytes:
        v = os.urandom(_V)
        return v if v != b"\x00" * _V else b"\x00\x00\x00\x01"

    def touch(self, record: Record, now: int) -> None:
        record = {**record, "t": max(record["t"], now), "n": record["n"] + 1}
        txn = self._txn()
        txn.writes[self._key("r", record["id"])] = self._version() + _dump(record)
        txn.writes.setdefault(self._key("x", record["fp"]), None)  # refresh the exact entry's expiry
        self._flush()

    def commit(self, record: Record, fp_ids: Sequence[str], block_keys: Sequence[str], now: int) -> None:
        did = record["id"]
        txn = self._txn()
        txn.writes[self._key("r", did)] = self._version() + _dump(record)
        for fid in fp_ids:
            xk = self._key("x", fid)
            if self._ids(xk) == [did]:  # logged read: the check covers the entry kept or replaced
                txn.writes.setdefault(xk, None)
            else:
                txn.writes[xk] = self._version() + did.encode("ascii")
        for b in block_keys:
            bk = self._key("b", b)
            lst = [did, *(d for d in self._ids(bk) if d != did)][: self.max_per_block]
            txn.writes[bk] = self._version() + ",".join(lst).encode("ascii")
        self._flush()

    # -- standalone use ---------------------------------------------------------------------------
    def _auto(self, hardware: str) -> None:
        """Standalone: the first read of a link opens its transaction."""
        if getattr(self._local, "txn", None) is None:
            self.begin(hardware)

    def _fetch(self, keys: list[str]) -> None:
        """Standalone: read keys not yet read in this transaction fresh from Redis."""
        txn = self._txn()
        want = [k for k in dict.fromkeys(keys) if k not in txn.reads and k not in txn.writes]
        if not want:
            return
        try:
            vals = self.client.mget_nonatomic(want) if is_cluster(self.client) else self.client.mget(want)
        except Exception as exc:  # noqa: BLE001 - redis-py and socket errors
            self._local.txn = None
            if isinstance(exc, (ConfigError, StoreError)):
                raise
            raise store_error(exc, "Redis link state") from exc
        self.refresh(want, vals)

    def _flush(self) -> None:
        """Standalone: commit the transaction now (scorer mode: the store's script commits it)."""
        if not self.standalone:
            return
        txn = self.end()
        assert txn is not None
        reads, writes = list(txn.reads), list(txn.writes)
        args = [len(reads), len(writes), self.ttl_ms, *[txn.reads[k] for k in reads],
                *[b"" if txn.writes[k] is None else txn.writes[k] for k in writes]]
        try:
            res = _CAS(self.client, reads + writes, args)
        except Exception as exc:  # noqa: BLE001 - redis-py and socket errors
            self.forget(txn)
            raise store_error(exc, "Redis link state") from exc
        if res[0] == b"conflict":
            self.refresh(reads, res[1])
            raise StoreError("Redis link state changed concurrently; link the event again")
        self.applied(txn)


def _hardware(fp_ids: Sequence[str], block_keys: Sequence[str]) -> str:
    """The hardware section named by a fingerprint id (``fp<n>_<hw>_...``) or a block key (``<hw>[:...]``)."""
    for fid in fp_ids:
        parts = fid.split("_")
        if len(parts) >= 2:
            return parts[1]
    for b in block_keys:
        return b.split(":", 1)[0]
    return ""


def _dump(record: Record) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode("utf-8")
