"""Reason codes from LightGBM contributions (TreeSHAP).

``Booster.predict(X, pred_contrib=True)`` splits each raw score (log-odds) into
one additive contribution per feature plus a bias. :func:`explain_reasons`
takes the features that pushed an application *towards* fraud the most, maps
each feature name to a stable reason code and a message quoting the value, and
keeps one reason per code (the strongest), up to ``top_k``.

The mapping is a table of :class:`ReasonCode` entries matched in order against
the feature name (first match wins), so ``distinct__applicant_id__by__device_id__24h``
becomes ``MODEL_DEVICE_SHARED: many ID numbers on this device (7 in 24 h)``.
Each code says whether it is fit for an adverse-action notice to the applicant
(``adverse_action_ok``) or internal only (signals derived from other people's
data or confirmed-fraud labels, protected characteristics such as age, and
opaque engineered signals); see ``docs/model.md``.

Examples
--------
>>> describe_feature("distinct__applicant_id__by__device_id__24h", 7.0)
('MODEL_DEVICE_SHARED', 'many ID numbers on this device (7 in 24 h)', True)
>>> describe_feature("fraud_rate__device_id__30d__delay7d", 0.25)[::2]
('MODEL_LINKED_FRAUD', False)
>>> describe_feature("time_since_last__applicant_id__30d", 45.0)[1]
'short time since the previous application with this ID number (45 s)'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ModelReason", "ReasonCode", "REASON_TABLE", "describe_feature", "explain_reasons", "explain_batch"]

_SINGULAR = {
    "applicant_id": "ID number",
    "phone": "phone number",
    "email": "email address",
    "card": "bank card",
    "device_id": "device",
    "device_fp": "device",
    "device_hw": "device hardware",
    "ip": "IP address",
    "ip_prefix": "network",
    "inviter": "inviter",
    "customer_id": "customer",
    "terminal_id": "terminal",
}
_PLURAL = {"device_hw": "device hardware profiles", "inviter": "inviters", "ip_prefix": "networks"}
_AGG_WORD = {"sum": "total", "mean": "average", "max": "largest", "min": "smallest"}


def _sg(name: str) -> str:
    return _SINGULAR.get(name, name.replace("_", " "))


def _pl(name: str) -> str:
    if name in _PLURAL:
        return _PLURAL[name]
    word = _sg(name)
    return word + ("es" if word.endswith("s") else "s")


def _window(w: str) -> str:
    if w.endswith("__earlier_days"):
        return _window(w[: -len("__earlier_days")]) + ", earlier days only"
    m = re.fullmatch(r"cal(\d+)d", w)
    if m:
        return f"{m.group(1)} calendar day" + ("s" if m.group(1) != "1" else "")
    m = re.fullmatch(r"(\d+)([a-z]+)", w)
    return f"{m.group(1)} {m.group(2)}" if m else w


def _num(v: float | str) -> str:
    if isinstance(v, str):  # a decoded category value
        return v
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "missing"
    if float(v).is_integer():
        return str(int(v))
    if abs(v) >= 1:
        return f"{v:.2f}".rstrip("0").rstrip(".")
    return f"{v:.3g}"


def _duration(seconds: float) -> str:
    """Velocity ages (``time_since_last``, ``first_seen_age``) are in seconds."""
    if seconds is None or math.isnan(seconds):
        return "none before"
    s = float(seconds)
    for size, unit in ((86400.0, "d"), (3600.0, "h"), (60.0, "min")):
        if s >= size:
            return f"{s / size:.3g} {unit}"
    return f"{s:.3g} s"


@dataclass(frozen=True)
class ReasonCode:
    """One row of the feature-name -> reason-code table.

    Parameters
    ----------
    pattern : str
        Regular expression matched against the whole feature name; named groups
        ``key``, ``what``, ``window``, ``agg`` feed the message.
    code : str
        The reason code.
    template : str
        Message template; fields ``{value}``, ``{pct}``, ``{duration}``,
        ``{window}``, ``{key}`` / ``{keys}`` (singular / plural of the key
        entity), ``{whats}``, ``{agg}`` and ``{feature}``.
    adverse_action_ok : bool
        Fit for an adverse-action notice to the applicant.
    missing : str, optional
        Template used when the value is missing (NaN).

    Examples
    --------
    >>> rc = ReasonCode(r"amount", "MODEL_AMOUNT", "requested amount ({value})", True)
    >>> rc.render("amount", 5000.0)
    'requested amount (5000)'
    """

    pattern: str
    code: str
    template: str
    adverse_action_ok: bool
    missing: str | None = None

    def match(self, feature: str) -> re.Match[str] | None:
        """The match of :attr:`pattern` on the whole feature name, if any."""
        return re.fullmatch(self.pattern, feature)

    def render(self, feature: str, value: float, m: re.Match[str] | None = None) -> str:
        """The message for ``feature`` at ``value``."""
        m = m or self.match(feature)
        g = m.groupdict() if m else {}
        if isinstance(value, str):  # a decoded category value: quoted as is
            fields = {"value": value, "pct": value, "duration": value, "window": _window(g.get("window") or ""),
                      "key": _sg(g.get("key") or ""), "keys": _pl(g.get("key") or ""), "whats": _pl(g.get("what") or ""),
                      "agg": _AGG_WORD.get(g.get("agg") or "", g.get("agg") or ""), "feature": feature}
            return self.template.format(**fields)
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        template = self.missing if (missing and self.missing) else self.template
        fields = {
            "value": _num(value),
            "pct": "missing" if missing else f"{100 * float(value):.3g} %",
            "duration": _duration(float("nan") if missing else float(value)),
            "window": _window(g.get("window") or ""),
            "key": _sg(g.get("key") or ""),
            "keys": _pl(g.get("key") or ""),
            "whats": _pl(g.get("what") or ""),
            "agg": _AGG_WORD.get(g.get("agg") or "", g.get("agg") or ""),
            "feature": feature,
        }
        return template.format(**fields)


_DEV = r"device_id|device_fp|device_hw"
_NET = r"ip|ip_prefix"
REASON_TABLE: tuple[ReasonCode, ...] = (
    ReasonCode(rf"distinct__(?P<what>\w+?)__by__(?P<key>{_DEV})__(?P<window>\w+)", "MODEL_DEVICE_SHARED",
               "many {whats} on this device ({value} in {window})", True),
    ReasonCode(rf"distinct__(?P<what>{_DEV})__by__(?P<key>\w+?)__(?P<window>\w+)", "MODEL_ID_MANY_DEVICES",
               "this {key} was used on many devices ({value} in {window})", True),
    ReasonCode(rf"count__(?P<key>{_NET})__(?P<window>\w+)", "MODEL_IP_BURST",
               "many applications from this network ({value} in {window})", True),
    ReasonCode(rf"distinct__(?P<what>\w+?)__by__(?P<key>{_NET})__(?P<window>\w+)", "MODEL_IP_BURST",
               "many {whats} from this network ({value} in {window})", True),
    ReasonCode(rf"count__(?P<key>{_DEV})__(?P<window>\w+)", "MODEL_DEVICE_VELOCITY",
               "many applications from this device ({value} in {window})", True),
    ReasonCode(r"distinct__(?P<what>\w+?)__by__(?P<key>\w+?)__(?P<window>\w+)", "MODEL_ID_LINKS",
               "this {key} is linked to many {whats} ({value} in {window})", True),
    ReasonCode(r"count__(?P<key>\w+?)__(?P<window>\w+)", "MODEL_ID_VELOCITY",
               "many applications with this {key} ({value} in {window})", True),
    ReasonCode(r"(?P<agg>sum|mean|max)__amount__by__(?P<key>\w+?)__(?P<window>\w+)", "MODEL_AMOUNT_VELOCITY",
               "high {agg} amount requested with this {key} ({value} in {window})", True),
    ReasonCode(r"ratio_to_mean__amount__by__(?P<key>\w+?)__(?P<window>\w+)", "MODEL_AMOUNT_UNUSUAL",
               "amount {value} times the usual for this {key} ({window})", True),
    ReasonCode(r"(?P<agg>\w+?)__(?P<what>\w+?)__by__(?P<key>\w+?)__(?P<window>\w+)", "MODEL_VELOCITY_OTHER",
               "unusual recent activity for this {key} ({feature} = {value})", False),
    ReasonCode(r"time_since_last__(?P<key>\w+?)(__(?P<window>[0-9]+[a-z]+))?", "MODEL_RAPID_REPEAT",
               "short time since the previous application with this {key} ({duration})", True,
               missing="first application seen with this {key}"),
    ReasonCode(r"fraud_rate__(?P<key>\w+?)__(?P<window>[0-9]+[a-z]+)(__delay\w+)?", "MODEL_LINKED_FRAUD",
               "{key} linked to confirmed fraud ({pct} of its labelled applications in {window})", False),
    ReasonCode(r"first_seen_age__(?P<key>\w+?)__(?P<window>\w+)", "MODEL_NEW_ENTITY",
               "this {key} was first seen only recently ({duration} ago)", True,
               missing="this {key} has not been seen before"),
    ReasonCode(r"fraud_count__(?P<key>\w+?)__(?P<window>[0-9]+[a-z]+)(__delay\w+)?", "MODEL_LINKED_FRAUD",
               "{key} linked to confirmed fraud ({value} confirmed cases in {window})", False),
    ReasonCode(r"(?P<key>\w+?)__(checksum_ok|luhn_ok)", "MODEL_ID_INVALID", "the {key} failed its validity check",
               True),
    ReasonCode(r"(?P<key>applicant_id|inviter_id|phone|email|bank_card)__valid", "MODEL_ID_INVALID",
               "the {key} is not a valid number or address ({feature} = {value})", True),
    ReasonCode(r"bank_card__bin6", "MODEL_CARD_ISSUER", "card issuer range (BIN {value})", False),
    ReasonCode(r"ip__\w+", "MODEL_IP", "IP address characteristics ({feature} = {value})", False),
    ReasonCode(r"(\w+__)?(age|gender|sex|birth_\w+)(__category)?", "MODEL_PROTECTED_ATTRIBUTE",
               "applicant attribute {feature} ({value}) -- protected characteristic, internal only", False),
    ReasonCode(r"(?P<key>\w+?)__category", "MODEL_CATEGORY", "{key}: {value}", False),
    ReasonCode(r"email__disposable", "MODEL_EMAIL_DISPOSABLE", "disposable email address", True),
    ReasonCode(r"email__\w+", "MODEL_EMAIL", "email address characteristics ({feature} = {value})", False),
    ReasonCode(r"phone__\w+", "MODEL_PHONE", "phone number characteristics ({feature} = {value})", False),
    ReasonCode(r"device__emulator", "MODEL_DEVICE_EMULATOR", "application sent from an emulated device", True),
    ReasonCode(r"device__\w+", "MODEL_DEVICE_ATTRIBUTE", "device characteristics ({feature} = {value})", False),
    ReasonCode(r"amount", "MODEL_AMOUNT", "requested amount ({value})", True),
    ReasonCode(r"term_months", "MODEL_TERM", "requested term ({value} months)", True),
    ReasonCode(r"rule__\w+", "MODEL_RULE_SIGNAL", "rule signal {feature} ({value})", False),
    ReasonCode(r".*", "MODEL_OTHER", "model signal {feature} ({value})", False),
)


def describe_feature(
    feature: str, value: float | str, table: Sequence[ReasonCode] = REASON_TABLE
) -> tuple[str, str, bool]:
    """``(code, message, adverse_action_ok)`` for one feature at one value.

    Examples
    --------
    >>> describe_feature("applicant_id__checksum_ok", 0.0)
    ('MODEL_ID_INVALID', 'the ID number failed its validity check', True)
    >>> describe_feature("something_new", 1.5)
    ('MODEL_OTHER', 'model signal something_new (1.5)', False)
    >>> describe_feature("browser__category", "Opera")
    ('MODEL_CATEGORY', 'browser: Opera', False)
    >>> describe_feature("ratio_to_mean__amount__by__card__cal30d__earlier_days", 4.5)[1]
    'amount 4.5 times the usual for this bank card (30 calendar days, earlier days only)'
    >>> describe_feature("count__card__cal1d", 3.0)[1]
    'many applications with this bank card (3 in 1 calendar day)'
    """
    for rc in table:
        m = rc.match(feature)
        if m is not None:
            return rc.code, rc.render(feature, value, m), rc.adverse_action_ok
    return "MODEL_OTHER", f"model signal {feature} ({_num(value)})", False


@dataclass(frozen=True)
class ModelReason:
    """One model reason: a feature that pushed the score up.

    Attributes
    ----------
    code : str
        Reason code (``MODEL_DEVICE_SHARED``...).
    message : str
        Readable text quoting the value.
    feature : str
        The feature behind it.
    contribution : float
        Its TreeSHAP contribution to the raw score (log-odds); positive.
    adverse_action_ok : bool
        Fit for an adverse-action notice to the applicant.

    Examples
    --------
    >>> ModelReason("MODEL_AMOUNT", "requested amount (5000)", "amount", 0.4, True).code
    'MODEL_AMOUNT'
    """

    code: str
    message: str
    feature: str
    contribution: float
    adverse_action_ok: bool = False


_MATCHES: dict[str, tuple[ReasonCode | None, re.Match[str] | None]] = {}
"""Feature name -> the first row of :data:`REASON_TABLE` matching it and its match (names repeat: matched once)."""
_DESCRIBED: dict[tuple[str, Any, float], tuple[str, str, bool]] = {}
"""(feature name, value) -> :func:`describe_feature`'s answer with :data:`REASON_TABLE` (at most 65,536, then
started afresh; a NaN value never matches itself, so it is rendered each time)."""


def _describe(feature: str, value: float | str, table: Sequence[ReasonCode]) -> tuple[str, str, bool]:
    """:func:`describe_feature`, with :data:`REASON_TABLE`'s match looked up once per feature name."""
    if table is not REASON_TABLE:
        return describe_feature(feature, value, table)
    hit = _MATCHES.get(feature)
    if hit is None:
        hit = next(((rc, m) for rc in table for m in (rc.match(feature),) if m is not None), (None, None))
        if len(_MATCHES) < 4096:
            _MATCHES[feature] = hit
    key = (feature, value, math.copysign(1.0, value) if type(value) is float else 2.0)  # -0.0 renders apart
    got = _DESCRIBED.get(key)  # counts, flags and categories repeat: each (name, value) rendered once
    if got is not None:
        return got
    rc, m = hit
    if rc is not None:
        got = (rc.code, rc.render(feature, value, m), rc.adverse_action_ok)
    else:
        got = ("MODEL_OTHER", f"model signal {feature} ({_num(value)})", False)
    if len(_DESCRIBED) >= 65536:
        _DESCRIBED.clear()
    _DESCRIBED[key] = got
    return got


