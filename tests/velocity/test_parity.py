"""Online (memory store) == batch replay == naive reference, for random streams."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore.velocity import MemoryStore, OnlineVelocity, replay
from fraudscore.velocity.reference import reference

from .conftest import parity_feature_set

FS = parity_feature_set()
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


def assert_same(a, b, what):
    for j, name in enumerate(FS.names):
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
