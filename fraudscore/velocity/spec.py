"""Declarative velocity features: :class:`FeatureSpec` and :class:`FeatureSet`.

A spec names an entity key, an aggregation, a window and, optionally, a filter
on the event and a label delay. Its feature name is derived from it
deterministically (see ``docs/velocity.md`` for the full naming table).

Examples
--------
>>> FeatureSpec("count", key="device_id", window="24h").name
'count__device_id__24h'
>>> FeatureSpec("distinct", key="device_id", of="applicant_id", window="24h").name
'distinct__applicant_id__by__device_id__24h'
>>> FeatureSpec("fraud_rate", key="terminal_id", window="7d", delay="7d").name
'fraud_rate__terminal_id__7d__delay_7d'
>>> FeatureSpec("count", key="card_id", window="7 calendar days", exclude_same_day=True).name
'count__card_id__cal7d__earlier_days'
>>> FeatureSpec("ratio_to_mean", key="card_id", field="amount", window="30d").name
'ratio_to_mean__amount__by__card_id__30d'
>>> fs = FeatureSet([FeatureSpec("sum", key="applicant_id", field="amount", window="7d")])
>>> fs.names, sorted(fs.fields)
(('sum__amount__by__applicant_id__7d',), ['amount', 'applicant_id'])
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..timeutil import format_duration, parse_duration

__all__ = ["FeatureSpec", "FeatureSet", "AGGREGATIONS", "LABEL_AGGS", "NUMERIC_AGGS", "RATIO_AGGS", "DAY_MS"]

NUMERIC_AGGS = ("sum", "mean", "min", "max")
RATIO_AGGS = ("ratio_to_mean",)
FIELD_AGGS = (*NUMERIC_AGGS, *RATIO_AGGS)
TIME_AGGS = ("first_seen_age", "time_since_last")
LABEL_AGGS = ("fraud_count", "fraud_rate")
AGGREGATIONS = ("count", *NUMERIC_AGGS, *RATIO_AGGS, "distinct", *TIME_AGGS, *LABEL_AGGS)
DAY_MS = 86_400_000  # one calendar day (UTC)
_CALENDAR = re.compile(r"^\s*(\d+)\s*calendar[\s_-]*days?\s*$", re.IGNORECASE)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = ("ts", "application_id")
FilterValue = str | int | float | bool


def _bad(param: str, what: str, got: Any, owner: str = "FeatureSpec") -> ConfigError:
    return ConfigError(f"The {param!r} parameter of {owner} {what}. Got {got!r} instead.")


def _duration(param: str, value: Any, *, allow_all: bool, allow_zero: bool = False,
              owner: str = "FeatureSpec") -> int | None:
    if allow_zero and (value == 0 or value == "0") and not isinstance(value, bool):
        return 0
    try:
        ms = parse_duration(value)
    except ValueError:
        ms = -1
    if ms is None and not allow_all:
        raise _bad(param, "must be a finite duration such as '10m' or '7d'" + (" (or 0)" if allow_zero else ""),
                   value, owner)
    if ms is not None and ms <= 0:
        what = "a positive duration such as '10m', '24h' or '7d'" + (" (or 'all')" if allow_all else "")
        raise _bad(param, f"must be {what}" + (" (or 0)" if allow_zero else ""), value, owner)
    return ms


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", str(value)).strip("_").lower() or "x"


class FeatureSpec:
    """One velocity feature.

    Parameters
    ----------
    agg : str
        ``count``, ``sum``, ``mean``, ``min``, ``max`` (of ``field``), ``ratio_to_mean``
        (the event's ``field`` divided by the mean of ``field`` over the entity's
        window; the current event is left out of the mean by default), ``distinct``
        (distinct values of ``of``), ``first_seen_age`` and ``time_since_last``
        (seconds), ``fraud_count`` and ``fraud_rate`` (label-delayed, need ``delay``).
    key : str or tuple of str
        The entity: one record field or a composite of several.
    field : str, optional
        Numeric field for ``sum`` / ``mean`` / ``min`` / ``max`` / ``ratio_to_mean``.
    of : str, optional
        Field whose distinct values ``distinct`` counts; never part of ``key``.
    window : str or int, optional
        Duration (``"10m"``, ``"24h"``, ``"7d"``, int milliseconds), ``"all"``, or a
        calendar window ``"N calendar days"`` (``"1 calendar day"``): the event's own
        UTC calendar day and the ``N - 1`` days before it, from midnight (UTC) on.
        Required except for ``first_seen_age`` / ``time_since_last`` (default ``"all"``).
    delay : str or int, optional
        Shifts the window back: it becomes ``(t - delay - window, t - delay]``.
        Required for ``fraud_count`` / ``fraud_rate`` (``0`` is allowed); with a
        positive delay the current event is never included.
    filter : mapping, optional
        ``{field: value}`` or ``{field: [values]}``: only matching events are aggregated.
    include_current : bool, optional
        Whether the current event counts; default True, except ``first_seen_age``,
        ``time_since_last``, ``ratio_to_mean`` and label aggregates (False; True is
        refused for the latter and with ``exclude_same_day``).
    exclude_same_day : bool, optional
        Leave out every event of the current event's UTC calendar day (and the
        event itself): the window ends at the day's midnight. For date-only data,
        where the order of a day's events is unknown, this is the conservative
        "earlier days only" variant. With a delay, the day is that of ``t - delay``.
    name : str, optional
        Overrides the generated name.

    Examples
    --------
    >>> s = FeatureSpec("count", key=("applicant_id", "device_id"), window="1h",
    ...                 filter={"channel": "web"}, include_current=False)
    >>> s.name
    'count__applicant_id_and_device_id__1h__if_channel_web__excl'
    >>> FeatureSpec.from_dict(s.to_dict()) == s
    True
    >>> FeatureSpec("count", key="ip", window="-5m").name
    Traceback (most recent call last):
    ...
    fraudscore.errors.ConfigError: The 'window' parameter of FeatureSpec must be a positive duration such as '10m', '24h' or '7d' (or 'all', or 'N calendar days'). Got '-5m' instead.
    """

    def __init__(
        self,
        agg: str,
        key: str | Iterable[str],
        *,
        field: str | None = None,
        of: str | None = None,
        window: str | int | None = None,
        delay: str | int | None = None,
        filter: Mapping[str, Any] | None = None,
        include_current: bool | None = None,
        exclude_same_day: bool | None = None,
        name: str | None = None,
    ) -> None:
        self.agg = agg
        self.key = (key,) if isinstance(key, str) else tuple(key) if isinstance(key, (list, tuple)) else key
        self.field = field
        self.of = of
        self.window = window
        self.delay = delay
        self.filter = dict(filter) if isinstance(filter, Mapping) else filter
        self.include_current = include_current
        self.exclude_same_day = exclude_same_day
        self._name = name
        self._checked: dict[str, Any] | None = None

    # -- validation -------------------------------------------------------------------------
    def check(self) -> dict[str, Any]:
        """Validate the parameters once and return the parsed form (cached).

        Examples
        --------
        >>> FeatureSpec("sum", key="applicant_id", field="amount", window="7d").check()["window_ms"]
        604800000
        """
        if self._checked is not None:
            return self._checked
        agg = self.agg
        if agg not in AGGREGATIONS:
            raise _bad("agg", f"must be one of {', '.join(AGGREGATIONS)}", agg)
        key = self.key
        if not isinstance(key, tuple) or not key or not all(isinstance(k, str) and _IDENT.match(k) for k in key):
            raise _bad("key", "must be a field name or a non-empty tuple of field names", self.key)
        if len(set(key)) != len(key) or any(k in _RESERVED for k in key):
            raise _bad("key", "must name distinct record fields other than 'ts' and 'application_id'", self.key)
        if agg in FIELD_AGGS:
            if not isinstance(self.field, str) or not _IDENT.match(self.field) or self.field in _RESERVED:
                raise _bad("field", f"must name a numeric record field for agg={agg!r}", self.field)
        elif self.field is not None:
            raise _bad("field", f"is only used by {', '.join(FIELD_AGGS)}; leave it out for agg={agg!r}", self.field)
        if agg == "distinct":
            if not isinstance(self.of, str) or not _IDENT.match(self.of) or self.of in _RESERVED:
                raise _bad("of", "must name the record field whose distinct values are counted", self.of)
            if self.of in key:
                raise _bad("of", f"must not be part of the key {key!r} (a distinct count of the key itself is always 1)", self.of)
        elif self.of is not None:
            raise _bad("of", f"is only used by agg='distinct'; leave it out for agg={agg!r}", self.of)
        window = self.window
        if window is None:
            if agg not in TIME_AGGS:
                raise _bad("window", f"is required for agg={agg!r} (a duration such as '24h', or 'all')", window)
            window = "all"
        cal_days = 0
        m = _CALENDAR.match(window) if isinstance(window, str) else None
        if m:
            cal_days = int(m.group(1))
            if not 1 <= cal_days <= 36_500:
                raise _bad("window", "must hold between 1 and 36500 calendar days", window)
            window_ms: int | None = cal_days * DAY_MS
        else:
            try:
                window_ms = _duration("window", window, allow_all=True)
            except ConfigError:
                raise _bad("window", "must be a positive duration such as '10m', '24h' or '7d' (or 'all', "
                           "or 'N calendar days')", window) from None
        delay_ms = 0
        if agg in LABEL_AGGS and self.delay is None:
            raise _bad("delay", f"is required for agg={agg!r} (a duration such as '7d', or 0)", self.delay)
        if self.delay is not None:
            delay_ms = _duration("delay", self.delay, allow_all=False, allow_zero=True) or 0
        filt: tuple[tuple[str, tuple[Any, ...]], ...] = ()
        if self.filter is not None:
            if not isinstance(self.filter, dict) or not self.filter:
                raise _bad("filter", "must be a non-empty mapping of field name to value(s)", self.filter)
            items = []
            for f, v in sorted(self.filter.items()):
                if not isinstance(f, str) or not _IDENT.match(f) or f in _RESERVED:
                    raise _bad("filter", "must use record field names as keys", f)
                vals = tuple(v) if isinstance(v, (list, tuple)) else (v,)
                if not vals or not all(isinstance(x, (str, int, float, bool)) for x in vals):
                    raise _bad("filter", f"must map {f!r} to a string/number or a list of them", v)
                items.append((f, vals))
            filt = tuple(items)
        inc = self.include_current
        if inc is not None and not isinstance(inc, bool):
            raise _bad("include_current", "must be True or False", inc)
        excl_day = self.exclude_same_day
        if excl_day is not None and not isinstance(excl_day, bool):
            raise _bad("exclude_same_day", "must be True or False", excl_day)
        excl_day = bool(excl_day)
        if excl_day and inc:
            raise _bad("include_current", "must be False with exclude_same_day=True (the current event lies "
                       "on its own day)", inc)
        if agg in LABEL_AGGS or delay_ms > 0 or excl_day:
            if inc:
                why = "label-delayed aggregates (a label is never known at scoring time)" if agg in LABEL_AGGS \
                    else "a delayed window (the current event lies after it)"
                raise _bad("include_current", f"must be False for {why}", inc)
            inc = False
        elif inc is None:
            inc = agg not in TIME_AGGS and agg not in RATIO_AGGS
        default_inc = (agg not in TIME_AGGS and agg not in LABEL_AGGS and agg not in RATIO_AGGS
                       and delay_ms == 0 and not excl_day)
        if self._name is not None and (not isinstance(self._name, str) or not _IDENT.match(self._name)):
            raise _bad("name", "must be an identifier", self._name)
        self._checked = {
            "agg": agg, "key": key, "field": self.field, "of": self.of, "window_ms": window_ms,
            "delay_ms": delay_ms, "filter": filt, "include_current": inc, "default_inc": default_inc,
            "calendar_days": cal_days, "exclude_same_day": excl_day,
        }
        return self._checked

    # -- derived --------------------------------------------------------------------------------
    @property
    def window_ms(self) -> int | None:
        """Window length in milliseconds (``None`` = all-time; N days for a calendar window)."""
        return self.check()["window_ms"]

    @property
    def calendar_days(self) -> int:
        """Days of a calendar window (0 for a duration window)."""
        return self.check()["calendar_days"]

    @property
    def delay_ms(self) -> int:
        """Label delay in milliseconds (0 when not label-delayed)."""
        return self.check()["delay_ms"]

    @property
    def horizon_ms(self) -> int | None:
        """How far back this feature looks: window + delay (``None`` = unbounded).

        A calendar window of N days reaches back at most N days (N + 1 with
        ``exclude_same_day``) before ``t - delay``.
        """
        c = self.check()
        if c["calendar_days"]:
            return (c["calendar_days"] + c["exclude_same_day"]) * DAY_MS + c["delay_ms"]
        return None if c["window_ms"] is None else c["window_ms"] + c["delay_ms"]

    @property
    def name(self) -> str:
        """The deterministic feature name (see ``docs/velocity.md``)."""
        c = self.check()
        if self._name is not None:
            return self._name
        key = "_and_".join(c["key"])
        win = f"cal{c['calendar_days']}d" if c["calendar_days"] else format_duration(c["window_ms"])
        if c["agg"] in FIELD_AGGS:
            head = f"{c['agg']}__{c['field']}__by__{key}"
        elif c["agg"] == "distinct":
            head = f"distinct__{c['of']}__by__{key}"
        else:
            head = f"{c['agg']}__{key}"
        name = f"{head}__{win}"
        if c["agg"] in LABEL_AGGS or c["delay_ms"]:
            name += f"__delay_{format_duration(c['delay_ms']) if c['delay_ms'] else '0'}"
        for f, vals in c["filter"]:
            name += f"__if_{f}_" + ("in_" if len(vals) > 1 else "") + "_".join(_slug(v) for v in vals)
        if c["exclude_same_day"]:
            name += "__earlier_days"
        if c["include_current"] != c["default_inc"]:
            name += "__incl" if c["include_current"] else "__excl"
        return name

    @property
    def fields(self) -> set[str]:
        """Record fields this spec reads (besides ``ts`` and ``application_id``)."""
        c = self.check()
        out = set(c["key"]) | {f for f, _ in c["filter"]}
        if c["field"]:
            out.add(c["field"])
        if c["of"]:
            out.add(c["of"])
        return out

    # -- (de)serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (TOML/JSON friendly) holding only the given parameters.

        Examples
        --------
        >>> FeatureSpec("count", key="ip", window="1h").to_dict()
        {'agg': 'count', 'key': 'ip', 'window': '1h'}
        """
        c = self.check()
        d: dict[str, Any] = {"agg": c["agg"], "key": c["key"][0] if len(c["key"]) == 1 else list(c["key"])}
        for p in ("field", "of"):
            if c[p] is not None:
                d[p] = c[p]
        if self.window is not None:
            n_cal = c["calendar_days"]
            d["window"] = (f"{n_cal} calendar day" + ("s" if n_cal > 1 else "")) if n_cal \
                else format_duration(c["window_ms"])
        if c["agg"] in LABEL_AGGS or c["delay_ms"]:
            d["delay"] = format_duration(c["delay_ms"]) if c["delay_ms"] else 0
        if c["filter"]:
            d["filter"] = {f: (list(v) if len(v) > 1 else v[0]) for f, v in c["filter"]}
        if self.include_current is not None:
            d["include_current"] = bool(self.include_current)
        if self.exclude_same_day is not None:
            d["exclude_same_day"] = bool(self.exclude_same_day)
        if self._name is not None:
            d["name"] = self._name
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`to_dict`.

        Examples
        --------
        >>> FeatureSpec.from_dict({"agg": "count", "key": "ip", "window": "1h"}).name
        'count__ip__1h'
        """
        if not isinstance(d, Mapping) or "agg" not in d or "key" not in d:
            raise ConfigError(f"A feature spec must be a mapping with at least 'agg' and 'key'. Got {d!r} instead.")
        allowed = {"agg", "key", "field", "of", "window", "delay", "filter", "include_current",
                   "exclude_same_day", "name"}
        extra = set(d) - allowed
        if extra:
            raise ConfigError(f"Unknown parameter(s) {sorted(extra)} in feature spec {dict(d)!r}.")
        params = {k: v for k, v in d.items() if k not in ("agg", "key")}
        spec = cls(d["agg"], d["key"], **params)
        spec.check()
        return spec

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureSpec) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "agg")
        return f"FeatureSpec({self.agg!r}, {args})"


class FeatureSet:
    """An ordered, validated set of :class:`FeatureSpec`.

    Parameters
    ----------
    specs : iterable of FeatureSpec or mappings
        The features, in output order (none at all is allowed: a model on the
        event's own fields only).
    allowed_lateness : str or int, default "1h"
        How far behind the latest event time already seen an event may be and still
        be accepted; ``0`` accepts only in-order events (ties allowed).

    Examples
    --------
    >>> fs = FeatureSet([FeatureSpec("count", key="ip", window="1h")], allowed_lateness="10m")
    >>> fs.names, fs.allowed_lateness_ms
    (('count__ip__1h',), 600000)
    >>> fs.validate(["ts", "ip"])
    >>> fs.validate(["ts"])
    Traceback (most recent call last):
    ...
    fraudscore.errors.ConfigError: The 'key' parameter of FeatureSpec count__ip__1h names unknown field 'ip'. Available: ts.
    >>> FeatureSet.from_dict(fs.to_dict()).names == fs.names
    True
    """

    def __init__(self, specs: Iterable[FeatureSpec | Mapping[str, Any]], allowed_lateness: str | int = "1h") -> None:
        self.specs: tuple[FeatureSpec, ...] = tuple(
            s if isinstance(s, FeatureSpec) else FeatureSpec.from_dict(s) for s in specs
        )
        for s in self.specs:
            s.check()
        names = [s.name for s in self.specs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise _bad("specs", "must have unique feature names", dup[0], "FeatureSet")
        self.allowed_lateness = allowed_lateness
        self.allowed_lateness_ms: int = _duration("allowed_lateness", allowed_lateness, allow_all=False,
                                                     allow_zero=True, owner="FeatureSet") or 0
        self.names: tuple[str, ...] = tuple(names)

    @property
    def fields(self) -> set[str]:
        """Record fields needed (besides ``ts`` and ``application_id``)."""
        out: set[str] = set()
        for s in self.specs:
            out |= s.fields
        return out

    @property
    def has_labels(self) -> bool:
        """Whether any spec is label-delayed."""
        return any(s.agg in LABEL_AGGS for s in self.specs)

    @property
    def horizon_ms(self) -> int | None:
        """Longest look-back (window + delay) of all specs; ``None`` if one is all-time."""
        hs = [s.horizon_ms for s in self.specs]
        if not hs:
            return 0
        return None if any(h is None for h in hs) else max(hs)  # type: ignore[type-var]

    def validate(self, available_fields: Iterable[str]) -> None:
        """Check that every field a spec reads is available; raise ConfigError otherwise."""
        avail = set(available_fields)
        shown = ", ".join(sorted(avail)) or "(none)"
        for s in self.specs:
            c = s.check()
            checks = [("key", k) for k in c["key"]] + [("filter", f) for f, _ in c["filter"]]
            checks += [(p, c[p]) for p in ("field", "of") if c[p]]
            for param, f in checks:
                if f not in avail:
                    raise ConfigError(
                        f"The {param!r} parameter of FeatureSpec {s.name} names unknown field {f!r}. Available: {shown}."
                    )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form: ``{"allowed_lateness": ..., "features": [...]}``."""
        lat = self.allowed_lateness_ms
        return {"allowed_lateness": format_duration(lat) if lat else 0, "features": [s.to_dict() for s in self.specs]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureSet:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, Mapping) or not isinstance(d.get("features", d.get("feature")), list):
            raise ConfigError("A feature set must be a mapping with a 'features' list.")
        feats = d.get("features", d.get("feature"))
        return cls(feats, allowed_lateness=d.get("allowed_lateness", "1h"))

    @classmethod
    def from_toml(cls, text_or_path: str | Path) -> FeatureSet:
        """Read a feature set from TOML text or a ``.toml`` file.

        The file holds ``allowed_lateness`` and one ``[[feature]]`` table per spec
        (optionally under a ``[velocity]`` table).

        Examples
        --------
        >>> fs = FeatureSet.from_toml('''
        ... allowed_lateness = "30m"
        ... [[feature]]
        ... agg = "distinct"
        ... key = "device_id"
        ... of = "applicant_id"
        ... window = "24h"
        ... ''')
        >>> fs.names
        ('distinct__applicant_id__by__device_id__24h',)
        """
        if isinstance(text_or_path, Path) or (isinstance(text_or_path, str) and "\n" not in text_or_path
                                             and text_or_path.endswith(".toml")):
            text = Path(text_or_path).read_text(encoding="utf-8")
        else:
            text = str(text_or_path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"Invalid TOML in feature set: {exc}") from None
        if "velocity" in data and isinstance(data["velocity"], dict):
            data = data["velocity"]
        return cls.from_dict(data)

    def __len__(self) -> int:
        return len(self.specs)

    def __repr__(self) -> str:
        return f"FeatureSet({len(self.specs)} features, allowed_lateness={self.allowed_lateness!r})"
