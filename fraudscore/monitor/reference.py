"""Training-time reference distributions and the population stability index (PSI).

:func:`build_reference` runs at training time (``fraudscore.train`` calls it)
and stores, for the model's score and for every model feature, a *binned*
distribution: the cut points (deciles of the model's validation rows, duplicates
removed, so a count feature that is mostly 0 or 1 gets few bins), the share of
rows in each bin and the share of missing values. The reference travels in
the bundle (``reference.json`` beside the model files) and is all that
monitoring needs: no training rows are kept.

:func:`psi` compares a new sample with a reference over the same bins::

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

with ``e_i`` the reference share and ``a_i`` the new share of bin ``i``
(missing values are a bin of their own). Shares are smoothed by half a row
per bin (``(count + 0.5) / (n + 0.5 * bins)``) so an empty bin gives a large
but finite term. The usual reading (Siddiqi, *Credit Risk Scorecards*, 2006;
Yurdakul, *Statistical properties of the population stability index*, 2018):
below 0.1 no significant shift, 0.1 to 0.25 a moderate shift worth a look,
above 0.25 a significant shift. A sample of ``n`` rows drawn from the
reference itself has an expected PSI of about ``(bins - 1) / n`` (0.006 for 10
bins and 1,500 rows), so daily PSIs well below 0.1 are noise.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> ref = bin_reference(rng.normal(size=20_000))
>>> len(ref["edges"]), round(sum(ref["shares"]), 6)
(9, 1.0)
>>> round(psi(ref, rng.normal(size=5_000)), 3) < 0.01
True
>>> round(psi(ref, rng.normal(1.0, 1.0, size=5_000)), 2) > 0.25
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["build_reference", "bin_reference", "bin_counts", "psi", "psi_from_counts", "REFERENCE_FORMAT_VERSION",
           "PSI_WARN", "PSI_ALERT", "SCORE"]

REFERENCE_FORMAT_VERSION = 1
#: the usual PSI reading: below 0.1 stable, 0.1-0.25 moderate shift, above 0.25 significant shift
PSI_WARN = 0.1
PSI_ALERT = 0.25
#: the name under which the model score (0..1000) is monitored
SCORE = "score"
_SMOOTH = 0.5


def bin_reference(values: Any, n_bins: int = 10) -> dict[str, Any]:
    """A binned reference distribution of one variable.

    Cut points are the ``1/n_bins .. (n_bins-1)/n_bins`` quantiles of the
    non-missing values, duplicates removed; bin ``i`` holds
    ``edges[i-1] < x <= edges[i]`` (open at both ends).

    Returns
    -------
    dict
        ``edges``, ``shares`` (one per bin), ``missing`` (share of NaN), ``n``,
        and ``mean`` / ``p50`` of the non-missing values.

    Examples
    --------
    >>> r = bin_reference([0, 0, 0, 1, 1, 2, np.nan, 5])
    >>> r["edges"], r["missing"], r["n"]
    ([0.0, 1.0, 2.0], 0.125, 8)
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if n_bins < 2:
        raise ConfigError(f"The 'n_bins' parameter of bin_reference must be at least 2. Got {n_bins!r} instead.")
    ok = x[~np.isnan(x)]
    if ok.size:
        qs = np.quantile(ok, np.arange(1, n_bins) / n_bins, method="lower")
        edges = np.unique(qs[np.isfinite(qs)])
    else:
        edges = np.zeros(0)
    counts, missing = bin_counts({"edges": edges.tolist()}, x)
    n = x.size
    return {"edges": edges.tolist(), "shares": (counts / n).tolist() if n else counts.tolist(),
            "missing": missing / n if n else 0.0, "n": int(n),
            "mean": float(ok.mean()) if ok.size else math.nan, "p50": float(np.median(ok)) if ok.size else math.nan}


