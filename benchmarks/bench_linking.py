"""Device linking on realistic drift: pairwise precision / recall per scenario, farms, throughput.

Data: :func:`fraudscore.fingerprint.simulate.simulate` -- drift grounded in published
measurements (FP-STALKER, AmIUnique, Hiding in the Crowd, release calendars; see
docs/fingerprints.md), one scenario at a time, with ground truth. Metric: pairwise
precision and recall (:func:`fraudscore.fingerprint.evaluate.pairwise_metrics`), overall
and per OS.

Measured in the same run, on the same streams:

* **exact match** (the fingerprint id is the device): the naive baseline every ratio is against;
* **legacy** linker (fraudscore 0.1, :mod:`fraudscore.fingerprint.legacy`);
* the **linker**'s ids (``DeviceLinker``), and the ids velocity features key on
  (links below ``MIN_LINK_CONFIDENCE`` refused: each such event pairs with nothing);
* **network**: the ids velocity keys on with network-scoped popularity
  (``DeviceLinker(network=NetworkScope())``, :mod:`fraudscore.fingerprint.linknet`), a second
  linker on the same stream. The ``*-net`` scenarios use the grounded network process
  (:mod:`fraudscore.fingerprint.simnet`); the others keep the flat one (a unique home /24 per device);
* the **ceiling** (:func:`fraudscore.fingerprint.evaluate.signature_ceiling`): the recall of an oracle
  that links only observations whose exact fingerprint (with or without the /24) no other device
  showed -- in the whole stream, or within 7 days -- at precision 1: what the inputs allow.

Goals (issue #12): web -- recall >= 0.90 at precision >= the exact-match precision;
mixed -- precision >= 0.995 and recall >= 0.95; farm -- no farm phones merged into one
id while the hardware+network feature still flags the farm rows; link throughput within
2x of the legacy linker (measured here, same events).

Also timed, in the same run: the linker with its compiled kernel (``fraudscore._core.linking``)
against the pure-Python reference, and the link stage of the single-event benchmark
(``stage_link`` p50, default bundle; goal <= 30 us).

Run: ``python benchmarks/bench_linking.py [--quick] [--speed-only] [--quality-only] [--redis URL]``; writes
benchmarks/results/bench_linking.json (not with ``--speed-only`` / ``--quality-only``). ``--callgrind [--events N]``: instructions
per event (valgrind) of the linker and the legacy linker on the throughput ``web`` stream (stable under load;
~10 min on the full stream), and, per model-scored call, the instructions of the candidate selection, the
link model's trees and the pick; ``--callgrind --stream [--events 2600]``: the same on the scorer stream's
link calls 2,000 to 2,600 (large bundle; see ``--stream``).

Before / after another version: ``python benchmarks/bench_linking.py --ab DIR`` replays the same link
inputs (the throughput ``web`` stream and the single-event benchmark's link calls) through
``DeviceLinker.link`` with the code at ``DIR`` (a checkout whose extension is built in place) and with
this one, in alternating processes, and prints the ratios (events/s, link p50); it writes nothing.

The scorer's stream: ``python benchmarks/bench_linking.py --stream [--cache-dir DIR]`` scores 4,000 synthetic
loan events (``events_stream(4000, seed=202)``: few device models, so candidate blocks are full) with the
``large`` bench bundle through the single-event benchmark's staged scorer and prints the link stage's median
and mean over the last 2,000 (the first 2,000 warm the state). The other stages run between link calls, so
the link's memory reads mostly miss the caches, as in a service. Run the same file with another checkout's
interpreter (its editable install) to compare versions, alternating.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import result, write_results  # noqa: E402

from fraudscore._core import PURE_PYTHON_ENV  # noqa: E402
from fraudscore.fingerprint import MIN_LINK_CONFIDENCE, DeviceLinker, Fingerprinter, MemoryLinkState  # noqa: E402
from fraudscore.fingerprint.evaluate import exact_ids, pairwise_by_group, pairwise_metrics, signature_ceiling  # noqa: E402
from fraudscore.fingerprint.legacy import LegacyLinker  # noqa: E402
from fraudscore.fingerprint.linknet import NetworkScope  # noqa: E402
from fraudscore.fingerprint.simulate import SCENARIOS, simulate  # noqa: E402
from fraudscore.keys import Keys  # noqa: E402

KEYS = Keys(b"benchmark-secret-not-for-production")


def run_linker(linker: Any, fps: list[Any], ts: list[int], ips: list[Any]) -> tuple[list[Any], list[Any]]:
    """(linked ids, velocity ids) of a stream."""
    ids: list[Any] = []
    vel: list[Any] = []
    for fp, t, ip in zip(fps, ts, ips):
        r = linker.link(fp, t, ip)
        ids.append(r.device_id)
        vel.append(r.device_id if r.link_confidence >= MIN_LINK_CONFIDENCE else None)
    return ids, vel


def quality(n: int, days: float, seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    out: list[dict[str, Any]] = []
    tables: dict[str, Any] = {}
    for sc in SCENARIOS:
        s = simulate(sc, n_devices=n, days=days, seed=seed)
        fpr = Fingerprinter(KEYS)
        fps = [fpr.fingerprint(d) for d in s.devices]
        ts = s.ts.tolist()
        ips = s.ip_prefix.tolist()
        state = MemoryLinkState()
        ids, vel = run_linker(DeviceLinker(state), fps, ts, ips)
        # the same linker with network-scoped popularity (opt-in): the ids velocity keys on
        _, net_vel = run_linker(DeviceLinker(MemoryLinkState(), network=NetworkScope()), fps, ts, ips)
        legacy_lk = LegacyLinker()
        legacy = [legacy_lk.link(fp, t).device_id for fp, t in zip(fps, ts)]
        exact = exact_ids(fpr, s.devices)
        m = {k: pairwise_metrics(s.truth, v) for k, v in
             (("exact", exact), ("linker", ids), ("velocity", vel), ("network", net_vel), ("legacy", legacy))}
        # what the inputs allow: an oracle that links only observations whose signature one device showed
        # (signature = the exact fingerprint, or it and the /24; ambiguous if two devices showed it in the
        # whole stream, or within 7 days of each other)
        sigs = {"fingerprint": exact, "network": [None if f is None else (f, ip) for f, ip in zip(exact, ips)]}
        ceiling = {f"{who}{sfx}": signature_ceiling(s.truth, sig, ts=ts, window=w)
                   for who, sig in sigs.items() for sfx, w in (("", None), ("_7d", 7 * 86_400_000))}
        per_os = {k: pairwise_by_group(s.truth, v, s.os) for k, v in (("exact", exact), ("linker", ids),
                                                                      ("velocity", vel), ("network", net_vel))}
        params = {"scenario": sc, "n_devices": n, "days": days, "seed": seed, "observations": len(s),
                  "live_evictions": state.live_evictions}
        for who in ("linker", "velocity", "network", "legacy"):
            for metric in ("precision", "recall"):
                out.append(result(f"{sc}:{who}:pairwise_{metric}", m[who][metric], "ratio", "exact_match",
                                  m["exact"][metric], {**params, "largest_id_devices": m[who]["largest_id_devices"]},
                                  higher_is_better=True))
        for who, c in ceiling.items():
            out.append(result(f"{sc}:ceiling_{who}:pairwise_recall", c["recall"], "ratio", "exact_match",
                              m["exact"]["recall"], {**params, "ambiguous_share": c["ambiguous_share"]},
                              higher_is_better=True))
        print(f"\n== {sc}: {len(s):,} observations of {m['exact']['devices_true']:,} devices "
              f"(live block evictions: {state.live_evictions})")
        print(f"  {'ids':<10} {'precision':>9} {'recall':>8} {'ids':>7} {'max devices/id':>15}")
        for who in ("exact", "legacy", "linker", "velocity", "network"):
            r = m[who]
            print(f"  {who:<10} {r['precision']:>9.4f} {r['recall']:>8.4f} {r['devices_linked']:>7,} "
                  f"{r['largest_id_devices']:>15}")
        for who in sigs:
            a, b = ceiling[who], ceiling[who + "_7d"]
            print(f"  ceiling at precision 1, signature = {who}{'' if who == 'fingerprint' else ' + fingerprint'}: "
                  f"recall {a['recall']:.4f} ({a['ambiguous_share']:.1%} of observations ambiguous); twins "
                  f"7 days apart told apart: {b['recall']:.4f}")
        print(f"  per OS       {'exact P/R':>15} {'linker P/R':>15} {'velocity P/R':>15} {'network P/R':>15}")
        for os_ in per_os["exact"]:
            cells = [f"{per_os[w][os_]['precision']:.3f}/{per_os[w][os_]['recall']:.3f}"
                     for w in ("exact", "linker", "velocity", "network")]
            print(f"  {os_:<12} {cells[0]:>15} {cells[1]:>15} {cells[2]:>15} {cells[3]:>15}")
        tables[sc] = {"overall": m, "per_os": per_os, "live_evictions": state.live_evictions, "ceiling": ceiling}
        if sc == "farm":
            farm_ids = [i for i, f in zip(ids, s.farm.tolist()) if f]
            farm_truth = s.truth[s.farm]
            fm = pairwise_metrics(farm_truth, farm_ids)
            tables["farm_only"] = fm
            print(f"  farm phones only: precision {fm['precision']:.4f}, most farm phones under one id "
                  f"{fm['largest_id_devices']}")
            out.append(result("farm:max_farm_phones_per_id", fm["largest_id_devices"], "devices", None, None,
                              params))
    return out, tables


def farm_features(days: int, per_day: int, seed: int) -> list[dict[str, Any]]:
    """The hardware + network feature on the synthetic loan data: does it still flag farm rows?"""
    from fraudscore.bundle import Bundle
    from fraudscore.schema import DEFAULT_SCHEMA
    from fraudscore.scorer import Scorer
    from fraudscore.synth import generate
    from fraudscore.velocity.defaults import default_feature_set

    data = generate(n_days=days, per_day=per_day, seed=seed)
    sc = Scorer(Bundle(schema=DEFAULT_SCHEMA.to_dict(), features=default_feature_set().to_dict()), KEYS)
    cb, rec, X = sc.features_batch(data.columns)
    names = list(sc.pipeline.feature_names)
    scen = np.asarray(data.labels["scenario"], dtype=object)
    farm, genuine = scen == "device_farm", scen == "genuine"
    out = []
    for feat in ("distinct__applicant_id__by__device_hw_and_ip_prefix__24h",
                 "distinct__applicant_id__by__device_id__24h"):
        col = X[:, names.index(feat)]
        share_farm = float(np.mean(col[farm] >= 2)) if farm.any() else float("nan")
        share_gen = float(np.mean(col[genuine] >= 2))
        print(f"  {feat}: >= 2 on {share_farm:.1%} of farm rows, {share_gen:.1%} of genuine rows")
        out.append(result(f"loan_data:{feat}>=2:farm_rows", 100 * share_farm, "%", "genuine_rows", 100 * share_gen,
                          {"days": days, "per_day": per_day, "seed": seed}, higher_is_better=True))
    return out


def reference_linker() -> DeviceLinker:
    """A linker on the pure-Python reference (``FRAUDSCORE_PURE_PYTHON=1`` while it is built): no compiled
    linking kernel (``fraudscore._core.linking``)."""
    old = os.environ.get(PURE_PYTHON_ENV)
    os.environ[PURE_PYTHON_ENV] = "1"
    try:
        return DeviceLinker(MemoryLinkState())
    finally:
        if old is None:
            del os.environ[PURE_PYTHON_ENV]
        else:
            os.environ[PURE_PYTHON_ENV] = old


def throughput(n: int, days: float, repeat: int) -> list[dict[str, Any]]:
    out = []
    compiled = DeviceLinker(MemoryLinkState())._select is not None
    for sc in ("web", "legacy"):
        s = simulate(sc, n_devices=n, days=days, seed=3)
        fpr = Fingerprinter(KEYS)
        fps = [fpr.fingerprint(d) for d in s.devices]
        ts = s.ts.tolist()
        ips = s.ip_prefix.tolist()

        def new() -> None:
            lk = DeviceLinker(MemoryLinkState())
            for fp, t, ip in zip(fps, ts, ips):
                lk.link(fp, t, ip)

        def old() -> None:
            lk = LegacyLinker()
            for fp, t in zip(fps, ts):
                lk.link(fp, t)

        def ref() -> None:
            lk = reference_linker()
            for fp, t, ip in zip(fps, ts, ips):
                lk.link(fp, t, ip)

        t_new, t_old, t_ref = [], [], []
        for _ in range(repeat):  # interleaved: all see the same machine load
            t_new.append(time_it(new))
            t_old.append(time_it(old))
            if compiled:
                t_ref.append(time_it(ref))
        m = len(fps)
        a, b = m / float(np.median(t_new)), m / float(np.median(t_old))
        print(f"link only ({sc}, {m:,} events): {a:,.0f}/s vs legacy {b:,.0f}/s (ratio {a / b:.2f})")
        params = {"n_devices": n, "observations": m, "repeat": repeat, "compiled_kernel": compiled}
        out.append(result(f"{sc}:link_events_per_s", a, "events/s", "legacy_linker", b, params))
        if compiled:
            c = m / float(np.median(t_ref))
            print(f"  compiled linking kernel {a:,.0f}/s vs the pure-Python reference {c:,.0f}/s "
                  f"(ratio {a / c:.2f}); legacy vs reference {b / c:.2f}")
            out.append(result(f"{sc}:link_events_per_s_vs_reference", a, "events/s", "pure_python_linker", c,
                              params))
    return out


def link_stage(n: int, repeat: int) -> list[dict[str, Any]]:
    """``stage_link`` p50 of the single-event benchmark (``fraudscore bench --only single``: the default
    bundle, ``events_stream(seed=202)``, :class:`~fraudscore.bench.single.StagedScorer`), with the compiled
    linking kernel against the pure-Python reference, interleaved chunk by chunk: medians over ``repeat``
    chunks of ``n`` events after a 500-event warm-up."""
    from fraudscore.bench.bundles import BenchContext, events_stream
    from fraudscore.bench.common import Settings
    from fraudscore.bench.single import StagedScorer
    from fraudscore.scorer import Scorer

    ctx = BenchContext(Settings.for_mode(False))
    try:
        bundle = ctx.bundle("default")
        fast = StagedScorer(Scorer(bundle, ctx.keys))
        old = os.environ.get(PURE_PYTHON_ENV)
        os.environ[PURE_PYTHON_ENV] = "1"
        try:
            ref = StagedScorer(Scorer(bundle, ctx.keys))
        finally:
            if old is None:
                del os.environ[PURE_PYTHON_ENV]
            else:
                os.environ[PURE_PYTHON_ENV] = old
    finally:
        ctx.close()
    compiled = fast.sc.linker._select is not None
    events = events_stream(500 + n * repeat, seed=202).to_records()
    for ev in events[:500]:
        fast.score(ev)
        ref.score(ev)
    p50 = {"compiled": [], "reference": []}
    for r in range(repeat):
        chunk = events[500 + r * n: 500 + (r + 1) * n]
        for name, staged in (("compiled", fast), ("reference", ref)):
            staged.times["link"].clear()
            for ev in chunk:
                staged.score(ev)
            p50[name].append(float(np.median(staged.times["link"])) / 1e3)
    a, b = float(np.median(p50["compiled"])), float(np.median(p50["reference"]))
    print(f"stage_link p50 (single bench, default bundle): {a:.1f} us with the compiled kernel vs {b:.1f} us "
          f"pure Python (ratio {b / a:.2f}x faster; goal <= 30 us)")
    return [result("single:stage_link_p50", a, "us", "pure_python_stage_link_p50", b,
                   {"bundle": "default", "events_per_run": n, "repeat": repeat, "seed": 202,
                    "compiled_kernel": compiled, "runs_compiled": p50["compiled"], "runs_reference": p50["reference"]},
                   higher_is_better=False)]


def redis_throughput(url: str, n: int, days: float) -> list[dict[str, Any]]:
    import uuid

    import redis

    from fraudscore.fingerprint import RedisLinkState

    client = redis.Redis.from_url(url)
    prefix = f"fsbench:{uuid.uuid4().hex}"
    s = simulate("web", n_devices=n, days=days, seed=3)
    fpr = Fingerprinter(KEYS)
    fps = [fpr.fingerprint(d) for d in s.devices]
    ts, ips = s.ts.tolist(), s.ip_prefix.tolist()
    red = DeviceLinker(RedisLinkState(client, prefix=prefix))
    mem = DeviceLinker(MemoryLinkState())
    t_red = time_it(lambda: [red.link(fp, t, ip) for fp, t, ip in zip(fps, ts, ips)])
    t_mem = time_it(lambda: [mem.link(fp, t, ip) for fp, t, ip in zip(fps, ts, ips)])
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)
    m = len(fps)
    print(f"redis link state: {m / t_red:,.0f}/s vs memory {m / t_mem:,.0f}/s (one client, local server)")
    return [result("redis_link_events_per_s", m / t_red, "events/s", "memory_link_state", m / t_mem,
                   {"n_devices": n, "observations": m})]


def replay(path: str) -> None:
    """Child of ``--ab``: link the pickled inputs (written by this script's parent) with a fresh linker; print
    events/s and the p50 of the per-call times after the first 500 calls, as JSON."""
    import json
    import pickle

    fps, ts, ips = pickle.loads(Path(path).read_bytes())
    lk = DeviceLinker(MemoryLinkState())
    clock = time.perf_counter_ns
    dt = []
    t0 = time.perf_counter()
    for fp, t, ip in zip(fps, ts, ips):
        c = clock()
        lk.link(fp, t, ip)
        dt.append(clock() - c)
    total = time.perf_counter() - t0
    print(json.dumps({"events_per_s": len(fps) / total, "p50_us": float(np.median(dt[500:] or dt)) / 1e3}))


def single_link_calls(n: int, bundle: str = "default",
                      cache_dir: str | None = None) -> tuple[list[Any], list[int], list[Any]]:
    """The link calls ``(fingerprint, ts, ip_prefix)`` of the single-event benchmark's stream (``bundle``,
    ``events_stream(n, seed=202)``), captured from ``Scorer.score``."""
    from fraudscore.bench.bundles import BenchContext, events_stream
    from fraudscore.bench.common import Settings
    from fraudscore.scorer import Scorer

    ctx = BenchContext(Settings.for_mode(False), cache_dir=cache_dir)
    try:
        sc = Scorer(ctx.bundle(bundle), ctx.keys)
    finally:
        ctx.close()
    calls: list[tuple[Any, int, Any]] = []
    real = sc.linker.link

    def record(fp: Any, ts: int, ip: Any = None) -> Any:
        calls.append((fp, ts, ip))
        return real(fp, ts, ip)

    sc.linker.link = record  # type: ignore[method-assign]
    for ev in events_stream(n, seed=202).to_records():
        sc.score(ev)
    fps, ts, ips = zip(*calls)
    return list(fps), list(ts), list(ips)


def ab(base: str, n: int, days: float, repeat: int, sn: int) -> None:
    """``--ab``: the same link inputs through the code at ``base`` and through this checkout, alternating."""
    import json
    import pickle
    import subprocess
    import tempfile

    here = str(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory() as tmp:
        s = simulate("web", n_devices=n, days=days, seed=3)
        fpr = Fingerprinter(KEYS)
        inputs = {"web": ([fpr.fingerprint(d) for d in s.devices], s.ts.tolist(), s.ip_prefix.tolist()),
                  "single": single_link_calls(500 + sn)}
        for name, data in inputs.items():
            (Path(tmp) / name).write_bytes(pickle.dumps(data))
        got: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(repeat):
            for name in inputs:
                for who, path in (("base", base), ("this", here)):
                    env = {**os.environ, "PYTHONPATH": path}
                    out = subprocess.run([sys.executable, __file__, "--replay", str(Path(tmp) / name)], env=env,
                                         capture_output=True, text=True, check=True, cwd=tmp)
                    got.setdefault((name, who), []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    for name in inputs:
        b = {k: float(np.median([r[k] for r in got[(name, "base")]])) for k in ("events_per_s", "p50_us")}
        t = {k: float(np.median([r[k] for r in got[(name, "this")]])) for k in ("events_per_s", "p50_us")}
        print(f"{name}: {t['events_per_s']:,.0f} events/s vs {b['events_per_s']:,.0f} at {base} "
              f"({t['events_per_s'] / b['events_per_s']:.2f}x); link p50 {t['p50_us']:.1f} us vs {b['p50_us']:.1f} us "
              f"({b['p50_us'] / t['p50_us']:.2f}x faster); medians of {repeat} alternating runs")


CALLGRIND_CHILD = r"""
import pickle, sys
from fraudscore.fingerprint import DeviceLinker, MemoryLinkState
from fraudscore.fingerprint.legacy import LegacyLinker
who, path, m = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path, "rb") as f:  # written by the parent process (this benchmark), never a user's file
    fps, ts, ips = pickle.load(f)
