"""Rule hits and how they combine into a rule action and points.

Combination (non-shadow hits only): any ``decline`` hit gives ``"decline"``;
else any ``review`` gives ``"review"``; else any ``approve`` (allow-list) gives
``"approve"`` -- it overrides the *model's* thresholds, never another rule's
decline or review; else ``None`` (the model decides). ``tag`` hits never change
the action. The points of all non-shadow hits add up; the caller adds them to
the model's 0-1000 score and clips.

Examples
--------
>>> hits = [RuleHit("A", "review", 100, "r", False, 0), RuleHit("B", "decline", 0, "d", True, 0)]
>>> combine(hits)
('review', 100)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["RuleHit", "combine", "HitMatrix", "ACTIONS", "ACTION_CODES", "ACTION_RANK"]

#: The four rule actions.
ACTIONS = ("decline", "review", "approve", "tag")
#: Vectorised action codes: index -> action (0 = no rule action, the model decides).
ACTION_CODES: tuple[str | None, ...] = (None, "approve", "review", "decline")
#: Rank of each action in :data:`ACTION_CODES` (``tag`` ranks 0: it never acts).
ACTION_RANK = {"tag": 0, "approve": 1, "review": 2, "decline": 3}


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One rule that fired on one event.

    Parameters
    ----------
    code : str
        The rule's stable reason code.
    action : {"decline", "review", "approve", "tag"}
        What the rule asks for.
    score : int
        Points added to the model's 0-1000 score.
    reason : str
        The rendered reason message.
    shadow : bool
        A shadow hit is reported but never acts.
    priority : int
        The rule's priority (hits are listed highest first).

    Examples
    --------
    >>> RuleHit("ID_BAD_CHECKSUM", "decline", 0, "ID checksum fails", False, 100).code
    'ID_BAD_CHECKSUM'
    """

    code: str
    action: str
    score: int
    reason: str
    shadow: bool
    priority: int


def combine(hits: Sequence[RuleHit]) -> tuple[str | None, int]:
    """Combine hits into ``(rule_action or None, points)``; shadow hits are ignored.

    Examples
    --------
    >>> combine([RuleHit("OK", "approve", -50, "", False, 0), RuleHit("T", "tag", 20, "", False, 0)])
    ('approve', -30)
    >>> combine([])
    (None, 0)
    """
    rank, points = 0, 0
    for h in hits:
        if h.shadow:
            continue
        points += h.score
        r = ACTION_RANK[h.action]
        if r > rank:
            rank = r
    return ACTION_CODES[rank], points


class _RowView:
    """``columns[name][i]`` as a mapping with ``get`` (renders one row's reasons)."""

    __slots__ = ("columns", "i")

    def __init__(self, columns: Mapping[str, Any], i: int) -> None:
        self.columns, self.i = columns, i

    def get(self, name: str, default: Any = None) -> Any:
        col = self.columns.get(name)
        return default if col is None else col[self.i]


class HitMatrix:
    """Which rule fired on which row, for a batch (from ``CompiledRuleSet.evaluate_columns``).

    Attributes
    ----------
    matrix : numpy.ndarray
        ``(n, n_rules)`` booleans, columns in the order of :attr:`codes`.
    codes : tuple of str
        Rule codes (highest priority first).
    actions, scores, shadow, priorities : numpy.ndarray
        Per-rule metadata, aligned with :attr:`codes`.
    points : numpy.ndarray
        ``(n,)`` int64: the summed points of the non-shadow hits of each row.

    Examples
    --------
    >>> m = HitMatrix(np.array([[True, False], [True, True]]), ("A", "B"), ("review", "decline"),
    ...               (10, 5), (False, False), (0, 0), renderers=(None, None))
    >>> m.actions().tolist(), m.points.tolist()
    (['review', 'decline'], [10, 15])
    """

    def __init__(self, matrix: np.ndarray, codes: Sequence[str], actions: Sequence[str],
                 scores: Sequence[int], shadow: Sequence[bool], priorities: Sequence[int],
                 renderers: Sequence[Callable[[Any], str] | None]) -> None:
        self.matrix = np.asarray(matrix, dtype=bool)
        self.codes = tuple(codes)
        self.rule_actions = np.asarray(actions, dtype=object)
        self.scores = np.asarray(scores, dtype=np.int64)
        self.shadow = np.asarray(shadow, dtype=bool)
        self.priorities = np.asarray(priorities, dtype=np.int64)
        self._renderers = tuple(renderers)
        self.ranks = np.array([ACTION_RANK[a] for a in self.rule_actions], dtype=np.int8)
        # Exact int64 sums, one in-place add per scored rule over its (contiguous, from evaluate_columns) column,
        # no temporary. The float matmul this replaces (a float64 copy of the matrix through BLAS) took 13-516 ms
        # of a 100k-row score_batch on the development machine against ~2 ms now (#13 round 18, docs/rules.md).
        self.points = np.zeros(self.matrix.shape[0], dtype=np.int64)
        for j in np.flatnonzero(~self.shadow & (self.scores != 0)).tolist():
            np.add(self.points, self.scores[j], out=self.points, where=self.matrix[:, j])

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.matrix.shape[0])

    def action_codes(self, exclude: Sequence[str] = ()) -> np.ndarray:
        """Vectorised :func:`combine`: ``(n,)`` int8 codes into :data:`ACTION_CODES`.

        Parameters
        ----------
        exclude : sequence of str, optional
            Rule codes to leave out (used by backtests for marginal effects).
        """
        keep = ~self.shadow
        if exclude:
            keep &= ~np.isin(np.array(self.codes, dtype=object), list(exclude))
        out = np.zeros(self.n, dtype=np.int8)
        for rank in (1, 2, 3):
            cols = keep & (self.ranks == rank)
            if cols.any():
                out[self.matrix[:, cols].any(axis=1)] = rank
        return out

    def actions(self, exclude: Sequence[str] = ()) -> np.ndarray:
        """Combined rule action per row as an object array of ``str`` or ``None``."""
        return np.array(ACTION_CODES, dtype=object)[self.action_codes(exclude)]

    def combine(self, exclude: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised :func:`combine`: ``(rule_action object array (None = model decides), points)``.

        Examples
        --------
        >>> m = HitMatrix(np.array([[True, True], [False, True], [False, False]]), ("A", "B"),
        ...               ("approve", "tag"), (-50, 20), (False, False), (0, 0), renderers=(None, None))
        >>> actions, points = m.combine()
        >>> actions.tolist(), points.tolist()
        (['approve', None, None], [-30, 20, 0])
        """
        return self.actions(exclude), self.points

    def hits_for_row(self, i: int, columns: Mapping[str, Any]) -> list[RuleHit]:
        """The :class:`RuleHit` list of row ``i``, reasons rendered from ``columns``.

        Examples
        --------
        >>> m = HitMatrix(np.array([[True]]), ("A",), ("tag",), (0,), (True,), (3,), renderers=(None,))
        >>> m.hits_for_row(0, {})
        [RuleHit(code='A', action='tag', score=0, reason='', shadow=True, priority=3)]
        """
        row = _RowView(columns, int(i))
        out = []
        for j in np.flatnonzero(self.matrix[i]):
            r = self._renderers[j]
            out.append(RuleHit(self.codes[j], str(self.rule_actions[j]), int(self.scores[j]),
                               r(row) if r is not None else "", bool(self.shadow[j]), int(self.priorities[j])))
        return out

    def __repr__(self) -> str:
        return f"HitMatrix(n={self.n}, rules={len(self.codes)}, hits={int(self.matrix.sum())})"
