"""Compare fraudscore's batch replay with the Fraud Detection Handbook's own features.

Reads ``raw.csv.gz`` (1.75M transactions), computes the handbook's 12 windowed
features with :func:`fraudscore.velocity.replay` (plus the two calendar flags,
computed directly), and compares them with the handbook's transformed file on
its 201,295 rows. Prints the largest absolute difference per feature.

Usage: ``python benchmarks/fdh_oracle.py [--fdh-dir DIR] [--quick]``
(``--quick`` reads only the raw rows up to the end of the oracle period, which
is all the windows need.) Data directory: ``$FRAUDSCORE_FDH_DIR`` or
``<repo>/../shared/data/fdh``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = Path(os.environ.get("FRAUDSCORE_FDH_DIR", ROOT.parent / "shared" / "data" / "fdh"))
ORACLE = "transformed_2018-07-25_2018-08-14.csv.gz"
TOLERANCE = 1e-9


def legacy_argsort(v: np.ndarray) -> np.ndarray:
    """numpy's classic (pre-SIMD) introsort ``argsort(kind="quicksort")``, re-expressed.

    The handbook sorted each customer's transactions with pandas ``sort_values``
    (an unstable quicksort), so among transactions of one customer in the same
    second its rolling windows follow *that* order. To replay the same arrival
    order we emulate the algorithm numpy used then (median-of-3 partitioning,
    insertion sort below 16 elements); it is only run for customers with ties.
    """
    tosort = list(range(len(v)))
    vals = v.tolist()
    stack: list[tuple[int, int]] = []
    pl, pr = 0, len(v) - 1
    while True:
        while pr - pl > 15:
            pm = pl + ((pr - pl) >> 1)
            if vals[tosort[pm]] < vals[tosort[pl]]:
                tosort[pm], tosort[pl] = tosort[pl], tosort[pm]
            if vals[tosort[pr]] < vals[tosort[pm]]:
                tosort[pr], tosort[pm] = tosort[pm], tosort[pr]
            if vals[tosort[pm]] < vals[tosort[pl]]:
                tosort[pm], tosort[pl] = tosort[pl], tosort[pm]
            vp = vals[tosort[pm]]
            pi, pj = pl, pr - 1
            tosort[pm], tosort[pj] = tosort[pj], tosort[pm]
            while True:
                pi += 1
                while vals[tosort[pi]] < vp:
                    pi += 1
                pj -= 1
                while vp < vals[tosort[pj]]:
                    pj -= 1
                if pi >= pj:
                    break
                tosort[pi], tosort[pj] = tosort[pj], tosort[pi]
            pk = pr - 1
            tosort[pi], tosort[pk] = tosort[pk], tosort[pi]
            if pi - pl < pr - pi:
                stack.append((pi + 1, pr))
                pr = pi - 1
            else:
                stack.append((pl, pi - 1))
                pl = pi + 1
        for i in range(pl + 1, pr + 1):
            vi = tosort[i]
            x = vals[vi]
            j = i
            while j > pl and x < vals[tosort[j - 1]]:
                tosort[j] = tosort[j - 1]
                j -= 1
            tosort[j] = vi
        if not stack:
            break
        pl, pr = stack.pop()
    return np.array(tosort, dtype=np.int64)


def handbook_arrival_order(ts: np.ndarray, customer: np.ndarray) -> np.ndarray:
    """Row order by time, ties within a customer broken as the handbook's sort broke them."""
    by_cust = np.lexsort((np.arange(len(ts)), customer))  # file order within each customer
    c_sorted = customer[by_cust]
    starts = np.r_[0, np.nonzero(np.diff(c_sorted))[0] + 1, len(ts)]
    rank = np.empty(len(ts), dtype=np.int64)
    for a, b in zip(starts[:-1], starts[1:]):
        rows = by_cust[a:b]
        t = ts[rows]
        if np.any(np.diff(np.sort(t)) == 0):
            rank[rows[legacy_argsort(t)]] = np.arange(b - a)
        else:
            rank[rows[np.argsort(t, kind="stable")]] = np.arange(b - a)
    return np.lexsort((rank, ts))


