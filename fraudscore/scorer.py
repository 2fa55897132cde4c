"""The :class:`Scorer`: one call per application, or one call per batch.

A scorer is assembled from a :class:`~fraudscore.bundle.Bundle` (schema,
feature specs, rules, model, thresholds) and the caller's secret key, plus a
velocity store (in memory by default, Redis for several worker processes).

* :meth:`Scorer.score` validates one event, computes its features against live
  state, evaluates the rules and the model and returns a
  :class:`~fraudscore.decision.Decision`.
* :meth:`Scorer.score_batch` does the same for many events at once, vectorised,
  replaying velocity and device links from an empty state in input order. Bad
  rows are reported in ``DecisionBatch.errors`` and the rest are scored.

Scoring events one by one from an empty store gives exactly the features,
probabilities and actions of one ``score_batch`` call (tested).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from .batch import ColumnBatch, EventsLike, to_columns
from .bundle import Bundle
from .decision import Decision, DecisionBatch, Reason
from .errors import BundleError, EventError
from .fingerprint import DeviceLinker, MemoryLinkState, RedisLinkState
from .keys import Keys
from .labels import LabelIndex, labels_for_rows, parse_application_id, parse_is_fraud, parse_label_time
from .model import explain_batch, explain_reasons, score_scale, score_scale_array
from .pipeline import RECORD_EXTRA_FIELDS, FeaturePipeline, paused_gc
from .policy import Policy
from .rules import RuleSet, combine
from .schema import Schema
from .velocity import FeatureSet, MemoryStore, OnlineVelocity, RedisStore

__all__ = ["Scorer", "load", "labels_for_rows", "LabelIndex"]


def _model_version(model: Any) -> str:
    """Content version of a model: ``"m-"`` + 16 hex of the sha256 of its LightGBM text and calibration."""
    if model is None:
        return "none"
    import hashlib

    h = hashlib.sha256()
    for name, data in sorted(model.to_files().items()):
        if name != "model.json":  # metadata (metrics, versions) does not change predictions
            h.update(name.encode() + b"\0" + data)
    return "m-" + h.hexdigest()[:16]


class Scorer:
    """Score loan applications with one bundle and one key.

    Parameters
    ----------
    bundle : Bundle
        The configuration and model (:func:`load` reads one from disk).
    key : Keys, bytes or str, optional
        The caller's secret (``FRAUDSCORE_KEY`` when omitted). Its
        :attr:`~fraudscore.keys.Keys.key_id` must match the bundle's.
    store : MemoryStore or RedisStore, optional
        Velocity state; a new :class:`~fraudscore.velocity.MemoryStore` by default.
    degrade : bool, default False
        On a store failure, score without velocity features and mark the
        decision ``degraded`` instead of raising :class:`~fraudscore.errors.StoreError`.
    explain : {"auto", True, False}, default "auto"
        Model explanations: ``"auto"`` explains reviewed and declined decisions.
    """

    def __init__(
        self,
        bundle: Bundle,
        key: Keys | bytes | str | None = None,
        *,
        store: Any = None,
        degrade: bool = False,
        explain: bool | str = "auto",
    ) -> None:
        self.bundle = bundle
        self.keys = Keys.resolve(key)
        want = (bundle.fingerprint or {}).get("key_id") or getattr(bundle, "key_id", None)
        if want and want != self.keys.key_id:
            raise BundleError(
                f"the key's id {self.keys.key_id!r} does not match the bundle's key id {want!r}: "
                "pseudonyms and device ids would not match the ones the bundle was built with"
            )
        self.schema = Schema.from_dict(bundle.schema)
        self.feature_set = FeatureSet.from_dict(bundle.features)
        self.pipeline = FeaturePipeline(self.schema, self.keys, self.feature_set)
        self.model = bundle.model
        self._model_cols: np.ndarray | None = None
        if self.model is not None:
            names = list(self.pipeline.feature_names)
            missing = [f for f in self.model.feature_names if f not in names]
            if missing:
                raise BundleError(f"feature mismatch: the model needs features the pipeline does not compute: "
                                  f"{missing[:5]}")
            idx = np.array([names.index(f) for f in self.model.feature_names], dtype=np.intp)
            if not (len(idx) == len(names) and np.array_equal(idx, np.arange(len(names)))):
                self._model_cols = idx
        self.policy = Policy.from_dict(bundle.policy) if bundle.policy else Policy()
        self.ruleset = (RuleSet.from_toml(bundle.rules_toml, lists=bundle.lists, bundled=True) if bundle.rules_toml
                        else RuleSet([]))
        known = (*self.pipeline.record_fields, *self.pipeline.feature_names)
        self.rules = self.ruleset.compile(
            known,
            list_transform=self.pipeline.identity.pseudonym,
            identifier_names=(*self.pipeline.identifier_fields, *RECORD_EXTRA_FIELDS),
        )
        self.store = store if store is not None else MemoryStore()
        self.velocity = OnlineVelocity(self.feature_set, self.store)
        if isinstance(self.store, RedisStore):
            link_state: Any = RedisLinkState(self.store.client, prefix=self.store.prefix + "link:")
        else:
            link_state = MemoryLinkState()
        self.linker = DeviceLinker(link_state)
        self.degrade = degrade
        self.explain = explain
        self._lock = threading.Lock()
        self.model_version = _model_version(self.model)

    # -- one event ----------------------------------------------------------------------
    def _values(self, record: Mapping[str, Any], x: np.ndarray) -> dict[str, Any]:
        values = dict(record)
        values.update(zip(self.pipeline.feature_names, x.tolist()))
        return values

    def score(self, event: Mapping[str, Any], *, explain: bool | str | None = None,
              return_features: bool = False) -> Decision:
        """Score one application.

        Raises
        ------
        EventError
            For a malformed event (naming the field); velocity state is untouched.
        StoreError
            When the store fails and the scorer does not degrade.
        """
        ev = self.schema.validate(event)
        with self._lock:
            record, x, degraded = self.pipeline.online(ev, self.linker, self.velocity, degrade=self.degrade)
        values = self._values(record, x)
        hits = self.rules.evaluate(values)
        rule_action, points = combine(hits)
        if self.model is not None:
            xm = x if self._model_cols is None else x[self._model_cols]
            p = float(self.model.predict_one(xm))
            model_score = score_scale(p)
        else:
            p, model_score = float("nan"), 0
        score, action = self.policy.decide(model_score, rule_action, points)
        acting = sorted((h for h in hits if not h.shadow), key=lambda h: -h.priority)
        reasons = [Reason(h.code, h.reason, "rule", False) for h in acting]
        want = self.explain if explain is None else explain
        if self.model is not None and (want is True or (want == "auto" and action != "approve")):
            reasons.extend(Reason(r.code, r.message, "model", r.adverse_action_ok)
                           for r in explain_reasons(self.model, xm, top_k=3))
        if degraded:
            reasons.append(Reason("SYS_DEGRADED", "velocity store unavailable; scored without velocity", "system"))
        return Decision(
            application_id=ev[self.schema.id_field],
            score=score,
            probability=p,
            action=action,
            reasons=reasons,
            rule_hits=[h.code for h in acting],
            shadow_hits=[h.code for h in hits if h.shadow],
            features=dict(zip(self.pipeline.feature_names, x.tolist())) if return_features else None,
            model_version=self.model_version,
            ruleset_version=self.ruleset.version,
            device_id=record.get("device_id"),
            degraded=degraded,
        )

    def record_label(self, application_id: str, is_fraud: bool | int | str, label_time: Any) -> None:
        """Feed back a confirmed label; it enters label-delayed features from ``label_time`` on.

        Labels are read strictly (:mod:`fraudscore.labels`): ``is_fraud`` is a boolean,
        ``0`` / ``1`` or one of a few documented strings (``"no"`` is ``False``);
        anything else, a missing ``application_id`` or a bad ``label_time`` raises
        :class:`~fraudscore.errors.EventError` and stores nothing.
        """
        app = parse_application_id(application_id, field=self.schema.id_field)
        fraud = parse_is_fraud(is_fraud)
        lts = parse_label_time(label_time)
        with self._lock:
            self.velocity.record_label(app, fraud, lts)

    # -- many events ---------------------------------------------------------------------
    def features_batch(self, events: EventsLike, labels: Any = None) -> tuple[ColumnBatch, dict[str, np.ndarray], np.ndarray]:
        """Validate and replay a batch: returns the valid rows, record columns and feature matrix."""
        with paused_gc():
            return self._features_batch(events, labels)

    def _features_batch(self, events: EventsLike, labels: Any) -> tuple[ColumnBatch, dict[str, np.ndarray], np.ndarray]:
        cb = to_columns(events, self.schema)
        late = self.pipeline.late_rows(cb.columns[self.schema.time_field]) if cb.n else np.zeros(0, bool)
        if late.any():
            bad = np.flatnonzero(late)
            errs = [EventError(self.schema.time_field, "is later than the allowed lateness behind the newest event",
                               row=int(cb.rows[i])) for i in bad]
            keep = np.flatnonzero(~late)
            errors = sorted(cb.errors + errs, key=lambda e: e.row or 0)
            cb = cb.take(keep)
            cb.errors = errors
        lab = None
        if labels is not None and cb.n:
            lab = labels_for_rows(labels, cb.columns[self.schema.id_field])
        rec, X = self.pipeline.batch(cb, lab, self.pipeline.new_linker())
        return cb, rec, X

    def score_batch(self, events: EventsLike, *, labels: Any = None, return_features: bool = False,
                    explain: bool | str | None = None) -> DecisionBatch:
        """Score many applications at once (vectorised), replaying state from empty.

        Parameters
        ----------
        events : list of mappings, mapping of columns, DataFrame or Arrow Table
            Rows in arrival order.
        labels : mapping or DataFrame, optional
            Known labels (``application_id``, ``is_fraud``, ``label_time``) for
            label-delayed features; each counts only from its label time on.
        return_features : bool, default False
            Include the feature matrix in the result.
        explain : {"auto", True, False}, optional
            As in :meth:`score`.
        """
        with paused_gc():
            cb, rec, X = self.features_batch(events, labels)
            return self.decide_batch(cb, rec, X, return_features=return_features, explain=explain)

    def decide_batch(self, cb: ColumnBatch, rec: Mapping[str, np.ndarray], X: np.ndarray, *,
                     return_features: bool = False, explain: bool | str | None = None) -> DecisionBatch:
        """Rules, model and policy over already computed record columns and features (vectorised).

        ``cb``, ``rec`` and ``X`` come from :meth:`features_batch` (or from a chunked
        replay, see :mod:`fraudscore.rescore`); every step here is row-wise.
        """
        n = cb.n
        columns = dict(rec)
        columns.update({name: X[:, j] for j, name in enumerate(self.pipeline.feature_names)})
        hm = self.rules.evaluate_columns(columns, n)
        rule_action, points = hm.combine()
        Xm = X if self._model_cols is None else X[:, self._model_cols]
        if self.model is not None and n:
            p = self.model.predict_proba(Xm)
            model_score = score_scale_array(p)
        else:
            p, model_score = np.full(n, np.nan), np.zeros(n, dtype=np.int64)
        score, action = self.policy.decide_array(model_score, rule_action, points)
        reasons: list[list[Reason]] = [[] for _ in range(n)]
        rule_hits: list[list[str]] = [[] for _ in range(n)]
        shadow_hits: list[list[str]] = [[] for _ in range(n)]
        want = self.explain if explain is None else explain
        hit_rows = np.flatnonzero(hm.matrix.any(axis=1)).tolist() if n else []
        for i in hit_rows:  # reasons are built only for rows with a rule hit
            hits = hm.hits_for_row(i, columns)
            acting = sorted((h for h in hits if not h.shadow), key=lambda h: -h.priority)
            reasons[i] = [Reason(h.code, h.reason, "rule", False) for h in acting]
            rule_hits[i] = [h.code for h in acting]
            shadow_hits[i] = [h.code for h in hits if h.shadow]
        if self.model is not None and n and want:
            rows = np.arange(n) if want is True else np.flatnonzero(action != "approve")
            if rows.size:
                for i, rs in zip(rows, explain_batch(self.model, Xm[rows], top_k=3)):
                    reasons[i].extend(Reason(r.code, r.message, "model", r.adverse_action_ok) for r in rs)
        return DecisionBatch(
            application_id=np.asarray(cb.columns[self.schema.id_field], dtype=object),
            score=score,
            probability=p,
            action=action,
            reasons=reasons,
            rule_hits=rule_hits,
            shadow_hits=shadow_hits,
            rows=cb.rows,
            errors=cb.errors,
            features={name: X[:, j] for j, name in enumerate(self.pipeline.feature_names)} if return_features else None,
            device_id=rec.get("device_id"),
            model_version=self.model_version,
            ruleset_version=self.ruleset.version,
            degraded=np.zeros(n, dtype=bool),
            index=cb.index,
        )


def load(path: str, key: Keys | bytes | str | None = None, **kwargs: Any) -> Scorer:
    """Load a bundle from ``path`` (directory or zip), verify it, and return a ready :class:`Scorer`.

    ``key`` is the caller's secret (``FRAUDSCORE_KEY`` when omitted): the bundle's
    signature is checked with it. Other keyword arguments go to :class:`Scorer`
    (``store``, ``degrade``, ``explain``).
    """
    keys = Keys.resolve(key)
    return Scorer(Bundle.load(path, key=keys), keys, **kwargs)
