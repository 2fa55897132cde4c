"""Compiled trees: a LightGBM forest evaluated by a small C extension, bit-identical to LightGBM.

:class:`CompiledForest` packs the trees of a binary LightGBM model (read from its
text format) into flat node tables and evaluates them in C: one call through
the CPython C API per row (no ctypes), or a whole matrix with the GIL released
and one thread per core. The C source (``_forest.c``, shipped with the
package) mirrors LightGBM's own prediction code: the same decision rules for
numerical splits (missing types *None*, *Zero* and *NaN*, default directions),
categorical bitsets, the zeroing of values within ``1e-35`` of zero, the
tree-by-tree summation order and the sigmoid, so its probabilities and raw
margins equal ``Booster.predict`` bit for bit (tested with hypothesis, and
re-checked on every load on probe rows built from the model's thresholds).

Native code is never read from a bundle: :mod:`.forest_build` compiles the
extension on first use into a per-user cache and loads it from there; one build
serves every model. The node tables (:mod:`.forest_tables`) are data, rebuilt from
``model.txt`` on load; a bundle records their sha256 (see ``docs/model.md``).

The same extension explains: :meth:`CompiledForest.contributions` is an exact
TreeSHAP over the node tables and the node covers of ``model.txt``
(``_forest_shap.h``): the classic algorithm as LightGBM writes it (equal to
``pred_contrib`` bit for bit) and FastTreeSHAP v2 tables built at load within
a memory budget (:data:`SHAP_TABLES_MB`; equal to rounding, several times faster).

Examples
--------
>>> import lightgbm as lgb
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(500, 4)); X[rng.random(X.shape) < 0.1] = np.nan
>>> y = (np.nan_to_num(X[:, 0]) > 0).astype(int)
>>> booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, y), 20)
>>> forest = CompiledForest.from_booster(booster)      # doctest: +SKIP
>>> forest.predict_one(X[0]) == float(booster.predict(X[:1])[0])   # doctest: +SKIP
True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .forest_build import (
    DISABLE_ENV,
    CompileError,
    _load_module,
    build_extension,
    cache_dir,
    compiled_available,
)
from .forest_tables import (
    ENGINE,
    NODE_DTYPE,
    TABLES_VERSION,
    ForestTables,
    forest_tables,
    probe_rows,
)

__all__ = ["CompiledForest", "ForestTables", "CompileError", "forest_tables", "build_extension", "cache_dir",
           "compiled_available", "probe_rows", "ENGINE", "TABLES_VERSION", "DISABLE_ENV", "NODE_DTYPE",
           "SHAP_TABLES_MB", "SHAP_TABLES_ENV", "SHAP_TOLERANCE"]

SHAP_TABLES_MB = 256.0
"""Default memory (MiB) for FastTreeSHAP v2 tables per model; trees beyond it use the classic algorithm."""
SHAP_TABLES_ENV = "FRAUDSCORE_SHAP_TABLES_MB"
"""Environment variable overriding :data:`SHAP_TABLES_MB` (``0``: classic TreeSHAP, bit-identical to LightGBM)."""
SHAP_TOLERANCE = 1e-12
"""Largest difference from LightGBM's contributions the load-time check accepts, relative to the row's scale."""


# -- the predictor ----------------------------------------------------------------------------------------
def _env_mb() -> float:
    raw = os.environ.get(SHAP_TABLES_ENV)
    if raw is None or raw == "":
        return SHAP_TABLES_MB
    try:
        mb = float(raw)
    except ValueError:
        raise ConfigError(f"The {SHAP_TABLES_ENV} environment variable must be a number of megabytes. "
                          f"Got {raw!r} instead.") from None
    if not mb >= 0:
        raise ConfigError(f"The {SHAP_TABLES_ENV} environment variable must be >= 0. Got {raw!r} instead.")
    return mb


def _rebuild(tables: ForestTables, shap_tables_mb: float | None) -> CompiledForest:
    return CompiledForest(tables, shap_tables_mb=shap_tables_mb)


class CompiledForest:
    """Exact predictions of a binary LightGBM model by the compiled engine.

    Parameters
    ----------
    tables : ForestTables
        The model's node tables (:func:`forest_tables`).
    cache : path, optional
        Cache directory for the built extension (default :func:`cache_dir`).

    Attributes
    ----------
    mode : str
        ``"compiled"``.
    num_features : int
        Values per row.

    Raises
    ------
    CompileError
        When the extension cannot be built or loaded.
    """

    mode = "compiled"

    def __init__(self, tables: ForestTables, *, cache: str | Path | None = None,
                 shap_tables_mb: float | None = None) -> None:
        mod = _load_module(build_extension(cache=cache))
        self.tables = tables
        self.num_features = tables.num_features
        self._forest = mod.Forest(tables.nodes.tobytes(), tables.leaves, tables.roots, tables.cat_bits,
                                  tables.num_features, tables.sigmoid)
        self.predict_one = self._forest.predict_one
        self.predict_raw_one = self._forest.predict_raw_one
        self.threads = max(1, os.cpu_count() or 1)
        if tables.has_covers:
            mb = shap_tables_mb if shap_tables_mb is not None else _env_mb()
            self._forest.set_shap(tables.node_count, tables.leaf_count, tables.leaf_start,
                                  int(mb * 2**20) // 8)
        self._shap_tables_mb = shap_tables_mb

    @property
    def explains(self) -> bool:
        """Whether :meth:`contributions` is available (the model text held the node covers)."""
        return bool(self._forest.has_shap)

    @property
    def fast_shap(self) -> tuple[int, int]:
        """``(trees explained with FastTreeSHAP v2 tables, bytes of those tables)``; ``(0, 0)``: classic only."""
        n, size = self._forest.fast_shap
        return int(n), int(size)

    def contributions(self, X: Any, *, threads: int | None = None, classic: bool = False) -> np.ndarray:
        """Exact TreeSHAP contributions, equal to ``Booster.predict(X, pred_contrib=True)``.

        Shape ``(n, k + 1)``: one column per feature, then the bias, in raw-margin
        (log-odds) units. The GIL is released; rows are split over ``threads``
        threads (default: one per core).

        Trees with FastTreeSHAP v2 tables (:attr:`fast_shap`; built at load within
        ``shap_tables_mb``) are explained from them: the same values to rounding
        (within ``1e-12`` of LightGBM's on the tested models). ``classic=True``, or
        ``shap_tables_mb=0``, uses the classic algorithm for every tree, which
        equals LightGBM's bit for bit.

        Raises
        ------
        ConfigError
            When ``X`` does not have :attr:`num_features` columns, or the model text
            lacked the node covers (:attr:`explains` is False).
        """
        if not self.explains:
            raise ConfigError("compiled TreeSHAP needs the node covers (internal_count, leaf_count) in model.txt")
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != self.num_features:
            raise ConfigError(f"The 'X' parameter must be a matrix with {self.num_features} columns. "
                              f"Got shape {X.shape} instead.")
        out = np.empty((X.shape[0], self.num_features + 1), dtype=np.float64)
        if X.shape[0]:
            self._forest.contrib(X, out, int(threads or self.threads), bool(classic))
        return out

    def verify_contributions(self, booster: Any, X: np.ndarray | None = None, n: int = 16) -> int:
        """Count rows of ``X`` (default: ``n`` :func:`probe_rows`) where :meth:`contributions` differs from
        ``booster.predict(X, pred_contrib=True)``: the classic algorithm in any bit, the tables by more than
        :data:`SHAP_TOLERANCE` times the row's scale (1 + the sum of absolute contributions). 0: all agree."""
        X = probe_rows(self.tables, n=n, seed=1) if X is None else np.asarray(X, dtype=np.float64)
        ref = np.asarray(booster.predict(X, pred_contrib=True, num_threads=1), dtype=np.float64)
        bad = np.any(ref.view(np.int64) != self.contributions(X, threads=1, classic=True).view(np.int64), axis=1)
        if self.fast_shap[0]:
            got = self.contributions(X, threads=1)
            scale = 1.0 + np.sum(np.abs(ref), axis=1)
            bad |= ~np.all(np.abs(got - ref) <= SHAP_TOLERANCE * scale[:, None], axis=1)
        return int(bad.sum())

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt from the tables (copies, pickles, worker processes)
        return (_rebuild, (self.tables, self._shap_tables_mb))

    @classmethod
    def from_booster(cls, booster: Any, **kwargs: Any) -> CompiledForest:
        """Build from a ``lightgbm.Booster`` (through its text form)."""
        return cls(forest_tables(booster.model_to_string()), **kwargs)

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return int(self._forest.n_trees)

    def predict(self, X: Any, *, raw: bool = False, threads: int | None = None, tables: bool = False,
                by_row: bool = False) -> np.ndarray:
        """Probabilities (or raw margins) for every row of the matrix ``X`` (GIL released, ``threads`` threads).

        Rows go through the single-row layout, eight rows of a block of 64 stepped together through each tree
        without a branch per row (``_forest_lanes.h``; with ``by_row=True``, or a share of fewer than 16 rows,
        row after row with eight trees of a row walked together), else, with ``tables=True`` or a model the
        layout cannot hold, tree by tree over the node tables in blocks of rows: the same doubles, bit for bit
        (the layout is about three times faster than the tables on the 500-tree bench bundle, and eight rows at
        a time faster again: docs/compiled.md, round 15)."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.num_features:
            raise ConfigError(f"The 'X' parameter must be a matrix with {self.num_features} columns. "
                              f"Got shape {X.shape} instead.")
        out = np.empty(X.shape[0], dtype=np.float64)
        if X.shape[0]:
            self._forest.predict(X, out, raw, int(threads or self.threads), bool(tables), bool(by_row))
        return out

    def predict_buffer(self, X: Any, out: Any) -> None:
        """Probabilities of the rows of ``X`` into ``out``, on this thread, without checks or allocation.

        ``X``: a C-contiguous float64 buffer of ``len(out)`` rows of ``num_features`` values; ``out``: a
        writable float64 buffer. The small-batch path (the device linker's few candidates per event),
        where :meth:`predict`'s array conversions would cost more than the trees.
        """
        self._forest.predict(X, out, False, 1)

    def predict_best_buffer(self, X: Any, out: Any) -> int:
        """:meth:`predict_buffer` for a caller that needs only the best row: ``out`` gets the probability, bit
        for bit, of every row that may be the best (the highest probability, all rows tied with it included)
        and ``-1.0`` for rows whose probability is provably lower (``_forest_best.h``: leaf bounds per tree,
        read once). Returns the number of trees walked (at most ``len(out) * n_trees``)."""
        return int(self._forest.predict_best(X, out))

    def verify(self, booster: Any, X: np.ndarray | None = None) -> int:
        """Count rows of ``X`` (default :func:`probe_rows`) where this forest differs from ``booster.predict``
        in probability or raw margin, bit for bit (0 means identical)."""
        X = probe_rows(self.tables) if X is None else np.asarray(X, dtype=np.float64)
        bad = np.zeros(X.shape[0], dtype=bool)
        for raw in (False, True):
            ref = np.asarray(booster.predict(X, raw_score=raw, num_threads=1), dtype=np.float64)
            got = self.predict(X, raw=raw)
            bad |= ref.view(np.int64) != got.view(np.int64)
        return int(bad.sum())

    def __repr__(self) -> str:
        return f"CompiledForest({self.n_trees} trees, {self.num_features} features)"
