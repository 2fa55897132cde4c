"""Columnar batches: every input form, bad-row reporting, and agreement with Schema.validate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraudscore.batch import to_columns
from fraudscore.errors import EventError
from fraudscore.schema import DEFAULT_SCHEMA

ROWS = [
    {"application_id": "A1", "ts": 1795946400, "amount": 100, "channel": "app", "device": {"os": "ios"}},
    {"application_id": "A2", "ts": 1795946460, "amount": -3},
    {"application_id": "A3", "ts": 1795946520, "term_months": 12, "campaign": "x"},
]


def test_list_of_dicts():
    cb = to_columns(ROWS, DEFAULT_SCHEMA)
    assert cb.n == 2 and cb.n_input == 3
    assert cb.rows.tolist() == [0, 2]
    assert cb.columns["ts"].dtype == np.int64
    assert cb.columns["ts"].tolist() == [1795946400000, 1795946520000]
    assert np.isnan(cb.columns["amount"][1]) and cb.columns["amount"][0] == 100.0
    assert cb.columns["device"][0] == {"os": "ios"} and cb.columns["device"][1] is None
    assert cb.columns["campaign"].tolist() == [None, "x"]
    [err] = cb.errors
    assert err.row == 1 and err.field == "amount"


def test_dict_of_arrays_and_length_mismatch():
    cb = to_columns({"application_id": np.array(["a", "b"]), "ts": np.array([1.7959464e9, np.nan])},
                    DEFAULT_SCHEMA)
    assert cb.rows.tolist() == [0]
    assert cb.errors[0].field == "ts" and "required" in str(cb.errors[0])
    with pytest.raises(EventError, match="expected 2"):
        to_columns({"application_id": ["a", "b"], "ts": [1, 2, 3]}, DEFAULT_SCHEMA)


def test_pandas_keeps_index_and_folds_flattened_device():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"application_id": ["a", "b", "c"], "ts": pd.to_datetime(
        ["2026-11-29T10:00:00Z", None, "2026-11-29T10:02:00Z"]), "amount": [1.0, 2.0, np.nan],
        "device.os": ["android", None, "ios"], "device.screen": ["1080x2340", None, None]},
        index=pd.Index([10, 20, 30], name="rid"))
    cb = to_columns(df, DEFAULT_SCHEMA)
    assert cb.rows.tolist() == [0, 2]
    assert list(cb.index[cb.rows]) == [10, 30]
    assert cb.columns["device"].tolist() == [{"os": "android", "screen": "1080x2340"}, {"os": "ios"}]
    assert cb.errors[0].row == 1 and cb.errors[0].field == "ts"


def test_arrow_table():
    pa = pytest.importorskip("pyarrow")
    t = pa.table({"application_id": ["a", "b"], "ts": [1795946400, 1795946460], "amount": [5.0, None],
                  "device": [{"os": "ios", "model": "iPhone14,2"}, None]})
    cb = to_columns(t, DEFAULT_SCHEMA)
    assert cb.n == 2 and cb.columns["amount"][0] == 5.0 and np.isnan(cb.columns["amount"][1])
    assert cb.columns["device"][0]["model"] == "iPhone14,2"


def test_non_mapping_rows_are_reported_not_fatal():
    cb = to_columns([ROWS[0], "junk", None], DEFAULT_SCHEMA)
    assert cb.rows.tolist() == [0]
    assert [(e.row, e.field) for e in cb.errors] == [(1, "event"), (2, "event")]


def test_whole_input_of_wrong_type():
    with pytest.raises(EventError):
        to_columns(42, DEFAULT_SCHEMA)


# -- property: batch validation == scalar validation, row by row ---------------------------
vals = {
    "application_id": st.one_of(st.none(), st.text(max_size=4), st.integers(-5, 5), st.floats()),
    "ts": st.one_of(st.none(), st.integers(-10, 2 * 10**12), st.floats(allow_nan=True),
                    st.sampled_from(["2026-11-29T10:00:00Z", "bad", ""])),
    "amount": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32),
                        st.integers(-3, 10**10), st.booleans(), st.text(max_size=2)),
    "term_months": st.one_of(st.none(), st.floats(-2, 400), st.integers(-2, 400)),
    "channel": st.one_of(st.none(), st.text(max_size=3), st.integers(0, 3)),
}
row_st = st.fixed_dictionaries({}, optional=vals)


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@given(st.lists(row_st, min_size=1, max_size=12), st.booleans())
def test_batch_rejects_exactly_what_validate_rejects(rows, as_columns):
    if as_columns:  # numeric columns take the vectorised path when they are homogeneous
        keys = {k for r in rows for k in r}
        events = {}
        for k in keys:
            col = [r.get(k) for r in rows]
            if all(isinstance(v, float) for v in col):
                events[k] = np.array(col, dtype=np.float64)
            elif all(isinstance(v, int) and not isinstance(v, bool) for v in col):
                events[k] = np.array(col, dtype=np.int64)
            else:
                events[k] = np.array(col + [None], dtype=object)[:-1]
        if not events:  # a mapping of no columns has no rows
            return
        rows = [{k: events[k][i] for k in events} for i in range(len(rows))]
    else:
        events = rows
    cb = to_columns(events, DEFAULT_SCHEMA)
    errs = {e.row: e for e in cb.errors}
    good = iter(range(cb.n))
    for i, r in enumerate(rows):
        try:
            expect = DEFAULT_SCHEMA.validate(r)
        except EventError as e:
            assert i in errs, f"row {i} should be rejected: {e}"
            assert errs[i].field == e.field
            continue
        assert i not in errs, f"row {i} wrongly rejected: {errs.get(i)}"
        j = next(good)
        got = cb.row(j)
        for k in ("application_id", "ts", "amount", "term_months", "channel"):
            assert _same(got[k], expect[k]), (k, got[k], expect[k])
