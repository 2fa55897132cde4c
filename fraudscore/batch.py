"""Columnar batches: many events converted once into one internal columnar form.

:func:`to_columns` accepts a list of event mappings, a mapping of column arrays,
a ``pandas.DataFrame`` or a ``pyarrow.Table`` and returns a :class:`ColumnBatch`:

* ``columns`` — ``dict[str, numpy.ndarray]``, one entry per schema field and
  per extra column, holding the **valid rows only**: numbers and booleans as
  ``float64`` (``NaN`` = missing), the event time as ``int64`` milliseconds,
  strings and mappings as ``object`` arrays (``None`` = missing);
* ``rows`` — the input positions of those valid rows;
* ``errors`` — one :class:`~fraudscore.errors.EventError` per rejected row, with
  ``.row`` set to its input position.

The per-value rules are exactly those of :meth:`fraudscore.schema.Schema.validate`
(numeric and datetime columns take a vectorised path that applies the same
rules), so a row is rejected in batch mode if and only if ``validate`` would
reject it as a single event, with the same field named.

Columns named ``device.<attribute>`` (flattened Parquet / CSV files) are folded
back into the ``device`` mapping.

Examples
--------
>>> from fraudscore.schema import DEFAULT_SCHEMA
>>> cb = to_columns([{"application_id": "A1", "ts": 1795946400, "amount": 10},
...                  {"application_id": "A2", "ts": "yesterday"},
...                  {"application_id": "A3", "ts": 1795946460}], DEFAULT_SCHEMA)
>>> cb.n, cb.rows.tolist(), cb.columns["amount"].tolist()
(2, [0, 2], [10.0, nan])
>>> print(cb.errors[0])
row 1: field 'ts': must be an ISO-8601 date-time string (got str)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._core import load as load_core
from .errors import EventError
from .limits import MAX_DEVICE_ATTRIBUTES, MAX_EVENT_FIELDS, MAX_LIST_LEN
from .schema import (EVENT, EXTRA_FIELD, MAX_STR_LEN, Field, Schema, _is_missing, check_extra, extra_name_ok,
                     mapping_check)
from .timeutil import epoch_ms_array

__all__ = ["ColumnBatch", "to_columns", "EventsLike"]

EventsLike = Any
"""Anything :func:`to_columns` accepts: a sequence of mappings, a mapping of
columns, a ``pandas.DataFrame`` or a ``pyarrow.Table``."""

_NUMERIC_KINDS = "iuf"
MAX_BATCH_EXTRA_FIELDS = 256
"""Distinct extra field names in one batch given as a list of events (each becomes a column)."""


@dataclass
class ColumnBatch:
    """Validated events in columnar form (see the module docstring).

    Attributes
    ----------
    columns : dict of str to numpy.ndarray
        Valid rows only, in input order.
    rows : numpy.ndarray
        ``int64`` input positions of the valid rows.
    errors : list of EventError
        One per rejected row, in input order.
    n_input : int
        Number of input rows.
    index : object, optional
        The input's index (a ``pandas.Index`` for DataFrames), kept so results can
        be aligned back to it.
    duplicate : numpy.ndarray, optional
        ``bool`` per valid row once the scorer has admitted the batch: the row repeats
        an application id applied earlier (see :mod:`fraudscore.velocity.admission`).
    """

    columns: dict[str, np.ndarray]
    rows: np.ndarray
    errors: list[EventError] = field(default_factory=list)
    n_input: int = 0
    index: Any = None
    duplicate: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of valid rows."""
        return int(self.rows.shape[0])

    def __len__(self) -> int:
        return self.n

    def take(self, positions: np.ndarray) -> ColumnBatch:
        """Return the valid rows at ``positions`` (positions within this batch)."""
        positions = np.asarray(positions, dtype=np.int64)
        return ColumnBatch(
            {k: v[positions] for k, v in self.columns.items()},
            self.rows[positions],
            [],
            self.n_input,
            self.index,
            None if self.duplicate is None else self.duplicate[positions],
        )

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i`` as a normalised event dict (missing values as ``None``)."""
        out: dict[str, Any] = {}
        for k, col in self.columns.items():
            v = col[i]
            if isinstance(v, (float, np.floating)) and np.isnan(v):
                v = None
            elif isinstance(v, np.generic):
                v = v.item()
            out[k] = v
        return out


# -- raw input -> raw columns ------------------------------------------------------
def _label(name: Any, schema: Schema) -> str:
    """How errors name a column: a schema field by its name, anything else by kind (never the caller's text)."""
    return name if type(name) is str and name in schema else EXTRA_FIELD


def _raw_columns(events: EventsLike, schema: Schema
                 ) -> tuple[dict[str, Any], int, Any, dict[int, EventError], dict[int, EventError], bool]:
    """Return (raw columns, n, index, row errors found first, row errors on extra names, columnar input)."""
    mod = type(events).__module__
    if mod.startswith("pandas") and hasattr(events, "columns") and hasattr(events, "index"):
        cols = {str(c): events[c].to_numpy() for c in events.columns}
        return cols, len(events), events.index, {}, {}, True
    if mod.startswith("pyarrow") and hasattr(events, "column_names"):
        cols = {}
        for name in events.column_names:
            col = events.column(name)
            kind = str(col.type)
            if kind.startswith(("int", "uint", "double", "float", "halffloat")) and col.null_count == 0:
                cols[name] = col.to_numpy()
            elif kind.startswith(("double", "float")):
                cols[name] = col.to_numpy(zero_copy_only=False)
            else:
                cols[name] = np.array(col.to_pylist() + [None], dtype=object)[:-1]
        return cols, events.num_rows, None, {}, {}, True
    if isinstance(events, Mapping):
        cols = {}
        n = None
        for k, v in events.items():
            if isinstance(v, (str, bytes)) or not (isinstance(v, np.ndarray) or isinstance(v, Iterable)):
                raise EventError(_label(k, schema), "batch columns must be sequences of values "
                                                    "(to score one event, pass a list: [event])")
            arr = v if isinstance(v, np.ndarray) else np.array(list(v) + [None], dtype=object)[:-1]
            if arr.ndim != 1:
                raise EventError(_label(k, schema), "batch columns must be one-dimensional")
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise EventError(_label(k, schema), f"column has {arr.shape[0]} rows, expected {n}")
            cols[str(k)] = arr
        return cols, n or 0, None, {}, {}, True
    if isinstance(events, (str, bytes)) or not isinstance(events, Iterable):
        raise EventError("events", "must be a list of events, a mapping of columns, a DataFrame or an Arrow Table",
                         value=events)
    rows = events if isinstance(events, Sequence) else list(events)
    n = len(rows)
    bad: dict[int, EventError] = {}
    bad_names: dict[int, EventError] = {}
    keys: dict[str, None] = {}
    n_extra = 0
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            bad[i] = EventError(EVENT, "must be a mapping of field names to values", value=r, row=i)
            continue
        if len(r) > MAX_EVENT_FIELDS:
            bad[i] = EventError(EVENT, f"must have at most {MAX_EVENT_FIELDS} fields", row=i)
            continue
        for k in r:
            if k in keys:
                continue
            if k in schema:
                keys[k] = None
            elif not extra_name_ok(k):  # as in Schema.validate: an error only when the value is present
                if i not in bad_names and not _is_missing(r[k]):
                    bad_names[i] = _bad_name_error(schema)
            elif n_extra >= MAX_BATCH_EXTRA_FIELDS:
                bad.setdefault(i, EventError(EXTRA_FIELD, f"a batch may hold at most {MAX_BATCH_EXTRA_FIELDS} "
                                                          "distinct extra field names", row=i))
            else:
                keys[k] = None
                n_extra += 1
    cols = {}
    for k in keys:
        col = np.empty(n, dtype=object)
        for i, r in enumerate(rows):
            col[i] = r.get(k) if i not in bad else None
        cols[k] = col
    return cols, n, None, bad, bad_names, False


def _bad_name_error(schema: Schema) -> EventError:
    return EventError(EXTRA_FIELD, "extra field names must be identifiers of at most 64 characters not starting "
                                   "with '_'")


def _fold_device(cols: dict[str, Any], n: int) -> None:
    flat = [k for k in cols if k.startswith("device.")]
    if not flat:
        return
    base = cols.get("device")
    dev = np.empty(n, dtype=object)
    for i in range(n):
        d = dict(base[i]) if base is not None and isinstance(base[i], Mapping) else {}
        for k in flat:
            v = cols[k][i]
            if not _is_missing(v):
                d[k[7:]] = v.item() if isinstance(v, np.generic) else v
        dev[i] = d or None
    for k in flat:
        del cols[k]
    cols["device"] = dev


# -- per-field column validation -------------------------------------------------------
def _check_column(f: Field, name: str, raw: np.ndarray, errs: dict[int, EventError]) -> np.ndarray:
    """Normalise one column; record the first error per row in ``errs`` (existing ones win)."""
    n = raw.shape[0]
    kind = raw.dtype.kind
    numeric = f.type in ("float", "int", "bool")
    if f.type in ("float", "int") and kind in _NUMERIC_KINDS:
        vals = raw.astype(np.float64)
        missing = np.isnan(vals)
        bad = np.isinf(vals)
        msgs = {"must be a finite number": bad}
        if f.type == "int":
            nonint = ~missing & ~bad & (vals != np.floor(np.where(bad, 0, vals)))
            msgs["must be a whole number"] = nonint
            bad = bad | nonint
        if f.minimum is not None:
            low = ~missing & ~bad & (vals < f.minimum)
            msgs[f"must be >= {f.minimum:g}"] = low
            bad = bad | low
        if f.maximum is not None:
            high = ~missing & ~bad & (vals > f.maximum)
            msgs[f"must be <= {f.maximum:g}"] = high
            bad = bad | high
        if f.required:
            msgs["is required"] = missing
        for msg, mask in msgs.items():
            for i in np.flatnonzero(mask):
                if i not in errs:
                    value_kw = {} if msg == "is required" else {"value": raw[i].item()}
                    errs[int(i)] = EventError(name, msg, **value_kw)
        return np.where(bad, np.nan, vals)
    if f.type == "timestamp" and (kind in "iuM" or kind == "f"):
        missing = np.isnat(raw) if kind == "M" else (np.isnan(raw) if kind == "f" else np.zeros(n, bool))
        ms, bad = epoch_ms_array(raw)
        bad = bad & ~missing
        for i in np.flatnonzero(bad):
            if i not in errs:
                try:
                    f.check(name, raw[i].item() if kind != "M" else raw[i])
                except EventError as exc:
                    errs[int(i)] = exc
                else:  # pragma: no cover - vectorised and scalar rules agree
                    errs[int(i)] = EventError(name, "must be between 1971-01-01 and 2199-12-31")
        if f.required:
            for i in np.flatnonzero(missing):
                errs.setdefault(int(i), EventError(name, "is required"))
            return ms
        return np.where(missing | bad, np.nan, ms.astype(np.float64))
    if f.type in ("str", "category") and kind == "O":
        return _check_str_column(f, name, raw, errs)
    if f.type == "category" and kind in "iu":  # integer codes: their decimal text, as Field.check gives it
        out = np.empty(n, dtype=object)
        out[:] = [str(v) for v in raw.tolist()]
        return out
    if f.type == "mapping" and kind == "O":
        return _check_mapping_column(f, name, raw, errs)
    # generic per-value path: the scalar definition itself
    out = np.full(n, np.nan) if numeric else np.empty(n, dtype=object)
    ts_required = f.type == "timestamp" and f.required
    if ts_required:
        out = np.zeros(n, dtype=np.int64)
    elif f.type == "timestamp":
        out = np.full(n, np.nan)
    _check_values(f, name, raw, range(n), out, numeric, errs)
    return out


def _check_str_column(f: Field, name: str, raw: np.ndarray, errs: dict[int, EventError]) -> np.ndarray:
    """Text columns: plain, clean ``str`` values (the common case) inline; anything else by :meth:`Field.check`."""
    vals = raw.tolist()
    core = load_core("schema")
    if core is not None:  # the same loop, compiled (fraudscore/_core/schema.c)
        out_list, slow = core.str_column(vals, MAX_STR_LEN, f.required)
        out = np.fromiter(out_list, dtype=object, count=len(vals))  # no shape discovery per element
        _check_values(f, name, raw, slow, out, False, errs)
        return out
    out_list: list[Any] = [None] * len(vals)
    slow: list[int] = []
    for i, v in enumerate(vals):
        if type(v) is str:
            s = v.strip()
            if s and len(s) <= MAX_STR_LEN and "\x00" not in s and s.isascii():
                out_list[i] = s
                continue
        elif v is None and not f.required:
            continue
        slow.append(i)
    out = np.empty(len(vals), dtype=object)
    out[:] = out_list
    _check_values(f, name, raw, slow, out, False, errs)
    return out


def _check_mapping_column(f: Field, name: str, raw: np.ndarray, errs: dict[int, EventError]) -> np.ndarray:
    """Mapping columns: one :meth:`Field.check` per distinct ``dict`` object (rows often share one)."""
    out = np.empty(raw.shape[0], dtype=object)
    check = mapping_check(f)  # the compiled fast path, else f.check: same results and errors
    memo: dict[int, tuple[bool, Any]] = {}
    other: list[int] = []
    vals = raw.tolist()
    core = load_core("schema") if name == f.name else None
    positions: Iterable[int] = range(len(vals))
    if core is not None:  # the fast path's loop, compiled (fraudscore/_core/schema.c mapping_column)
        fast, positions = core.mapping_column(vals, MAX_DEVICE_ATTRIBUTES, MAX_LIST_LEN)
        out = np.fromiter(fast, dtype=object, count=len(vals))  # no shape discovery per element
    for i in positions:
        v = vals[i]
        if type(v) is not dict:
            other.append(i)
            continue
        hit = memo.get(id(v))  # the objects stay alive in ``raw``: ids are not reused meanwhile
        if hit is None:
            try:
                hit = (True, check(v) if name == f.name else f.check(name, v))
            except EventError as exc:
                hit = (False, exc)
            memo[id(v)] = hit
        ok, c = hit
        if not ok:
            errs.setdefault(i, c)
        elif c is None:
            if f.required and i not in errs:
                errs[i] = EventError(name, "is required and must not be empty")
        else:
            out[i] = c
    _check_values(f, name, raw, other, out, False, errs)
    return out


def _check_values(f: Field, name: str, raw: np.ndarray, positions: Iterable[int], out: np.ndarray, numeric: bool,
                  errs: dict[int, EventError]) -> None:
    """Validate the values at ``positions`` one by one into ``out`` (the scalar definition itself)."""
    for i in positions:
        v = raw[i]
        if _is_missing(v):
            if f.required and i not in errs:
                errs[i] = EventError(name, "is required")
            continue
        try:
            c = f.check(name, v)
        except EventError as exc:
            errs.setdefault(i, exc)
            continue
        if c is None:
            if f.required and i not in errs:
                errs[i] = EventError(name, "is required and must not be empty")
            continue
        out[i] = float(c) if numeric else c


def _check_extra(name: str, raw: np.ndarray, errs: dict[int, EventError]) -> np.ndarray:
    """An extra field's column through :func:`fraudscore.schema.check_extra` (numeric columns vectorised)."""
    kind = raw.dtype.kind
    if kind in _NUMERIC_KINDS or kind == "b":
        vals = raw.astype(np.float64)
        for i in np.flatnonzero(np.isinf(vals)):
            errs.setdefault(int(i), EventError(EXTRA_FIELD, "must be a finite number", value=raw[i].item()))
        return np.where(np.isinf(vals), np.nan, vals)
    n = raw.shape[0]
    vals_list: list[Any] = []
    for i, v in enumerate(raw.tolist() if kind == "O" else list(raw)):
        try:
            vals_list.append(check_extra(v))
        except EventError as exc:
            errs.setdefault(i, exc)
            vals_list.append(None)
    present = [v for v in vals_list if v is not None]
    if present and all(isinstance(v, (int, float)) for v in present):
        return np.array([np.nan if v is None else float(v) for v in vals_list], dtype=np.float64)
    col = np.empty(n, dtype=object)
    col[:] = vals_list
    return col


def to_columns(events: EventsLike, schema: Schema) -> ColumnBatch:
    """Validate many events at once and convert them into a :class:`ColumnBatch`.

    Parameters
    ----------
    events : list of mappings, mapping of columns, pandas.DataFrame or pyarrow.Table
        The events. Rows are kept in input order (taken as arrival order).
    schema : Schema
        The event schema.

    Returns
    -------
    ColumnBatch
        Valid rows in columnar form, and one error per rejected row. A bad row
        never stops the batch.

    Examples
    --------
    >>> from fraudscore.schema import DEFAULT_SCHEMA
    >>> cb = to_columns({"application_id": ["A", "B"], "ts": np.array([1795946400, 1795946401]),
    ...                  "amount": np.array([5.0, -1.0])}, DEFAULT_SCHEMA)
    >>> cb.rows.tolist(), [str(e) for e in cb.errors]
    ([0], ["row 1: field 'amount': must be >= 0 (got float)"])
    """
    cols, n, index, errs, name_errs, columnar = _raw_columns(events, schema)
    if columnar:
        _fold_device(cols, n)
        if len(cols) > MAX_EVENT_FIELDS:  # every row holds every column, as one event would
            errs = {i: EventError(EVENT, f"must have at most {MAX_EVENT_FIELDS} fields") for i in range(n)}
    row_errs: dict[int, EventError] = dict(errs)
    out: dict[str, np.ndarray] = {}
    for f in schema.fields:
        raw = cols.get(f.name)
        if raw is None:
            raw = np.full(n, None, dtype=object)
        elif raw.dtype.kind in "US":
            raw = raw.astype(object)
        out[f.name] = _check_column(f, f.name, raw, row_errs)
    for name, raw in cols.items():
        if name in out:
            continue
        if raw.dtype.kind in "US":
            raw = raw.astype(object)
        if not extra_name_ok(name) or not schema.allow_extra:
            err = _bad_name_error(schema) if not extra_name_ok(name) else EventError(
                EXTRA_FIELD, "is not a field of this schema")
            for i in range(n):
                try:
                    present = check_extra(raw[i]) is not None
                except EventError as exc:  # the online path checks the value before the name
                    row_errs.setdefault(i, exc)
                    continue
                if present:
                    row_errs.setdefault(i, err)
            continue
        out[name] = _check_extra(name, raw, row_errs)
    for i, e in name_errs.items():
        row_errs.setdefault(i, e)
    if row_errs:
        good = np.ones(n, dtype=bool)
        good[list(row_errs)] = False
        rows = np.flatnonzero(good).astype(np.int64)
        out = {k: v[rows] for k, v in out.items()}
        errors = [row_errs[i].at_row(i) if row_errs[i].row != i else row_errs[i] for i in sorted(row_errs)]
    else:
        rows = np.arange(n, dtype=np.int64)
        errors = []
    return ColumnBatch(out, rows, errors, n, index)
