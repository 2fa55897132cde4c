"""The model report written at training time: what the model learned and how well it ranks and calibrates.

:func:`model_report` evaluates a trained model on its **validation rows**
(the latest part of the training period, held out from the trees but used for
early stopping, calibration and thresholds, so the figures are slightly
optimistic) and returns a :class:`ModelReport` holding:

* **feature importance**: total gain and split count per feature (from the
  trees), and the mean absolute TreeSHAP value per feature on validation
  rows, with a summary of how each top feature's value moves its SHAP value;
* **calibration**: the mean predicted probability against the observed fraud
  rate in ten bins of predicted probability (a reliability curve), and the
  Brier score;
* **ranking**: the ROC and precision-recall curves with AUC and average
  precision;
* **score histograms by class**;
* **a threshold table**: for cut-offs on the 0..1000 score (every 50 points
  and the model's own review and decline thresholds), the share of
  applications at or above it, its precision, recall and false-positive rate.

:meth:`ModelReport.save` writes ``report.md``, ``report.json`` and PNG charts
(with the ``plot`` extra; without matplotlib the Markdown says so).
``fraudscore train`` writes it next to the bundle (``<bundle>.report/``).

Examples
--------
>>> import tempfile
>>> from fraudscore.model import TrainConfig, train_model
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(4000, 3)); ts = np.arange(4000, dtype=np.int64) * 3_600_000
>>> y = (X[:, 0] + rng.normal(size=4000) > 2.0).astype(int)
>>> m = train_model(X, y, ts, ["amount", "count__ip__1h", "noise"], TrainConfig(num_boost_round=30, gap="1d"))
>>> rep = model_report(m, X, y, ts)
>>> rep.importance[0]["feature"], rep.n_valid == m.training["n_valid"]
('amount', True)
>>> with tempfile.TemporaryDirectory() as d:
...     files = sorted(p.name for p in rep.save(d).values())
>>> files[:3]
['calibration.png', 'importance.png', 'pr_roc.png']
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._compat import optional_import
from ..errors import ConfigError
from .thresholds import SCORE_MAX, score_scale_array

__all__ = ["ModelReport", "model_report"]

_TOP = 20
_SHAP_ROWS = 2000


def _nan(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _nan(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_nan(x) for x in v]
    return v


def _f(v: Any, d: int = 3) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{d}f}"


@dataclass
class ModelReport:
    """What :func:`model_report` found (see the module docstring); JSON-ready apart from the curves' arrays."""

    summary: dict[str, Any]
    metrics: dict[str, Any]
    n_valid: int
    n_fraud_valid: int
    importance: list[dict[str, Any]]
    shap_summary: list[dict[str, Any]]
    calibration: list[dict[str, Any]]
    thresholds: list[dict[str, Any]]
    curves: dict[str, list[float]] = field(default_factory=dict, repr=False)
    histograms: dict[str, list[int]] = field(default_factory=dict, repr=False)
    shap_points: dict[str, Any] = field(default_factory=dict, repr=False)
    notes: list[str] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (strict JSON), curves included."""
        d = asdict(self)
        d.pop("shap_points")
        return _nan(d)

    def render(self) -> str:
        """The report as Markdown."""
        s, m = self.summary, self.metrics
        lines = ["# Model report", "",
                 f"{s.get('kind', 'single')} model" + (f" of {s['members']} boosters" if s.get("members") else "")
                 + f", {s.get('n_features')} features, {s.get('trees')} trees; trained on {s.get('n_train'):,} rows "
                 f"({s.get('n_fraud_train'):,} frauds), validated on {self.n_valid:,} later rows "
                 f"({self.n_fraud_valid:,} frauds). Validation rows also chose the trees (early stopping), the "
                 "calibration and the thresholds: the figures below are slightly optimistic; judge the model on a "
                 "later period (`fraudscore diff --labels`).", ""]
        for note in self.notes:
            lines.append(f"> {note}")
        if self.notes:
            lines.append("")
        lines += ["## Validation metrics", "", "| metric | value |", "|---|---:|"]
        for k in ("roc_auc", "average_precision", "recall_at_fpr_1pct", "recall_at_fpr_5pct", "recall_at_top_1pct",
                  "recall_at_top_5pct", "entity_precision_at_100", "brier"):
            if k in m:
                lines.append(f"| {k} | {_f(m[k], 4)} |")
        lines += ["", "## Feature importance", "",
                  "Gain: total loss reduction of the splits on the feature; SHAP: mean |TreeSHAP value| (log-odds) "
                  "on validation rows.", "", "| feature | gain share | splits | mean \\|SHAP\\| |", "|---|---:|---:|---:|"]
        shap = {r["feature"]: r["mean_abs_shap"] for r in self.shap_summary}
        for r in self.importance[:_TOP]:
            lines.append(f"| {r['feature']} | {r['gain_share']:.3f} | {r['splits']:,} | {_f(shap.get(r['feature']))} |")
        lines += ["", "## Calibration", "", "| predicted (mean) | observed fraud rate | rows |", "|---:|---:|---:|"]
        for b in self.calibration:
            lines.append(f"| {_f(b['predicted'], 4)} | {_f(b['observed'], 4)} | {b['n']:,} |")
        lines += ["", "## Thresholds", "",
                  "Applications with a model score at or above the cut-off (validation rows).", "",
                  "| score >= | flagged share | precision | recall | false-positive rate | |",
                  "|---:|---:|---:|---:|---:|---|"]
        for t in self.thresholds:
            lines.append(f"| {t['score']} | {_f(t['flagged'], 4)} | {_f(t['precision'])} | {_f(t['recall'])} | "
                         f"{_f(t['fpr'], 4)} | {t.get('label', '')} |")
        if self.charts:
            lines += ["", "## Charts", ""] + [f"![{Path(c).stem}]({Path(c).name})" for c in self.charts]
        return "\n".join(lines) + "\n"

    def save(self, directory: str | Path, *, charts: bool = True) -> dict[str, Path]:
        """Write ``report.md``, ``report.json`` and the PNG charts into ``directory``; returns the paths."""
        from .._plot import write_report
        from .report_charts import draw

        return write_report(self, directory, 'report', draw, charts=charts)


def _calibration(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Reliability curve over quantile bins of the predicted probability (ties kept in one bin)."""
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)[1:-1]))
    idx = np.searchsorted(edges, p, side="left")
    out = []
    for b in range(edges.size + 1):
        sel = idx == b
        if sel.any():
            out.append({"predicted": float(p[sel].mean()), "observed": float(y[sel].mean()), "n": int(sel.sum())})
    return out


