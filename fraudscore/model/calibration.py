"""Probability calibration stored as plain arrays, applied with numpy.

At training time :func:`fit_isotonic` fits scikit-learn's ``IsotonicRegression``
on the validation predictions and keeps only its breakpoints
(``X_thresholds_``, ``y_thresholds_``). At inference :class:`Calibrator` maps a
raw LightGBM probability to a calibrated one by piecewise-linear interpolation
between those breakpoints (clipped at both ends), which is what
``IsotonicRegression.predict(..., out_of_bounds="clip")`` does. Inference needs
numpy only, and the breakpoints travel as JSON (no pickle).

The scalar path (:meth:`Calibrator.apply_one`, pure Python) and the vector path
(:meth:`Calibrator.apply`, numpy) evaluate the same formula
``fp[j] + slope[j] * (x - xp[j])`` with the same rounding steps, so they agree
bit for bit; a test holds them to it.

Examples
--------
>>> cal = Calibrator([0.0, 0.5, 1.0], [0.0, 0.25, 1.0])
>>> cal.apply_one(0.25), cal.apply_one(-0.1), cal.apply_one(0.75)
(0.125, 0.0, 0.625)
>>> cal.apply(np.array([0.25, 0.75])).tolist()
[0.125, 0.625]
>>> Calibrator.identity().apply_one(0.42)
0.42
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._compat import optional_import, require_sklearn
from ..errors import ConfigError

__all__ = ["Calibrator", "fit_isotonic"]


class Calibrator:
    """Monotone piecewise-linear map from raw to calibrated probability.

    Parameters
    ----------
    xp : sequence of float
        Strictly increasing breakpoints (raw probabilities). An empty sequence
        means the identity map.
    fp : sequence of float
        Non-decreasing calibrated probabilities at the breakpoints, in [0, 1].

    Examples
    --------
    >>> Calibrator([0.2, 0.8], [0.1, 0.3]).to_dict()
    {'kind': 'piecewise_linear', 'x': [0.2, 0.8], 'y': [0.1, 0.3]}
    """

    def __init__(self, xp: Sequence[float], fp: Sequence[float]) -> None:
        x = np.asarray(xp, dtype=np.float64).ravel()
        y = np.asarray(fp, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ConfigError(
                f"The 'fp' parameter of Calibrator must have as many values as 'xp' ({x.size}). Got {y.size} instead."
            )
        if x.size and (not np.all(np.isfinite(x)) or not np.all(np.isfinite(y))):
            raise ConfigError("The 'xp' and 'fp' parameters of Calibrator must be finite. Got NaN or inf instead.")
        if x.size > 1 and not np.all(np.diff(x) > 0):
            raise ConfigError("The 'xp' parameter of Calibrator must be strictly increasing. Got unsorted values instead.")
        if x.size > 1 and not np.all(np.diff(y) >= 0):
            raise ConfigError("The 'fp' parameter of Calibrator must be non-decreasing. Got a decreasing step instead.")
        if y.size and (y.min() < 0.0 or y.max() > 1.0):
            raise ConfigError("The 'fp' parameter of Calibrator must lie in [0, 1]. Got values outside instead.")
        self.xp = x
        self.fp = y
        # slope[j] between xp[j] and xp[j+1]; slope[-1] = 0 for the right end
        self.slope = np.zeros_like(x)
        if x.size > 1:
            self.slope[:-1] = np.diff(y) / np.diff(x)
        self._xp_list = x.tolist()
        self._fp_list = y.tolist()
        self._slope_list = self.slope.tolist()

    @classmethod
    def identity(cls) -> Calibrator:
        """The calibrator that returns its input unchanged.

        Examples
        --------
        >>> Calibrator.identity().is_identity
        True
        """
        return cls([], [])

    @property
    def is_identity(self) -> bool:
        """Whether this calibrator leaves probabilities unchanged."""
        return self.xp.size == 0

    def apply(self, p: np.ndarray) -> np.ndarray:
        """Calibrate an array of raw probabilities (vectorised).

        Examples
        --------
        >>> Calibrator([0.0, 1.0], [0.0, 0.5]).apply(np.array([0.5, 2.0])).tolist()
        [0.25, 0.5]
        """
        p = np.asarray(p, dtype=np.float64)
        if self.xp.size == 0:
            return p.copy()
        j = np.searchsorted(self.xp, p, side="right") - 1
        np.clip(j, 0, self.xp.size - 1, out=j)
        x0 = self.xp[j]
        out = self.fp[j] + self.slope[j] * (p - x0)
        out = np.where(p < self.xp[0], self.fp[0], out)
        out = np.where(p >= self.xp[-1], self.fp[-1], out)
        return out

    def apply_one(self, p: float) -> float:
        """Calibrate one raw probability in pure Python (same result as :meth:`apply`).

        Examples
        --------
        >>> Calibrator([0.0, 1.0], [0.0, 0.5]).apply_one(0.5)
        0.25
        """
        xp = self._xp_list
        if not xp:
            return float(p)
        if p < xp[0]:
            return self._fp_list[0]
        if p >= xp[-1]:
            return self._fp_list[-1]
        if math.isnan(p):  # pragma: no cover - LightGBM never returns NaN
            return p
        j = bisect.bisect_right(xp, p) - 1
        return self._fp_list[j] + self._slope_list[j] * (p - xp[j])

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-ready)."""
        return {"kind": "piecewise_linear", "x": self._xp_list, "y": self._fp_list}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """Inverse of :meth:`to_dict`.

        Examples
        --------
        >>> c = Calibrator([0.2, 0.8], [0.1, 0.3])
        >>> Calibrator.from_dict(c.to_dict()).apply_one(0.5) == c.apply_one(0.5)
        True
        """
        if not isinstance(data, dict) or data.get("kind") != "piecewise_linear":
            raise ConfigError(
                f"The 'kind' of a calibration must be 'piecewise_linear'. Got {data.get('kind') if isinstance(data, dict) else data!r} instead."
            )
        return cls(data.get("x", []), data.get("y", []))

    def __repr__(self) -> str:
        return f"Calibrator({self.xp.size} breakpoints)"


def fit_isotonic(raw: np.ndarray, y: np.ndarray) -> Calibrator:
    """Fit an isotonic calibration of ``raw`` probabilities against 0/1 labels ``y``.

    Needs scikit-learn (extra ``train``). Returns the identity when ``y`` holds
    a single class (nothing to calibrate against).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> raw = rng.random(2000)
    >>> y = (rng.random(2000) < raw ** 2).astype(int)
    >>> cal = fit_isotonic(raw, y)
    >>> bool(np.all(np.diff(cal.apply(np.linspace(0, 1, 50))) >= 0))
    True
    """
    raw = np.asarray(raw, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if np.unique(y).size < 2:
        return Calibrator.identity()
    require_sklearn()
    isotonic = optional_import("sklearn.isotonic", extra="train")
    reg = isotonic.IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    reg.fit(raw, y)
    xs = np.asarray(reg.X_thresholds_, dtype=np.float64)
    ys = np.clip(np.asarray(reg.y_thresholds_, dtype=np.float64), 0.0, 1.0)
    # keep strictly increasing x (sklearn may keep equal x for a vertical step)
    keep = np.concatenate([np.diff(xs) > 0, [True]])
    xs, ys = xs[keep], ys[keep]
    ys = np.maximum.accumulate(ys)
    return Calibrator(xs, ys)
