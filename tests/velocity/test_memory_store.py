"""MemoryStore: eviction, bounded state, threads, snapshots, bad and late events."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from fraudscore.errors import ConfigError, EventError, StoreError
from fraudscore.velocity import FeatureSet, FeatureSpec, MemoryStore, OnlineVelocity, replay
from fraudscore.velocity.snapshot import MAGIC, MAGIC_BLOB

from .test_parity import FS, run_online, to_columns

H = 3_600_000
# every test here runs against both engines (the compiled store and the Python reference)
pytestmark = pytest.mark.usefixtures("engine")


def small_fs():
    return FeatureSet([FeatureSpec("count", key="device_id", window="1h"),
                       FeatureSpec("sum", key="device_id", field="amount", window="2h"),
                       FeatureSpec("distinct", key="device_id", of="applicant_id", window="1h"),
                       FeatureSpec("fraud_count", key="device_id", window="1h", delay="1h")],
                      allowed_lateness="10m")


def rec(i, t, dev, amount=1.0, app=None):
    return {"application_id": f"A{i}", "ts": t, "device_id": dev, "amount": amount,
            "applicant_id": app or f"p{i % 7}"}


def test_idle_entities_evicted_and_state_bounded():
    store = MemoryStore(sweep_every=10)
    online = OnlineVelocity(small_fs(), store)
    for i in range(2000):  # a new device every event, time moves 1 minute per event
        online.update_and_read(rec(i, 10**12 + i * 60_000, f"d{i}"))
    st = store.stats()
    # horizon 2h + lateness 10m = 130 minutes of devices (+ one sweep interval)
    assert st["entities"] <= 130 + 10 + 1
    assert st["events"] == st["entities"]


def test_old_events_pruned_within_entity():
    store = MemoryStore()
    online = OnlineVelocity(small_fs(), store)
    for i in range(500):
        v = online.update_and_read(rec(i, 10**12 + i * 60_000, "d"))
    assert v[0] == 60.0 and v[1] == 120.0
    assert store.stats()["events"] <= 131


def test_bad_and_late_events_change_nothing():
    online = OnlineVelocity(small_fs())
    online.update_and_read(rec(0, 10**12, "d"))
    before = online.store.stats()
    for bad in ({"application_id": "x", "device_id": "d"}, {"ts": "2026-01-01", "device_id": "d"},
                {"ts": 10**12, "device_id": 3.5}, {"ts": 10**12, "device_id": "d", "amount": "lots"},
                {"ts": 10**12, "device_id": "d", "amount": float("inf")}, "not a mapping"):
        with pytest.raises(EventError):
            online.update_and_read(bad)
    with pytest.raises(EventError) as err:
        online.update_and_read(rec(1, 10**12 - 11 * 60_000, "d"))
    assert err.value.field == "ts"
    assert online.store.stats() == before
    assert online.update_and_read(rec(2, 10**12 - 10 * 60_000, "d"))[0] == 1.0  # exactly at the limit: accepted


def test_threads_score_concurrently():
    fs = FeatureSet([FeatureSpec("count", key="device_id", window="1h"),
                     FeatureSpec("sum", key="device_id", field="amount", window="2h"),
                     FeatureSpec("distinct", key="device_id", of="applicant_id", window="1h")],
                    allowed_lateness="1d")
    online = OnlineVelocity(fs)
    recs = [rec(i, 10**12 + i * 1000, f"d{i % 5}", amount=float(i)) for i in range(800)]
    errors = []

    def work(k):
        try:
            for i, r in enumerate(recs):
                if i % 4 == k:
                    online.update_and_read(r)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert online.store.stats() == {"entities": 5, "events": 800, "labels": 0, "results": 800}
    seq = OnlineVelocity(fs)
    for r in recs:
        seq.update_and_read(r)
    for d in range(5):  # the final state does not depend on the interleaving
        probe = rec(10_000 + d, 10**12 + 800_000, f"d{d}", amount=0.0)
        np.testing.assert_array_equal(online.update_and_read(probe), seq.update_and_read(probe))


def test_snapshot_restore_round_trip_and_integrity(tmp_path):
    recs, labels = [], []
    rng = np.random.default_rng(1)
    for i in range(300):
        recs.append({"application_id": f"A{i}", "ts": 10**12 + 500 * i - int(rng.integers(0, 1500)),
                     "a": str(rng.choice(["a1", "a2", "a3"])), "b": str(rng.choice(["b1", "b2"])),
                     "ch": str(rng.choice(["web", "app"])), "x": float(rng.integers(0, 1000)) / 100})
        labels.append((bool(rng.integers(0, 2)), recs[-1]["ts"] + 700) if rng.random() < 0.3 else None)
    recs.sort(key=lambda r: r["ts"])
    full = run_online(FS, recs, labels, MemoryStore())
    # split the stream: snapshot after 150 events, restore into a fresh store, continue
    store = MemoryStore()
    first = run_online(FS, recs[:150], labels[:150], store)
    path = tmp_path / "v.snap"
    store.snapshot(str(path))
    fresh = MemoryStore()
    online = OnlineVelocity(FS, fresh)
    fresh.restore(str(path))
    pending = sorted((lab[1], i, lab[0]) for i, lab in enumerate(labels) if lab is not None and lab[1] > recs[149]["ts"])
    rest, k = [], 0
    for r in recs[150:]:
        while k < len(pending) and pending[k][0] <= r["ts"]:
            online.record_label(recs[pending[k][1]]["application_id"], pending[k][2], pending[k][0])
            k += 1
        rest.append(online.update_and_read(r))
    np.testing.assert_array_equal(np.vstack([first, np.vstack(rest)]), full)
    cols, lab = to_columns(recs, labels)
    np.testing.assert_array_equal(replay(FS, cols, lab), full)
    # no pickle, checksum verified, corruption detected
    raw = path.read_bytes()
    assert raw.startswith((MAGIC, MAGIC_BLOB)) and b"pickle" not in raw
    path.write_bytes(raw[:-5] + b"xxxxx")
    with pytest.raises(StoreError, match="checksum"):
        OnlineVelocity(FS, MemoryStore()).store.restore(str(path))
    with pytest.raises(StoreError):
        OnlineVelocity(FS, MemoryStore()).store.restore(str(tmp_path / "missing.snap"))


def test_crash_mid_write_leaves_previous_snapshot(tmp_path, monkeypatch):
    fs = small_fs()
    online = OnlineVelocity(fs)
    online.update_and_read(rec(0, 10**12, "d"))
    path = tmp_path / "v.snap"
    online.store.snapshot(str(path))
    good = path.read_bytes()
    online.update_and_read(rec(1, 10**12 + 1, "d"))
    import fraudscore.velocity.snapshot as snap

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(snap.os, "fsync", boom)
    for fork in (True, False):  # the forked writer reports the child's error
        with pytest.raises(StoreError, match="disk full"):
            online.store.snapshot(str(path), fork=fork)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["v.snap"]  # temp file cleaned up


def test_restore_refuses_other_feature_set(tmp_path):
    a = OnlineVelocity(small_fs())
    a.update_and_read(rec(0, 10**12, "d"))
    a.store.snapshot(str(tmp_path / "s"))
    b = OnlineVelocity(FeatureSet([FeatureSpec("count", key="ip", window="1h")]))
    with pytest.raises(StoreError, match="different FeatureSet"):
        b.store.restore(str(tmp_path / "s"))
    with pytest.raises(ConfigError):
        OnlineVelocity(FeatureSet([FeatureSpec("count", key="ip", window="1h")]), a.store)


def test_labels_enter_only_once_known():
    fs = FeatureSet([FeatureSpec("fraud_count", key="d", window="1d", delay="1h"),
                     FeatureSpec("fraud_rate", key="d", window="1d", delay="1h")])
    online = OnlineVelocity(fs)
    online.update_and_read({"application_id": "A", "ts": 0, "d": "x"})
    online.update_and_read({"application_id": "B", "ts": 1, "d": "x"})
    online.record_label("A", True, 5 * H)
    assert online.update_and_read({"application_id": "C", "ts": 2 * H, "d": "x"}).tolist() == [0.0, 0.0]
    assert online.update_and_read({"application_id": "D", "ts": 5 * H, "d": "x"}).tolist() == [1.0, 1 / 3]
    online.record_label("A", False, 6 * H)  # a corrected label clears it
    assert online.update_and_read({"application_id": "E", "ts": 6 * H, "d": "x"}).tolist() == [0.0, 0.0]


def _filled(n=40, engine="auto"):
    online = OnlineVelocity(FS, MemoryStore(engine=engine))
    for i in range(n):
        online.update_and_read({"application_id": f"A{i}", "ts": 10**12 + 700 * i, "a": f"a{i % 3}",
                                "b": f"b{i % 2}", "ch": "web", "x": float(i)})
    online.record_label("A3", True, 10**12 + 5_000)
    return online


def test_snapshot_removes_the_temporary_file_of_a_killed_snapshot(tmp_path):
    import os
    import subprocess
    import sys

    online = _filled()
    path = tmp_path / "v.snap"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".v.snap.{dead}.0badc0de.tmp"  # what a snapshot killed mid-write leaves behind
    stale.write_bytes(b"partial")
    old_style = tmp_path / ".v.snap.x8k2j1.tmp"
    old_style.write_bytes(b"partial")
    live = tmp_path / f".v.snap.{os.getppid()}.12345678.tmp"  # a writer that is still running: kept
    live.write_bytes(b"in progress")
    online.store.snapshot(str(path))
    assert not stale.exists() and not old_style.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["v.snap", live.name])


@pytest.mark.parametrize("damage", ["no_groups", "group_dropped", "float_time", "unsorted", "short_column",
                                    "bad_flag", "huge_value", "composite_key", "label_shape", "result_shape",
                                    "max_seen", "other_plan"])
def test_crafted_snapshot_with_a_recomputed_checksum_is_refused(tmp_path, damage):
    import gzip
    import hashlib
    import json

    from fraudscore.velocity.snapshot import MAGIC

    online = _filled(engine="python")  # a JSON snapshot, restored into the engine under test
    path = tmp_path / "v.snap"
    online.store.snapshot(str(path))
    payload = json.loads(gzip.decompress(path.read_bytes()[len(MAGIC) + 65:]))
    g = payload["groups"]
    two = next(i for i, rows in enumerate(g) if any(len(r[1]) > 1 for r in rows))
    multi = next(r for r in g[two] if len(r[1]) > 1)
    if damage == "no_groups":
        payload["groups"] = []
    elif damage == "group_dropped":
        payload["groups"] = g[:-1]
    elif damage == "float_time":
        multi[1][0] = 1.5
    elif damage == "unsorted":
        multi[1].reverse()
    elif damage == "short_column":
        next(r for rows in g for r in rows if r[2])[2][0].append(0)
    elif damage == "bad_flag":
        gi, flag = next((i, j) for i, grp in enumerate(online.plan.groups)
                        for j, s in enumerate(grp.slots) if s[0] == "flag")
        g[gi][0][2][flag][0] = 7
    elif damage == "huge_value":
        next(r for rows in g for r in rows if r[2])[2][0][0] = 10**400
    elif damage == "composite_key":
        gi = next(i for i, grp in enumerate(online.plan.groups) if len(grp.key) > 1)
        g[gi][0][0] = ["only-one-part"]
    elif damage == "label_shape":
        payload["labels"] = [["A3"]]
    elif damage == "result_shape":
        payload["results"][0][2] = [1.0]
    elif damage == "max_seen":
        payload["max_seen"] = "soon"
    else:
        payload["plan"] = "0" * 24
    data = gzip.compress(json.dumps(payload).encode())
    path.write_bytes(MAGIC + hashlib.sha256(data).hexdigest().encode() + b"\n" + data)
    fresh = OnlineVelocity(FS, MemoryStore())
    before = fresh.store.stats()
    with pytest.raises(StoreError):
        fresh.store.restore(str(path))
    assert fresh.store.stats() == before  # nothing replaced


def test_crafted_compiled_snapshot_with_a_recomputed_checksum_is_refused(tmp_path, engine):
    """The compiled store's binary dump and its header, altered and re-checksummed, never restore."""
    import hashlib

    if engine != "compiled":
        pytest.skip("binary snapshots are the compiled store's")
    online = _filled()
    path = tmp_path / "v.snap"
    online.store.snapshot(str(path))
    raw = path.read_bytes()
    n = len(MAGIC_BLOB)
    body = bytearray(raw[n + 65:])
    head_len = int.from_bytes(body[:8], "little")
    for where, value in ((8 + head_len + 16, 0xFF), (len(body) - 3, 0x7F), (8 + head_len + 1, 0x00)):
        bad = bytearray(body)
        bad[where] ^= value or 0xFF
        path.write_bytes(MAGIC_BLOB + hashlib.sha256(bytes(bad)).hexdigest().encode() + b"\n" + bytes(bad))
        fresh = OnlineVelocity(FS, MemoryStore())
        try:
            fresh.store.restore(str(path))
        except StoreError:
            continue
        # a change that still forms a valid state must restore a usable store
        fresh.update_and_read({"application_id": "Z", "ts": 10**12 + 10**6, "a": "a1", "b": "b1", "ch": "web",
                               "x": 1.0})
    import json

    meta = json.loads(bytes(body[8:8 + head_len]))
    meta["results"] = [["A1", 1, [1.0], None, None]]  # wrong shape
    head = json.dumps(meta).encode()
    blob = len(head).to_bytes(8, "little") + head + bytes(body[8 + head_len:])
    path.write_bytes(MAGIC_BLOB + hashlib.sha256(blob).hexdigest().encode() + b"\n" + blob)
    with pytest.raises(StoreError):
        OnlineVelocity(FS, MemoryStore()).store.restore(str(path))


def test_snapshot_does_not_stop_scoring_threads(tmp_path):
    """While the forked child writes, other threads keep scoring (they never wait for the file)."""
    import threading

    online = _filled(200)
    done, scored = threading.Event(), []

    def score():
        i = 0
        while not done.is_set():
            online.update_and_read({"application_id": f"T{i}", "ts": 10**12 + 200_000 + i, "a": "a1", "b": "b1",
                                    "ch": "web", "x": 1.0})
            scored.append(i)
            i += 1

    t = threading.Thread(target=score)
    t.start()
    try:
        for k in range(3):
            online.store.snapshot(str(tmp_path / f"s{k}.snap"))
    finally:
        done.set()
        t.join()
    restored = OnlineVelocity(FS, MemoryStore())
    restored.store.restore(str(tmp_path / "s2.snap"))
    assert restored.store.stats()["entities"] > 0 and scored
