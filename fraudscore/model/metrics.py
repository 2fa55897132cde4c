"""Evaluation metrics for fraud scores.

ROC AUC, average precision and the ROC curve come from scikit-learn (extra
``train``, imported lazily). The fraud-specific ones are written here:

* :func:`recall_at_fpr` -- the share of frauds caught when at most a given share
  of genuine applications is flagged;
* :func:`recall_at_budget` -- the share of frauds among the top ``k`` % of
  applications by score (a review team's daily capacity);
* :func:`entity_precision_at_k` -- Card (or Entity) Precision@k as in the Fraud
  Detection Handbook: each day, rank entities by their highest score that day,
  take the top ``k``, count the share that had a fraud that day, and average
  over days. Entities already *detected* (fraudulent and in the top ``k``) on an
  earlier day are dropped, as are entities the caller declares known-compromised
  (see :func:`known_compromised_by_day` for the label-delayed protocol).

Examples
--------
>>> y = np.array([0, 0, 1, 1, 0, 1])
>>> s = np.array([0.1, 0.2, 0.9, 0.4, 0.3, 0.8])
>>> recall_at_budget(y, s, 0.5)
1.0
>>> round(recall_at_fpr(y, s, 0.0), 3)
1.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .._compat import optional_import
from ..errors import ConfigError

__all__ = [
    "roc_auc",
    "average_precision",
    "recall_at_fpr",
    "recall_at_budget",
    "entity_precision_at_k",
    "entity_precision_at_k_daily",
    "known_compromised_by_day",
    "evaluate",
]


def _metrics_module() -> Any:
    return optional_import("sklearn.metrics", extra="train")


def _check(y: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(np.int64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != scores.shape:
        raise ConfigError(f"The 'scores' parameter must have one value per label ({y.size}). Got {scores.size} instead.")
    return y, scores


def roc_auc(y: Any, scores: Any) -> float:
    """ROC AUC (NaN when only one class is present).

    Examples
    --------
    >>> roc_auc([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8])
    1.0
    """
    y, scores = _check(y, scores)
    if np.unique(y).size < 2:
        return math.nan
    return float(_metrics_module().roc_auc_score(y, scores))


def average_precision(y: Any, scores: Any) -> float:
    """Average precision (area under the precision-recall curve, step-wise).

    Examples
    --------
    >>> average_precision([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8])
    1.0
    """
    y, scores = _check(y, scores)
    if y.sum() == 0:
        return math.nan
    return float(_metrics_module().average_precision_score(y, scores))


def recall_at_fpr(y: Any, scores: Any, max_fpr: float) -> float:
    """Highest true-positive rate on the ROC curve with false-positive rate <= ``max_fpr``.

    Examples
    --------
    >>> recall_at_fpr([0, 0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.6, 0.9], 0.25)
    1.0
    >>> recall_at_fpr([0, 0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.6, 0.9], 0.0)
    0.5
    """
    y, scores = _check(y, scores)
    if np.unique(y).size < 2:
        return math.nan
    fpr, tpr, _ = _metrics_module().roc_curve(y, scores)
    ok = fpr <= max_fpr + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def recall_at_budget(y: Any, scores: Any, fraction: float) -> float:
    """Share of all frauds found among the top ``fraction`` of rows by score.

    The budget is ``ceil(fraction * n)`` rows; ties at the cut are broken by
    position (stable sort), as a review queue would.

    Examples
    --------
    >>> recall_at_budget([1, 0, 0, 1], [0.9, 0.8, 0.1, 0.2], 0.25)
    0.5
    """
    y, scores = _check(y, scores)
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"The 'fraction' parameter must be in (0, 1]. Got {fraction!r} instead.")
    total = int(y.sum())
    if total == 0:
        return math.nan
    k = int(math.ceil(fraction * y.size))
    order = np.argsort(-scores, kind="stable")[:k]
    return float(y[order].sum() / total)


def known_compromised_by_day(
    entity: Any, y: Any, day: Any, test_days: Iterable[int], delay_days: int = 7
) -> dict[int, set[Any]]:
    """Entities known to be compromised on each test day under a label delay.

    On test day ``D`` an entity counts as known when it had a fraud on a day
    ``<= D - delay_days - 1`` (the end of the day ``delay_days + 1`` days
    before), e.g. the training week and then each gap day as it passes.

    Parameters
    ----------
    entity, y, day : array-like
        The history (training, gap and test rows): entity ids, 0/1 labels and
        integer day numbers.
    test_days : iterable of int
        The days to build sets for.
    delay_days : int
        The label delay in days.

    Examples
    --------
    >>> known = known_compromised_by_day(["a", "b", "c"], [1, 1, 0], [0, 5, 1], [8, 13])
    >>> sorted(known[8]), sorted(known[13])
    (['a'], ['a', 'b'])
    """
    entity = np.asarray(entity, dtype=object)
    y = np.asarray(y).astype(bool)
    day = np.asarray(day, dtype=np.int64)
    out: dict[int, set[Any]] = {}
    fr_ent, fr_day = entity[y], day[y]
    for d in test_days:
        out[int(d)] = set(fr_ent[fr_day <= int(d) - delay_days - 1].tolist())
    return out


def entity_precision_at_k_daily(
    y: Any,
    scores: Any,
    entity: Any,
    day: Any,
    k: int = 100,
    *,
    known_compromised: Mapping[int, Iterable[Any]] | Iterable[Any] | None = None,
    remove_detected: bool = True,
) -> dict[int, float]:
    """Per-day Entity (Card) Precision@k; see :func:`entity_precision_at_k`.

    Examples
    --------
    >>> entity_precision_at_k_daily([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.2], ["a", "b", "a", "b"], [0, 0, 1, 1], k=1)
    {0: 1.0, 1: 0.0}
    """
    y, scores = _check(y, scores)
    entity = np.asarray(entity, dtype=object).ravel()
    day = np.asarray(day, dtype=np.int64).ravel()
    if entity.size != y.size or day.size != y.size:
        raise ConfigError("The 'entity' and 'day' parameters must have one value per label.")
    if k < 1:
        raise ConfigError(f"The 'k' parameter must be a positive integer. Got {k!r} instead.")
    if known_compromised is None:
        per_day: Mapping[int, Iterable[Any]] | None = None
        always: set[Any] = set()
    elif isinstance(known_compromised, Mapping):
        per_day, always = known_compromised, set()
    else:
        per_day, always = None, set(known_compromised)
    detected: set[Any] = set()
    result: dict[int, float] = {}
    for d in np.unique(day).tolist():
        rows = np.flatnonzero(day == d)
        drop = always | detected | (set(per_day.get(d, ())) if per_day is not None else set())
        best: dict[Any, float] = {}
        fraud: dict[Any, int] = {}
        for e, s, lab in zip(entity[rows].tolist(), scores[rows].tolist(), y[rows].tolist()):
            if e in drop:
                continue
            if e not in best or s > best[e]:
                best[e] = s
            fraud[e] = max(fraud.get(e, 0), lab)
        ranked = sorted(best, key=lambda e: -best[e])[:k]  # stable: first seen wins ties
        hits = [e for e in ranked if fraud[e]]
        result[int(d)] = len(hits) / k
        if remove_detected:
            detected.update(hits)
    return result


def entity_precision_at_k(
    y: Any,
    scores: Any,
    entity: Any,
    day: Any,
    k: int = 100,
    *,
    known_compromised: Mapping[int, Iterable[Any]] | Iterable[Any] | None = None,
    remove_detected: bool = True,
) -> float:
    """Card / Entity Precision@k averaged over days (the handbook's CP@k).

    Parameters
    ----------
    y, scores : array-like
        0/1 labels and scores per row (transaction or application).
    entity : array-like
        The entity per row (card, customer, applicant pseudonym).
    day : array-like of int
        Day number per row (``ts // 86_400_000`` for epoch milliseconds).
    k : int
        Entities inspected per day (100 in the handbook).
    known_compromised : mapping day -> entities, or iterable of entities, optional
        Entities to drop on each day (a mapping) or on every day (an iterable).
    remove_detected : bool
        Drop entities found fraudulent in the top ``k`` on an earlier day.

    Returns
    -------
    float
        Mean over days of ``(fraudulent entities in the top k) / k`` (NaN if
        there are no rows).

    Examples
    --------
    >>> y = [1, 0, 0, 1, 0]
    >>> s = [0.9, 0.8, 0.1, 0.7, 0.2]
    >>> ent = ["c1", "c2", "c3", "c1", "c4"]
    >>> day = [0, 0, 0, 1, 1]
    >>> entity_precision_at_k(y, s, ent, day, k=2)
    0.25
    >>> entity_precision_at_k(y, s, ent, day, k=2, remove_detected=False)
    0.5
    """
    daily = entity_precision_at_k_daily(
        y, scores, entity, day, k, known_compromised=known_compromised, remove_detected=remove_detected
    )
    return float(np.mean(list(daily.values()))) if daily else math.nan


def evaluate(
    y: Any,
    scores: Any,
    *,
    fprs: Iterable[float] = (0.01, 0.05),
    budgets: Iterable[float] = (0.01, 0.05),
    entity: Any = None,
    day: Any = None,
    k: int = 100,
) -> dict[str, float]:
    """All metrics in one flat dict (JSON-ready; NaN where undefined).

    Keys: ``n``, ``n_fraud``, ``fraud_rate``, ``roc_auc``, ``average_precision``,
    ``recall_at_fpr_1pct`` (one per ``fprs``), ``recall_at_top_1pct`` (one per
    ``budgets``) and, when ``entity`` and ``day`` are given, ``entity_precision_at_100``.

    Examples
    --------
    >>> m = evaluate([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8])
    >>> m["roc_auc"], m["recall_at_fpr_1pct"], m["n_fraud"]
    (1.0, 1.0, 2)
    """
    y, scores = _check(y, scores)
    out: dict[str, Any] = {
        "n": int(y.size),
        "n_fraud": int(y.sum()),
        "fraud_rate": float(y.mean()) if y.size else math.nan,
        "roc_auc": roc_auc(y, scores),
        "average_precision": average_precision(y, scores),
    }
    for f in fprs:
        out[f"recall_at_fpr_{_pct(f)}"] = recall_at_fpr(y, scores, f)
    for b in budgets:
        out[f"recall_at_top_{_pct(b)}"] = recall_at_budget(y, scores, b)
    if entity is not None and day is not None:
        out[f"entity_precision_at_{k}"] = entity_precision_at_k(y, scores, entity, day, k)
    return out


def _pct(f: float) -> str:
    """``0.01 -> '1pct'``, ``0.005 -> '0.5pct'``."""
    return f"{f * 100:g}pct"
