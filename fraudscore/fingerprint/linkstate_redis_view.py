"""The Redis link state's reads: the view a link decision sees, from the worker's cache, every read logged.

:class:`LinkReads` is the read half of
:class:`~fraudscore.fingerprint.linkstate_redis.OptimisticLinkState` (a mixin: the
state's layout, transactions and writes stay there, its cache upkeep in
:class:`~fraudscore.fingerprint.linkstate_redis_cache.WorkerCache`). Each read
notes the content version it saw in the event's :class:`LinkTxn`, so the event's
script can check that the decision's inputs are unchanged when it commits;
:meth:`LinkReads.read` reads ahead (:func:`~fraudscore.fingerprint.linkstate_redis_read.read_all`)
while the worker's commits are refused often (:data:`CONTENDED`) or the cache misses
a record an entry or block names.

Examples
--------
>>> _field_name(12), _FIELDS[12]
('12', '12')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .._core import load as load_core
from .linkstate import LinkView, Record
from .linkstate_redis_ops import _ABSENT, _ANY_STAMP, _V, LinkTxn, _NeedRead, decode_record
from .linkstate_redis_read import read_all

__all__ = ["CONTENDED", "LinkReads"]

#: Share of refused commits (moving average) above which a worker reads what it may have stale before deciding.
CONTENDED = 0.05
_FIELDS: dict[Any, str] = {"n": "n"}  # count key -> its hash field (str of an int key; bounded)
_C = load_core("redis_calls")
#: the compiled reads of :meth:`LinkReads._view` (candidates, exact match, counts: ``_core/redis_linkcache.h``);
#: None: the Python below, their reference, parity-tested in tests/fingerprint/test_linkstate_redis_compiled.py
_CANDIDATES: Any = getattr(_C, "link_candidates", None)
_COUNTS: Any = getattr(_C, "link_counts", None)
_EXACT: Any = getattr(_C, "link_exact", None)


def _field_name(key: Any) -> str:
    """A count hash's field name of a value key, ``str(key)``, kept in ``_FIELDS`` (callers look there first)."""
    if len(_FIELDS) >= 65_536:
        _FIELDS.clear()
    f = _FIELDS[key] = str(key)
    return f


class _RecordingView(LinkView):
    """A view whose ``deps`` list receives :class:`~fraudscore.fingerprint.DeviceLinker`'s dependency records,
    and which notes whether the decision looked at the shared (class) record."""

    def __init__(self) -> None:
        self.used_shared = False
        self._shared: Record | None = None
        super().__init__()
        self.deps: list[tuple[Any, ...]] = []

    @property  # type: ignore[override]
    def shared(self) -> Record | None:
        self.used_shared = True
        return self._shared

    @shared.setter
    def shared(self, rec: Record | None) -> None:
        self._shared = rec


