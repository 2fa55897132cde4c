"""Fast single-row prediction through LightGBM's C API.

``Booster.predict`` on one row spends most of its time in Python-side checks
and array conversions. LightGBM's C library has a dedicated single-row path:
``LGBM_BoosterPredictForMatSingleRowFastInit`` builds a *FastConfig* once
(prediction type, iteration range, column count, dtype), and
``LGBM_BoosterPredictForMatSingleRowFast`` then predicts one dense row with no
further setup. :class:`FastPredictor` reaches both through :mod:`ctypes` from
the shared library the installed ``lightgbm`` package already loaded.

Thread safety
-------------
Each thread gets its own FastConfig handle and its own input/output buffers
(``threading.local``), so concurrent calls never share a buffer. LightGBM
guards the single-row predictor it caches inside the booster with a mutex, so
calls on one booster from many threads are safe (and serialised in C). All
handles are freed together when the predictor is garbage-collected, before the
booster they point to.

Fallback
--------
When the symbols are missing (an old or unusual LightGBM build), the init call
fails, or ``enabled=False`` (or the environment variable
``FRAUDSCORE_NO_FAST_PREDICT=1``), :meth:`FastPredictor.predict_one` falls back
to ``Booster.predict(x[None, :])[0]``. :attr:`FastPredictor.mode` tells which
path is in use. Both paths compute each tree on the same ``float64`` values, so
they return identical results, NaN inputs included (tested).

Examples
--------
>>> import lightgbm as lgb
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(500, 4)); y = (X[:, 0] > 0).astype(int)
>>> booster = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1}, lgb.Dataset(X, y), 10)
>>> fp = FastPredictor(booster)
>>> fp.mode
'fast'
>>> fp.predict_one(X[0]) == float(booster.predict(X[:1])[0])
True
>>> fp.predict_one([float("nan")] * 4) == float(booster.predict(np.full((1, 4), np.nan))[0])
True
"""

from __future__ import annotations

import ctypes
import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["FastPredictor", "fast_path_available"]

_PREDICT_TYPES = {"normal": 0, "raw": 1}
_DTYPE_FLOAT64 = 1
_DISABLE_ENV = "FRAUDSCORE_NO_FAST_PREDICT"


def _load_lib() -> Any | None:
    """The ctypes handle of LightGBM's shared library, with the fast symbols typed; None if unusable."""
    try:
        from lightgbm.basic import _LIB  # the library lightgbm itself loaded
    except Exception:  # pragma: no cover - lightgbm internals moved
        return None
    try:
        init = _LIB.LGBM_BoosterPredictForMatSingleRowFastInit
        fast = _LIB.LGBM_BoosterPredictForMatSingleRowFast
        free = _LIB.LGBM_FastConfigFree
    except AttributeError:  # pragma: no cover - LightGBM < 3.1
        return None
    init.argtypes = [
        ctypes.c_void_p,  # booster handle
        ctypes.c_int,  # predict type
        ctypes.c_int,  # start iteration
        ctypes.c_int,  # num iteration
        ctypes.c_int,  # data type
        ctypes.c_int32,  # ncol
        ctypes.c_char_p,  # parameters
        ctypes.POINTER(ctypes.c_void_p),  # out FastConfigHandle
    ]
    init.restype = ctypes.c_int
    fast.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_double)]
    fast.restype = ctypes.c_int
    free.argtypes = [ctypes.c_void_p]
    free.restype = ctypes.c_int
    _LIB.LGBM_GetLastError.restype = ctypes.c_char_p
    return _LIB


def fast_path_available() -> bool:
    """Whether the installed LightGBM exposes the single-row fast C API.

    Examples
    --------
    >>> isinstance(fast_path_available(), bool)
    True
    """
    return _load_lib() is not None


def _free_handles(lib: Any, handles: list[ctypes.c_void_p], lock: threading.Lock, booster: Any) -> None:
    # ``booster`` is referenced here only to keep it alive until its FastConfigs are freed.
    with lock:
        while handles:
            h = handles.pop()
            if h.value:
                lib.LGBM_FastConfigFree(h)


class _ThreadState:
    __slots__ = ("handle", "buf", "in_ptr", "out", "out_ref", "out_len", "len_ref")

    def __init__(self, handle: ctypes.c_void_p, k: int) -> None:
        self.handle = handle
        self.buf = np.empty(k, dtype=np.float64)
        self.in_ptr = ctypes.c_void_p(self.buf.ctypes.data)
        self.out = ctypes.c_double(0.0)
        self.out_ref = ctypes.byref(self.out)
        self.out_len = ctypes.c_int64(0)
        self.len_ref = ctypes.byref(self.out_len)


