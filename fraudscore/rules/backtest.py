"""Backtests of a rule set over labelled history, and decision diffs between two versions.

Per rule: hits, hit rate, precision and recall against the labels, the marginal
effect (how the combined rule action changes when only this rule is removed) and
the overlap matrix (how many rows each pair of rules both hit). Shadow rules are
reported like the others but never change the combined action, so their
marginal effect is zero by construction.

"Flagged" means the combined rule action is ``decline`` or ``review``.

Examples
--------
>>> import numpy as np
>>> from fraudscore.rules import Rule, RuleSet
>>> rs = RuleSet([Rule("A", "x >= 3", action="review"), Rule("B", "x >= 5", action="decline")])
>>> rep = rs.backtest({"x": np.array([1.0, 3.0, 5.0, 6.0])}, np.array([0, 0, 1, 1]))
>>> [(s.code, s.hits, s.precision, s.recall) for s in rep.rules]
[('A', 3, 0.6666666666666666, 1.0), ('B', 2, 1.0, 1.0)]
>>> rep.overlap.tolist()
[[3, 2], [2, 2]]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from .combine import ACTION_CODES, HitMatrix
from .lists import ListTransform

if TYPE_CHECKING:  # pragma: no cover
    from .ruleset import RuleSet

__all__ = ["RuleStats", "BacktestReport", "DecisionDiff", "backtest", "diff_decisions"]


@dataclass(frozen=True)
class RuleStats:
    """Backtest numbers for one rule.

    ``marginal_changed`` counts rows whose combined action changes when this rule is
    removed; ``marginal_lost_fraud`` / ``marginal_spared_legit`` count labelled-fraud /
    labelled-legit rows that would no longer be flagged (decline or review).
    ``precision`` is ``nan`` when the rule never fires; ``recall`` is ``nan`` without positives.
    """

    code: str
    action: str
    shadow: bool
    hits: int
    hit_rate: float
    true_positives: int
    precision: float
    recall: float
    marginal_changed: int
    marginal_lost_fraud: int
    marginal_spared_legit: int


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


@dataclass(frozen=True)
class BacktestReport:
    """The result of :func:`backtest`.

    Attributes
    ----------
    version : str
        Rule-set version.
    n, n_positive : int
        Rows and labelled-fraud rows.
    rules : list of RuleStats
        One entry per compiled rule, in evaluation order.
    overlap : numpy.ndarray
        ``(k, k)`` counts of rows hit by both rules (diagonal: hits).
    actions : dict
        Rows per combined rule action (``"none"`` when no rule acts).
    flagged_precision, flagged_recall : float
        Of rows flagged (decline or review) by the whole rule set.
    """

    version: str
    n: int
    n_positive: int
    rules: list[RuleStats]
    overlap: np.ndarray
    actions: dict[str, int]
    flagged_precision: float
    flagged_recall: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (NaN kept as float NaN)."""
        return {"version": self.version, "n": self.n, "n_positive": self.n_positive,
                "rules": [asdict(s) for s in self.rules], "overlap": self.overlap.tolist(),
                "codes": [s.code for s in self.rules], "actions": dict(self.actions),
                "flagged_precision": self.flagged_precision, "flagged_recall": self.flagged_recall}

    def to_text(self) -> str:
        """A fixed-width table for terminals and reports."""
        head = (f"rule set {self.version}: {self.n} rows, {self.n_positive} labelled fraud; "
                f"flagged precision {self.flagged_precision:.3f}, recall {self.flagged_recall:.3f}")
        cols = f"{'code':32} {'action':8} {'hits':>8} {'rate':>7} {'prec':>6} {'recall':>6} {'Δacts':>7} {'lostTP':>7}"
        lines = [head, "actions: " + ", ".join(f"{k}={v}" for k, v in self.actions.items()), cols]
        for s in self.rules:
            tag = s.action + ("*" if s.shadow else "")
            lines.append(f"{s.code:32} {tag:8} {s.hits:8d} {s.hit_rate:7.4f} {s.precision:6.3f} "
                         f"{s.recall:6.3f} {s.marginal_changed:7d} {s.marginal_lost_fraud:7d}")
        lines.append("(* = shadow rule; Δacts = rows whose action changes without the rule; "
                     "lostTP = fraud rows no longer flagged without it)")
        return "\n".join(lines)


