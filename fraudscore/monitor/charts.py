"""PNG charts of a :class:`~fraudscore.monitor.report.MonitorReport` (extra ``plot``).

Examples
--------
>>> import tempfile
>>> from fraudscore.monitor.report import MonitorReport, PeriodStats, AlertRules
>>> rep = MonitorReport([PeriodStats("2026-01-01", 0, 10, score_psi=0.01, score_counts=[5, 5])], [], AlertRules(),
...                     "day", None, {"score": {"edges": [1.0], "shares": [0.5, 0.5], "missing": 0.0}}, [])
>>> paths, note = draw(rep, tempfile.mkdtemp())
>>> note is None and sorted(p.name for p in paths)[0]
'actions.png'
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import _plot
from .._plot import save

__all__ = ["draw"]


def draw(report: Any, directory: str | Path) -> tuple[list[Path], str | None]:
    """Draw the charts into ``directory``; returns their paths, or ``([], note)`` without matplotlib."""
    plt = _plot.pyplot()
    if plt is None:
        return [], _plot.NO_PLOT_NOTE
    out = Path(directory)
    periods = report.periods
    x = np.arange(len(periods))
    labels = [p.period[5:] for p in periods]
    step = max(1, len(periods) // 12)
    rules = report.rules
    paths = []

    def axis(ax: Any) -> None:
        ax.set_xticks(x[::step])
        ax.set_xticklabels(labels[::step], rotation=45, ha="right", fontsize=8)

    # 1. stability: score PSI and the worst features
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(x, [p.score_psi for p in periods], "k-o", ms=3, label="score")
    worst = sorted(report.features, key=lambda f: -max((p.feature_psi.get(f, 0.0) or 0.0) if not
                                                       math.isnan(p.feature_psi.get(f, 0.0)) else 0.0
                                                       for p in periods))[:5]
    for f in worst:
        ax.plot(x, [p.feature_psi.get(f, math.nan) for p in periods], "-", lw=1, label=f[:40])
    ax.axhline(rules.psi_warn, color="orange", ls="--", lw=1, label=f"warning {rules.psi_warn:g}")
    ax.axhline(rules.psi_alert, color="red", ls="--", lw=1, label=f"alert {rules.psi_alert:g}")
    ax.set_ylabel("PSI vs training")
    ax.set_title("Population stability of the score and the least stable features")
    axis(ax)
    ax.legend(fontsize=7, loc="upper left")
    paths.append(save(fig, out / "stability.png"))

    # 2. feature PSI heatmap (the 15 least stable features)
    if report.features:
        top = sorted(report.features, key=lambda f: -np.nanmax([p.feature_psi.get(f, np.nan) for p in periods]
                                                              + [0.0]))[:15]
        m = np.array([[p.feature_psi.get(f, np.nan) for p in periods] for f in top])
        fig, ax = plt.subplots(figsize=(9, 0.35 * len(top) + 1.5))
        im = ax.imshow(m, aspect="auto", cmap="Reds", vmin=0, vmax=max(rules.psi_alert * 2, float(np.nanmax(m))
                                                                         if np.isfinite(m).any() else 0.5))
        ax.set_yticks(range(len(top)))
        ax.set_yticklabels([f[:45] for f in top], fontsize=7)
        axis(ax)
        ax.set_title("Feature PSI by period")
        fig.colorbar(im, ax=ax)
        paths.append(save(fig, out / "feature_psi.png"))

    # 3. actions
    fig, ax = plt.subplots(figsize=(9, 4))
    for k, c in (("review", "tab:orange"), ("decline", "tab:red")):
        ax.plot(x, [p.actions.get(k, math.nan) for p in periods], "-o", ms=3, color=c, label=f"{k} (final)")
        ax.plot(x, [p.model_actions.get(k, math.nan) for p in periods], ":", color=c, label=f"{k} (model only)")
        r0 = report.reference.get("actions", {}).get(f"{k}_rate")
        if r0 is not None:
            ax.axhline(r0, color=c, lw=0.8, ls="--", label=f"{k} at training")
    ax.set_ylabel("share of applications")
    ax.set_title("Action rates")
    axis(ax)
    ax.legend(fontsize=7)
    paths.append(save(fig, out / "actions.png"))

    # 4. performance as labels arrive
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(x, [p.precision.get("flagged", math.nan) for p in periods], "-o", ms=3, label="precision (flagged)")
    ax.plot(x, [p.recall.get("flagged", math.nan) for p in periods], "-o", ms=3, label="recall (flagged)")
    ax.plot(x, [p.average_precision for p in periods], "-", label="average precision")
    ax.plot(x, [p.label_coverage for p in periods], "k:", label="labelled share")
    ax.set_ylim(0, 1.02)
    ax.set_title("Performance as labels arrive")
    axis(ax)
    ax.legend(fontsize=7)
    paths.append(save(fig, out / "performance.png"))

    # 5. score distribution: training reference vs the last period and the least stable one
    ref = report.reference.get("score", {})
    if periods and ref.get("shares"):
        nb = len(ref["shares"])
        worst_p = max(periods, key=lambda p: -1 if math.isnan(p.score_psi) else p.score_psi)
        fig, ax = plt.subplots(figsize=(9, 4))
        w = 0.28
        ax.bar(np.arange(nb) - w, ref["shares"], w, label="training (validation rows)")
        for off, p in ((0.0, periods[-1]), (w, worst_p)):
            tot = max(sum(p.score_counts), 1)
            ax.bar(np.arange(nb) + off, np.asarray(p.score_counts[:nb]) / tot, w, label=f"{p.period}")
        edges = ref.get("edges", [])
        ax.set_xticks(range(nb))
        ax.set_xticklabels(["<= " + f"{e:g}" for e in edges] + ["> " + (f"{edges[-1]:g}" if edges else "")],
                           rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("share of rows")
        ax.set_title("Model score distribution (reference bins)")
        ax.legend(fontsize=7)
        paths.append(save(fig, out / "score_distribution.png"))
    return paths, None