def bin_counts(ref: Mapping[str, Any], values: Any) -> tuple[np.ndarray, int]:
    """Counts of ``values`` in the bins of ``ref`` and the number of missing values.

    Examples
    --------
    >>> bin_counts({"edges": [0.0, 1.0]}, [-1, 0, 0.5, 1, 7, np.nan])
    (array([2, 2, 1]), 1)
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    edges = np.asarray(ref["edges"], dtype=np.float64)
    nan = np.isnan(x)
    idx = np.searchsorted(edges, x[~nan], side="left")
    return np.bincount(idx, minlength=edges.size + 1), int(nan.sum())


def psi_from_counts(ref: Mapping[str, Any], counts: Sequence[int] | np.ndarray, missing: int) -> float:
    """PSI of a sample given as bin counts (see the module docstring); NaN for an empty sample.

    Examples
    --------
    >>> ref = {"edges": [0.0], "shares": [0.5, 0.5], "missing": 0.0, "n": 100}
    >>> psi_from_counts(ref, [50, 50], 0)
    0.0
    >>> round(psi_from_counts(ref, [90, 10], 0), 3)       # 0.879 without smoothing
    0.849
    """
    c = np.append(np.asarray(counts, dtype=np.float64), float(missing))
    n = c.sum()
    if n <= 0:
        return math.nan
    e_share = np.append(np.asarray(ref["shares"], dtype=np.float64), float(ref.get("missing") or 0.0))
    if e_share.size != c.size:
        raise ConfigError(f"The reference has {e_share.size - 1} bins; the counts have {c.size - 1}.")
    n_ref = float(ref.get("n") or 1)
    b = c.size
    e = (e_share * n_ref + _SMOOTH) / (n_ref + _SMOOTH * b)
    a = (c + _SMOOTH) / (n + _SMOOTH * b)
    return float(np.sum((a - e) * np.log(a / e)))


def psi(ref: Mapping[str, Any], values: Any) -> float:
    """Population stability index of ``values`` against the reference ``ref``."""
    counts, missing = bin_counts(ref, values)
    return psi_from_counts(ref, counts, missing)


def build_reference(X: np.ndarray, feature_names: Sequence[str], scores: np.ndarray, *,
                    ts: np.ndarray | None = None, score_ts: np.ndarray | None = None,
                    y: np.ndarray | None = None, n_bins: int = 10, thresholds: Mapping[str, Any] | None = None,
                    ) -> dict[str, Any]:
    """The monitoring reference of a model (``reference.json``).

    Parameters
    ----------
    X : array (n, k)
        Model inputs of the reference rows (``fraudscore.train`` passes the validation rows; NaN = missing).
    feature_names : sequence of str
        One per column of ``X``.
    scores : array
        Model scores on 0..1000 of out-of-sample rows (the validation rows).
    ts, score_ts : array of int, optional
        Event times of ``X``'s rows and of the scored rows (recorded as periods).
    y : array of 0/1, optional
        Labels of the scored rows (records the fraud rate and the score AP).
    n_bins : int
        Bins per variable (deciles by default).
    thresholds : dict, optional
        ``Thresholds.to_dict()`` of the model: the expected review and decline
        rates, precision and recall that monitoring compares against.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> ref = build_reference(rng.normal(size=(500, 2)), ["a", "b"], rng.integers(0, 1000, 200))
    >>> sorted(ref), sorted(ref["features"])
    (['actions', 'features', 'format_version', 'n_rows', 'period', 'score', 'score_period'], ['a', 'b'])
    """
    X = np.asarray(X, dtype=np.float64)
    names = [str(n) for n in feature_names]
    if X.ndim != 2 or X.shape[1] != len(names):
        raise ConfigError(f"The 'X' parameter of build_reference must have one column per feature ({len(names)}). "
                          f"Got shape {X.shape} instead.")
    s = np.asarray(scores, dtype=np.float64)

    def period(t: Any) -> list[int] | None:
        return None if t is None or len(t) == 0 else [int(np.min(t)), int(np.max(t))]

    ref: dict[str, Any] = {
        "format_version": REFERENCE_FORMAT_VERSION,
        "n_rows": int(X.shape[0]),
        "period": period(ts),
        "score_period": period(score_ts),
        "score": bin_reference(s, n_bins),
        "features": {name: bin_reference(X[:, j], n_bins) for j, name in enumerate(names)},
        "actions": {},
    }
    if y is not None and len(y) == len(s):
        yy = np.asarray(y, dtype=np.float64)
        ref["score"]["fraud_rate"] = float(np.nanmean(yy)) if yy.size else math.nan
    if thresholds:
        keys = ("review", "decline", "review_rate", "decline_rate", "review_precision", "decline_precision",
                "review_recall", "decline_recall", "flagged_recall")
        ref["actions"] = {k: thresholds.get(k) for k in keys if k in thresholds}
    return ref
