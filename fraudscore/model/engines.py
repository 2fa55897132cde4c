"""Which engine a :class:`~fraudscore.model.model.Model` runs: its compiled forests, chosen at run time.

A model without compiled trees (:meth:`~fraudscore.model.model.Model.compile`) still runs the compiled forest
(:mod:`fraudscore.model.compiled`) where it builds here and equals LightGBM bit for bit on probe rows:

* single rows (:meth:`ModelEngines.prepare_single_row`, :attr:`ModelEngines.single_row_path`): the single-row
  layout, else LightGBM's fast path (``FRAUDSCORE_SINGLE_ROW=lightgbm``);
* matrices (:attr:`ModelEngines.batch_path`): the same forest, else ``Booster.predict``;
* contributions (:attr:`ModelEngines.explain_path`, :meth:`ModelEngines.prepare_explanations`): a forest with
  the FastTreeSHAP tables, else ``pred_contrib`` (``FRAUDSCORE_BATCH_ENGINE=lightgbm`` for both).

Nothing here is saved with the model; every choice is made once, under one lock, on first use or when the
:class:`~fraudscore.scorer.Scorer` is built.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["ModelEngines", "SINGLE_ROW_ENV", "BATCH_ENGINE_ENV", "REASON_MARGIN"]

SINGLE_ROW_ENV = "FRAUDSCORE_SINGLE_ROW"
"""``lightgbm`` keeps LightGBM's fast path for :meth:`Model.predict_one` (default ``auto``: the compiled forest's
single-row layout when it can be built here and matches LightGBM on probe rows; see :meth:`Model.prepare_single_row`)."""
BATCH_ENGINE_ENV = "FRAUDSCORE_BATCH_ENGINE"
"""``lightgbm`` keeps ``Booster.predict`` for matrices and ``pred_contrib`` for explanations of a model without
compiled trees (default ``auto``: the compiled forest with its FastTreeSHAP tables when it can be built here and
matches LightGBM on probe rows; see :meth:`Model.batch_path`)."""
REASON_MARGIN = 1e-9
"""Relative margin (times the row's scale, 1 + the sum of absolute contributions) within which the explanation
code treats two contributions from the FastTreeSHAP tables as possibly ordered otherwise by LightGBM: such rows
are explained again with the exact (bit-identical) algorithm, so the reasons equal those of ``pred_contrib``.
The tables' measured error is below 1e-14 of the scale on the project's bundles."""
_SINGLE_ROW_LOCK = threading.Lock()


class ModelEngines:
    """The engine choice of :class:`~fraudscore.model.model.Model` (a mixin: it reads the model's booster,
    ``_fast`` path, compiled trees and the engine slots :class:`Model` sets in ``__init__``)."""

    booster: Any
    feature_names: list[str]
    _fast: Any
    _one: Any
    _one_path: str
    _compiled: Any
    _explainer: Any
    _batch: Any
    _batch_path: str
    _shap: Any
    _shap_path: str
    _one_forest: Any
    _unsplit: np.ndarray | None

    @property
    def num_features(self) -> int:
        """Number of input columns."""
        return len(self.feature_names)

    @property
    def batch_path(self) -> str:
        """The engine of matrices (:meth:`predict_raw`) for a model without compiled trees: ``"compiled"`` (a
        compiled forest, built on first use or shared with the single-row engine), ``"lightgbm"``
        (``Booster.predict``), or ``"pending"`` before the first use; ``"compiled"`` with compiled trees.

        The forest is used only where it builds here and equals ``Booster.predict`` bit for bit on probe rows;
        else, silently, LightGBM, as when ``fast=False``, ``FRAUDSCORE_BATCH_ENGINE=lightgbm``,
        ``FRAUDSCORE_NO_COMPILED=1`` or ``FRAUDSCORE_PURE_PYTHON=1`` is set. It walks eight rows of a block through
        each tree together (since round 15; eight trees of one row before), one thread per core: 3.8x
        ``Booster.predict`` on the 500-tree bench bundle in round 11 (docs/benchmarks.md), 4.6x in one thread in
        round 15 (docs/compiled.md). Explanations have their own forest (:attr:`explain_path`); nothing is saved.

        Examples
        --------
        >>> import lightgbm as lgb
        >>> from fraudscore.model import Model
        >>> X = np.arange(60.0).reshape(30, 2); y = np.arange(30) % 2
        >>> b = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 2}, lgb.Dataset(X, y, feature_name=["x1", "x2"]), 3)
        >>> m = Model(b, ["x1", "x2"])
        >>> m.batch_path
        'pending'
        >>> m.predict_raw(X).tobytes() == b.predict(X).tobytes() and m.batch_path in ("compiled", "lightgbm")
        True
        """
        if self._compiled is not None:
            return "compiled"
        return self._batch_path

    def _batch_engine(self) -> Any:
        """The compiled forest of :attr:`batch_path` (built once, on first use), or None for LightGBM."""
        if self._batch_path == "pending":
            with _SINGLE_ROW_LOCK:
                if self._batch_path == "pending":
                    forest = self._one_forest if self._one_forest is not None else self._shap
                    self._batch = forest if forest is not None else self._auto_forest(explain=False)
                    self._batch_path = "compiled" if self._batch is not None else "lightgbm"
        return self._batch

    def _auto_forest(self, *, explain: bool) -> Any:
        """A compiled forest of this model for matrices or (with ``explain``) contributions, or None where the
        batch engine is off or it cannot be built (:meth:`_verified_forest`)."""
        return self._verified_forest(BATCH_ENGINE_ENV, explain=explain)

    def _verified_forest(self, env: str, *, explain: bool) -> Any:
        """A compiled forest of this model, verified on probe rows (with ``explain``: its TreeSHAP too, built with
        the FastTreeSHAP tables), or None where LightGBM's fast path is off, ``env`` (:data:`SINGLE_ROW_ENV` or
        :data:`BATCH_ENGINE_ENV`) says ``lightgbm``, the compiled core is off, or the forest cannot be built."""
        from .._core import pure_python
        from .compiled import DISABLE_ENV, CompileError, CompiledForest, forest_tables

        if self._fast.mode != "fast" or os.environ.get(env, "auto").strip().lower() == "lightgbm" \
                or os.environ.get(DISABLE_ENV) == "1" or pure_python():
            return None
        try:
            forest = CompiledForest(forest_tables(self.booster.model_to_string()), shap_tables_mb=None if explain
                                    else 0)
        except (CompileError, ConfigError):
            return None
        if forest.verify(self.booster):
            return None  # pragma: no cover - would be a bug in the engine
        if explain and (not forest.explains or forest.verify_contributions(self.booster, n=8)):
            return None  # no node covers in the model text (or a bug in the engine): LightGBM explains
        return forest

    def predict_raw_threads(self, X: Any, threads: int | None = None) -> np.ndarray:
        """:meth:`~fraudscore.model.model.Model.predict_raw` with a thread count: the same doubles, row for row.

        ``threads`` goes to the compiled forest (``CompiledForest.predict``) or to ``Booster.predict``
        (``num_threads``); ``None`` keeps their default (one thread per core). A row's probability depends on
        that row alone in both engines, so any thread count and any split of the rows gives the same values
        (``tests/model/test_predict_threads.py``). The batch path's overlapped model
        (:mod:`fraudscore.batchoverlap`) runs its chunks on one thread while the main thread works on.

        Examples
        --------
        >>> import lightgbm as lgb
        >>> from fraudscore.model import Model
        >>> X = np.arange(60.0).reshape(30, 2); y = np.arange(30) % 2
        >>> b = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 2},
        ...               lgb.Dataset(X, y, feature_name=["x1", "x2"]), 3)
        >>> m = Model(b, ["x1", "x2"])
        >>> m.predict_raw_threads(X, 1).tobytes() == m.predict_raw(X).tobytes()
        True
        """
        X = self._matrix(X)  # type: ignore[attr-defined]
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        engine = self._compiled if self._compiled is not None else self._batch_engine()
        if engine is not None:
            return engine.predict(X, threads=threads)
        if threads is None:
            return np.asarray(self.booster.predict(X), dtype=np.float64)
        return np.asarray(self.booster.predict(X, num_threads=int(threads)), dtype=np.float64)

    def predict_raw_one(self, x: Any) -> float:
        """Uncalibrated probability for one row, through the single-row engine (:attr:`single_row_path`)."""
        one = self._one
        if one is None:
            self.prepare_single_row()
            one = self._one
        return one(x)

    @property
    def single_row_path(self) -> str:
        """The engine of :meth:`predict_one`: ``"compiled"`` (the compiled forest's single-row layout), ``"fast"``
        (LightGBM's C single-row API), ``"fallback"`` (``Booster.predict``), or ``"pending"`` before the first
        prediction (or :meth:`prepare_single_row`) chose one."""
        return self._one_path

    def prepare_single_row(self) -> str:
        """Choose the engine of :meth:`predict_one` now (otherwise the first prediction does); returns
        :attr:`single_row_path`.

        Compiled trees (:meth:`compile`) predict with their forest. Otherwise, by default, the model builds
        the compiled forest for single rows only: its single-row layout (16-byte nodes, eight trees walked
        at once) is 3.4x faster than LightGBM's fast path alone and 5x inside ``Scorer.score``, where the
        other stages evict the model between two events, and it evicts less of their data in turn
        (docs/benchmarks.md, #13 round 10). It is used only when it builds here (a C
        compiler and the Python headers, the extension cached per user) and equals ``Booster.predict`` bit
        for bit on probe rows; else, silently, LightGBM's fast path, as when ``fast=False``,
        ``FRAUDSCORE_SINGLE_ROW=lightgbm``, ``FRAUDSCORE_NO_COMPILED=1`` or ``FRAUDSCORE_PURE_PYTHON=1`` is set.
        Nothing is saved: explanations, batch predictions and the saved files are unchanged.

        Examples
        --------
        >>> import lightgbm as lgb
        >>> from fraudscore.model import Model
        >>> X = np.arange(60.0).reshape(30, 2); y = np.arange(30) % 2
        >>> b = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 2}, lgb.Dataset(X, y, feature_name=["x1", "x2"]), 3)
        >>> m = Model(b, ["x1", "x2"])
        >>> m.single_row_path
        'pending'
        >>> m.prepare_single_row() in ("compiled", "fast")
        True
        >>> m.predict_one(X[4]) == float(m.predict_proba(X[4:5])[0])
        True
        """
        with _SINGLE_ROW_LOCK:
            if self._one is None:
                engine = self._single_row_engine()
                self._one_path = "compiled" if engine is not None else self._fast.mode
                self._one = engine.predict_one if engine is not None else self._fast.predict_one
        return self._one_path

    def _single_row_engine(self) -> Any:
        """The compiled forest :meth:`prepare_single_row` chooses, or None for LightGBM's path."""
        if self._compiled is not None:
            return self._compiled
        if self._batch is not None:  # already built for matrices: the same trees, bit for bit
            self._one_forest = self._batch
            return self._batch
        forest = self._verified_forest(SINGLE_ROW_ENV, explain=False)
        if forest is not None:
            self._one_forest = forest  # matrices may use it too (batch_path)
        return forest

    @property
    def explain_path(self) -> str:
        """``"compiled"`` (TreeSHAP over compiled trees: see :meth:`contributions`) or ``"lightgbm"``
        (``Booster.predict(pred_contrib=True)``): which engine :meth:`contributions` uses (a model without
        compiled trees builds its compiled explainer on first use, as :attr:`batch_path` its forest)."""
        return "compiled" if self._explain_engine() is not None else "lightgbm"

    def prepare_explanations(self) -> str:
        """Build the engine of :meth:`contributions` now (otherwise the first explanation does); returns
        :attr:`explain_path`.

        A model without compiled trees builds its compiled explainer, with the FastTreeSHAP tables, on first use:
        measured 0.05 s for the 81-tree bench bundle and 0.4 s (and about 87 MB of tables, capped by
        ``FRAUDSCORE_SHAP_TABLES_MB``) for the 500-tree one. :class:`~fraudscore.scorer.Scorer` calls this when
        it is built with explanations on, so no decision waits for it.

        Examples
        --------
        >>> import lightgbm as lgb
        >>> from fraudscore.model import Model
        >>> X = np.arange(60.0).reshape(30, 2); y = np.arange(30) % 2
        >>> b = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 2}, lgb.Dataset(X, y, feature_name=["x1", "x2"]), 3)
        >>> Model(b, ["x1", "x2"]).prepare_explanations() in ("compiled", "lightgbm")
        True
        """
        return self.explain_path

    def _explain_engine(self) -> Any:
        if self._compiled is not None:
            return self._explainer
        if self._shap_path == "pending":
            with _SINGLE_ROW_LOCK:
                if self._shap_path == "pending":
                    self._shap = self._auto_forest(explain=True)
                    self._shap_path = "compiled" if self._shap is not None else "lightgbm"
        return self._shap

    @property
    def contribution_margin(self) -> float:
        """How far (relative to a row's scale, 1 + the sum of absolute contributions) :meth:`contributions` may
        be from ``pred_contrib``: :data:`REASON_MARGIN` when FastTreeSHAP tables explain some trees, 0 when
        every contribution equals LightGBM's bit for bit. The explanation code re-explains, with
        ``exact=True``, the rows whose reasons could change within it."""
        engine = self._explain_engine()
        return REASON_MARGIN if engine is not None and engine.fast_shap[0] else 0.0

    @property
    def unsplit_features(self) -> np.ndarray | None:
        """Boolean per feature: no tree of the model splits on it, so its contribution is exactly 0.0 for every
        row, in LightGBM's ``pred_contrib`` and in both compiled algorithms (only the features on a leaf's path
        are ever written). Known where the compiled explainer runs (None otherwise); lets the explanation code
        trust those zeros instead of re-explaining rows whose reasons stop at them."""
        engine = self._explain_engine()
        if engine is None:
            return None
        if self._unsplit is None:
            used = np.zeros(self.num_features, dtype=bool)
            used[np.unique(engine.tables.nodes["feature"])] = True
            self._unsplit = ~used
        return self._unsplit
