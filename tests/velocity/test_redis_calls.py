"""The worker's side of the Redis event call: row packing and record reading (no server needed)."""

import dataclasses
import os
import struct

from hypothesis import given
from hypothesis import strategies as st

from fraudscore._redis import hash_bytes
from fraudscore.velocity import FeatureSet, FeatureSpec, RedisStore
from fraudscore.velocity.plan import Plan
from fraudscore.velocity.redis_args import n_outputs
from fraudscore.velocity.redis_calls import app_hash, outputs


def test_app_hash_is_hash_bytes_whatever_the_order():
    for app, size in [("A1", 8), ("A1", 12), ("A2", 8), ("A1", 8), ("", 12), ("A2", 12)]:
        assert app_hash(app, size) == hash_bytes(app, size)


def _record(t: int, groups: list[tuple[int, list[float]]]) -> bytes:
    out = [struct.pack("<d", float(t)), b"\0" * 8, b"\0\0", b"\0\0", struct.pack("<H", len(groups))]
    for gi, vals in groups:
        out += [struct.pack(f"<HH{len(vals)}d", gi, len(vals), *vals), b"\0\0"]
    return b"".join(out)


@given(st.lists(st.integers(0, 10**6), min_size=8, max_size=8))
def test_count_groups_read_as_the_general_path(vals):
    fs = FeatureSet([FeatureSpec("count", key="ip", window="1h"), FeatureSpec("count", key="ip", window="1d"),
                     FeatureSpec("distinct", key="ip", of="phone", window="1d"),
                     FeatureSpec("sum", key="phone", field="amount", window="1h"),
                     FeatureSpec("mean", key="phone", field="amount", window="1h"),
                     FeatureSpec("time_since_last", key="email", window="7d")])
    plan = Plan(fs)
    store = RedisStore(object())
    store.bind(plan)
    meta = store._meta
    assert any(m.count_outs for m in meta) and not all(m.count_outs for m in meta)
    t = 1_700_000_000_000
    groups, i = [], 0
    for gi, g in enumerate(plan.groups, 1):
        k = n_outputs(g)
        raw = [float(v) for v in vals[i:i + k]]
        if g.queries[0].agg == "time_since_last":
            raw = [float(t - vals[i])]
        groups.append((gi, raw))
        i += k
    rec = _record(t, groups)
    general = [dataclasses.replace(m) for m in meta]
    for m in general:
        m.count_outs = None  # every output through finish()
    fast, slow = outputs(meta, plan, t, {"x": ("ok", rec)}), outputs(general, plan, t, {"x": ("ok", rec)})
    assert fast[0].tobytes() == slow[0].tobytes() and fast[1:] == slow[1:]


def test_request_packers_without_the_compiled_core(monkeypatch):
    """Without the compiled core the request is packed by hiredis (or, pure Python, the reference): same bytes."""
    import fraudscore._redis as R

    monkeypatch.setattr(R, "_C", None)
    args = ["SET", "k\u00e9", b"\x00\r\n", 3, 0.25]
    for pure in ("0", "1"):
        monkeypatch.setenv("FRAUDSCORE_PURE_PYTHON", pure)
        command, evalsha = R._packers()
        assert command(args) == R.resp_command(args)
        assert evalsha("ab", ["k1", "k2"], [b"x", 5]) == R.resp_evalsha("ab", ["k1", "k2"], [b"x", 5])


def test_random_bytes_are_fresh_per_call_thread_and_forked_child():
    """Link versions and event nonces come from a per-thread pool of os.urandom bytes: never handed out twice,
    not shared between threads, and a forked worker starts its own pool (never its parent's next bytes)."""
    import threading

    from fraudscore._redis import random_bytes

    seen = [random_bytes(8) for _ in range(1200)]  # (past one 4 KiB refill)
    other: list[bytes] = []
    th = threading.Thread(target=lambda: other.extend(random_bytes(8) for _ in range(50)))
    th.start()
    th.join()
    assert len(set(seen + other)) == len(seen) + len(other)
    assert len(random_bytes(5000)) == 5000
    if not hasattr(os, "fork"):
        return
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(w, random_bytes(8))
        os._exit(0)
    os.close(w)
    child = os.read(r, 8)
    os.close(r)
    os.waitpid(pid, 0)
    assert len(child) == 8 and child != random_bytes(8)
