"""The handbook's chapter 3 with the library's training defaults, beside the tuned settings.

Checks that the training defaults (validation strategy, calibration choice,
class weighting: ``fraudscore.model.TrainConfig``) do not regress on the Fraud
Detection Handbook's data. One feature replay per feature set
(:func:`fraudscore.handbook.features`), then the model step of ``train()``
(:func:`fraudscore.handbook.fit_on_features`) with

* ``tuned``: :data:`fraudscore.handbook.DEFAULT_MODEL` (chosen on the chapter-5
  validation folds);
* ``defaults``: the same protocol with every model setting at the library
  default (the gap stays 0: the protocol's 7-day delay comes before the test week).

Usage: ``python benchmarks/handbook_defaults.py [--features rich,handbook] [--seeds 0]``.
Writes ``benchmarks/results/handbook_defaults.json`` (AUC, AP, CP@100 of ``defaults``,
with the tuned run as baseline). Run it on two checkouts to compare versions.
Data directory: ``$FRAUDSCORE_FDH_DIR`` or ``<repo>/../shared/data/fdh``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import result, write_results  # noqa: E402

from fraudscore import handbook as hb  # noqa: E402
from fraudscore.model import TrainConfig  # noqa: E402

KEY = b"fraudscore-handbook-benchmark-key"
METRICS = ("auc", "ap", "cp100")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fdh-dir", type=Path, default=hb.fdh_dir())
    ap.add_argument("--features", default="rich,handbook")
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds")
    args = ap.parse_args(argv)
    if not (args.fdh_dir / "raw.csv.gz").exists():
        print(f"handbook data not found in {args.fdh_dir}; set FRAUDSCORE_FDH_DIR")
        return 2
    ch3 = hb.chapter3_split()
    t0 = time.perf_counter()
    df = hb.load_transactions(args.fdh_dir, first_day=ch3.train_start - hb.WARMUP_DAYS, end_day=ch3.end)
    defaults = {k: getattr(TrainConfig(), k) for k in hb.DEFAULT_MODEL if k != "gap"}
    configs: dict[str, dict[str, Any]] = {"tuned": {}, "defaults": defaults}
    results, runs = [], {}
    for name in args.features.split(","):
        fs = hb.rich_feature_set() if name == "rich" else hb.baseline_feature_set()
        X, names = hb.features(df, fs, KEY)
        for seed in (int(s) for s in args.seeds.split(",")):
            got = {}
            for cname, cfg in configs.items():
                r = hb.fit_on_features(df, X, names, ch3, cfg, seed=seed)
                got[cname] = {k: r[k] for k in (*METRICS, "best_iteration")}
                print(f"{name} seed {seed} {cname:<9}" + "  ".join(f"{k} {r[k]:.4f}" for k in METRICS)
                      + f"  trees {r['best_iteration']}  ({time.perf_counter() - t0:.0f} s)", flush=True)
            runs[f"{name}/seed{seed}"] = got
            for k in METRICS:
                results.append(result(f"chapter3_{name}_seed{seed}_defaults_{k}", got["defaults"][k], "score",
                                      baseline_name="tuned (handbook.DEFAULT_MODEL)", baseline_value=got["tuned"][k],
                                      higher_is_better=True, params={"defaults": defaults}))
    write_results("handbook_defaults", results, extra={"runs": runs, "tuned": hb.DEFAULT_MODEL})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
