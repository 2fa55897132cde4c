"""Velocity state in Redis (one node or a Redis Cluster), shared by worker processes.

**One script call per event.** :data:`~fraudscore.velocity.redis_lua.EVENT_LUA`
(registered once, called with ``EVALSHA``) covers, atomically: the idempotency
record of the application id (a repeat returns the recorded outcome), the
lateness verdict, the device-link compare-and-set
(:mod:`fraudscore.fingerprint.linkstate_redis`) and every velocity key group. Its
per-feature-set configuration is baked into the script text, so a call carries
only the event: one fixed-width binary row per key group (``struct``-packed, see
:func:`~fraudscore.velocity.redis_args.row_format`) and the keys, laid out by
:mod:`fraudscore.velocity.redis_calls` (one call per hash slot the event touches).

**Keys** (all declared in ``KEYS``; ``{..}`` is the hash tag of one of ``shards``
shards, see :mod:`fraudscore._redis`): ``<prefix>v{..}:<group>:<entity hash>``
(per entity and key group, its events as one string of fixed-width binary rows
sorted by time),
``<prefix>i{..}:<application hash>`` (idempotency record, ``idempotency_ttl``),
``<prefix>l{..}`` / ``<prefix>L{..}`` (fraud labels of the shard and their expiry
index), the link keys and ``<prefix>k{..}``, the link lease (one on a single node, in
shard 0; one per link slot on a cluster; it exists only while an event whose link
decision conflicted twice is committing, at most ``LEASE_MS``). An entity's shard is that of its hash, except for
entities keyed by ``device_id``, which live in the shard of the device's link
state, so the link decision and the device's counts commit in one script.

**Lateness** is judged per worker: the watermark is the latest event time this
store object (worker process) applied, as in the memory store and the batch
path; the clock-skew bound (:class:`~fraudscore.scorer.Scorer`) keeps a far-future
event from moving it. There is no shared latest-time key.

**Redis Cluster** (a ``redis.cluster.RedisCluster`` client): one script call per
hash slot the event touches, all sent in one pipeline (one round trip per node).
Each call keeps its own idempotency record, so a retry after a partial failure
applies exactly the missing parts; see ``docs/stores.md`` ("Redis Cluster").

Identifiers never reach Redis in clear: entity keys, distinct-of values and
application ids are BLAKE2b hashes of the (already pseudonymised) values.

Examples
--------
>>> store = RedisStore(object(), prefix="fs:")  # no connection is made until the first event
>>> store.prefix, store.shards
('fs:', 64)
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._redis import (DEFAULT_SHARDS, DirectConnection, RoundTrips, Script, check_prefix, check_shards, evalsha,
                      hash_bytes, is_cluster, random_bytes, redis_module, store_error, tag)
from ..errors import ConfigError, EventError, StoreError
from ..fingerprint.linkstate_redis_keys import prime_keys
from ..fingerprint.linkstate_redis_read import LINK_READ_LUA
from .admission import late_message
from .idempotency import DEFAULT_IDEMPOTENCY_TTL_MS, Applied, Link, check_ttl
from .memory_layout import GroupLayout
from .plan import Plan
from .redis_calls import (_TRACK_ABOVE, _Call, _GroupMeta, conflict_causes, outputs,
                          records_dependencies)
from .redis_args import row_format
from .redis_lua import LABEL_LUA, event_script
from .redis_slots import EKEYS_MAX, SlotCalls
from .redis_wire import (budget_client, cluster_send, device_ctx, noscript, pack_link,
                         record_ctx, record_extra, record_nonce, run_script, unpack_link)

__all__ = ["RedisStore"]

_ARITY = {"mean": 2, "fraud_count": 2, "fraud_rate": 2, "ratio_to_mean": 3}
_LABELS = Script(LABEL_LUA)
_LINK_READ = Script(LINK_READ_LUA)

_LEASE_AFTER = 2  # conflicts of one event before it takes the link lease
_MAX_WAITS = 2_000  # 'busy' replies one event waits through (about 8 s at most; a lease lives 0.5 s)


class RedisStore(SlotCalls):
    """Velocity store in Redis (same results as :class:`MemoryStore`), for several worker processes.

    Parameters
    ----------
    client : redis.Redis or redis.cluster.RedisCluster
        A redis-py client (``decode_responses=False``); give it a socket timeout,
        or give the scorer a ``latency_budget_ms``.
    prefix : str, default "fs:"
        Every key starts with it (no braces).
    min_ttl_ms : int, default 86_400_000
        Lower bound of the wall-clock expiry set on entity keys (the expiry is
        ``max(horizon + allowed_lateness, min_ttl_ms)``; all-time groups never expire).
    shards : int, default 64
        Hash-tag shards: the unit of distribution on a cluster (use at least 8 per
        primary). Every fraud label is stored once per shard. Fixed per deployment.
    idempotency_ttl : str or int, default "24h"
        How long (wall clock) an application's record is kept.
    link_ttl_ms : int, default 180 days
        Expiry of device-link keys (as :class:`~fraudscore.fingerprint.RedisLinkState`).
    max_per_block : int, default 64
        Most device ids kept per link candidate block (as
        :class:`~fraudscore.fingerprint.MemoryLinkState`).
    link_cache_size : int, default 200_000
        Link keys cached by this worker.
    link_record_layout : {1, 0}, default 1
        How device-link records are written: 1 binary (record layout 1), 0 JSON as versions before it
        wrote; both are read. Use 0 during a rolling upgrade from such a version, then 1 (docs/stores.md).

    Raises
    ------
    StoreError
        From the event methods when Redis fails (down, timeout).
    MissingDependencyError
        When redis-py is not installed.
    """

    def __init__(self, client: Any, prefix: str = "fs:", min_ttl_ms: int = 86_400_000, *,
                 shards: int = DEFAULT_SHARDS, idempotency_ttl: str | int = DEFAULT_IDEMPOTENCY_TTL_MS,
                 link_ttl_ms: int | None = None, max_per_block: int = 64, link_cache_size: int = 200_000,
                 link_record_layout: int = 1) -> None:
        self.client = client
        self.prefix = check_prefix(prefix)
        self.min_ttl_ms = min_ttl_ms
        self.shards = check_shards(shards)
        self.idempotency_ttl_ms = check_ttl(idempotency_ttl, "RedisStore")
        self.link_ttl_ms = link_ttl_ms
        self.max_per_block = max_per_block
        self.link_cache_size = link_cache_size
        if type(link_record_layout) is not int or link_record_layout not in (0, 1):
            raise ConfigError(f"The 'link_record_layout' parameter of RedisStore must be 0 or 1. "
                              f"Got {link_record_layout!r} instead.")
        self.link_record_layout = link_record_layout
        self.max_attempts = 8
        self.round_trips = RoundTrips()
        self.replaced = 0  # cluster: slot calls redone because the event's device link changed under them
        self.conflicts = 0  # link decisions refused by the script (the link state changed under them)
        self.lease_waits = 0  # 'busy' answers: another worker held the link lease
        self.leases = 0  # events that took the link lease (their decision conflicted twice)
        self.absorbed = 0  # link commits whose value counts moved under them within their popularity band
        #: what changed under refused decisions: link keys by kind (x exact entry, r record, b block) and counts
        self.conflict_causes: dict[str, int] = {"x": 0, "r": 0, "b": 0, "counts": 0}
        self._cluster = is_cluster(client)
        self._direct = DirectConnection()  # single node: each thread's own connection, without redis-py's wrappers
        self._plan: Plan | None = None
        self._script: Script | None = None
        self._meta: list[_GroupMeta] = []
        self._labels = b""
        self._label_ttl = 0
        self._watermark: int | None = None
        self._wlock = threading.Lock()
        self._link_state: Any = None
        self._min_link_confidence = 1.0  # fingerprint.MIN_LINK_CONFIDENCE, set with the link state
        self._budget_s: float | None = None
        self._pending: dict[tuple[str, str], int] = {}  # cluster: global count increments not yet sent
        #: per key group, str entity -> its key (the hash tag inside it); no tuple per entry, so nothing the cyclic
        #: garbage collector tracks (see SlotCalls._entity_key)
        self._ekeys: list[dict[str, str]] = []
        self._ekeys_cap = EKEYS_MAX

    # -- configuration ---------------------------------------------------------------------
    def bind(self, plan: Plan) -> None:
        """Attach a compiled feature set and build the script (no round trip yet)."""
        redis_module()
        if self._plan is not None and self._plan.fingerprint != plan.fingerprint:
            raise ConfigError("The 'store' parameter of OnlineVelocity is already bound to another FeatureSet.")
        self._plan = plan
        meta = []
        for g in plan.groups:
            meta.append(_GroupMeta(
                g, GroupLayout(g), struct.Struct(row_format(g).replace("c8", "8s")),
                tuple((q.out, q.agg, _ARITY.get(q.agg, 1)) for q in g.queries),
                any(q.agg in ("fraud_count", "fraud_rate") for q in g.queries),
                "device_id" in g.key, any(s[0] == "dist" and s[1] == "device_id" for s in g.slots)))
        self._meta = meta
        self._ekeys = [{} for _ in meta]
        self._ekeys_cap = max(1, EKEYS_MAX // max(1, len(meta)))
        self._labels = bytes(m.has_labels for m in meta)  # per group configuration: reads fraud labels
        self._script = Script(event_script(plan, self.min_ttl_ms))
        label_lo = [q.lo for g in plan.groups for q in g.queries if q.agg in ("fraud_count", "fraud_rate")]
        if label_lo and all(lo is not None for lo in label_lo):
            self._label_ttl = max(max(label_lo) + plan.lateness, self.min_ttl_ms)  # type: ignore[type-var]

    def link_state(self) -> Any:
        """The device-link state that commits through this store's script (one per store)."""
        if self._link_state is None:
            from ..fingerprint import MIN_LINK_CONFIDENCE
            from ..fingerprint.linkstate import DEFAULT_TTL_MS
            from ..fingerprint.linkstate_redis import OptimisticLinkState

            self._min_link_confidence = MIN_LINK_CONFIDENCE  # (an import statement per event costs a microsecond)

            self._link_state = OptimisticLinkState(self.prefix, self.link_ttl_ms or DEFAULT_TTL_MS,
                                                   self.max_per_block, shards=self.shards,
                                                   cache_size=self.link_cache_size,
                                                   record_layout=self.link_record_layout)
            self._link_state.fetch = self._fetch
            self._link_state.preread = self._preread
        return self._link_state

    def _fetch(self, keys: list[str]) -> list[Any]:
        """Link keys' values (one request; the link state's reads of records it never saw)."""
        redis = redis_module()
        self.round_trips.add(1)
        try:
            if self._cluster:
                return list(self.client.mget_nonatomic(keys))
            return list(self._direct.call(self.client, "MGET", *keys))
        except (redis.RedisError, OSError) as exc:
            raise store_error(exc) from exc

    def _preread(self, tag_: str, keys: list[str], args: list[Any]) -> Any:
        """The link state's one read before a decision (``LINK_READ_LUA`` in the link keys' slot)."""
        return run_script(self.client, self._direct, _LINK_READ, tag_, keys, args, self.round_trips)

    def set_latency_budget(self, budget_ms: float) -> None:
        """Bound every call: socket timeouts of ``budget_ms``, no client-side retries (a retry could double
        the wait; exactly-once makes the caller's own retry safe)."""
        self._budget_s = budget_ms / 1000.0
        self.client = budget_client(self.client, budget_ms)

    def latest_time(self) -> int | None:
        """This worker's lateness watermark: the latest event time it applied (epoch ms)."""
        return self._watermark

    # -- calls ---------------------------------------------------------------------------------
    def _execute(self, calls: list[_Call]) -> list[Any]:
        """Send the calls (one pipeline on a cluster: one round trip per node); replies or exceptions."""
        assert self._script is not None
        redis = redis_module()
        script = self._script
        if not self._cluster:
            keys, args = self._args(calls[0])
            self.round_trips.add(1)
            try:
                return [script.direct(self._direct, self.client, keys, args)]
            except (redis.RedisError, OSError) as exc:
                raise store_error(exc) from exc
        out: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        for attempt in range(3):
            got = self._cluster_send([evalsha(script.sha, *self._args(calls[i])) for i in todo],
                                     [calls[i].tag for i in todo])
            for i, r in zip(todo, got):
                out[i] = r
            todo = [i for i in todo if isinstance(out[i], Exception)]
            if not todo or attempt == 2:
                break
            text = " ".join(str(out[i]) for i in todo)
            try:
                if any(noscript(out[i]) for i in todo):
                    script.load(self.client)
                elif "MOVED" in text or "ASK" in text or "CLUSTERDOWN" in text or "TRYAGAIN" in text:
                    self.client.nodes_manager.initialize()
                else:
                    break
            except (redis.RedisError, OSError) as exc:
                raise store_error(exc) from exc
        return out

    def _cluster_send(self, commands: list[tuple[Any, ...]], tags: list[str]) -> list[Any]:
        """Commands routed by hash tag, one round trip per node (see :func:`~.redis_wire.cluster_send`)."""
        return cluster_send(self.client, commands, tags, self.round_trips)

    # -- the event -----------------------------------------------------------------------------
    def apply(self, plan: Plan, record: Mapping[str, Any], ts: int | None = None, link: Link | None = None) -> Applied:
        """Apply one event's velocity once (no device-link state): see :meth:`apply_event`."""
        if ts is None:
            ts = plan.validate_record(record)
        extra = b"" if link is None else pack_link(link)
        return self._run(plan, dict(record), ts, None, None, extra)

    def update_and_read(self, plan: Plan, record: Mapping[str, Any], ts: int) -> np.ndarray:
        """Features as of the event, then add it (exactly once per application id)."""
        return self.apply(plan, record, ts).features

    def apply_event(self, plan: Plan, record: dict[str, Any], ts: int, linker: Any, fp: Any) -> Applied:
        """Apply one event: idempotency, lateness, device link and velocity in one script call.

        ``linker.link(fp, ts)`` decides the link over :meth:`link_state`; when the
        link state changed since this worker cached it, the script returns the fresh
        values and the link is decided again (a second round trip). ``record`` gets
        its ``device_id``.

        Raises
        ------
        EventError
            For a late event (nothing changes).
        StoreError
            When Redis fails; the outcome is then unknown to this worker, and
            retrying the same application is safe (exactly once).
        """
        if linker is None or fp is None:
            return self._run(plan, record, ts, None, None, b"")
        return self._run(plan, record, ts, linker, fp, b"")

    def _decide(self, linker: Any, fp: Any, ts: int, record: dict[str, Any]) -> tuple[Any, bytes]:
        """Read (from the cache), decide and buffer the link; ``record`` gets its device id."""
        state = self.link_state()
        # record the decision's dependencies while this worker's commits were refused lately (alone, a worker's
        # cache is exact and the plain checks never refuse: the recording would only cost time)
        track = state.refused > _TRACK_ABOVE and records_dependencies(linker)
        txn = state.begin(fp.family, track)
        prime_keys(linker, fp)  # a new fingerprint's keys made by the compiled kernel (the Python _keys finds them)
        try:
            res = linker.link(fp, ts, record.get("ip_prefix"))
        finally:
            state.end()
        conf = float(res.link_confidence)
        if track:
            state.seal(txn, conf, linker)
        did = res.device_id if conf >= self._min_link_confidence else None  # as the in-process path
        record["device_id"] = did
        return txn, pack_link((did, conf))

    def _run(self, plan: Plan, record: dict[str, Any], ts: int, linker: Any, fp: Any, extra: bytes) -> Applied:
        app = record.get("application_id")
        app = "" if app is None else str(app)
        with self._wlock:
            w = self._watermark
        late = w is not None and ts < w - plan.lateness
        txn = None
        nonce = random_bytes(8)
        if linker is not None:
            txn, extra = self._decide(linker, fp, ts, record)
        calls = self._calls(record, ts, app, txn, extra, late, nonce, pending=True)
        self.round_trips.add(0, 1)
        redis = redis_module()
        done: dict[str, tuple[str, bytes]] = {}  # call tag -> (status, record)
        final_link: bytes | None = None if txn is not None else (extra or None)
        state = self._link_state
        attempts = conflicts = waits = 0
        while True:
            if attempts >= self.max_attempts:
                raise StoreError("Redis link state kept changing under this event; giving up after "
                                 f"{self.max_attempts} attempts")
            try:
                replies = self._execute(calls)
            except StoreError:
                for c in calls:
                    if c.aux:
                        self._restore_pending(c.hincr)
                if txn is not None:
                    state.forget(txn)
                raise
            again: list[_Call] = []
            busy = False
            for c, r in zip(calls, replies):
                if c.aux:  # the global counts: refreshed, or (outcome unknown) their increments sent again later
                    if isinstance(r, Exception) or r[0] != b"ok":
                        self._restore_pending(c.hincr)
                    elif len(r) > 2:
                        state.refresh([k for k, _ in c.hreads], r[2])
            calls, replies = [c for c in calls if not c.aux], [r for c, r in zip(calls, replies) if not c.aux]
            for c, r in zip(calls, replies):
                if isinstance(r, Exception):
                    if txn is not None:
                        state.forget(txn)
                    raise store_error(r) if isinstance(r, (redis.RedisError, OSError)) else r
                status = r[0]
                if status == b"late":
                    raise EventError("ts", late_message(plan.lateness))
                if status == b"busy":  # another worker holds the link lease: nothing changed, send it again
                    busy = True
                    again.append(c)
                    continue
                if status == b"conflict":
                    self._causes(c, r)
                    state.observe(True)
                    state.refresh([k for k, _ in c.sreads], r[1])
                    state.refresh([k for k, _ in c.hreads], r[2])
                    txn, extra = self._decide(linker, fp, ts, record)
                    conflicts += 1
                    self.conflicts += 1
                    if conflicts == _LEASE_AFTER:
                        self.leases += 1
                    again.append(c)
                    continue
                rec = r[1]
                if status == b"dup" and record_nonce(rec) == nonce:
                    status = b"ok"  # our own call, retried by the client after a lost reply: not a duplicate
                done[c.tag] = (status.decode(), rec)
                if c.link and status == b"ok":
                    state.observe(False)
                    touched = None
                    if len(r) > 3:  # the records touched: their new heads, in order
                        touched = dict(zip([k for k, v in c.swrites if v is not None and type(v) is not bytes],
                                           r[3]))
                    state.applied(c.txn, state.global_key if self._cluster else None, touched)
                    if len(r) > 2 and r[2] is not None:  # a count dependency: the counts moved under it (within
                        state.refresh([k for k, _ in c.hreads], r[2])  # its band); their values now
                        self.absorbed += 1
                    if self._cluster:  # its global count increments go with this worker's next event
                        gkey = state.global_key
                        with self._wlock:
                            for k, d in c.txn.hincr.items():
                                if k[0] == gkey:
                                    self._pending[k] = self._pending.get(k, 0) + d
                if c.anchor:
                    final_link = record_extra(rec) or None
            if again:  # rebuild the conflicting link call (and its groups) from the new decision
                if busy and len(again) == 1:  # only waiting for the lease: not an attempt
                    waits += 1
                    self.lease_waits += 1
                    if waits > _MAX_WAITS:
                        raise StoreError("Redis link lease held by another worker for too long; giving up")
                    time.sleep(min(0.004, 0.0002 * (1 << min(waits, 5))))
                else:
                    attempts += 1
                # after two conflicts this event takes the link lease on its next one: then it commits
                fresh = {c.tag: c for c in self._calls(record, ts, app, txn, extra, late, nonce,
                                                       acquire=conflicts >= _LEASE_AFTER)}
                calls = [fresh[c.tag] for c in again]
                if self._cluster:
                    calls += self._replacements(fresh, done, record)
                continue
            if self._cluster and txn is not None and final_link:
                did = (unpack_link(final_link) or (None, 0.0))[0]
                if record.get("device_id") != did:
                    record["device_id"] = did  # the link recorded first (a retry) is the truth
                fresh = {c.tag: c for c in self._calls(record, ts, app, txn, extra, late, nonce)}
                calls = self._replacements(fresh, done, record)
                if calls:
                    attempts += 1
                    continue
            break
        return self._outcome(plan, ts, done, final_link)

    def _causes(self, c: _Call, r: Any) -> None:
        """Count what changed under a refused decision (:attr:`conflict_causes`)."""
        conflict_causes(c, r, len(self.prefix), self.conflict_causes)

    def _replacements(self, fresh: dict[str, _Call], done: dict[str, tuple[str, bytes]],
                      record: Mapping[str, Any]) -> list[_Call]:
        """Cluster: device-dependent calls applied with another device id than the final one."""
        out = []
        did = device_ctx(record)
        for t, c in fresh.items():
            if c.link or not c.device_dependent or t not in done:
                continue
            if record_ctx(done[t][1]) != did:
                c.replace = True
                out.append(c)
        self.replaced += len(out)
        return out

    def _outcome(self, plan: Plan, ts: int, done: dict[str, tuple[str, bytes]], link: bytes | None) -> Applied:
        out, duplicate, t_first = outputs(self._meta, plan, ts, done)
        if not duplicate:
            with self._wlock:
                if self._watermark is None or ts > self._watermark:
                    self._watermark = ts
        lk = unpack_link(link) if link else None
        return Applied(out, duplicate, lk, t_first)

    # -- labels --------------------------------------------------------------------------------
    def record_label(self, plan: Plan, application_id: str, is_fraud: bool, label_time_ms: int) -> None:
        """Store (or clear) a fraud label in every shard (labels are rare; reads stay in-slot)."""
        redis = redis_module()
        p = self.prefix
        keys: list[str] = []
        for s in range(self.shards):
            t = tag(p, s)
            keys += [f"{p}l{t}", f"{p}L{t}"]
        args = [hash_bytes(application_id, 8), str(int(label_time_ms)) if is_fraud else "",
                int(time.time() * 1000), self._label_ttl]
        try:
            if not self._cluster:
                self.round_trips.add(1)
                _LABELS.direct(self._direct, self.client, keys, args)
                return
            from redis.cluster import key_slot

            by_slot: dict[int, list[str]] = {}
            for i in range(0, len(keys), 2):
                by_slot.setdefault(key_slot(keys[i].encode()), []).extend(keys[i:i + 2])
            groups = list(by_slot.values())
            tags = [ks[0][ks[0].index("{"):ks[0].index("}") + 1] for ks in groups]
            for attempt in (0, 1):
                out = self._cluster_send([("EVALSHA", _LABELS.sha, len(ks), *ks, *args) for ks in groups], tags)
                errs = [r for r in out if isinstance(r, Exception)]
                if errs and attempt == 0 and any(noscript(e) for e in errs):
                    _LABELS.load(self.client)
                    continue
                if errs:
                    raise store_error(errs[0])
                return
        except (redis.RedisError, OSError) as exc:
            raise store_error(exc) from exc