def _reasons_from_row(
    names: Sequence[str],
    contrib: np.ndarray,
    row_values: Mapping[str, float] | Sequence[float],
    top_k: int,
    table: Sequence[ReasonCode],
    min_contribution: float,
    decoders: Mapping[str, Any] | None = None,
    order: Sequence[int] | None = None,
    margin: float = 0.0,
    zero: Sequence[bool] | None = None,
    c_row: Sequence[float] | None = None,
    tol: float | None = None,
) -> list[ModelReason] | None:
    """The reasons of one row; None when ``margin`` > 0 and a contribution within ``margin`` (times the row's
    scale) of another, or of ``min_contribution``, could change them (the caller explains that row exactly).
    ``zero[j]``: feature ``j`` contributes exactly 0.0 in every engine (no tree splits on it), so its value is
    certain. ``c_row`` (the row's contributions as a list) and ``tol`` (``margin`` times the row's scale) may be
    given by a caller that computed them for many rows at once (:func:`explain_batch`): the same values."""
    k = len(names)
    if order is None:
        order = np.argsort(-contrib[:k], kind="stable").tolist()
    if c_row is None:
        c_row = contrib[:k].tolist()
    if tol is None:
        tol = margin * (1.0 + float(np.sum(np.abs(contrib)))) if margin > 0 else 0.0
    out: list[ModelReason] = []
    seen: set[str] = set()
    by_name = isinstance(row_values, Mapping)  # once per row (an ABC check), not per examined feature
    for p, j in enumerate(order):
        c = c_row[j]
        if tol:
            sure = zero is not None and zero[j]
            if not sure and abs(c - min_contribution) <= tol:
                return None
            if c > min_contribution and p + 1 < k and c - c_row[order[p + 1]] <= 2 * tol \
                    and not (sure and zero[order[p + 1]]):  # type: ignore[index]
                return None
        if not c > min_contribution:
            break
        name = names[j]
        value = row_values[name] if by_name else row_values[j]  # type: ignore[index,call-overload]
        if decoders and name in decoders and not isinstance(value, str):  # a category code: quote its value
            value = decoders[name].decode(math.nan if value is None else float(value))
        elif not isinstance(value, str):
            value = float(value) if value is not None else math.nan
        code, msg, ok = _describe(name, value, table)
        if code in seen:
            continue
        seen.add(code)
        out.append(ModelReason(code, msg, name, c, ok))
        if len(out) >= top_k:
            break
    return out


