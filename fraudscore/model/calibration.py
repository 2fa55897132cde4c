"""Probability calibration stored as plain arrays, applied with numpy.

Every calibration is a monotone piecewise-linear map from the raw LightGBM
probability to a calibrated one (:class:`Calibrator`): breakpoints that travel
as JSON (no pickle) and are applied with plain arithmetic, so inference needs
numpy only. Three methods are fitted on held-out predictions:

* ``"none"`` -- the identity;
* ``"platt"`` (:func:`fit_platt`) -- a logistic regression on the raw margin,
  ``p = sigmoid(a * margin + b)``, tabulated on a dense grid of margins and
  joined linearly to (0, 0) and (1, 1), so it is *strictly* increasing;
* ``"isotonic"`` (:func:`fit_isotonic_strict`) -- centred isotonic regression
  (one breakpoint per pool-adjacent-violators block, at its mean raw score),
  blended with 2 % of the Platt map: a step function would give every row of a
  block the same score and throw the model's ranking away inside it (it left
  4-24 distinct scores on a test period and cost average precision in #17);
  the blend keeps the calibrated score a strictly increasing function of the
  raw margin, so ranking metrics equal the raw model's.

:func:`choose_calibration` picks among them by cross-fitted log loss over
consecutive time blocks of the held-out rows (each block scored by a map fitted
on the others), preferring the simpler method on a near tie.
:func:`fit_isotonic` (plain isotonic, clipped, as scikit-learn predicts it) is
kept for callers that want it; bundles written before the choice existed
(calibration files without ``method``) still load and apply unchanged.

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

__all__ = ["Calibrator", "fit_isotonic", "fit_platt", "fit_isotonic_strict", "choose_calibration",
           "CALIBRATION_METHODS", "TIE_BREAK_SHARE"]

CALIBRATION_METHODS = ("none", "platt", "isotonic")
#: share of the Platt map blended into isotonic calibration (strict monotonicity)
TIE_BREAK_SHARE = 0.02
_MARGIN_LIMIT = 35.0  # |logit| kept below this: sigmoid stays strictly inside (0, 1) in float64
_PLATT_KNOTS = 257


class Calibrator:
    """Monotone piecewise-linear map from raw to calibrated probability.

    Parameters
    ----------
    xp : sequence of float
        Strictly increasing breakpoints (raw probabilities). An empty sequence
        means the identity map.
    fp : sequence of float
        Non-decreasing calibrated probabilities at the breakpoints, in [0, 1].
    method : str, optional
        How it was fitted (``"none"``, ``"platt"``, ``"isotonic"``...); recorded in
        the calibration file. Without it (files written before the choice existed)
        :attr:`method` reads ``"none"`` for the identity, else ``"isotonic"``, and
        the file form is unchanged.
    selection : dict, optional
        How the method was chosen (cross-fitted losses per candidate), recorded too.

    Examples
    --------
    >>> Calibrator([0.2, 0.8], [0.1, 0.3]).to_dict()
    {'kind': 'piecewise_linear', 'x': [0.2, 0.8], 'y': [0.1, 0.3]}
    >>> Calibrator([0.0, 1.0], [0.0, 1.0], method="platt").to_dict()["method"]
    'platt'
    """

    def __init__(self, xp: Sequence[float], fp: Sequence[float], method: str | None = None,
                 selection: dict[str, Any] | None = None) -> None:
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
        self.method = method if method is not None else ("isotonic" if x.size else "none")
        self._explicit_method = method is not None
        self.selection = dict(selection) if selection else {}
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

    @property
    def is_strict(self) -> bool:
        """Whether the map is strictly increasing on [0, 1] (no two raw scores share a calibrated one).

        Examples
        --------
        >>> Calibrator([0.0, 1.0], [0.0, 1.0]).is_strict, Calibrator([0.2, 0.8], [0.1, 0.3]).is_strict
        (True, False)
        """
        if self.xp.size == 0:
            return True
        return bool(self.xp[0] <= 0.0 and self.xp[-1] >= 1.0 and np.all(np.diff(self.fp) > 0))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-ready): ``kind``, ``method``, breakpoints and the selection record."""
        d: dict[str, Any] = {"kind": "piecewise_linear"}
        if self._explicit_method:
            d["method"] = self.method
        d.update(x=self._xp_list, y=self._fp_list)
        if self.selection:
            d["selection"] = self.selection
        return d

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
        method = data.get("method")
        if method is not None and not isinstance(method, str):
            raise ConfigError(f"The 'method' of a calibration must be a string. Got {method!r} instead.")
        return cls(data.get("x", []), data.get("y", []), method=method,
                   selection=data.get("selection") if isinstance(data.get("selection"), dict) else None)

    def __repr__(self) -> str:
        return f"Calibrator({self.method!r}, {self.xp.size} breakpoints)"


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


