"""The batch fast paths (deduplication, inline text checks, shared mappings) give exactly the scalar results."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.batch import to_columns
from fraudscore.errors import EventError
from fraudscore.fingerprint import DeviceLinker, MemoryLinkState
from fraudscore.keys import Keys
from fraudscore.pipeline import FeaturePipeline
from fraudscore.schema import DEFAULT_SCHEMA, Field, Schema
from fraudscore.velocity import FeatureSet, FeatureSpec, MemoryStore, OnlineVelocity

KEYS = Keys(b"test-batch-fastpaths-secret-01")
FS = FeatureSet([FeatureSpec("count", key="device_id", window="1h"),
                 FeatureSpec("distinct", key="device_id", of="email", window="1d")])
T0 = 1_795_946_400_000
DAY = 86_400_000


_VALUES = st.sampled_from(["110101199003074514", "11010119900307451X", " a@b.com ", "A.B+x@gmail.com", "",
                           "10.1.2.3", "2001:db8::1", "13800138000", "6222020200112233445", "x", None])
_DEVICES = [
    {"os": "android", "os_version": "13", "model": "M1", "android_id": "9774d56d682e549c", "timezone": "Asia/Shanghai"},
    {"os": "android", "os_version": "14", "model": "M1", "android_id": "9774d56d682e549c", "timezone": "Asia/Tokyo"},
    {"user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0 Safari/537.36", "screen": "1920x1080"},
    {},
]


@settings(deadline=None, max_examples=25)
@given(st.lists(st.tuples(_VALUES, _VALUES, st.integers(0, 3), st.integers(0, 4 * DAY // 600_000),
                          st.sampled_from(["CN", "JP", None])), min_size=1, max_size=30))
def test_pipeline_batch_equals_online(rows):
    """Repeated identifier values (across days: ages), shared device objects, missing values."""
    events = []
    t = T0
    for i, (a, b, dev, dt, country) in enumerate(rows):
        t += dt * 600_000
        ev = {"application_id": f"A{i}", "ts": t, "applicant_id": a, "email": b, "ip": b, "phone": a,
              "bank_card": b, "device": _DEVICES[dev], "amount": float(i), "ip2": a}
        if country is not None:
            ev["ip_country"] = country
        events.append({k: v for k, v in ev.items() if v is not None})
    # ip_country is read by device signals; a second ip field must not mix its prefix with the first one's
    schema = Schema(tuple(DEFAULT_SCHEMA.fields) + (Field("ip_country", "str"), Field("ip2", "str", identifier="ip")))
    pipe = FeaturePipeline(schema, KEYS, FS)
    cb = to_columns(events, schema)
    ok = [events[i] for i in cb.rows.tolist()]
    linker, vel = DeviceLinker(MemoryLinkState()), OnlineVelocity(FS, MemoryStore())
    expect = [pipe.online(schema.validate(ev), linker, vel) for ev in ok]
    rec, X = pipe.batch(cb)
    for i, (r, x, _, _) in enumerate(expect):
        np.testing.assert_array_equal(X[i], x)
        for k in pipe.record_fields:
            if k in rec:
                got = rec[k][i]
                want = r.get(k)
                assert (got == want) or (got is None and want is None) or (
                    isinstance(got, float) and np.isnan(got) and want is None), (k, got, want)


def test_shared_mapping_checked_once_but_every_row_reported():
    bad = {"os": float("inf")}
    good = {"os": "ios"}
    cb = to_columns([{"application_id": f"A{i}", "ts": T0 + i, "device": bad if i % 2 else good}
                     for i in range(6)], DEFAULT_SCHEMA)
    assert cb.rows.tolist() == [0, 2, 4]
    assert [e.row for e in cb.errors] == [1, 3, 5]
    assert all(e.field == "device.os" for e in cb.errors)
    assert cb.columns["device"][0] is cb.columns["device"][2]  # shared: fingerprinted once downstream


@settings(deadline=None, max_examples=50)
@given(st.lists(st.one_of(st.none(), st.text(max_size=8), st.just(" "), st.just("a\x00b"), st.just("x" * 600),
                          st.integers(-5, 5), st.floats(allow_nan=True)), min_size=1, max_size=20))
def test_text_fast_path_matches_scalar_check(values):
    """Every row is rejected or normalised exactly as Schema.validate does one event."""
    events = [{"application_id": f"A{i}", "ts": T0 + i, "email": v} for i, v in enumerate(values)]
    cb = to_columns(events, DEFAULT_SCHEMA)
    errors = {e.row: str(e) for e in cb.errors}
    j = 0
    for i, ev in enumerate(events):
        try:
            want = DEFAULT_SCHEMA.validate(ev)
        except EventError as exc:
            assert errors[i] == f"row {i}: {exc}"
            continue
        assert i not in errors
        assert cb.columns["email"][j] == want.get("email")
        j += 1
