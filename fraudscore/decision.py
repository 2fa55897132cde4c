"""The answer to one application (:class:`Decision`) and to many (:class:`DecisionBatch`).

Examples
--------
>>> d = Decision(application_id="A1", score=712, probability=0.71, action="review",
...              reasons=[Reason("DEV_MANY_IDS_24H", "7 IDs on this device in 24 h", "rule")])
>>> d.action, d.reasons[0].code
('review', 'DEV_MANY_IDS_24H')
>>> d.to_dict()["reasons"][0]["source"]
'rule'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from ._compat import require_pandas
from .batchreasons import BatchReasonsField
from .errors import EventError

__all__ = ["Reason", "Decision", "DecisionBatch", "Action", "ACTIONS", "PendingReasons"]

Action = Literal["approve", "review", "decline"]
ACTIONS: tuple[str, ...] = ("approve", "review", "decline")


@dataclass(frozen=True)
class Reason:
    """One reason behind a decision.

    Parameters
    ----------
    code : str
        Stable reason code (``DEV_MANY_IDS_24H``, ``MODEL_DEVICE_SHARED``...).
    message : str
        Human-readable text with the values that triggered it.
    source : {"rule", "model", "shadow", "system"}
        Where it came from; ``shadow`` rules are reported but never act.
    adverse_action_ok : bool
        Whether the reason is fit to be shown to the applicant in an
        adverse-action notice (see ``docs/model.md``).
    """

    code: str
    message: str
    source: str = "rule"
    adverse_action_ok: bool = False


class PendingReasons:
    """Reasons whose model part is computed on first access (see :attr:`Decision.reasons`).

    Holds the reasons known at scoring time (``before``: acting rules;
    ``after``: system reasons) and a function that returns the model reasons.
    :meth:`resolve` returns ``before + model reasons + after``, the very list an
    eager computation gives.

    Examples
    --------
    >>> p = PendingReasons([Reason("R1", "rule")], lambda: [Reason("M1", "model", "model")], [])
    >>> [r.code for r in p.resolve()]
    ['R1', 'M1']
    """

    __slots__ = ("before", "compute", "after")

    def __init__(self, before: list[Reason], compute: Callable[[], Sequence[Reason]], after: list[Reason]) -> None:
        self.before, self.compute, self.after = before, compute, after

    def resolve(self) -> list[Reason]:
        """The full reason list (computes the model reasons)."""
        return [*self.before, *self.compute(), *self.after]


class _ReasonsField:
    """``Decision.reasons``: a plain list, or a :class:`PendingReasons` resolved (once) on first read."""

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return ()  # the dataclass default (an empty list per instance, see __set__)
        v = obj.__dict__["_reasons"]
        if type(v) is PendingReasons:
            v = v.resolve()
            obj.__dict__["_reasons"] = v
        return v

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__["_reasons"] = value if isinstance(value, (list, PendingReasons)) else list(value)


_CHALLENGER_KEYS = ("challenger_score", "challenger_probability", "challenger_action", "challenger_version")


@dataclass
class Decision:
    """The decision for one application.

    Attributes
    ----------
    application_id : str
        The application's id.
    score : int
        Risk score on the 0-1000 scale: the model's calibrated probability times
        1000, plus rule points, clipped to 0..1000.
    probability : float
        Calibrated model probability of fraud (NaN when no model is loaded).
    action : {"approve", "review", "decline"}
        Final action after rules and thresholds (see :mod:`fraudscore.policy`).
    reasons : list of Reason
        Ordered: acting rule hits first (by priority), then model reasons, then
        system reasons. The model reasons of a single-event decision are
        computed on first access (reading ``reasons``, ``to_dict``, equality or
        ``repr``), so an explanation nobody reads costs nothing on the scoring
        path; the list is the same as an eager computation gives
        (:attr:`reasons_pending` tells whether it is still to be computed).
    rule_hits : list of str
        Codes of the non-shadow rules that fired.
    shadow_hits : list of str
        Codes of shadow rules that fired (reported, never acting).
    features : dict, optional
        Feature values, when requested with ``return_features=True``.
    model_version, ruleset_version : str
        Content versions of the model and of the rule set.
    device_id : str, optional
        The linked (pseudonymous) device id.
    degraded : bool
        True when a store failed and the event was scored without velocity features.
    challenger_score, challenger_probability, challenger_action : optional
        When the bundle carries a challenger model (scored in shadow, never
        acting): its final score, calibrated probability and the action it
        would have taken, with the same rules and its own thresholds
        (``None`` without a challenger).
    challenger_version : str
        Content version of the challenger model (``""`` without one).
    duplicate : bool
        True when this application id was already scored (a retry, or the same
        application sent again): the decision is rebuilt from the state recorded the
        first time (velocity features and device link) and nothing was counted again.
        See ``docs/reliability.md`` ("Exactly once").
    """

    application_id: str
    score: int
    probability: float
    action: str
    reasons: list[Reason] = _ReasonsField()  # type: ignore[assignment]
    rule_hits: list[str] = field(default_factory=list)
    shadow_hits: list[str] = field(default_factory=list)
    features: dict[str, float] | None = None
    model_version: str = ""
    ruleset_version: str = ""
    device_id: str | None = None
    degraded: bool = False
    challenger_score: int | None = None
    challenger_probability: float | None = None
    challenger_action: str | None = None
    challenger_version: str = ""
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-serialisable); the ``challenger_*`` keys only when a challenger was scored."""
        out = asdict(self)
        if self.challenger_score is None and not self.challenger_version:
            for k in _CHALLENGER_KEYS:
                out.pop(k, None)
        return out

    @property
    def reasons_pending(self) -> bool:
        """Whether the model reasons are still to be computed (on the first read of :attr:`reasons`).

        Examples
        --------
        >>> d = Decision("A1", 10, 0.01, "approve")
        >>> d.reasons_pending, d.reasons
        (False, [])
        """
        return type(self.__dict__.get("_reasons")) is PendingReasons

    def __getstate__(self) -> dict[str, Any]:
        self.reasons  # noqa: B018 - resolve pending reasons: copies and pickles hold plain data
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


