"""Ready-made feature sets: loan applications, and the Fraud Detection Handbook's 12 windows.

Examples
--------
>>> fs = default_feature_set()
>>> len(fs), fs.names[0]
(22, 'count__device_id__1h')
>>> sorted(fs.fields)[:3]
['amount', 'applicant_id', 'bank_card']
>>> handbook_feature_set().names[-1]
'fraud_rate__TERMINAL_ID__30d__delay_7d'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .spec import FeatureSet, FeatureSpec

__all__ = ["default_feature_set", "derived_feature_set", "handbook_feature_set", "HANDBOOK_COLUMNS"]


def default_feature_set(allowed_lateness: str = "1h") -> FeatureSet:
    """22 velocity features for loan applications (a ~15 us online budget).

    Over the record fields ``device_id``, ``applicant_id``, ``phone``, ``email``,
    ``bank_card``, ``ip``, ``ip_prefix``, ``inviter_id`` and ``amount``, plus two
    that catch device farms which randomise every resettable attribute (so that
    even the linked ``device_id`` splits): distinct applicants per hardware
    section and IP /24 in 24 h, and distinct devices per canvas/WebGL rendering
    hash in 7 days ("an attribute value seen on many unrelated devices").
    """
    S = FeatureSpec
    return FeatureSet([
        S("count", key="device_id", window="1h"),
        S("count", key="device_id", window="24h"),
        S("distinct", key="device_id", of="applicant_id", window="24h"),
        S("distinct", key="device_id", of="applicant_id", window="7d"),
        S("distinct", key="applicant_id", of="device_id", window="24h"),
        S("distinct", key="applicant_id", of="device_id", window="7d"),
        S("distinct", key="applicant_id", of="phone", window="7d"),
        S("distinct", key="phone", of="applicant_id", window="30d"),
        S("distinct", key="bank_card", of="applicant_id", window="30d"),
        S("distinct", key="email", of="applicant_id", window="30d"),
        S("distinct", key=("device_hw", "ip_prefix"), of="applicant_id", window="24h"),
        S("distinct", key="device_canvas", of="device_id", window="7d"),
        S("count", key="ip_prefix", window="10m"),
        S("count", key="ip_prefix", window="1h"),
        S("count", key="ip", window="1h"),
        S("count", key="inviter_id", window="24h"),
        S("count", key="inviter_id", window="7d"),
        S("sum", key="applicant_id", field="amount", window="30d"),
        S("time_since_last", key="applicant_id", window="30d"),
        S("first_seen_age", key="device_id", window="30d"),
        S("fraud_rate", key="device_id", window="30d", delay="7d"),
        S("fraud_count", key="bank_card", window="90d", delay="7d"),
    ], allowed_lateness=allowed_lateness)


def derived_feature_set(fields: Iterable[str], entities: Sequence[str],
                        allowed_lateness: str = "1h") -> tuple[FeatureSet, list[str]]:
    """Default velocity features for a custom schema: what applies of the loan set, plus per-entity basics.

    Parameters
    ----------
    fields : iterable of str
        The record fields the schema provides (see
        :attr:`fraudscore.pipeline.FeaturePipeline.record_fields`).
    entities : sequence of str
        Fields that identify an entity (a user, card, device, IP...): each gets
        counts over 1 h / 24 h / 7 d, the distinct count of every other entity
        over 7 d, the time since its last event and the age of its first one.
    allowed_lateness : str
        As in :class:`FeatureSet`.

    Returns
    -------
    (FeatureSet, list of str)
        The features (possibly none) and notes on what was left out.
        Label-delayed loan features (``fraud_rate``, ``fraud_count``) are left
        out, so training needs no label times; add them in a ``[features]``
        section when your labels have them.

    Examples
    --------
    >>> fs, notes = derived_feature_set({"device_id", "ip_prefix", "shop"}, ["shop", "device_id"])
    >>> fs.names[:3], len(fs)
    (('count__device_id__1h', 'count__device_id__24h', 'count__ip_prefix__10m'), 14)
    >>> derived_feature_set({"x"}, [])[0].names
    ()
    """
    avail = set(fields)
    loan = default_feature_set(allowed_lateness)
    specs: list[FeatureSpec] = []
    dropped_fields: set[str] = set()
    delayed: list[str] = []
    for spec in loan.specs:
        if spec.agg in ("fraud_rate", "fraud_count") or spec.delay_ms:
            if spec.fields <= avail:
                delayed.append(spec.name)
            continue
        if spec.fields <= avail:
            specs.append(spec)
        else:
            dropped_fields |= spec.fields - avail
    S = FeatureSpec
    ents = [e for e in dict.fromkeys(entities) if e in avail]
    for e in ents:
        specs += [S("count", key=e, window=w) for w in ("1h", "24h", "7d")]
        specs += [S("distinct", key=e, of=f, window="7d") for f in ents if f != e]
        specs += [S("time_since_last", key=e, window="30d"), S("first_seen_age", key=e, window="30d")]
    unique: dict[str, FeatureSpec] = {}
    for spec in specs:
        unique.setdefault(spec.name, spec)
    notes = []
    if dropped_fields:
        notes.append("default loan features need fields this schema lacks ("
                     + ", ".join(sorted(dropped_fields)) + "); they are left out")
    if delayed:
        notes.append("label-delayed features are left out of the derived defaults (" + ", ".join(delayed)
                     + "); add them in a [features] section when your labels have label times")
    if not unique:
        notes.append("no velocity features: the schema has no entity field (mark identifier fields "
                     "entity = true to get counts and distinct counts per entity)")
    return FeatureSet(list(unique.values()), allowed_lateness=allowed_lateness), notes


#: handbook column -> feature name in :func:`handbook_feature_set`
HANDBOOK_COLUMNS: dict[str, str] = {}


def handbook_feature_set() -> FeatureSet:
    """The Fraud Detection Handbook's 12 windowed features as FeatureSpecs.

    Customer count and mean amount over 1/7/30 days including the current
    transaction; terminal count and fraud rate over 1/7/30-day windows delayed by
    7 days (labels known at transaction time + 7 days). Fields: ``CUSTOMER_ID``,
    ``TERMINAL_ID``, ``TX_AMOUNT``.
    """
    S = FeatureSpec
    specs = []
    for n in (1, 7, 30):
        specs.append(S("count", key="CUSTOMER_ID", window=f"{n}d"))
        specs.append(S("mean", key="CUSTOMER_ID", field="TX_AMOUNT", window=f"{n}d"))
        HANDBOOK_COLUMNS[f"CUSTOMER_ID_NB_TX_{n}DAY_WINDOW"] = specs[-2].name
        HANDBOOK_COLUMNS[f"CUSTOMER_ID_AVG_AMOUNT_{n}DAY_WINDOW"] = specs[-1].name
    for n in (1, 7, 30):
        specs.append(S("count", key="TERMINAL_ID", window=f"{n}d", delay="7d"))
        specs.append(S("fraud_rate", key="TERMINAL_ID", window=f"{n}d", delay="7d"))
        HANDBOOK_COLUMNS[f"TERMINAL_ID_NB_TX_{n}DAY_WINDOW"] = specs[-2].name
        HANDBOOK_COLUMNS[f"TERMINAL_ID_RISK_{n}DAY_WINDOW"] = specs[-1].name
    return FeatureSet(specs, allowed_lateness=0)


handbook_feature_set()  # fills HANDBOOK_COLUMNS