if who == "count":  # not under valgrind: how many link calls score candidates with the model
    from fraudscore.fingerprint.linkmodel import LinkModel
    calls = [0]
    for name in ("predict_rows", "best_rows"):
        real = getattr(LinkModel, name, None)
        if real is not None:
            def spy(self, rows, n, real=real):
                calls[0] += n > 0
                return real(self, rows, n)
            setattr(LinkModel, name, spy)
    lk = DeviceLinker(MemoryLinkState())
    for fp, t, ip in zip(fps[:m], ts[:m], ips[:m]):
        lk.link(fp, t, ip)
    print(calls[0])
elif who == "legacy":
    lk = LegacyLinker()
    for fp, t in zip(fps[:m], ts[:m]):
        lk.link(fp, t)
else:
    lk = DeviceLinker(MemoryLinkState())
    for fp, t, ip in zip(fps[:m], ts[:m], ips[:m]):
        lk.link(fp, t, ip)
"""


def callgrind(n: int, days: float, events: int | None, stream: bool = False, cache_dir: str | None = None) -> None:
    """``--callgrind``: instructions per event of ``DeviceLinker.link`` and of the legacy linker on the throughput
    ``web`` stream (the first ``events`` events; all when None), under ``valgrind --tool=callgrind``: each runs
    twice in a child process, linking ``m`` events and none after the same set-up, and the difference is
    divided by ``m`` (``PYTHONHASHSEED=0``: the set-up is the same instructions in both; its run-to-run spread
    is ~0.1 % of the set-up, so use thousands of events). With ``stream``: the scorer stream's link calls
    (large bundle, ``events_stream(4000, seed=202)``), calls 2,000 to ``events`` (default 2,600), i.e. linking
    ``events`` calls minus linking 2,000. Also the model-scored calls' instructions in the selection, the trees
    and the pick (inclusive, per scored call; ``callgrind_annotate``). Stable under load (wall-clock is not);
    prints, writes nothing."""
    import pickle
    import re
    import shutil
    import subprocess
    import tempfile

    if shutil.which("valgrind") is None:
        raise SystemExit("--callgrind needs valgrind")
    with tempfile.TemporaryDirectory() as tmp:
        if stream:
            data = single_link_calls(4000, "large", cache_dir)
            start, m = 2000, min(events or 2600, len(data[0]))
            what = f"scorer stream link calls {start:,}-{m:,}"
        else:
            s = simulate("web", n_devices=n, days=days, seed=3)
            fpr = Fingerprinter(KEYS)
            data = ([fpr.fingerprint(d) for d in s.devices], s.ts.tolist(), s.ip_prefix.tolist())
            start, m = 0, len(data[0]) if events is None else min(events, len(data[0]))
            what = f"web, first {m:,} events"
        path = Path(tmp) / "web.pkl"
        path.write_bytes(pickle.dumps(data))
        child = Path(tmp) / "child.py"
        child.write_text(CALLGRIND_CHILD)

        env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same set-up in every run

        def collected(who: str, k: int) -> int:
            out = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg-{who}-{k}.out",
                                  sys.executable, str(child), who, str(path), str(k)],
                                 capture_output=True, text=True, check=True, env=env)
            return int(re.search(r"Collected : (\d+)", out.stderr).group(1))

        per = {who: (collected(who, m) - collected(who, start)) / (m - start) for who in ("linker", "legacy")}
        # the model-scored calls: the kernel's selection, the trees (all rows, or predict_best's) and the pick
        def count(k: int) -> int:
            return int(subprocess.run([sys.executable, str(child), "count", str(path), str(k)], capture_output=True,
                                      text=True, check=True, env=env).stdout.split()[-1])

        scored = count(m) - (count(start) if start else 0)
        incl: dict[str, int] = {}
        if shutil.which("callgrind_annotate") is not None and scored:
            for k, sign in ((m, 1), (start, -1)) if start else ((m, 1),):
                ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100",
                                      f"{tmp}/cg-linker-{k}.out"], capture_output=True, text=True, check=True).stdout
                for line in ann.splitlines():
                    hit = re.match(r"\s*([\d,]+) .*:(linking_select|linking_pick|Forest_predict_best|Forest_predict)"
                                   r"\b", line)
                    if hit:
                        incl[hit.group(2)] = incl.get(hit.group(2), 0) + sign * int(hit.group(1).replace(",", ""))
    print(f"callgrind, link only ({what}): {per['linker']:,.0f} instructions/event vs legacy "
          f"{per['legacy']:,.0f} (ratio {per['legacy'] / per['linker']:.2f})")
    if incl:
        trees = incl.get("Forest_predict_best", 0) + incl.get("Forest_predict", 0)
        print(f"  {scored:,} model-scored link calls: per call {incl.get('linking_select', 0) / scored:,.0f} "
              f"instructions in select, {trees / scored:,.0f} in the trees, {incl.get('linking_pick', 0) / scored:,.0f}"
              " in pick")


def scorer_stream(cache_dir: str | None, n: int = 4000, warm: int = 2000) -> dict[str, float]:
    """``--stream``: the link stage of ``Scorer.score`` on the scorer's synthetic stream (see the module text)."""
    import statistics

    from fraudscore.bench.bundles import BenchContext, events_stream
    from fraudscore.bench.common import Settings
    from fraudscore.bench.single import StagedScorer
    from fraudscore.scorer import Scorer

    ctx = BenchContext(Settings.for_mode(False), cache_dir=cache_dir)
    try:
        staged = StagedScorer(Scorer(ctx.bundle("large"), ctx.keys))
        events = events_stream(n, seed=202).to_records()
        for e in events[:warm]:
            staged.score(e)
        for v in staged.times.values():
            v.clear()
        for e in events[warm:]:
            staged.score(e)
    finally:
        ctx.close()
    link = staged.times["link"]
    out = {"link_median_us": statistics.median(link) / 1e3, "link_mean_us": statistics.fmean(link) / 1e3,
           "events": float(len(link))}
    print(f"scorer stream (large bundle, {n - warm:,} events after {warm:,}): link stage median "
          f"{out['link_median_us']:.1f} us, mean {out['link_mean_us']:.1f} us")
    return out


