"""``fraudscore demo``: the whole flow on built-in synthetic data, end to end.

1. generate a few weeks of loan applications with known fraud (:mod:`fraudscore.synth`);
2. train a bundle on the earlier weeks (:func:`fraudscore.train`), save it and load it back;
3. score the later week online, one event at a time, with labels fed back as they
   become known, and the whole history in one batch call;
4. report ROC AUC, average precision, recall at 1 % and 5 % false-positive rate,
   the most frequent reasons, and the throughput of both paths, and check that
   the two paths agree.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ._compat import progress
from .keys import Keys
from .model.metrics import average_precision, recall_at_fpr, roc_auc
from .scorer import Scorer, load
from .synth import generate
from .train import train

__all__ = ["run_demo", "DemoReport"]

DEMO_SECRET = "fraudscore-demo-secret-not-for-production"
DAY_MS = 86_400_000


@dataclass
class DemoReport:
    """Figures printed by the demo (also returned, for tests)."""

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

    def render(self) -> str:
        """The human-readable report."""
        m = self.metrics
        lines = [
            "fraudscore demo — synthetic loan applications",
            f"  train rows {self.n_train:,}, test rows {self.n_test:,}, test fraud rate {self.fraud_rate:.2%}",
            "",
            "Test week (scored online, one event at a time; final score = model + rule points):",
            f"  ROC AUC            {m['roc_auc']:.3f}   (model probability alone {m['model_roc_auc']:.3f})",
            f"  average precision  {m['average_precision']:.3f}   (model probability alone "
            f"{m['model_average_precision']:.3f})",
            f"  recall @ 1% FPR    {m['recall_at_1pct_fpr']:.3f}",
            f"  recall @ 5% FPR    {m['recall_at_5pct_fpr']:.3f}",
            "  actions            " + ", ".join(f"{k} {v:,}" for k, v in self.actions.items()),
            "  caught (review or decline) by scenario:",
            *(f"    {k:<20} {v:.1%}" for k, v in self.scenario_recall.items()),
            "",
            "Device linking (all weeks, share of rows whose device was already used by another ID in 24 h):",
            f"  {'device key':<34} {'device farm':>12} {'genuine':>9}",
            *(f"  {k:<34} {v['device_farm']:>12.1%} {v['genuine']:>9.1%}" for k, v in self.linking.items()),
            "",
            "Most frequent reasons:",
            *(f"  {code:<28} {n:,}" for code, n in self.top_reasons),
            "",
            "Throughput:",
            f"  online  {self.online_eps:,.0f} events/s (score() per event, memory store, 1 thread)",
            f"  batch   {self.batch_eps:,.0f} events/s (score_batch on the whole history)",
            f"  online = batch: {'yes' if self.parity_mismatches == 0 else 'NO'} "
            f"({self.parity_mismatches} of {self.n_test:,} test decisions differ)",
        ]
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


def run_demo(
    *,
    days: int = 35,
    per_day: int = 1500,
    test_days: int = 7,
    seed: int = 4,
    show_progress: bool = True,
    log: Callable[[str], Any] = print,
) -> DemoReport:
    """Run the demo and return its report (see the module docstring).

    Parameters
    ----------
    days : int
        Days of synthetic applications.
    per_day : int
        Applications per day (on average).
    test_days : int
        The last ``test_days`` are scored; the rest train the model.
    seed : int
        Seed of the generator and of the model.
    show_progress : bool
        Show progress bars (needs ``rich``).
    log : callable
        Where progress messages go.
    """
    keys = Keys(DEMO_SECRET)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    data = generate(n_days=days, per_day=per_day, seed=seed)
    timings["generate"] = time.perf_counter() - t0
    cols, labels = data.columns, data.labels
    ts = cols["ts"]
    cut = int(ts.min()) + (days - test_days) * DAY_MS
    n_train = int(np.searchsorted(ts, cut))
    train_part = data.slice(0, n_train)
    log(f"generated {len(data):,} applications over {days} days in {timings['generate']:.1f}s; training on the first "
        f"{days - test_days} days ({n_train:,} rows)")

    t0 = time.perf_counter()
    result = train(train_part.columns, train_part.labels, key=keys, config={"model": {"seed": seed}})
    timings["train"] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        result.save(tmp + "/bundle")
        scorer = load(tmp + "/bundle", key=keys)
    log(f"trained and saved a bundle in {timings['train']:.1f}s "
        f"(validation AUC {result.bundle.model.metrics.get('roc_auc', float('nan')):.3f})")

    # Online: every event in arrival order; labels fed back once their label time has passed.
    events = data.to_records()
    lab_order = np.argsort(labels["label_ts"], kind="stable")
    lab_ids, lab_fraud, lab_ts = labels["application_id"], labels["is_fraud"], labels["label_ts"]
    j = 0
    decisions = []
    t_online = 0.0
    with progress(show_progress) as bar:
        task = bar.add_task("online score()", total=len(events))
        for i, ev in enumerate(events):
            t = int(ts[i])
            while j < len(lab_order) and lab_ts[lab_order[j]] <= t:
                k = lab_order[j]
                scorer.record_label(lab_ids[k], bool(lab_fraud[k]), int(lab_ts[k]))
                j += 1
            s = time.perf_counter()
            d = scorer.score(ev)
            t_online += time.perf_counter() - s
            if i >= n_train:
                decisions.append(d)
            if i % 2000 == 0:
                bar.update(task, completed=i)
        bar.update(task, completed=len(events))
    online_eps = len(events) / t_online

    # Batch: the same history in one call, labels as known at each row's time.
    batch_scorer = Scorer(scorer.bundle, keys)
    s = time.perf_counter()
    cb, rec, X = batch_scorer.features_batch(cols, labels={"application_id": lab_ids, "is_fraud": lab_fraud,
                                                           "label_ts": lab_ts})
    batch = batch_scorer.decide_batch(cb, rec, X)  # the two halves of score_batch, timed together
    batch_eps = len(events) / (time.perf_counter() - s)
    test_rows = np.arange(n_train, len(events))
    mismatches = 0
    for d, i in zip(decisions, test_rows):
        if d.action != batch.action[i] or d.score != batch.score[i] or not np.isclose(
                d.probability, batch.probability[i], rtol=0, atol=0, equal_nan=True):
            mismatches += 1

    linking = _linking_effect(rec, labels["scenario"])

    y = labels["is_fraud"][n_train:].astype(int)
    p = np.array([d.probability for d in decisions])
    final = np.array([d.score for d in decisions], dtype=np.float64)
    metrics = {
        "roc_auc": roc_auc(y, final),
        "average_precision": average_precision(y, final),
        "recall_at_1pct_fpr": recall_at_fpr(y, final, 0.01),
        "recall_at_5pct_fpr": recall_at_fpr(y, final, 0.05),
        "model_roc_auc": roc_auc(y, p),
        "model_average_precision": average_precision(y, p),
    }
    reasons = Counter(r.code for d in decisions for r in d.reasons)
    actions = Counter(d.action for d in decisions)
    flagged = np.array([d.action != "approve" for d in decisions])
    scen = labels["scenario"][n_train:]
    scenario_recall = {str(sc): float(flagged[scen == sc].mean()) for sc in sorted(set(scen.tolist()))
                       if (scen == sc).any()}
    return DemoReport(
        n_train=n_train,
        n_test=len(decisions),
        fraud_rate=float(y.mean()),
        metrics=metrics,
        online_eps=online_eps,
        batch_eps=batch_eps,
        parity_mismatches=mismatches,
        top_reasons=reasons.most_common(8),
        actions={a: actions.get(a, 0) for a in ("approve", "review", "decline")},
        scenario_recall=scenario_recall,
        linking=linking,
        timings=timings,
    )
