"""Redis server cost and round trips per event: fraudscore 0.1's store vs the one-script store.

Both paths score the same events of the benchmark stream on a ``redis-server`` this
script starts (nothing else runs on it): 0.1 = its velocity script (``|``-joined
text members parsed in Lua, a shared latest-time key; ``_legacy_redis.py``, kept as
the baseline) plus separate link round trips (the standalone
:class:`~fraudscore.fingerprint.RedisLinkState`: two pipelined reads and one write
per link, the same learned linker); now = one script per event covering
idempotency, lateness, link compare-and-set and velocity.

* server microseconds per event from ``INFO commandstats``: the scripts' own
  ``EVALSHA`` time (which includes the commands they run) plus, for 0.1, its
  link commands (run against a second server so nothing is counted twice);
  median of ``--repeats`` runs;
* round trips per event (client requests);
* with ``--callgrind`` (needs valgrind): server instructions per event under
  callgrind, which load on the machine does not change;
* with ``--client-callgrind`` (needs valgrind): the worker's instructions per event,
  ``Scorer.score`` with the Redis store against the memory store on the same events
  (what the Redis path adds on the client: link-state cache and read/write logging,
  building the call, redis-py, reading the record), this script re-run under callgrind;
* with ``--contention``: link contention without parallel hardware: ``W`` workers (stores with their own
  caches, in this process) take turns event by event on one stream (worker ``i % W`` scores event ``i``, so
  every cache is as stale as with ``W`` processes at equal speed), W = 1, 2, 4; per event: refused link
  decisions (conflicts), leases, commits whose counts moved within their popularity band (absorbed), round
  trips, link keys fetched, server microseconds (all commands, ``INFO commandstats``) and worker CPU
  microseconds, and the memory store's CPU microseconds per event on the same events (the baseline);
  medians of ``--repeats`` runs. These do not depend on the cores there are;
* with ``--returning`` (needs valgrind): server instructions per event when entities return (one key
  group of a count and a distinct count over 30 days, 50 entities of 40 to 80 events each: rows are
  appended and every query reads the entity's whole history), the case the benchmark stream, where most
  entities are new, hardly shows;
* with ``--parts``: the event script's server time by part (``TIME`` read at each
  part's boundaries in an instrumented copy of the script; the reads add about 0.3 us
  each), median of ``--repeats`` runs.

Run: ``python benchmarks/bench_redis.py [--events 600] [--callgrind] [--client-callgrind] [--parts]
[--contention]``;
writes ``benchmarks/results/bench_redis.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from _common import CommandServer, callgrind_total, result, server_instructions, write_results
from _legacy_redis import LegacyRedisStore

from fraudscore.bench.bundles import BenchContext, events_stream
from fraudscore.bench.common import BENCH_SECRET, Settings
from fraudscore.bench.servers import RedisServer
from fraudscore.fingerprint import MIN_LINK_CONFIDENCE, DeviceLinker, RedisLinkState
from fraudscore.scorer import Scorer
from fraudscore.velocity import OnlineVelocity, RedisStore


class _Counter:
    """Counts requests sent by redis-py (a pipeline is one)."""

    def __init__(self) -> None:
        import redis.connection as rc

        self.n = 0
        self._orig = rc.Connection.send_packed_command
        counter = self

        def send(conn: Any, *a: Any, **k: Any) -> Any:
            counter.n += 1
            return counter._orig(conn, *a, **k)

        rc.Connection.send_packed_command = send

    def close(self) -> None:
        import redis.connection as rc

        rc.Connection.send_packed_command = self._orig


def _paths(bundle: Any, client: Any, link_client: Any = None) -> dict[str, Any]:
    legacy_sc = Scorer(bundle, BENCH_SECRET, max_clock_skew=None)  # its pipeline only
    legacy_vel = OnlineVelocity(legacy_sc.feature_set, LegacyRedisStore(client, prefix="old:"))
    legacy_link = DeviceLinker(RedisLinkState(link_client or client, prefix="old:link"), model=bundle.link_model)

    def legacy(ev: dict[str, Any]) -> None:
        e = legacy_sc.schema.validate(ev)
        rec, _static, fp = legacy_sc.pipeline._record_and_static(e)
        if fp is not None:
            res = legacy_link.link(fp, e["ts"], rec.get("ip_prefix"))
            rec["device_id"] = res.device_id if res.link_confidence >= MIN_LINK_CONFIDENCE else None
        legacy_vel.update_and_read(rec)

    new_sc = Scorer(bundle, BENCH_SECRET, store=RedisStore(client, prefix="new:"), max_clock_skew=None)

    def new(ev: dict[str, Any]) -> None:
        e = new_sc.schema.validate(ev)
        new_sc.pipeline.online(e, new_sc.linker, new_sc.velocity)

    return {"0.1": legacy, "now": new}


def _usec(client: Any, only: str | None = None) -> float:
    """Server usec of top-level commands (``only``: one command; commands run by a script are also
    counted on their own, so a script's time must be read from its EVALSHA line alone)."""
    stats = client.info("commandstats")
    if only is not None:
        return float(stats.get(f"cmdstat_{only}", {}).get("usec", 0.0))
    return sum(float(v["usec"]) for k, v in stats.items()
               if k.startswith("cmdstat_") and "config" not in k and "info" not in k)


def commandstats(bundle: Any, events: list[dict[str, Any]], warm: int, repeats: int) -> dict[str, Any]:
    """0.1: its velocity script on one server (EVALSHA time) + its link commands on another (all top level);
    now: one server, the EVALSHA time (the whole event)."""
    import redis

    out: dict[str, Any] = {k: {"usec": [], "trips": []} for k in ("0.1", "now")}
    n = len(events) - warm
    for _ in range(repeats):
        with RedisServer() as srv, RedisServer() as link_srv:
            client = redis.Redis(port=srv.port, socket_timeout=30)
            link_client = redis.Redis(port=link_srv.port, socket_timeout=30)
            paths = _paths(bundle, client, link_client)
            for name, fn in paths.items():
                for ev in events[:warm]:
                    fn(ev)
                client.config_resetstat()
                link_client.config_resetstat()
                counter = _Counter()
                try:
                    for ev in events[warm:]:
                        fn(ev)
                finally:
                    counter.close()
                usec = _usec(client, "evalsha") + (_usec(link_client) if name == "0.1" else 0.0)
                out[name]["usec"].append(usec / n)
                out[name]["trips"].append(counter.n / n)
    return {k: {m: statistics.median(v[m]) for m in v} for k, v in out.items()}


def callgrind(bundle: Any, events: list[dict[str, Any]], warm: int) -> dict[str, float]:
    """Server instructions per event of each path (a server under callgrind each)."""
    return {name: server_instructions(lambda c, name=name: _paths(bundle, c)[name], events[:warm], events[warm:])
            for name in ("0.1", "now")}


def returning(n: int = 2000) -> float:
    """Server instructions per event (callgrind) on a stream of returning entities (see the module doc)."""
    from fraudscore.velocity import FeatureSet, FeatureSpec

    fs = FeatureSet([FeatureSpec("count", key="ip", window="30d"),
                     FeatureSpec("distinct", key="ip", of="applicant_id", window="30d")])
    recs = [{"application_id": f"A{i}", "ts": 1_700_000_000_000 + i * 60_000, "ip": f"p:ip{i % 50}",
             "applicant_id": f"p{i % 7}"} for i in range(2 * n)]
    return server_instructions(lambda c: OnlineVelocity(fs, RedisStore(c, prefix="r:")).update_and_read, recs[:n],
                               recs[n:])


# -- server time by part of the event script ----------------------------------------------------------------
_TIMER = """
local __acc, __last = {}, nil
local function T(name)
  local tt = redis.call('TIME'); local us = tt[1] * 1000000 + tt[2]
  if name then __acc[name] = (__acc[name] or 0) + us - __last end
  __last = us
end
"""
#: (text in the event script, text with a part boundary); each part is named by the mark that ends it
_MARKS = [
    ("-- group descriptors", "T(nil)\n-- group descriptors"),
    ("local got = redis.call('MGET', unpack(mk))", "T('parse_args')\nlocal got = redis.call('MGET', unpack(mk))\nT('mget')"),
    ("-- one HMGET per hash", "T('link_versions')\n-- one HMGET per hash"),
    ("if bad and check == 1 then", "T('link_counts_read')\nif bad and check == 1 then"),
    ("-- increments: of a field", "T('link_writes')\n-- increments: of a field"),
    ("-- rows of a replaced record", "T('link_counts_write')\n-- rows of a replaced record"),
    ("  local res, nb, px = apply_group(gi, blob, row, lkey, gone)\n",
     "  T('velocity_other')\n  local res, nb, px = apply_group(gi, blob, row, lkey, gone)\n  T('velocity_queries')\n"),
    ("  out[no + 1] = res\n", "  T('velocity_set')\n  out[no + 1] = res\n"),
    ("-- 5. record", "T('velocity_other')\n-- 5. record"),
    ("local fc = false\nif moved then", "T('record')\nfor k, v in pairs(__acc) do redis.call('HINCRBY', KEYS[1] .. ':parts', k, v) end\n"
                                        "local fc = false\nif moved then"),
]


def instrumented(text: str) -> str:
    """The event script with part timers (an experiment: it writes ``<record key>:parts``, not for production)."""
    for a, b in _MARKS:
        if a not in text:
            raise RuntimeError(f"the event script changed: part mark {a!r} not found")
        text = text.replace(a, b)
    return text.replace("local sub, byte, unpack_, pk", _TIMER + "local sub, byte, unpack_, pk", 1)


def parts(bundle: Any, events: list[dict[str, Any]], warm: int, repeats: int) -> dict[str, float]:
    """Median server microseconds per event of each part of the script (and of the whole EVALSHA)."""
    import redis

    import fraudscore.velocity.redis_store as rs

    orig = rs.event_script
    rs.event_script = lambda plan, ttl: instrumented(orig(plan, ttl))
    runs: list[dict[str, float]] = []
    n = len(events) - warm
    try:
        for _ in range(repeats):
            with RedisServer() as srv:
                client = redis.Redis(port=srv.port, socket_timeout=30)
                sc = Scorer(bundle, BENCH_SECRET, store=RedisStore(client, prefix="p:"), max_clock_skew=None)
                for ev in events[:warm]:
                    sc.score(ev)
                for k in client.scan_iter(match="*:parts"):
                    client.delete(k)
                client.config_resetstat()
                for ev in events[warm:]:
                    sc.score(ev)
                got: dict[str, float] = {"evalsha_total": _usec(client, "evalsha") / n}
                for k in client.scan_iter(match="*:parts", count=1000):
                    for part, v in client.hgetall(k).items():
                        got[part.decode()] = got.get(part.decode(), 0.0) + int(v) / n
                runs.append(got)
    finally:
        rs.event_script = orig
    names = sorted({k for r in runs for k in r})
    return {k: statistics.median(r.get(k, 0.0) for r in runs) for k in names}


# -- link contention: workers taking turns ------------------------------------------------------------------
def contention(bundle: Any, events: list[dict[str, Any]], warm: int, repeats: int,
               workers: tuple[int, ...] = (1, 2, 4)) -> dict[int, dict[str, float]]:
    """Per-event contention figures for each number of workers (see the module doc), medians of ``repeats``."""
    import redis

    out: dict[int, dict[str, float]] = {}
    n = len(events) - warm
    for w in workers:
        runs: list[dict[str, float]] = []
        for r in range(repeats):
            with RedisServer() as srv:
                client = redis.Redis(port=srv.port, socket_timeout=30)
                stores = [RedisStore(client, prefix="w:") for _ in range(w)]
                scs = [Scorer(bundle, BENCH_SECRET, store=st, max_clock_skew=None) for st in stores]
                for i, ev in enumerate(events[:warm]):
                    scs[i % w].score(ev)
                client.config_resetstat()
                base = {k: sum(_stat(st, k) for st in stores) for k in _CONTENTION}
                trips0 = sum(st.round_trips.phases for st in stores)
                c0 = time.process_time()
                for i, ev in enumerate(events[warm:]):
                    scs[i % w].score(ev)
                cpu = time.process_time() - c0
                got = {k: (sum(_stat(st, k) for st in stores) - base[k]) / n for k in _CONTENTION}
                got["round_trips"] = (sum(st.round_trips.phases for st in stores) - trips0) / n
                got["server_us"] = _usec(client) / n
                got["client_cpu_us"] = cpu * 1e6 / n
                runs.append(got)
        out[w] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    mem = Scorer(bundle, BENCH_SECRET, max_clock_skew=None)
    for ev in events[:warm]:
        mem.score(ev)
    c0 = time.process_time()
    for ev in events[warm:]:
        mem.score(ev)
    out[0] = {"client_cpu_us": (time.process_time() - c0) * 1e6 / n}
    return out


_CONTENTION = ("conflicts", "leases", "lease_waits", "absorbed", "fetches")


def _contention_child(bundle_dir: str, port: int, n: int, warm: int, w: int, server_pid: int, out: str) -> None:
    """Run under callgrind (instrumentation off at start): ``w`` workers take turns on the events; the measured
    part is instrumented here and on the server (also under callgrind); contention counters go to ``out``."""
    import json

    import redis

    from fraudscore.scorer import load

    events = events_stream(warm + n, seed=404).to_records()
    client = redis.Redis(port=port, socket_timeout=300)
    stores = [RedisStore(client, prefix="w:") for _ in range(w)]
    scs = [load(bundle_dir, key=BENCH_SECRET, store=st, max_clock_skew=None) for st in stores]
    for i, ev in enumerate(events[:warm]):
        scs[i % w].score(ev)
    base = {k: sum(_stat(st, k) for st in stores) for k in _CONTENTION}
    trips0 = sum(st.round_trips.phases for st in stores)

    def cg(pid: int, *a: str) -> None:
        subprocess.run(["callgrind_control", *a, str(pid)], check=True, capture_output=True)

    for pid in (os.getpid(), server_pid):
        cg(pid, "-z")
        cg(pid, "-i", "on")
    for i, ev in enumerate(events[warm:]):
        scs[i % w].score(ev)
    for pid in (os.getpid(), server_pid):
        cg(pid, "-i", "off")
        cg(pid, "-d")
    got = {k: (sum(_stat(st, k) for st in stores) - base[k]) / n for k in _CONTENTION}
    got["round_trips"] = (sum(st.round_trips.phases for st in stores) - trips0) / n
    with open(out, "w", encoding="utf-8") as f:
        json.dump(got, f)


def contention_callgrind(bundle_dir: str, n: int, warm: int, workers: tuple[int, ...] = (1, 2, 4)
                         ) -> dict[int, dict[str, float]]:
    """Instructions per event (worker and server, under callgrind) with ``w`` workers taking turns, and the
    contention counters of that run."""
    import json

    out: dict[int, dict[str, float]] = {}
    for w in workers:
        folder = tempfile.mkdtemp()
        try:
            srv = CommandServer(callgrind=os.path.join(folder, "server.out")).start(timeout=120)
            try:
                subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                f"--callgrind-out-file={folder}/client.out", sys.executable,
                                os.path.abspath(__file__), "--contention-child", bundle_dir, str(srv.port), str(n),
                                str(warm), str(w), str(srv.pid), os.path.join(folder, "got.json")],
                               check=True, capture_output=True)
            finally:
                time.sleep(0.5)
                srv.stop()
            figs = json.load(open(os.path.join(folder, "got.json"), encoding="utf-8"))
            for side in ("client", "server"):
                figs[f"{side}_instructions"] = callgrind_total(folder, f"{side}.out") / n
            out[w] = figs
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return out


