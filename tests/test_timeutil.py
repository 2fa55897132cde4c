"""Time units: one internal unit (epoch ms) from every accepted form; durations."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraudscore.timeutil import (TS_MAX_MS, TS_MIN_MS, epoch_ms_array, format_duration, from_epoch_ms,
                                 parse_duration, to_epoch_ms)


@given(st.integers(TS_MIN_MS, TS_MAX_MS))
def test_ms_round_trip_through_datetime_and_iso(ms):
    d = from_epoch_ms(ms)
    assert to_epoch_ms(d) == ms
    assert to_epoch_ms(d.isoformat()) == ms
    assert to_epoch_ms(np.datetime64(ms, "ms")) == ms


@given(st.lists(st.one_of(st.integers(-10**13, 10**13), st.floats(allow_nan=True, allow_infinity=True)),
                min_size=1, max_size=20))
def test_vectorised_matches_scalar(values):
    for dtype in (np.int64, np.float64):
        if dtype is np.int64 and any(isinstance(v, float) for v in values):
            continue
        arr = np.array(values, dtype=dtype)
        ms, bad = epoch_ms_array(arr)
        for v, m, b in zip(arr, ms, bad):
            try:
                expect = to_epoch_ms(v.item())
            except (ValueError, TypeError):
                assert b
            else:
                assert not b and m == expect


def test_seconds_and_milliseconds_heuristic():
    assert to_epoch_ms(1_700_000_000) == 1_700_000_000_000
    assert to_epoch_ms(1_700_000_000_000) == 1_700_000_000_000
    assert to_epoch_ms(1_700_000_000.5) == 1_700_000_000_500
    assert to_epoch_ms(dt.date(2026, 1, 1)) == to_epoch_ms("2026-01-01T00:00:00Z")


@pytest.mark.parametrize("bad", [True, None, "", "2026-13-01", float("nan"), 10, 10**17, [1]])
def test_bad_timestamps(bad):
    with pytest.raises((ValueError, TypeError)):
        to_epoch_ms(bad)


@given(st.integers(1, 10**12))
def test_duration_round_trip(ms):
    assert parse_duration(format_duration(ms)) == ms


@pytest.mark.parametrize("bad", ["-5m", "0h", "5 parsecs", "", True, 0, -3, 1.5])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)
