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
from collections.abc import Callable
from typing import Any

from .._core import load as load_core
from .._redis import DEFAULT_SHARDS, check_prefix, check_shards, random_bytes, shard_of, tag
from ..errors import ConfigError, StoreError
from .linkstate import DEFAULT_TTL_MS, LinkPlan, LinkState, _check
from .linkstate_redis_ops import (_ANY_STAMP, _TAIL, _V, BlockOp, LinkTxn, Touch, RECORD_LAYOUT,
                                  RECORD_LAYOUTS, confidence_band, encode_record, record_parsed)
from .linkstate_redis_cache import WorkerCache
from .linkstate_redis_view import CONTENDED, _FIELDS, LinkReads, _field_name, _RecordingView

__all__ = ["CONTENDED", "LinkTxn", "OptimisticLinkState", "confidence_band"]

_C = load_core("redis_calls")
#: the compiled writes of :meth:`~OptimisticLinkState.write` (entries and blocks, increments:
#: ``_core/redis_linkwrite.h``); None: the Python below, their reference, parity-tested in
#: tests/fingerprint/test_linkstate_redis_compiled.py (the compiled reads: :mod:`.linkstate_redis_view`)
_INCR: Any = getattr(_C, "link_incr", None)
_WRITE_KEYS: Any = getattr(_C, "link_write_keys", None)
_VERSION_C: Any = getattr(_C, "link_version", None)  # version_py in C (_core/redis_random.h, round 14)


def version_py() -> bytes:
    """A new content version and stamp (neither all zeros): 8 random bytes (the reference of the compiled
    ``link_version``)."""
    v = random_bytes(_V)
    return v if v[:4] != _ANY_STAMP and v[4:] != _ANY_STAMP else b"\x00\x00\x00\x01\x00\x00\x00\x01"


@functools.cache
def _id_positions() -> tuple[int, ...]:
    """Positions of the resettable ids (the linker's; without one a phone may get the mobile prior)."""
    from .linkkeys import _ID_TAGS

    return tuple(p for p, _ in _ID_TAGS)


class OptimisticLinkState(LinkReads, WorkerCache, LinkState):
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
        #: the compiled candidate read may make a record key ``<prefix>r<tag>:<id>`` for an id of the transaction's
        #: own family instead of looking it up in ``_rkeys`` (what :meth:`_rkey` gives, unless a subclass changes how
        #: keys or shards are made: then every key is looked up, as before)
        self._make_rkeys = all(getattr(type(self), m) is getattr(OptimisticLinkState, m)
                               for m in ("_rkey", "device_shard", "shard"))
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

    # -- writes (buffered) ---------------------------------------------------------------------
    #: a new content version and stamp (neither all zeros): :func:`version_py`, compiled when the core is built
    #: (``_core/redis_random.h``; a builtin is not bound as a method)
    _version: Callable[[], bytes] = staticmethod(version_py) if _VERSION_C is None else _VERSION_C

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