def time_it(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def goals(tables: dict[str, Any], thr: list[dict[str, Any]], stage: list[dict[str, Any]]) -> list[str]:
    w, mx = tables["web"]["overall"], tables["mixed"]["overall"]
    lines = [
        f"web: linker recall {w['linker']['recall']:.3f} (goal >= 0.90) at precision {w['linker']['precision']:.3f} "
        f"(goal >= exact {w['exact']['precision']:.3f})",
        f"mixed: linker precision {mx['linker']['precision']:.4f} (goal >= 0.995), recall {mx['linker']['recall']:.4f} "
        f"(goal >= 0.95)",
        *(f"{sc}: velocity ids precision {tables[sc]['overall'][w]['precision']:.4f} (goal >= 0.995), recall "
          f"{tables[sc]['overall'][w]['recall']:.4f} (goal >= 0.95) [{w}]"
          for sc in ("mixed", "mixed-net", "mixed-net-hard") if sc in tables for w in ("velocity", "network")),
        *(f"{sc}: ceiling recall at precision 1 (signature = fingerprint + network) "
          f"{tables[sc]['ceiling']['network']['recall']:.4f} (7-day window {tables[sc]['ceiling']['network_7d']['recall']:.4f}), "
          f"fingerprint alone {tables[sc]['ceiling']['fingerprint']['recall']:.4f}"
          for sc in ("web", "mixed", "mixed-net", "mixed-net-hard") if sc in tables),
        f"farm: most farm phones under one id {tables['farm_only']['largest_id_devices']} (goal 1)",
    ]
    for r in thr:
        if r["baseline_name"] == "legacy_linker":
            lines.append(f"{r['name']}: {r['ratio']:.2f}x the legacy linker (goal >= 0.5)")
        else:
            lines.append(f"{r['name']}: {r['ratio']:.2f}x the pure-Python linker (the compiled kernel's gain)")
    for r in stage:
        lines.append(f"{r['name']}: {r['value']:.1f} us (goal <= 30 us), {r['ratio']:.2f}x faster than pure Python")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    ap.add_argument("--redis", default=None, help="also time RedisLinkState on this URL (e.g. redis://127.0.0.1:6379/15)")
    ap.add_argument("--speed-only", action="store_true",
                    help="only the timings (throughput and stage_link), no quality tables; prints, writes nothing")
    ap.add_argument("--ab", metavar="DIR", default=None,
                    help="link-only replays: the code at DIR (a checkout, extension built in place) against this one")
    ap.add_argument("--callgrind", action="store_true",
                    help="instructions per event (valgrind callgrind) of the linker and the legacy linker, web stream")
    ap.add_argument("--quality-only", action="store_true",
                    help="only the quality tables (every scenario) and their goals; prints, writes nothing")
    ap.add_argument("--seed", type=int, default=1, help="the quality streams' seed (default 1)")
    ap.add_argument("--events", type=int, default=None, help="with --callgrind: only the first EVENTS events")
    ap.add_argument("--stream", action="store_true",
                    help="the link stage of Scorer.score on the scorer's synthetic stream (large bundle); prints")
    ap.add_argument("--cache-dir", default=None, help="with --stream: where the bench bundles are cached")
    ap.add_argument("--replay", default=None, help=argparse.SUPPRESS)  # the child process of --ab
    args = ap.parse_args()
    if args.replay:
        replay(args.replay)
        return
    if args.callgrind:
        callgrind(400 if args.quick else 1500, 60.0 if args.quick else 90.0, args.events, args.stream, args.cache_dir)
        return
    if args.stream:
        scorer_stream(args.cache_dir)
        return
    if args.ab:
        n, days, repeat, sn = (400, 60.0, 3, 500) if args.quick else (1500, 90.0, 5, 1500)
        ab(args.ab, n, days, repeat, sn)
        return
    if args.quick:
        n, days, tn, repeat, loan_days, per_day, sn = 600, 60.0, 400, 3, 10, 800, 500
    else:
        n, days, tn, repeat, loan_days, per_day, sn = 2000, 90.0, 1500, 5, 21, 1500, 1500
    t0 = time.perf_counter()
    if args.speed_only:
        throughput(tn, days, repeat)
        link_stage(sn, repeat)
        print(f"done in {time.perf_counter() - t0:.1f} s")
        return
    results, tables = quality(n, days, seed=args.seed)
    if args.quality_only:
        print("\n== goals")
        for line in goals(tables, [], []):
            print("  " + line)
        print(f"done in {time.perf_counter() - t0:.1f} s")
        return
    print("\n== hardware + network feature on the synthetic loan data")
    results += farm_features(loan_days, per_day, seed=4)
    print()
    thr = throughput(tn, days, repeat)
    results += thr
    stage = link_stage(sn, repeat)
    results += stage
    if args.redis:
        results += redis_throughput(args.redis, min(tn, 500), days)
    print("\n== goals")
    for line in goals(tables, thr, stage):
        print("  " + line)
    write_results("bench_linking", results)
    print(f"done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
