"""``fraudscore demo``: the whole flow on built-in synthetic data, end to end.

1. generate a few weeks of loan applications with known fraud (:mod:`fraudscore.synth`);
2. train a bundle on the earlier weeks (:func:`fraudscore.train`), save it (kept,
   in ``out/bundle``) and load it back;
3. score the whole history in one batch call (labels as known at each row's
   time) and report the test week: ROC AUC, average precision, recall at 1 % and
   5 % false-positive rate, the thresholds, a confusion table of action against
   label, the catch rate per fraud scenario and the most frequent reasons;
4. check online = batch honestly: carry the state of the training weeks over
   (a warm start, :mod:`fraudscore.warmstart`), then score the first
   ``online_sample`` test events one at a time with ``score()``, labels fed as
   they arrive, and compare every decision with the batch one;
5. write a PNG report (score histograms by class, precision-recall curves, catch
   rate per scenario) when matplotlib is installed (extra ``plot``).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ._compat import progress
from .keys import Keys
from .model.metrics import average_precision, recall_at_fpr, roc_auc
from .scorer import Scorer, load
from .synth import generate
from .train import train
from .warmstart import ScoringState

__all__ = ["run_demo", "DemoReport", "write_report_png"]

DEMO_SECRET = "fraudscore-demo-secret-not-for-production"
DAY_MS = 86_400_000
ACTIONS = ("approve", "review", "decline")


@dataclass
class DemoReport:
    """Figures printed by the demo (also returned, for tests).

    ``confusion[action]`` counts test rows by action and label (``genuine``,
    ``fraud``); ``false_positive_rate`` is the share of genuine test rows sent
    to review or declined, ``recall`` the share of fraud caught that way.
    """

    n_train: int
    n_test: int
    fraud_rate: float
    metrics: dict[str, float]
    online_eps: float
    batch_eps: float
    parity_mismatches: int
    top_reasons: list[tuple[str, int]]
    actions: dict[str, int]
    scenario_recall: dict[str, float] = field(default_factory=dict)
    linking: dict[str, dict[str, float]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, int] = field(default_factory=dict)
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    false_positive_rate: float = float("nan")
    recall: float = float("nan")
    precision: float = float("nan")
    n_online: int = 0
    bundle_path: str | None = None
    report_png: str | None = None
    png_note: str = ""

    def render(self) -> str:
        """The human-readable report."""
        m = self.metrics
        th = self.thresholds
        conf = self.confusion
        lines = [
            "fraudscore demo — synthetic loan applications",
            f"  train rows {self.n_train:,}, test rows {self.n_test:,}, test fraud rate {self.fraud_rate:.2%}",
            "",
            "Test week (scored in batch; final score = model + rule points, 0-1000):",
            f"  ROC AUC            {m['roc_auc']:.3f}   (model probability alone {m['model_roc_auc']:.3f})",
            f"  average precision  {m['average_precision']:.3f}   (model probability alone "
            f"{m['model_average_precision']:.3f})",
            f"  recall @ 1% FPR    {m['recall_at_1pct_fpr']:.3f}",
            f"  recall @ 5% FPR    {m['recall_at_5pct_fpr']:.3f}",
            f"  thresholds         review at score >= {th.get('review', '?')}, decline at score >= "
            f"{th.get('decline', '?')} (chosen on validation; rules can override)",
            "",
            "  action \\ label        genuine      fraud",
            *(f"  {a:<16} {conf.get(a, {}).get('genuine', 0):>11,} {conf.get(a, {}).get('fraud', 0):>10,}"
              for a in ACTIONS),
            f"  false-positive rate {self.false_positive_rate:.2%} of genuine applications sent to review or declined",
            f"  recall              {self.recall:.2%} of fraud sent to review or declined "
            f"(precision {self.precision:.2%})",
            "",
            "  fraud caught (sent to review or declined), by scenario:",
            *(f"    {k:<20} {v:.1%}" for k, v in self.scenario_recall.items() if k != "genuine"),
            "",
            "Device linking (all weeks, share of rows whose device was already used by another ID in 24 h):",
            f"  {'device key':<34} {'device farm':>12} {'genuine':>9}",
            *(f"  {k:<34} {v['device_farm']:>12.1%} {v['genuine']:>9.1%}" for k, v in self.linking.items()),
            "",
            "Most frequent reasons (test week):",
            *(f"  {code:<28} {n:,}" for code, n in self.top_reasons),
            "",
            "Throughput:",
            f"  online  {self.online_eps:,.0f} events/s (score() per event, memory store, 1 thread)",
            f"  batch   {self.batch_eps:,.0f} events/s (score_batch on the whole history)",
            f"  online = batch: {'yes' if self.parity_mismatches == 0 else 'NO'} "
            f"({self.parity_mismatches} of {self.n_online:,} test events scored both ways differ; the online "
            "scorer continued from the training weeks' state)",
        ]
        if self.bundle_path:
            lines += ["", f"Bundle kept in {self.bundle_path} (fraudscore score ... --bundle {self.bundle_path})"]
        if self.report_png:
            lines.append(f"Report chart: {self.report_png}")
        elif self.png_note:
            lines.append(self.png_note)
        return "\n".join(lines)


def _linking_effect(rec: dict[str, np.ndarray], scenario: np.ndarray) -> dict[str, dict[str, float]]:
    """How often a device is seen with another identity in 24 h, by the device key used.

    The exact fingerprint id splits a device whenever an attribute drifts; the
    linked ``device_id`` follows natural drift; a farm that randomises every
    resettable attribute is only held together by its hardware section and
    network, hence the composite key.
    """
    from .velocity import FeatureSet, FeatureSpec, replay

    # rows whose link is below MIN_LINK_CONFIDENCE have no device_id (never "used by another ID")
    keys = {"exact fingerprint id (no linking)": "device_fp", "linked device id (confident)": "device_id",
            "hardware section + IP /24": ("device_hw", "ip_prefix"), "hardware section alone": "device_hw"}
    fset = FeatureSet([FeatureSpec("distinct", key=k, of="applicant_id", window="24h") for k in keys.values()])
    shared = replay(fset, rec) >= 2
    out = {}
    for j, label in enumerate(keys):
        col = shared[:, j]
        out[label] = {sc: float(col[scenario == sc].mean()) if (scenario == sc).any() else float("nan")
                      for sc in ("device_farm", "genuine")}
    return out


def write_report_png(path: str | Path, y: np.ndarray, score: np.ndarray, probability: np.ndarray,
                     scenario_recall: dict[str, float], thresholds: dict[str, int]) -> Path:
    """A three-panel PNG: final-score histograms by class, precision-recall curves, catch rate per scenario.

    Needs matplotlib (extra ``plot``).
    """
    from ._compat import optional_import

    mpl = optional_import("matplotlib", extra="plot")
    mpl.use("Agg")
    plt = optional_import("matplotlib.pyplot", extra="plot")
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.2))
    bins = np.linspace(0, 1000, 51)
    ax1.hist(score[y == 0], bins=bins, alpha=0.6, label="genuine", density=True)
    ax1.hist(score[y == 1], bins=bins, alpha=0.6, label="fraud", density=True)
    for name, t in thresholds.items():
        ax1.axvline(t, color="k", ls="--" if name == "review" else ":", lw=1, label=f"{name} >= {t}")
    ax1.set_yscale("log")
    ax1.set_xlabel("final score")
    ax1.set_ylabel("density (log)")
    ax1.set_title("Scores by class (test week)")
    ax1.legend(fontsize=8)
    for values, label in ((score.astype(np.float64), "final score"), (probability, "model probability")):
        order = np.argsort(-values, kind="stable")
        hits = np.cumsum(y[order])
        prec = hits / np.arange(1, len(y) + 1)
        rec = hits / max(1, int(y.sum()))
        ax2.plot(rec, prec, label=f"{label} (AP {average_precision(y, values):.3f})")
    ax2.axhline(float(y.mean()), color="grey", ls=":", lw=1, label=f"base rate {y.mean():.2%}")
    ax2.set_xlabel("recall")
    ax2.set_ylabel("precision")
    ax2.set_title("Precision-recall (test week)")
    ax2.legend(fontsize=8)
    names = [k for k in scenario_recall if k != "genuine"]
    ax3.barh(names, [scenario_recall[k] for k in names])
    if "genuine" in scenario_recall:
        ax3.axvline(scenario_recall["genuine"], color="r", ls="--", lw=1,
                    label=f"genuine flagged {scenario_recall['genuine']:.1%}")
        ax3.legend(fontsize=8, loc="lower right")
    ax3.set_xlim(0, 1)
    ax3.set_xlabel("share sent to review or declined")
    ax3.set_title("Fraud caught, by scenario")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def run_demo(
    *,
    days: int = 35,
    per_day: int = 1500,
    test_days: int = 7,
    seed: int = 4,
    show_progress: bool = True,
    log: Callable[[str], Any] = print,
    out: str | Path | None = None,
    online_sample: int = 2000,
) -> DemoReport:
    """Run the demo and return its report (see the module docstring).

    Parameters
    ----------
    days : int
        Days of synthetic applications.
    per_day : int
        Applications per day (on average).
    test_days : int
        The last ``test_days`` are the test week; the rest train the model.
    seed : int
        Seed of the generator and of the model.
    show_progress : bool
        Show progress bars (needs ``rich``).
    log : callable
        Where progress messages go.
    out : path, optional
        Folder for the bundle (``out/bundle``) and the PNG report (``out/report.png``);
        a temporary folder, deleted at the end, when omitted.
    online_sample : int
        Test events also scored online, one at a time (0 skips the online check).
    """
    import tempfile

    keys = Keys(DEMO_SECRET)
    timings: dict[str, float] = {}
    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory()
        folder = Path(tmp.name)
    else:
        folder = Path(out)
    try:
        t0 = time.perf_counter()
        data = generate(n_days=days, per_day=per_day, seed=seed)
        timings["generate"] = time.perf_counter() - t0
        cols, labels = data.columns, data.labels
        ts = cols["ts"]
        cut = int(ts.min()) + (days - test_days) * DAY_MS
        n_train = int(np.searchsorted(ts, cut))
        train_part = data.slice(0, n_train)
        log(f"generated {len(data):,} applications over {days} days in {timings['generate']:.1f}s; training on "
            f"the first {days - test_days} days ({n_train:,} rows)")

        t0 = time.perf_counter()
        result = train(train_part.columns, train_part.labels, key=keys, config={"model": {"seed": seed}},
                       progress=show_progress)
        timings["train"] = time.perf_counter() - t0
        bundle_path = folder / "bundle"
        result.save(bundle_path)
        scorer = load(str(bundle_path), key=keys)
        log(f"trained and saved a bundle in {timings['train']:.1f}s "
            f"(validation AUC {result.bundle.model.metrics.get('roc_auc', float('nan')):.3f}) -> {bundle_path}")

        # Batch: the whole history in one call, labels as known at each row's time.
        lab_ids, lab_fraud, lab_ts = labels["application_id"], labels["is_fraud"], labels["label_ts"]
        all_labels = {"application_id": lab_ids, "is_fraud": lab_fraud, "label_ts": lab_ts}
        s = time.perf_counter()
        cb, rec, X = scorer.features_batch(cols, labels=all_labels)
        batch = scorer.decide_batch(cb, rec, X)  # the two halves of score_batch, timed together
        batch_eps = len(data) / (time.perf_counter() - s)
        timings["batch"] = time.perf_counter() - s

        # Online, honestly: the training weeks' state carried over, then score() one event at a time.
        mismatches, n_online, online_eps = 0, 0, float("nan")
        n_online = min(max(0, online_sample), len(data) - n_train)
        if n_online:
            s = time.perf_counter()
            state = ScoringState.new(scorer)
            known = lab_ts <= cut
            scorer.score_batch(train_part.columns, state=state,
                               labels={k: v[known] for k, v in all_labels.items()})
            timings["state"] = time.perf_counter() - s
            online = Scorer(scorer.bundle, keys, state=state)
            events = data.slice(n_train, n_train + n_online).to_records()
            pending = np.flatnonzero(~known)
            pending = pending[np.argsort(lab_ts[pending], kind="stable")]
            j = 0
            t_online = 0.0
            with progress(show_progress, unit="events") as bar:
                task = bar.add_task("online score()", total=n_online)
                for k, ev in enumerate(events):
                    t = int(ts[n_train + k])
                    while j < len(pending) and lab_ts[pending[j]] <= t:
                        q = pending[j]
                        online.record_label(lab_ids[q], bool(lab_fraud[q]), int(lab_ts[q]))
                        j += 1
                    s = time.perf_counter()
                    d = online.score(ev)
                    t_online += time.perf_counter() - s
                    i = n_train + k
                    if d.action != batch.action[i] or d.score != batch.score[i] or not np.isclose(
                            d.probability, batch.probability[i], rtol=0, atol=0, equal_nan=True):
                        mismatches += 1
                    if k % 500 == 0:
                        bar.update(task, completed=k)
                bar.update(task, completed=n_online)
            online_eps = n_online / t_online if t_online > 0 else float("nan")

        linking = _linking_effect(rec, labels["scenario"])
        test = np.arange(n_train, len(data))
        y = labels["is_fraud"][n_train:].astype(int)
        p = batch.probability[test]
        final = batch.score[test].astype(np.float64)
        metrics = {
            "roc_auc": roc_auc(y, final),
            "average_precision": average_precision(y, final),
            "recall_at_1pct_fpr": recall_at_fpr(y, final, 0.01),
            "recall_at_5pct_fpr": recall_at_fpr(y, final, 0.05),
            "model_roc_auc": roc_auc(y, p),
            "model_average_precision": average_precision(y, p),
        }
        action = batch.action[test]
        reasons = Counter(r.code for i in test.tolist() for r in batch.reasons[i])
        flagged = action != "approve"
        confusion = {a: {"genuine": int(np.sum((action == a) & (y == 0))), "fraud": int(np.sum((action == a) & (y == 1)))}
                     for a in ACTIONS}
        scen = labels["scenario"][n_train:]
        scenario_recall = {str(sc): float(flagged[scen == sc].mean()) for sc in sorted(set(scen.tolist()))
                           if (scen == sc).any()}
        th = {"review": int(scorer.policy.review), "decline": int(scorer.policy.decline)}
        report = DemoReport(
            n_train=n_train,
            n_test=len(test),
            fraud_rate=float(y.mean()),
            metrics=metrics,
            online_eps=online_eps,
            batch_eps=batch_eps,
            parity_mismatches=mismatches,
            top_reasons=reasons.most_common(8),
            actions={a: int(np.sum(action == a)) for a in ACTIONS},
            scenario_recall=scenario_recall,
            linking=linking,
            timings=timings,
            thresholds=th,
            confusion=confusion,
            false_positive_rate=float(flagged[y == 0].mean()) if (y == 0).any() else float("nan"),
            recall=float(flagged[y == 1].mean()) if (y == 1).any() else float("nan"),
            precision=float(y[flagged].mean()) if flagged.any() else float("nan"),
            n_online=n_online,
            bundle_path=None if tmp is not None else str(bundle_path),
        )
        if tmp is None:
            try:
                report.report_png = str(write_report_png(folder / "report.png", y, final, p, scenario_recall, th))
            except ImportError:
                report.png_note = "No chart: install matplotlib (pip install 'fraudscore[plot]') for report.png"
        return report
    finally:
        if tmp is not None:
            tmp.cleanup()
