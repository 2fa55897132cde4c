"""Policy: rule outcomes + model score + thresholds -> final score and action.

The score scale is 0-1000: ``round(1000 * calibrated probability)`` from the
model, plus the points of every acting (non-shadow) rule hit, clipped to
``[0, 1000]``. The action then follows, in this order:

1. a ``decline`` rule hit -> ``decline``;
2. a ``review`` rule hit -> ``review``, or ``decline`` if the score alone
   reaches the decline threshold (a review rule never softens the model);
3. an ``approve`` (allow-list) rule hit -> ``approve``: an allow-list overrides
   the *model's* thresholds, never another rule's decline or review;
4. otherwise the thresholds: ``decline`` if ``score >= decline``, ``review`` if
   ``score >= review``, else ``approve``.

``tag`` and shadow rules never change the action.

Examples
--------
>>> p = Policy(review=300, decline=700)
>>> p.decide(120, None, 0), p.decide(120, "review", 0), p.decide(650, None, 80)
((120, 'approve'), (120, 'review'), (730, 'decline'))
>>> p.decide(900, "approve", 0), p.decide(900, "review", 0)
((900, 'approve'), (900, 'decline'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = ["Policy", "SCORE_MAX"]

SCORE_MAX = 1000


@dataclass(frozen=True)
class Policy:
    """Thresholds on the 0-1000 score scale.

    Parameters
    ----------
    review : int
        Scores at or above this are reviewed.
    decline : int
        Scores at or above this are declined; must be >= ``review``.
    """

    review: int = 500
    decline: int = 800

    def __post_init__(self) -> None:
        for name in ("review", "decline"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v <= SCORE_MAX + 1:
                raise ConfigError(
                    f"The {name!r} parameter of Policy must be an integer in 0..{SCORE_MAX + 1}. Got {v!r} instead."
                )
        if self.decline < self.review:
            raise ConfigError(
                f"The 'decline' parameter of Policy must be >= review ({self.review}). Got {self.decline!r} instead."
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for the bundle manifest."""
        return {"review": int(self.review), "decline": int(self.decline)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        """Inverse of :meth:`to_dict`."""
        return cls(review=int(data["review"]), decline=int(data["decline"]))

    def decide(self, model_score: int, rule_action: str | None, points: int) -> tuple[int, str]:
        """Final ``(score, action)`` for one event (see the module docstring)."""
        s = model_score + points  # == int(min(SCORE_MAX, max(0, s))) (NaN -> 0), without the two builtin calls
        s = s if s > 0 else 0
        score = int(s if s < SCORE_MAX else SCORE_MAX)
        if rule_action is None:  # most events: the threshold decides
            return score, "decline" if score >= self.decline else "review" if score >= self.review else "approve"
        if rule_action == "decline":
            return score, "decline"
        threshold = "decline" if score >= self.decline else "review" if score >= self.review else "approve"
        if rule_action == "review":
            return score, "decline" if threshold == "decline" else "review"
        if rule_action == "approve":
            return score, "approve"
        return score, threshold

    def decide_array(
        self, model_score: np.ndarray, rule_action: np.ndarray, points: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised :meth:`decide`; ``rule_action`` is an object array (None = no acting rule).

        Examples
        --------
        >>> s, a = Policy(300, 700).decide_array(np.array([120, 120, 650]),
        ...                                      np.array([None, "review", None], dtype=object),
        ...                                      np.array([0, 0, 80]))
        >>> s.tolist(), a.tolist()
        ([120, 120, 730], ['approve', 'review', 'decline'])
        """
        score = np.clip(np.asarray(model_score, dtype=np.int64) + np.asarray(points, dtype=np.int64), 0, SCORE_MAX)
        action = np.where(score >= self.decline, "decline", np.where(score >= self.review, "review", "approve"))
        action = action.astype(object)
        ra = np.asarray(rule_action, dtype=object)
        action[ra == "approve"] = "approve"
        review = ra == "review"
        action[review & (action != "decline")] = "review"
        action[ra == "decline"] = "decline"
        return score, action
