"""Device-link state for the Redis store's one script per event: a worker-local versioned cache, checked at commit.

A linker decides in Python (a learned pairwise model), which Lua inside Redis
cannot run. The linker's interface is already shaped for an optimistic protocol
(:class:`~fraudscore.fingerprint.linkstate.LinkState`: ``read`` a view, ``decide``
in Python, ``write`` a plan), so per event:

1. **read** -- :meth:`OptimisticLinkState.read` answers from a local cache of
   the fingerprint family's link state (exact index entries, candidate blocks,
   device records, value counts) and logs what it read: the read set. A record
   named by an entry or a block but never seen by this worker is fetched (one
   ``MGET``), not assumed absent; while the commits of this worker are often
   refused (:data:`CONTENDED`: other workers write the same state) it also
   fetches the candidate blocks as they are now before deciding;
2. **decide** -- ``DeviceLinker.decide`` is a pure function of the view;
3. **commit** -- :meth:`write` only buffers the plan. It travels inside the
   event's one Redis script (:class:`~fraudscore.velocity.RedisStore`), which
   checks the read set and, only if it holds, applies the writes with the
   event's velocity update and idempotency record. Otherwise it returns the
   fresh values, the cache takes them and the linker decides again.

**What a commit checks is what the decision depends on**, so that workers
sharing hot state (a popular phone model's family) rarely refuse each other:

* every string value starts with an 8-byte head: a 4-byte *content version*
  and a 4-byte *stamp*. A full write changes both; a **touch** (a device seen
  again: last sighting, count and IP) is applied by the script to the record as
  it is then and changes only the stamp, so a decision to touch reads the
  record's content only (its id, fingerprint and versions), and another
  worker's touch does not refuse it; decisions that use a record's sightings
  (candidate scoring) check the stamp too;
* a **block** write is a move-to-front applied by the script to the block as it
  is then; the block's version is that of its *membership* (a new device, or one
  cut at ``max_per_block``), which is all a decision uses (candidates are scored
  in an order of their own);
* **value counts** are checked through a *count dependency*
  (:meth:`OptimisticLinkState.seal`): a :class:`~fraudscore.fingerprint.DeviceLinker`
  decision reads the counts only through the fingerprint's popularity and keeps
  its plan and result for every popularity in a band (:func:`confidence_band`);
  the script recomputes the popularity from the counts at commit (the same
  arithmetic) and accepts the decision when it is in the band. The reply then
  carries the counts' values, which the cache takes;
* a decision that never looked at the shared (class) record does not depend on
  it (the recording view notes whether it did).

A commit is thus accepted exactly when a serial run in commit order would have
made the same decision: one worker alone gives the memory state's links bit for
bit, and counts are exact under any number of workers. A linker plugs in
unchanged as long as its link is a pure function of the view it reads and all
state changes go through ``write``: the Redis state may run it more than once for
one event (another linker's counts are checked exactly).

Layout (``{..}``: the hash tag of the shard of the fingerprint's hardware family,
so one event's link keys share one slot): ``<prefix>x{..}:<fp id>`` -> ``device
id|devices seen with it``, ``<prefix>r{..}:<device id>`` -> the device record
(last sighting, count and IP as ``<ddd``, then the rest as JSON),
``<prefix>b{..}:<block>`` -> device ids, most recently seen first,
``<prefix>f{..}:<family>`` -> the family's value counts (a hash); each string
value starts with the 8-byte head. The counts over all families live in
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

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from .._core import load as load_core
from .._redis import DEFAULT_SHARDS, check_prefix, check_shards, random_bytes, shard_of, tag
from ..errors import ConfigError, StoreError
from .linkstate import DEFAULT_TTL_MS, LinkPlan, LinkState, LinkView, Record, _check
from .linkstate_redis_ops import (_ABSENT, _ANY_STAMP, _TAIL, _V, BlockOp, LinkTxn, Touch,
                                  RECORD_LAYOUT, RECORD_LAYOUTS, _NeedRead, confidence_band, decode_record,
                                  encode_record, record_parsed)
from .linkstate_redis_cache import WorkerCache
from .linkstate_redis_read import read_all

__all__ = ["LinkTxn", "OptimisticLinkState", "confidence_band"]

#: Share of refused commits (moving average) above which a worker reads what it may have stale before deciding.
CONTENDED = 0.05
_FIELDS: dict[Any, str] = {"n": "n"}  # count key -> its hash field (str of an int key; bounded)
_C = load_core("redis_calls")
#: the compiled reads of :meth:`OptimisticLinkState._view` (candidates, exact match, counts: ``_core/redis_linkcache.h``)
#: and of :meth:`~OptimisticLinkState.write` (entries and blocks, increments: ``_core/redis_linkwrite.h``); None: the
#: Python below, their reference, parity-tested in tests/fingerprint/test_linkstate_redis_compiled.py
_CANDIDATES: Any = getattr(_C, "link_candidates", None)
_COUNTS: Any = getattr(_C, "link_counts", None)
_EXACT: Any = getattr(_C, "link_exact", None)
_INCR: Any = getattr(_C, "link_incr", None)
_WRITE_KEYS: Any = getattr(_C, "link_write_keys", None)


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


@functools.cache
def _id_positions() -> tuple[int, ...]:
    """Positions of the resettable ids (the linker's; without one a phone may get the mobile prior)."""
    from .linkkeys import _ID_TAGS

    return tuple(p for p, _ in _ID_TAGS)


class OptimisticLinkState(WorkerCache, LinkState):
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
    record_layout : {1, 0}, default 1
        How device records are written: 1 binary (record layout 1), 0 JSON as versions before it wrote
        (both are read). Use 0 while workers of an earlier version still share the prefix (a rolling
        upgrade), then 1.

    Attributes
    ----------
    live_evictions : int
        Live devices pushed out of a full block by this worker's writes.
    """

    def __init__(self, prefix: str = "fs:", ttl_ms: int = DEFAULT_TTL_MS, max_per_block: int = 64, *,
                 shards: int = DEFAULT_SHARDS, cache_size: int = 200_000,
                 record_layout: int = RECORD_LAYOUT) -> None:
        self.prefix = check_prefix(prefix, "OptimisticLinkState")
        if record_layout not in RECORD_LAYOUTS or type(record_layout) is not int:
            raise ConfigError(f"The 'record_layout' parameter of OptimisticLinkState must be one of {RECORD_LAYOUTS}. "
                              f"Got {record_layout!r} instead.")
        self.record_layout = record_layout
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
        #: reads keys from Redis (set by the store): a record named by a cached entry or block but not cached
        #: is fetched before the decision instead of being assumed absent (which the commit would refuse)
        self.fetch: Callable[[list[str]], list[bytes | None]] | None = None
        self.fetches = 0  # keys fetched that way
        #: runs :data:`~.linkstate_redis_read.LINK_READ_LUA` (set by the store): ``preread(tag, keys, args)``
        #: reads entries, blocks, the records they name and the family counts in one request (None: ``fetch``)
        self.preread: Callable[[str, list[str], list[Any]], Any] | None = None
        #: share of recent decisions the commit refused (moving average): above :data:`CONTENDED`, other
        #: workers write this state too, and the candidate blocks are fetched before deciding (a read is
        #: cheaper than a refused commit)
        self.refused = 0.0

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
    def begin(self, family: str, track: bool = False) -> LinkTxn:
        """Open the calling thread's transaction for a fingerprint of this hardware family.

        ``track``: hand the linker a view that records what its decision depends on (a
        :class:`~fraudscore.fingerprint.DeviceLinker` whose decision and popularity are the package's), so
        :meth:`seal` can replace the exact checks of the value counts by a popularity band.
        """
        txn = LinkTxn()
        txn.tag = tag(self.prefix, self.shard(family))
        txn.family = family
        if track:
            txn.view = _RecordingView()
        self._local.txn = txn
        return txn

    def seal(self, txn: LinkTxn, conf: float, linker: Any) -> None:
        """After the decision (link confidence ``conf``): declare its count dependency, when it recorded one.

        A :class:`~fraudscore.fingerprint.DeviceLinker` decision reads the family's value counts only through
        the fingerprint's popularity, and keeps its plan and result for every popularity in a band
        (:func:`confidence_band`). The commit then checks that the popularity computed from the counts *at
        commit* (the same arithmetic, in the script) is in the band, instead of checking every count read:
        other workers' increments commit alongside unless they move the outcome. Without a complete record
        (another linker, or no value counts read) every count read stays checked exactly.
        """
        view, txn.view = txn.view, None
        if view is not None and not view.used_shared:
            # the decision never looked at the shared record: what only its lookup read is no dependency
            for k in txn.shared_reads:
                if k not in txn.writes:
                    txn.reads.pop(k, None)
        deps = view.deps if view is not None else None
        if not deps or len(deps) != 2 or len(deps[0]) != 5 or len(deps[1]) != 3:
            return
        (fp, ndev, known, g, pop), (x, floor, split) = deps
        band = confidence_band(pop, x, floor, split, conf)
        if band is None:
            return
        fk = f"{self.prefix}f{txn.tag}:{txn.family}"
        fields = tuple(str(k) for k in linker._keys(fp)[6])  # pop_keys(fp), memoised by the linker
        if any((fk, f) not in txn.hreads for f in ("n", *fields)):
            return
        prior = float(linker.mobile_prior) if fp.mobile and not any(fp.components[p] for p in _id_positions()) else 0.0
        txn.dep = (fk, "n", fields, 1 if known else 0, float(ndev), float(g), prior,
                   float(linker.min_family_devices), band[0], band[1])

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

    def observe(self, refused: bool) -> None:
        """Note a commit's outcome (the moving average :attr:`refused`)."""
        self.refused = self.refused * 0.97 + (0.03 if refused else 0.0)

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
                    got = _CANDIDATES(self._cache, self._rkeys, txn.reads, txn.writes,
                                      f"{self.prefix}b{txn.tag}:", block_keys, skip, now, self.ttl_ms)
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

    # -- writes (buffered) ---------------------------------------------------------------------
    @staticmethod
    def _version() -> bytes:
        """A new content version and stamp (neither all zeros)."""
        v = random_bytes(_V)
        return v if v[:4] != _ANY_STAMP and v[4:] != _ANY_STAMP else b"\x00\x00\x00\x01\x00\x00\x00\x01"

    def write(self, plan: LinkPlan, now: int) -> None:
        """Buffer the plan (see :meth:`MemoryLinkState.write <fraudscore.fingerprint.MemoryLinkState.write>`)."""
        txn = self._txn()
        rec = plan.record
        did = rec["id"]
        rk = self._key("r", did)
        seen = txn.reads.get(rk)
        if plan.touch and seen and rk not in txn.writes:
            # seen again: the script updates the last sighting, count and IP of the record as it is then, so
            # the decision depends on the record's content only (another worker's touch does not refuse it)
            txn.reads[rk] = seen[:4] + _ANY_STAMP
            txn.writes[rk] = Touch(now, plan.ip, self._version()[4:])
        else:
            if plan.touch:
                rec = {**rec, "t": max(rec["t"], now), "n": rec["n"] + 1}
                if plan.ip:
                    rec["ip"] = plan.ip
            txn.writes[rk] = encode_record(self._version(), rec, self.record_layout)
            if record_parsed is not None and self.record_layout == RECORD_LAYOUT:
                # its parsed form for the cache (kept once committed: the next read of it parses nothing)
                parsed = record_parsed(rec)
                if parsed is not None:
                    if txn.parsed is None:
                        txn.parsed = {}
                    txn.parsed[rk] = parsed
                elif txn.parsed:
                    txn.parsed.pop(rk, None)
        if _WRITE_KEYS is not None and type(did) is str and type(now) is int:
            # the two loops below in one compiled call (False: out of its range, nothing done)
            with self._lock:
                done = _WRITE_KEYS(self, self._cache, txn.reads, txn.writes, f"{self.prefix}x{txn.tag}:", plan.fp_ids,
                                   did, plan.ndev, plan.touch, f"{self.prefix}b{txn.tag}:", plan.block_keys,
                                   self.max_per_block, self._version, BlockOp, self._rkey, now, self.ttl_ms)
        else:
            done = False
        for fid in () if done else plan.fp_ids:
            xk = self._key("x", fid)
            hit = self._exact(fid)  # logged: the check covers the entry kept or replaced
            if plan.touch and hit is not None or hit is not None and hit == (did, plan.ndev):
                txn.writes.setdefault(xk, None)
            else:
                txn.writes[xk] = self._version() + f"{did}|{plan.ndev}".encode()
        for b in () if done else plan.block_keys:
            # the script moves the device to the front of the block as it is then (and cuts it to
            # max_per_block): the write reads nothing, so another worker's sighting does not refuse it
            bk = self._key("b", b)
            with self._lock:
                hit = self._cache.get(bk)
            raw = hit[0] if hit is not None else None
            # (membership without splitting the block: ids never hold a comma)
            if raw is None or len(raw) <= _V or b"," + did.encode("utf-8") + b"," not in b"," + raw[_V:] + b",":
                lst = raw[_V:].decode("utf-8").split(",") if raw is not None and len(raw) > _V else []
                for old in lst[self.max_per_block - 1:]:  # a statistic (from this worker's cache): who is pushed out
                    with self._lock:
                        rh = self._cache.get(self._key("r", old))
                    if rh is not None and rh[0] is not None and now - _TAIL.unpack_from(rh[0], _V)[0] <= self.ttl_ms:
                        self.live_evictions += 1
            v = self._version()
            txn.writes[bk] = BlockOp(did, v[:4], v[4:], raw[:4] if raw is not None else _ANY_STAMP,
                                     self.max_per_block)
        if not plan.touch:
            if _INCR is not None:
                if plan.fam_keys or plan.new_device:
                    _INCR(txn.hincr, self._key("f", plan.fam), plan.fam_keys, _FIELDS, plan.new_device)
                if plan.glob_keys or plan.new_device:
                    _INCR(txn.hincr, self.global_key, plan.glob_keys, _FIELDS, plan.new_device)
                return
            if plan.fam_keys or plan.new_device:
                fk = self._key("f", plan.fam)
                if plan.new_device:
                    txn.hincr[(fk, "n")] = txn.hincr.get((fk, "n"), 0) + 1
                for k in plan.fam_keys:
                    f = _FIELDS.get(k) or _field_name(k)
                    txn.hincr[(fk, f)] = txn.hincr.get((fk, f), 0) + 1
            if plan.glob_keys or plan.new_device:
                g = self.global_key
                if plan.new_device:
                    txn.hincr[(g, "n")] = txn.hincr.get((g, "n"), 0) + 1
                for k in plan.glob_keys:
                    f = _FIELDS.get(k) or _field_name(k)
                    txn.hincr[(g, f)] = txn.hincr.get((g, f), 0) + 1