_new_object = object.__new__


def make_decision(application_id: str, score: int, probability: float, action: str, reasons: Any,
                  rule_hits: list[str], shadow_hits: list[str], features: dict[str, float] | None,
                  model_version: str, ruleset_version: str, device_id: str | None, degraded: bool,
                  duplicate: bool, challenger: dict[str, Any] | None = None) -> Decision:
    """``Decision(...)`` with every field given, without the dataclass ``__init__`` (the scorer's hot path).

    Builds the instance's ``__dict__`` in one literal: the same keys, in the same order, with the
    same values as ``Decision.__init__`` writes them (``reasons`` under ``_reasons``, a non-list
    turned into a list as :class:`_ReasonsField` does). ``challenger`` holds the four
    ``challenger_*`` fields, or is ``None``/empty for their defaults. About 4k instructions instead
    of 17k (callgrind, round 9); ``tests/test_decision.py`` checks it against the constructor.

    Examples
    --------
    >>> d = make_decision("A1", 10, 0.01, "approve", [], [], [], None, "m1", "r1", None, False, False)
    >>> d == Decision("A1", 10, 0.01, "approve", model_version="m1", ruleset_version="r1")
    True
    """
    if challenger:
        c_score, c_prob = challenger["challenger_score"], challenger["challenger_probability"]
        c_action, c_version = challenger["challenger_action"], challenger["challenger_version"]
    else:
        c_score = c_prob = c_action = None
        c_version = ""
    d = _new_object(Decision)
    d.__dict__ = {
        "application_id": application_id, "score": score, "probability": probability, "action": action,
        "_reasons": reasons if isinstance(reasons, (list, PendingReasons)) else list(reasons),
        "rule_hits": rule_hits, "shadow_hits": shadow_hits, "features": features,
        "model_version": model_version, "ruleset_version": ruleset_version, "device_id": device_id,
        "degraded": degraded, "challenger_score": c_score, "challenger_probability": c_prob,
        "challenger_action": c_action, "challenger_version": c_version, "duplicate": duplicate,
    }
    return d


