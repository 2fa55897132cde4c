"""The feature pipeline: identity -> fingerprint -> linking -> velocity, once for both paths.

:class:`FeaturePipeline` owns the one definition of every model input. The
online path (:meth:`FeaturePipeline.online`) runs it for one normalised event
against live state; the batch path (:meth:`FeaturePipeline.batch`, from the mixin in
:mod:`fraudscore.pipeline_batch`) runs the very same identity, fingerprint and linking functions row by row in input order and
the vectorised velocity replay over the columns, from an empty state. Training
uses the batch path, so there is no training-serving skew by construction.

A *record* is the event as later stages see it: identifier fields replaced by
keyed pseudonyms, the raw ``device`` mapping replaced by ``device_id`` (linked),
``device_fp`` (the sectioned fingerprint id), ``device_hw`` (its hardware
section) and ``device_canvas`` (a keyed hash of the canvas/WebGL rendering, for
"attribute seen on many devices" features), and ``ip_prefix`` added. Raw identifiers never leave this module.

The model's input vector is, in order: the schema's numeric fields, the codes of
its ``category`` fields (``<field>__category``, from the model's vocabularies:
:mod:`fraudscore.categories`; NaN without one), the identity features, the device
features, the link confidence, and the velocity features
(:attr:`FeaturePipeline.feature_names`).

A link whose confidence is below
:data:`~fraudscore.fingerprint.MIN_LINK_CONFIDENCE` (an exact match on a common
fingerprint, an ambiguous drift link) is not keyed on: the record's
``device_id`` is ``None``, so no velocity feature counts the event under a
device id that may be shared by several phones (those features are then
missing, as for an event without a device); ``device__link_confidence`` still
carries the confidence, and ``device_fp`` / ``device_hw`` are set as always.
Online and batch apply the same rule.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._core import load as load_core
from .categories import Categories, category_feature
from .errors import StoreError
from .eventchecks import has_device_attribute, late_event_error, paused_gc, unusable_device_error  # noqa: F401
from . import eventchecks as _eventchecks
from .fingerprint import (DEVICE_FEATURES, MIN_LINK_CONFIDENCE, DeviceLinker, Fingerprint, Fingerprinter,
                          MemoryLinkState, device_signal_values)
from .fingerprint import sections as _sections
from .fingerprint import signals as _signals
from .identity import Identity
from .identity import _age_years  # the identity kernel's age callback (the compiled head, row)
from .keys import Keys
from .pipeline_batch import BatchSteps
from .schema import Schema
from .velocity import FeatureSet, OnlineVelocity
from .velocity import memory_compiled as _memory_compiled
from .velocity import plan as _plan
from .velocity.idempotency import Applied
from .velocity.memory_compiled import CompiledMemoryStore

_ROW = load_core("pipeline")  # the record and feature vector written in place; None: the reference below
_COMPILED_STORE = CompiledMemoryStore if load_core("velocity_store") is not None else None
_F64 = np.dtype(np.float64)

__all__ = ["FeaturePipeline", "LINK_FEATURE", "RECORD_EXTRA_FIELDS", "AGE_SUFFIX", "protected_features", "paused_gc",
           "late_event_error", "has_device_attribute", "unusable_device_error"]

log = logging.getLogger("fraudscore")

LINK_FEATURE = "device__link_confidence"
AGE_SUFFIX = "__age_s"
"""Suffix of the features derived from timestamp fields: seconds from the field's time to the event time."""
_PROTECTED_NAMES = frozenset({"age", "gender", "sex"})
RECORD_EXTRA_FIELDS = ("ip_prefix", "device_id", "device_fp", "device_hw", "device_canvas")
_NAN = float("nan")
_MS_PER_DAY = 86_400_000


def _assign(x: np.ndarray, start: int, values: Any) -> None:
    """``x[start:start + len(values)] = values`` (numpy's conversion; the device step's uncommon values)."""
    x[start:start + len(values)] = values


def _tail_assign(x: np.ndarray, off: int, conf: float | None, vel: Any) -> None:
    """:meth:`FeaturePipeline._row_tail`'s numpy assignment (the compiled ``online``'s uncommon velocity buffers)."""
    if conf is not None:
        x[off] = conf
    x[off + 1:] = vel


def link_outcome(res: Any) -> tuple[str | None, float]:
    """``(device_id, link_confidence)`` of a link: no device id below :data:`MIN_LINK_CONFIDENCE`.

    Examples
    --------
    >>> from fraudscore.fingerprint import LinkResult
    >>> link_outcome(LinkResult("d_1", 0.9)), link_outcome(LinkResult("d_2", 0.01))
    (('d_1', 0.9), (None, 0.01))
    """
    conf = float(res.link_confidence)
    return (res.device_id if conf >= MIN_LINK_CONFIDENCE else None), conf


