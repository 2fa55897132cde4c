"""The feature pipeline: identity -> fingerprint -> linking -> velocity, once for both paths.

:class:`FeaturePipeline` owns the one definition of every model input. The
online path (:meth:`FeaturePipeline.online`) runs it for one normalised event
against live state; the batch path (:meth:`FeaturePipeline.batch`) runs the very
same identity, fingerprint and linking functions row by row in input order and
the vectorised velocity replay over the columns, from an empty state. Training
uses the batch path, so there is no training-serving skew by construction.

A *record* is the event as later stages see it: identifier fields replaced by
keyed pseudonyms, the raw ``device`` mapping replaced by ``device_id`` (linked),
``device_fp`` (the sectioned fingerprint id), ``device_hw`` (its hardware
section) and ``device_canvas`` (a keyed hash of the canvas/WebGL rendering, for
"attribute seen on many devices" features), and ``ip_prefix`` added. Raw identifiers never leave this module.

The model's input vector is, in order: the schema's numeric fields, the identity
features, the device features, the link confidence, and the velocity features
(:attr:`FeaturePipeline.feature_names`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .batch import ColumnBatch
from .errors import EventError, StoreError
from .fingerprint import DEVICE_FEATURES, DeviceLinker, Fingerprinter, MemoryLinkState, device_signals
from .identity import Identity
from .keys import Keys
from .schema import Schema
from .velocity import FeatureSet, OnlineVelocity, late_mask, replay

__all__ = ["FeaturePipeline", "LINK_FEATURE", "RECORD_EXTRA_FIELDS"]

LINK_FEATURE = "device__link_confidence"
RECORD_EXTRA_FIELDS = ("ip_prefix", "device_id", "device_fp", "device_hw", "device_canvas")
_NAN = float("nan")


class FeaturePipeline:
    """Identity, fingerprint, linking and velocity features for one schema and key.

    Parameters
    ----------
    schema : Schema
        The event schema.
    keys : Keys
        Caller-supplied secrets for pseudonyms and fingerprints.
    feature_set : FeatureSet
        The velocity feature specs.

    Examples
    --------
    >>> from fraudscore.schema import DEFAULT_SCHEMA
    >>> from fraudscore.velocity import FeatureSet, FeatureSpec
    >>> fs = FeatureSet([FeatureSpec("count", key="device_id", window="24h")])
    >>> pipe = FeaturePipeline(DEFAULT_SCHEMA, Keys(b"doc-example-secret-0001"), fs)
    >>> pipe.feature_names[:2], pipe.feature_names[-1]
    (('amount', 'term_months'), 'count__device_id__24h')
    """

    def __init__(self, schema: Schema, keys: Keys, feature_set: FeatureSet) -> None:
        self.schema = schema
        self.keys = keys
        self.feature_set = feature_set
        self.identity = Identity(keys, schema)
        self.fingerprinter = Fingerprinter(keys)
        self.identifier_fields = tuple(schema.identifiers)
        self.has_device = "device" in schema and schema["device"].type == "mapping"
        self.numeric_fields = tuple(
            f.name for f in schema.fields if f.type in ("float", "int", "bool") and f.name != schema.time_field
        )
        device_feats = (*DEVICE_FEATURES, LINK_FEATURE) if self.has_device else ()
        self.feature_names: tuple[str, ...] = (
            *self.numeric_fields,
            *self.identity.feature_names,
            *device_feats,
            *feature_set.names,
        )
        self._n_static = len(self.feature_names) - len(feature_set.names)
        self.record_fields: tuple[str, ...] = tuple(
            [f.name for f in schema.fields if f.type != "mapping"]
            + (["ip_prefix"] if "ip" in self.identifier_fields else [])
            + (list(RECORD_EXTRA_FIELDS[1:]) if self.has_device else [])
        )
        feature_set.validate(set(self.record_fields))

    # -- shared per-event steps --------------------------------------------------
    def _record_and_static(self, ev: Mapping[str, Any]) -> tuple[dict[str, Any], list[float], Any]:
        """Pseudonymise and compute the stateless features of one normalised event."""
        pseudo, ident_feats = self.identity.process(ev)
        record = {k: v for k, v in ev.items() if k != "device"}
        record.update(pseudo)
        static: list[float] = []
        for name in self.numeric_fields:
            v = ev.get(name)
            static.append(_NAN if v is None else float(v))
        static.extend(ident_feats[n] for n in self.identity.feature_names)
        fp = None
        if self.has_device:
            fp = self.fingerprinter.fingerprint(ev.get("device"))
            sig = device_signals(fp, ev)
            static.extend(sig[n] for n in DEVICE_FEATURES)
            record["device_fp"] = None if fp is None else fp.id
            record["device_hw"] = None if fp is None else fp.hardware
            record["device_canvas"] = None if fp is None else fp.canvas
        return record, static, fp

    def _link(self, record: dict[str, Any], static: list[float], fp: Any, linker: DeviceLinker) -> None:
        if not self.has_device:
            return
        if fp is None:
            record["device_id"] = None
            static.append(_NAN)
            return
        res = linker.link(fp, record[self.schema.time_field])
        record["device_id"] = res.device_id
        static.append(float(res.link_confidence))

    def new_linker(self) -> DeviceLinker:
        """A device linker over fresh in-memory state (the batch path's default)."""
        return DeviceLinker(MemoryLinkState())

    # -- online ----------------------------------------------------------------------
    def online(
        self, ev: Mapping[str, Any], linker: DeviceLinker, velocity: OnlineVelocity, *, degrade: bool = False
    ) -> tuple[dict[str, Any], np.ndarray, bool]:
        """Features of one normalised event as of its own time, updating live state.

        Returns the record, the feature vector (aligned with
        :attr:`feature_names`) and whether it was degraded (a store failed and
        ``degrade`` is true: velocity features are then NaN, never zeros).

        Raises
        ------
        EventError
            For an event later than the allowed lateness; no state is changed.
        StoreError
            When a store fails and ``degrade`` is false.
        """
        ts = ev[self.schema.time_field]
        record, static, fp = self._record_and_static(ev)
        degraded = False
        try:
            # Refuse a too-late event before any state changes (links included), as the batch path does.
            latest = velocity.store.latest_time()
            if latest is not None and ts < latest - self.feature_set.allowed_lateness_ms:
                raise EventError(self.schema.time_field, "is more than allowed_lateness behind the latest event time")
            self._link(record, static, fp, linker)
            vel = velocity.update_and_read(record)
        except StoreError:
            if not degrade:
                raise
            degraded = True
            if self.has_device and len(static) < self._n_static:
                record["device_id"] = None
                static.append(_NAN)
            vel = np.full(len(self.feature_set.names), np.nan)
        x = np.empty(len(self.feature_names), dtype=np.float64)
        x[: self._n_static] = static
        x[self._n_static :] = vel
        return record, x, degraded

    # -- batch -----------------------------------------------------------------------
    def batch(
        self,
        cb: ColumnBatch,
        labels: Mapping[str, np.ndarray] | None = None,
        linker: DeviceLinker | None = None,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Record columns and the feature matrix for a validated batch, replayed from empty state.

        Parameters
        ----------
        cb : ColumnBatch
            Validated rows (late rows must already be removed: see :meth:`late_rows`).
        labels : mapping, optional
            ``is_fraud`` (float, NaN unknown) and ``label_ts`` (int64 ms) aligned
            with the rows, for label-delayed features.
        linker : DeviceLinker, optional
            Link state to use; a fresh in-memory one by default.
        """
        n = cb.n
        linker = linker or self.new_linker()
        static = np.empty((n, self._n_static), dtype=np.float64)
        rec_cols: dict[str, np.ndarray] = {}
        pseudo_cols = {f: np.empty(n, dtype=object) for f in self.identifier_fields}
        if "ip" in self.identifier_fields:
            pseudo_cols["ip_prefix"] = np.empty(n, dtype=object)
        dev_cols = {k: np.empty(n, dtype=object) for k in RECORD_EXTRA_FIELDS[1:]} if self.has_device else {}
        names = list(cb.columns)
        cols = [cb.columns[k] for k in names]
        for i in range(n):
            ev = {}
            for k, col in zip(names, cols):
                v = col[i]
                if v is not None and isinstance(v, float) and math.isnan(v):
                    v = None
                ev[k] = v
            ev[self.schema.time_field] = int(ev[self.schema.time_field])
            record, st, fp = self._record_and_static(ev)
            self._link(record, st, fp, linker)
            static[i] = st
            for k, col in pseudo_cols.items():
                col[i] = record.get(k)
            for k, col in dev_cols.items():
                col[i] = record.get(k)
        for k, col in cb.columns.items():
            if k != "device":
                rec_cols[k] = col
        rec_cols.update(pseudo_cols)
        rec_cols.update(dev_cols)
        vel = replay(self.feature_set, rec_cols, labels=labels)
        X = np.empty((n, len(self.feature_names)), dtype=np.float64)
        X[:, : self._n_static] = static
        X[:, self._n_static :] = vel
        return rec_cols, X

    def late_rows(self, ts: np.ndarray) -> np.ndarray:
        """Boolean mask of rows later than the allowed lateness (rejected in both paths)."""
        return late_mask(self.feature_set, np.asarray(ts, dtype=np.int64))
