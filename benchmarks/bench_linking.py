"""Device linking: precision / recall as drift grows, farm behaviour, and throughput.

Data: :func:`fraudscore.synth.devices.simulate_drift` (ground-truth device identity).
Metrics: per-link precision and recall (:mod:`fraudscore.fingerprint.evaluate`).

Baselines measured in the same run:

* quality: an **exact-id linker** (a device is one full fingerprint id), the usual
  fingerprint-as-identifier approach;
* throughput: a **naive scan linker** that compares each fingerprint with every
  device seen so far (the same rules, no index).

Goal (default drift process, ``drift_rate=0.3``): precision >= 99.5 %, recall >= 95 %;
identity + fingerprint + link + signals <= 10 us per event (median).

Run: ``python benchmarks/bench_linking.py [--quick]``; writes benchmarks/results/bench_linking.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import latencies_us, result, write_results  # noqa: E402

from fraudscore.fingerprint import DeviceLinker, Fingerprinter, MemoryLinkState, device_signals  # noqa: E402
from fraudscore.fingerprint.evaluate import link_all, link_metrics  # noqa: E402
from fraudscore.identity import Identity  # noqa: E402
from fraudscore.keys import Keys  # noqa: E402
from fraudscore.schema import DEFAULT_SCHEMA  # noqa: E402
from fraudscore.synth.devices import simulate_drift  # noqa: E402

KEYS = Keys(b"benchmark-secret-not-for-production")


class ExactLinker:
    """Baseline: the full fingerprint id is the device."""

    def link(self, fp: Any, ts: int) -> Any:
        class R:
            device_id = fp.id

        return R


class ScanLinker(DeviceLinker):
    """Baseline for speed: the same rules over every known device (no index)."""

    def __init__(self) -> None:
        super().__init__(MemoryLinkState())
        self._all: list[str] = []

    def link(self, fp: Any, ts: int) -> Any:
        st = self.state
        saved = fp.link_keys
        cands = [r for r in (st.get(d, ts) for d in self._all) if r is not None]
        did = st.get_exact((fp.id,), ts)
        if did is None:
            best = None
            for rec in cands:
                if self._compatible(fp, rec):
                    a = self._assess(fp, rec, False)
                    if a is not None and (best is None or a[0] < best[0]):
                        best = (a[0], rec)
            if best is not None:
                did = best[1]["id"]
        if did is None:
            did = f"d{len(self._all)}"
            self._all.append(did)
        st.commit(self._record(fp, did, ts, st.get(did, ts)), (fp.id,), saved, ts)
        res = did

        class R:
            device_id = res

        return R


def quality(n: int, obs: int, rates: list[float], seed: int) -> list[dict[str, Any]]:
    out = []
    for rate in rates:
        s = simulate_drift(n_devices=n, observations_per_device=obs, drift_rate=rate, seed=seed)
        fpr = Fingerprinter(KEYS)
        m = link_metrics(s.truth, link_all(fpr, DeviceLinker(MemoryLinkState()), s.devices, s.ts))
        b = link_metrics(s.truth, link_all(fpr, ExactLinker(), s.devices, s.ts))
        params = {"n_devices": n, "observations_per_device": obs, "drift_rate": rate, "seed": seed}
        out.append(result(f"precision@drift={rate:g}", 100 * m["precision"], "%", "exact_id_linker",
                          100 * b["precision"], params, higher_is_better=True))
        out.append(result(f"recall@drift={rate:g}", 100 * m["recall"], "%", "exact_id_linker",
                          100 * b["recall"], params, higher_is_better=True))
        print(f"drift {rate:4.2f}: precision {m['precision']:.4f} recall {m['recall']:.4f} "
              f"(exact-id baseline: {b['precision']:.4f} / {b['recall']:.4f}); devices {m['devices_linked']} "
              f"linked for {m['devices_true']} true")
    return out


def farm(n: int, obs: int, seed: int) -> list[dict[str, Any]]:
    s = simulate_drift(n_devices=n, observations_per_device=obs, drift_rate=1.0, seed=seed, farm_fraction=1.0)
    fpr = Fingerprinter(KEYS)
    m = link_metrics(s.truth, link_all(fpr, DeviceLinker(MemoryLinkState()), s.devices, s.ts))
    hw = link_metrics(s.truth, [fpr.fingerprint(d).hardware for d in s.devices])
    print(f"farm devices: linker recall {m['recall']:.4f}; hardware-section-as-device recall {hw['recall']:.4f} "
          f"precision {hw['precision']:.4f}")
    params = {"n_devices": n, "observations_per_device": obs, "farm_fraction": 1.0}
    return [result("farm_recall", 100 * m["recall"], "%", "hardware_section_recall", 100 * hw["recall"], params,
                   higher_is_better=True)]


def throughput(n: int, obs: int, repeat: int) -> list[dict[str, Any]]:
    s = simulate_drift(n_devices=n, observations_per_device=obs, drift_rate=0.3, seed=3)
    ts = s.ts.tolist()
    fpr = Fingerprinter(KEYS)
    fps = [fpr.fingerprint(d) for d in s.devices]

    def ours() -> None:
        lk = DeviceLinker(MemoryLinkState())
        for fp, t in zip(fps, ts):
            lk.link(fp, t)

    def scan() -> None:
        lk = ScanLinker()
        for fp, t in zip(fps, ts):
            lk.link(fp, t)

    t_ours = min(time_it(ours) for _ in range(repeat))
    t_scan = time_it(scan)
    m = len(fps)
    print(f"link only: {m / t_ours:,.0f}/s indexed vs {m / t_scan:,.0f}/s naive scan ({n} devices)")
    out = [result("link_events_per_s", m / t_ours, "events/s", "naive_scan_linker", m / t_scan,
                  {"n_devices": n, "observations": m})]

    # the whole device + identity stage per event, as the pipeline calls it
    ident = Identity(KEYS, DEFAULT_SCHEMA)
    rng = np.random.default_rng(0)
    phones = [f"+861{rng.integers(30, 99)}{rng.integers(10**7, 10**8)}" for _ in range(m)]
    events = [{"application_id": f"A{i}", "ts": t, "applicant_id": "11010519491231002X", "phone": phones[i],
               "email": f"user{i % 997}@qq.com", "bank_card": "6222021234567890128", "ip": f"10.{i % 250}.3.4",
               "inviter_id": None, "device": d} for i, (d, t) in enumerate(zip(s.devices, ts))]
    for cache, label in ((65_536, "warm_cache"), (0, "no_cache")):
        f = Fingerprinter(KEYS, cache_size=cache)
        lk = DeviceLinker(MemoryLinkState())

        def one(i: int, f: Fingerprinter = f, lk: DeviceLinker = lk) -> None:
            ev = events[i]
            ident.process(ev)
            fp = f.fingerprint(ev["device"])
            lk.link(fp, ev["ts"])
            device_signals(fp, ev)

        lat = latencies_us(one, m, warmup=0)
        med = float(np.median(lat))
        parts = {}
        for name, fn in (("identity", lambda i: ident.process(events[i])),
                         ("fingerprint", lambda i, f=f: f.fingerprint(events[i]["device"]))):
            parts[name] = float(np.median(latencies_us(fn, min(m, 5000), warmup=0)))
        print(f"per event ({label}): median {med:.1f} us, p99 {np.percentile(lat, 99):.1f} us; "
              + ", ".join(f"{k} {v:.1f} us" for k, v in parts.items()))
        out.append(result(f"event_latency_median_{label}", med, "us", "target_10us", 10.0,
                          {"p90_us": float(np.percentile(lat, 90)), "p99_us": float(np.percentile(lat, 99)),
                           **{f"{k}_median_us": v for k, v in parts.items()}}))
    return out


def redis_throughput(url: str, n: int, obs: int) -> list[dict[str, Any]]:
    import uuid

    import redis

    from fraudscore.fingerprint import RedisLinkState

    client = redis.Redis.from_url(url)
    prefix = f"fsbench:{uuid.uuid4().hex}"
    s = simulate_drift(n_devices=n, observations_per_device=obs, drift_rate=0.3, seed=3)
    fpr = Fingerprinter(KEYS)
    fps = [fpr.fingerprint(d) for d in s.devices]
    ts = s.ts.tolist()
    red = DeviceLinker(RedisLinkState(client, prefix=prefix))
    mem = DeviceLinker(MemoryLinkState())
    t_red = time_it(lambda: [red.link(fp, t) for fp, t in zip(fps, ts)])
    t_mem = time_it(lambda: [mem.link(fp, t) for fp, t in zip(fps, ts)])
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)
    m = len(fps)
    print(f"redis link state: {m / t_red:,.0f}/s vs memory {m / t_mem:,.0f}/s (one client, local server)")
    return [result("redis_link_events_per_s", m / t_red, "events/s", "memory_link_state", m / t_mem,
                   {"n_devices": n, "observations": m})]


def time_it(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (about 20 s)")
    ap.add_argument("--redis", default=None, help="also time RedisLinkState on this URL (e.g. redis://127.0.0.1:6379/15)")
    args = ap.parse_args()
    if args.quick:
        n, obs, rates, tn, repeat = 600, 10, [0.0, 0.3, 0.6], 300, 1
    else:
        n, obs, rates, tn, repeat = 5000, 10, [0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0], 1500, 3
    t0 = time.perf_counter()
    results = quality(n, obs, rates, seed=1)
    results += farm(max(n // 10, 50), obs, seed=2)
    results += throughput(tn, obs, repeat)
    if args.redis:
        results += redis_throughput(args.redis, tn, obs)
    write_results("bench_linking", results)
    print(f"done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