def _margin(model: Any) -> float:
    """The model's :attr:`~fraudscore.model.model.Model.contribution_margin` (0: exact contributions)."""
    m = getattr(model, "contribution_margin", 0.0)
    return float(m) if isinstance(m, (int, float)) else 0.0


def _zero(model: Any, margin: float) -> list[bool] | None:
    """Per feature: no tree splits on it, so its contribution is exactly 0.0 in every engine
    (:attr:`~fraudscore.model.model.Model.unsplit_features`); None when not known or not needed."""
    if not margin:
        return None
    z = getattr(model, "unsplit_features", None)
    return None if z is None else [bool(v) for v in z]


def explain_reasons(
    model: Any,
    x: np.ndarray | Sequence[float],
    top_k: int = 3,
    values: Mapping[str, float] | None = None,
    *,
    table: Sequence[ReasonCode] = REASON_TABLE,
    min_contribution: float = 0.0,
) -> list[ModelReason]:
    """Top reasons (strongest first) why ``model`` scored the row ``x`` as risky.

    Parameters
    ----------
    model : Model
        Anything with ``feature_names`` and ``contributions(X)``.
    x : array of shape (k,)
        The feature row (NaN = missing).
    top_k : int
        Most reasons to return (one per code).
    values : mapping, optional
        Values to quote in messages, by feature name (defaults to ``x``); lets a
        caller show e.g. a raw count where the model saw a transformed one.
    table : sequence of ReasonCode
        The mapping table (defaults to :data:`REASON_TABLE`).
    min_contribution : float
        Only features contributing more than this (log-odds) become reasons.

    Examples
    --------
    >>> class Stub:
    ...     feature_names = ["amount", "distinct__applicant_id__by__device_id__24h", "term_months"]
    ...     def contributions(self, X):
    ...         return np.array([[0.2, 1.5, -0.3, -2.0]])
    >>> [(r.code, r.message) for r in explain_reasons(Stub(), [5000.0, 7.0, 6.0])]
    [('MODEL_DEVICE_SHARED', 'many ID numbers on this device (7 in 24 h)'), ('MODEL_AMOUNT', 'requested amount (5000)')]
    """
    row = np.asarray(x, dtype=np.float64).reshape(1, -1)
    contrib = np.asarray(model.contributions(row))[0]
    names = list(model.feature_names)
    row_values: Mapping[str, float] | Sequence[float]
    if values is not None:
        row_values = {n: (values[n] if n in values else row[0, j]) for j, n in enumerate(names)}
    else:
        row_values = row[0].tolist()
    dec = _decoders(model)
    margin = _margin(model)
    out = _reasons_from_row(names, contrib, row_values, top_k, table, min_contribution, dec, margin=margin,
                            zero=_zero(model, margin))
    if out is None:  # a near tie in the rounded contributions: the exact ones decide
        contrib = np.asarray(model.contributions(row, exact=True))[0]
        out = _reasons_from_row(names, contrib, row_values, top_k, table, min_contribution, dec)
    assert out is not None
    return out


