"""The Redis link state's worker-local cache: what a commit, a failed call or a fresh read does to it.

:class:`~fraudscore.fingerprint.linkstate_redis.OptimisticLinkState` decides from
a bounded, least-recently-used cache of the link keys' values (``_cache``: key ->
``(raw value, parsed form or None)``, guarded by ``_lock``). This mixin keeps it
true: :meth:`WorkerCache.applied` takes a committed transaction's writes and count
increments (with the script's reply for touched records and moved blocks),
:meth:`WorkerCache.forget` drops what a call of unknown outcome touched, and
:meth:`WorkerCache.refresh` takes values read fresh from the server.

Examples
--------
>>> from collections import OrderedDict
>>> import threading
>>> class Cache(WorkerCache):
...     def __init__(self):
...         self._cache, self._lock, self.cache_size = OrderedDict(), threading.Lock(), 2
>>> c = Cache(); c.refresh(["a", "b", "c"], [b"1", b"", b"3"])
>>> list(c._cache)                    # the least recently used key left first
['b', 'c']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._core import load as load_core
from .linkstate_redis_ops import _R, _TAIL, _V, BlockOp, LinkTxn, Touch

__all__ = ["WorkerCache"]

#: :meth:`WorkerCache.applied` compiled (``_core/redis_linkwrite.h``; None: the Python below, its reference,
#: parity-tested in tests/fingerprint/test_linkstate_redis_compiled.py)
_APPLIED: Any = getattr(load_core("redis_calls"), "link_applied", None)


class WorkerCache:
    """Cache maintenance of :class:`~fraudscore.fingerprint.linkstate_redis.OptimisticLinkState` (a mixin: the
    class holds ``_cache``, ``_lock`` and ``cache_size``)."""

    _cache: Any
    _lock: Any
    cache_size: int

    def _put(self, key: Any, value: Any) -> None:
        c = self._cache
        c[key] = (value, None)
        c.move_to_end(key)
        while len(c) > self.cache_size:
            c.popitem(last=False)

    def refresh(self, keys: Sequence[Any], values: Sequence[Any]) -> None:
        """Take fresh values into the cache: string keys (``b""`` = absent) or (hash, field) counts."""
        with self._lock:
            for k, v in zip(keys, values):
                self._put(k, (v or None) if isinstance(k, str) else int(v or 0))

    def applied(self, txn: LinkTxn, skip: str | None = None, touched: dict[str, bytes] | None = None) -> None:
        """The transaction was committed: its writes are now the cached values, and so are its counts.

        ``touched``: what the script answered for each record touched (its new head and tail, ``_R`` bytes) and
        block moved (the block, when its membership is not the cached one; else ``b""``).

        A count read and checked by the commit is now that value plus the increment; a count
        incremented unread (or under the hash ``skip``: a cluster's global counts, refreshed by the
        store instead) is dropped from the cache, and read again when it matters.
        """
        with self._lock:
            if _APPLIED is not None:
                _APPLIED(self._cache, self.cache_size, txn.writes, txn.hreads, txn.hincr, skip, touched, BlockOp,
                         Touch)
                self._keep_parsed(txn)
                return
            for k, v in txn.writes.items():
                if v is None:
                    continue
                if type(v) is BlockOp:
                    got = (touched or {}).get(k)
                    hit = self._cache.get(k)
                    if got:  # the block as the script left it (its membership differed from the cached one)
                        self._put(k, got)
                    elif got is None or hit is None or hit[0] is None or hit[0][:4] != v.cached:
                        self._cache.pop(k, None)
                    else:  # same membership as cached: move the device to the front here too
                        lst = hit[0][_V:].decode("utf-8").split(",") if len(hit[0]) > _V else []
                        new = [v.did, *(d for d in lst if d != v.did)][: v.cap]
                        self._put(k, hit[0][:4] + v.stamp + ",".join(new).encode("utf-8"))
                    continue
                if type(v) is Touch:  # the script's new head and tail (from the reply) on the cached content
                    head = (touched or {}).get(k)
                    hit = self._cache.get(k)
                    if head is None or hit is None or hit[0] is None:
                        self._cache.pop(k, None)
                    else:
                        self._put(k, head + hit[0][_R:])
                        if hit[1] is not None:  # same content: its parsed form with the new sighting, count and IP
                            t, n, ip = _TAIL.unpack_from(head, _V)
                            self._cache[k] = (self._cache[k][0], {**hit[1], "t": int(t), "n": int(n), "ip": int(ip)})
                    continue
                self._put(k, v)
            for hk, d in txn.hincr.items():
                seen = txn.hreads.get(hk)
                if seen is None or hk[0] == skip:
                    self._cache.pop(hk, None)
                else:
                    self._put(hk, seen + d)
            self._keep_parsed(txn)

    def _keep_parsed(self, txn: LinkTxn) -> None:
        """The records the transaction wrote, cached with their parsed form (``LinkTxn.parsed``: what
        ``decode_record`` gives for them), so the next read parses nothing; under the lock, after the writes."""
        if not txn.parsed:
            return
        cache, writes = self._cache, txn.writes
        for k, parsed in txn.parsed.items():
            hit = cache.get(k)
            if hit is not None and hit[1] is None and hit[0] is writes.get(k):
                cache[k] = (hit[0], parsed)

    def forget(self, txn: LinkTxn) -> None:
        """The outcome is unknown (a failed call): drop what the transaction touched from the cache."""
        with self._lock:
            for k in (*txn.reads, *txn.writes, *txn.hreads, *txn.hincr):
                self._cache.pop(k, None)

    def clear_cache(self) -> None:
        """Drop every cached value (later reads assume absent and are corrected by the checks)."""
        with self._lock:
            self._cache.clear()
