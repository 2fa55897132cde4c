"""Differential fuzzing of the compiled core against its Python reference.

Each input drives a random scenario: a feature set built from the input (every
aggregation, filters, composite keys, delays, calendar windows), a stream of events with arbitrary field
values (missing, NaN, huge, ints, bools, odd strings, late times), fraud labels, and a
snapshot round trip; the compiled store must return exactly what the Python reference
returns (or refuse exactly the same events). A second target feeds arbitrary bytes and
mutated real dumps to the compiled store's snapshot loader, which must refuse them
with ``ValueError`` or load a consistent state, never crash. A third hashes arbitrary
text (lone surrogates included) with the compiled pseudonym and fingerprint kernels and
compares with hashlib / xxhash.

Usage::

    python scripts/fuzz_core.py --seconds 60            # atheris (coverage-guided) when installed
    python scripts/fuzz_core.py --seconds 60 --no-atheris   # seeded random driver

Run under the sanitizers by ``make asan`` (scripts/sanitize.sh).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from fraudscore.errors import EventError, FraudscoreError  # noqa: E402
from fraudscore.velocity import FeatureSet, FeatureSpec, MemoryStore, OnlineVelocity  # noqa: E402

AGGS = ("count", "sum", "mean", "min", "max", "distinct", "first_seen_age", "time_since_last", "fraud_count",
        "fraud_rate", "ratio_to_mean")
DAY = 86_400_000
FIELDS = ("a", "b", "c")
VALUES = (None, "p:" + "0f" * 16, "x", "", "é", "日本", 0, 1, 7, -3, 2**40)
NUMBERS = (None, float("nan"), 0.0, -0.0, 0.5, 1.5, 2.5, -2.5, 1e12, -1e12, 123.456, 1e-9, 3, True)
CHANNELS = ("web", "app", 1, 1.0, True, None)


class Bytes:
    """A tiny stand-in for atheris.FuzzedDataProvider over a byte string."""

    def __init__(self, data: bytes) -> None:
        self.data, self.i = data, 0

    def int(self, n: int) -> int:
        if n <= 1:
            return 0
        v = 0
        for _ in range(2):
            v = (v << 8) | (self.data[self.i] if self.i < len(self.data) else 0)
            self.i += 1
        return v % n

    def pick(self, seq):
        return seq[self.int(len(seq))]

    def left(self) -> bool:
        return self.i < len(self.data)


def feature_set(d: Bytes) -> FeatureSet:
    specs, names = [], set()
    for _ in range(1 + d.int(6)):
        agg = d.pick(AGGS)
        key = d.pick((("a",), ("b",), ("a", "b")))
        kw = {}
        if agg in ("sum", "mean", "min", "max", "ratio_to_mean"):
            kw["field"] = "x"
        if agg == "distinct":
            kw["of"] = "c"
        if agg in ("fraud_count", "fraud_rate"):
            kw["delay"] = d.pick((0, 500, 2000))
        elif d.int(4) == 0:
            kw["delay"] = d.pick((300, 1000))
        kw["window"] = d.pick((1000, 3000, "all", "1 calendar day", "2 calendar days")) \
            if agg not in ("first_seen_age", "time_since_last") or d.int(2) else None
        if d.int(4) == 0:
            kw["exclude_same_day"] = True
        if d.int(3) == 0:
            kw["filter"] = {"ch": d.pick((["web"], ["web", 1], [True]))}
        if agg not in ("fraud_count", "fraud_rate") and not kw.get("delay") and d.int(3) == 0:
            kw["include_current"] = bool(d.int(2))
        if kw.get("window") is None:
            kw.pop("window")
        try:
            s = FeatureSpec(agg, key=key, **kw)
            if s.name in names:
                continue
            s.check()
        except FraudscoreError:
            continue
        names.add(s.name)
        specs.append(s)
    if not specs:
        specs.append(FeatureSpec("count", key="a", window=1000))
    return FeatureSet(specs, allowed_lateness=d.pick((0, 700, 2000)))


def scenario(data: bytes) -> None:
    d = Bytes(data)
    fs = feature_set(d)
    max_labels = d.pick((1, 2, 5, 1000))
    ref = OnlineVelocity(fs, MemoryStore(engine="python", max_labels=max_labels, sweep_every=1 + d.int(5)))
    com = OnlineVelocity(fs, MemoryStore(engine="compiled", max_labels=max_labels))
    t = 10**12
    apps = []
    for i in range(d.int(60) + 1):
        if not d.left():
            break
        op = d.int(10)
        if op == 0 and apps:  # a label
            a, lt = d.pick(apps), t + d.int(4000) - 1000
            f = bool(d.int(2))
            ref.record_label(a, f, lt)
            com.record_label(a, f, lt)
            continue
        if op == 1:  # snapshot round trip of the compiled store (binary dump)
            core = com.store._core
            core.load(core.dump())
            continue
        if op == 2 and d.int(2):  # to just before the next UTC midnight (calendar window edges)
            t = (t // DAY + 1) * DAY - d.int(3) * 700
        t += d.int(3000) - 800
        rec = {"application_id": d.pick((f"A{i}", f"A{i}", None, 5)), "ts": t, "a": d.pick(VALUES),
               "b": d.pick(VALUES), "c": d.pick(VALUES), "ch": d.pick(CHANNELS), "x": d.pick(NUMBERS)}
        if rec["application_id"] is not None:
            apps.append(str(rec["application_id"]))
        r_err = c_err = None
        try:
            rv = ref.update_and_read(rec)
        except EventError as exc:
            r_err = str(exc)
        try:
            cv = com.update_and_read(rec)
        except EventError as exc:
            c_err = str(exc)
        assert r_err == c_err, (r_err, c_err)
        if r_err is None:
            same = np.array_equal(rv, cv, equal_nan=True) and all(
                (math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(rv.tolist(), cv.tolist()))
            assert same, (fs.names, rec, rv, cv)
    assert ref.store.latest_time() == com.store.latest_time()


def loader(data: bytes) -> None:
    fs = FeatureSet([FeatureSpec("count", key="a", window=1000), FeatureSpec("distinct", key="b", of="c", window=2000),
                     FeatureSpec("mean", key=("a", "b"), field="x", window=3000)])
    store = MemoryStore(engine="compiled")
    OnlineVelocity(fs, store)
    core = store._core
    try:
        core.load(data)
    except ValueError:
        assert store.stats()["entities"] == 0
        return
    core.load(core.dump())  # a loaded state dumps and loads again


def seed_dump(rng: random.Random) -> bytes:
    fs = FeatureSet([FeatureSpec("count", key="a", window=1000), FeatureSpec("distinct", key="b", of="c", window=2000),
                     FeatureSpec("mean", key=("a", "b"), field="x", window=3000)])
    store = MemoryStore(engine="compiled")
    on = OnlineVelocity(fs, store)
    for i in range(rng.randint(1, 30)):
        on.update_and_read({"application_id": f"A{i}", "ts": 10**12 + i * rng.randint(0, 500),
                            "a": rng.choice(["a1", "a2", None]), "b": rng.choice(["b1", "b2"]),
                            "c": rng.choice(["c1", "c2", None]), "x": rng.choice([1.0, None, 2.5])})
    return store._core.dump()


def hashes(data: bytes) -> None:
    """Pseudonym and fingerprint kernels on arbitrary text (surrogates included) against hashlib / xxhash."""
    import hashlib

    import xxhash

    from fraudscore._core import load
    from fraudscore.keys import Keys

    keys = Keys(b"fuzz-secret-0123456789abcdef")
    text = data.decode("utf-16-le", "surrogatepass") if len(data) % 2 == 0 else data.decode("latin-1")
    ps, fp = load("pseudonym"), load("fingerprint")
    if ps is not None:
        want = "p:" + hashlib.blake2b(text.encode("utf-8", "surrogatepass"), key=keys.pseudonym, digest_size=16,
                                      person=b"email").hexdigest()
        h = ps.Hasher(keys.pseudonym, b"email")
        assert h(text) == want and h.many([text, None, text]) == [want, None, want]
    if fp is not None:
        want_i = xxhash.xxh3_64_intdigest(keys.fingerprint + text.encode("utf-8", "surrogatepass"),
                                          seed=keys.fingerprint_seed)
        assert fp.Hasher(keys.fingerprint, keys.fingerprint_seed).h(text) == want_i


def one_input(data: bytes) -> None:
    if data[:1] == b"L":
        loader(data[1:])
    elif data[:1] == b"H":
        hashes(data[1:])
    else:
        scenario(data)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-atheris", action="store_true", help="use the seeded random driver")
    args = ap.parse_args()
    if not args.no_atheris:
        try:
            import atheris  # type: ignore[import-not-found]
        except ImportError:
            print("atheris is not installed: using the seeded random driver")
        else:
            def target(data: bytes) -> None:
                fdp = atheris.FuzzedDataProvider(data)
                one_input(fdp.ConsumeBytes(len(data)))

            # coverage of the Python reference and wrappers guides the search (the C code is checked by difference)
            atheris.instrument_all()
            atheris.Setup([sys.argv[0], f"-max_total_time={int(args.seconds)}", "-rss_limit_mb=4096"], target)
            atheris.Fuzz()
            return 0
    rng = random.Random(args.seed)
    n_scen = n_load = n_hash = 0
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        if rng.random() < 0.2:
            hashes(rng.randbytes(rng.randint(0, 200)))
            n_hash += 1
        elif rng.random() < 0.3:
            blob = bytearray(seed_dump(rng))
            for _ in range(rng.randint(0, 4)):
                op = rng.random()
                if op < 0.4 and blob:
                    blob[rng.randrange(len(blob))] ^= 1 << rng.randrange(8)
                elif op < 0.7:
                    del blob[rng.randrange(len(blob) + 1):]
                else:
                    pos = rng.randrange(len(blob) + 1)
                    blob[pos:pos] = os.urandom(rng.randint(1, 16))
            loader(bytes(blob))
            n_load += 1
        else:
            scenario(rng.randbytes(rng.randint(16, 600)))
            n_scen += 1
    print(f"fuzz: {n_scen} velocity scenarios (compiled == reference), {n_load} snapshot loads and {n_hash} hash "
          "inputs (compiled == hashlib / xxhash), no failure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
