"""Train a LightGBM fraud model on a feature matrix.

:func:`train_model` takes a point-in-time feature matrix (built by the
pipeline), 0/1 labels and event times, and

1. **splits by time**: the last ``valid_fraction`` of rows (by ``ts``) are the
   validation set; training rows must be older than the validation start by at
   least ``gap`` (the label delay), so no training label could have been
   unknown when the validation period began; rows inside the gap are dropped;
2. **handles class imbalance** (``imbalance``): ``"scale_pos_weight"`` weights
   each fraud by ``n_genuine / n_fraud`` of the training rows, ``"sqrt"`` by its
   square root (a milder weighting), ``"none"`` leaves the classes as they are.
   Weighting distorts raw probabilities; the isotonic calibration fitted on the
   (unweighted) validation set maps them back to observed fraud rates;
3. **trains with early stopping** on the validation set
   (``metric``, default average precision) and keeps only the best iteration;
4. **calibrates** the validation predictions (isotonic, scikit-learn) and
   **chooses thresholds** on validation for ``target_review_rate`` and
   ``max_fpr``;
5. **evaluates** on validation: ROC AUC, AP, recall at 1 % / 5 % FPR, recall in
   the top 1 % / 5 %, Brier score, and Entity Precision@100 when entities are
   given.

Training is deterministic for a given seed and data, whatever the number of
threads (``deterministic=True``, ``force_row_wise=True``, all LightGBM seeds
derived from ``seed``; a test trains with 1, 2 and 4 threads). Note that the
validation set serves three purposes (early stopping, calibration,
thresholds), so its metrics are slightly optimistic; judge a model on a later,
untouched period.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(3000, 3)); ts = np.arange(3000, dtype=np.int64) * 3_600_000
>>> y = (X[:, 0] + rng.normal(size=3000) > 2.0).astype(int)
>>> m = train_model(X, y, ts, ["a", "b", "c"], TrainConfig(num_boost_round=30, gap="1d"))
>>> m.metrics["roc_auc"] > 0.8, m.training["n_gap_dropped"]
(True, 24)
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._compat import require_sklearn
from .._version import __version__
from ..errors import ConfigError
from ..timeutil import format_duration, parse_duration
from .calibration import Calibrator, fit_isotonic
from .metrics import evaluate
from .threads import free_cores
from .thresholds import choose_thresholds, score_scale_array

if TYPE_CHECKING:
    from .model import Model

__all__ = ["TrainConfig", "train_model", "time_split"]

_IMBALANCE = ("scale_pos_weight", "sqrt", "none")
_CALIBRATION = ("isotonic", "none")
DAY_MS = 86_400_000


def _bad(name: str, must: str, got: Any) -> ConfigError:
    return ConfigError(f"The {name!r} parameter of TrainConfig must be {must}. Got {got!r} instead.")


@dataclass(frozen=True)
class TrainConfig:
    """Parameters of :func:`train_model` (validated on creation).

    Parameters
    ----------
    seed : int
        Seed for every LightGBM random choice.
    valid_fraction : float
        Share of rows (the latest) used for validation, in (0, 1).
    gap : str or int
        Label delay between training and validation (``"7d"`` or milliseconds).
    num_boost_round, early_stopping_rounds : int
        Most trees, and rounds without improvement before stopping.
    learning_rate, num_leaves, min_data_in_leaf, feature_fraction, bagging_fraction, lambda_l2 : number
        LightGBM parameters.
    target_review_rate, max_fpr : float
        Threshold targets, see :func:`fraudscore.model.thresholds.choose_thresholds`.
    imbalance : {"scale_pos_weight", "sqrt", "none"}
        How to weight the rare fraud class.
    calibration : {"isotonic", "none"}
        Probability calibration fitted on validation.
    metric : str
        LightGBM metric for early stopping (``"average_precision"``, ``"auc"``,
        ``"binary_logloss"``).
    num_threads : int or "auto"
        Threads for training. ``"auto"`` (the default) takes the cores that are
        free when training starts (:func:`fraudscore.model.threads.free_cores`):
        on a busy machine extra threads only wait for each other (measured: fits
        19x slower with 2 threads than 1 on a loaded 2-core machine,
        ``benchmarks/bench_threads.py``). LightGBM
        with ``deterministic=True`` and ``force_row_wise=True`` gives the same
        model for any thread count (tested), so the choice never changes results.
    fprs, budgets : tuple of float
        False-positive rates and review budgets reported in the metrics.
    extra_params : mapping
        More LightGBM parameters (override the ones above).
    ensemble_size : int
        Boosters to train and average (default 1, a single booster). Each member
        is trained on the same rows with its own seed (so its own bagging and
        feature subsamples) and early-stopped on the same validation rows; the
        members' raw scores are averaged into one merged booster
        (:class:`~fraudscore.model.ensemble.EnsembleModel`), which is then
        calibrated and thresholded like a single model.
    monotone : mapping of str to int
        Monotone constraints by feature name or ``fnmatch`` pattern: ``1`` (the
        score may only rise with the feature), ``-1`` (only fall), ``0`` (free);
        e.g. ``{"fraud_*": 1}``. The first matching pattern wins.

    Examples
    --------
    >>> TrainConfig(gap="3d").gap_ms, TrainConfig(gap="0d").gap_ms
    (259200000, 0)
    >>> TrainConfig(valid_fraction=1.5)
    Traceback (most recent call last):
    ...
    fraudscore.errors.ConfigError: The 'valid_fraction' parameter of TrainConfig must be a number in (0, 1). Got 1.5 instead.
    """

    seed: int = 0
    valid_fraction: float = 0.25
    gap: str | int = "7d"
    num_boost_round: int = 400
    early_stopping_rounds: int = 40
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 50
    feature_fraction: float = 0.9
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    target_review_rate: float = 0.05
    max_fpr: float = 0.01
    imbalance: str = "scale_pos_weight"
    calibration: str = "isotonic"
    metric: str = "average_precision"
    num_threads: int | str = "auto"
    fprs: tuple[float, ...] = (0.01, 0.05)
    budgets: tuple[float, ...] = (0.01, 0.05)
    extra_params: Mapping[str, Any] = field(default_factory=dict)
    ensemble_size: int = 1
    monotone: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise _bad("seed", "an integer", self.seed)
        for name in ("valid_fraction", "feature_fraction", "bagging_fraction"):
            v = getattr(self, name)
            lo_ok = v > 0
            hi_ok = v < 1 if name == "valid_fraction" else v <= 1
            if not isinstance(v, (int, float)) or not (lo_ok and hi_ok):
                raise _bad(name, "a number in (0, 1)" if name == "valid_fraction" else "a number in (0, 1]", v)
        for name in ("target_review_rate", "max_fpr"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise _bad(name, "a number in [0, 1]", v)
        for name in ("num_boost_round", "early_stopping_rounds", "num_leaves", "min_data_in_leaf", "num_threads"):
            v = getattr(self, name)
            if name == "num_threads" and v == "auto":
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1 or (name == "num_leaves" and v < 2):
                raise _bad(name, "a positive integer" if name != "num_leaves" else "an integer >= 2", v)
        if not isinstance(self.learning_rate, (int, float)) or not self.learning_rate > 0:
            raise _bad("learning_rate", "a positive number", self.learning_rate)
        if not isinstance(self.lambda_l2, (int, float)) or self.lambda_l2 < 0:
            raise _bad("lambda_l2", "a non-negative number", self.lambda_l2)
        if isinstance(self.ensemble_size, bool) or not isinstance(self.ensemble_size, int) \
                or not 1 <= self.ensemble_size <= 100:
            raise _bad("ensemble_size", "an integer in 1..100", self.ensemble_size)
        if not isinstance(self.monotone, Mapping) or not all(
                isinstance(k, str) and v in (-1, 0, 1) and not isinstance(v, bool) for k, v in self.monotone.items()):
            raise _bad("monotone", "a mapping of feature names or patterns to -1, 0 or 1", self.monotone)
        if self.imbalance not in _IMBALANCE:
            raise _bad("imbalance", f"one of {_IMBALANCE}", self.imbalance)
        if self.calibration not in _CALIBRATION:
            raise _bad("calibration", f"one of {_CALIBRATION}", self.calibration)
        _ = self.gap_ms

    @property
    def gap_ms(self) -> int:
        """The gap in milliseconds."""
        if isinstance(self.gap, bool):
            raise _bad("gap", "a non-negative duration", self.gap)
        if isinstance(self.gap, int):
            if self.gap < 0:
                raise _bad("gap", "a non-negative duration", self.gap)
            return self.gap
        if isinstance(self.gap, str) and re.fullmatch(r"\s*0+\s*(ms|s|m|h|d|w)?\s*", self.gap):
            return 0  # no gap
        try:
            ms = parse_duration(self.gap)
        except (ValueError, TypeError):
            raise _bad("gap", "a non-negative duration such as '7d'", self.gap) from None
        if ms is None:
            raise _bad("gap", "a finite duration", self.gap)
        return int(ms)

    def lgb_params(self, scale_pos_weight: float = 1.0) -> dict[str, Any]:
        """The LightGBM parameter dict for this configuration.

        Examples
        --------
        >>> p = TrainConfig(seed=3).lgb_params()
        >>> p["objective"], p["seed"], p["deterministic"]
        ('binary', 3, True)
        """
        params: dict[str, Any] = {
            "objective": "binary",
            "metric": self.metric,
            "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves),
            "min_data_in_leaf": int(self.min_data_in_leaf),
            "feature_fraction": float(self.feature_fraction),
            "bagging_fraction": float(self.bagging_fraction),
            "bagging_freq": 1 if self.bagging_fraction < 1 else 0,
            "lambda_l2": float(self.lambda_l2),
            "scale_pos_weight": float(scale_pos_weight),
            "seed": int(self.seed),
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": free_cores() if self.num_threads == "auto" else int(self.num_threads),
            "verbose": -1,
        }
        params.update(dict(self.extra_params))
        return params

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (for the bundle's training metadata)."""
        d = asdict(self)
        d["fprs"], d["budgets"] = list(self.fprs), list(self.budgets)
        d["extra_params"] = dict(self.extra_params)
        d["monotone"] = dict(self.monotone)
        return d

    def monotone_constraints(self, feature_names: Sequence[str]) -> list[int] | None:
        """LightGBM's ``monotone_constraints`` list for these features (None when no constraint applies).

        Examples
        --------
        >>> TrainConfig(monotone={"fraud_*": 1, "amount": -1}).monotone_constraints(["fraud_rate__ip__7d", "amount", "x"])
        [1, -1, 0]
        >>> TrainConfig().monotone_constraints(["a"]) is None
        True
        """
        out = []
        for name in feature_names:
            out.append(next((int(v) for pat, v in self.monotone.items() if fnmatch.fnmatchcase(name, pat)), 0))
        return out if any(out) else None


