"""What a scored row's rule hits and model give its decision: the rule outcome and rule reasons
(:func:`hit_outcome`), the model reasons computed on demand (:class:`ModelReasons`) and which rows of a batch are
explained (:func:`rows_to_explain`). Shared by :meth:`~fraudscore.scorer.Scorer.score`, its compiled one-call path
(``_core/pipeline_decide.h``) and ``Scorer.decide_batch`` (moved out of :mod:`fraudscore.scorer` in round 14)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .decision import Reason
from .errors import ConfigError
from .model import explain_reasons
from .rules import combine

if TYPE_CHECKING:
    from .batch import ColumnBatch

__all__ = ["hit_outcome", "ModelReasons", "rows_to_explain"]


def hit_outcome(hits: list[Any]) -> tuple[str | None, int, list[Reason], list[str], list[str]]:
    """What a non-empty list of rule hits gives a decision: ``(rule_action, points, reasons, rule_hits,
    shadow_hits)`` -- :func:`~fraudscore.rules.combine`, the acting hits by priority as rule reasons, their codes
    and the shadow hits' codes (shared by :meth:`~fraudscore.scorer.Scorer.score` and its compiled ``decide``).

    Examples
    --------
    >>> from fraudscore.rules.combine import RuleHit
    >>> a, pts, reasons, acting, shadow = hit_outcome([RuleHit("A", "review", 10, "a", False, 1),
    ...                                               RuleHit("S", "decline", 5, "s", True, 9)])
    >>> a, pts, [r.code for r in reasons], acting, shadow
    ('review', 10, ['A'], ['A'], ['S'])
    """
    rule_action, points = combine(hits)
    acting = sorted((h for h in hits if not h.shadow), key=lambda h: -h.priority)
    return (rule_action, points, [Reason(h.code, h.reason, "rule", False) for h in acting],
            [h.code for h in acting], [h.code for h in hits if h.shadow])


class ModelReasons:
    """The model reasons of one scored row (called at once, or later by :class:`~fraudscore.decision.PendingReasons`)."""

    __slots__ = ("model", "x")

    def __init__(self, model: Any, x: np.ndarray) -> None:
        self.model, self.x = model, x

    def __call__(self) -> list[Reason]:
        return [Reason(r.code, r.message, "model", r.adverse_action_ok)
                for r in explain_reasons(self.model, self.x, top_k=3)]


def rows_to_explain(want: Any, action: np.ndarray, cb: ColumnBatch) -> np.ndarray:
    """Positions (within the valid rows) that ``explain`` asks to explain in a batch."""
    n = cb.n
    if isinstance(want, (bool, np.bool_)) or want is None:
        return np.arange(n) if want else np.zeros(0, dtype=np.intp)
    if isinstance(want, str):
        if want != "auto":
            raise ConfigError(f"The 'explain' parameter must be True, False, 'auto' or a boolean row mask. "
                              f"Got {want!r} instead.")
        return np.flatnonzero(action != "approve")
    mask = np.asarray(want)
    if mask.dtype != np.bool_ or mask.ndim != 1 or mask.shape[0] != cb.n_input:
        raise ConfigError(f"The 'explain' parameter as a row mask must be a boolean array over the "
                          f"{cb.n_input} input rows. Got {mask.dtype} of shape {mask.shape} instead.")
    return np.flatnonzero(mask[cb.rows]) if n else np.zeros(0, dtype=np.intp)