def compare(fdh_dir: Path = DEFAULT_DIR) -> dict[str, Any]:
    """Compute the handbook features from raw data and compare with the oracle file.

    Returns ``{"rows": n, "max_abs_diff": {column: float}, "seconds_replay": s, "raw_rows": m}``.
    """
    import pandas as pd

    sys.path.insert(0, str(ROOT))
    from fraudscore.velocity import replay
    from fraudscore.velocity.defaults import HANDBOOK_COLUMNS, handbook_feature_set

    oracle = pd.read_csv(fdh_dir / ORACLE)
    raw = pd.read_csv(fdh_dir / "raw.csv.gz", usecols=["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID",
                                                      "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD"])
    ts_all = pd.to_datetime(raw["TX_DATETIME"]).to_numpy().astype("datetime64[ms]").astype(np.int64)
    # arrival order = time order, same-second ties of a customer in the handbook's own order
    # (computed over the whole file, as the handbook sorted each customer's full history)
    order_all = handbook_arrival_order(ts_all, raw["CUSTOMER_ID"].to_numpy())
    end = int(pd.to_datetime(oracle["TX_DATETIME"]).max().to_datetime64().astype("datetime64[ms]").astype(np.int64))
    order = order_all[ts_all[order_all] <= end]  # later rows cannot influence the oracle period
    ts = ts_all
    fs = handbook_feature_set()
    cols = {"ts": ts[order],
            "CUSTOMER_ID": raw["CUSTOMER_ID"].to_numpy()[order],
            "TERMINAL_ID": raw["TERMINAL_ID"].to_numpy()[order],
            "TX_AMOUNT": raw["TX_AMOUNT"].to_numpy(dtype=np.float64)[order]}
    week = 7 * 86_400_000
    labels = {"is_fraud": raw["TX_FRAUD"].to_numpy(dtype=np.float64)[order], "label_ts": cols["ts"] + week}
    t0 = time.perf_counter()
    X = replay(fs, cols, labels)
    seconds = time.perf_counter() - t0
    tx_ids = raw["TRANSACTION_ID"].to_numpy()[order]
    pos = np.searchsorted(tx_ids, oracle["TRANSACTION_ID"].to_numpy(), sorter=np.argsort(tx_ids))
    rows = np.argsort(tx_ids)[pos]
    if not np.array_equal(tx_ids[rows], oracle["TRANSACTION_ID"].to_numpy()):
        raise RuntimeError("oracle transactions missing from raw data")
    diffs: dict[str, float] = {}
    for col, name in HANDBOOK_COLUMNS.items():
        got = X[rows, fs.names.index(name)]
        diffs[col] = float(np.max(np.abs(got - oracle[col].to_numpy(dtype=np.float64))))
    odt = pd.to_datetime(oracle["TX_DATETIME"])
    weekend = (odt.dt.day_of_week >= 5).astype(float).to_numpy()
    night = (odt.dt.hour <= 6).astype(float).to_numpy()
    diffs["TX_DURING_WEEKEND"] = float(np.max(np.abs(weekend - oracle["TX_DURING_WEEKEND"].to_numpy())))
    diffs["TX_DURING_NIGHT"] = float(np.max(np.abs(night - oracle["TX_DURING_NIGHT"].to_numpy())))
    return {"rows": len(oracle), "raw_rows": len(order), "max_abs_diff": diffs, "seconds_replay": seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fdh-dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--quick", action="store_true", help="(the comparison is already bounded; accepted for symmetry)")
    args = ap.parse_args(argv)
    if not (args.fdh_dir / ORACLE).exists():
        print(f"handbook data not found in {args.fdh_dir}; set FRAUDSCORE_FDH_DIR")
        return 2
    res = compare(args.fdh_dir)
    print(f"replayed {res['raw_rows']:,} raw rows in {res['seconds_replay']:.2f} s; "
          f"compared {res['rows']:,} oracle rows")
    ok = True
    for col, d in res["max_abs_diff"].items():
        flag = "ok" if d <= TOLERANCE else "MISMATCH"
        ok &= d <= TOLERANCE
        print(f"  {col:<40} max |diff| = {d:.3e}  {flag}")
    print("ALL EQUAL (1e-9)" if ok else "DIFFERENCES FOUND")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