def _threshold_table(score: np.ndarray, y: np.ndarray, review: int | None, decline: int | None
                     ) -> list[dict[str, Any]]:
    cuts = sorted(set(range(50, SCORE_MAX + 1, 50)) | {c for c in (review, decline) if c is not None
                                                        and 0 <= c <= SCORE_MAX})
    n, pos = y.size, int(y.sum())
    neg = n - pos
    rows = []
    for c in cuts:
        sel = score >= c
        k, tp = int(sel.sum()), int(y[sel].sum())
        label = " ".join(x for x, v in (("review", review), ("decline", decline)) if v == c)
        rows.append({"score": int(c), "flagged": k / n if n else math.nan, "precision": tp / k if k else math.nan,
                     "recall": tp / pos if pos else math.nan, "fpr": (k - tp) / neg if neg else math.nan,
                     "label": label})
    return rows


def model_report(model: Any, X: np.ndarray, y: np.ndarray, ts: np.ndarray | None = None, *,
                 shap_rows: int = _SHAP_ROWS, seed: int = 0) -> ModelReport:
    """Evaluate ``model`` on the validation rows of its training data (see the module docstring).

    Parameters
    ----------
    model : Model
        A trained model (single or ensemble).
    X, y : arrays
        The model's training matrix (its own columns) and 0/1 labels, the rows
        :func:`~fraudscore.model.train_model` saw.
    ts : array of int, optional
        Event times: the rows at or after ``model.training["valid_start_ms"]``
        are the validation rows. Without it every row is evaluated.
    shap_rows : int
        Validation rows sampled for the SHAP summary.
    seed : int
        Seed of that sample.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(np.int64)
    if X.ndim != 2 or X.shape[1] != model.num_features or y.shape != (X.shape[0],):
        raise ConfigError(f"The 'X' and 'y' parameters of model_report must hold the model's {model.num_features} "
                          f"columns and one label per row. Got {X.shape} and {y.shape} instead.")
    notes: list[str] = []
    if ts is not None and "valid_start_ms" in model.training:
        valid = np.asarray(ts, dtype=np.int64) >= int(model.training["valid_start_ms"])
    else:
        valid = np.ones(len(y), dtype=bool)
        notes.append("No validation period given: every row was evaluated, including training rows.")
    Xv, yv = X[valid], y[valid]
    p = model.predict_proba(Xv)
    score = score_scale_array(p)
    skm = optional_import("sklearn.metrics", extra="train")
    curves: dict[str, list[float]] = {}
    if 0 < yv.sum() < yv.size:
        fpr, tpr, _ = skm.roc_curve(yv, p)
        prec, rec, _ = skm.precision_recall_curve(yv, p)
        step = max(1, len(fpr) // 2000)
        curves = {"fpr": fpr[::step].tolist(), "tpr": tpr[::step].tolist(),
                  "precision": prec[::max(1, len(prec) // 2000)].tolist(),
                  "recall": rec[::max(1, len(rec) // 2000)].tolist()}
    else:
        notes.append("The validation rows hold one class only: no ROC or precision-recall curve.")
    gain = np.asarray(model.booster.feature_importance("gain"), dtype=np.float64)
    splits = np.asarray(model.booster.feature_importance("split"), dtype=np.int64)
    total = gain.sum() or 1.0
    order = np.argsort(-gain, kind="stable")
    importance = [{"feature": model.feature_names[j], "gain": float(gain[j]), "gain_share": float(gain[j] / total),
                   "splits": int(splits[j])} for j in order]
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(yv), size=min(shap_rows, len(yv)), replace=False)) if len(yv) else np.zeros(0, int)
    contrib = model.contributions(Xv[pick]) if pick.size else np.zeros((0, model.num_features + 1))
    mean_abs = np.abs(contrib[:, :-1]).mean(axis=0) if pick.size else np.zeros(model.num_features)
    sorder = np.argsort(-mean_abs, kind="stable")
    shap_summary = []
    for j in sorder:
        v = Xv[pick, j]
        c = contrib[:, j]
        ok = ~np.isnan(v)
        corr = float(np.corrcoef(v[ok], c[ok])[0, 1]) if ok.sum() > 2 and np.std(v[ok]) > 0 and np.std(c[ok]) > 0 \
            else math.nan
        shap_summary.append({"feature": model.feature_names[j], "mean_abs_shap": float(mean_abs[j]),
                             "value_shap_correlation": corr, "missing_share": float(1 - ok.mean()) if len(v) else 0.0})
    top = sorder[:10]
    shap_points = {"features": [model.feature_names[j] for j in top], "shap": contrib[:, top],
                   "values": Xv[pick][:, top]}
    th = model.thresholds
    members = getattr(model, "n_members", None)
    summary = {"kind": getattr(model, "kind", "single"), "members": members, "n_features": model.num_features,
               "trees": int(model.booster.num_trees()), "n_train": int(model.training.get("n_train", 0)),
               "n_fraud_train": int(model.training.get("n_fraud_train", 0)),
               "best_iteration": model.training.get("best_iteration"),
               "calibration": "none" if model.calibrator.is_identity else
               str((model.training.get("config") or {}).get("calibration", "fitted")),
               "review": int(th.review), "decline": int(th.decline)}
    hist = {"genuine": np.bincount(score[yv == 0] // 20, minlength=SCORE_MAX // 20 + 1).tolist(),
            "fraud": np.bincount(score[yv == 1] // 20, minlength=SCORE_MAX // 20 + 1).tolist()}
    metrics = dict(model.metrics)
    return ModelReport(summary=summary, metrics=metrics, n_valid=int(valid.sum()), n_fraud_valid=int(yv.sum()),
                       importance=importance, shap_summary=shap_summary, calibration=_calibration(p, yv),
                       thresholds=_threshold_table(score, yv, int(th.review), int(th.decline)), curves=curves,
                       histograms=hist, shap_points=shap_points, notes=notes)
