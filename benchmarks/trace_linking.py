"""Where the ids velocity keys on lose recall: each observation of an already-seen device, classified.

For every observation of a simulated stream (:func:`fraudscore.fingerprint.simulate.simulate`, the same
streams as ``bench_linking.py --quality-only``) whose true device was seen before, compare the link with the
id that device last got at or above ``MIN_LINK_CONFIDENCE`` (its *own* id):

* ``ok``: the own id again, usable by velocity;
* ``refused:<how>``: below ``MIN_LINK_CONFIDENCE`` (``shared``: a common fingerprint's class link;
  ``model:own`` / ``model:other``: a drift link whose probability / popularity is too low; ``new``);
* ``split:notcand:<why>``: a new device while the own record was not a candidate: ``fontblocks`` (its font-list
  blocks and the fingerprint's share none), ``fontlist`` (one reports the list, the other only its hash),
  ``evicted`` (pushed out of a full block), ``gone`` (expired);
* ``split:cand:<why>``: a new device although the own record was walked: ``hardrule`` (a version went
  backwards, another family), ``prefilter`` (not among the ``max_scored`` closest), ``lowprob`` (scored, under
  ``link_probability``);
* ``relink_old_own``: linked by the model to an older id of the same device; ``wrong:model``: to another
  device's id; ``other_ok:<how>``: another id, usable (e.g. an exact hit on an id another device showed).

Each row counts observations, not pairs: a busy device's split weighs more in pairwise recall.

Run: ``python benchmarks/trace_linking.py [--seed 1] [--devices 2000] [--days 90] SCENARIO...``; prints only.
"""

from __future__ import annotations

import argparse
import collections
import statistics
from typing import Any

from fraudscore.fingerprint import MIN_LINK_CONFIDENCE, DeviceLinker, Fingerprinter, MemoryLinkState
from fraudscore.fingerprint.linkfeatures import compatible_records, n_differences
from fraudscore.fingerprint.simulate import simulate
from fraudscore.keys import Keys

KEYS = Keys(b"benchmark-secret-not-for-production")  # bench_linking.py's key: the same fingerprints


class RecordingLinker(DeviceLinker):
    """A :class:`DeviceLinker` that remembers the candidates of its last model-scored call (the compiled state
    calls ``best_candidate`` back: the decisions are the plain linker's)."""

    last: tuple[list[dict[str, Any]], Any] | None = None

    def best_candidate(self, fp: Any, recs: list[dict[str, Any]], now: int, ip: int = 0) -> Any:
        best = super().best_candidate(fp, recs, now, ip)
        self.last = (list(recs), best)
        return best


def _why_not_candidate(lk: RecordingLinker, st: MemoryLinkState, fp: Any, own: str) -> str:
    rec = st._devices.get(own)
    if rec is None:
        return "gone"
    keys = lk._keys(fp)
    walked = keys[9] if len(keys) > 9 else keys[1]  # the walk keys (round 9), else the block keys
    if any(own in st._blocks.get(k, {}) for k in walked):
        return "inblock"
    if bool(rec["fs"]) != bool(fp.fonts_sketch):
        return "fontlist"
    bf = fp.canonical.browser_family or fp.canonical.source
    if rec["fs"] and f"{fp.family}:{bf}:{rec['fs'][0]:08x}" not in walked:
        return "fontblocks"
    return "evicted"


def trace(scenario: str, n: int, days: float, seed: int) -> tuple[collections.Counter, dict[str, collections.Counter],
                                                                   list[int], int]:
    s = simulate(scenario, n_devices=n, days=days, seed=seed)
    fpr = Fingerprinter(KEYS)
    st = MemoryLinkState()
    lk = RecordingLinker(st)
    own: dict[int, str] = {}
    ever: dict[int, set[str]] = collections.defaultdict(set)
    total: collections.Counter = collections.Counter()
    per_os: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    crowd: list[int] = []
    for dev, t, ip, true, os_ in zip(s.devices, s.ts.tolist(), s.ip_prefix.tolist(), s.truth.tolist(), s.os.tolist()):
        fp = fpr.fingerprint(dev)
        lk.last = None
        r = lk.link(fp, t, ip)
        usable = r.link_confidence >= MIN_LINK_CONFIDENCE
        prev = own.get(true)
        if prev is None:
            cat = "first" if usable else "first_refused"
        elif usable and r.device_id == prev:
            cat = "ok"
        elif not usable:
            cat = f"refused:{r.how}" + ((":own" if r.device_id == prev else ":other") if r.how == "model" else "")
        elif r.how == "new":
            if lk.last is None:
                cat = "split:no_walk"
            else:
                recs = lk.last[0]
                ids = [x["id"] for x in recs]
                if prev not in ids:
                    cat = "split:notcand:" + _why_not_candidate(lk, st, fp, prev)
                else:
                    comp = compatible_records(fp, recs)
                    rec = recs[ids.index(prev)]
                    if rec not in comp:
                        cat = "split:cand:hardrule"
                    elif prev not in [x[2] for x in sorted((n_differences(fp, x), -x["t"], x["id"])
                                                           for x in comp)[:lk.max_scored]]:
                        cat = "split:cand:prefilter"
                    else:
                        cat = "split:cand:lowprob"
                        crowd.append(len(comp))
        elif r.how == "model":
            cat = "relink_old_own" if r.device_id in ever[true] else "wrong:model"
        else:
            cat = f"other_ok:{r.how}" + ("_own" if r.device_id in ever[true] else "")
        if usable:
            own[true] = r.device_id
            ever[true].add(r.device_id)
        total[cat] += 1
        per_os[os_][cat] += 1
    return total, per_os, crowd, st.live_evictions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenarios", nargs="+")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--days", type=float, default=90.0)
    args = ap.parse_args()
    for sc in args.scenarios:
        total, per_os, crowd, ev = trace(sc, args.devices, args.days, args.seed)
        print(f"== {sc} (seed {args.seed}; live block evictions {ev:,})")
        for k, v in sorted(total.items(), key=lambda x: -x[1]):
            print(f"  {k:30s} {v:7,}")
        for os_, c in sorted(per_os.items()):
            lost = {k: v for k, v in c.items() if k not in ("ok", "first")}
            print(f"  [{os_}] ok {c['ok']:,}; " + ", ".join(f"{k} {v:,}" for k, v in
                                                            sorted(lost.items(), key=lambda x: -x[1])))
        if crowd:
            print(f"  lowprob: median {statistics.median(crowd):.0f} candidates passing the hard rules")


if __name__ == "__main__":
    main()
