"""Dask rescoring benchmark: events/s with 1 and 2 Dask workers against single-process rescoring, same rows.

Generates ``--rows`` synthetic applications (28 days), writes them as a folder
of ``--files`` Parquet files, trains a small bundle on the first rows, then
rescores the whole folder with labels (label-delayed features on):

* **single process**: :func:`fraudscore.rescore.rescore` (what ``fraudscore score``
  runs), the baseline;
* **Dask, 1 and 2 workers**: :func:`fraudscore.distributed.score_dask` on a
  ``LocalCluster`` of that many worker processes with one thread each, after a
  warm-up run (workers load the bundle once).

Each time is the median of ``--repeat`` runs; ratios are against the single
process measured in the same run. ``identical`` says whether every output column
equals the single process's, bit for bit. The CPU seconds each worker process
spent are recorded too: on a machine shared with other work, wall-clock ratios
follow the load; ``single CPU s / busiest worker CPU s`` is the speedup the
partitioning allows when the workers have their cores to themselves (reported
as ``projected``, never as the measured ratio). Where the workers' CPU goes is
recorded too: the task functions' own CPU by stage (``phase_cpu_s``, from
:func:`fraudscore.distributed.tasks.phase_cpu`) and what the worker processes
spent outside them (``outside_tasks_cpu_s``: Dask's event loop, serialising and
receiving shuffle pieces, its periodic callbacks), and the CPU of this process,
which runs the client and the local scheduler (``client_and_scheduler_cpu_s``).
The load average is recorded.

Usage::

    nice -n 10 python benchmarks/bench_dask.py --rows 1000000          # the goal's size
    nice -n 10 python benchmarks/bench_dask.py --rows 30000 --repeat 3  # a shared 2-core machine
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import result, write_results  # noqa: E402

import fraudscore as fs  # noqa: E402
from fraudscore.distributed import score_dask  # noqa: E402
from fraudscore.distributed.tasks import phase_cpu  # noqa: E402
from fraudscore.rescore import rescore  # noqa: E402
from fraudscore.synth import generate  # noqa: E402

KEY = b"bench-dask-secret-0123456789"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _frame(path: Path):
    import pandas as pd

    df = pd.read_parquet(path)
    return df.sort_values("row").reset_index(drop=True)


def _identical(a, b) -> bool:
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        same = np.array_equal(x.view(np.int64), y.view(np.int64)) if x.dtype.kind == "f" else bool((x == y).all())
        if not same:
            return False
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=8, help="Parquet files (input partitions)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--train-rows", type=int, default=20_000)
    ap.add_argument("--buckets", type=int, default=None, help="hash buckets per shuffle (default: score_dask's)")
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    load = os.getloadavg()[0]
    data = generate(n_days=28, per_day=max(args.rows // 28, 1), seed=5)
    n = len(data)
    events, labels = data.to_pandas(flatten_device=True)
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        root = Path(tmp)
        head = min(args.train_rows, n)
        res = fs.train(events.iloc[:head], labels, key=KEY, config={"model": {"num_boost_round": 30, "gap": "1h"}})
        res.save(root / "bundle")
        (root / "in").mkdir()
        for i, part in enumerate(np.array_split(np.arange(n), args.files)):
            events.iloc[part].to_parquet(root / "in" / f"part-{i:03d}.parquet", index=False)
        (root / "warm").mkdir()
        events.iloc[:500].to_parquet(root / "warm" / "part-000.parquet", index=False)
        labels.to_parquet(root / "labels.parquet", index=False)
        del data, events
        scorer = fs.load(root / "bundle", key=KEY)

        times, cpus = [], []
        for _ in range(args.repeat):
            c0, t0 = _cpu(), time.perf_counter()
            rescore(root / "in", scorer, root / "single.parquet", labels=labels, sort_by_time=True)
            times.append(time.perf_counter() - t0)
            cpus.append(_cpu() - c0)
        t_single, cpu_single = statistics.median(times), statistics.median(cpus)
        single = _frame(root / "single.parquet")
        rate_single = n / t_single
        out = [result("single_process_rescore", rate_single, "events/s",
                      params={"rows": n, "repeat": args.repeat, "cpu_s": round(cpu_single, 2)})]
        for w in args.workers:
            with LocalCluster(n_workers=w, processes=True, threads_per_worker=1, dashboard_address=None) as cl, \
                    Client(cl) as client:
                score_dask(client, root / "bundle", root / "warm", root / "warm-out", key=KEY, labels=labels,
                           buckets=args.buckets)
                times, busiest, total, tasks, here = [], [], [], [], []
                phases: dict[str, float] = {}
                for _ in range(args.repeat):
                    client.run(phase_cpu, True)
                    before = client.run(_cpu)
                    c0, t0 = _cpu(), time.perf_counter()
                    summary = score_dask(client, root / "bundle", root / "in", root / f"dask-{w}", key=KEY,
                                         labels=labels, buckets=args.buckets)
                    times.append(time.perf_counter() - t0)
                    here.append(_cpu() - c0)
                    after = client.run(_cpu)
                    spent = [after[k] - before[k] for k in after]
                    busiest.append(max(spent))
                    total.append(sum(spent))
                    got = client.run(phase_cpu)
                    tasks.append(sum(v[0] for d in got.values() for v in d.values()))
                    for d in got.values():
                        for name, (cpu, _calls) in d.items():
                            phases[name] = phases.get(name, 0.0) + cpu / args.repeat
                same = _identical(single, _frame(root / f"dask-{w}"))
                t, busy = statistics.median(times), statistics.median(busiest)
                params = {"rows": n, "files": args.files, "repeat": args.repeat, "identical": same,
                          "worker_cpu_s_total": round(statistics.median(total), 2),
                          "busiest_worker_cpu_s": round(busy, 2), "single_cpu_s": round(cpu_single, 2),
                          "task_cpu_s_total": round(statistics.median(tasks), 2),
                          "outside_tasks_cpu_s": round(statistics.median(total) - statistics.median(tasks), 2),
                          "phase_cpu_s": {k: round(v, 2) for k, v in sorted(phases.items(), key=lambda kv: -kv[1])
                                          if v >= 0.01},
                          "client_and_scheduler_cpu_s": round(statistics.median(here), 2),
                          "wall_s": round(t, 2), "partitions": summary.chunks}
                out.append(result(f"dask_{w}_worker{'s' if w > 1 else ''}_rescore", n / t, "events/s",
                                  "single_process_rescore", rate_single, params))
                out.append(result(f"dask_{w}_worker{'s' if w > 1 else ''}_projected_speedup", cpu_single / busy, "x",
                                  params={**params, "how": "single-process CPU s / busiest worker CPU s"},
                                  higher_is_better=True))
    write_results("bench_dask", out, extra={"load_average_at_start": load, "rows": n,
                                            "goal": ">= 1.6x single-process with 2 workers on 1M rows"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
