"""The configuration of :func:`~fraudscore.model.training.train_model`, validated on creation.

:class:`TrainConfig` holds every training choice (validation strategy, label
gap, LightGBM parameters, imbalance handling, calibration, threshold targets,
ensembles, monotone constraints) and turns itself into LightGBM's parameter
dict (:meth:`TrainConfig.lgb_params`) and the bundle's training metadata
(:meth:`TrainConfig.to_dict`). A bad value is a
:class:`~fraudscore.errors.ConfigError` naming the parameter.

Examples
--------
>>> TrainConfig(num_leaves=15, ensemble_size=3).to_dict()["ensemble_size"]
3
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ConfigError
from ..timeutil import parse_duration
from .threads import free_cores

__all__ = ["TrainConfig"]

_IMBALANCE = ("auto", "none", "sqrt", "scale_pos_weight")
_CALIBRATION = ("auto", "none", "platt", "isotonic")
_VALIDATION = ("auto", "holdout", "cv")


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
    imbalance : {"auto", "none", "sqrt", "scale_pos_weight"}
        How to weight the rare fraud class; ``"auto"`` keeps ``sqrt`` weighting
        only when it beats no weighting on the validation metric.
    calibration : {"auto", "none", "platt", "isotonic"}
        Probability calibration fitted on the held-out rows; ``"auto"`` chooses by
        cross-fitted log loss. Every method keeps the raw ranking (no ties).
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
    validation : {"auto", "holdout", "cv"}
        Validation strategy (module docstring); ``"auto"`` uses the holdout when
        it holds at least ``min_valid_positives`` frauds, else rolling folds.
    min_valid_positives : int
        Frauds a validation set needs before its early stopping is trusted; below
        it a warning is issued (and ``"auto"`` switches to rolling folds).
    min_boost_rounds : int
        Fewest trees early stopping may keep (capped at ``num_boost_round``).
    cv_folds : int
        Rolling time-series folds for ``validation="cv"``.
    category_min_count : int
        Rows a category value needs in the training data to get its own code;
        rarer values share the "other" code with values never seen
        (:mod:`fraudscore.categories`; used by :func:`fraudscore.train`).
    max_categories : int
        Most codes per categorical field (the most frequent values win).
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
    imbalance: str = "auto"
    calibration: str = "auto"
    metric: str = "average_precision"
    num_threads: int | str = "auto"
    fprs: tuple[float, ...] = (0.01, 0.05)
    budgets: tuple[float, ...] = (0.01, 0.05)
    extra_params: Mapping[str, Any] = field(default_factory=dict)
    validation: str = "auto"
    min_valid_positives: int = 30
    min_boost_rounds: int = 50
    cv_folds: int = 4
    category_min_count: int = 10
    max_categories: int = 200
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
        for name in ("num_boost_round", "early_stopping_rounds", "num_leaves", "min_data_in_leaf", "num_threads",
                     "min_valid_positives", "min_boost_rounds", "cv_folds", "category_min_count", "max_categories"):
            v = getattr(self, name)
            if name == "num_threads" and v == "auto":
                continue
            lowest = 2 if name in ("num_leaves", "cv_folds") else 1
            if isinstance(v, bool) or not isinstance(v, int) or v < lowest:
                raise _bad(name, "a positive integer" if lowest == 1 else "an integer >= 2", v)
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
        if self.validation not in _VALIDATION:
            raise _bad("validation", f"one of {_VALIDATION}", self.validation)
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