def _stat(store: Any, name: str) -> float:
    """A store's contention counter (``fetches``: the link state's; absent in older versions: 0)."""
    if name == "fetches":
        return float(getattr(store.link_state(), "fetches", 0))
    return float(getattr(store, name, 0))


# -- client instructions -------------------------------------------------------------------------------------
def _client_child(port: int, n: int, warm: int, folder: str) -> None:
    """Run under callgrind (instrumentation off at start): score ``n`` events with Redis, then with memory."""
    import redis

    ctx = BenchContext(Settings.quick_settings(), log=lambda *a: None)
    try:
        bundle = ctx.bundle("default")
        events = events_stream(warm + n, seed=404).to_records()
        client = redis.Redis(port=port, socket_timeout=120)
        red = Scorer(bundle, BENCH_SECRET, store=RedisStore(client, prefix="c:"), max_clock_skew=None)
        mem = Scorer(bundle, BENCH_SECRET, max_clock_skew=None)
        for ev in events[:warm]:
            red.score(ev)
            mem.score(ev)

        def cg(*a: str) -> None:
            subprocess.run(["callgrind_control", *a, str(os.getpid())], check=True, capture_output=True)

        for name, sc in (("redis", red), ("memory", mem)):
            cg("-z")
            cg("-i", "on")
            for ev in events[warm:]:
                sc.score(ev)
            cg("-i", "off")
            cg("-d", name)
    finally:
        ctx.close()