class LinkReads:
    """The logged reads of :class:`~fraudscore.fingerprint.linkstate_redis.OptimisticLinkState` (a mixin: it
    uses the state's cache and lock, ``fetch`` / ``preread``, its keys ``_key`` / ``_rkey``, its transaction
    ``_txn``, ``observe`` and the cache's ``_put``)."""

    _cache: Any
    _rkeys: dict[str, str]
    _lock: Any
    fetch: Callable[[list[str]], list[bytes | None]] | None
    preread: Callable[[str, list[str], list[Any]], Any] | None
    refused: float
    fetches: int
    prefix: str
    ttl_ms: int
    global_key: str
    _make_rkeys: bool

    def _fetch(self, keys: list[str], absent: bool = False) -> int:
        """Read ``keys`` from Redis into the cache (``absent``: drop the cached value of a key found absent);
        returns how many had another content version than the cached one."""
        assert self.fetch is not None
        if not keys:
            return 0
        values = self.fetch(keys)
        self.fetches += len(keys)
        changed = 0
        with self._lock:
            cache = self._cache
            for k, v in zip(keys, values):
                hit = cache.get(k)
                old = hit[0] if hit is not None else None  # (None: known absent)
                if v is not None:
                    if old != v:  # (an unchanged value keeps its parsed form)
                        changed += old is None or old[:4] != v[:4]
                        self._put(k, v)
                elif absent and hit is not None:
                    changed += old is not None
                    cache.pop(k, None)
        return changed

    # -- reads (logged) ------------------------------------------------------------------------
    def _read(self, key: str, txn: LinkTxn | None = None) -> tuple[bytes | None, Any]:
        if txn is None:
            txn = self._txn()
        w = txn.writes.get(key)
        if w is not None and type(w) is bytes:  # read your own write (a touch or block move is applied later)
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

    def _counts(self, hkey: str, keys: Sequence[int], txn: LinkTxn) -> tuple[int, dict[int, int]]:
        """A hash's device count and the counts of ``keys`` (as :meth:`_count` each, under one lock)."""
        hreads, hincr = txn.hreads, txn.hincr
        fields = _FIELDS
        if _COUNTS is not None:
            with self._lock:
                got = _COUNTS(self._cache, hreads, hincr, hkey, keys, fields)
            if got is not None:
                return got  # type: ignore[no-any-return]
        out: dict[int, int] = {}
        n = 0
        with self._lock:
            get = self._cache.get
            for key in ("n", *keys):
                f = fields.get(key) or _field_name(key)
                k = (hkey, f)
                hit = get(k)
                v = 0 if hit is None else int(hit[0])
                if k not in hreads:
                    hreads[k] = v
                v += hincr.get(k, 0)
                if key == "n":
                    n = v
                else:
                    out[key] = v
        return n, out

    def _record(self, device_id: str, now: int, txn: LinkTxn | None = None) -> Record | None:
        """The device's record as of ``now`` (the cached dict itself: linkers never change a view's records,
        and :meth:`write` copies the one it updates)."""
        key = self._rkeys.get(device_id) or self._rkey(device_id)
        if self.fetch is not None and key not in self._cache and (txn or self._txn()).writes.get(key) is None:
            if (txn or self._txn()).strict:
                raise _NeedRead
            self._fetch([key])  # named by an index entry or a block: it exists (or expired), ask for it
        raw, parsed = self._read(key, txn)
        if raw is None:
            return None
        if parsed is None:
            parsed = decode_record(raw)
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
        """A block's device ids (logged as a read of its membership: its order does not matter to a decision)."""
        if txn is None:
            txn = self._txn()
        key = self._key("b", name)
        raw, _ = self._read(key, txn)
        seen = txn.reads.get(key)
        if seen and seen[4:] != _ANY_STAMP:
            txn.reads[key] = seen[:4] + _ANY_STAMP
        if raw is None or len(raw) <= _V:
            return []
        return raw[_V:].decode("utf-8").split(",")

    def read(self, fp_ids: Sequence[str], block_keys: Sequence[str], fam: str, fam_keys: Sequence[int],
             glob_keys: Sequence[int], now: int,
             need_candidates: Callable[[Record | None], bool] | None = None,
             shared_key: str | None = None) -> LinkView:
        """As :meth:`MemoryLinkState.read <fraudscore.fingerprint.MemoryLinkState.read>`, from the cache, logged.

        With :attr:`preread` set, at most one request reads what the decision may need: while contended
        (:data:`CONTENDED`) before deciding, else only when the cache misses a record an entry or block names
        (the read is then done again on the fresh cache).
        """
        txn = self._txn()
        args = (fp_ids, block_keys, fam, fam_keys, glob_keys, now, need_candidates, shared_key)
        if self.preread is None or self.fetch is None:
            return self._view(txn, *args)
        if self.refused <= CONTENDED:
            txn.strict = True
            try:
                return self._view(txn, *args)
            except _NeedRead:  # a record never seen: forget what this read logged, read everything, read again
                txn.reads.clear()
                txn.hreads.clear()
                txn.shared_reads = ()
                if txn.view is not None:
                    txn.view = _RecordingView()
            finally:
                txn.strict = False
            read_all(self, txn, fp_ids, block_keys, fam, fam_keys, shared_key)
        else:
            # (a value found changed counts as a commit this read saved from refusal: reading first goes on
            # while other workers keep changing the state)
            self.observe(read_all(self, txn, fp_ids, block_keys, fam, fam_keys, shared_key) > 0)
        return self._view(txn, *args)

    def _view(self, txn: LinkTxn, fp_ids: Sequence[str], block_keys: Sequence[str], fam: str,
              fam_keys: Sequence[int], glob_keys: Sequence[int], now: int,
              need_candidates: Callable[[Record | None], bool] | None = None,
              shared_key: str | None = None) -> LinkView:
        """The view, from the cache (logged)."""
        view = txn.view if txn.view is not None else LinkView()
        got = False
        if _EXACT is not None and self.fetch is not None:  # the loop below in one compiled call (False: it runs)
            with self._lock:
                got = _EXACT(self._cache, self._rkeys, txn.reads, txn.writes, f"{self.prefix}x{txn.tag}:", fp_ids,
                             now, self.ttl_ms)
            if got is not None and got is not False:
                view.exact, view.exact_ndev = got
        for fid in fp_ids if got is False else ():
            hit = self._exact(fid, txn)
            if hit is not None:
                rec = self._record(hit[0], now, txn)
                if rec is not None:
                    view.exact, view.exact_ndev = rec, hit[1]
                    break
        if shared_key is not None:
            got = False
            if _EXACT is not None and self.fetch is not None and txn.view is None:
                # the lookup below in the compiled call of the exact match (one id; False: it runs); a recording
                # view (which notes the reads the lookup made) takes the Python
                with self._lock:
                    got = _EXACT(self._cache, self._rkeys, txn.reads, txn.writes, f"{self.prefix}x{txn.tag}:",
                                 (shared_key,), now, self.ttl_ms)
                if got is not None and got is not False:
                    view.shared = got[0]
        if shared_key is not None and got is False:
            before = set(txn.reads) if txn.view is not None else None
            hit = self._exact(shared_key, txn)
            if hit is not None:
                view.shared = self._record(hit[0], now, txn)
            if before is not None:
                txn.shared_reads = tuple(k for k in txn.reads if k not in before)
        if need_candidates is None or need_candidates(view.exact):
            skip = view.exact["id"] if view.exact is not None else None
            cands = view.cands
            if (_CANDIDATES is not None and self.fetch is not None and
                    not (self.preread is None and self.refused > CONTENDED)):
                # the loop below in one compiled call; None: it runs (a record never seen, or not at hand)
                with self._lock:
                    # (the last two: the record keys of the transaction's own family's ids are made, not looked up)
                    got = _CANDIDATES(self._cache, self._rkeys, txn.reads, txn.writes,
                                      f"{self.prefix}b{txn.tag}:", block_keys, skip, now, self.ttl_ms,
                                      f"{self.prefix}r{txn.tag}:", txn.family if self._make_rkeys else None)
                if got is not None:
                    cands.extend(got)
                    block_keys = ()
            seen: set[str] = set()
            order: list[str] = []
            if self.fetch is not None and self.preread is None and self.refused > CONTENDED:  # the blocks now
                # (a block found changed counts as a commit this fetch saved from refusal: fetching goes on
                # while other workers keep changing the blocks)
                self.observe(self._fetch([self._key("b", b) for b in block_keys
                                          if self._key("b", b) not in txn.writes], absent=True) > 0)
            for key in block_keys:
                for did in self._block(key, txn):
                    if did in seen or did == skip:
                        continue
                    seen.add(did)
                    order.append(did)
            if self.fetch is not None:  # the records a block names and this worker never saw: one request
                cache = self._cache
                missing = [k for k in (self._rkeys.get(d) or self._rkey(d) for d in order)
                           if k not in cache and k not in txn.writes]
                if missing:
                    if txn.strict:
                        raise _NeedRead
                    self._fetch(missing)
            for did in order:
                rec = self._record(did, now, txn)
                if rec is not None:
                    cands.append(rec)
        fk = self._key("f", fam)
        view.fam_n, view.fam_counts = self._counts(fk, fam_keys, txn)
        if glob_keys:
            view.glob_n, view.glob_counts = self._counts(self.global_key, glob_keys, txn)
        return view