def _margin(raw: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(raw, dtype=np.float64), 1e-15, 1.0 - 1e-15)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def fit_platt(raw: np.ndarray, y: np.ndarray, *, max_iter: int = 100) -> tuple[float, float] | None:
    """Platt scaling: ``(a, b)`` with ``P(fraud) = sigmoid(a * margin + b)``, ``margin = logit(raw)``.

    Fitted by Newton's method on Platt's smoothed targets (``(n+ + 1) / (n+ + 2)``
    for frauds, ``1 / (n- + 2)`` for the rest), which keeps it finite on separable
    or tiny data. Returns ``None`` when the fitted slope is not positive (the raw
    score does not rank frauds higher on these rows).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> m = rng.normal(size=4000)
    >>> y = (rng.random(4000) < 1 / (1 + np.exp(-(2 * m - 1)))).astype(int)
    >>> a, b = fit_platt(1 / (1 + np.exp(-m)), y)
    >>> round(a, 1), round(b, 1)
    (2.0, -1.0)
    """
    m = _margin(raw)
    y = np.asarray(y, dtype=np.float64)
    n_pos = float(y.sum())
    n_neg = float(y.size - n_pos)
    if y.size == 0:
        return None
    t = np.where(y > 0.5, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    a, b = 1.0, float(np.log((n_pos + 1.0) / (n_neg + 1.0)))

    def loss(a_: float, b_: float) -> float:
        z = a_ * m + b_
        return float(np.sum(np.logaddexp(0.0, z) - t * z))

    cur = loss(a, b)
    for _ in range(max_iter):
        p = _sigmoid(a * m + b)
        w = np.maximum(p * (1.0 - p), 1e-12)
        g = np.array([np.sum((p - t) * m), np.sum(p - t)])
        h = np.array([[np.sum(w * m * m) + 1e-9, np.sum(w * m)], [np.sum(w * m), np.sum(w) + 1e-9]])
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            break
        k = 1.0
        while k > 1e-8:
            na, nb = a - k * step[0], b - k * step[1]
            new = loss(na, nb)
            if new <= cur:
                break
            k /= 2.0
        else:
            break
        converged = abs(cur - new) < 1e-10 * max(1.0, abs(cur))
        a, b, cur = float(na), float(nb), new
        if converged:
            break
    if not (np.isfinite(a) and np.isfinite(b)) or a <= 1e-6:
        return None
    return a, b


def _platt_knots(a: float, b: float, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Breakpoints of the tabulated Platt map: (0, 0), a dense margin grid, (1, 1); strictly increasing."""
    m = _margin(raw)
    lo = max(float(m.min()) - 5.0 if m.size else -10.0, (-_MARGIN_LIMIT - b) / a, -_MARGIN_LIMIT)
    hi = min(float(m.max()) + 5.0 if m.size else 10.0, (_MARGIN_LIMIT - b) / a, _MARGIN_LIMIT)
    if not hi > lo:
        lo, hi = min(lo, hi) - 1.0, max(lo, hi) + 1.0
    grid = np.linspace(lo, hi, _PLATT_KNOTS)
    x = _sigmoid(grid)
    y = _sigmoid(a * grid + b)
    keep = np.concatenate([[True], (np.diff(x) > 0) & (np.diff(y) > 0)])
    x, y = x[keep], y[keep]
    return np.concatenate([[0.0], x, [1.0]]), np.concatenate([[0.0], y, [1.0]])


def _platt_calibrator(raw: np.ndarray, y: np.ndarray) -> Calibrator | None:
    ab = fit_platt(raw, y)
    if ab is None:
        return None
    x, f = _platt_knots(ab[0], ab[1], raw)
    return Calibrator(x, f, method="platt")


def fit_isotonic_strict(raw: np.ndarray, y: np.ndarray, *, tie_break: float = TIE_BREAK_SHARE) -> Calibrator:
    """Isotonic calibration that keeps the raw ranking: centred isotonic regression blended with Platt.

    Pool-adjacent-violators (scikit-learn's ``IsotonicRegression``) groups the
    held-out rows into blocks of equal fitted rate; each block gives one
    breakpoint at its mean raw score (centred isotonic regression), so the map
    rises strictly between blocks; it is then blended with ``tie_break`` of the
    Platt map (the identity when Platt fails), which rises strictly everywhere.
    The result is a strictly increasing map of [0, 1] onto [0, 1].

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> raw = rng.random(3000)
    >>> y = (rng.random(3000) < raw ** 2).astype(int)
    >>> cal = fit_isotonic_strict(raw, y)
    >>> cal.method, cal.is_strict, len(np.unique(cal.apply(raw))) == len(np.unique(raw))
    ('isotonic', True, True)
    """
    raw = np.asarray(raw, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    platt = _platt_calibrator(raw, y)
    strict = platt if platt is not None else Calibrator([0.0, 1.0], [0.0, 1.0], method="none")
    if raw.size == 0 or np.unique(y).size < 2:
        return Calibrator(strict.xp, strict.fp, method="isotonic")
    require_sklearn()
    isotonic = optional_import("sklearn.isotonic", extra="train")
    order = np.argsort(raw, kind="stable")
    xs, ys = raw[order], y[order]
    fitted = isotonic.IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True).fit_transform(xs, ys)
    starts = np.flatnonzero(np.concatenate([[True], np.diff(fitted) > 1e-15]))
    counts = np.diff(np.concatenate([starts, [xs.size]]))
    centres = np.add.reduceat(xs, starts) / counts
    values = np.clip(fitted[starts], 0.0, 1.0)
    keep = np.concatenate([[True], np.diff(centres) > 0])
    centres, values = centres[keep], np.maximum.accumulate(values[keep])
    grid = np.unique(np.concatenate([strict.xp, centres, [0.0, 1.0]]))
    cir = np.interp(grid, centres, values)  # constant beyond the first / last centre
    blended = (1.0 - tie_break) * cir + tie_break * strict.apply(grid)
    return Calibrator(grid, np.clip(blended, 0.0, 1.0), method="isotonic")


def _fit_method(method: str, raw: np.ndarray, y: np.ndarray) -> Calibrator:
    if method == "platt":
        cal = _platt_calibrator(raw, y)
        return cal if cal is not None else Calibrator.identity()
    if method == "isotonic":
        return fit_isotonic_strict(raw, y)
    return Calibrator.identity()


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1.0 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def choose_calibration(raw: np.ndarray, y: np.ndarray, order: np.ndarray | None = None, *,
                       method: str = "auto", n_blocks: int = 5, tolerance: float = 0.002) -> Calibrator:
    """Fit the calibration ``method``, or choose one among none / Platt / isotonic (``"auto"``).

    Parameters
    ----------
    raw, y : arrays
        Held-out raw probabilities and 0/1 labels.
    order : array, optional
        Sort key of the rows (event times): the cross-fitting blocks are
        consecutive in it. Defaults to the given order.
    method : {"auto", "none", "platt", "isotonic"}
    n_blocks : int
        Cross-fitting blocks for ``"auto"``.
    tolerance : float
        A more complex method must lower the cross-fitted log loss by more than
        this share to be preferred over a simpler one (none < platt < isotonic).

    Returns
    -------
    Calibrator
        Fitted on all rows; ``.method`` is the method used and ``.selection`` the
        cross-fitted log loss of each candidate (``"auto"`` only).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> m = rng.normal(size=6000)
    >>> y = (rng.random(6000) < 1 / (1 + np.exp(-(m - 3)))).astype(int)
    >>> raw = 1 / (1 + np.exp(-(m + 1)))          # over-confident raw scores
    >>> cal = choose_calibration(raw, y)
    >>> cal.method in ("platt", "isotonic"), cal.is_strict, sorted(cal.selection["log_loss"])
    (True, True, ['isotonic', 'none', 'platt'])
    """
    raw = np.asarray(raw, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if method != "auto":
        if method not in CALIBRATION_METHODS:
            raise ConfigError(f"The 'method' parameter of choose_calibration must be one of "
                              f"{('auto', *CALIBRATION_METHODS)}. Got {method!r} instead.")
        return _fit_method(method, raw, y)
    idx = np.arange(raw.size) if order is None else np.argsort(np.asarray(order), kind="stable")
    blocks = [b for b in np.array_split(idx, max(2, min(n_blocks, raw.size // 2 or 1))) if b.size]
    losses: dict[str, float] = {}
    for cand in CALIBRATION_METHODS:
        total = 0.0
        for b in blocks:
            rest = np.setdiff1d(idx, b, assume_unique=True)
            cal = _fit_method(cand, raw[rest], y[rest])
            total += _log_loss(y[b], cal.apply(raw[b])) * b.size
        losses[cand] = total / max(raw.size, 1)
    chosen = "none"
    for cand in CALIBRATION_METHODS[1:]:
        if losses[cand] < losses[chosen] * (1.0 - tolerance):
            chosen = cand
    cal = _fit_method(chosen, raw, y)
    selection = {"log_loss": {k: round(v, 6) for k, v in losses.items()}, "n_blocks": len(blocks),
                 "rows": int(raw.size), "positives": int(y.sum())}
    return Calibrator(cal.xp, cal.fp, method=cal.method if cal.xp.size else "none", selection=selection)
