"""What first touching memory costs on this machine, by how long ago the process freed it (#13, round 18).

On the development machines (VMs with a ``virtio_balloon`` device) memory a process frees goes back to
the host within seconds (free page reporting), and touching it again makes the host fault each page in anew: a
batch that allocates large temporaries after a pause pays for every page, however little work it does with them
(a 40 MB ``np.take`` in ``score_batch`` took 176 ms instead of 13). This script allocates and writes ``--mb`` MB
(``np.ones``), frees it, sleeps, and does it again, for each pause in ``--pauses``; ``--repeats`` rounds, medians.
The baseline is the same allocation with no pause (the pages reused at once). A machine without the effect shows
ratios near 1.

    python benchmarks/bench_fresh_memory.py [--mb 200] [--pauses 0 0.5 1 2 3 5] [--repeats 3]

Writes ``benchmarks/results/bench_fresh_memory.json``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import result, write_results  # noqa: E402

PAGE = 4096


def touch(mb: int) -> tuple[float, int]:
    """Seconds to allocate and write ``mb`` MB, and the minor page faults it took."""
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    a = np.ones(mb * (1 << 20) // 8)
    dt = time.perf_counter() - t0
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    del a
    return dt, faults


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--pauses", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 3.0, 5.0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--name", default="bench_fresh_memory")
    args = ap.parse_args(argv)
    pages = args.mb * (1 << 20) // PAGE
    touch(args.mb)  # the process's first touch (never mapped before): not one of the figures
    times: dict[float, list[float]] = {p: [] for p in args.pauses}
    faults: dict[float, list[int]] = {p: [] for p in args.pauses}
    base: list[float] = []
    for _ in range(args.repeats):
        for p in args.pauses:
            touch(args.mb)  # the pages used just now...
            base.append(touch(args.mb)[0])  # ...reused at once: the baseline
            time.sleep(p)
            dt, nf = touch(args.mb)
            times[p].append(dt)
            faults[p].append(nf)
    b = statistics.median(base)
    rows = []
    print(f"{args.mb} MB allocated and written; reused at once: {1000 * b:.1f} ms ({1e6 * b / pages:.2f} us a 4 KiB page)")
    for p in args.pauses:
        t = statistics.median(times[p])
        print(f"  after a {p:4.1f} s pause: {1000 * t:8.1f} ms  {1e6 * t / pages:6.2f} us a 4 KiB page  "
              f"{t / b:6.1f}x  minor faults {statistics.median(faults[p]):,.0f}")
        rows.append(result(f"fresh_memory/after_{p:g}s_pause_us_per_page", 1e6 * t / pages, "us/page",
                           "the same allocation reused at once", 1e6 * b / pages,
                           {"mb": args.mb, "pause_s": p, "repeats": args.repeats, "faults": faults[p]}))
    write_results(args.name, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