def _decoders(model: Any) -> dict[str, Any]:
    """Category feature name -> vocabulary, for models with categorical features."""
    cats = getattr(model, "categories", None)
    if not cats:
        return {}
    from ..categories import category_feature

    return {category_feature(f): v for f, v in cats.vocabularies.items()}


def explain_batch(
    model: Any, X: np.ndarray, top_k: int = 3, *, table: Sequence[ReasonCode] = REASON_TABLE
) -> list[list[ModelReason]]:
    """:func:`explain_reasons` for every row of ``X`` (one ``pred_contrib`` call).

    Examples
    --------
    >>> class Stub:
    ...     feature_names = ["amount", "email__disposable"]
    ...     def contributions(self, X):
    ...         return np.array([[0.1, 0.9, -1.0], [-0.1, -0.2, -1.0]])
    >>> [[r.code for r in rs] for rs in explain_batch(Stub(), np.array([[100.0, 1.0], [50.0, 0.0]]))]
    [['MODEL_EMAIL_DISPOSABLE', 'MODEL_AMOUNT'], []]
    """
    X = np.asarray(X, dtype=np.float64)
    contrib = np.asarray(model.contributions(X))
    names = list(model.feature_names)
    dec = _decoders(model)
    margin = _margin(model)
    zero = _zero(model, margin)
    k = len(names)
    orders = np.argsort(-contrib[:, :k], axis=1, kind="stable").tolist() if X.shape[0] else []
    values = X.tolist()
    # each row's list and tolerance computed for all rows at once (#13 round 12): np.abs(c).sum(axis=1) reduces
    # each contiguous row with the pairwise sum np.sum uses for one row, so the tolerances are the same doubles
    rows_c = contrib.tolist()
    tols = (margin * (1.0 + np.abs(contrib).sum(axis=1))).tolist() if margin > 0 and X.shape[0] else None
    out: list[list[ModelReason] | None] = [
        _reasons_from_row(names, contrib[i], values[i], top_k, table, 0.0, dec, orders[i], margin, zero,
                          rows_c[i], 0.0 if tols is None else tols[i])
        for i in range(X.shape[0])]
    redo = [i for i, r in enumerate(out) if r is None]
    if redo:  # near ties in the rounded contributions: the exact ones decide (as in explain_reasons)
        exact = np.asarray(model.contributions(X[redo], exact=True))
        for e, i in enumerate(redo):
            out[i] = _reasons_from_row(names, exact[e], values[i], top_k, table, 0.0, dec)
    return out  # type: ignore[return-value]
