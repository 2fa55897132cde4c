"""The compiled memory store: :class:`MemoryStore`'s engine in C (``fraudscore/_core/velocity_store.c``).

``MemoryStore()`` returns a :class:`CompiledMemoryStore` when the extension is available
(``engine="auto"``, the default) and ``FRAUDSCORE_PURE_PYTHON`` is not set; it has the
same API and gives the same features, bit for bit, as the Python reference in
:mod:`~fraudscore.velocity.memory` (hypothesis parity tests hold them together). The
state is integers in flat arrays instead of Python objects:

* entities are keyed by a stable 64-bit key: the keyed pseudonym's 128 bits folded to 64
  (``"p:<32 hex>"``), or a stable xxh3 of any other value; distinct-of values and
  application ids are kept as such keys too, so no raw value is held or snapshotted;
* an entity seen once is one fixed-width record (32-48 bytes for the default features);
  more events go to a time-sorted buffer of fixed-width records;
* idle entities are evicted incrementally, at most a few per group per event (no sweep);
* sums are exact in 128-bit integers.

Snapshots (``snapshot``/``restore``) are a flat binary dump of that state behind the same
magic line + SHA-256 + atomic rename as the reference store's, written after the dump is
taken (the store is held only for the copy, so scoring does not wait for the file). The
idempotency records travel in the snapshot's JSON header. ``restore`` also reads the
reference store's JSON snapshots (validated as the reference validates them), so a service
can switch engines; a compiled snapshot needs the compiled store (it holds keys, not the
pseudonyms).

Exactly once per application id (:mod:`~fraudscore.velocity.idempotency`) is kept in C too
(round 12): ``ResultTable`` (``_core/velocity_results.h``) is the reference store's
:class:`~fraudscore.velocity.idempotency.ResultCache` -- the same records, order, bound and
expiry, the same snapshot rows -- and :meth:`apply` checks it, runs the C update and records
the outcome in one call (``Store.apply_rec``) under the store's lock.

Calendar windows (``"N calendar days"``, ``exclude_same_day``) and ``ratio_to_mean``
are computed in C too: a calendar window's edges come from the UTC day of ``t - delay``
(``Query.edges``), ``ratio_to_mean`` divides the event's own value by the window mean
exactly as ``plan.finish`` does.

Examples
--------
>>> from fraudscore.velocity import FeatureSet, FeatureSpec, MemoryStore, OnlineVelocity
>>> store = MemoryStore()
>>> store.engine in ("compiled", "python")
True
>>> online = OnlineVelocity(FeatureSet([FeatureSpec("count", key="ip", window="10m")]), store)
>>> online.update_and_read({"application_id": "A", "ts": 0, "ip": "p:1"}).tolist()
[1.0]
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._core import load
from .._version import __version__
from ..errors import ConfigError, EventError, StoreError
from .idempotency import (DEFAULT_IDEMPOTENCY_TTL_MS, DEFAULT_MAX_RESULTS, Applied, Link,
                          check_max_results, check_ttl)
from .memory import MemoryStore
from .memory_layout import GroupLayout
from .memory_snapshot import _bad, _results, load_payload
from .plan import Plan
from .snapshot import clean_stale, read_any_snapshot, write_blob_snapshot

__all__ = ["CompiledMemoryStore", "plan_descriptor"]

_FORMAT_C = "fraudscore.velocity.memory.compiled"
_FORMAT_C_VERSION = 1


#: Applied's slot descriptors in field order (the C store builds the outcome through them: ``Store.apply_new``).
_APPLIED_SLOTS = tuple(Applied.__dict__[f.name] for f in dataclasses.fields(Applied))
#: Whether ``apply_new`` may build it: its fields are the kernel's, and no ``__post_init__`` would be skipped.
_APPLY_NEW = (tuple(f.name for f in dataclasses.fields(Applied)) == ("features", "duplicate", "link", "ts")
              and not hasattr(Applied, "__post_init__"))


def plan_descriptor(plan: Plan, max_labels: int) -> tuple[Any, ...]:
    """The compiled plan handed to the C store: integers, field names and filter tuples.

    Examples
    --------
    >>> from fraudscore.velocity import FeatureSet, FeatureSpec
    >>> d = plan_descriptor(Plan(FeatureSet([FeatureSpec("count", key="ip", window=1000)])), 10)
    >>> d[:3], d[3][0][:2], d[3][0][5]
    ((1, 3600000, 10), (('ip',), 1000), ((1000, 0, 0, 0),))
    >>> d = plan_descriptor(Plan(FeatureSet([FeatureSpec("count", key="ip", window="2 calendar days",
    ...                                                   exclude_same_day=True)])), 10)
    >>> d[3][0][5]  # (horizon, delay, calendar days, exclude_same_day)
    ((259200000, 0, 2, 1),)
    """
    groups = []
    for g in plan.groups:
        lay = GroupLayout(g)
        groups.append((  # names interned: the record's keys (interned schema field names) match by pointer
            tuple(map(_intern, g.key)), g.horizon,
            tuple((kind, _intern(field), fi) for kind, field, fi in lay._ex),
            tuple(lay._filters),
            tuple((o, code, b, int(bool(inc)), flag, slot, slot2) for o, code, b, inc, flag, slot, slot2 in lay._queries),
            tuple(_pair(p) for p in lay._pairs),
        ))
    return (plan.n_features, plan.lateness, int(max_labels), tuple(groups))


def _new_table(mod: Any, ttl_ms: int, max_results: int) -> Any:
    """An empty compiled exactly-once table (``ResultTable``, == :class:`~fraudscore.velocity.idempotency.ResultCache`)."""
    return mod.ResultTable(ttl_ms, max_results, Applied, np.empty)


def _load_table(mod: Any, ttl_ms: int, max_results: int, rows: list[list[Any]]) -> Any:
    """A compiled table holding validated snapshot rows (``[id, ts, features, device id, confidence]``), as
    ``ResultCache.load_raw`` reads them."""
    table = _new_table(mod, ttl_ms, max_results)
    table.load([(app, int(ts), np.array([np.nan if v is None else v for v in vals], dtype=np.float64),
                 None if conf is None else (did, float(conf))) for app, ts, vals, did, conf in rows])
    return table


def _intern(name: Any) -> Any:
    """``sys.intern(name)`` for a str, anything else as it is."""
    return sys.intern(name) if name.__class__ is str else name


def _pair(p: Any) -> tuple[int | None, int, int, int]:
    """A window of the layout as ``(lo | None, hi, calendar_days, exclude_same_day)`` (see ``Query.edges``)."""
    if p.__class__ is tuple:  # a duration window: (lo, hi)
        return (p[0], p[1], 0, 0)
    return (p.lo, p.hi, int(p.cal_days), int(p.excl_day))


class CompiledMemoryStore(MemoryStore):
    """:class:`MemoryStore` with its state in C (created by ``MemoryStore()``; see the module doc).

    Parameters
    ----------
    max_labels : int, default 1_000_000
        Most fraud labels kept (least recently used dropped first).
    sweep_every : int, default 256
        Accepted for compatibility; the compiled store evicts incrementally instead
        (at most ``EVICT_STEPS`` entities looked at per key group and event).
    idempotency_ttl : str or int, default "24h"
        As :class:`MemoryStore`.
    max_results : int, default 1_000_000
        As :class:`MemoryStore`.
    engine : str
        ``"compiled"`` (or ``"auto"``).
    """

    def __init__(self, max_labels: int = 1_000_000, sweep_every: int = 256,
                 idempotency_ttl: str | int = DEFAULT_IDEMPOTENCY_TTL_MS, max_results: int = DEFAULT_MAX_RESULTS, *,
                 engine: str = "compiled") -> None:
        mod = load("velocity_store")
        if mod is None:
            raise ConfigError("The compiled velocity store is not available (FRAUDSCORE_PURE_PYTHON is set or the "
                              "extension was not built); use MemoryStore(engine='python').")
        if isinstance(max_labels, bool) or not isinstance(max_labels, int) or max_labels < 1:
            raise ConfigError(f"The 'max_labels' parameter of MemoryStore must be a positive int. Got {max_labels!r} instead.")
        self.engine = "compiled"
        self.max_labels = max_labels
        self.sweep_every = sweep_every
        self.idempotency_ttl_ms = check_ttl(idempotency_ttl, "MemoryStore")
        self.max_results = check_max_results(max_results, "MemoryStore")
        self._mod = mod
        self._results = _new_table(mod, self.idempotency_ttl_ms, max_results)
        self._core: Any = None
        self._plan: Plan | None = None
        self._lock = threading.Lock()  # bind / apply / restore / snapshot
        self._pending: list[tuple[str, bool, int]] = []  # labels recorded before bind()

    def __repr__(self) -> str:
        return f"MemoryStore(engine='compiled', max_labels={self.max_labels})"

    def bind(self, plan: Plan) -> None:
        """Attach the store to a compiled feature set (once; same set again is fine)."""
        with self._lock:
            if self._plan is not None and self._plan.fingerprint != plan.fingerprint:
                raise ConfigError("The 'store' parameter of OnlineVelocity is already bound to another FeatureSet.")
            if self._plan is not None:
                return
            n = plan.n_features
            core = self._mod.Store(plan_descriptor(plan, self.max_labels), EventError,
                                   functools.partial(np.empty, n, np.float64))
            for app, is_fraud, lt in self._pending:
                core.record_label(app, is_fraud, lt)
            self._pending.clear()
            self._plan, self._core = plan, core

    def latest_time(self) -> int | None:
        """The latest event time seen (epoch ms), the reference for ``allowed_lateness``."""
        core = self._core
        return None if core is None else core.latest_time()

    def recall(self, application_id: str, ts: int, watermark: int | None = None) -> Applied | None:
        """The recorded outcome of ``application_id`` if an event at ``ts`` would be its duplicate, else ``None``.

        ``watermark`` replaces the store's own (a batch judging rows ahead of the store).
        """
        if watermark is None:
            core = self._core
            watermark = None if core is None else core.latest_time()
        return self._results.get(application_id, ts, watermark)

    def admit(self, application_id: str, ts: int) -> tuple[Applied | None, int | None]:
        """``(recall(application_id, ts), latest_time())`` in one call (the pipeline's admission step)."""
        core = self._core
        if core is None:
            return self._results.get(application_id, ts, None), None
        return core.admit(self._results, application_id, ts)  # type: ignore[no-any-return]

    def update_and_read(self, plan: Plan, record: Mapping[str, Any], ts: int) -> np.ndarray:
        """Compute the event's features as of its time, then add it (see OnlineVelocity); exactly once per id."""
        return self.apply(plan, record, ts).features

    def apply(self, plan: Plan, record: Mapping[str, Any], ts: int | None = None, link: Link | None = None) -> Applied:
        """As :meth:`MemoryStore.apply`: the recorded outcome for a known ``application_id``, else read and add."""
        core = self._core
        if core is None:
            raise StoreError("bind the MemoryStore (create OnlineVelocity with it) before scoring")
        if ts is None:
            ts = plan.validate_record(record)
        app = record.get("application_id")
        app = "" if app is None else str(app)
        results = self._results
        with self._lock:
            if _APPLY_NEW:  # == the steps below in one call (the record check, the C update, the record kept)
                return core.apply_rec(results, app, plan, record, ts, link, Applied,  # type: ignore[no-any-return]
                                      _APPLIED_SLOTS)
            seen = results.get(app, ts, core.latest_time())  # pragma: no cover - Applied changed
            if seen is not None:  # pragma: no cover
                return seen
            applied = Applied(core.update_and_read(plan, record, ts), False, link, ts)  # pragma: no cover
            results.put(app, applied.features, int(ts), link, core.latest_time())  # pragma: no cover
        return applied  # pragma: no cover

    def record_label(self, plan: Plan, application_id: str, is_fraud: bool, label_time_ms: int) -> None:
        """Remember (or clear) the fraud label of an application."""
        core = self._core
        if core is None:
            with self._lock:
                if self._core is None:
                    self._pending.append((str(application_id), bool(is_fraud), int(label_time_ms)))
                    return
                core = self._core
        core.record_label(str(application_id), bool(is_fraud), int(label_time_ms))

    # -- introspection and persistence -------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """Counts of tracked entities (per key group), stored events and labels."""
        if self._core is None:
            known: dict[str, int] = {}
            for app, is_fraud, lt in self._pending:  # what the labels will be once bound
                if is_fraud:
                    known[app] = lt
                else:
                    known.pop(app, None)
            return {"entities": 0, "events": 0, "labels": min(len(known), self.max_labels), "results": 0}
        st = self._core.stats()
        return {"entities": st["entities"], "events": st["events"], "labels": st["labels"],
                "results": len(self._results)}

    def memory_bytes(self) -> int:
        """Bytes the compiled state has allocated (slabs, tables, event buffers, labels)."""
        return 0 if self._core is None else int(self._core.stats()["bytes"])

    def snapshot(self, path: str, *, fork: bool | None = None) -> None:
        """Write the whole state atomically to ``path`` (binary dump + SHA-256; no pickle).

        The store is held only while the state is copied (a flat copy: scoring threads
        barely wait, so ``fork`` is accepted and not needed); hashing and writing happen
        after. Temporary files of snapshots killed mid-write are removed first.
        """
        clean_stale(path)
        with self._lock:
            if self._plan is None:
                raise StoreError("cannot snapshot a MemoryStore that is not bound to a FeatureSet yet")
            blob = self._core.dump()
            meta = {"format": _FORMAT_C, "format_version": _FORMAT_C_VERSION, "library_version": __version__,
                    "plan": self._plan.fingerprint, "dump_version": self._mod.DUMP_VERSION,
                    "byteorder": "little", "results": self._results.to_raw()}  # ResultCache.to_raw's rows
        write_blob_snapshot(path, meta, blob)

    def restore(self, path: str) -> None:
        """Replace the state with the snapshot at ``path`` (checksum and feature set verified).

        Reads compiled snapshots and the reference store's JSON snapshots.
        """
        clean_stale(path)
        kind, meta, body = read_any_snapshot(path)
        with self._lock:
            if self._plan is None:
                raise StoreError("bind the MemoryStore (create OnlineVelocity with it) before restore()")
            if kind == "json":
                self._restore_reference(path, meta)
                return
            if meta.get("format") != _FORMAT_C or meta.get("format_version") != _FORMAT_C_VERSION \
                    or meta.get("dump_version") != self._mod.DUMP_VERSION:
                raise StoreError(f"{path!r} is not a compiled MemoryStore snapshot of format version {_FORMAT_C_VERSION}")
            if meta.get("plan") != self._plan.fingerprint:
                raise StoreError("the snapshot was written for a different FeatureSet")
            rows = _results(meta.get("results", []), self._plan.n_features)
            try:
                self._core.load(body)
            except ValueError as exc:
                raise StoreError(f"velocity snapshot {path!r} is unreadable: {exc}") from None
            self._results = _load_table(self._mod, self.idempotency_ttl_ms, self.max_results, rows)

    def _restore_reference(self, path: str, payload: dict[str, Any]) -> None:
        assert self._plan is not None
        got = load_payload(payload, self._plan, [GroupLayout(g) for g in self._plan.groups])  # validates it all
        core = self._core
        core.clear()
        try:
            for gi, rows in enumerate(payload["groups"]):
                for k, ts, cols, _tmax in rows:
                    core.import_entity(gi, tuple(k) if isinstance(k, list) else k, list(ts), [list(c) for c in cols])
            for app, lt in got["labels"]:
                core.record_label(str(app), True, int(lt))
            core.set_latest(got["max_seen"])
        except (ValueError, TypeError, IndexError, OverflowError) as exc:
            core.clear()
            raise _bad(f"{path!r} is unreadable: {exc}") from None
        self._results = _load_table(self._mod, self.idempotency_ttl_ms, self.max_results, got["results"])