@dataclass(frozen=True)
class DecisionDiff:
    """Rule-action changes between two rule-set versions over the same rows.

    Attributes
    ----------
    transitions : dict
        ``(old_action, new_action) -> rows`` for changed rows (``"none"`` = no rule action).
    changed_rows : numpy.ndarray
        Row positions whose action or points changed.
    points_delta : numpy.ndarray
        ``new_points - old_points`` per row.
    """

    version_a: str
    version_b: str
    n: int
    transitions: dict[tuple[str, str], int]
    changed_rows: np.ndarray
    points_delta: np.ndarray

    def to_text(self) -> str:
        """A short human-readable summary."""
        lines = [f"{self.version_a} -> {self.version_b}: {self.changed_rows.size} of {self.n} rows change"]
        for (a, b), c in sorted(self.transitions.items()):
            lines.append(f"  {a:>8} -> {b:<8} {c}")
        return "\n".join(lines)


def _labels(labels: Any, n: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n,):
        raise ConfigError(f"The 'labels' parameter of backtest must have shape ({n},). Got {y.shape} instead.")
    try:
        yf = y.astype(np.float64)
    except (TypeError, ValueError):
        raise ConfigError("The 'labels' parameter of backtest must be 0/1 or boolean.") from None
    return yf == 1.0


def _matrix(rs: RuleSet, history: Mapping[str, Any] | HitMatrix, known_names: Iterable[str] | None,
            list_transform: ListTransform | None) -> HitMatrix:
    if isinstance(history, HitMatrix):
        return history
    cols = dict(history)
    lengths = {len(np.asarray(c)) for c in cols.values()}
    if len(lengths) != 1:
        raise ConfigError("The 'history' columns must all have the same length.")
    n = lengths.pop()
    crs = rs.compile(cols.keys() if known_names is None else known_names, list_transform=list_transform)
    return crs.evaluate_columns(cols, n)


def _names(codes: np.ndarray) -> np.ndarray:
    return np.array(["none" if a is None else a for a in ACTION_CODES], dtype=object)[codes]


def backtest(rs: RuleSet, history: Mapping[str, Any] | HitMatrix, labels: Any,
             known_names: Iterable[str] | None = None, list_transform: ListTransform | None = None
             ) -> BacktestReport:
    """Backtest ``rs`` over ``history`` (columns or a :class:`HitMatrix`) against 0/1 ``labels``."""
    m = _matrix(rs, history, known_names, list_transform)
    y = _labels(labels, m.n)
    pos = int(y.sum())
    base = m.action_codes()
    flagged = base >= 2
    stats = []
    for j, code in enumerate(m.codes):
        hit = m.matrix[:, j]
        h, tp = int(hit.sum()), int((hit & y).sum())
        if m.shadow[j]:
            changed = lost = spared = 0
        else:
            without = m.action_codes(exclude=[code])
            unflag = flagged & (without < 2)
            changed = int((without != base).sum())
            lost, spared = int((unflag & y).sum()), int((unflag & ~y).sum())
        stats.append(RuleStats(code, str(m.rule_actions[j]), bool(m.shadow[j]), h, _ratio(h, m.n), tp,
                               _ratio(tp, h), _ratio(tp, pos), changed, lost, spared))
    mi = m.matrix.astype(np.int64)
    names, counts = np.unique(_names(base), return_counts=True)
    return BacktestReport(rs.version, m.n, pos, stats, mi.T @ mi, dict(zip(names.tolist(), counts.tolist())),
                          _ratio(int((flagged & y).sum()), int(flagged.sum())),
                          _ratio(int((flagged & y).sum()), pos))


def diff_decisions(a: RuleSet, b: RuleSet, history: Mapping[str, Any], known_names: Iterable[str] | None = None,
                   list_transform: ListTransform | None = None) -> DecisionDiff:
    """Compare the combined rule actions and points of two rule sets over the same history.

    Examples
    --------
    >>> import numpy as np
    >>> from fraudscore.rules import Rule, RuleSet
    >>> old = RuleSet([Rule("A", "x >= 3", action="review")])
    >>> new = RuleSet([Rule("A", "x >= 2", action="review")])
    >>> d = diff_decisions(old, new, {"x": np.array([1.0, 2.0, 3.0])})
    >>> d.transitions, d.changed_rows.tolist()
    ({('none', 'review'): 1}, [1])
    """
    ma = _matrix(a, history, known_names, list_transform)
    mb = _matrix(b, history, known_names, list_transform)
    ca, cb = ma.action_codes(), mb.action_codes()
    delta = mb.points - ma.points
    changed = np.flatnonzero((ca != cb) | (delta != 0))
    moved = ca != cb
    pairs = np.stack([ca[moved], cb[moved]], axis=1) if moved.any() else np.zeros((0, 2), dtype=np.int8)
    uniq, counts = np.unique(pairs, axis=0, return_counts=True)
    labels = ["none" if x is None else x for x in ACTION_CODES]
    transitions = {(labels[int(p[0])], labels[int(p[1])]): int(c) for p, c in zip(uniq, counts)}
    return DecisionDiff(a.version, b.version, ma.n, transitions, changed, delta)
