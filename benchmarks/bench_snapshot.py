"""How long scoring stops while a large memory store writes a snapshot: in-process vs forked.

A ``MemoryStore`` with the default 22 velocity features (10 key groups) is filled
with about ``--entities`` entities through the public API (events whose
identifiers are drawn so that a third of the entities have several events),
then a scoring thread calls ``update_and_read`` in a loop while the main thread
writes a snapshot. The figure is the longest pause
between two consecutive scored events during the snapshot:

* baseline: the Python reference store's ``snapshot(path, fork=False)``, the 0.1
  behaviour (the payload is built under the store's lock and serialised in the
  process, holding the GIL);
* the Python reference store's ``snapshot(path)`` (fork): only the ``fork()``
  call happens under the lock; a child process serialises the copy-on-write image;
* the compiled store (the default engine when the C extension is built): a flat
  copy of its arrays under the lock, hashed and written after.

Run: ``python benchmarks/bench_snapshot.py`` (1M entities, a few minutes) or
``--entities 100000`` for a quick run. Writes ``benchmarks/results/bench_snapshot.json``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time

from _common import result, write_results

from fraudscore.velocity import MemoryStore, OnlineVelocity


KEYS = ("device_id", "applicant_id", "phone", "bank_card", "email", "device_hw", "ip_prefix", "device_canvas",
        "ip", "inviter_id")


def record(i: int, t: int, pool: int) -> dict:
    r = {"application_id": f"F{i}", "ts": t, "amount": float(i % 5000)}
    for j, k in enumerate(KEYS):
        r[k] = f"{k[:2]}:{(i * (j + 1)) % pool if j % 3 == 0 else i}"
    return r


def fill(n: int, engine: str = "python") -> OnlineVelocity:
    from fraudscore.velocity.defaults import default_feature_set

    online = OnlineVelocity(default_feature_set(), MemoryStore(max_results=1, engine=engine))
    events = max(1, int(n / (len(KEYS) * 0.57)))
    t0 = 1_700_000_000_000
    for i in range(events):
        online.update_and_read(record(i, t0 + i * 1000, max(1, events // 3)))
    return online


def pause_during_snapshot(online: OnlineVelocity, path: str, fork: bool | None, start: int,
                          seconds: float = 0.0) -> tuple[float, float, int]:
    """``(longest gap between scored events in s, snapshot seconds, events scored meanwhile)``.

    ``fork=None`` writes no snapshot and waits ``seconds``: the gaps a loaded machine shows anyway.
    """
    stop = threading.Event()
    stamps: list[float] = []

    def score() -> None:
        i = start
        while not stop.is_set():
            online.update_and_read(record(i, 1_700_000_000_000 + 10**10 + i, 1000))
            stamps.append(time.perf_counter())
            i += 1

    th = threading.Thread(target=score)
    th.start()
    time.sleep(0.5)
    t0 = time.perf_counter()
    if fork is None:
        time.sleep(seconds)
    else:
        online.store.snapshot(path, fork=fork)
    t1 = time.perf_counter()
    time.sleep(0.2)
    stop.set()
    th.join()
    inside = [s for s in stamps if t0 - 0.05 <= s <= t1 + 0.2]
    window = [t0, *inside, t1]
    gaps = [b - a for a, b in zip(window, window[1:])]
    return max(gaps), t1 - t0, len([s for s in stamps if t0 <= s <= t1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    t = time.perf_counter()
    online = fill(args.entities)
    fill_s = time.perf_counter() - t
    n_ent = online.store.stats()["entities"]
    print(f"filled {n_ent:,} entities in {fill_s:.1f} s")
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "velocity.snap")
    base, forked, idle = [], [], []
    for r in range(args.repeats):
        base.append(pause_during_snapshot(online, path, False, 10_000_000 * r))
        forked.append(pause_during_snapshot(online, path, True, 10_000_000 * r + 5_000_000))
        idle.append(pause_during_snapshot(online, path, None, 10_000_000 * r + 7_000_000, forked[-1][1]))
        print(f"run {r}: in-process pause {base[-1][0]:.3f} s (snapshot {base[-1][1]:.1f} s), "
              f"forked pause {forked[-1][0]:.4f} s (snapshot {forked[-1][1]:.1f} s, "
              f"{forked[-1][2]:,} events scored meanwhile), no snapshot: longest gap {idle[-1][0]:.4f} s")
    size = os.path.getsize(path)
    compiled = None
    try:
        del online
        c = fill(args.entities, engine="compiled")
        runs = [pause_during_snapshot(c, path + ".c", True, 20_000_000 * (r + 1))
                for r in range(args.repeats)]
        compiled = sorted(runs)[args.repeats // 2]
        print(f"compiled store: pause {compiled[0]:.4f} s (snapshot {compiled[1]:.1f} s)")
    except Exception as exc:  # noqa: BLE001 - the C extension is optional
        print(f"compiled store not measured: {exc}")
    med = sorted(range(args.repeats), key=lambda i: base[i][0])[args.repeats // 2]
    medf = sorted(range(args.repeats), key=lambda i: forked[i][0])[args.repeats // 2]
    params = {"entities": n_ent, "repeats": args.repeats, "snapshot_bytes": size,
              "cpu_count": os.cpu_count(), "longest_gap_without_snapshot_s": sorted(i[0] for i in idle)[len(idle) // 2]}
    results = [
        result("snapshot/scoring_pause_s", forked[medf][0], "s", "in-process snapshot (0.1) pause", base[med][0],
               {**params, "snapshot_s": forked[medf][1], "events_scored_during": forked[medf][2]}),
        result("snapshot/duration_s", forked[medf][1], "s", "in-process snapshot duration", base[med][1], params),
    ]
    if compiled is not None:
        results.append(result("snapshot/compiled_scoring_pause_s", compiled[0], "s",
                              "in-process snapshot (0.1) pause", base[med][0],
                              {**params, "snapshot_s": compiled[1], "engine": "compiled"}))
    write_results("bench_snapshot", results)


if __name__ == "__main__":
    main()
