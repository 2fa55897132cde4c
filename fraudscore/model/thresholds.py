"""Score scale and decision thresholds.

The score scale
---------------
``score = round(1000 * p)`` for a calibrated probability ``p``: an integer in
0..1000, monotone in ``p``, so a score of 120 means "about 12 % of applications
scoring like this were fraud on validation". Rounding is half-to-even in both the
scalar (:func:`score_scale`) and vector (:func:`score_scale_array`) forms, so
they agree exactly.

Thresholds
----------
The action is ``decline`` if ``score >= decline``, ``review`` if
``score >= review``, else ``approve``. :func:`choose_thresholds` picks them on
validation scores:

* ``decline`` -- the lowest score whose false-positive rate (share of genuine
  applications at or above it) is at most ``max_fpr``; ``1001`` (never) when
  none is;
* ``review`` -- the lowest score ``<= decline`` whose review queue (share of
  all applications with ``review <= score < decline``) is at most
  ``target_review_rate``.

Each cut-off is then raised to the lowest score actually observed at or above
it, which flags the same validation rows but leaves no unexplored gap below the
threshold.

Examples
--------
>>> score_scale(0.1234), score_scale(1.0), score_scale(0.0005)
(123, 1000, 0)
>>> score_scale_array(np.array([0.0, 0.4996, 1.2])).tolist()
[0, 500, 1000]
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["SCORE_MAX", "Thresholds", "score_scale", "score_scale_array", "choose_thresholds"]

SCORE_MAX = 1000


def score_scale(p: float) -> int:
    """Calibrated probability -> integer score in 0..1000.

    Examples
    --------
    >>> score_scale(0.7125)
    712
    """
    s = round(SCORE_MAX * float(p))
    return 0 if s < 0 else SCORE_MAX if s > SCORE_MAX else int(s)


def score_scale_array(p: np.ndarray) -> np.ndarray:
    """Vectorised :func:`score_scale` (``int64`` array).

    Examples
    --------
    >>> score_scale_array(np.array([0.0125, 0.0135])).tolist()
    [12, 14]
    """
    s = np.rint(SCORE_MAX * np.asarray(p, dtype=np.float64))
    return np.clip(s, 0, SCORE_MAX).astype(np.int64)


@dataclass(frozen=True)
class Thresholds:
    """Review and decline thresholds on the score scale, with validation estimates.

    Parameters
    ----------
    review, decline : int
        ``review <= decline``; both in 0..1001 (1001 = never).
    review_rate, decline_rate : float
        Expected share of applications sent to review (``review <= score <
        decline``) and declined (``score >= decline``).
    review_precision, review_recall : float
        Fraud share in the review queue, and the share of all frauds it holds.
    decline_precision, decline_recall, decline_fpr : float
        The same for declines, plus the share of genuine applications declined.
    flagged_recall : float
        Share of frauds reviewed or declined (``score >= review``).

    Examples
    --------
    >>> t = Thresholds(review=300, decline=700)
    >>> t.action(250), t.action(300), t.action(900)
    ('approve', 'review', 'decline')
    >>> Thresholds.from_dict(t.to_dict()) == t
    True
    """

    review: int
    decline: int
    review_rate: float = math.nan
    decline_rate: float = math.nan
    review_precision: float = math.nan
    review_recall: float = math.nan
    decline_precision: float = math.nan
    decline_recall: float = math.nan
    decline_fpr: float = math.nan
    flagged_recall: float = math.nan

    def __post_init__(self) -> None:
        for name in ("review", "decline"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v <= SCORE_MAX + 1:
                raise ConfigError(
                    f"The {name!r} parameter of Thresholds must be an integer in 0..{SCORE_MAX + 1}. Got {v!r} instead."
                )
        if self.decline < self.review:
            raise ConfigError(
                f"The 'decline' parameter of Thresholds must be >= review ({self.review}). Got {self.decline!r} instead."
            )

    def action(self, score: int) -> str:
        """``"decline"``, ``"review"`` or ``"approve"`` for a score."""
        if score >= self.decline:
            return "decline"
        if score >= self.review:
            return "review"
        return "approve"

    def __eq__(self, other: object) -> bool:  # NaN-aware, for round trips
        if not isinstance(other, Thresholds):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN written as ``None``)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        """Inverse of :meth:`to_dict`."""
        fields = {k: (math.nan if v is None else v) for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["review"], fields["decline"] = int(data["review"]), int(data["decline"])
        return cls(**fields)


def _rate(num: float, den: float) -> float:
    return float(num / den) if den else math.nan


def _snap(s: int, observed: np.ndarray) -> int:
    """Raise a cut-off to the lowest observed score at or above it (same rows flagged)."""
    i = int(np.searchsorted(observed, s, side="left"))
    return int(observed[i]) if i < observed.size else SCORE_MAX + 1


def choose_thresholds(
    scores: np.ndarray, y: np.ndarray, *, target_review_rate: float = 0.05, max_fpr: float = 0.01
) -> Thresholds:
    """Pick review and decline thresholds on validation scores (see module docstring).

    Parameters
    ----------
    scores : array of int
        Validation scores on the 0..1000 scale.
    y : array of 0/1
        Validation labels.
    target_review_rate : float
        Largest acceptable share of applications in the review queue.
    max_fpr : float
        Largest acceptable share of genuine applications declined.

    Examples
    --------
    >>> scores = np.array([10, 20, 30, 40, 50, 60, 70, 80, 900, 950])
    >>> y = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    >>> t = choose_thresholds(scores, y, target_review_rate=0.2, max_fpr=0.0)
    >>> t.decline, t.review, t.review_rate, t.decline_recall
    (80, 60, 0.2, 1.0)
    """
    if not 0.0 <= target_review_rate <= 1.0:
        raise ConfigError(f"The 'target_review_rate' parameter must be in [0, 1]. Got {target_review_rate!r} instead.")
    if not 0.0 <= max_fpr <= 1.0:
        raise ConfigError(f"The 'max_fpr' parameter must be in [0, 1]. Got {max_fpr!r} instead.")
    scores = np.asarray(scores, dtype=np.int64)
    y = np.asarray(y).astype(bool)
    n, n_pos = scores.size, int(y.sum())
    n_neg = n - n_pos
    # at_or_above[s] = count with score >= s, for s in 0..1001
    hist_all = np.bincount(np.clip(scores, 0, SCORE_MAX), minlength=SCORE_MAX + 1)
    hist_pos = np.bincount(np.clip(scores[y], 0, SCORE_MAX), minlength=SCORE_MAX + 1)
    ge_all = np.concatenate([np.cumsum(hist_all[::-1])[::-1], [0]])
    ge_pos = np.concatenate([np.cumsum(hist_pos[::-1])[::-1], [0]])
    ge_neg = ge_all - ge_pos
    fpr = ge_neg / n_neg if n_neg else np.zeros_like(ge_neg, dtype=float)
    ok = np.flatnonzero(fpr <= max_fpr + 1e-12)
    observed = np.flatnonzero(hist_all)
    decline = _snap(int(ok[0]) if ok.size else SCORE_MAX + 1, observed)
    queue = (ge_all[: decline + 1] - ge_all[decline]) / n if n else np.zeros(decline + 1)
    ok_r = np.flatnonzero(queue <= target_review_rate + 1e-12)
    review = min(_snap(int(ok_r[0]) if ok_r.size else decline, observed), decline)
    q_all = ge_all[review] - ge_all[decline]
    q_pos = ge_pos[review] - ge_pos[decline]
    return Thresholds(
        review=review,
        decline=decline,
        review_rate=_rate(q_all, n),
        decline_rate=_rate(ge_all[decline], n),
        review_precision=_rate(q_pos, q_all),
        review_recall=_rate(q_pos, n_pos),
        decline_precision=_rate(ge_pos[decline], ge_all[decline]),
        decline_recall=_rate(ge_pos[decline], n_pos),
        decline_fpr=_rate(ge_neg[decline], n_neg),
        flagged_recall=_rate(ge_pos[review], n_pos),
    )
