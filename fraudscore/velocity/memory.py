"""The embedded velocity store: exact windows in process memory.

Per entity and key group it keeps the events still inside the group's horizon
as time-sorted parallel lists (time, then one list per slot; summed slots as
prefix sums, so count / sum / mean windows cost O(log n): see
:mod:`~fraudscore.velocity.memory_layout`). Events older than
``max_seen - allowed_lateness - horizon`` can never enter a window again and are
dropped when the entity is touched; idle entities are evicted in time order
(an ``OrderedDict`` per group used as a TTL cache on *event* time). Fraud labels
are kept in a bounded LRU (``cachetools``). One lock makes it thread-safe.

The store applies each ``application_id`` once (see
:mod:`~fraudscore.velocity.idempotency`): an event whose id was already applied
gets the recorded features back, marked duplicate, and changes nothing. The
lateness watermark is the latest event time this store (this worker) applied;
a refused event (late, malformed) changes nothing either. Snapshots fork and
serialise a copy-on-write image, so scoring threads never wait for them
(:mod:`~fraudscore.velocity.snapshot`).

Examples
--------
>>> from fraudscore.velocity import FeatureSet, FeatureSpec, OnlineVelocity
>>> store = MemoryStore()
>>> online = OnlineVelocity(FeatureSet([FeatureSpec("count", key="ip", window="10m")]), store)
>>> online.update_and_read({"application_id": "A", "ts": 0, "ip": "p:1"}).tolist()
[1.0]
>>> store.stats()["entities"]
1
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np
from cachetools import LRUCache

from ..errors import ConfigError, EventError, StoreError
from .idempotency import (DEFAULT_IDEMPOTENCY_TTL_MS, DEFAULT_MAX_RESULTS, Applied, Link, ResultCache,
                          check_max_results, check_ttl)
from .admission import late_message
from .memory_layout import GroupLayout
from .memory_snapshot import build_payload, load_payload
from .plan import Plan
from .snapshot import can_fork, clean_stale, read_snapshot, write_snapshot, write_snapshot_forked

__all__ = ["MemoryStore"]

_NAN = float("nan")


def _compiled_engine(engine: str) -> bool:
    """Whether ``MemoryStore(engine=...)`` gives the compiled store."""
    if engine not in ("auto", "compiled", "python"):
        raise ConfigError(f"The 'engine' parameter of MemoryStore must be 'auto', 'compiled' or 'python'. Got {engine!r} instead.")
    if engine == "python":
        return False
    from .._core import load

    if load("velocity_store") is not None and (engine == "compiled" or _compiled_has_api()):
        return True
    if engine == "compiled":
        raise ConfigError("The 'engine' parameter of MemoryStore is 'compiled' but the compiled velocity store is not "
                          "available (FRAUDSCORE_PURE_PYTHON is set or the C extension was not built).")
    return False


_API_CHECKED: list[bool] = []


def _compiled_has_api() -> bool:
    """Whether the compiled store implements every public method and parameter of this reference.

    A method or parameter added here and not (yet) to the compiled store makes ``engine="auto"``
    fall back to this reference, with one warning, rather than misbehave.
    """
    if not _API_CHECKED:
        import inspect
        import logging

        from .memory_compiled import CompiledMemoryStore

        public = {n for n, v in vars(MemoryStore).items() if callable(v) and not n.startswith("_")}
        missing = sorted(public - set(vars(CompiledMemoryStore)))
        missing += sorted(set(inspect.signature(MemoryStore.__init__).parameters)
                          - set(inspect.signature(CompiledMemoryStore.__init__).parameters))
        if missing:
            logging.getLogger("fraudscore").warning(
                "fraudscore: the compiled MemoryStore lacks %s of the reference; using the Python reference", missing)
        _API_CHECKED.append(not missing)
    return _API_CHECKED[0]


class MemoryStore:
    """In-process velocity state (the default store).

    Parameters
    ----------
    max_labels : int, default 1_000_000
        Most fraud labels kept (least recently recorded dropped first).
    sweep_every : int, default 256
        Evict idle entities every this many events (Python engine).
    idempotency_ttl : str or int, default "24h"
        How long (event time) an applied application id is remembered; a repeat
        within it is a duplicate (see :mod:`~fraudscore.velocity.idempotency`).
    max_results : int, default 1_000_000
        Most idempotency records kept (least recently applied dropped first),
        about 300 bytes each with 22 features.
    engine : {"auto", "compiled", "python"}, default "auto"
        ``"auto"``: the compiled store (:class:`~fraudscore.velocity.memory_compiled.CompiledMemoryStore`,
        same API and results) when the C extension is available and ``FRAUDSCORE_PURE_PYTHON``
        is not set, else this Python reference; ``"python"`` forces the reference;
        ``"compiled"`` requires the extension.

    Notes
    -----
    Measured cost (``benchmarks/bench_velocity.py``: 10 features, one key, ~10 kept
    events per entity): about 670 bytes per tracked entity and key group. An entity
    with a single event is one tuple (or one int), about 100 bytes.

    Examples
    --------
    >>> import os, tempfile
    >>> from fraudscore.velocity import FeatureSet, FeatureSpec, OnlineVelocity
    >>> fs = FeatureSet([FeatureSpec("count", key="ip", window="1h")])
    >>> a = OnlineVelocity(fs, MemoryStore())
    >>> _ = a.update_and_read({"application_id": "A", "ts": 0, "ip": "p:1"})
    >>> path = os.path.join(tempfile.mkdtemp(), "velocity.snap")
    >>> a.store.snapshot(path)
    >>> b = OnlineVelocity(fs, MemoryStore())
    >>> b.store.restore(path)
    >>> b.update_and_read({"application_id": "B", "ts": 1, "ip": "p:1"}).tolist()
    [2.0]
    >>> b.apply({"application_id": "B", "ts": 1, "ip": "p:1"}).duplicate   # B was applied: not counted again
    True
    """

    def __new__(cls, *args: Any, engine: str = "auto", **kwargs: Any) -> MemoryStore:
        if cls is MemoryStore and _compiled_engine(engine):
            from .memory_compiled import CompiledMemoryStore

            return super().__new__(CompiledMemoryStore)
        return super().__new__(cls)

    def __init__(self, max_labels: int = 1_000_000, sweep_every: int = 256,
                 idempotency_ttl: str | int = DEFAULT_IDEMPOTENCY_TTL_MS,
                 max_results: int = DEFAULT_MAX_RESULTS, *, engine: str = "auto") -> None:
        self.engine = "python"
        self.max_labels = max_labels
        self.sweep_every = sweep_every
        self.idempotency_ttl_ms = check_ttl(idempotency_ttl, "MemoryStore")
        self.max_results = check_max_results(max_results, "MemoryStore")
        self._lock = threading.Lock()
        self._plan: Plan | None = None
        self._state: list[OrderedDict[Any, Any]] = []
        self._layouts: list[GroupLayout] = []
        self._labels: LRUCache[str, int] = LRUCache(maxsize=max_labels)
        self._results = ResultCache(self.idempotency_ttl_ms, max_results)
        self._max_seen: int | None = None
        self._since_sweep = 0

    def bind(self, plan: Plan) -> None:
        """Attach the store to a compiled feature set (once; same set again is fine)."""
        with self._lock:
            if self._plan is not None and self._plan.fingerprint != plan.fingerprint:
                raise ConfigError("The 'store' parameter of OnlineVelocity is already bound to another FeatureSet.")
            if self._plan is None:
                self._plan = plan
                self._state = [OrderedDict() for _ in plan.groups]
                self._layouts = [GroupLayout(g) for g in plan.groups]

    def latest_time(self) -> int | None:
        """This store's lateness watermark: the latest event time it applied (epoch ms)."""
        return self._max_seen

    # -- hot path ------------------------------------------------------------------------------
    def recall(self, application_id: str, ts: int, watermark: int | None = None) -> Applied | None:
        """The recorded outcome of ``application_id`` if an event at ``ts`` would be its duplicate, else ``None``.

        ``watermark`` replaces the store's own (a batch judging rows ahead of the store).
        """
        return self._results.get(application_id, ts, self._max_seen if watermark is None else watermark)

    def update_and_read(self, plan: Plan, record: Mapping[str, Any], ts: int) -> np.ndarray:
        """Compute the event's features as of its time, then add it (see OnlineVelocity)."""
        return self.apply(plan, record, ts).features

    def apply(self, plan: Plan, record: Mapping[str, Any], ts: int | None = None, link: Link | None = None) -> Applied:
        """Apply one event once: the recorded outcome for a known ``application_id``, else read and add it.

        ``link`` (``(device_id, link_confidence)``) is recorded with the outcome so a
        duplicate can be decided exactly as the first event was.

        Raises
        ------
        EventError
            For an event more than ``allowed_lateness`` behind this store's
            watermark (field ``ts``); nothing changes.
        """
        if ts is None:
            ts = plan.validate_record(record)
        app = record.get("application_id")
        app = "" if app is None else str(app)
        out = [_NAN] * plan.n_features
        lateness = plan.lateness
        with self._lock:
            seen = self._results.get(app, ts, self._max_seen)
            if seen is not None:
                return seen
            max_seen = self._max_seen
            if max_seen is not None and ts < max_seen - lateness:
                raise EventError("ts", late_message(lateness))
            new_max = ts if max_seen is None or ts > max_seen else max_seen
            labels = self._labels
            for lay, states in zip(self._layouts, self._state):
                key = lay.entity(record)
                if key is None:
                    continue
                cur = lay.extract(record)
                ent = states.get(key)
                if ent is None:  # first event of the entity: nothing to trim
                    lay.read_new(cur, out)
                    states[key] = lay.single(ts, cur)
                    continue
                if ent.__class__ is not list:
                    ent = states[key] = lay.expand(ent)
                states.move_to_end(key)
                lay.read(ent, ts, cur, out, labels)
                lay.insert(ent, ts, cur)
                h = lay.group.horizon
                if h is not None:
                    lay.trim(ent, new_max - lateness - h)
            self._max_seen = new_max
            applied = Applied(np.array(out, dtype=np.float64), False, link, ts)
            self._results.put(app, applied, new_max)
            self._since_sweep += 1
            if self._since_sweep >= self.sweep_every:
                self._since_sweep = 0
                self._sweep(plan)
        return applied

    def _sweep(self, plan: Plan) -> None:
        assert self._max_seen is not None
        for lay, states in zip(self._layouts, self._state):
            if lay.group.horizon is None:
                continue
            cutoff = self._max_seen - plan.lateness - lay.group.horizon
            latest = lay.latest
            while states:
                key = next(iter(states))
                last = latest(states[key])
                if last is not None and last > cutoff:
                    break
                states.popitem(last=False)

    def record_label(self, plan: Plan, application_id: str, is_fraud: bool, label_time_ms: int) -> None:
        """Remember (or clear) the fraud label of an application."""
        with self._lock:
            if is_fraud:
                self._labels[application_id] = label_time_ms
            else:
                self._labels.pop(application_id, None)

    # -- introspection and persistence -------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """Counts of tracked entities, stored events, labels and idempotency records."""
        with self._lock:
            ents = sum(len(s) for s in self._state)
            events = sum(lay.size(e) for lay, s in zip(self._layouts, self._state) for e in s.values())
            return {"entities": ents, "events": events, "labels": len(self._labels), "results": len(self._results)}

    def _payload(self) -> dict[str, Any]:
        assert self._plan is not None
        return build_payload(self._plan, self._layouts, self._state, self._max_seen, list(self._labels.items()),
                             self._results.to_raw())

    def snapshot(self, path: str | os.PathLike[str], *, fork: bool | None = None) -> None:
        """Write the whole state atomically to ``path`` (JSON + gzip + SHA-256; no pickle).

        Scoring threads are not stopped: by default (POSIX) the store forks under its
        lock (the ``fork()`` call is the only pause) and a child process serialises the
        copy-on-write image while the parent keeps scoring; ``fork=False`` (and
        platforms without ``fork``) serialise under the lock instead. Temporary files
        of snapshots killed mid-write are removed first. Returns once the file is
        written.

        Raises
        ------
        StoreError
            When the store is not bound yet or the file cannot be written (the
            previous snapshot stays intact).
        """
        if self._plan is None:
            raise StoreError("cannot snapshot a MemoryStore that is not bound to a FeatureSet yet")
        if fork is None:
            fork = can_fork()
        if fork:
            write_snapshot_forked(path, self._payload, self._lock)
            return
        clean_stale(path)
        with self._lock:
            payload = self._payload()
        write_snapshot(path, payload)

    def restore(self, path: str | os.PathLike[str]) -> None:
        """Replace the state with the snapshot at ``path``.

        The checksum, the format version, the feature set and the whole structure
        (groups, key arity, types, lengths, ranges) are verified before anything is
        replaced (see :mod:`~fraudscore.velocity.memory_snapshot`).

        Raises
        ------
        StoreError
            For a missing, damaged or invalid snapshot; the state is unchanged.
        """
        if self._plan is None:
            raise StoreError("bind the MemoryStore (create OnlineVelocity with it) before restore()")
        clean_stale(path)
        payload = read_snapshot(path)
        got = load_payload(payload, self._plan, self._layouts)
        labels: LRUCache[str, int] = LRUCache(maxsize=self.max_labels)
        for a, lt in got["labels"]:
            labels[a] = lt
        results = ResultCache(self.idempotency_ttl_ms, self.max_results)
        results.load_raw(got["results"])
        with self._lock:
            self._state, self._labels, self._max_seen = got["state"], labels, got["max_seen"]
            self._results = results