def client_callgrind(n: int, warm: int) -> dict[str, float]:
    """Worker instructions per event (Redis store, memory store) from this script re-run under callgrind."""
    folder = tempfile.mkdtemp()
    try:
        with RedisServer() as srv:
            subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                            f"--callgrind-out-file={folder}/cg.out", sys.executable, os.path.abspath(__file__),
                            "--client-child", str(srv.port), str(n), str(warm), folder],
                           check=True, capture_output=True)
        out: dict[str, float] = {}
        for f in os.listdir(folder):
            text = open(os.path.join(folder, f), encoding="utf-8", errors="replace").read()
            trig = re.search(r"^desc: Trigger: .*?(\w+)\s*$", text, re.M)
            tot = re.search(r"^totals:\s+(\d+)", text, re.M)
            if trig and tot and trig.group(1) in ("redis", "memory"):
                out[trig.group(1)] = int(tot.group(1)) / n
        return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--callgrind", action="store_true", help="also count server instructions under callgrind")
    ap.add_argument("--client-callgrind", action="store_true",
                    help="also count the worker's instructions per event under callgrind (Redis vs memory store)")
    ap.add_argument("--parts", action="store_true", help="also time the event script's parts on the server")
    ap.add_argument("--returning", action="store_true",
                    help="also count server instructions per event on a stream of returning entities")
    ap.add_argument("--contention", action="store_true",
                    help="also measure link contention per event with 1, 2 and 4 workers taking turns")
    ap.add_argument("--only-contention", action="store_true", help="measure link contention only")
    ap.add_argument("--contention-callgrind", action="store_true",
                    help="also count worker and server instructions per event with 1, 2 and 4 workers taking turns")
    ap.add_argument("--contention-child", nargs=7, help=argparse.SUPPRESS)
    ap.add_argument("--workers", default="1,2,4", help="worker counts of the contention parts (default 1,2,4)")
    ap.add_argument("--name", default="bench_redis", help="results file name (benchmarks/results/NAME.json)")
    ap.add_argument("--client-child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.contention_child:
        bdir, port, n, warm, w, spid, out = args.contention_child
        _contention_child(bdir, int(port), int(n), int(warm), int(w), int(spid), out)
        return
    if args.client_child:
        port, n, warm, folder = args.client_child
        _client_child(int(port), int(n), int(warm), folder)
        return
    ctx = BenchContext(Settings.quick_settings(), log=lambda *a: None)
    try:
        bundle = ctx.bundle("default")
        warm = 300
        events = events_stream(warm + args.events, seed=404).to_records()
        params = {"bundle": "default", "events": args.events, "repeats": args.repeats, "cpu_count": os.cpu_count()}
        rows: list[dict[str, Any]] = []
        if args.contention or (args.only_contention and not args.contention_callgrind):
            ct = contention(bundle, events, warm, args.repeats, tuple(int(w) for w in args.workers.split(",")))
            mem_cpu = ct.pop(0)["client_cpu_us"]
            for w, figs in ct.items():
                p = {**params, "workers": w}
                rows.append(result(f"redis_contention/{w}_workers/client_cpu_us_per_event", figs["client_cpu_us"],
                                   "us", "memory store CPU us per event", mem_cpu, p))
                rows.append(result(f"redis_contention/{w}_workers/total_cpu_us_per_event",
                                   figs["client_cpu_us"] + figs["server_us"], "us", "memory store CPU us per event",
                                   mem_cpu, p))
                for k in ("server_us", "round_trips", *_CONTENTION):
                    rows.append(result(f"redis_contention/{w}_workers/{k}_per_event", figs[k],
                                       "us" if k == "server_us" else "per event", None, None, p))
        if args.contention_callgrind and shutil.which("valgrind"):
            cc = contention_callgrind(str(ctx.bundle_path("default")), min(args.events, 300), warm,
                                      tuple(int(w) for w in args.workers.split(",")))
            for w, figs in cc.items():
                p = {**params, "workers": w, "events": min(args.events, 300)}
                for k, v in figs.items():
                    rows.append(result(f"redis_contention_callgrind/{w}_workers/{k}_per_event", v,
                                       "instructions" if k.endswith("instructions") else "per event", None, None, p))
                total = figs["client_instructions"] + figs["server_instructions"]
                base = cc[min(cc)]
                rows.append(result(f"redis_contention_callgrind/{w}_workers/total_instructions_per_event", total,
                                   "instructions", "1 worker instructions per event",
                                   base["client_instructions"] + base["server_instructions"], p,
                                   higher_is_better=False))
        if args.only_contention:
            write_results(args.name, rows)
            return
        cs = commandstats(bundle, events, warm, args.repeats)
        rows += [result("redis_server/us_per_event", cs["now"]["usec"], "us", "0.1 store us per event",
                       cs["0.1"]["usec"], params),
                result("redis_server/round_trips_per_event", cs["now"]["trips"], "round trips",
                       "0.1 store round trips per event", cs["0.1"]["trips"], params, higher_is_better=False)]
        if args.callgrind and shutil.which("valgrind"):
            cg = callgrind(bundle, events, warm)
            rows.append(result("redis_server/instructions_per_event", cg["now"], "instructions",
                               "0.1 store instructions per event", cg["0.1"], params, higher_is_better=False))
        if args.client_callgrind and shutil.which("valgrind"):
            cc = client_callgrind(min(args.events, 200), warm)
            rows.append(result("redis_client/instructions_per_event", cc["redis"], "instructions",
                               "memory store instructions per event", cc["memory"], params,
                               higher_is_better=False))
        if args.returning and shutil.which("valgrind"):
            rows.append(result("redis_server/returning_instructions_per_event", returning(), "instructions", None,
                               None, {**params, "events": 2000, "entities": 50}, higher_is_better=False))
        if args.parts:
            for part, us in parts(bundle, events, warm, args.repeats).items():
                rows.append(result(f"redis_server/part_us/{part}", us, "us", None, None, params))
        write_results(args.name, rows)
    finally:
        ctx.close()


if __name__ == "__main__":
    main()
