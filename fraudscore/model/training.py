"""Train a LightGBM fraud model on a feature matrix.

:func:`train_model` takes a point-in-time feature matrix (built by the
pipeline), 0/1 labels and event times, and

1. **validates by time**, choosing the strategy (``validation``):

   * ``"holdout"``: the last ``valid_fraction`` of rows (by ``ts``) are the
     validation set; training rows must be older than the validation start by
     at least ``gap`` (the label delay), rows inside the gap are dropped;
   * ``"cv"``: rolling time-series folds (:func:`~fraudscore.model.validation.rolling_folds`):
     ``cv_folds`` consecutive validation blocks over the later rows, each
     trained on everything before it less the gap. The number of trees is
     chosen on the fold-averaged metric, the final model is trained on *all*
     rows with that many trees, and calibration, thresholds and metrics use the
     pooled out-of-fold predictions;
   * ``"auto"`` (default): the holdout when it holds at least
     ``min_valid_positives`` frauds, else the folds. Both are recorded in
     ``model.training["validation"]`` (and so in the bundle), and a thin
     validation set is reported as a :class:`~fraudscore.errors.FraudscoreWarning`
     and on the ``fraudscore`` logger;
2. **early-stops** on the validation metric (``metric``, default average
   precision) but never before ``min_boost_rounds`` trees (a best iteration of
   2 on a handful of frauds is noise, not a model);
3. **handles class imbalance** (``imbalance``): ``"scale_pos_weight"`` weights
   each fraud by ``n_genuine / n_fraud`` of the training rows, ``"sqrt"`` by its
   square root, ``"none"`` leaves the classes as they are; ``"auto"`` (default)
   trains unweighted and ``sqrt``-weighted and keeps the weighting only when it
   raises the validation metric;
4. **calibrates** the held-out predictions (``calibration``: ``"auto"`` chooses
   among none, Platt and tie-free isotonic by cross-fitted log loss, see
   :func:`~fraudscore.model.calibration.choose_calibration`; every choice is a
   strictly increasing map, so ranking metrics equal the raw model's) and
   **chooses thresholds** for ``target_review_rate`` and ``max_fpr``;
5. **evaluates** on the held-out rows: ROC AUC, AP, recall at 1 % / 5 % FPR,
   recall in the top 1 % / 5 %, Brier score, and Entity Precision@100 when
   entities are given.

Categorical columns (``categorical``: integer codes, NaN = missing, as the
pipeline makes them for ``category`` schema fields) are passed to LightGBM as
categorical features.

Training is deterministic for a given seed and data, whatever the number of
threads (``deterministic=True``, ``force_row_wise=True``, all LightGBM seeds
derived from ``seed``; a test trains with 1, 2 and 4 threads). Note that the
held-out rows serve three purposes (early stopping, calibration, thresholds),
so their metrics are slightly optimistic; judge a model on a later, untouched
period.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(3000, 3)); ts = np.arange(3000, dtype=np.int64) * 3_600_000
>>> y = (X[:, 0] + rng.normal(size=3000) > 2.0).astype(int)
>>> m = train_model(X, y, ts, ["a", "b", "c"], TrainConfig(num_boost_round=30, gap="1d"))
>>> m.metrics["roc_auc"] > 0.8, m.training["n_gap_dropped"], m.training["validation"]["strategy"]
(True, 24, 'holdout')
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._compat import require_sklearn
from .._version import __version__
from ..errors import ConfigError, FraudscoreWarning
from ..timeutil import format_duration
from .calibration import choose_calibration
from .metrics import evaluate
from .thresholds import choose_thresholds, score_scale_array
from .trainconfig import TrainConfig
from .validation import Fold, boost, holdout, rolling_folds

if TYPE_CHECKING:
    from .model import Model

__all__ = ["TrainConfig", "train_model", "time_split"]

DAY_MS = 86_400_000
log = logging.getLogger(__name__)


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


def _categorical_columns(categorical: Sequence[str] | None, names: list[str], X: np.ndarray) -> list[int]:
    if not categorical:
        return []
    idx = []
    for c in categorical:
        if c not in names:
            raise ConfigError(f"The 'categorical' parameter of train_model names unknown feature {c!r}.")
        j = names.index(c)
        col = X[:, j]
        ok = col[~np.isnan(col)]
        if ok.size and (np.any(ok < 0) or np.any(ok != np.floor(ok)) or ok.max() >= 2**31 - 1):
            raise ConfigError(f"The 'categorical' feature {c!r} must hold non-negative integer codes (NaN = missing). "
                              "Got other values instead.")
        idx.append(j)
    return idx


def _warn(message: str) -> None:
    warnings.warn(message, FraudscoreWarning, stacklevel=3)
    log.warning(message)


def _plan_validation(cfg: TrainConfig, ts: np.ndarray, y: np.ndarray) -> tuple[str, list[Fold], dict[str, Any]]:
    """Choose the validation strategy; return it, its folds and the report."""
    ho = holdout(ts, cfg.valid_fraction, cfg.gap_ms)
    n_train, pos_train = int(ho.train.size), int(y[ho.train].sum())
    n_valid, pos_valid = int(ho.valid.size), int(y[ho.valid].sum())
    report: dict[str, Any] = {"requested": cfg.validation, "min_valid_positives": cfg.min_valid_positives,
                              "holdout_positives": pos_valid, "warnings": []}
    holdout_ok = 0 < pos_valid < n_valid and 0 < pos_train < n_train
    if cfg.validation == "holdout" or (cfg.validation == "auto" and pos_valid >= cfg.min_valid_positives):
        if n_train == 0 or pos_train == 0 or pos_train == n_train:
            raise ConfigError(
                f"The training period (before {ho.valid_start_ms - cfg.gap_ms} ms) must hold both classes. "
                f"Got {n_train} rows with {pos_train} frauds instead; lower 'valid_fraction' or 'gap'.")
        if pos_valid == 0 or pos_valid == n_valid:
            raise ConfigError(
                f"The validation period must hold both classes. Got {n_valid} rows with {pos_valid} frauds instead; "
                "raise 'valid_fraction' or use validation='cv'.")
        report.update(strategy="holdout",
                      reason="requested" if cfg.validation == "holdout" else
                      f"the holdout holds {pos_valid} >= {cfg.min_valid_positives} frauds")
        return "holdout", [ho], report
    folds = rolling_folds(ts, y, cfg.cv_folds, cfg.gap_ms)
    if not folds:
        if cfg.validation == "auto" and holdout_ok:
            report.update(strategy="holdout", reason="no rolling fold holds frauds in both its training and "
                                                     "validation rows")
            return "holdout", [ho], report
        raise ConfigError(
            f"The validation period must hold both classes: the holdout holds {pos_valid} of {n_valid} rows as frauds "
            f"and none of {cfg.cv_folds} rolling folds has frauds in both its training and validation rows; "
            "lower 'gap' or give more labelled history.")
    report.update(strategy="time_series_cv",
                  reason="requested" if cfg.validation == "cv" else
                  f"the holdout holds only {pos_valid} frauds (< min_valid_positives={cfg.min_valid_positives})")
    return "time_series_cv", folds, report


def train_model(
    X: np.ndarray,
    y: np.ndarray,
    ts: np.ndarray,
    feature_names: Sequence[str],
    config: TrainConfig | None = None,
    *,
    entity: np.ndarray | None = None,
    categorical: Sequence[str] | None = None,
    categories: Mapping[str, Any] | None = None,
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
        the held-out rows (days are ``ts // 86_400_000``).
    categorical : sequence of str, optional
        Features holding category codes (non-negative integers, NaN = missing),
        given to LightGBM as categorical features.
    categories : mapping, optional
        The vocabularies behind those codes (:class:`fraudscore.categories.Categories`),
        stored with the model.
    callbacks : sequence of callables, optional
        More LightGBM callbacks (e.g. a progress display), called after each
        boosting round (of every fold, for each class-weighting candidate).

    Returns
    -------
    Model

    Warns
    -----
    FraudscoreWarning
        When the validation rows hold fewer than ``min_valid_positives`` frauds
        (also logged on the ``fraudscore`` logger).
    """
    import lightgbm as lgb

    from .model import Model as _Model

    require_sklearn()
    cfg = config or TrainConfig()
    X, y, ts, names = _check_inputs(X, y, ts, feature_names)
    cat_idx = _categorical_columns(categorical, names, X)
    strategy, folds, report = _plan_validation(cfg, ts, y)
    cv = strategy == "time_series_cv"
    if cv:
        fit_rows = np.argsort(ts, kind="stable")  # the final model sees every row
    else:
        fit_rows = folds[0].train
    n_fit, pos_fit = int(fit_rows.size), int(y[fit_rows].sum())
    if pos_fit == 0 or pos_fit == n_fit:
        raise ConfigError(f"The training rows must hold both classes. Got {n_fit} rows with {pos_fit} frauds instead.")
    ratio = (n_fit - pos_fit) / pos_fit
    weights = {"scale_pos_weight": ratio, "sqrt": math.sqrt(ratio), "none": 1.0}
    candidates = ["none", "sqrt"] if cfg.imbalance == "auto" else [cfg.imbalance]
    datasets = None  # built by the first candidate, shared by the next (only booster parameters differ)
    results = {}
    mono = cfg.monotone_constraints(names)

    def lgb_params(w: float) -> dict[str, Any]:
        p = cfg.lgb_params(w)
        if mono is not None:
            p["monotone_constraints"] = mono
        return p

    for cand in candidates:
        res = boost(lgb_params(weights[cand]), X, y, folds, names, categorical=cat_idx,
                    num_boost_round=cfg.num_boost_round, patience=cfg.early_stopping_rounds,
                    min_rounds=cfg.min_boost_rounds, datasets=datasets, callbacks=callbacks)
        datasets = res.datasets
        results[cand] = res
    if cfg.imbalance == "auto":
        better = results["sqrt"].best_score > results["none"].best_score if results["none"].higher_is_better \
            else results["sqrt"].best_score < results["none"].best_score
        chosen = "sqrt" if better else "none"
    else:
        chosen = cfg.imbalance
    res = results[chosen]
    spw = weights[chosen]
    params = lgb_params(spw)
    best = res.best_iteration
    # ensemble members beyond the first: same rows, folds and weighting, their own seeds and early stopping
    member_runs = [(res, int(params["seed"]))]
    for m in range(1, cfg.ensemble_size):
        pm = {**params, "seed": _member_seed(int(params["seed"]), m)}
        member_runs.append((boost(pm, X, y, folds, names, categorical=cat_idx, num_boost_round=cfg.num_boost_round,
                                  patience=cfg.early_stopping_rounds, min_rounds=cfg.min_boost_rounds,
                                  datasets=datasets, callbacks=callbacks), int(pm["seed"])))
    # held-out raw predictions: the holdout, or the pooled out-of-fold rows
    ho_rows = np.concatenate([f.valid for f in folds])
    if len(member_runs) == 1:
        raw_ho = np.concatenate([b.predict(X[f.valid], num_iteration=best) for b, f in zip(res.boosters, folds)])
    else:  # the ensemble's probability: the members' mean raw score (log-odds), as the merged booster gives
        margin = np.mean([np.concatenate([b.predict(X[f.valid], num_iteration=r.best_iteration, raw_score=True)
                                          for b, f in zip(r.boosters, folds)]) for r, _ in member_runs], axis=0)
        raw_ho = 1.0 / (1.0 + np.exp(-margin))
    ho_order = np.argsort(ts[ho_rows], kind="stable")
    ho_rows, raw_ho = ho_rows[ho_order], raw_ho[ho_order]
    members: list[Any] = []
    for r, seed in member_runs:
        if cv:
            dall = lgb.Dataset(X[fit_rows], y[fit_rows].astype(np.float64), feature_name=names,
                               categorical_feature=cat_idx or "auto", free_raw_data=True)
            b = lgb.train({**params, "seed": seed}, dall, r.best_iteration)
        else:
            b = lgb.Booster(model_str=r.boosters[0].model_to_string(num_iteration=r.best_iteration))
        members.append((b, seed, r.best_iteration))
    if len(members) > 1:
        best = int(np.median([it for _, _, it in members]))
    booster = members[0][0]
    for r in results.values():
        r.datasets = []
    for r, _ in member_runs:
        r.datasets = []
    yv = y[ho_rows]
    pos_ho = int(yv.sum())
    if pos_ho < cfg.min_valid_positives:
        what = "the validation period holds" if not cv else \
            f"the rolling validation folds ({len(folds)}) hold together"
        msg = (f"{what} only {pos_ho} frauds (< min_valid_positives={cfg.min_valid_positives}): early stopping, "
               "calibration and thresholds rest on very few frauds; give more labelled history or check the model "
               "on a later period")
        report["warnings"].append(msg)
        _warn(msg)
    elif strategy == "time_series_cv" and cfg.validation == "auto":
        log.info("training: %s; using %d rolling time-series folds (%d frauds)", report["reason"], len(folds), pos_ho)
    calibrator = choose_calibration(raw_ho, yv, ts[ho_rows], method=cfg.calibration)
    p_valid = calibrator.apply(raw_ho)
    scores = score_scale_array(p_valid)
    thresholds = choose_thresholds(scores, yv, target_review_rate=cfg.target_review_rate, max_fpr=cfg.max_fpr)
    ent_v = None if entity is None else np.asarray(entity, dtype=object)[ho_rows]
    metrics = evaluate(
        yv, p_valid, fprs=cfg.fprs, budgets=cfg.budgets, entity=ent_v,
        day=None if ent_v is None else ts[ho_rows] // DAY_MS
    )
    raw_metrics = evaluate(yv, raw_ho, fprs=(), budgets=())
    metrics["roc_auc_uncalibrated"] = raw_metrics["roc_auc"]
    metrics["average_precision_uncalibrated"] = raw_metrics["average_precision"]
    metrics["brier"] = float(np.mean((p_valid - yv) ** 2))
    report.update({
        "folds": [dict(f.describe(y), score=s) for f, s in zip(folds, res.fold_scores)],
        "metric": res.metric, "score": res.best_score, "best_iteration": best,
        "min_boost_rounds": min(cfg.min_boost_rounds, cfg.num_boost_round), "stopped_early": res.stopped_early,
        "held_out_rows": int(ho_rows.size), "held_out_positives": pos_ho,
        "imbalance": {"requested": cfg.imbalance, "chosen": chosen,
                      "scores": {k: r.best_score for k, r in results.items()},
                      "best_iterations": {k: r.best_iteration for k, r in results.items()}},
        "final_model_rows": "all" if cv else "train",
    })
    first, last = folds[0], folds[-1]
    training = {
        "library_version": __version__,
        "lightgbm_version": lgb.__version__,
        "config": cfg.to_dict(),
        "lgb_params": params,
        "best_iteration": best,
        "validation": report,
        "calibration": calibrator.method,
        "imbalance": chosen,
        "n_rows": int(y.size),
        "n_train": n_fit,
        "n_valid": int(ho_rows.size),
        "n_gap_dropped": int(y.size - n_fit - ho_rows.size) if not cv else 0,
        "n_fraud_train": pos_fit,
        "n_fraud_valid": pos_ho,
        "train_start_ms": int(ts[fit_rows[0]]),
        "train_end_ms": int(ts[fit_rows[-1]]),
        "valid_start_ms": int(first.valid_start_ms),
        "valid_end_ms": int(last.valid_end_ms),
        "gap": format_duration(cfg.gap_ms),
        "scale_pos_weight": float(spw),
    }
    if categorical:
        training["categorical_features"] = list(categorical)
    if len(members) > 1:
        from .ensemble import EnsembleModel

        training["best_iterations"] = [it for _, _, it in members]
        return EnsembleModel([b for b, _, _ in members], names, member_info=[
            {"seed": sd, "best_iteration": it} for _, sd, it in members], calibrator=calibrator,
            thresholds=thresholds, metrics=metrics, training=training, categories=categories)
    return _Model(booster, names, calibrator=calibrator, thresholds=thresholds, metrics=metrics, training=training,
                  categories=categories)


def _member_seed(seed: int, member: int) -> int:
    """Seed of ensemble member ``member`` (member 0 keeps ``seed``): distinct, deterministic, in int32."""
    return (seed + 1_000_003 * member) % 2_147_483_647
