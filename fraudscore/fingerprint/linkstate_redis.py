"""Device-link state for the Redis store's one script per event: a worker-local versioned cache, checked at commit.

A linker decides in Python (a learned pairwise model), which Lua inside Redis
cannot run. The linker's interface is already shaped for an optimistic protocol
(:class:`~fraudscore.fingerprint.linkstate.LinkState`: ``read`` a view, ``decide``
in Python, ``write`` a plan), so per event:

1. **read block** -- :meth:`OptimisticLinkState.read` answers from a local cache
   of the fingerprint family's link state (exact index entries, candidate
   blocks, device records, each stored with a 4-byte version; value counts) and
   logs every key it read with the version seen (a key this worker never saw is
   assumed absent) and every count with the value seen: the read set;
2. **decide** -- ``DeviceLinker.decide`` is a pure function of the view;
3. **commit** -- :meth:`write` only buffers the plan's new values and count
   increments. They travel inside the event's one Redis script
   (:class:`~fraudscore.velocity.RedisStore`), which checks every version and
   count read and, only if all match, applies the writes with the event's velocity
   update and idempotency record. Otherwise it returns the fresh values, the cache
   takes them and the linker reads and decides again (a second round trip; a third
   when the fresh values name a record this worker has not seen yet).

A linker plugs in unchanged as long as its link is a pure function of the
view it reads and all state changes go through ``write``: the Redis state may run
it more than once for one event.

Layout (``{..}``: the hash tag of the shard of the fingerprint's hardware family,
so one event's link keys share one slot): ``<prefix>x{..}:<fp id>`` -> ``device
id|devices seen with it``, ``<prefix>r{..}:<device id>`` -> the device record
(JSON), ``<prefix>b{..}:<block>`` -> device ids, most recently seen first,
``<prefix>f{..}:<family>`` -> the family's value counts (a hash); each string
value starts with a 4-byte random version. The counts over all families live in
``<prefix>g{..}`` (shard 0): on one node they are checked like the rest; on a
Redis Cluster they are in another slot, so they are not checked: a worker's
increments travel with its next event in an unchecked call of their own, whose reply
refreshes its cached values (a decision may read them a few events stale; the
default linker counts only devices there and reads nothing). Every key expires ``ttl_ms`` after its last write; records are also
checked against event time, as :class:`~fraudscore.fingerprint.MemoryLinkState`
does. :class:`~fraudscore.fingerprint.linkstate.RedisLinkState` is the standalone
state (separate round trips to read and write).
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from .._redis import DEFAULT_SHARDS, check_prefix, check_shards, shard_of, tag
from ..errors import StoreError
from .linkstate import DEFAULT_TTL_MS, LinkPlan, LinkState, LinkView, Record, _check

__all__ = ["OptimisticLinkState", "LinkTxn"]

_V = 4  # version bytes at the head of every string value
_ABSENT = b""


class LinkTxn:
    """One link decision's read set and write set.

    ``reads``: string key -> version seen (``b""`` = absent); ``hreads``: (hash key,
    field) -> count seen; ``writes``: string key -> new value (``None`` = refresh the
    expiry only); ``hincr``: (hash key, field) -> increment.
    """

    __slots__ = ("reads", "hreads", "writes", "hincr", "tag", "family")

    def __init__(self) -> None:
        self.reads: dict[str, bytes] = {}
        self.hreads: dict[tuple[str, str], int] = {}
        self.writes: dict[str, bytes | None] = {}
        self.hincr: dict[tuple[str, str], int] = {}
        self.tag: str | None = None
        self.family: str | None = None

    def keys(self) -> list[str]:
        return list(dict.fromkeys([*self.reads, *self.writes, *(k for k, _ in self.hreads),
                                   *(k for k, _ in self.hincr)]))


class OptimisticLinkState(LinkState):
    """Link state in Redis, committed by the store's event script (see the module doc).

    Created by :meth:`RedisStore.link_state() <fraudscore.velocity.RedisStore.link_state>`.

    Parameters
    ----------
    prefix : str
        Key prefix (no braces).
    ttl_ms : int, default 180 days
    max_per_block : int, default 64
    shards : int, default 64
        Hash-tag shards (the store's).
    cache_size : int, default 200_000
        Most keys and counts cached by this worker (least recently used dropped first).

    Attributes
    ----------
    live_evictions : int
        Live devices pushed out of a full block by this worker's writes.
    """

    def __init__(self, prefix: str = "fs:", ttl_ms: int = DEFAULT_TTL_MS, max_per_block: int = 64, *,
                 shards: int = DEFAULT_SHARDS, cache_size: int = 200_000) -> None:
        self.prefix = check_prefix(prefix, "OptimisticLinkState")
        self.ttl_ms = _check("ttl_ms", "OptimisticLinkState", ttl_ms)
        self.max_per_block = _check("max_per_block", "OptimisticLinkState", max_per_block)
        self.shards = check_shards(shards, "OptimisticLinkState")
        self.cache_size = _check("cache_size", "OptimisticLinkState", cache_size)
        self.global_key = f"{self.prefix}g{tag(self.prefix, 0)}"
        self.live_evictions = 0
        self._cache: OrderedDict[Any, tuple[Any, Any]] = OrderedDict()
        self._rkeys: dict[str, str] = {}  # device id -> its record key (a pure function of the id; bounded)
        self._shards: dict[str, int] = {}  # hardware family -> shard (bounded)
        self._lock = threading.Lock()
        self._local = threading.local()

    # -- layout ------------------------------------------------------------------------------
    def shard(self, family: str) -> int:
        """The shard of a hardware family: a fingerprint's link keys all live in it."""
        s = self._shards.get(family)
        if s is None:
            if len(self._shards) >= self.cache_size:
                self._shards.clear()
            s = self._shards[family] = shard_of("fam:" + family, self.shards)
        return s

    def device_shard(self, device_id: Any) -> int | None:
        """The shard of a device's record, from its id ``d_<family>_<suffix>`` (``None`` for other ids)."""
        if isinstance(device_id, str) and device_id.startswith("d_") and device_id.count("_") >= 2:
            return self.shard(device_id[2:].rsplit("_", 1)[0])
        return None

    def _key(self, kind: str, name: str) -> str:
        if kind == "r":
            return self._rkey(name)
        return f"{self.prefix}{kind}{self._txn().tag}:{name}"

    def _rkey(self, device_id: str) -> str:
        """The record key of a device: in its family's shard (ids ``d_<family>_<suffix>``), else the txn's."""
        k = self._rkeys.get(device_id)
        if k is not None:
            return k
        s = self.device_shard(device_id)
        if s is None:
            return f"{self.prefix}r{self._txn().tag}:{device_id}"
        if len(self._rkeys) >= self.cache_size:
            self._rkeys.clear()
        k = self._rkeys[device_id] = f"{self.prefix}r{tag(self.prefix, s)}:{device_id}"
        return k

    # -- transactions -------------------------------------------------------------------------
    def begin(self, family: str) -> LinkTxn:
        """Open the calling thread's transaction for a fingerprint of this hardware family."""
        txn = LinkTxn()
        txn.tag = tag(self.prefix, self.shard(family))
        txn.family = family
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
            raise StoreError("the store's link state was used outside a link transaction")
        return txn

    def refresh(self, keys: Sequence[Any], values: Sequence[Any]) -> None:
        """Take fresh values into the cache: string keys (``b""`` = absent) or (hash, field) counts."""
        with self._lock:
            for k, v in zip(keys, values):
                self._put(k, (v or None) if isinstance(k, str) else int(v or 0))

    def applied(self, txn: LinkTxn, skip: str | None = None) -> None:
        """The transaction was committed: its writes are now the cached values, and so are its counts.

        A count read and checked by the commit is now that value plus the increment; a count
        incremented unread (or under the hash ``skip``: a cluster's global counts, refreshed by the
        store instead) is dropped from the cache, and read again when it matters.
        """
        with self._lock:
            for k, v in txn.writes.items():
                if v is not None:
                    self._put(k, v)
            for hk, d in txn.hincr.items():
                seen = txn.hreads.get(hk)
                if seen is None or hk[0] == skip:
                    self._cache.pop(hk, None)
                else:
                    self._put(hk, seen + d)

    def forget(self, txn: LinkTxn) -> None:
        """The outcome is unknown (a failed call): drop what the transaction touched from the cache."""
        with self._lock:
            for k in (*txn.reads, *txn.writes, *txn.hreads, *txn.hincr):
                self._cache.pop(k, None)

    def clear_cache(self) -> None:
        """Drop every cached value (later reads assume absent and are corrected by the checks)."""
        with self._lock:
            self._cache.clear()

    def _put(self, key: Any, value: Any) -> None:
        c = self._cache
        c[key] = (value, None)
        c.move_to_end(key)
        while len(c) > self.cache_size:
            c.popitem(last=False)

    # -- reads (logged) ------------------------------------------------------------------------
    def _read(self, key: str, txn: LinkTxn | None = None) -> tuple[bytes | None, Any]:
        if txn is None:
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
            txn.reads[key] = _ABSENT if raw is None else raw[:_V]
        return raw, parsed

    def _count(self, hkey: str, field: str, txn: LinkTxn | None = None) -> int:
        if txn is None:
            txn = self._txn()
        k = (hkey, field)
        with self._lock:
            hit = self._cache.get(k)
        v = 0 if hit is None else int(hit[0])
        txn.hreads.setdefault(k, v)
        return v + txn.hincr.get(k, 0)

    def _record(self, device_id: str, now: int, txn: LinkTxn | None = None) -> Record | None:
        """The device's record as of ``now`` (the cached dict itself: linkers never change a view's records,
        and :meth:`write` copies the one it updates)."""
        key = self._rkeys.get(device_id) or self._rkey(device_id)
        raw, parsed = self._read(key, txn)
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
        return parsed

    def _exact(self, fid: str, txn: LinkTxn | None = None) -> tuple[str, int] | None:
        raw, _ = self._read(self._key("x", fid), txn)
        if raw is None:
            return None
        did, _, nd = raw[_V:].decode("utf-8").rpartition("|")
        return did, int(nd)

    def _block(self, name: str, txn: LinkTxn | None = None) -> list[str]:
        raw, _ = self._read(self._key("b", name), txn)
        if raw is None or len(raw) <= _V:
            return []
        return raw[_V:].decode("utf-8").split(",")

    def read(self, fp_ids: Sequence[str], block_keys: Sequence[str], fam: str, fam_keys: Sequence[int],
             glob_keys: Sequence[int], now: int,
             need_candidates: Callable[[Record | None], bool] | None = None,
             shared_key: str | None = None) -> LinkView:
        """As :meth:`MemoryLinkState.read <fraudscore.fingerprint.MemoryLinkState.read>`, from the cache, logged."""
        view = LinkView()
        txn = self._txn()
        for fid in fp_ids:
            hit = self._exact(fid, txn)
            if hit is not None:
                rec = self._record(hit[0], now, txn)
                if rec is not None:
                    view.exact, view.exact_ndev = rec, hit[1]
                    break
        if shared_key is not None:
            hit = self._exact(shared_key, txn)
            if hit is not None:
                view.shared = self._record(hit[0], now, txn)
        if need_candidates is None or need_candidates(view.exact):
            skip = view.exact["id"] if view.exact is not None else None
            seen: set[str] = set()
            cands = view.cands
            for key in block_keys:
                for did in self._block(key, txn):
                    if did in seen or did == skip:
                        continue
                    seen.add(did)
                    rec = self._record(did, now, txn)
                    if rec is not None:
                        cands.append(rec)
        fk = self._key("f", fam)
        view.fam_n = self._count(fk, "n", txn)
        view.fam_counts = {k: self._count(fk, str(k), txn) for k in fam_keys}
        if glob_keys:
            view.glob_n = self._count(self.global_key, "n", txn)
            view.glob_counts = {k: self._count(self.global_key, str(k), txn) for k in glob_keys}
        return view

    # -- writes (buffered) ---------------------------------------------------------------------
    @staticmethod
    def _version() -> bytes:
        v = os.urandom(_V)
        return v if v != b"\x00" * _V else b"\x00\x00\x00\x01"

    def write(self, plan: LinkPlan, now: int) -> None:
        """Buffer the plan (see :meth:`MemoryLinkState.write <fraudscore.fingerprint.MemoryLinkState.write>`)."""
        txn = self._txn()
        rec = dict(plan.record)
        did = rec["id"]
        if plan.touch:
            rec["t"] = max(rec["t"], now)
            rec["n"] = rec["n"] + 1
            if plan.ip:
                rec["ip"] = plan.ip
        txn.writes[self._key("r", did)] = self._version() + json.dumps(rec, separators=(",", ":")).encode("utf-8")
        for fid in plan.fp_ids:
            xk = self._key("x", fid)
            hit = self._exact(fid)  # logged: the check covers the entry kept or replaced
            if plan.touch and hit is not None:
                txn.writes.setdefault(xk, None)
            elif hit is not None and hit == (did, plan.ndev):
                txn.writes.setdefault(xk, None)
            else:
                txn.writes[xk] = self._version() + f"{did}|{plan.ndev}".encode("utf-8")
        for b in plan.block_keys:
            bk = self._key("b", b)
            lst = [did, *(d for d in self._block(b) if d != did)]
            for old in lst[self.max_per_block:]:  # a statistic: peeked, not part of the read set
                with self._lock:
                    hit = self._cache.get(self._key("r", old))
                if hit is not None and hit[0] is not None and now - json.loads(hit[0][_V:])["t"] <= self.ttl_ms:
                    self.live_evictions += 1
            txn.writes[bk] = self._version() + ",".join(lst[: self.max_per_block]).encode("utf-8")
        if not plan.touch:
            if plan.fam_keys or plan.new_device:
                fk = self._key("f", plan.fam)
                if plan.new_device:
                    txn.hincr[(fk, "n")] = txn.hincr.get((fk, "n"), 0) + 1
                for k in plan.fam_keys:
                    txn.hincr[(fk, str(k))] = txn.hincr.get((fk, str(k)), 0) + 1
            if plan.glob_keys or plan.new_device:
                g = self.global_key
                if plan.new_device:
                    txn.hincr[(g, "n")] = txn.hincr.get((g, "n"), 0) + 1
                for k in plan.glob_keys:
                    txn.hincr[(g, str(k))] = txn.hincr.get((g, str(k)), 0) + 1
