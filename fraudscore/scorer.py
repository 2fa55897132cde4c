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
probabilities and actions of one ``score_batch`` call (tested), including the
verdicts on events too far ahead of the scorer's clock (``max_clock_skew``), too
late, or repeating an application id (``Decision.duplicate``): see
``docs/reliability.md``.
"""

from __future__ import annotations

import threading
import logging
from time import time_ns as _time_ns
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .batch import ColumnBatch, EventsLike, to_columns
from .batchoverlap import ModelOverlap, overlap_enabled
from .batchreasons import batch_model_reasons
from .bundle import Bundle
from .decision import Decision, DecisionBatch, PendingReasons, Reason, make_decision
from .errors import BundleError, ConfigError, EventError
from .fingerprint import DeviceLinker, MemoryLinkState, RedisLinkState
from .keys import Keys
from .labels import LabelIndex, labels_for_rows, parse_application_id, parse_is_fraud, parse_label_time
from .model import score_scale, score_scale_array
from .pipeline import _COMPILED_STORE, _F64, _ROW, RECORD_EXTRA_FIELDS, FeaturePipeline, late_event_error, paused_gc
from .policy import Policy
from .outcome import ModelReasons, hit_outcome, rows_to_explain
from .rules import RuleSet
from .rules.combine import ACTION_CODES, ACTION_RANK, RuleHit
from .rules.ruleset import CompiledRuleSet
from .schema import Schema
from .scorer_settings import DEFAULT_MAX_CLOCK_SKEW, budget_ms, model_content_version, skew_ms, wall_clock_ms
from .velocity import FeatureSet, MemoryStore, OnlineVelocity, RedisStore
from .velocity.admission import FUTURE, LATE, Admission, future_message
from .velocity.idempotency import DEFAULT_IDEMPOTENCY_TTL_MS

__all__ = ["Scorer", "load", "labels_for_rows", "LabelIndex", "DEFAULT_MAX_CLOCK_SKEW", "wall_clock_ms"]

log = logging.getLogger("fraudscore")


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
    max_clock_skew : str, int or None, default "5m"
        Events whose time is further ahead of ``clock()`` are refused
        (:class:`~fraudscore.errors.EventError` on the time field), online and in
        batch, before any state is read, so one far-future event cannot advance the
        lateness watermark. ``None`` disables the bound.
    clock : callable, optional
        Returns "now" in epoch milliseconds (default :func:`wall_clock_ms`); inject
        one for tests and for replays of history (e.g. ``lambda: replay_end_ms``).
        ``score_batch`` reads it once per call.
    latency_budget_ms : float, optional
        Upper bound for one store call (Redis): a call that exceeds it fails fast
        (a degraded decision with ``degrade=True``, else
        :class:`~fraudscore.errors.StoreError`) within about twice the budget, and
        never holds a lock other threads wait on. Ignored by the in-memory store.
    lazy_reasons : bool, default True
        In :meth:`score` and :meth:`score_batch`, compute the model part of
        ``Decision.reasons`` (``DecisionBatch.reasons``) on its
        first access instead of before returning (the same list either way), so
        explanations nobody reads cost nothing and the scoring latency is not
        set by the explained events.
    state : ScoringState, optional
        Start online scoring from a saved batch state (velocity store and device
        links, :mod:`fraudscore.warmstart`); ``store`` must then be left out.

    Notes
    -----
    With the in-memory store the scorer serialises state changes with one lock
    (no I/O happens under it). With a store that applies events itself in one
    atomic call (:class:`~fraudscore.velocity.RedisStore`), no scorer-wide lock is
    held: threads wait only on their own network call.
    """

    def __init__(
        self,
        bundle: Bundle,
        key: Keys | bytes | str | None = None,
        *,
        store: Any = None,
        degrade: bool = False,
        explain: bool | str = "auto",
        max_clock_skew: str | int | None = DEFAULT_MAX_CLOCK_SKEW,
        clock: Callable[[], int] | None = None,
        latency_budget_ms: float | None = None,
        lazy_reasons: bool = True,
        state: Any = None,
    ) -> None:
        self.max_clock_skew_ms = skew_ms(max_clock_skew)
        if clock is not None and not callable(clock):
            raise ConfigError(f"The 'clock' parameter of Scorer must be a callable returning epoch milliseconds. "
                              f"Got {type(clock).__name__} instead.")
        self.clock: Callable[[], int] = clock or wall_clock_ms
        self.latency_budget_ms = budget_ms(latency_budget_ms)
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
        self.model = bundle.model
        self.pipeline = FeaturePipeline(self.schema, self.keys, self.feature_set,
                                        categories=None if self.model is None else self.model.categories)
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
        if state is not None:
            if store is not None:
                raise BundleError("pass either a store or a state to Scorer, not both")
            state.check(self)
            store = state.store
        self.store = store if store is not None else MemoryStore()
        self.velocity = OnlineVelocity(self.feature_set, self.store)
        if state is not None:
            link_state: Any = state.link_state
        elif hasattr(self.store, "link_state"):
            link_state = self.store.link_state()
        elif isinstance(self.store, RedisStore):
            link_state = RedisLinkState(self.store.client, prefix=self.store.prefix + "link:")
        else:
            link_state = MemoryLinkState()
        self.pipeline.link_model = bundle.link_model  # None: the package's default link model
        self.linker = DeviceLinker(link_state, model=bundle.link_model)
        self.degrade = degrade
        self.explain = explain
        self.lazy_reasons = lazy_reasons
        if self.latency_budget_ms is not None and hasattr(self.store, "set_latency_budget"):
            self.store.set_latency_budget(self.latency_budget_ms)
        # in-process state is serialised here; a store that applies events itself needs no scorer-wide lock
        self._local = not hasattr(self.store, "apply_event")
        self._lock = threading.Lock()
        self.model_version = model_content_version(self.model)
        if self.model is not None:  # the single-row engine chosen here, not on the first event (#13, round 10)
            self.model.prepare_single_row()
            if explain is not False:  # the explainer (FastTreeSHAP tables) too: no explained decision waits for it
                self.model.prepare_explanations()
        self.idempotency_ttl_ms = int(getattr(self.store, "idempotency_ttl_ms", DEFAULT_IDEMPOTENCY_TTL_MS))
        self._setup_challenger(bundle)
        # score() in one compiled call (round 14); None: the Python steps of score() (FRAUDSCORE_PURE_PYTHON=1)
        self._fast: tuple[Any, ...] | None = _DECIDE_CTX

    def _setup_challenger(self, bundle: Bundle) -> None:
        """The shadow challenger model: its feature columns in the pipeline, its policy and version."""
        self.challenger = bundle.challenger
        self.challenger_policy: Policy | None = None
        self.challenger_version = ""
        self._challenger_cols: np.ndarray | None = None
        if self.challenger is None:
            return
        names = list(self.pipeline.feature_names)
        missing = [f for f in self.challenger.feature_names if f not in names]
        if missing:
            raise BundleError(f"feature mismatch: the challenger needs features the pipeline does not compute: "
                              f"{missing[:5]}")
        self._challenger_cols = np.array([names.index(f) for f in self.challenger.feature_names], dtype=np.intp)
        try:
            self.challenger_policy = Policy.from_dict(bundle.challenger_policy)
        except (KeyError, TypeError, ValueError) as e:
            raise BundleError(f"the challenger's policy is invalid: {e}") from None
        self.challenger_version = model_content_version(self.challenger)

    def _shadow_one(self, x: np.ndarray, rule_action: Any, points: int) -> dict[str, Any]:
        """The challenger's score, probability and action for one feature row (never acting)."""
        if self.challenger is None:
            return {}
        p = float(self.challenger.predict_one(x[self._challenger_cols]))
        score, action = self.challenger_policy.decide(score_scale(p), rule_action, points)  # type: ignore[union-attr]
        return {"challenger_score": score, "challenger_probability": p, "challenger_action": action,
                "challenger_version": self.challenger_version}

    def _shadow_batch(self, X: np.ndarray, rule_action: np.ndarray, points: np.ndarray) -> dict[str, Any]:
        """:meth:`_shadow_one` for a matrix (vectorised)."""
        if self.challenger is None:
            return {}
        n = X.shape[0]
        p = self.challenger.predict_proba(X[:, self._challenger_cols]) if n else np.zeros(0)
        score, action = self.challenger_policy.decide_array(  # type: ignore[union-attr]
            score_scale_array(p), rule_action, points)
        return {"challenger_score": score, "challenger_probability": p, "challenger_action": action,
                "challenger_version": self.challenger_version}

    # -- admission ---------------------------------------------------------------------
    def clock_limit(self) -> int | None:
        """The latest event time accepted now: ``clock() + max_clock_skew`` (``None`` without a bound)."""
        if self.max_clock_skew_ms is None:
            return None
        return int(self.clock()) + self.max_clock_skew_ms

    def _future_error(self, row: int | None = None) -> EventError:
        return EventError(self.schema.time_field, future_message(int(self.max_clock_skew_ms or 0)), row=row)

    def admission(self, state: Any = None) -> Admission:
        """A fresh :class:`~fraudscore.velocity.admission.Admission` with this scorer's lateness and TTL.

        With a warm-start ``state``, it starts from the state's watermark and finds the
        application ids the state's store already applied.
        """
        if state is None:
            return Admission(self.feature_set.allowed_lateness_ms, self.idempotency_ttl_ms)
        store = state.store
        return Admission(self.feature_set.allowed_lateness_ms, int(getattr(store, "idempotency_ttl_ms",
                                                                           self.idempotency_ttl_ms)),
                         watermark=state.newest, lookup=lambda app, t, w: store.recall(app, t, w))

    # -- one event ----------------------------------------------------------------------
    def _values(self, record: Mapping[str, Any], x: np.ndarray) -> dict[str, Any]:
        values = dict(record)
        values.update(zip(self.pipeline.feature_names, x.tolist()))
        return values

    def score(self, event: Mapping[str, Any], *, explain: bool | str | None = None,
              return_features: bool = False) -> Decision:
        """Score one application.

        An application id that was already scored (a client retry, the same
        application sent twice) gets the decision rebuilt from the state recorded
        the first time, with ``duplicate=True``, and is not counted again.

        Raises
        ------
        EventError
            For a malformed event (naming the field), an event further ahead of the
            clock than ``max_clock_skew`` or later than the allowed lateness; no state
            (velocity, links, labels, idempotency records) is changed.
        StoreError
            When the store fails and the scorer does not degrade.
        """
        fast = self._fast
        if fast is not None:  # == the steps below in one compiled call (_core/pipeline_decide.h)
            return _DECIDE(fast, self, event, explain, return_features)  # type: ignore[no-any-return,misc]
        ev = self.schema.validate(event)
        skew = self.max_clock_skew_ms
        if skew is not None:  # == clock_limit(); the default clock read inline (two Python calls fewer, ~2k)
            clock = self.clock
            limit = (_time_ns() // 1_000_000 if clock is wall_clock_ms else int(clock())) + skew
            if ev[self.schema.time_field] > limit:
                raise self._future_error()
        if self._local:
            with self._lock:
                record, x, degraded, duplicate = self.pipeline.online(ev, self.linker, self.velocity,
                                                                      degrade=self.degrade)
        else:
            record, x, degraded, duplicate = self.pipeline.online(ev, self.linker, self.velocity,
                                                                  degrade=self.degrade)
        return self._decide(ev, record, x, degraded, duplicate, explain, return_features)

    def _decide(self, ev: dict[str, Any], record: dict[str, Any], x: np.ndarray, degraded: bool, duplicate: bool,
                explain: bool | str | None, return_features: bool) -> Decision:
        """The rest of :meth:`score` after the pipeline: rules, model, policy, reasons and the :class:`Decision`
        (the compiled ``decide`` hands a degraded decision, a challenger and ``return_features`` over to it)."""
        # the rules read dict(record) + the features; evaluate_parts builds that dict only when a hit needs it
        hits = self.rules.evaluate_parts(record, x, self.pipeline.feature_names)
        rule_action, points, reasons, rule_hits, shadow_hits = hit_outcome(hits) if hits else (None, 0, [], [], [])
        if self.model is not None:
            xm = x if self._model_cols is None else x[self._model_cols]
            p = float(self.model.predict_one(xm))
            model_score = score_scale(p)
        else:
            p, model_score = float("nan"), 0
        score, action = self.policy.decide(model_score, rule_action, points)
        system = [Reason("SYS_DEGRADED", "velocity store unavailable; scored without velocity", "system")] \
            if degraded else []
        want = self.explain if explain is None else explain
        if self.model is not None and (want is True or (want == "auto" and action != "approve")):
            explain_model = ModelReasons(self.model, xm.copy())
            if self.lazy_reasons:
                reasons = PendingReasons(reasons, explain_model, system)
            else:
                reasons = [*reasons, *explain_model(), *system]
        else:
            reasons.extend(system)
        if degraded:
            log.warning("degraded decision for one application: velocity store unavailable, scored without "
                        "velocity features")
        # == Decision(application_id=..., ..., duplicate=duplicate), without the dataclass __init__ (17k -> 4k)
        return make_decision(
            ev[self.schema.id_field], score, p, action, reasons, rule_hits, shadow_hits,
            dict(zip(self.pipeline.feature_names, x.tolist())) if return_features else None,
            self.model_version, self.ruleset.version, record.get("device_id"), degraded, duplicate,
            None if self.challenger is None else self._shadow_one(x, rule_action, points),
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
        if self._local:  # in-process state is serialised here; a Redis store needs no scorer-wide lock
            with self._lock:
                self.velocity.record_label(app, fraud, lts)
        else:
            self.velocity.record_label(app, fraud, lts)

    # -- many events ---------------------------------------------------------------------
    def label_index(self, labels: Any) -> LabelIndex:
        """A :class:`LabelIndex` of a labels table for this scorer (its id field; label time needed only when a
        feature is label-delayed)."""
        if isinstance(labels, LabelIndex):
            return labels
        return LabelIndex(labels, id_field=self.schema.id_field, require_time=self.feature_set.has_labels)

    def features_batch(self, events: EventsLike, labels: Any = None, *,
                       state: Any = None) -> tuple[ColumnBatch, dict[str, np.ndarray], np.ndarray]:
        """Validate and replay a batch: returns the valid rows, record columns and feature matrix.

        With a ``state`` (:class:`~fraudscore.warmstart.ScoringState`) the batch
        continues from it and leaves it updated (see :meth:`score_batch`).
        """
        with paused_gc():
            return self._features_batch(events, labels, state)

    def _features_batch(self, events: EventsLike, labels: Any, state: Any = None,
                        overlap: ModelOverlap | None = None) -> tuple[ColumnBatch, dict[str, np.ndarray], np.ndarray]:
        cb = self.pipeline.screen(to_columns(events, self.schema))
        tf, idf = self.schema.time_field, self.schema.id_field
        if state is not None:
            state.check(self)
        adm = self.admission(state)
        verdict, src = (adm.judge(cb.columns[tf], cb.columns[idf], self.clock_limit()) if cb.n
                        else (np.zeros(0, np.int8), np.zeros(0, np.int64)))
        refused = (verdict == FUTURE) | (verdict == LATE)
        errors = list(cb.errors)
        if refused.any():
            for i in np.flatnonzero(refused).tolist():
                row = int(cb.rows[i])
                errors.append(self._future_error(row) if verdict[i] == FUTURE else
                              late_event_error(tf, self.feature_set.allowed_lateness_ms, row))
            errors.sort(key=lambda e: e.row or 0)
        if errors:
            log.info("%d of %d rows rejected, first: %s", len(errors), cb.n_input, errors[0])
        index = None if labels is None else self.label_index(labels)
        lab = None
        if index is not None and cb.n:
            lab = index.align(cb.columns[idf])
        if state is not None and index is not None:
            state.record_labels(index)
        linker = self.pipeline.new_linker() if state is None else state.linker
        kept, rec, X = self.pipeline.batch_admitted(cb, verdict, src, lab, linker, state=state,
                                                    earlier=_recorded(adm), overlap=overlap)
        kept.errors = errors
        return kept, rec, X

    def score_batch(self, events: EventsLike, *, labels: Any = None, return_features: bool = False,
                    explain: bool | str | None = None, state: Any = None,
                    overlap: bool | None = None) -> DecisionBatch:
        """Score many applications at once (vectorised), replaying state from empty.

        Parameters
        ----------
        events : list of mappings, mapping of columns, DataFrame or Arrow Table
            Rows in arrival order.
        labels : mapping or DataFrame, optional
            Known labels (the schema's id field, ``is_fraud``, ``label_time``) for
            label-delayed features; each counts only from its label time on.
        return_features : bool, default False
            Include the feature matrix in the result.
        explain : {"auto", True, False} or array of bool, optional
            As in :meth:`score` (``"auto"``: reviewed and declined rows), or a
            boolean mask over the *input* rows naming the rows to explain.
            Explanations (TreeSHAP) are the costly part of a batch: ask only for
            the rows you need.
        state : ScoringState, optional
            Continue from this state instead of an empty one, and leave it updated
            (warm starts, :mod:`fraudscore.warmstart`): scoring month 2 from the
            state after month 1 equals scoring both months in one call. Velocity is
            then computed through the state's store, row by row.
        overlap : bool, optional
            Run the model on a worker thread while the link loop and the rest of
            the batch go on (:mod:`fraudscore.batchoverlap`): the same result, bit
            for bit; its main thread does less, the process a little more.
            Default: ``FRAUDSCORE_BATCH_OVERLAP`` (``1`` / ``0``) when set, else on
            where the process has two cores or more (docs/compiled.md, round 16).
        """
        if self.model is None or not overlap_enabled(overlap):
            with paused_gc():
                cb, rec, X = self.features_batch(events, labels, state=state)
                return self.decide_batch(cb, rec, X, return_features=return_features, explain=explain)
        with paused_gc(), ModelOverlap(self.model, self._model_cols) as ov:
            cb, rec, X = self._features_batch(events, labels, state, overlap=ov)
            return self._decide_rows(cb, rec, X, return_features, explain, ov)

    def decide_batch(self, cb: ColumnBatch, rec: Mapping[str, np.ndarray], X: np.ndarray, *,
                     return_features: bool = False, explain: bool | str | None = None) -> DecisionBatch:
        """Rules, model and policy over already computed record columns and features (vectorised).

        ``cb``, ``rec`` and ``X`` come from :meth:`features_batch` (or from a chunked
        replay, see :mod:`fraudscore.rescore`); every step here is row-wise.
        """
        return self._decide_rows(cb, rec, X, return_features, explain, None)

    def _decide_rows(self, cb: ColumnBatch, rec: Mapping[str, np.ndarray], X: np.ndarray, return_features: bool,
                     explain: bool | str | None, overlap: ModelOverlap | None) -> DecisionBatch:
        """:meth:`decide_batch`; with an ``overlap`` the model's probabilities come from its worker (rows handed
        over while the features were built, or all rows now, before the rules run)."""
        n = cb.n
        if overlap is not None and not overlap.submitted and overlap.wants(n):
            overlap.submit(X, 0, n, last=True)  # the model on the worker while the rules run here
        columns = dict(rec)
        columns.update({name: X[:, j] for j, name in enumerate(self.pipeline.feature_names)})
        hm = self.rules.evaluate_columns(columns, n)
        rule_action, points = hm.combine()
        reasons: list[list[Reason]] = [[] for _ in range(n)]
        rule_hits: list[list[str]] = [[] for _ in range(n)]
        shadow_hits: list[list[str]] = [[] for _ in range(n)]
        hit_rows = np.flatnonzero(hm.matrix.any(axis=1)).tolist() if n else []
        for i in hit_rows:  # reasons are built only for rows with a rule hit (the model's worker runs meanwhile)
            hits = hm.hits_for_row(i, columns)
            acting = sorted((h for h in hits if not h.shadow), key=lambda h: -h.priority)
            reasons[i] = [Reason(h.code, h.reason, "rule", False) for h in acting]
            rule_hits[i] = [h.code for h in acting]
            shadow_hits[i] = [h.code for h in hits if h.shadow]
        Xm = None
        if self.model is not None and n:
            if overlap is not None and overlap.submitted:
                p = self.model.calibrator.apply(overlap.raw(X))  # Model.predict_proba of the worker's raw values
            else:
                Xm = X if self._model_cols is None else np.take(X, self._model_cols, axis=1)  # C order
                p = self.model.predict_proba(Xm)
            model_score = score_scale_array(p)
        else:
            p, model_score = np.full(n, np.nan), np.zeros(n, dtype=np.int64)
        score, action = self.policy.decide_array(model_score, rule_action, points)
        want = self.explain if explain is None else explain
        explain_rows = rows_to_explain(want, action, cb)
        if self.model is not None and n and explain_rows.size:  # on first read unless lazy_reasons=False
            if Xm is None:
                Xm = X if self._model_cols is None else np.take(X, self._model_cols, axis=1)  # C order, for the model
            reasons = batch_model_reasons(reasons, explain_rows, self.model, Xm, lazy=self.lazy_reasons)
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
            ts=cb.columns.get(self.schema.time_field),
            **self._shadow_batch(X, rule_action, points),
            duplicate=cb.duplicate if cb.duplicate is not None else np.zeros(n, dtype=bool),
        )


def _recorded(adm: Admission) -> Any:
    """What a duplicate of an application recorded by a warm-start store copies: ``(features, device, conf)``."""
    def earlier(app: Any) -> tuple[np.ndarray, Any, float]:
        rec = adm.found[str(app)]
        link = rec.link or (None, float("nan"))
        return rec.features, link[0], link[1]

    return earlier


def load(path: str, key: Keys | bytes | str | None = None, **kwargs: Any) -> Scorer:
    """Load a bundle from ``path`` (directory or zip), verify it, and return a ready :class:`Scorer`.

    ``key`` is the caller's secret (``FRAUDSCORE_KEY`` when omitted): the bundle's
    signature is checked with it. Other keyword arguments go to :class:`Scorer`
    (``store``, ``degrade``, ``explain``, ``state``, ``max_clock_skew``, ``clock``,
    ``latency_budget_ms``).
    """
    keys = Keys.resolve(key)
    bundle = Bundle.load(path, key=keys)
    try:
        scorer = Scorer(bundle, keys, **kwargs)
    except BundleError:
        raise
    except ConfigError as e:  # signed, but its parts do not fit together (e.g. a rule names no feature)
        raise BundleError(f"the bundle does not build a scorer: {e}") from None
    log.info("bundle loaded from %s (model %s, rules %s, %d features)", path, scorer.model_version,
             scorer.ruleset.version, len(scorer.pipeline.feature_names))
    return scorer


# Scorer.score in one compiled call (_core/pipeline_decide.h): the classes and functions whose exact instances it
# runs in C (anything else: the Python method), in the order of its DC_* slots
_DECIDE = getattr(_ROW, "decide", None)
_DECIDE_CTX: tuple[Any, ...] | None = None if _DECIDE is None or _COMPILED_STORE is None else (
    Schema, FeaturePipeline, _COMPILED_STORE, CompiledRuleSet, RuleSet, Policy, wall_clock_ms, np.empty, np.ndarray,
    _F64, hit_outcome, score_scale, ModelReasons, PendingReasons, Decision, RuleHit, Reason, ACTION_RANK, ACTION_CODES,
)
