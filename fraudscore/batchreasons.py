"""Batch reasons whose model part is computed on first read of :attr:`DecisionBatch.reasons` (#13, round 13).

``Scorer.score_batch`` explains the rows ``explain`` asks for (``"auto"``: reviewed and declined rows) with
TreeSHAP, the costliest step of a large-bundle batch after the link loop and the trees. As ``Scorer.score``
does for one event (:class:`~fraudscore.decision.PendingReasons`), the batch keeps the explained rows of the
model's matrix and computes their reasons on the first read of ``reasons`` (directly, through ``batch[i]``,
iteration, ``to_pandas``, equality, ``repr``, a copy or a pickle): the list is the very list an eager
computation gives, the model being the one that scored the batch. ``Scorer(..., lazy_reasons=False)``
computes them before ``score_batch`` returns.

:class:`BatchReasonsField` is the descriptor ``DecisionBatch.reasons`` reads through; it resolves a
:class:`PendingBatchReasons` once and stores the plain list. A copy or pickle of a pending value holds the
resolved list (``__reduce__``), so two copies of a batch never explain twice or extend a row twice.

Examples
--------
>>> rows = [["rule reason"], [], []]
>>> p = PendingBatchReasons(rows, [0, 2], lambda: [["model A"], ["model B"]])
>>> p.resolve()
[['rule reason', 'model A'], [], ['model B']]
>>> p.resolve() is p.resolve()                       # once
True
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["PendingBatchReasons", "BatchReasonsField", "batch_model_reasons"]


def _same(value: Any) -> Any:
    return value


class PendingBatchReasons:
    """Per-row reasons of a batch whose model reasons are still to be computed.

    Parameters
    ----------
    rows : list of list
        The reasons known at scoring time (acting rules), one list per row; the
        model reasons are appended to the rows ``explain_rows`` names.
    explain_rows : sequence of int
        The explained rows, in the order ``compute`` returns their reasons.
    compute : callable
        Returns one list of model reasons per explained row.
    """

    __slots__ = ("rows", "explain_rows", "compute", "done", "lock")

    def __init__(self, rows: list[list[Any]], explain_rows: Sequence[int],
                 compute: Callable[[], Sequence[Sequence[Any]]]) -> None:
        self.rows, self.explain_rows, self.compute, self.done = rows, explain_rows, compute, False
        self.lock = threading.Lock()

    def resolve(self) -> list[list[Any]]:
        """The full per-row reason lists (computes the model reasons on the first call only; threads that read
        at the same time wait for it: the compiled TreeSHAP releases the GIL)."""
        if not self.done:
            with self.lock:
                if not self.done:
                    rows = self.rows
                    for i, rs in zip(self.explain_rows, self.compute()):
                        rows[i].extend(rs)
                    self.done, self.compute = True, _same  # drop the matrix and the model
        return self.rows

    def __reduce__(self) -> tuple[Any, ...]:  # copies and pickles hold the plain, resolved list
        return _same, (self.resolve(),)


class BatchReasonsField:
    """The data descriptor of ``DecisionBatch.reasons``: a plain list, or a :class:`PendingBatchReasons`
    resolved (once) on first read."""

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        v = obj.__dict__["reasons"]
        if type(v) is PendingBatchReasons:
            v = obj.__dict__["reasons"] = v.resolve()
        return v

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__["reasons"] = value


def batch_model_reasons(reasons: list[list[Any]], explain_rows: np.ndarray, model: Any, X: np.ndarray, *,
                        lazy: bool = True) -> Any:
    """``reasons`` with the model reasons of ``X``'s rows ``explain_rows`` appended (TreeSHAP, top 3).

    With ``lazy`` a :class:`PendingBatchReasons` that computes them on first read (it keeps a copy of the
    explained rows of ``X``), else the lists themselves, computed now. Either way the same reasons, as
    ``Reason(code, message, "model", adverse_action_ok)``, after the rule reasons already in each list.
    """
    from .decision import Reason
    from .model import explain_batch

    Xe = X[explain_rows]  # a copy: the caller's matrix may change or go

    def compute() -> list[list[Any]]:
        return [[Reason(r.code, r.message, "model", r.adverse_action_ok) for r in rs]
                for rs in explain_batch(model, Xe, top_k=3)]

    pending = PendingBatchReasons(reasons, explain_rows.tolist(), compute)
    return pending if lazy else pending.resolve()
