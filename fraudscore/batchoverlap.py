"""The batch path's model on a second core: :meth:`Scorer.score_batch <fraudscore.scorer.Scorer.score_batch>`
overlapped.

Batch scoring runs its stages one after another on one core, the link loop (one C call that holds the GIL) the
largest of them, while the model's compiled forest releases the GIL. With ``overlap`` on, the batch's applied
rows go through the link loop and the velocity replay in row ranges (:meth:`BatchSteps._batch_overlapped
<fraudscore.pipeline_batch.BatchSteps._batch_overlapped>`); as soon as a range's feature rows are final,
:class:`ModelOverlap` hands them to the model on a worker thread (one forest thread while more ranges follow),
and the main thread links the next range meanwhile. The last range's model runs while the main thread frees the
link state and evaluates the rules; ``decide_batch`` then waits for the probabilities.

Every row's probability depends on that row alone, the link loop makes the same calls in the same order, and a
row's velocity depends only on the rows before it, so the decisions, scores, reasons and reports are those of
the sequential path, bit for bit (``tests/test_batchoverlap.py``). The cost: the velocity replay runs once per
range over the rows up to the range's end (the first range's rows twice with two ranges), and one more
``(rows, velocity features)`` float64 buffer while it runs.

Switch: ``score_batch(..., overlap=True)``, or ``FRAUDSCORE_BATCH_OVERLAP=1`` in the environment; the argument
wins. On by default where the process may run on two cores or more (``os.sched_getaffinity``), off on one: on an
idle 2-core machine it took the large bundle's 100k-row batch from 65.5 to 57.8 and from 73.8 to 63.4 us a row
of wall clock (0.88x, 0.86x; the default bundle's model is too small to hide: 77.6 -> 77.1), while under a load of
8-11 it did not resolve either way (its main thread does 6-9 us a row less work, the process 0-15 us a row more).
Docs: docs/compiled.md, "Round 16: the model on a second core".

Examples
--------
>>> split_bounds(100_000, (0.6,), 2_000)
[0, 60000, 100000]
>>> split_bounds(1_500, (0.6,), 2_000)
[0, 1500]
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = ["ModelOverlap", "OVERLAP_ENV", "overlap_enabled", "split_bounds"]

OVERLAP_ENV = "FRAUDSCORE_BATCH_OVERLAP"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


#: The setting when ``FRAUDSCORE_BATCH_OVERLAP`` is unset: on with two cores or more, where the model's thread has
#: a core of its own (docs/compiled.md, round 16: measured on an idle 2-core machine), off on one.
DEFAULT = "1" if _cores() >= 2 else "0"

#: Where the applied rows are split (fractions of them): the first range's model runs while the second range is
#: linked, the last range's while the main thread finishes the batch. Measured in docs/compiled.md (round 16).
SPLITS: tuple[float, ...] = (0.6,)
#: Fewer applied rows than this: one range (the model still overlaps the end of the batch).
MIN_SPLIT_ROWS = 20_000
#: Fewer rows than this: no worker thread at all (its start and hand-over cost more than they save).
MIN_ROWS = 2_000
#: Forest threads of a range handed over while more ranges follow (the main thread keeps the other core busy).
EARLY_THREADS = 1
#: Forest threads of the last range (``None``: one per core).
LAST_THREADS: int | None = None


def overlap_enabled(overlap: bool | None) -> bool:
    """Whether ``score_batch`` overlaps: ``overlap`` when given, else ``FRAUDSCORE_BATCH_OVERLAP`` (on for ``1``,
    ``true``, ``on`` or ``yes``); when unset, :data:`DEFAULT` (on with two cores or more, see docs/compiled.md,
    round 16).

    >>> overlap_enabled(False), overlap_enabled(True)
    (False, True)
    """
    if overlap is not None:
        return bool(overlap)
    return os.environ.get(OVERLAP_ENV, DEFAULT).strip().lower() in ("1", "true", "on", "yes")


def split_bounds(n: int, splits: Sequence[float] = SPLITS, min_split_rows: int = MIN_SPLIT_ROWS) -> list[int]:
    """Range bounds ``[0, ..., n]`` over ``n`` rows at the fractions ``splits`` (one range below
    ``min_split_rows``; empty ranges dropped)."""
    if n < min_split_rows:
        return [0, n]
    cuts = sorted({min(n, max(0, int(n * f))) for f in splits} - {0, n})
    return [0, *cuts, n]


class ModelOverlap:
    """Raw model probabilities of a batch's feature rows, computed on a worker thread as the rows become final.

    Parameters
    ----------
    model : Model
        The scorer's model (:meth:`~fraudscore.model.engines.ModelEngines.predict_raw_threads`).
    model_cols : array of int, optional
        The model's columns of the feature matrix (the scorer's ``_model_cols``; ``None``: all, in order).

    :meth:`submit` hands over rows ``[a, b)`` of the applied rows' matrix, :meth:`kept_rows` says where the kept
    rows come from when duplicates were added, :meth:`raw` waits and returns the kept rows' raw probabilities
    (``None`` when nothing was handed over), :meth:`close` waits for the worker and stops it (always call it:
    ``with ModelOverlap(...)``). An exception of the worker is raised by :meth:`raw` as it was raised there.
    """

    def __init__(self, model: Any, model_cols: np.ndarray | None) -> None:
        self.model = model
        self.model_cols = model_cols
        # the module's settings when the batch starts (tests and benchmarks change them)
        self.splits, self.min_split_rows, self.min_rows = SPLITS, MIN_SPLIT_ROWS, MIN_ROWS
        self.early_threads, self.last_threads = EARLY_THREADS, LAST_THREADS
        self._pool: ThreadPoolExecutor | None = None
        self._parts: list[tuple[int, int, Future[np.ndarray]]] = []
        self._n_main = 0
        self._perm: np.ndarray | None = None

    def __enter__(self) -> ModelOverlap:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def wants(self, n: int) -> bool:
        """Whether a batch of ``n`` rows hands its model to the worker (``n >= MIN_ROWS``)."""
        return n >= max(1, self.min_rows)

    def bounds(self, n: int) -> list[int]:
        """The row ranges of :meth:`BatchSteps._batch_overlapped` (:func:`split_bounds`)."""
        return split_bounds(n, self.splits, self.min_split_rows)

    def model_matrix(self, X: np.ndarray) -> np.ndarray:
        """The model's columns of ``X`` (C order), as ``decide_batch`` takes them."""
        return X if self.model_cols is None else np.take(X, self.model_cols, axis=1)

    def submit(self, X: np.ndarray, a: int, b: int, *, last: bool) -> None:
        """Hand rows ``[a, b)`` of ``X`` (final from now on: nobody writes them again) to the worker.

        Returns once the worker holds its copy of the rows and is about to enter the forest, which releases the
        GIL: the caller's next C call (the link loop holds the GIL throughout) does not keep the model waiting.
        """
        if b <= a:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fraudscore-model")
        self._n_main = max(self._n_main, b)
        started = threading.Event()
        threads = self.last_threads if last else self.early_threads
        fut = self._pool.submit(self._predict, X, a, b, threads, started)
        self._parts.append((a, b, fut))
        while not started.wait(0.05):  # the worker failed before it started the forest: its error is in fut
            if fut.done():
                break

    def _predict(self, X: np.ndarray, a: int, b: int, threads: int | None, started: threading.Event) -> np.ndarray:
        try:
            Xm = self.model_matrix(X[a:b])
        finally:
            started.set()
        return self.model.predict_raw_threads(Xm, threads)

    def kept_rows(self, perm: np.ndarray, n_main: int) -> None:
        """The kept rows' sources when duplicates joined the applied rows: kept row ``r`` is applied row
        ``perm[r]`` if that is below ``n_main``, else a duplicate (predicted by :meth:`raw`). Nothing to map
        when no rows were handed over (``decide_batch`` then hands over the kept rows themselves)."""
        if not self._parts:
            return
        self._perm = np.asarray(perm, dtype=np.intp)
        self._n_main = n_main

    @property
    def submitted(self) -> bool:
        """Whether any rows were handed over."""
        return bool(self._parts)

    def raw(self, X: np.ndarray) -> np.ndarray:
        """The raw probabilities of the kept rows (``X``: their feature matrix, for duplicates' rows)."""
        main = np.empty(self._n_main, dtype=np.float64)
        for a, b, fut in self._parts:
            main[a:b] = fut.result()  # re-raises the worker's exception
        if self._perm is None:
            return main
        out = np.empty(len(self._perm), dtype=np.float64)
        from_main = self._perm < self._n_main
        out[from_main] = main[self._perm[from_main]]
        dup = np.flatnonzero(~from_main)
        if dup.size:
            out[dup] = self.model.predict_raw_threads(self.model_matrix(X[dup]))
        return out

    def close(self) -> None:
        """Wait for the worker (a forest call cannot be interrupted) and stop it."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
