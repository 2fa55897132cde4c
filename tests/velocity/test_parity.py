"""Online (memory store) == batch replay == naive reference, for random streams."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore.velocity import MemoryStore, OnlineVelocity, replay
from fraudscore.velocity.reference import reference

from .conftest import DAY, calendar_feature_set, parity_feature_set

FS = parity_feature_set()
CAL_FS = calendar_feature_set()
LATENESS = FS.allowed_lateness_ms


@st.composite
def streams(draw, max_size=30):
    n = draw(st.integers(1, max_size))
    t_max = draw(st.integers(10**12, 10**12 + 10**6))
    recs, labels = [], []
    for i in range(n):
        move = draw(st.sampled_from(["tie", "forward", "forward", "back"]))
        if move == "tie":
            t = t_max
        elif move == "forward":
            t = t_max + draw(st.integers(0, 3000))
        else:
            t = t_max - draw(st.integers(0, LATENESS))  # within the allowed lateness
        t_max = max(t_max, t)
        x = draw(st.one_of(st.none(), st.just(float("nan")), st.sampled_from([0.1, 1.5, 2.25, 100.0]),
                           st.floats(-1e6, 1e6, allow_nan=False)))
        recs.append({
            "application_id": f"A{i}", "ts": t,
            "a": draw(st.sampled_from(["a1", "a2", "a3", None])),
            "b": draw(st.sampled_from(["b1", "b2", None])),
            "ch": draw(st.sampled_from(["web", "app", "h5", None])),
            "x": x,
        })
        if draw(st.booleans()):
            labels.append((draw(st.booleans()), t + draw(st.integers(-2000, 8000))))
        else:
            labels.append(None)
    return recs, labels


@st.composite
def calendar_streams(draw, max_size=30):
    """Streams that cross UTC midnights: date-only rows (all at midnight), steps of days, ties at midnight."""
    n = draw(st.integers(1, max_size))
    t_max = draw(st.integers(20_000, 20_010)) * DAY + draw(st.sampled_from([0, 0, 1, DAY - 1000, DAY // 2]))
    date_only = draw(st.booleans())
    recs, labels = [], []
    for i in range(n):
        move = draw(st.sampled_from(["tie", "forward", "days", "midnight", "back"]))
        if date_only:
            t = t_max + (draw(st.integers(1, 3)) * DAY if move in ("days", "midnight") else 0)
        elif move == "tie":
            t = t_max
        elif move == "forward":
            t = t_max + draw(st.integers(0, 3000))
        elif move == "days":
            t = t_max + draw(st.integers(0, 3)) * DAY + draw(st.sampled_from([-1, 0, 1, 500, -LATENESS]))
        elif move == "midnight":
            t = (t_max // DAY + draw(st.integers(0, 2))) * DAY
            t = max(t, t_max - LATENESS)
        else:
            t = t_max - draw(st.integers(0, LATENESS))
        t_max = max(t_max, t)
        x = draw(st.one_of(st.none(), st.just(0.0), st.sampled_from([0.1, 1.5, 2.25, 100.0]),
                           st.floats(-1e6, 1e6, allow_nan=False)))
        recs.append({
            "application_id": f"A{i}", "ts": t,
            "a": draw(st.sampled_from(["a1", "a2", None])),
            "b": draw(st.sampled_from(["b1", "b2", None])),
            "ch": draw(st.sampled_from(["web", "app", None])),
            "x": x,
        })
        if draw(st.booleans()):
            labels.append((draw(st.booleans()), t + draw(st.sampled_from([-1, 0, 1, 2000, DAY, DAY // 2 + 1]))))
        else:
            labels.append(None)
    return recs, labels


def run_online(fs, recs, labels, store):
    online = OnlineVelocity(fs, store)
    pending = sorted((lab[1], i, lab[0]) for i, lab in enumerate(labels) if lab is not None)
    out, k = [], 0
    for rec in recs:
        while k < len(pending) and pending[k][0] <= rec["ts"]:
            lt, i, f = pending[k]
            online.record_label(recs[i]["application_id"], f, lt)
            k += 1
        out.append(online.update_and_read(rec))
    return np.vstack(out)


def to_columns(recs, labels):
    cols = {"ts": np.array([r["ts"] for r in recs], dtype=np.int64)}
    for f in ("a", "b", "ch"):
        cols[f] = np.array([r[f] for r in recs], dtype=object)
    cols["x"] = np.array([np.nan if r["x"] is None else r["x"] for r in recs], dtype=np.float64)
    lab = {"is_fraud": np.array([np.nan if l is None else float(l[0]) for l in labels]),
           "label_ts": np.array([0 if l is None else l[1] for l in labels], dtype=np.int64)}
    return cols, lab


def assert_same(a, b, what, fs=FS):
    for j, name in enumerate(fs.names):
        np.testing.assert_array_equal(a[:, j], b[:, j], err_msg=f"{what}: feature {name}")


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_online_equals_replay_equals_reference(stream):
    recs, labels = stream
    ref = reference(FS, recs, labels)
    cols, lab = to_columns(recs, labels)
    batch = replay(FS, cols, lab)
    online = run_online(FS, recs, labels, MemoryStore(sweep_every=3))
    assert_same(batch, ref, "replay vs reference")
    assert_same(online, ref, "online vs reference")


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(streams(max_size=60))
def test_in_order_streams(stream):
    recs, labels = stream
    recs = sorted(recs, key=lambda r: r["ts"])  # no out-of-order rows: the fully vectorised path
    ref = reference(FS, recs, labels)
    cols, lab = to_columns(recs, labels)
    assert_same(replay(FS, cols, lab), ref, "replay vs reference (sorted)")


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(calendar_streams())
def test_calendar_windows_online_equals_replay_equals_reference(stream):
    recs, labels = stream
    ref = reference(CAL_FS, recs, labels)
    cols, lab = to_columns(recs, labels)
    assert_same(replay(CAL_FS, cols, lab), ref, "replay vs reference", CAL_FS)
    assert_same(run_online(CAL_FS, recs, labels, MemoryStore(sweep_every=3)), ref, "online vs reference", CAL_FS)
    srt = sorted(range(len(recs)), key=lambda i: recs[i]["ts"])
    recs_s, labels_s = [recs[i] for i in srt], [labels[i] for i in srt]
    cols, lab = to_columns(recs_s, labels_s)
    assert_same(replay(CAL_FS, cols, lab), reference(CAL_FS, recs_s, labels_s), "replay vs reference (sorted)", CAL_FS)


def test_compiled_store_runs_calendar_and_ratio_sets():
    from fraudscore._core import load

    if load("velocity_store") is None:
        pytest.skip("the compiled velocity store is not built")
    for store in (MemoryStore(), MemoryStore(engine="compiled")):
        OnlineVelocity(CAL_FS, store)
        assert store.engine == "compiled"  # calendar windows and ratio_to_mean are in C (no fallback)
