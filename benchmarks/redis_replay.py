"""The Redis event script on captured calls: server instructions by stage, and a bit-for-bit check of a change.

The benchmark stream (default bundle, learned linker) is scored once with this
checkout's :class:`~fraudscore.velocity.RedisStore` on a fresh ``redis-server``,
capturing each event script call's ``KEYS`` and ``ARGV`` (one call per event on one
node). Those calls are then replayed on fresh servers (``--warm`` calls to warm up,
the rest measured) with each script under test:

* ``EVALSHA`` microseconds per call (``INFO commandstats``) and the commands the
  script ran per call;
* a digest of every reply: two scripts that answer the same inputs with the same
  bytes have equal digests (how a script change is checked bit for bit);
* with ``--callgrind`` (needs valgrind): server instructions per call inside command
  execution (``_common.CommandServer``);
* with ``--stages``: the same for the script cut short after each stage (``do return
  end`` at the stage's end), so the differences are each stage's cost.

Scripts: this checkout's, and with ``--against CHECKOUT`` that checkout's (its event
script for the same bundle, printed by its own Python with ``PYTHONPATH=CHECKOUT``).

Run: ``python benchmarks/redis_replay.py [--events 600] [--warm 300] [--callgrind] [--stages]
[--against /work/main]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from _common import CommandServer, callgrind_total

from fraudscore.bench.servers import RedisServer

#: (stage, the text the stage ends before): a cut returns there
STAGES = [
    ("setup", "-- group descriptors"),
    ("mget", "local held = false"),
    ("link_checks_count_reads", "if bad and check == 1 then"),
    ("link_and_count_writes", "-- rows of a replaced record"),
    ("velocity", "-- 5. record"),
]

_PRINT_SCRIPT = """
from fraudscore.bench.bundles import BenchContext
from fraudscore.bench.common import BENCH_SECRET, Settings
from fraudscore.scorer import Scorer
from fraudscore.velocity import RedisStore
ctx = BenchContext(Settings.quick_settings(), log=lambda *a: None)
st = RedisStore(object(), prefix="fs:")
Scorer(ctx.bundle("default"), BENCH_SECRET, store=st, max_clock_skew=None)
print(st._script.text, end="")
ctx.close()
"""


def capture(n: int) -> tuple[str, list[tuple[list[bytes], list[bytes]]]]:
    """This checkout's event script and the ``(KEYS, ARGV)`` of each event's call on ``n`` events."""
    import redis

    import fraudscore._redis as fr
    from fraudscore.bench.bundles import BenchContext, events_stream
    from fraudscore.bench.common import BENCH_SECRET, Settings
    from fraudscore.scorer import Scorer
    from fraudscore.velocity import RedisStore

    calls: list[tuple[list[bytes], list[bytes]]] = []
    orig = fr.Script.direct

    def enc(x: Any) -> bytes:
        return x if isinstance(x, bytes) else str(x).encode()

    def direct(self: Any, conn: Any, client: Any, keys: list[Any], args: list[Any]) -> Any:
        out = orig(self, conn, client, keys, args)
        if self.sha == store._script.sha:  # type: ignore[union-attr]
            calls.append(([enc(k) for k in keys], [enc(a) for a in args]))
        return out

    ctx = BenchContext(Settings.quick_settings(), log=lambda *a: None)
    fr.Script.direct = direct  # type: ignore[method-assign]
    try:
        with RedisServer() as srv:
            store = RedisStore(redis.Redis(port=srv.port, socket_timeout=30), prefix="fs:")
            sc = Scorer(ctx.bundle("default"), BENCH_SECRET, store=store, max_clock_skew=None)
            for ev in events_stream(n, seed=404).to_records():
                sc.score(ev)
            assert store._script is not None
            return store._script.text, calls
    finally:
        fr.Script.direct = orig  # type: ignore[method-assign]
        ctx.close()


def replay(text: str, calls: list[tuple[list[bytes], list[bytes]]], warm: int, cg: bool) -> dict[str, Any]:
    """Replay ``calls`` with script ``text`` on a fresh server: digest, usec per call, commands, instructions."""
    import redis

    folder = tempfile.mkdtemp()
    srv = (CommandServer(callgrind=os.path.join(folder, "cg.out")) if cg else RedisServer()).start(timeout=120)
    try:
        c = redis.Redis(port=srv.port, socket_timeout=600)
        sha = c.script_load(text)
        h = hashlib.sha256()
        for i, (keys, args) in enumerate(calls):
            if i == warm:
                c.config_resetstat()
                if cg:
                    srv.callgrind(True)
            h.update(repr(c.evalsha(sha, len(keys), *keys, *args)).encode())
        if cg:
            srv.callgrind(False)
            time.sleep(0.5)
        n = len(calls) - warm
        st = c.info("commandstats")
        out: dict[str, Any] = {"digest": h.hexdigest()[:16],
                               "evalsha_us": st.get("cmdstat_evalsha", {}).get("usec_per_call", 0.0),
                               "commands": {k[8:]: round(v["calls"] / n, 2) for k, v in st.items()
                                            if k not in ("cmdstat_evalsha", "cmdstat_config|resetstat")}}
    finally:
        srv.stop()
    if cg:
        out["instructions"] = callgrind_total(folder) / n
    shutil.rmtree(folder, ignore_errors=True)
    return out


def cut(text: str, before: str) -> str:
    """The script returning just before ``before`` (one occurrence)."""
    if text.count(before) != 1:
        raise RuntimeError(f"stage mark {before!r} not found once in the script")
    return text.replace(before, "do return {'ok', ''} end\n" + before)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=600)
    ap.add_argument("--warm", type=int, default=300)
    ap.add_argument("--callgrind", action="store_true", help="server instructions per call (needs valgrind)")
    ap.add_argument("--stages", action="store_true", help="also each stage's cost (the script cut short)")
    ap.add_argument("--against", help="another checkout (with a .venv) whose event script to replay too")
    args = ap.parse_args()
    cg = args.callgrind and shutil.which("valgrind") is not None
    text, calls = capture(args.events)
    scripts = {"this": text}
    if args.against:
        py = os.path.join(args.against, ".venv", "bin", "python")
        env = {**os.environ, "PYTHONPATH": args.against}
        scripts["against"] = subprocess.run([py, "-c", _PRINT_SCRIPT], cwd=args.against, env=env, check=True,
                                            capture_output=True, text=True).stdout
    for name, t in scripts.items():
        r = replay(t, calls, args.warm, cg)
        print(f"{name:8} whole script: {r}")
        if args.stages:
            for stage, before in STAGES:
                print(f"{name:8}   up to {stage:<26} {replay(cut(t, before), calls, args.warm, cg)}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
