"""Throughput of the synthetic generator (goal: >= 200k applications/s as columns).

Baseline, measured in the same run: a naive row-by-row generator in plain Python
(``random`` module, one dict per application, same fields, no fraud patterns).

Run: ``python benchmarks/bench_synth.py [--quick]``; writes benchmarks/results/bench_synth.json.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median_time, result, write_results  # noqa: E402

from fraudscore.synth import generate, simulate_drift  # noqa: E402


def naive_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Baseline: plain-Python, one application dict at a time."""
    r = random.Random(seed)
    out = []
    for i in range(n):
        out.append({
            "application_id": f"A{i:010d}", "ts": 1767571200000 + r.randrange(86_400_000 * 28),
            "applicant_id": "".join(r.choice("0123456789") for _ in range(18)),
            "phone": "+861" + "".join(r.choice("0123456789") for _ in range(10)),
            "email": f"{r.randrange(10**9)}@qq.com", "bank_card": "".join(r.choice("0123456789") for _ in range(19)),
            "ip": ".".join(str(r.randrange(256)) for _ in range(4)), "inviter_id": None, "product": "cash_loan",
            "channel": r.choice(["app", "web", "h5", "partner"]),
            "device": {"os": "android", "model": r.choice(["V2141A", "PGBM10"]), "android_id": f"{r.getrandbits(64):016x}"},
            "amount": float(r.randrange(500, 50000)), "term_months": float(r.choice([3, 6, 12])),
        })
    out.sort(key=lambda e: e["ts"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="140k rows instead of 1M")
    args = ap.parse_args()
    n_days, per_day, repeat = (7, 20_000, 3) if args.quick else (50, 20_000, 3)  # full: 1M rows
    n = n_days * per_day
    generate(n_days=1, per_day=1000)  # warm-up (imports, caches)
    t_gen = median_time(lambda: generate(n_days=n_days, per_day=per_day, seed=0), repeat)
    n_base = n // 4
    t_base = median_time(lambda: naive_rows(n_base), repeat) * (n / n_base)
    data = generate(n_days=min(n_days, 7), per_day=per_day // 2, seed=0)
    t_rec = median_time(data.to_records, repeat)
    n_dev, k = (500, 10) if args.quick else (2000, 10)
    t_drift = median_time(lambda: simulate_drift(n_devices=n_dev, observations_per_device=k, seed=0), repeat)
    results = [
        result("generate_columns", n / t_gen, "applications/s", "naive_python_rows", n / t_base,
               {"n_days": n_days, "per_day": per_day, "rows": n, "repeat": repeat, "goal": 200_000,
                "goal_met": n / t_gen >= 200_000}, higher_is_better=True),
        result("to_records", len(data) / t_rec, "rows/s", "generate_columns", n / t_gen, {"rows": len(data)},
               higher_is_better=True),
        result("simulate_drift", n_dev * k / t_drift, "observations/s", "generate_columns", n / t_gen,
               {"n_devices": n_dev, "observations_per_device": k}, higher_is_better=True),
    ]
    write_results("bench_synth", results)


if __name__ == "__main__":
    main()