class FastPredictor:
    """Single-row predictions for a binary LightGBM booster, via the C fast path.

    Parameters
    ----------
    booster : lightgbm.Booster
        A trained binary booster. It must not be changed while the predictor
        lives (the predictor keeps a reference).
    kind : {"normal", "raw"}
        ``"normal"``: probability (what ``Booster.predict`` returns);
        ``"raw"``: the raw margin (``raw_score=True``).
    enabled : bool
        ``False`` forces the ``Booster.predict`` fallback.

    Attributes
    ----------
    mode : {"fast", "fallback"}
        The path in use.
    num_features : int
        Values expected per row.

    Examples
    --------
    >>> import lightgbm as lgb
    >>> X = np.arange(40.0).reshape(20, 2); y = np.arange(20) % 2
    >>> b = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 2}, lgb.Dataset(X, y), 3)
    >>> FastPredictor(b, enabled=False).mode
    'fallback'
    >>> FastPredictor(b).predict_one([1.0, 2.0]) == FastPredictor(b, enabled=False).predict_one([1.0, 2.0])
    True
    """

    def __init__(self, booster: Any, *, kind: str = "normal", enabled: bool = True) -> None:
        if kind not in _PREDICT_TYPES:
            raise ConfigError(f"The 'kind' parameter of FastPredictor must be 'normal' or 'raw'. Got {kind!r} instead.")
        self.booster = booster
        self.kind = kind
        self.num_features = int(booster.num_feature())
        self._predict_type = _PREDICT_TYPES[kind]
        self._local = threading.local()
        self._handles: list[ctypes.c_void_p] = []
        self._lock = threading.Lock()
        self._lib = None if (not enabled or os.environ.get(_DISABLE_ENV) == "1") else _load_lib()
        self.mode = "fallback"
        if self._lib is not None:
            self._fast = self._lib.LGBM_BoosterPredictForMatSingleRowFast
            weakref.finalize(self, _free_handles, self._lib, self._handles, self._lock, booster)
            try:
                self._state()
                self.mode = "fast"
            except RuntimeError:
                self._lib = None

    def _state(self) -> _ThreadState:
        """This thread's FastConfig and buffers (created on first use)."""
        st = getattr(self._local, "st", None)
        if st is not None:
            return st
        lib = self._lib
        assert lib is not None
        handle = ctypes.c_void_p()
        ret = lib.LGBM_BoosterPredictForMatSingleRowFastInit(
            self.booster._handle,
            self._predict_type,
            0,
            -1,
            _DTYPE_FLOAT64,
            self.num_features,
            b"",
            ctypes.byref(handle),
        )
        if ret != 0:
            raise RuntimeError(lib.LGBM_GetLastError().decode("utf-8", "replace"))
        with self._lock:
            self._handles.append(handle)
        st = _ThreadState(handle, self.num_features)
        self._local.st = st
        return st

    def predict_one(self, x: np.ndarray | Sequence[float]) -> float:
        """Predict one row of ``num_features`` values (NaN = missing).

        Raises
        ------
        ConfigError
            When the row does not hold exactly ``num_features`` values.
        """
        if len(x) != self.num_features:
            raise ConfigError(
                f"The 'x' parameter of predict_one must hold {self.num_features} feature values. Got {len(x)} instead."
            )
        if self._lib is None:
            return self._fallback(x)
        st = getattr(self._local, "st", None) or self._state()
        st.buf[:] = x
        if self._fast(st.handle, st.in_ptr, st.len_ref, st.out_ref) != 0:  # pragma: no cover - defensive
            raise RuntimeError(self._lib.LGBM_GetLastError().decode("utf-8", "replace"))
        return st.out.value

    def _fallback(self, x: np.ndarray | Sequence[float]) -> float:
        row = np.asarray(x, dtype=np.float64).reshape(1, -1)
        return float(self.booster.predict(row, raw_score=self.kind == "raw")[0])

    def predict_one_fallback(self, x: np.ndarray | Sequence[float]) -> float:
        """The ``Booster.predict`` path, whatever :attr:`mode` is (for tests and benchmarks).

        Examples
        --------
        >>> import lightgbm as lgb
        >>> X = np.arange(40.0).reshape(20, 2); y = np.arange(20) % 2
        >>> b = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 2}, lgb.Dataset(X, y), 3)
        >>> fp = FastPredictor(b)
        >>> fp.predict_one_fallback([3.0, 4.0]) == fp.predict_one([3.0, 4.0])
        True
        """
        return self._fallback(x)

    def __repr__(self) -> str:
        return f"FastPredictor(mode={self.mode!r}, kind={self.kind!r}, num_features={self.num_features})"