@dataclass
class DecisionBatch:
    """Decisions for many applications, in columnar form.

    Rows follow the valid input rows in input order; rejected rows are listed in
    :attr:`errors` with their input position and never silently dropped.

    Attributes
    ----------
    application_id : numpy.ndarray
        ``object`` array of ids.
    score : numpy.ndarray
        ``int64`` scores.
    probability : numpy.ndarray
        ``float64`` probabilities.
    action : numpy.ndarray
        ``object`` array of actions.
    reasons : list of list of Reason
        Per-row ordered reasons.
    rule_hits, shadow_hits : list of list of str
        Per-row rule codes.
    rows : numpy.ndarray
        Input positions of the scored rows.
    errors : list of EventError
        Rejected rows (``.row`` is the input position).
    features : dict of str to numpy.ndarray, optional
        Feature columns when requested.
    index : object, optional
        The input's index (pandas), used by :meth:`to_pandas`.
    ts : numpy.ndarray, optional
        ``int64`` event times (epoch milliseconds), for monitoring by day.
    challenger_score, challenger_probability, challenger_action : numpy.ndarray, optional
        Per-row shadow results of the bundle's challenger model (``None`` without one).
    challenger_version : str
        Content version of the challenger model.
    duplicate : numpy.ndarray, optional
        ``bool`` per row: the row repeats the application id of an earlier scored row
        (see :attr:`Decision.duplicate`).
    """

    application_id: np.ndarray
    score: np.ndarray
    probability: np.ndarray
    action: np.ndarray
    reasons: list[list[Reason]]
    rule_hits: list[list[str]]
    shadow_hits: list[list[str]]
    rows: np.ndarray
    errors: list[EventError] = field(default_factory=list)
    features: dict[str, np.ndarray] | None = None
    device_id: np.ndarray | None = None
    model_version: str = ""
    ruleset_version: str = ""
    degraded: np.ndarray | None = None
    index: Any = None
    ts: np.ndarray | None = None
    challenger_score: np.ndarray | None = None
    challenger_probability: np.ndarray | None = None
    challenger_action: np.ndarray | None = None
    challenger_version: str = ""
    duplicate: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def __getitem__(self, i: int) -> Decision:
        feats = None
        if self.features is not None:
            feats = {k: float(v[i]) for k, v in self.features.items()}
        return Decision(
            application_id=str(self.application_id[i]),
            score=int(self.score[i]),
            probability=float(self.probability[i]),
            action=str(self.action[i]),
            reasons=list(self.reasons[i]),
            rule_hits=list(self.rule_hits[i]),
            shadow_hits=list(self.shadow_hits[i]),
            features=feats,
            model_version=self.model_version,
            ruleset_version=self.ruleset_version,
            device_id=None if self.device_id is None else self.device_id[i],
            degraded=bool(self.degraded[i]) if self.degraded is not None else False,
            **self._challenger_row(i),
            duplicate=bool(self.duplicate[i]) if self.duplicate is not None else False,
        )

    def _challenger_row(self, i: int) -> dict[str, Any]:
        if self.challenger_score is None:
            return {}
        return {"challenger_score": int(self.challenger_score[i]),
                "challenger_probability": float(self.challenger_probability[i]),  # type: ignore[index]
                "challenger_action": str(self.challenger_action[i]),  # type: ignore[index]
                "challenger_version": self.challenger_version}

    def __iter__(self) -> Iterator[Decision]:
        for i in range(len(self)):
            yield self[i]

    def action_counts(self) -> dict[str, int]:
        """How many rows got each action."""
        return {a: int(np.sum(self.action == a)) for a in ACTIONS}

    def to_pandas(self, *, top_reasons: int = 3, with_features: bool = True) -> Any:
        """A ``pandas.DataFrame`` with one row per scored event.

        The index is the input's index at the scored rows (a ``RangeIndex`` of
        input positions for non-pandas input), so results join back to the input.
        """
        pd = require_pandas()
        if self.index is not None:
            index = self.index[self.rows]
        else:
            index = pd.Index(self.rows, name="row")
        data: dict[str, Any] = {
            "application_id": self.application_id,
            "score": self.score,
            "probability": self.probability,
            "action": self.action,
            "reasons": [";".join(r.code for r in rs[:top_reasons]) for rs in self.reasons],
            "rule_hits": [";".join(h) for h in self.rule_hits],
        }
        if self.degraded is not None:
            data["degraded"] = self.degraded
        if self.ts is not None:
            data["ts"] = self.ts
        if self.challenger_score is not None:
            data["challenger_score"] = self.challenger_score
            data["challenger_probability"] = self.challenger_probability
            data["challenger_action"] = self.challenger_action
        if self.duplicate is not None:
            data["duplicate"] = self.duplicate
        if with_features and self.features is not None:
            for k, v in self.features.items():
                data[k] = v
        return pd.DataFrame(data, index=index)

    def errors_table(self) -> list[dict[str, Any]]:
        """Rejected rows as records: ``row``, ``field``, ``error``."""
        return [{"row": e.row, "field": e.field, "error": str(e)} for e in self.errors]

    @staticmethod
    def concat(parts: Sequence[DecisionBatch]) -> DecisionBatch:
        """Concatenate batches scored in sequence (rows keep their own positions)."""
        if not parts:
            raise ValueError("nothing to concatenate")
        first = parts[0]
        feats = None
        if first.features is not None:
            feats = {k: np.concatenate([p.features[k] for p in parts]) for k in first.features}  # type: ignore[index]
        return DecisionBatch(
            application_id=np.concatenate([p.application_id for p in parts]),
            score=np.concatenate([p.score for p in parts]),
            probability=np.concatenate([p.probability for p in parts]),
            action=np.concatenate([p.action for p in parts]),
            reasons=[r for p in parts for r in p.reasons],
            rule_hits=[r for p in parts for r in p.rule_hits],
            shadow_hits=[r for p in parts for r in p.shadow_hits],
            rows=np.concatenate([p.rows for p in parts]),
            errors=[e for p in parts for e in p.errors],
            features=feats,
            device_id=None if first.device_id is None else np.concatenate([p.device_id for p in parts]),
            model_version=first.model_version,
            ruleset_version=first.ruleset_version,
            degraded=None if first.degraded is None else np.concatenate([p.degraded for p in parts]),
            index=first.index,
            **{k: (None if getattr(first, k) is None else np.concatenate([getattr(p, k) for p in parts]))
               for k in ("ts", "challenger_score", "challenger_probability", "challenger_action")},
            challenger_version=first.challenger_version,
            duplicate=None if first.duplicate is None else np.concatenate([p.duplicate for p in parts]),
        )


DecisionBatch.reasons = BatchReasonsField()  # type: ignore[assignment]  # model reasons on first read (batchreasons.py)