def protected_features(names: tuple[str, ...] | list[str]) -> list[str]:
    """Features derived from protected characteristics (age, gender): kept out of models by default.

    They are computed (rules may need them, e.g. a legal minimum age) but
    :func:`fraudscore.train` does not give them to the model unless asked, so a
    model reason can never be "your gender".

    Examples
    --------
    >>> protected_features(["amount", "applicant_id__age", "applicant_id__gender", "inviter_id__age",
    ...                     "gender__category", "browser__category"])
    ['applicant_id__age', 'applicant_id__gender', 'inviter_id__age', 'gender__category']
    """
    out = []
    for n in names:
        base = n[: -len("__category")] if n.endswith("__category") else n
        if base.rsplit("__", 1)[-1] in ("age", "gender"):
            out.append(n)
    return out


class FeaturePipeline(BatchSteps):
    """Identity, fingerprint, linking and velocity features for one schema and key.

    Parameters
    ----------
    schema : Schema
        The event schema.
    keys : Keys
        Caller-supplied secrets for pseudonyms and fingerprints.
    feature_set : FeatureSet
        The velocity feature specs.
    categories : Categories, optional
        Vocabularies of the schema's ``category`` fields (a trained model's);
        without one a field's code is NaN.

    Examples
    --------
    >>> from fraudscore.schema import DEFAULT_SCHEMA
    >>> from fraudscore.velocity import FeatureSet, FeatureSpec
    >>> fs = FeatureSet([FeatureSpec("count", key="device_id", window="24h")])
    >>> pipe = FeaturePipeline(DEFAULT_SCHEMA, Keys(b"doc-example-secret-0001"), fs)
    >>> pipe.feature_names[:2], pipe.feature_names[-1]
    (('amount', 'term_months'), 'count__device_id__24h')
    """

    def __init__(self, schema: Schema, keys: Keys, feature_set: FeatureSet,
                 categories: Categories | None = None) -> None:
        self.schema = schema
        self.keys = keys
        self.feature_set = feature_set
        self.identity = Identity(keys, schema)
        self.fingerprinter = Fingerprinter(keys)
        self.link_model: Any = None  # a LinkModel from the bundle; None: the package's default
        self.identifier_fields = tuple(schema.identifiers)
        self.has_device = "device" in schema and schema["device"].type == "mapping"
        # a plain device id (identifier kind "device_id") keys the device features directly, unlinked
        self.device_id_field = next((n for n, k in schema.identifiers.items() if k == "device_id"), None)
        self.numeric_fields = tuple(
            f.name for f in schema.fields if f.type in ("float", "int", "bool") and f.name != schema.time_field
        )
        self.time_fields = tuple(f.name for f in schema.fields if f.type == "timestamp" and f.name != schema.time_field)
        self.category_fields = tuple(f.name for f in schema.fields if f.type == "category")
        self.categories = categories if categories is not None else Categories()
        self._vocabs = tuple(self.categories.get(c) for c in self.category_fields)
        device_feats = (*DEVICE_FEATURES, LINK_FEATURE) if self.has_device else ()
        self.feature_names: tuple[str, ...] = (
            *self.numeric_fields,
            *(f"{name}{AGE_SUFFIX}" for name in self.time_fields),
            *(category_feature(c) for c in self.category_fields),
            *self.identity.feature_names,
            *device_feats,
            *feature_set.names,
        )
        self._n_static = len(self.feature_names) - len(feature_set.names)
        has_ip = any(k == "ip" for k in schema.identifiers.values())
        self.record_fields: tuple[str, ...] = tuple(
            [f.name for f in schema.fields if f.type != "mapping"]
            + (["ip_prefix"] if has_ip else [])
            + (list(RECORD_EXTRA_FIELDS[1:]) if self.has_device else [])
            + (["device_id"] if self.device_id_field not in (None, "device_id") else [])
        )
        # velocity reads the event time as "ts" and the event id as "application_id": alias other names
        self._aliases = tuple((alias, name) for alias, name in (("ts", schema.time_field),
                                                                 ("application_id", schema.id_field))
                              if alias != name)
        feature_set.validate(set(self.record_fields))
        self._n_features = len(self.feature_names)
        # the compiled head of online()'s feature vector (_core/pipeline.c, head): what _record_and_static reads
        self._row_plan = (self.numeric_fields, schema.time_field, self.time_fields,
                          tuple((c, None if v is None else v.encode_one)
                                for c, v in zip(self.category_fields, self._vocabs)),
                          tuple(self.identity.feature_names), self._aliases, self.device_id_field)
        ident = self.identity
        # the identity kernel inside the head (_core/pipeline.c row): the pseudonyms set in the record and the
        # identity features written into the vector, no dicts in between; None: Identity.process + head
        self._ident_plan: tuple[Any, ...] | None = None
        if ident._kernel is not None and hasattr(ident._kernel, "into"):
            self._ident_plan = (*self._row_plan, ident._kernel.into, ident._kplan, ident._has_ip, _age_years)
        # the device step in one compiled call (_core/pipeline.c device): == _device + device_signal_values + put
        self._device_ctx: tuple[Any, ...] | None = None
        if self.has_device and _ROW is not None and hasattr(_ROW, "device"):
            self._device_ctx = (self.fingerprinter.fingerprint, has_device_attribute, _eventchecks._KNOWN_ATTR_NAMES,
                                _eventchecks._attribute_known, unusable_device_error, Fingerprint, _signals._ROW_CORE,
                                _signals._ROW_CTX, device_signal_values, _signals._MISSING_ROW, _assign,
                                # Fingerprinter.fingerprint's cache read and written in C (round 13)
                                (Fingerprinter.fingerprint, Fingerprinter, _sections._fp_cost, _sections._VALUES_SIZE))
        # the whole of online() for the compiled memory store in one call (_core/pipeline.c online, round 13)
        self._online_ctx: tuple[Any, ...] | None = None
        if (self._ident_plan is not None and hasattr(_ROW, "online") and _COMPILED_STORE is not None
                and _plan._CHECK is not None and _memory_compiled._APPLY_NEW
                and (self._device_ctx is not None or not self.has_device)):
            self._online_ctx = (self._ident_plan, self._device_ctx, self._n_static - 1, _plan._CHECK,
                                _plan.MAX_ABS_VALUE, schema.id_field, feature_set.allowed_lateness_ms,
                                late_event_error, schema.time_field, float(MIN_LINK_CONFIDENCE), StoreError, Applied,
                                _memory_compiled._APPLIED_SLOTS, _tail_assign)

    def protected_features(self) -> list[str]:
        """Model inputs derived from protected characteristics, kept out of models by default.

        The schema's ``protected`` fields (their own column and every ``<field>__*``
        feature derived from them), plus the age and gender read from national ID
        numbers. A schema without a ``protected`` list falls back to names:
        features named ``age``, ``gender`` or ``sex`` (see :func:`protected_features`).
        """
        names = self.feature_names
        out = [n for n in names if n.rsplit("__", 1)[-1] in ("age", "gender")
               and n.split("__", 1)[0] in self.identity.schema.identifiers]
        listed = self.schema.protected
        if listed is None:
            out += [n for n in protected_features(names) if n not in out]
            out += [n for n in names if n.split("__", 1)[0] in _PROTECTED_NAMES and n not in out]
        else:
            out += [n for n in names if n.split("__", 1)[0] in listed and n not in out]
        return [n for n in names if n in out]

    # -- shared per-event steps --------------------------------------------------
    def _record_and_static(self, ev: Mapping[str, Any]) -> tuple[dict[str, Any], list[float], Any]:
        """Pseudonymise and compute the stateless features of one normalised event."""
        pseudo, ident_feats = self.identity.process(ev)
        record = dict(ev)  # the event without its raw device mapping (same keys, same order): a copy and a pop
        record.pop("device", None)  # cost ~2k instructions where the comprehension cost ~14k (callgrind, 20 fields)
        record.update(pseudo)
        for alias, name in self._aliases:
            record[alias] = ev[name]
        static: list[float] = []
        for name in self.numeric_fields:
            v = ev.get(name)
            static.append(_NAN if v is None else float(v))
        if self.time_fields:
            t = ev[self.schema.time_field]
            for name in self.time_fields:
                v = ev.get(name)
                static.append(_NAN if v is None else (t - v) / 1000.0)
        for name, vocab in zip(self.category_fields, self._vocabs):
            static.append(_NAN if vocab is None else vocab.encode_one(ev.get(name)))
        static.extend(map(ident_feats.__getitem__, self.identity.feature_names))
        if self.device_id_field is not None:
            record["device_id"] = pseudo[self.device_id_field]
        fp = None
        if self.has_device:
            fp = self._device(ev, record)
            static.extend(device_signal_values(fp, ev))
        return record, static, fp

    def _device(self, ev: Mapping[str, Any], record: dict[str, Any]) -> Any:
        """The event's device fingerprint (``None`` without a device), its ids put in ``record``; an
        ``EventError`` for a device mapping without one usable attribute."""
        dev = ev.get("device")
        if dev and not has_device_attribute(dev):
            raise unusable_device_error()
        fp = self.fingerprinter.fingerprint(dev)
        if fp is None:
            record["device_fp"] = record["device_hw"] = record["device_canvas"] = None
        else:
            record["device_fp"] = fp.id
            record["device_hw"] = fp.hardware
            record["device_canvas"] = fp.canvas
        return fp

    def _device_row(self, ev: Mapping[str, Any], record: dict[str, Any], x: np.ndarray) -> Any:
        """:meth:`_device` and the device signals into ``x`` (:meth:`_row_signals`): one compiled call
        (``_core/pipeline.c`` ``device``) while the pipeline's fingerprinter is the one it was built with."""
        ctx = self._device_ctx
        if ctx is not None and ctx[0].__self__ is self.fingerprinter and ev.__class__ is dict:
            return _ROW.device(ctx, ev, record, x, self._n_static - 1)
        fp = self._device(ev, record)
        self._row_signals(x, device_signal_values(fp, ev))
        return fp

    def _head(self, ev: Mapping[str, Any], x: np.ndarray) -> dict[str, Any] | None:
        """The record and the head of ``x`` (all before the device signals) in one compiled call where the
        identity kernel is in use (``_core/pipeline.c`` ``row``), else :meth:`Identity.process` + ``head``;
        ``None``: the event is off both fast paths (the caller runs :meth:`_record_and_static`)."""
        plan = self._ident_plan
        if plan is not None and self.identity._kernel is not None:
            record = _ROW.row(plan, ev, x)
            if record is not None:
                return record  # type: ignore[no-any-return]
        pseudo, ident_feats = self.identity.process(ev)
        return _ROW.head(self._row_plan, ev, pseudo, ident_feats, x)  # type: ignore[no-any-return]

    def _row_signals(self, x: np.ndarray, sig: list[float]) -> None:
        """The device signals into ``x``, just before the link confidence (``_n_static - 1``)."""
        off = self._n_static - 1 - len(sig)
        if not _ROW.put(x, off, sig):
            x[off:off + len(sig)] = sig

    def _row_tail(self, x: np.ndarray, conf: float | None, vel: np.ndarray) -> None:
        """The end of a vector :meth:`online` began: the velocity features from ``_n_static`` on, the
        link confidence (``None`` without a device: nothing written) just before them."""
        off = self._n_static - 1
        if not _ROW.tail(x, off, conf, vel):
            if conf is not None:
                x[off] = conf
            x[off + 1:] = vel

    def new_linker(self) -> DeviceLinker:
        """A device linker over fresh in-memory state (the batch path's default)."""
        return DeviceLinker(MemoryLinkState(), model=self.link_model)

    # -- online ----------------------------------------------------------------------
    def online(
        self, ev: Mapping[str, Any], linker: DeviceLinker, velocity: OnlineVelocity, *, degrade: bool = False
    ) -> tuple[dict[str, Any], np.ndarray, bool, bool]:
        """Features of one normalised event as of its own time, updating live state once.

        Returns the record, the feature vector (aligned with
        :attr:`feature_names`), whether it was degraded (a store failed and
        ``degrade`` is true: velocity features are then NaN, never zeros) and whether
        it was a duplicate (its application id was already applied: the velocity
        features and device link are the recorded ones and nothing changed).

        The admission rule (:mod:`~fraudscore.velocity.admission`) runs before any
        state changes: a duplicate or refused event touches neither links nor velocity.
        With an in-process store the caller serialises calls (the scorer's lock); a
        store with ``apply_event`` (Redis) checks, links and counts in one atomic call.

        One path for every store (round 12: the compiled store's one-frame copy of it, ``_online_fast``,
        is gone): with the compiled core the record and the static features are written into ``x`` in
        place (``_core/pipeline.c`` ``row`` and ``device``), else :meth:`_record_and_static` builds them.

        Raises
        ------
        EventError
            For an event later than the allowed lateness (or one velocity cannot
            read); no state is changed.
        StoreError
            When a store fails and ``degrade`` is false.
        """
        octx = self._online_ctx
        if (octx is not None and _ROW is not None and velocity.store.__class__ is _COMPILED_STORE
                and self.identity._kernel is not None
                and (octx[1] is None or octx[1][0].__self__ is self.fingerprinter)):
            # == everything below in one compiled call (_core/pipeline.c online); None: off the fast path
            x = np.empty(self._n_features, _F64)
            out = _ROW.online(octx, ev, x, linker, velocity.plan, velocity.store)
            if out is not None:
                if len(out) == 4:
                    return out  # type: ignore[no-any-return]
                return self._online_failed(out[0], x, out[1], degrade)  # a StoreError: degrade or raise, as below
        ts = ev[self.schema.time_field]
        has_device = self.has_device
        record = x = fp = static = None
        if _ROW is not None:  # compiled: the record, and the static features written into x in place
            x = np.empty(self._n_features, _F64)
            plan = self._ident_plan
            # == self.identity.process(ev) + _ROW.head(...): the pseudonyms and identity features straight into the
            # record and x (one call; None: the kernel hands the event back)
            record = None if plan is None or self.identity._kernel is None else _ROW.row(plan, ev, x)
            if record is None:
                pseudo, ident_feats = self.identity.process(ev)
                record = _ROW.head(self._row_plan, ev, pseudo, ident_feats, x)
            if record is not None and has_device:  # == self._device(ev, record) + the signals into x, one call
                fp = self._device_row(ev, record, x)
        if record is None:  # the reference (or an event the compiled head hands back)
            x = None
            record, static, fp = self._record_and_static(ev)
        store = velocity.store
        conf = None
        degraded = False
        applied = None
        try:
            velocity.plan.validate_record(record)  # what velocity reads, before any state changes
            link_fp = fp if has_device else None
            if hasattr(store, "apply_event"):  # admission, link and counts in one atomic call (Redis)
                applied = store.apply_event(velocity.plan, record, ts, linker if link_fp is not None else None,
                                            link_fp)
            else:
                applied = self._apply_local(record, ts, link_fp, linker, velocity)
            vel = applied.features
            if has_device:
                link = applied.link
                record["device_id"] = None if link is None else link[0]
                conf = _NAN if link is None else float(link[1])
        except StoreError as exc:
            conf, vel = self._store_failed(exc, degrade, record)
            degraded = True
            applied = None
        if static is None:  # compiled: the link confidence and the velocity features after the static part
            self._row_tail(x, conf, vel)
        else:
            if conf is not None:
                static.append(conf)
            x = np.empty(self._n_features, dtype=np.float64)
            x[: self._n_static] = static
            x[self._n_static :] = vel
        return record, x, degraded, bool(applied is not None and applied.duplicate)

    def _online_failed(self, record: dict[str, Any], x: np.ndarray, exc: StoreError,
                       degrade: bool) -> tuple[dict[str, Any], np.ndarray, bool, bool]:
        """The compiled ``online``'s ``(record, exc)`` answer (a store failed): degrade or raise as :meth:`online`."""
        conf, vel = self._store_failed(exc, degrade, record)
        self._row_tail(x, conf, vel)
        return record, x, True, False

    def _store_failed(self, exc: StoreError, degrade: bool, record: dict[str, Any]) -> tuple[float | None, np.ndarray]:
        """A store failed mid-event: log it, re-raise unless ``degrade``; else no device link (the record's
        ``device_id`` None) and the link confidence (NaN; None without a device) and velocity features (NaN)
        to score with."""
        log.warning("velocity store error%s: %s", "; scoring without velocity features" if degrade else "", exc)
        if not degrade:
            raise exc
        conf = None
        if self.has_device:
            record["device_id"] = None
            conf = _NAN
        return conf, np.full(len(self.feature_set.names), np.nan)

    def _apply_local(self, record: dict[str, Any], ts: int, fp: Any, linker: DeviceLinker,
                     velocity: OnlineVelocity) -> Applied:
        """Admission, link and velocity against in-process state (the caller holds the scorer's lock).

        The compiled store reads its admission in one call (:meth:`~fraudscore.velocity.memory_compiled.
        CompiledMemoryStore.admit` == ``recall`` + ``latest_time``)."""
        store = velocity.store
        app = record.get(self.schema.id_field)
        app = "" if app is None else str(app)
        if store.__class__ is _COMPILED_STORE:
            seen, latest = store.admit(app, ts)
        else:
            seen = store.recall(app, ts)
            latest = None if seen is not None else store.latest_time()
        if seen is not None:
            return seen  # type: ignore[no-any-return]
        if latest is not None and ts < latest - self.feature_set.allowed_lateness_ms:
            raise late_event_error(self.schema.time_field, self.feature_set.allowed_lateness_ms)
        link = None
        if fp is not None:
            res = linker.link(fp, ts, record.get("ip_prefix"))
            link = link_outcome(res)
            record["device_id"] = link[0]
        elif self.has_device:
            record["device_id"] = None
        return store.apply(velocity.plan, record, ts, link)  # type: ignore[no-any-return]
