"""Fuzz the library's input boundary: generated events and mutated bundles, with the invariants checked.

Run (about 15-25 minutes on one core for the default sizes)::

    nice -n 10 python benchmarks/fuzz.py --events 100000 --bundles 10000 --out benchmarks/results/fuzz.json
    nice -n 10 python benchmarks/fuzz.py --events 0 --bundles 0 --model-texts 3000   # LightGBM oracle only

Events: plausible synthetic applications with fields and keys replaced by adversarial values
(huge and 5000-digit integers, NaN/inf, lone surrogates, NUL, invisible characters, full-width
digits, oversized strings and lists, nested containers, non-string keys, phone numbers as keys),
scored in groups of ``--group`` events online (``Scorer.score``, one by one) and in batch
(``Scorer.score_batch``) from empty state. Invariants:

* no exception other than the library's own (``FraudscoreError``);
* the same verdict online and in batch for every row (same action and score, or rejected
  naming the same field);
* no error message contains the marker planted in keys and values;
* the byte-bounded caches stay within their budgets.

Bundles: a saved bundle (directory or zip) with 1-3 random mutations (byte flips, truncation,
insertions of pathological text, deleted files, duplicated lines, replaced files); half of
them re-hashed and re-signed with the key, as a key holder would write them, so the checks
behind the signature (JSON, TOML, model text) are exercised too. Invariants: ``fraudscore.load``
(verify, validate, build a scorer) raises ``BundleError`` or loads; nothing else is raised;
peak Python allocation per load (sampled with tracemalloc) stays bounded.

Model texts (``--model-texts N``): mutated ``model.txt`` texts go through
:func:`fraudscore.model.text_check.check_model_text`, and every text is also loaded and
predicted with by LightGBM in a child process: the report counts how many texts crash or hang
LightGBM, and checks that the validator rejected every one of them.

Writes one JSON summary (``--out``) and prints it; exits 1 when an invariant failed, saving
reproducers next to the summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import select
import subprocess
import sys
import tempfile
import time
import traceback
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

import fraudscore as fs
from fraudscore.bundle import _SIGN_CONTEXT, Bundle
from fraudscore.errors import BundleError, EventError
from fraudscore.keys import Keys
from fraudscore.schema import DEFAULT_SCHEMA
from fraudscore.synth import generate

SECRET = b"fraudscore-fuzz-secret-0123456789"
MARKER = "13912345678"
INVISIBLE = "\u200b\u200d\u2060\ufeff\u00ad\u200e\u202e"


# -- values ---------------------------------------------------------------------------------------------
def _value(r: random.Random, depth: int = 0) -> Any:
    k = r.randrange(22 if depth < 2 else 17)
    if k == 0:
        return None
    if k == 1:
        return r.choice([True, False])
    if k == 2:
        return r.randint(-10**6, 10**6)
    if k == 3:
        return r.choice([1, -1]) * 10 ** r.choice([19, 308, 309, 400, 5000])
    if k == 4:
        return r.choice([2**1023, 2**1024, 2**63, 17 * 2**17000])
    if k == 5:
        return r.choice([float("nan"), float("inf"), -float("inf"), 1e308, -0.0, 5e-324, r.uniform(-1e9, 1e9)])
    if k == 6:
        return "".join(r.choice("0123456789+-@. x" + INVISIBLE + "\x00\ud800１") for _ in range(r.randrange(30)))
    if k == 7:
        return r.choice([MARKER, f"+86{MARKER}", f"{MARKER}@mail.com", " ", "", "\x00", "\ud800\udfff"])
    if k == 8:
        return "z" * r.choice([255, 256, 257, 511, 512, 513, 2047, 2048, 2049, 17000])
    if k == 9:
        return r.choice([b"\x00\x01", bytearray(b"ab"), object(), 1 + 2j, frozenset({1})])
    if k == 10:
        return r.choice([np.int64(7), np.float64("nan"), np.bool_(True), np.float32(1e38), np.uint64(2**63)])
    if k == 11:
        return r.choice(["2026-11-29T10:00:00Z", "2199-12-31", "1970-01-01", "0000-00-00", "2026-13-45"])
    if k == 12:
        return r.choice([1795946400, 1795946400000, 10**12 * 9, -1, 31_536_000])
    if k == 13:
        return MARKER[: r.randrange(1, 11)] + r.choice(INVISIBLE) + MARKER
    if k == 14:
        return "".join(chr(ord(c) + 0xFEE0) for c in MARKER)
    if k == 15:
        return r.choice(["ios", "android", "1080x2340", "Asia/Shanghai", "zh-CN"])
    if k == 16:
        return r.random()
    if k in (17, 18):
        return [_value(r, depth + 1) for _ in range(r.choice([0, 1, 2, 5, 257, 300]) if k == 18 else r.randrange(4))]
    return {_key(r): _value(r, depth + 1) for _ in range(r.randrange(4))}


def _key(r: random.Random) -> Any:
    return r.choice(["promo", "ip_country", "_private", "device.os", "x" * 70, MARKER, f"a{MARKER}", "", " ",
                     3, None, (1, 2), -1, 2.5, "os", "screen", "languages", "user_agent", "color_depth",
                     "model", "Timezone", "ok_field"])


def _device(r: random.Random) -> Any:
    k = r.randrange(4)
    if k == 0:
        return {_key(r): _value(r, 1) for _ in range(r.randrange(8))}
    if k == 1:
        return {f"u{i}": r.choice(["x" * 300, "y" * 2000]) for i in range(r.randrange(60, 80))}
    if k == 2:
        return {MARKER: [r.randrange(10)] * r.choice([1, 256, 257])}
    return _value(r, 1)


def _event(r: random.Random, records: list[dict[str, Any]], seq: int) -> Any:
    """About half plausible events (valid, with invisible characters, full-width digits and extra
    fields mixed in) and half with one to three adversarial fields or keys."""
    if r.random() < 0.02:
        return _value(r)  # not an event at all
    ev = dict(records[seq % len(records)])
    ev["ts"] = 1_795_946_400_000 + 37_000 * seq  # arrival order: no row is late unless made so
    ev["application_id"] = f"F{seq}"
    if r.random() < 0.3:
        ev["phone"] = r.choice([MARKER, MARKER[:3] + r.choice(INVISIBLE) + MARKER[3:], "１" + MARKER[1:]])
    if r.random() < 0.2:
        ev[r.choice(["promo", "ip_country", "campaign"])] = r.choice(["CN", "spring", 3, 2.5, True, None])
    if r.random() < 0.5:
        return ev
    for field in r.sample(DEFAULT_SCHEMA.names, r.randint(0, 2)):
        ev[field] = _device(r) if field == "device" else _value(r)
    for _ in range(r.randrange(2)):
        ev[_key(r)] = _value(r)
    if r.random() < 0.01:
        ev.update({f"f{i}": None for i in range(130)})
    return ev


# -- invariants ------------------------------------------------------------------------------------------
class Failures:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.items: list[dict[str, Any]] = []

    def add(self, kind: str, detail: str, reproducer: Any = None) -> None:
        entry = {"kind": kind, "detail": detail[:2000]}
        if reproducer is not None and len(self.items) < 50:
            path = self.folder / f"fuzz_failure_{len(self.items)}.txt"
            path.write_text(repr(reproducer)[:2_000_000])
            entry["reproducer"] = str(path)
        self.items.append(entry)


def _clean(e: BaseException) -> bool:
    return MARKER not in str(e) and MARKER[3:] not in str(e) and MARKER not in str(getattr(e, "field", ""))


def fuzz_events(n: int, group: int, seed: int, bundle: Bundle, keys: Keys, fails: Failures) -> dict[str, Any]:
    from fraudscore.fingerprint import canonical, signals

    r = random.Random(seed)
    records = generate(n_days=3, per_day=400, seed=seed).to_records()
    stats = {"events": 0, "rejected": 0, "accepted": 0, "groups": 0}
    t0 = time.perf_counter()
    while stats["events"] < n:
        evs = [_event(r, records, stats["events"] + i) for i in range(min(group, n - stats["events"]))]
        stats["events"] += len(evs)
        stats["groups"] += 1
        online: list[Any] = []
        sc = fs.Scorer(bundle, keys)
        for ev in evs:
            try:
                d = sc.score(ev)
                online.append(("ok", d.action, d.score))
            except EventError as e:
                online.append(("err", e.field))
                if not _clean(e):
                    fails.add("echo", f"online error echoes the marker: {e!s}", ev)
            except Exception as e:  # noqa: BLE001 - the invariant under test
                online.append(("foreign", type(e).__name__))
                fails.add("foreign_online", "".join(traceback.format_exception(e))[-1500:], ev)
        try:
            b = fs.Scorer(bundle, keys).score_batch(evs)
        except Exception as e:  # noqa: BLE001
            fails.add("foreign_batch", "".join(traceback.format_exception(e))[-1500:], evs)
            continue
        batch: list[Any] = [None] * len(evs)
        for i, row in enumerate(b.rows.tolist()):
            batch[row] = ("ok", b.action[i], int(b.score[i]))
        for e in b.errors:
            batch[e.row] = ("err", e.field)
            if not _clean(e):
                fails.add("echo", f"batch error echoes the marker: {e!s}", evs[e.row])
        for i, (a, c) in enumerate(zip(online, batch)):
            if a != c and a[0] != "foreign":
                fails.add("parity", f"online {a} != batch {c}", evs[i])
        stats["accepted"] += sum(v[0] == "ok" for v in online)
        stats["rejected"] += sum(v[0] == "err" for v in online)
        pipe = sc.pipeline
        if pipe.fingerprinter.cache_bytes_used > pipe.fingerprinter._cache_bytes:
            fails.add("memory", "fingerprint cache over its byte budget")
        for budget in (canonical._BUDGET, signals._BUDGET, pipe.fingerprinter._budget):
            if budget.used > budget.budget:
                fails.add("memory", "a memo over its byte budget")
    stats["seconds"] = round(time.perf_counter() - t0, 1)
    stats["events_per_s"] = round(stats["events"] / stats["seconds"], 1)
    return stats


# -- bundles ---------------------------------------------------------------------------------------------
_FILES = ["manifest.json", "signature.json", "model.txt", "model.json", "calibration.json", "rules.toml"]
_INSERTS = [b"[" * 300, b"{" * 70, b"\x00", b"nan", b"-1", b"Tree=0\n", b"\n\n", b"999999999999", b'"', b"\xff\xfe",
            b"inf", b"x = " + b"[" * 2000, b"tree_sizes=1 2 3\n", b"left_child=0 0\n", b"num_leaves=2147483647\n"]


def _resign(files: dict[str, bytes], keys: Keys) -> dict[str, bytes]:
    import hashlib
    import hmac

    m = json.loads(files["manifest.json"])
    m["files"] = {k: hashlib.sha256(files[k]).hexdigest() for k in m["files"] if k in files}
    raw = json.dumps(m, indent=2, sort_keys=True).encode()
    mac = hmac.new(keys.bundle, _SIGN_CONTEXT + raw, hashlib.sha256).hexdigest()
    files["manifest.json"] = raw
    files["signature.json"] = json.dumps({"algorithm": "hmac-sha256", "key_id": keys.key_id,
                                          "signed": "manifest.json", "mac": mac}).encode()
    return files


def _mutate(r: random.Random, files: dict[str, bytes], names: list[str] = _FILES) -> dict[str, bytes]:
    files = dict(files)
    for _ in range(r.randint(1, 3)):
        name = r.choice(names)
        data = bytearray(files.get(name, b""))
        op = r.randrange(7)
        if op == 0 and data:
            for _ in range(r.randint(1, 4)):
                data[r.randrange(len(data))] = r.randrange(256)
        elif op == 1:
            data = data[: r.randrange(len(data) + 1)]
        elif op == 2:
            i = r.randrange(len(data) + 1)
            data[i:i] = r.choice(_INSERTS)
        elif op == 3 and len(names) > 1:
            files.pop(name, None)
            continue
        elif op == 4:
            data = bytearray(os.urandom(r.randrange(64)))
        elif op == 5 and data:
            lines = bytes(data).split(b"\n")
            j = r.randrange(len(lines))
            lines.insert(r.randrange(len(lines) + 1), lines[j])
            data = bytearray(b"\n".join(lines))
        elif op == 6 and data:  # replace one number with another
            text = bytes(data)
            digits = [i for i, c in enumerate(text) if 48 <= c <= 57]
            if digits:
                i = r.choice(digits)
                data = bytearray(text[:i] + r.choice([b"0", b"-1", b"99999", b"2147483648", b"nan"]) + text[i + 1:])
        files[name] = bytes(data)
    return files


def fuzz_bundles(n: int, seed: int, files0: dict[str, bytes], keys: Keys, fails: Failures) -> dict[str, Any]:
    r = random.Random(seed + 1)
    stats = {"bundles": 0, "refused": 0, "loaded": 0, "resigned": 0, "zip": 0, "max_peak_mib": 0.0,
             "sampled_for_memory": 0}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            files = _mutate(r, files0)
            if r.random() < 0.5 and "manifest.json" in files:
                try:
                    files = _resign(files, keys)
                    stats["resigned"] += 1
                except (ValueError, KeyError, TypeError, AttributeError):
                    pass
            as_zip = r.random() < 0.5
            path = Path(tmp) / f"b{i}"
            if as_zip:
                path = path.with_suffix(".zip")
                with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                    for name in sorted(files):
                        zf.writestr(name, files[name])
                stats["zip"] += 1
            else:
                for name, data in files.items():
                    (path / name).parent.mkdir(parents=True, exist_ok=True)
                    (path / name).write_bytes(data)
            sample = i % 20 == 0
            if sample:
                tracemalloc.start()
            try:
                fs.load(str(path), key=keys)  # verify, validate and build a scorer
                stats["loaded"] += 1
            except BundleError:
                stats["refused"] += 1
            except Exception as e:  # noqa: BLE001 - the invariant under test
                fails.add("foreign_bundle", "".join(traceback.format_exception(e))[-1500:],
                          {**files, "<zip>": as_zip})
            finally:
                if sample:
                    peak = tracemalloc.get_traced_memory()[1] / 2**20
                    tracemalloc.stop()
                    stats["sampled_for_memory"] += 1
                    stats["max_peak_mib"] = round(max(stats["max_peak_mib"], peak), 2)
            stats["bundles"] += 1
            if as_zip:
                path.unlink()
            else:
                for p in sorted(path.rglob("*"), reverse=True):
                    p.unlink() if p.is_file() else p.rmdir()
                path.rmdir()
    if stats["max_peak_mib"] > 64:
        fails.add("memory", f"a bundle load peaked at {stats['max_peak_mib']} MiB of Python allocations")
    stats["seconds"] = round(time.perf_counter() - t0, 1)
    return stats


# -- model texts against LightGBM itself (child process) ---------------------------------------------------
_CHILD = r'''
import sys, numpy as np, lightgbm as lgb
X = np.random.default_rng(0).normal(size=(20, int(sys.argv[1])))
for line in sys.stdin:
    text = sys.stdin.read(int(line))
    try:
        b = lgb.Booster(model_str=text)
        b.predict(X); b.predict(X, pred_contrib=True)
        print("ok", flush=True)
    except Exception:
        print("err", flush=True)
'''


def fuzz_model_texts(n: int, seed: int, text0: str, n_features: int, fails: Failures) -> dict[str, Any]:
    from fraudscore.model.text_check import check_model_text

    r = random.Random(seed + 2)

    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # no spinning OpenMP threads on a shared machine

    def child() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", _CHILD, str(n_features)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                encoding="latin-1", env=env)

    def ask(proc: subprocess.Popen, text: str, timeout: float) -> tuple[subprocess.Popen, str]:
        proc.stdin.write(f"{len(text)}\n{text}")
        proc.stdin.flush()
        while True:
            ready, _, _ = select.select([proc.stdout], [], [], timeout)
            if not ready:
                proc.kill()
                return child(), "hang"
            line = proc.stdout.readline()
            if not line:
                return child(), "crash"
            if line.strip() in ("ok", "err"):
                return proc, line.strip()

    proc = child()
    counts: dict[str, int] = {}
    t0 = time.perf_counter()
    for _ in range(n):
        text = _mutate(r, {"model.txt": text0.encode()}, ["model.txt"])["model.txt"].decode("latin-1")
        try:
            check_model_text(text)
            verdict = "accepted"
        except BundleError:
            verdict = "rejected"
        proc, outcome = ask(proc, text, 10.0)
        if outcome == "hang" and verdict == "accepted":  # confirm with a long timeout (a busy machine?)
            proc, outcome = ask(proc, text, 300.0)
        key = f"{verdict}_lightgbm_{outcome}"
        counts[key] = counts.get(key, 0) + 1
        if verdict == "accepted" and outcome in ("crash", "hang"):
            fails.add("validator", f"LightGBM {outcome}es on a text the validator accepted", text)
    proc.kill()
    return {"texts": n, **dict(sorted(counts.items())), "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--group", type=int, default=200, help="events per online/batch comparison (default 200)")
    ap.add_argument("--bundles", type=int, default=10_000)
    ap.add_argument("--model-texts", type=int, default=0, help="mutated model texts checked against LightGBM")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="JSON summary (default: print only)")
    args = ap.parse_args(argv)
    keys = Keys(SECRET)
    out_dir = Path(args.out).parent if args.out else Path(tempfile.mkdtemp())
    out_dir.mkdir(parents=True, exist_ok=True)
    fails = Failures(out_dir)
    data = generate(n_days=14, per_day=300, seed=11)
    result = fs.train(data.columns, data.labels, key=keys,
                      config={"model": {"num_boost_round": 60, "early_stopping_rounds": 20, "seed": 3}})
    bundle = result.bundle
    summary: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "fraudscore": fs.__version__},
        "command": "python benchmarks/fuzz.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "seed": args.seed,
    }
    t0 = time.perf_counter()
    if args.events:
        summary["events"] = fuzz_events(args.events, args.group, args.seed, bundle, keys, fails)
        print("events:", summary["events"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        bundle.save(Path(tmp) / "b", key=keys)
        files0 = {p.relative_to(Path(tmp) / "b").as_posix(): p.read_bytes()
                  for p in (Path(tmp) / "b").rglob("*") if p.is_file()}
    if args.bundles:
        summary["bundles"] = fuzz_bundles(args.bundles, args.seed, files0, keys, fails)
        print("bundles:", summary["bundles"], flush=True)
    if args.model_texts:
        summary["model_texts"] = fuzz_model_texts(args.model_texts, args.seed, files0["model.txt"].decode(),
                                                  bundle.model.num_features, fails)
        print("model texts:", summary["model_texts"], flush=True)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    summary["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    summary["failures"] = fails.items
    summary["invariants_held"] = not fails.items
    text = json.dumps(summary, indent=2, default=str)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0 if not fails.items else 1


if __name__ == "__main__":
    sys.exit(main())
