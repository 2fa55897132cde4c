"""Memory store layout: prefix sums, compact single-event entities, hot entities, snapshots."""

from __future__ import annotations

import numpy as np

from fraudscore.velocity import FeatureSet, FeatureSpec, MemoryStore, OnlineVelocity, replay
from fraudscore.velocity.memory_layout import GroupLayout
from fraudscore.velocity.plan import Plan
from fraudscore.velocity.reference import reference

from .test_parity import FS, run_online, to_columns


def _stream(n, n_keys, seed, back=2000, step=400):
    """Few hot entities, out-of-order arrivals within the lateness, ties, filters and missing values."""
    rng = np.random.default_rng(seed)
    recs, labels, t_max = [], [], 10**12
    for i in range(n):
        r = rng.random()
        t = t_max if r < 0.2 else t_max - int(rng.integers(0, back + 1)) if r < 0.45 else t_max + int(rng.integers(0, step))
        t_max = max(t_max, t)
        x = None if rng.random() < 0.1 else float(rng.integers(-5000, 5000)) / 100
        recs.append({"application_id": f"A{i}", "ts": t,
                     "a": None if rng.random() < 0.05 else f"a{rng.integers(0, n_keys)}",
                     "b": None if rng.random() < 0.05 else f"b{rng.integers(0, n_keys + 1)}",
                     "ch": str(rng.choice(["web", "app", "h5"])), "x": x})
        labels.append((bool(rng.integers(0, 2)), t + int(rng.integers(-2000, 8000))) if rng.random() < 0.3 else None)
    return recs, labels


def test_hot_entities_out_of_order_match_reference_and_replay():
    recs, labels = _stream(300, 2, seed=3)
    online = run_online(FS, recs, labels, MemoryStore(sweep_every=7))
    np.testing.assert_array_equal(online, reference(FS, recs, labels))
    cols, lab = to_columns(recs, labels)
    np.testing.assert_array_equal(replay(FS, cols, lab), online)


def test_many_single_event_entities_and_snapshot_of_compact_state(tmp_path):
    recs, labels = _stream(400, 150, seed=5)
    full = run_online(FS, recs, labels, MemoryStore())
    store = MemoryStore()
    first = run_online(FS, recs[:200], labels[:200], store)
    path = tmp_path / "v.snap"
    store.snapshot(str(path))
    fresh = MemoryStore()
    online = OnlineVelocity(FS, fresh)
    fresh.restore(str(path))
    assert fresh.stats() == store.stats()
    fresh.snapshot(str(tmp_path / "again.snap"))  # compact and list forms survive a second round trip
    rest = []
    cut = recs[199]["ts"]
    pending = sorted((lab[1], i, lab[0]) for i, lab in enumerate(labels) if lab is not None and lab[1] > cut)
    k = 0
    for r in recs[200:]:
        while k < len(pending) and pending[k][0] <= r["ts"]:
            online.record_label(recs[pending[k][1]]["application_id"], pending[k][2], pending[k][0])
            k += 1
        rest.append(online.update_and_read(r))
    np.testing.assert_array_equal(np.vstack([first, np.vstack(rest)]), full)


def test_prefix_columns_stay_consistent_after_middle_inserts_and_trims():
    fs = FeatureSet([FeatureSpec("sum", key="k", field="x", window=5000, filter={"ch": "web"}),
                     FeatureSpec("mean", key="k", field="x", window=3000),
                     FeatureSpec("first_seen_age", key="k", window=4000, filter={"ch": "web"}),
                     FeatureSpec("time_since_last", key="k", window=4000, filter={"ch": "web"})],
                    allowed_lateness=2000)
    plan = Plan(fs)
    lay = GroupLayout(plan.groups[0])
    store = MemoryStore(engine="python")  # inspects the reference layout
    online = OnlineVelocity(fs, store)
    rng = np.random.default_rng(11)
    recs, t = [], 10**12
    for i in range(300):
        t += int(rng.integers(0, 300))
        tt = t - int(rng.integers(0, 2001)) if rng.random() < 0.4 else t
        recs.append({"application_id": f"A{i}", "ts": tt, "k": "hot", "ch": str(rng.choice(["web", "app"])),
                     "x": float(rng.integers(0, 10**6)) / 7})
        online.update_and_read(recs[-1])
    ent = store._state[0]["hot"]
    ts, cols = lay.to_raw(ent)
    assert ts == sorted(ts) and all(len(c) == len(ts) for c in cols)
    rebuilt = lay.from_raw(ts, cols)
    assert [c[1:] if p else c for c, p in zip(rebuilt[1:], lay.prefix)] == \
        [[v - ent[j + 1][0] for v in ent[j + 1][1:]] if p else ent[j + 1] for j, p in enumerate(lay.prefix)]
    assert len(ts) < 300  # expired events were dropped
    np.testing.assert_array_equal(run_online(fs, recs, [None] * len(recs), MemoryStore()),
                                  reference(fs, recs, [None] * len(recs)))
