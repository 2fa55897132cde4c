"""Propose a :class:`~fraudscore.schema.Schema` for a table you already have (``Schema.infer``).

:func:`infer_schema` looks at the column names and a sample of the values and
proposes, column by column:

* the **id field** (a column whose values are all different, preferring names
  such as ``order_id`` or ``transaction_id``) and the **time field** (a time
  column, preferring names such as ``purchase_time`` or ``event_time``; else
  the latest one). Other time columns become ``timestamp`` fields: the model
  gets their age at event time in seconds (``signup_time__age_s``);
* **identifiers**, pseudonymised before any store, log or file and used as
  velocity **entities**: ``ip`` (addresses), ``email``, ``phone``,
  ``bank_card``, ``device_id`` (a plain device id, used as is, never linked)
  and ``generic`` (any other ``*_id``, user, customer or account column);
* **numbers** (``float`` / ``int``) and **booleans**, which reach the model as
  they are; short lists of values (``source``, ``browser``) as categories
  where this version has the ``category`` type, else as text, which rules
  can read (training warns that the model cannot);
* **protected** attributes (``sex``, ``gender``, ``age``, ``race``...), kept out
  of the model;
* the **label** column (``is_fraud``, ``class``, ``label``...) is left out.

It is a proposal: read it (``Schema.to_toml``), fix what it got wrong and save
it next to your data. ``fraudscore schema TABLE`` does the same from the
command line.

Examples
--------
>>> import numpy as np
>>> table = {"user_id": np.array(["u1", "u2", "u3"], dtype=object),
...          "signup_time": np.array(["2026-01-01 10:00", "2026-01-01 11:00", "2026-01-02 09:00"], dtype=object),
...          "purchase_time": np.array(["2026-01-03 10:00", "2026-01-01 11:05", "2026-01-02 09:00"], dtype=object),
...          "purchase_value": np.array([34.0, 16.0, 15.0]), "device_id": np.array(["D1", "D2", "D1"], dtype=object),
...          "sex": np.array(["M", "F", "M"], dtype=object), "age": np.array([39, 53, 53]),
...          "class": np.array([0, 1, 0])}
>>> s = infer_schema(table)
>>> s.id_field, s.time_field, s["signup_time"].type, s["device_id"].identifier, s.protected
('user_id', 'purchase_time', 'timestamp', 'device_id', ('sex', 'age'))
>>> "class" in s
False
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import ConfigError
from .schema import _FIELD_TYPES, Field, Schema
from .tables import times_ms

__all__ = ["infer_schema", "LABEL_NAMES", "PROTECTED_NAMES"]

log = logging.getLogger("fraudscore")

LABEL_NAMES = ("is_fraud", "isfraud", "fraud", "is_fraudulent", "class", "label", "target", "y")
"""Column names taken for the label (case-insensitive), in this order."""
PROTECTED_NAMES = ("sex", "gender", "age", "race", "ethnicity", "religion", "nationality", "marital_status",
                   "disability", "pregnancy", "sexual_orientation")
"""Column names taken for protected characteristics (case-insensitive)."""
_SAMPLE = 20_000
_TIME_PREFERRED = ("ts", "event_time", "event_ts", "timestamp", "purchase_time", "transaction_time", "order_time",
                   "created_at", "application_time", "submitted_at", "time", "date", "datetime")
_ID_PREFERRED = ("application_id", "order_id", "transaction_id", "tx_id", "purchase_id", "event_id", "id")
_CATEGORY = "category" in _FIELD_TYPES  # categorical fields, where this version has them
_MAX_LEVELS = 50
_IPV4 = re.compile(r"^\s*\d{1,3}(\.\d{1,3}){3}\s*$")


def _columns(table: Any) -> dict[str, np.ndarray]:
    if type(table).__module__.startswith("pandas") and hasattr(table, "columns"):
        return {str(c): table[c].to_numpy() for c in table.columns}
    if hasattr(table, "column_names"):
        return {str(c): np.array(table.column(c).to_pylist() + [None], dtype=object)[:-1]
                for c in table.column_names}
    if isinstance(table, Mapping):
        out = {}
        for k, v in table.items():
            arr = v if isinstance(v, np.ndarray) else np.asarray(list(v))
            if arr.dtype.kind not in "iufbM":
                arr = np.array(list(v) + [None], dtype=object)[:-1]
            out[str(k)] = arr
        return out
    raise ConfigError(f"Schema.infer needs a DataFrame, an Arrow table or a mapping of columns. "
                      f"Got {type(table).__name__} instead.")


def _present(col: np.ndarray) -> np.ndarray:
    if col.dtype.kind == "f":
        return col[~np.isnan(col)]
    if col.dtype.kind == "M":
        return col[~np.isnat(col)]
    if col.dtype.kind == "O":
        keep = np.array([not (v is None or (isinstance(v, float) and v != v) or v == "") for v in col.tolist()],
                        dtype=bool)
        return col[keep]
    return col


def _is_time(name: str, col: np.ndarray) -> bool:
    if col.dtype.kind == "M":
        return True
    low = name.lower()
    timeish = any(t in low for t in ("time", "date", "_at", "ts", "when", "stamp"))
    if col.dtype.kind in "iuf":
        if not timeish or not col.size:
            return False
        v = col.astype(np.float64)
        return bool(np.all((np.abs(v) >= 3.2e7) & (np.abs(v) < 7.3e12)))  # epoch seconds or ms, 1971..2199
    if col.dtype.kind != "O" or not col.size:
        return False
    strs = [v for v in col.tolist() if isinstance(v, str)]
    if len(strs) < 0.9 * col.size or not all(("-" in s or "/" in s or ":" in s) for s in strs[:200]):
        return False
    return bool(np.mean(~np.isnan(times_ms(np.array(strs, dtype=object)))) >= 0.95)


def _looks_like_ip(col: np.ndarray) -> bool:
    strs = [str(v) for v in col.tolist()[:500]]
    return bool(strs) and np.mean([bool(_IPV4.match(s)) or (":" in s and s.count(":") >= 2) for s in strs]) >= 0.9


def _identifier_kind(name: str, col: np.ndarray) -> str | None:
    low = name.lower()
    words = set(re.split(r"[^a-z0-9]+", low))
    if "ip" in words or low.startswith("ip") or low.endswith("_ip") or "ip_address" in low:
        return "ip" if col.dtype.kind == "O" and _looks_like_ip(col) else "generic"
    if "device" in low:
        return "device_id"
    if "email" in low or "mail" in words:
        return "email"
    if "phone" in low or "mobile" in low or "msisdn" in low:
        return "phone"
    if "card" in low or words & {"pan", "iban", "account_number"}:
        return "bank_card"
    if low.endswith("id") or words & {"user", "customer", "account", "merchant", "terminal", "shop", "seller"}:
        return "generic"
    return None


def infer_schema(table: Any, *, id_field: str | None = None, time_field: str | None = None,
                 label: str | None = None) -> Schema:
    """Propose a schema for ``table`` (a DataFrame, Arrow table or mapping of columns); see the module docstring.

    Parameters
    ----------
    table : DataFrame, pyarrow.Table or mapping of columns
        The data (a sample of at most 20,000 rows is looked at).
    id_field, time_field : str, optional
        The event id and event-time columns, when the guesses are wrong.
    label : str, optional
        The label column, left out of the schema (default: the first of
        :data:`LABEL_NAMES` present).

    Returns
    -------
    Schema
        With ``protected`` set to the columns named like :data:`PROTECTED_NAMES`.

    Raises
    ------
    ConfigError
        When no column can serve as the id or the time field (name them).
    """
    cols = _columns(table)
    if not cols:
        raise ConfigError("Schema.infer got a table without columns.")
    n = len(next(iter(cols.values())))
    lower = {c.lower(): c for c in cols}
    if label is None:
        label = next((lower[name] for name in LABEL_NAMES if name in lower), None)
    elif label not in cols:
        raise ConfigError(f"The 'label' parameter of Schema.infer names no column. Got {label!r} instead.")
    sample = {c: v[:_SAMPLE] for c, v in cols.items() if c != label}
    present = {c: _present(v) for c, v in sample.items()}
    times = [c for c in sample if _is_time(c, present[c])]
    # -- time field
    if time_field is None:
        if not times:
            raise ConfigError("Schema.infer found no time column; name the event time with time_field=...")
        named = [c for t in _TIME_PREFERRED for c in times if c.lower() == t]
        partial = [c for c in times if any(k in c.lower() for k in ("purchase", "event", "transaction", "order",
                                                                    "application", "submit"))]
        if named or partial:
            time_field = (named or partial)[0]
        else:
            med = {c: float(np.nanmedian(times_ms(present[c]))) for c in times}
            time_field = max(times, key=lambda c: med[c])
    elif time_field not in sample:
        raise ConfigError(f"The 'time_field' parameter of Schema.infer names no column. Got {time_field!r} instead.")
    # -- id field
    if id_field is None:
        # no missing value in the sample (which holds at most _SAMPLE rows) and all n values different
        unique = [c for c in sample if c != time_field and present[c].size == len(sample[c])
                  and sample[c].dtype.kind in "OUiu" and len(set(cols[c].tolist())) == n]
        named = [c for t in _ID_PREFERRED for c in unique if c.lower() == t]
        idish = [c for c in unique if c.lower().endswith("id")]
        if not (named or idish or unique):
            raise ConfigError("Schema.infer found no column whose values are all different; name the event id "
                              "with id_field=... (or add a row number column)")
        id_field = (named or idish or unique)[0]
    elif id_field not in sample:
        raise ConfigError(f"The 'id_field' parameter of Schema.infer names no column. Got {id_field!r} instead.")
    fields: list[Field] = []
    protected: list[str] = []
    text: list[str] = []
    for c, col in sample.items():
        p = present[c]
        if c == id_field:
            fields.append(Field(c, "str", required=True, description="Event id (labels refer to it)."))
            continue
        if c == time_field:
            fields.append(Field(c, "timestamp", required=True, description="Event time."))
            continue
        if not c.isidentifier() or c.startswith("_"):
            log.warning("Schema.infer: column %r is not a valid field name and is left out", c)
            continue
        if c.lower() in PROTECTED_NAMES:
            protected.append(c)
        if c in times:
            fields.append(Field(c, "timestamp", description="A second time: its age at event time is a feature."))
            continue
        kind = None if c.lower() in PROTECTED_NAMES else _identifier_kind(c, p)
        if kind is not None:
            fields.append(Field(c, "str", identifier=kind, entity=True,  # type: ignore[arg-type]
                                description=f"Identifier ({kind}), pseudonymised; keys velocity features."))
            continue
        if col.dtype.kind == "b":
            fields.append(Field(c, "bool"))
        elif col.dtype.kind in "iu":
            fields.append(Field(c, "int"))
        elif col.dtype.kind == "f":
            whole = bool(p.size) and bool(np.all(np.floor(p) == p))
            fields.append(Field(c, "int" if whole else "float"))
        elif p.size and all(isinstance(v, (bool, np.bool_)) for v in p.tolist()[:200]):
            fields.append(Field(c, "bool"))
        elif _CATEGORY and p.size and len(set(p.tolist())) <= _MAX_LEVELS:
            fields.append(Field(c, "category"))  # type: ignore[arg-type]
        else:
            fields.append(Field(c, "str", description="Text: rules can read it, the model cannot."))
            text.append(c)
    schema = Schema(tuple(fields), id_field=id_field, time_field=time_field, protected=tuple(protected))
    log.info("Schema.infer: id %r, time %r, label %r, protected %s, text %s", id_field, time_field, label,
             protected, text)
    return schema
