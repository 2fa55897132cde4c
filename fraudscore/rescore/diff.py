"""Diff mode: rescore one history with two bundles and report what changes, which way and why.

A risk team runs it before a new rule set or model goes live: how many decisions
change, the from -> to action matrix, how scores shift, and for the changed rows
the reason codes that appear and disappear, with the largest changes as examples.

With labels, each bundle is also judged against the outcomes, not only against
the other: on the labelled rows, the precision and recall of each action
(review, decline, and both: "flagged") and the average precision of the
0..1000 score, overall and by segment (``segment="channel"``: one row per
value of a schema field). Labels passed to the diff feed the label-delayed
features as well (each from its label time on); the evaluation uses every
outcome in the table.

Without a second bundle, bundle A's *challenger* (see
:mod:`fraudscore.challenger`) is compared with its champion.

When both bundles compute the same features (same schema, feature specs,
fingerprint scheme and key) the features are computed once and only the rules,
model and policy run twice.

Examples
--------
>>> from fraudscore.synth import generate
>>> from fraudscore.train import train
>>> data = generate(n_days=2, per_day=150, seed=2)
>>> a = train(data.columns, data.labels, key=b"doc-rescore-secret-01", config={"model": {"num_boost_round": 10, "gap": "1h"}})
>>> b = train(data.columns, data.labels, key=b"doc-rescore-secret-01", config={"model": {"num_boost_round": 30, "gap": "1h"}})
>>> rep = diff_bundles(data.columns, a.bundle, b.bundle, key=b"doc-rescore-secret-01", chunk_rows=200)
>>> rep.rows + rep.rejected == len(data), sum(sum(r.values()) for r in rep.matrix.values()) == rep.rows
(True, True)
>>> rep.render().splitlines()[0]
'# Decision diff'
>>> rep = diff_bundles(data.columns, a.bundle, b.bundle, key=b"doc-rescore-secret-01", labels=data.labels,
...                    segment="channel")
>>> ev = rep.evaluation["b"]["all"]
>>> ev["labelled"] == rep.rows, sorted(ev["precision"]), 0 <= ev["average_precision"] <= 1
(True, ['decline', 'flagged', 'review'], True)
>>> sorted(rep.evaluation["a"])[:2]
['all', 'channel=app']
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._compat import progress as _progress
from ..decision import ACTIONS, DecisionBatch
from ..errors import FraudscoreError
from ..keys import Keys
from ..model.model import jsonable
from . import ChunkedScorer, _as_scorer, _label_index, _Source

__all__ = ["DiffReport", "diff_bundles"]

_SPAN = 1000  # scores live on 0..1000: deltas on -1000..1000


@dataclass
class DiffReport:
    """The effect of replacing bundle A by bundle B on one history.

    Attributes
    ----------
    a, b : dict
        Model and rule-set versions of each bundle.
    rows : int
        Rows scored by both.
    rejected : int
        Rows rejected (by either).
    changed : int
        Rows whose action differs.
    matrix : dict
        ``matrix[from_action][to_action]`` row counts (A's action -> B's action).
    score_shift : dict
        Statistics of ``score_B - score_A``: mean, std, min, p1, p50, p99, max, share up / down.
    reasons_added, reasons_removed : dict
        On changed rows: reason codes B gives and A did not (and vice versa), counted.
    examples : list of dict
        The changed rows with the largest score shift.
    """

    a: dict[str, str] = field(default_factory=dict)
    b: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    rejected: int = 0
    changed: int = 0
    matrix: dict[str, dict[str, int]] = field(default_factory=lambda: {a: dict.fromkeys(ACTIONS, 0) for a in ACTIONS})
    score_shift: dict[str, float] = field(default_factory=dict)
    reasons_added: dict[str, int] = field(default_factory=dict)
    reasons_removed: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    shared_features: bool = False
    evaluation: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data (JSON-serialisable) form."""
        return asdict(self)

    def render(self) -> str:
        """The report as Markdown."""
        lines = ["# Decision diff", "",
                 f"A: model {self.a.get('model_version')}, rules {self.a.get('ruleset_version')}  ",
                 f"B: model {self.b.get('model_version')}, rules {self.b.get('ruleset_version')}", "",
                 f"{self.rows:,} rows compared ({self.rejected:,} rejected); **{self.changed:,} decisions change** "
                 f"({(self.changed / self.rows if self.rows else 0.0):.2%}).", "",
                 "## Actions (A -> B)", "", "| A \\ B | " + " | ".join(ACTIONS) + " |",
                 "|---|" + "---:|" * len(ACTIONS)]
        for fa in ACTIONS:
            lines.append(f"| {fa} | " + " | ".join(f"{self.matrix[fa][tb]:,}" for tb in ACTIONS) + " |")
        lines += ["", "## Score shift (B - A)", ""]
        lines += [f"- {k}: {v:.4g}" for k, v in self.score_shift.items()]
        for title, counts in (("Reasons that appear on changed rows", self.reasons_added),
                              ("Reasons that disappear on changed rows", self.reasons_removed)):
            lines += ["", f"## {title}", ""]
            lines += [f"- {code}: {n:,}" for code, n in counts.items()] or ["- (none)"]
        lines += self._render_evaluation()
        lines += ["", "## Largest changes", "", "| application | A | B | score A | score B | added | removed |",
                  "|---|---|---|---:|---:|---|---|"]
        for e in self.examples:
            lines.append(f"| {e['application_id']} | {e['action_a']} | {e['action_b']} | {e['score_a']} | "
                         f"{e['score_b']} | {' '.join(e['added'])} | {' '.join(e['removed'])} |")
        return "\n".join(lines) + "\n"

    def _render_evaluation(self) -> list[str]:
        if not self.evaluation:
            return []
        ea, eb = self.evaluation.get("a", {}), self.evaluation.get("b", {})
        lines = ["", "## Against the labels", "",
                 "Precision and recall of each action on the labelled rows, average precision (AP) of the score.",
                 "", "| segment | labelled | frauds | bundle | review P / R | decline P / R | flagged P / R | AP |",
                 "|---|---:|---:|---|---|---|---|---:|"]

        def pr(e: dict[str, Any], k: str) -> str:
            return f"{_f(e['precision'].get(k))} / {_f(e['recall'].get(k))}"

        for seg in ea:
            for side, e in (("A", ea[seg]), ("B", eb.get(seg))):
                if e is None:
                    continue
                lines.append(f"| {seg} | {e['labelled']:,} | {e['frauds']:,} | {side} | {pr(e, 'review')} | "
                             f"{pr(e, 'decline')} | {pr(e, 'flagged')} | {_f(e['average_precision'])} |")
        return lines

    def save(self, path: str | Path) -> Path:
        """Write the report: ``.json`` as JSON, anything else as Markdown."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        text = (json.dumps(jsonable(self.to_dict()), indent=2, allow_nan=False) if p.suffix == ".json"
                else self.render())
        p.write_text(text, encoding="utf-8")
        return p


def _f(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and v != v) else f"{v:.3f}"


_MAX_SEGMENTS = 50  # distinct values tracked per segment field; the rest are pooled as "(other)"


class _Evaluation:
    """Per segment: labelled rows and frauds per action, and score histograms by class (exact AP of the score)."""

    def __init__(self) -> None:
        self.seg: dict[str, dict[str, Any]] = {}

    def _slot(self, name: str) -> dict[str, Any]:
        if name not in self.seg:
            self.seg[name] = {"n": 0, "labelled": 0, "frauds": 0, "n_action": dict.fromkeys(ACTIONS, 0),
                              "fraud_action": dict.fromkeys(ACTIONS, 0),
                              "pos": np.zeros(_SPAN + 1, dtype=np.int64), "neg": np.zeros(_SPAN + 1, dtype=np.int64)}
        return self.seg[name]

    def add(self, name: str, y: np.ndarray, score: np.ndarray, action: np.ndarray) -> None:
        acc = self._slot(name)
        acc["n"] += len(y)
        known = ~np.isnan(y)
        yk, sk, ak = y[known].astype(bool), np.clip(score[known].astype(np.int64), 0, _SPAN), action[known]
        acc["labelled"] += int(known.sum())
        acc["frauds"] += int(yk.sum())
        for a in ACTIONS:
            sel = ak == a
            acc["n_action"][a] += int(sel.sum())
            acc["fraud_action"][a] += int(yk[sel].sum())
        acc["pos"] += np.bincount(sk[yk], minlength=_SPAN + 1)
        acc["neg"] += np.bincount(sk[~yk], minlength=_SPAN + 1)

    def result(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name in sorted(self.seg, key=lambda k: (k != "all", k)):
            acc = self.seg[name]
            frauds = acc["frauds"]
            n_act, f_act = dict(acc["n_action"]), dict(acc["fraud_action"])
            n_act["flagged"] = n_act["review"] + n_act["decline"]
            f_act["flagged"] = f_act["review"] + f_act["decline"]
            keys = ("review", "decline", "flagged")
            out[name] = {
                "rows": acc["n"], "labelled": acc["labelled"], "frauds": frauds,
                "rates": {k: n_act[k] / acc["labelled"] if acc["labelled"] else float("nan") for k in keys},
                "precision": {k: f_act[k] / n_act[k] if n_act[k] else float("nan") for k in keys},
                "recall": {k: f_act[k] / frauds if frauds else float("nan") for k in keys},
                "average_precision": _ap_from_hist(acc["pos"], acc["neg"]),
            }
        return out


def _ap_from_hist(pos: np.ndarray, neg: np.ndarray) -> float:
    """Average precision of integer scores from per-score class counts (ties grouped, as scikit-learn does).

    Examples
    --------
    >>> pos = np.zeros(1001, dtype=np.int64); neg = np.zeros(1001, dtype=np.int64)
    >>> pos[[900, 400]] = 1; neg[[800, 100]] = 1
    >>> round(_ap_from_hist(pos, neg), 4)          # sklearn: average_precision_score([1,0,1,0], [.9,.8,.4,.1])
    0.8333
    """
    total = int(pos.sum())
    if not total:
        return float("nan")
    tp = np.cumsum(pos[::-1])
    fp = np.cumsum(neg[::-1])
    p = pos[::-1]
    hit = p > 0
    return float(np.sum(p[hit] / total * tp[hit] / (tp[hit] + fp[hit])))


def _segments(cb: Any, schema: Any, fields: list[str], seen: dict[str, set[str]]) -> list[tuple[str, np.ndarray]]:
    """``(name, row mask)`` per segment value of this chunk (the first ``_MAX_SEGMENTS`` values, then "(other)")."""
    out = []
    for f in fields:
        vals = np.asarray(cb.columns[f], dtype=object)
        text = np.array(["(missing)" if v is None or (isinstance(v, float) and v != v) else str(v) for v in vals],
                        dtype=object)
        for v in np.unique(text).tolist():
            if v not in seen[f] and len(seen[f]) < _MAX_SEGMENTS:
                seen[f].add(v)
        known = np.isin(text, list(seen[f]))
        for v in sorted(set(text[known].tolist())):
            out.append((f"{f}={v}", text == v))
        if (~known).any():
            out.append((f"{f}=(other)", ~known))
    return out


def _check_segments(schema: Any, segment: Any) -> list[str]:
    fields = [segment] if isinstance(segment, str) else list(segment or [])
    by_name = {f.name: f for f in schema.fields}
    for name in fields:
        f = by_name.get(name)
        if f is None:
            raise FraudscoreError(f"segment {name!r} is not a field of the schema")
        if getattr(f, "identifier", None) or f.type not in ("str", "int", "bool"):
            raise FraudscoreError(f"segment {name!r} must be a non-identifier text, integer or boolean field "
                                  "(segments are written to the report)")
    return fields


def _same_features(a: Any, b: Any) -> bool:
    ba, bb = a.bundle, b.bundle
    return (a.keys.key_id == b.keys.key_id and ba.schema == bb.schema and ba.features == bb.features
            and (ba.fingerprint or {}) == (bb.fingerprint or {}))


class _Accumulator:
    def __init__(self, top_n: int) -> None:
        self.hist = np.zeros(2 * _SPAN + 1, dtype=np.int64)
        self.added: Counter[str] = Counter()
        self.removed: Counter[str] = Counter()
        self.heap: list[tuple[int, int, dict[str, Any]]] = []
        self.top_n = top_n
        self.matrix = {fa: dict.fromkeys(ACTIONS, 0) for fa in ACTIONS}
        self.rows = self.changed = 0

    def add(self, da: DecisionBatch, db: DecisionBatch, ia: np.ndarray, ib: np.ndarray) -> None:
        sa, sb = da.score[ia].astype(np.int64), db.score[ib].astype(np.int64)
        aa, ab = da.action[ia], db.action[ib]
        self.rows += len(ia)
        self.hist += np.bincount(np.clip(sb - sa, -_SPAN, _SPAN) + _SPAN, minlength=2 * _SPAN + 1)
        for fa in ACTIONS:
            sel = aa == fa
            for tb in ACTIONS:
                self.matrix[fa][tb] += int(np.sum(sel & (ab == tb)))
        changed = np.flatnonzero(aa != ab)
        self.changed += len(changed)
        for k in changed.tolist():
            i, j = int(ia[k]), int(ib[k])
            ca = {r.code for r in da.reasons[i]}
            cbs = {r.code for r in db.reasons[j]}
            plus, minus = sorted(cbs - ca), sorted(ca - cbs)
            self.added.update(plus)
            self.removed.update(minus)
            if self.top_n:
                row = int(da.rows[i])
                item = (abs(int(sb[k] - sa[k])), -row, {
                    "row": row, "application_id": str(da.application_id[i]), "action_a": str(aa[k]),
                    "action_b": str(ab[k]), "score_a": int(sa[k]), "score_b": int(sb[k]),
                    "added": plus, "removed": minus})
                if len(self.heap) < self.top_n:
                    heapq.heappush(self.heap, item)
                elif item[:2] > self.heap[0][:2]:
                    heapq.heapreplace(self.heap, item)

    def shift(self) -> dict[str, float]:
        n = int(self.hist.sum())
        if not n:
            return {}
        vals = np.arange(-_SPAN, _SPAN + 1, dtype=np.float64)
        mean = float((vals * self.hist).sum() / n)
        std = float(np.sqrt(max(((vals - mean) ** 2 * self.hist).sum() / n, 0.0)))
        cum = np.cumsum(self.hist)
        nz = np.flatnonzero(self.hist)

        def q(p: float) -> float:
            return float(vals[int(np.searchsorted(cum, p * n, side="left"))])

        return {"mean": mean, "std": std, "min": float(vals[nz[0]]), "p1": q(0.01), "p50": q(0.5), "p99": q(0.99),
                "max": float(vals[nz[-1]]), "share_up": float(self.hist[_SPAN + 1 :].sum() / n),
                "share_down": float(self.hist[:_SPAN].sum() / n)}


def diff_bundles(source: Any, bundle_a: Any, bundle_b: Any = None, *, key: Keys | bytes | str | None = None,
                 labels: Any = None, chunk_rows: int = 100_000, top_n: int = 10, out: str | Path | None = None,
                 progress: bool = False, sort_by_time: bool = False,
                 segment: str | list[str] | None = None) -> DiffReport:
    """Rescore ``source`` with bundle A and bundle B and report the decisions that change.

    Parameters
    ----------
    source : path, DataFrame, Arrow Table, mapping of columns or list of events
        The history in arrival order (read in chunks, as in :func:`~fraudscore.rescore.rescore`).
    bundle_a, bundle_b : Scorer, Bundle or path
        The current and the candidate bundle (paths and Bundles are loaded with ``key``).
        Without ``bundle_b``, A's challenger is the candidate.
    key : Keys, bytes or str, optional
        The secret (``FRAUDSCORE_KEY`` when omitted).
    labels : mapping, DataFrame or path, optional
        Outcomes (``application_id``, ``is_fraud``, ``label_time``): they feed the
        label-delayed features and judge both bundles (``DiffReport.evaluation``).
    chunk_rows : int, default 100_000
        Rows per chunk.
    top_n : int, default 10
        Number of example rows (largest score shift among changed decisions).
    out : path, optional
        Also save the report (``.json``, else Markdown).
    progress : bool, default False
        Show a progress bar.
    segment : str or list of str, optional
        Schema fields (not identifiers) to break the evaluation down by.
    sort_by_time : bool, default False
        Compare the rows in event-time order (stable sort), as in :func:`~fraudscore.rescore.rescore`.

    Returns
    -------
    DiffReport
    """
    sa = _as_scorer(bundle_a, key)
    if bundle_b is None:
        from ..challenger import promote
        from ..scorer import Scorer

        if sa.bundle.challenger is None:
            raise FraudscoreError("diff needs a second bundle, or a first bundle with a challenger")
        sb = Scorer(promote(sa.bundle), sa.keys)
    else:
        sb = _as_scorer(bundle_b, key)
    seg_fields = _check_segments(sa.schema, segment)
    lab = None if labels is None else _label_index(labels, sa)
    if seg_fields and lab is None:
        raise FraudscoreError("segments break down the evaluation against labels: pass labels too")
    shared = _same_features(sa, sb)
    ca = ChunkedScorer(sa, lab)
    cbs = None if shared else ChunkedScorer(sb, None if labels is None else _label_index(labels, sb))
    acc = _Accumulator(top_n)
    evals = {"a": _Evaluation(), "b": _Evaluation()} if lab is not None else {}
    seen: dict[str, set[str]] = {f: set() for f in seg_fields}
    src = _Source(source, chunk_rows, sa.schema, sort_by_time)
    rejected = len(src.read_errors)
    with _progress(progress) as bar:
        task = bar.add_task("diff", total=src.n_rows)
        bar.advance(task, rejected)
        for chunk, rows in src.chunks():
            cb, rec, X = ca.features(chunk, rows)
            da = sa.decide_batch(cb, rec, X)
            db = sb.decide_batch(cb, rec, X) if cbs is None else cbs.score(chunk, rows=rows)
            common, ia, ib = np.intersect1d(da.rows, db.rows, assume_unique=True, return_indices=True)
            acc.add(da, db, ia, ib)
            if lab is not None and len(common):
                y = lab.align(da.application_id[ia])["is_fraud"]
                parts = [("all", np.ones(len(ia), dtype=bool))]
                if seg_fields:
                    sub = cb.take(ia) if len(ia) != cb.n else cb
                    parts += _segments(sub, sa.schema, seg_fields, seen)
                for name, m in parts:
                    evals["a"].add(name, y[m], da.score[ia][m], da.action[ia][m])
                    evals["b"].add(name, y[m], db.score[ib][m], db.action[ib][m])
            rejected += len(set(e.row for e in da.errors) | set(e.row for e in db.errors))
            bar.advance(task, cb.n_input)
    report = DiffReport(
        a={"model_version": sa.model_version, "ruleset_version": sa.ruleset.version},
        b={"model_version": sb.model_version, "ruleset_version": sb.ruleset.version},
        rows=acc.rows, rejected=rejected, changed=acc.changed, matrix=acc.matrix, score_shift=acc.shift(),
        reasons_added=dict(acc.added.most_common()), reasons_removed=dict(acc.removed.most_common()),
        examples=[item[2] for item in sorted(acc.heap, reverse=True)], shared_features=shared,
        evaluation={k: v.result() for k, v in evals.items()})
    if out is not None:
        report.save(out)
    return report
