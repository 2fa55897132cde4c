"""PNG charts of a :class:`~fraudscore.model.report.ModelReport` (extra ``plot``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import _plot
from .._plot import save

__all__ = ["draw"]


def draw(rep: Any, directory: str | Path) -> tuple[list[Path], str | None]:
    """Draw the report's charts into ``directory``; ``([], note)`` without matplotlib."""
    plt = _plot.pyplot()
    if plt is None:
        return [], _plot.NO_PLOT_NOTE
    out = Path(directory)
    paths: list[Path] = []

    # 1. importance: gain share and mean |SHAP|, top 20
    top = rep.importance[:20][::-1]
    shap = rep.shap_summary[:20][::-1]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 0.3 * max(len(top), 5) + 1.5))
    a1.barh([r["feature"][:45] for r in top], [r["gain_share"] for r in top], color="tab:blue")
    a1.set_xlabel("share of total gain")
    a1.set_title("Importance: gain")
    a2.barh([r["feature"][:45] for r in shap], [r["mean_abs_shap"] for r in shap], color="tab:purple")
    a2.set_xlabel("mean |SHAP| (log-odds), validation rows")
    a2.set_title("Importance: SHAP")
    for a in (a1, a2):
        a.tick_params(axis="y", labelsize=7)
    paths.append(save(fig, out / "importance.png"))

    # 2. SHAP summary: one row of dots per top feature, coloured by the feature's value rank
    pts = rep.shap_points
    if pts and len(pts.get("features", [])) and np.asarray(pts["shap"]).size:
        names = pts["features"]
        sv, xv = np.asarray(pts["shap"]), np.asarray(pts["values"])
        fig, ax = plt.subplots(figsize=(9, 0.45 * len(names) + 1.5))
        rng = np.random.default_rng(0)
        for i in range(len(names)):
            v = xv[:, i]
            rank = np.full(v.shape, 0.5)
            ok = ~np.isnan(v)
            if ok.any():
                order = v[ok].argsort().argsort()
                rank[ok] = order / max(ok.sum() - 1, 1)
            yy = len(names) - 1 - i + rng.uniform(-0.3, 0.3, size=v.size)
            ax.scatter(sv[:, i], yy, c=rank, cmap="coolwarm", s=4, alpha=0.6, vmin=0, vmax=1)
        ax.axvline(0, color="k", lw=0.5)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels([n[:45] for n in names[::-1]], fontsize=7)
        ax.set_xlabel("SHAP value (log-odds); colour: feature value rank (blue low, red high)")
        ax.set_title("SHAP summary, validation rows")
        paths.append(save(fig, out / "shap_summary.png"))

    # 3. calibration
    if rep.calibration:
        fig, ax = plt.subplots(figsize=(5.5, 5))
        pr = [b["predicted"] for b in rep.calibration]
        ob = [b["observed"] for b in rep.calibration]
        hi = max(max(pr), max(ob), 1e-3)
        ax.plot([0, hi], [0, hi], "k:", lw=1, label="perfect")
        ax.plot(pr, ob, "o-", label="model")
        ax.set_xlabel("mean predicted probability")
        ax.set_ylabel("observed fraud rate")
        ax.set_title(f"Calibration (Brier {rep.metrics.get('brier', float('nan')):.4f})")
        ax.legend()
        paths.append(save(fig, out / "calibration.png"))

    # 4. ROC and PR curves
    c = rep.curves
    if c:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
        a1.plot(c["fpr"], c["tpr"], label=f"AUC {rep.metrics.get('roc_auc', float('nan')):.3f}")
        a1.plot([0, 1], [0, 1], "k:", lw=1)
        a1.set_xlabel("false-positive rate")
        a1.set_ylabel("recall (true-positive rate)")
        a1.set_title("ROC curve")
        a1.legend(loc="lower right")
        a2.plot(c["recall"], c["precision"], label=f"AP {rep.metrics.get('average_precision', float('nan')):.3f}")
        base = rep.n_fraud_valid / rep.n_valid if rep.n_valid else 0.0
        a2.axhline(base, color="k", ls=":", lw=1, label=f"fraud rate {base:.3%}")
        a2.set_xlabel("recall")
        a2.set_ylabel("precision")
        a2.set_title("Precision-recall curve")
        a2.legend(loc="upper right")
        paths.append(save(fig, out / "pr_roc.png"))

    # 5. score histograms by class
    h = rep.histograms
    if h:
        fig, ax = plt.subplots(figsize=(9, 4))
        edges = np.arange(len(h["genuine"])) * 20
        for k, col in (("genuine", "tab:green"), ("fraud", "tab:red")):
            v = np.asarray(h[k], dtype=float)
            if v.sum():
                ax.bar(edges + (0 if k == "genuine" else 8), v / v.sum(), width=8, color=col, alpha=0.8,
                       label=f"{k} ({int(v.sum()):,})")
        for name, val, ls in (("review", rep.summary.get("review"), "--"), ("decline", rep.summary.get("decline"), "-")):
            if val is not None and val <= 1000:
                ax.axvline(val, color="k", ls=ls, lw=1, label=f"{name} >= {val}")
        ax.set_yscale("log")
        ax.set_xlabel("model score (0..1000), bins of 20")
        ax.set_ylabel("share of the class")
        ax.set_title("Score by class, validation rows")
        ax.legend(fontsize=8)
        paths.append(save(fig, out / "score_hist.png"))
    return paths, None