def time_split(ts: np.ndarray, valid_fraction: float, gap_ms: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Boolean masks ``(train, valid)`` and the validation start time.

    Validation holds the rows with ``ts >= t_valid``, where ``t_valid`` is the
    time of the first of the latest ``ceil(valid_fraction * n)`` rows; training
    holds those with ``ts < t_valid - gap_ms``.

    Examples
    --------
    >>> tr, va, t0 = time_split(np.array([5, 1, 2, 3, 4, 6]), 0.33, 2)
    >>> tr.tolist(), va.tolist(), t0
    ([False, True, True, False, False, False], [True, False, False, False, False, True], 5)
    """
    ts = np.asarray(ts, dtype=np.int64)
    n = ts.size
    n_valid = max(1, int(math.ceil(valid_fraction * n)))
    t_valid = int(np.sort(ts, kind="stable")[n - n_valid])
    valid = ts >= t_valid
    train = ts < t_valid - gap_ms
    return train, valid, t_valid


def _check_inputs(
    X: Any, y: Any, ts: Any, feature_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ConfigError(f"The 'X' parameter of train_model must be a 2-D matrix. Got {X.ndim} dimensions instead.")
    n, k = X.shape
    y = np.asarray(y)
    if y.shape != (n,):
        raise ConfigError(f"The 'y' parameter of train_model must hold one label per row ({n}). Got shape {y.shape} instead.")
    if not np.all((y == 0) | (y == 1)):
        raise ConfigError("The 'y' parameter of train_model must hold only 0 and 1. Got other values instead.")
    ts = np.asarray(ts)
    if ts.shape != (n,) or not np.issubdtype(ts.dtype, np.integer):
        raise ConfigError(
            f"The 'ts' parameter of train_model must be {n} integer epoch milliseconds. Got {ts.dtype} of shape {ts.shape} instead."
        )
    names = [str(s) for s in feature_names]
    if len(names) != k:
        raise ConfigError(f"The 'feature_names' parameter of train_model must name {k} columns. Got {len(names)} instead.")
    if len(set(names)) != k:
        raise ConfigError("The 'feature_names' parameter of train_model must hold unique names. Got duplicates instead.")
    if np.isinf(X).any():
        raise ConfigError("The 'X' parameter of train_model must not hold infinite values. Got inf instead (use NaN for missing).")
    return X, y.astype(np.int64), ts.astype(np.int64), names


def train_model(
    X: np.ndarray,
    y: np.ndarray,
    ts: np.ndarray,
    feature_names: Sequence[str],
    config: TrainConfig | None = None,
    *,
    entity: np.ndarray | None = None,
    callbacks: Sequence[Any] = (),
) -> Model:
    """Train, calibrate, threshold and evaluate a fraud model (see module docstring).

    Parameters
    ----------
    X : array (n, k) of float
        Point-in-time features, NaN = missing. Rows need not be sorted.
    y : array (n,) of 0/1
        Labels as known for training.
    ts : array (n,) of int
        Event times, epoch milliseconds.
    feature_names : sequence of str
        One unique name per column.
    config : TrainConfig, optional
        Defaults to ``TrainConfig()``.
    entity : array (n,), optional
        Entity per row (card, applicant pseudonym) for Entity Precision@100 on
        validation (days are ``ts // 86_400_000``).
    callbacks : sequence of callables, optional
        More LightGBM callbacks (e.g. a progress display), called after each round.

    Returns
    -------
    Model
    """
    import lightgbm as lgb

    from .model import Model as _Model

    require_sklearn()
    cfg = config or TrainConfig()
    X, y, ts, names = _check_inputs(X, y, ts, feature_names)
    train, valid, t_valid = time_split(ts, cfg.valid_fraction, cfg.gap_ms)
    n_train, n_valid = int(train.sum()), int(valid.sum())
    pos_train, pos_valid = int(y[train].sum()), int(y[valid].sum())
    if n_train == 0 or pos_train == 0 or pos_train == n_train:
        raise ConfigError(
            f"The training period (before {t_valid - cfg.gap_ms} ms) must hold both classes. "
            f"Got {n_train} rows with {pos_train} frauds instead; lower 'valid_fraction' or 'gap'."
        )
    if pos_valid == 0 or pos_valid == n_valid:
        raise ConfigError(
            f"The validation period must hold both classes. Got {n_valid} rows with {pos_valid} frauds instead; "
            "raise 'valid_fraction'."
        )
    order_tr = np.flatnonzero(train)[np.argsort(ts[train], kind="stable")]
    order_va = np.flatnonzero(valid)[np.argsort(ts[valid], kind="stable")]
    Xt, yt, Xv, yv = X[order_tr], y[order_tr], X[order_va], y[order_va]
    ratio = (n_train - pos_train) / pos_train
    spw = {"scale_pos_weight": ratio, "sqrt": math.sqrt(ratio), "none": 1.0}[cfg.imbalance]
    params = cfg.lgb_params(spw)
    mono = cfg.monotone_constraints(names)
    if mono is not None:
        params["monotone_constraints"] = mono
    dtrain = lgb.Dataset(Xt, yt.astype(np.float64), feature_name=names, free_raw_data=True)
    dvalid = lgb.Dataset(Xv, yv.astype(np.float64), reference=dtrain, free_raw_data=True)
    members: list[Any] = []
    for m in range(cfg.ensemble_size):
        stop = [lgb.early_stopping(cfg.early_stopping_rounds, first_metric_only=True, verbose=False), *callbacks]
        p = params if m == 0 else {**params, "seed": _member_seed(int(params["seed"]), m)}
        booster = lgb.train(p, dtrain, cfg.num_boost_round, valid_sets=[dvalid], valid_names=["valid"],
                            callbacks=stop)
        best = int(booster.best_iteration or booster.current_iteration())
        members.append((lgb.Booster(model_str=booster.model_to_string(num_iteration=best)), int(p["seed"]), best))
    if len(members) > 1:
        from .ensemble import merge_model_texts

        booster = lgb.Booster(model_str=merge_model_texts([b.model_to_string() for b, _, _ in members]))
        best = int(np.median([it for _, _, it in members]))
    else:
        booster, _, best = members[0]

    raw_valid = booster.predict(Xv)
    calibrator = fit_isotonic(raw_valid, yv) if cfg.calibration == "isotonic" else Calibrator.identity()
    p_valid = calibrator.apply(raw_valid)
    scores = score_scale_array(p_valid)
    thresholds = choose_thresholds(scores, yv, target_review_rate=cfg.target_review_rate, max_fpr=cfg.max_fpr)
    ent_v = None if entity is None else np.asarray(entity, dtype=object)[order_va]
    metrics = evaluate(
        yv, p_valid, fprs=cfg.fprs, budgets=cfg.budgets, entity=ent_v, day=None if ent_v is None else ts[order_va] // DAY_MS
    )
    raw_metrics = evaluate(yv, raw_valid, fprs=(), budgets=())
    metrics["roc_auc_uncalibrated"] = raw_metrics["roc_auc"]
    metrics["average_precision_uncalibrated"] = raw_metrics["average_precision"]
    metrics["brier"] = float(np.mean((p_valid - yv) ** 2))
    training = {
        "library_version": __version__,
        "lightgbm_version": lgb.__version__,
        "config": cfg.to_dict(),
        "lgb_params": params,
        "best_iteration": best,
        "n_rows": int(y.size),
        "n_train": n_train,
        "n_valid": n_valid,
        "n_gap_dropped": int(y.size - n_train - n_valid),
        "n_fraud_train": pos_train,
        "n_fraud_valid": pos_valid,
        "train_start_ms": int(ts[order_tr[0]]),
        "train_end_ms": int(ts[order_tr[-1]]),
        "valid_start_ms": int(t_valid),
        "valid_end_ms": int(ts[order_va[-1]]),
        "gap": format_duration(cfg.gap_ms),
        "scale_pos_weight": float(spw),
    }
    if len(members) > 1:
        from .ensemble import EnsembleModel

        training["best_iterations"] = [it for _, _, it in members]
        return EnsembleModel([b for b, _, _ in members], names, member_info=[
            {"seed": sd, "best_iteration": it} for _, sd, it in members], calibrator=calibrator,
            thresholds=thresholds, metrics=metrics, training=training)
    return _Model(booster, names, calibrator=calibrator, thresholds=thresholds, metrics=metrics, training=training)


def _member_seed(seed: int, member: int) -> int:
    """Seed of ensemble member ``member`` (member 0 keeps ``seed``): distinct, deterministic, in int32."""
    return (seed + 1_000_003 * member) % 2_147_483_647
