"""Monitoring scored output over time: stability, action rates, performance as labels arrive, alerts.

:func:`monitor` takes scored output (a ``DecisionBatch``, the DataFrame of
``score_batch(...).to_pandas()`` or the file ``fraudscore score --features``
writes: event time ``ts``, ``probability``, ``score``, ``action`` and, for
feature stability, the feature columns), the model's training reference
(``reference.json`` in the bundle, see :mod:`fraudscore.monitor.reference`)
and, optionally, labels. For every period (UTC day or ISO week) it reports:

* **stability**: the PSI of the model score and of each model feature against
  the training reference;
* **actions**: the share of approve / review / decline (the final actions,
  rules included) and the model-only review and decline rates (the model's
  score against the bundle's thresholds);
* **performance as labels arrive**: on the rows whose label is known by
  ``as_of`` (all labels in the table by default): precision and recall of
  review, decline and both ("flagged"), the average precision of the score,
  and the label coverage.

Alerts (:class:`AlertRules`, all documented in ``docs/monitoring.md``):

* ``score_psi`` / ``feature_psi``: PSI >= 0.25 is an *alert*, 0.1 .. 0.25 a
  *warning* (the usual convention), in periods of at least ``min_rows`` rows;
* ``action_rate``: a model-only review or decline rate more than 50 % away
  from the reference rate (relative), more than 4 standard errors away
  (binomial, both samples) *and* at least 1 percentage point away;
* ``precision`` / ``recall``: flagged precision or recall below half the
  reference and more than 4 standard errors below it, once at least
  ``min_label_coverage`` of the period's rows are labelled and at least 30
  labelled rows are flagged / 20 are fraud (a period whose labels are still
  arriving is biased: frauds are usually confirmed before genuine outcomes).

Examples
--------
>>> rng = np.random.default_rng(0)
>>> from fraudscore.monitor.reference import build_reference
>>> ref = build_reference(rng.normal(size=(5000, 1)), ["amount"], rng.integers(0, 300, 2000),
...                       thresholds={"review": 200, "decline": 280, "review_rate": 0.27, "decline_rate": 0.07})
>>> day, t0 = 86_400_000, to_epoch_ms("2026-03-01")
>>> ts = t0 + np.repeat(np.arange(20) * day, 1000)
>>> amount = rng.normal(size=20_000); amount[ts >= t0 + 15 * day] += 1.5        # a shift from day 15 on
>>> scored = {"ts": ts, "probability": rng.integers(0, 300, 20_000) / 1000, "action": np.array(["approve"] * 20_000),
...           "amount": amount}
>>> rep = monitor(scored, ref)
>>> sorted({(a.period, a.subject) for a in rep.alerts if a.level == "alert"})[:2]
[('2026-03-16', 'amount'), ('2026-03-17', 'amount')]
>>> rep.first_alert_period("amount"), rep.first_alert_period("amount", "warning"), rep.first_alert_period("score")
('2026-03-16', '2026-03-16', None)
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..decision import ACTIONS
from ..errors import ConfigError
from ..model.metrics import average_precision
from ..timeutil import to_epoch_ms
from .reference import PSI_ALERT, PSI_WARN, SCORE, bin_counts, psi_from_counts

__all__ = ["AlertRules", "Alert", "PeriodStats", "MonitorReport", "monitor", "DAY_MS"]

DAY_MS = 86_400_000
_FREQS = ("day", "week")


@dataclass(frozen=True)
class AlertRules:
    """When :func:`monitor` raises a warning or an alert (see the module docstring).

    Examples
    --------
    >>> AlertRules().psi_alert, AlertRules(psi_warn=0.2).psi_warn
    (0.25, 0.2)
    """

    psi_warn: float = PSI_WARN
    psi_alert: float = PSI_ALERT
    min_rows: int = 200
    rate_change: float = 0.5
    rate_z: float = 4.0
    rate_min_diff: float = 0.01
    min_label_coverage: float = 0.8
    min_flagged: int = 30
    min_frauds: int = 20
    drop: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.psi_warn <= self.psi_alert:
            raise ConfigError(f"The 'psi_warn' parameter of AlertRules must be in (0, psi_alert]. Got "
                              f"{self.psi_warn!r} instead.")
        for name in ("rate_change", "min_label_coverage", "drop"):
            if not 0 < getattr(self, name) <= 1:
                raise ConfigError(f"The {name!r} parameter of AlertRules must be in (0, 1]. Got "
                                  f"{getattr(self, name)!r} instead.")


@dataclass
class Alert:
    """One warning or alert.

    Attributes
    ----------
    period : str
        The period (``YYYY-MM-DD``, its first day).
    kind : {"score_psi", "feature_psi", "action_rate", "precision", "recall"}
    subject : str
        ``"score"``, the feature name, or the action (``review``, ``decline``, ``flagged``).
    value, reference : float
        The measured value and what it was compared with.
    level : {"warning", "alert"}
    message : str
    """

    period: str
    kind: str
    subject: str
    value: float
    reference: float
    level: str
    message: str


@dataclass
class PeriodStats:
    """What :func:`monitor` measured in one period."""

    period: str
    start_ms: int
    n: int
    actions: dict[str, float] = field(default_factory=dict)
    model_actions: dict[str, float] = field(default_factory=dict)
    score_mean: float = math.nan
    score_psi: float = math.nan
    feature_psi: dict[str, float] = field(default_factory=dict)
    labelled: int = 0
    frauds: int = 0
    flagged_labelled: int = 0
    label_coverage: float = 0.0
    precision: dict[str, float] = field(default_factory=dict)
    recall: dict[str, float] = field(default_factory=dict)
    average_precision: float = math.nan
    score_counts: list[int] = field(default_factory=list)


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_clean(x) for x in v]
    return v


def _fmt(v: float, digits: int = 3) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


@dataclass
class MonitorReport:
    """The result of :func:`monitor`: per-period statistics, alerts and notes.

    :meth:`to_dict` (JSON), :meth:`render` (Markdown) and :meth:`save` (both,
    plus PNG charts when matplotlib is installed).
    """

    periods: list[PeriodStats]
    alerts: list[Alert]
    rules: AlertRules
    freq: str
    as_of: int | None
    reference: dict[str, Any]
    features: list[str]
    notes: list[str] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)

    def first_alert_period(self, subject: str, level: str = "alert") -> str | None:
        """The first period with an alert (or ``level="warning"``: warning or alert) on ``subject``."""
        ok = ("alert",) if level == "alert" else ("warning", "alert")
        hits = sorted(a.period for a in self.alerts if a.subject == subject and a.level in ok)
        return hits[0] if hits else None

    def to_dict(self) -> dict[str, Any]:
        """Plain-data (strict JSON) form."""
        return _clean({
            "freq": self.freq, "as_of": self.as_of, "rules": asdict(self.rules),
            "reference": {"n_rows": self.reference.get("n_rows"), "period": self.reference.get("period"),
                          "score_period": self.reference.get("score_period"),
                          "actions": self.reference.get("actions", {})},
            "features": self.features,
            "periods": [{k: v for k, v in asdict(p).items() if k != "score_counts"} for p in self.periods],
            "alerts": [asdict(a) for a in self.alerts], "notes": self.notes, "charts": self.charts,
        })

    def render(self) -> str:
        """The report as Markdown."""
        r = self.rules
        n_alert = sum(a.level == "alert" for a in self.alerts)
        n_warn = sum(a.level == "warning" for a in self.alerts)
        lines = ["# Monitoring report", "",
                 f"{len(self.periods)} periods ({self.freq}), {sum(p.n for p in self.periods):,} scored rows; "
                 f"**{n_alert} alerts, {n_warn} warnings**. Labels known "
                 + (f"by {_iso(self.as_of)}" if self.as_of is not None else "as given") + ".", "",
                 f"PSI: warning at {r.psi_warn:g}, alert at {r.psi_alert:g} (periods with at least {r.min_rows} "
                 "rows); action rates: more than "
                 f"{r.rate_change:.0%}, {r.rate_z:g} standard errors and {r.rate_min_diff:.0%} from the reference; "
                 f"precision / recall: below {1 - r.drop:.0%} of the reference and {r.rate_z:g} standard errors "
                 f"under it, once {r.min_label_coverage:.0%} of a period is labelled.",
                 ""]
        for note in self.notes:
            lines.append(f"> {note}")
        if self.notes:
            lines.append("")
        lines += ["## Alerts", ""]
        if self.alerts:
            lines += ["| period | level | kind | subject | value | reference | message |", "|---|---|---|---|---:|---:|---|"]
            for a in sorted(self.alerts, key=lambda a: (a.period, a.level != "alert", a.kind, -a.value)):
                lines.append(f"| {a.period} | {a.level} | {a.kind} | {a.subject} | {_fmt(a.value)} | "
                             f"{_fmt(a.reference)} | {a.message} |")
        else:
            lines.append("None.")
        lines += ["", "## By period", "",
                  "| period | rows | approve | review | decline | model review | model decline | score PSI | "
                  "max feature PSI (feature) | labelled | frauds | flagged precision | flagged recall | AP |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
        for p in self.periods:
            top = max(p.feature_psi.items(), key=lambda kv: -1 if math.isnan(kv[1]) else kv[1], default=None)
            topt = f"{_fmt(top[1])} ({top[0]})" if top else "-"
            lines.append(
                f"| {p.period} | {p.n:,} | {_fmt(p.actions.get('approve', math.nan))} | "
                f"{_fmt(p.actions.get('review', math.nan))} | {_fmt(p.actions.get('decline', math.nan))} | "
                f"{_fmt(p.model_actions.get('review', math.nan))} | {_fmt(p.model_actions.get('decline', math.nan))} | "
                f"{_fmt(p.score_psi)} | {topt} | {p.labelled:,} ({p.label_coverage:.0%}) | {p.frauds:,} | "
                f"{_fmt(p.precision.get('flagged', math.nan))} | {_fmt(p.recall.get('flagged', math.nan))} | "
                f"{_fmt(p.average_precision)} |")
        if self.charts:
            lines += ["", "## Charts", ""] + [f"![{Path(c).stem}]({Path(c).name})" for c in self.charts]
        return "\n".join(lines) + "\n"

    def save(self, directory: str | Path, *, charts: bool = True) -> dict[str, Path]:
        """Write ``monitor.json``, ``monitor.md`` and (with matplotlib) PNG charts into ``directory``."""
        from .._plot import write_report
        from .charts import draw

        return write_report(self, directory, 'monitor', draw, charts=charts)


def _iso(ms: int | None) -> str:
    if ms is None:
        return "-"
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc).date().isoformat()


# -- input ------------------------------------------------------------------------------------
def _columns(scored: Any) -> dict[str, np.ndarray]:
    """Scored output as a dict of numpy columns (DecisionBatch, DataFrame or mapping)."""
    from ..decision import DecisionBatch

    if isinstance(scored, DecisionBatch):
        cols: dict[str, Any] = {"application_id": scored.application_id, "score": scored.score,
                                "probability": scored.probability, "action": scored.action}
        if scored.ts is not None:
            cols["ts"] = scored.ts
        cols.update(scored.features or {})
        return {k: np.asarray(v) for k, v in cols.items()}
    if hasattr(scored, "columns") and hasattr(scored, "to_numpy"):
        return {str(c): scored[c].to_numpy() for c in scored.columns}
    if isinstance(scored, Mapping):
        return {str(k): np.asarray(v) for k, v in scored.items()}
    raise ConfigError(f"The 'scored' parameter of monitor must be a DecisionBatch, a DataFrame or a mapping of "
                      f"columns. Got {type(scored).__name__} instead.")


def _reference_of(reference: Any) -> dict[str, Any]:
    from ..bundle import Bundle

    if isinstance(reference, (str, Path)):
        reference = Bundle.load(reference)
    if isinstance(reference, Bundle):
        if reference.model is None or reference.model.reference is None:
            raise ConfigError("The bundle has no monitoring reference (reference.json): train it with this "
                              "version of fraudscore, or pass a reference.")
        return reference.model.reference
    if hasattr(reference, "reference") and isinstance(getattr(reference, "reference"), Mapping):
        return dict(reference.reference)  # a Model
    if isinstance(reference, Mapping) and "features" in reference and SCORE in reference:
        return dict(reference)
    raise ConfigError("The 'reference' parameter of monitor must be a bundle (path), a model or a reference dict.")


def _labels(labels: Any, ids: np.ndarray, as_of: int | None) -> np.ndarray:
    """Known labels aligned with ``ids``: 1.0 / 0.0, NaN where unknown (or known after ``as_of``)."""
    from ..scorer import LabelIndex

    if isinstance(labels, (str, Path)):
        from ..cli import read_table

        labels = read_table(labels)
    idx = labels if isinstance(labels, LabelIndex) else LabelIndex(labels)
    out = idx.align(np.asarray(ids, dtype=object))
    y = out["is_fraud"]
    if as_of is not None:
        y = np.where(out["label_ts"] <= as_of, y, np.nan)
    return y


# -- the computation --------------------------------------------------------------------------
def _period_keys(ts: np.ndarray, freq: str) -> tuple[np.ndarray, np.ndarray]:
    day = np.floor_divide(ts, DAY_MS)
    if freq == "day":
        start = day
    else:  # ISO weeks, Monday first (1970-01-05 was a Monday)
        start = (day - 4) // 7 * 7 + 4
    return start, np.unique(start)


def _rate_alert(rate: float, ref: float, n: int, n_ref: int, rules: AlertRules) -> bool:
    """A rate differs from its reference: relatively, beyond sampling noise (both samples), and by enough to matter."""
    if not (isinstance(ref, (int, float)) and math.isfinite(ref) and 0 < ref < 1) or n <= 0 or math.isnan(rate):
        return False
    se = math.sqrt(ref * (1 - ref) * (1 / n + 1 / max(n_ref, 1)))
    diff = abs(rate - ref)
    return diff > rules.rate_change * ref and diff > rules.rate_z * se and diff >= rules.rate_min_diff


def monitor(scored: Any, reference: Any, labels: Any = None, *, as_of: Any = None, freq: str = "day",
            rules: AlertRules | None = None, features: Sequence[str] | None = None) -> MonitorReport:
    """Monitor scored output against a model's training reference (see the module docstring).

    Parameters
    ----------
    scored : DecisionBatch, DataFrame or mapping of columns
        Needs ``ts`` (epoch ms) and ``probability`` (or ``score``); ``action``
        for action rates, ``application_id`` to match labels; feature columns
        (as named by the model) for feature stability.
    reference : Bundle, bundle path, Model or dict
        Where the training reference comes from (``model.reference``).
    labels : DataFrame, mapping or path, optional
        ``application_id``, ``is_fraud`` and ``label_time`` (or ``label_ts``).
    as_of : timestamp, optional
        Count only labels known by then (default: every label given).
    freq : {"day", "week"}
        Period length (UTC days, or ISO weeks starting on Monday).
    rules : AlertRules, optional
        Alert thresholds.
    features : sequence of str, optional
        Features to check (default: every reference feature present in ``scored``).

    Returns
    -------
    MonitorReport
    """
    if freq not in _FREQS:
        raise ConfigError(f"The 'freq' parameter of monitor must be one of {_FREQS}. Got {freq!r} instead.")
    rules = rules or AlertRules()
    ref = _reference_of(reference)
    cols = _columns(scored)
    notes: list[str] = []
    if "ts" not in cols:
        raise ConfigError("The scored output needs a 'ts' column (event time, epoch ms): score with this version "
                          "of fraudscore, or add it.")
    ts = np.asarray(cols["ts"], dtype=np.float64)
    keep = ~np.isnan(ts)
    ts = ts.astype(np.int64, copy=False) if keep.all() else ts
    if "probability" in cols:
        prob = np.asarray(cols["probability"], dtype=np.float64)
        model_score = np.where(np.isnan(prob), np.nan, np.rint(prob * 1000))
    elif "score" in cols:
        model_score = np.asarray(cols["score"], dtype=np.float64)
        notes.append("No 'probability' column: the final score (model + rule points) was compared with the "
                     "model-score reference.")
    else:
        raise ConfigError("The scored output needs a 'probability' or a 'score' column.")
    action = np.asarray(cols["action"], dtype=object) if "action" in cols else None
    ref_feats = ref.get("features", {})
    if features is None:
        features = [f for f in ref_feats if f in cols]
    else:
        unknown = [f for f in features if f not in ref_feats]
        if unknown:
            raise ConfigError(f"The 'features' parameter of monitor names features without a reference: {unknown[:5]}")
        absent = [f for f in features if f not in cols]
        if absent:
            raise ConfigError(f"The scored output has no column for features {absent[:5]} (score with --features)")
    if ref_feats and not features:
        notes.append("The scored output has no feature columns (score with --features): only the score and "
                     "actions were checked.")
    y = None
    if labels is not None:
        if "application_id" not in cols:
            raise ConfigError("The scored output needs an 'application_id' column to match labels.")
        as_of_ms = None if as_of is None else to_epoch_ms(as_of)
        y = _labels(labels, cols["application_id"], as_of_ms)
    else:
        as_of_ms = None if as_of is None else to_epoch_ms(as_of)
    acts = ref.get("actions", {}) or {}
    review_t, decline_t = acts.get("review"), acts.get("decline")
    feat_vals = {f: np.asarray(cols[f], dtype=np.float64) for f in features}

    start, periods = _period_keys(np.where(keep, ts, 0).astype(np.int64), freq)
    out: list[PeriodStats] = []
    alerts: list[Alert] = []
    flag_ref = _flagged_reference(acts, int(ref[SCORE].get("n") or 0))
    for p0 in periods.tolist():
        rows = np.flatnonzero(keep & (start == p0))
        name = _iso(int(p0) * DAY_MS)
        n = int(rows.size)
        st = PeriodStats(period=name, start_ms=int(p0) * DAY_MS, n=n)
        s = model_score[rows]
        counts, missing = bin_counts(ref[SCORE], s)
        st.score_counts = counts.tolist()
        st.score_mean = float(np.nanmean(s)) if np.isfinite(s).any() else math.nan
        st.score_psi = psi_from_counts(ref[SCORE], counts, missing)
        st.feature_psi = {f: psi_from_counts(ref_feats[f], *bin_counts(ref_feats[f], feat_vals[f][rows]))
                          for f in features}
        if action is not None:
            a = action[rows]
            st.actions = {k: float(np.mean(a == k)) if n else math.nan for k in ACTIONS}
        if review_t is not None and decline_t is not None:
            st.model_actions = {"review": float(np.mean((s >= review_t) & (s < decline_t))) if n else math.nan,
                                "decline": float(np.mean(s >= decline_t)) if n else math.nan}
        if y is not None:
            _performance(st, y[rows], action[rows] if action is not None else None, s)
        if n >= rules.min_rows:
            alerts += _psi_alerts(st, rules)
            for k in ("review", "decline"):
                rate, r0 = st.model_actions.get(k, math.nan), acts.get(f"{k}_rate")
                if r0 is not None and _rate_alert(rate, r0, n, int(ref[SCORE].get("n") or 0), rules):
                    alerts.append(Alert(name, "action_rate", k, rate, float(r0), "alert",
                                        f"model {k} rate {rate:.2%} vs {float(r0):.2%} at training"))
        if y is not None and st.label_coverage >= rules.min_label_coverage:
            alerts += _performance_alerts(st, flag_ref, rules)
        out.append(st)
    if y is not None and out and all(p.label_coverage < rules.min_label_coverage for p in out):
        notes.append(f"No period has {rules.min_label_coverage:.0%} of its labels yet: precision and recall are "
                     "shown, but not alerted on.")
    return MonitorReport(periods=out, alerts=alerts, rules=rules, freq=freq, as_of=as_of_ms, reference=ref,
                         features=list(features), notes=notes)


def _psi_alerts(st: PeriodStats, rules: AlertRules) -> list[Alert]:
    out = []
    items = [("score_psi", SCORE, st.score_psi)] + [("feature_psi", f, v) for f, v in st.feature_psi.items()]
    for kind, subject, v in items:
        if not math.isnan(v) and v >= rules.psi_warn:
            level = "alert" if v >= rules.psi_alert else "warning"
            what = "significant" if level == "alert" else "moderate"
            out.append(Alert(st.period, kind, subject, v, rules.psi_warn if level == "warning" else rules.psi_alert,
                             level, f"{what} shift of {subject} (PSI {v:.3f})"))
    return out


def _performance(st: PeriodStats, y: np.ndarray, action: np.ndarray | None, score: np.ndarray) -> None:
    known = ~np.isnan(y)
    st.labelled = int(known.sum())
    st.label_coverage = st.labelled / st.n if st.n else 0.0
    yk = y[known].astype(np.int64)
    st.frauds = int(yk.sum())
    if action is None or not st.labelled:
        return
    ak = action[known]
    st.flagged_labelled = int(np.sum(ak != "approve"))
    groups = {"review": ak == "review", "decline": ak == "decline", "flagged": ak != "approve"}
    for k, sel in groups.items():
        n_sel = int(sel.sum())
        st.precision[k] = float(yk[sel].mean()) if n_sel else math.nan
        st.recall[k] = float(yk[sel].sum() / st.frauds) if st.frauds else math.nan
    sk = score[known]
    if st.frauds and np.isfinite(sk).all():
        st.average_precision = average_precision(yk, sk)


def _flagged_reference(acts: Mapping[str, Any], n_ref: int) -> tuple[float, float, float, float]:
    """Reference precision and recall of review + decline together, and the sample sizes they rest on."""
    try:
        rr, dr = float(acts["review_rate"]), float(acts["decline_rate"])
        rp, dp = float(acts["review_precision"]), float(acts["decline_precision"])
        recall = float(acts["flagged_recall"])
    except (KeyError, TypeError, ValueError):
        return math.nan, math.nan, 0.0, 0.0
    rp = 0.0 if math.isnan(rp) else rp
    dp = 0.0 if math.isnan(dp) else dp
    flagged = (rr + dr) * n_ref
    precision = (rr * rp + dr * dp) / (rr + dr) if rr + dr > 0 else math.nan
    frauds = precision * flagged / recall if recall and math.isfinite(precision) and recall > 0 else 0.0
    return precision, recall, flagged, frauds


def _dropped(value: float, ref: float, n: float, n_ref: float, rules: AlertRules) -> bool:
    """``value`` fell below ``(1 - drop) * ref`` and beyond ``rate_z`` standard errors (binomial, both samples)."""
    if not (math.isfinite(value) and math.isfinite(ref) and 0 < ref < 1 and n > 0):
        return False
    se = math.sqrt(ref * (1 - ref) * (1 / n + (1 / n_ref if n_ref > 0 else 0.0)))
    return value < (1 - rules.drop) * ref and ref - value > rules.rate_z * se


def _performance_alerts(st: PeriodStats, flag_ref: tuple[float, float, float, float], rules: AlertRules
                        ) -> list[Alert]:
    out = []
    p_ref, r_ref, n_flag_ref, n_fraud_ref = flag_ref
    p, r = st.precision.get("flagged", math.nan), st.recall.get("flagged", math.nan)
    if st.flagged_labelled >= rules.min_flagged and _dropped(p, p_ref, st.flagged_labelled, n_flag_ref, rules):
        out.append(Alert(st.period, "precision", "flagged", p, p_ref, "alert",
                         f"precision of review + decline {p:.2%} vs {p_ref:.2%} at training"))
    if st.frauds >= rules.min_frauds and _dropped(r, r_ref, st.frauds, n_fraud_ref, rules):
        out.append(Alert(st.period, "recall", "flagged", r, r_ref, "alert",
                         f"recall of review + decline {r:.2%} vs {r_ref:.2%} at training"))
    return out
