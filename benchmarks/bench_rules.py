"""Rule engine speed: 50 rules on one event (goal: median under 10 us) and on 1M rows (rows/s).

Baselines, measured in the same run:

* one event: a naive interpreter of the same rules in plain Python (the ``ast``
  tree walked on every call, as a straightforward rule engine would do);
* columns: the compiled scalar evaluator called row by row (rows/s), i.e. what the
  batch path would cost without the vectorised evaluator.

Run: ``python benchmarks/bench_rules.py [--quick]``; writes benchmarks/results/bench_rules.json.
"""

from __future__ import annotations

import argparse
import ast
import operator
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, result, write_results  # noqa: E402,F401

from fraudscore.rules import Rule, RuleSet  # noqa: E402

FEATURES = [
    "distinct__applicant_id__by__device_id__24h", "distinct__applicant_id__by__device_id__7d",
    "distinct__device_id__by__applicant_id__24h", "distinct__phone__by__applicant_id__7d",
    "distinct__applicant_id__by__bank_card__30d", "distinct__applicant_id__by__phone__30d",
    "count__ip_prefix__1h", "count__ip_prefix__10m", "count__inviter_id__24h", "count__inviter_id__7d",
    "applicant_id__checksum_ok", "applicant_id__valid", "applicant_id__age", "device__emulator",
    "device__rooted", "amount", "term_months", "distinct__applicant_id__by__email__30d",
    "device__screen_impossible",
]
STRINGS = ["channel", "product", "ip", "ip_prefix"]


def fifty_rules() -> RuleSet:
    """The default rule set plus 33 typical analyst rules (thresholds, conjunctions, lists)."""
    base = RuleSet.default()
    rules = list(base.rules)
    rng = np.random.default_rng(0)
    i = 0
    while len(rules) < 50:
        f1, f2 = rng.choice(FEATURES[:10], 2, replace=False)
        kind = i % 4
        if kind == 0:
            when = f"{f1} >= {int(rng.integers(4, 20))}"
        elif kind == 1:
            when = f"{f1} >= {int(rng.integers(3, 10))} and {f2} >= {int(rng.integers(2, 6))}"
        elif kind == 2:
            when = f"channel in ['h5', 'partner'] and amount > {int(rng.integers(20, 80)) * 1000}"
        else:
            when = f"product == 'cash_night' and {f1} > {int(rng.integers(2, 8))} or {f2} > 30"
        rules.append(Rule(f"GEN_{i:02d}", when, action=("review", "tag")[i % 2], score=20,
                          reason=f"{{{f1}}} seen"))
        i += 1
    return RuleSet(rules, base.lists)


def event(rng: np.random.Generator) -> dict[str, Any]:
    ev: dict[str, Any] = {f: float(rng.integers(0, 3)) for f in FEATURES}
    ev.update(applicant_id__checksum_ok=1.0, applicant_id__valid=1.0, applicant_id__age=34.0,
              device__emulator=0.0, device__rooted=0.0, amount=8000.0, term_months=6.0,
              channel="app", product="cash", ip="p:ab12", ip_prefix="p:cd34")
    return ev


class NaiveInterpreter:
    """Baseline: walk each rule's Python AST on every call (no compilation)."""

    _CMP = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge}

    def __init__(self, rs: RuleSet) -> None:
        self.trees = [(r, ast.parse(r.when.replace("@", "_list_"), mode="eval").body) for r in rs.rules]
        self.lists = {"_list_" + k: set(v.values) for k, v in rs.lists.items()}

    def value(self, node: ast.AST, ev: dict[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.lists.get(node.id, ev.get(node.id))
        if isinstance(node, ast.List):
            return [self.value(e, ev) for e in node.elts]
        if isinstance(node, ast.BoolOp):
            vals = (self.value(v, ev) for v in node.values)
            return all(vals) if isinstance(node.op, ast.And) else any(vals)
        if isinstance(node, ast.UnaryOp):
            return not self.value(node.operand, ev)
        if isinstance(node, ast.Compare):
            left = self.value(node.left, ev)
            for op, right_node in zip(node.ops, node.comparators):
                right = self.value(right_node, ev)
                if left is None or right is None:
                    return False
                if isinstance(op, ast.In):
                    ok = left in right
                elif isinstance(op, ast.NotIn):
                    ok = left not in right
                else:
                    ok = self._CMP[type(op)](left, right)
                if not ok:
                    return False
                left = right
            return True
        raise TypeError(type(node).__name__)  # pragma: no cover

    def evaluate(self, ev: dict[str, Any]) -> list[str]:
        return [r.code for r, t in self.trees if self.value(t, ev)]


def per_call_us(fn: Any, args: list[Any], repeat: int) -> float:
    """Median over ``repeat`` rounds of the mean per-call time (us) over ``args``."""
    for a in args[:200]:
        fn(a)
    rounds = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for a in args:
            fn(a)
        rounds.append((time.perf_counter() - t0) / len(args) * 1e6)
    return statistics.median(rounds)


def columns(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {f: rng.integers(0, 6, n).astype(np.float64) for f in FEATURES}
    cols["amount"] = rng.lognormal(8.5, 1.0, n)
    cols["applicant_id__age"] = rng.integers(16, 80, n).astype(np.float64)
    for f in FEATURES:
        cols[f][rng.random(n) < 0.05] = np.nan
    cols["channel"] = rng.choice(np.array(["app", "web", "h5", "partner", None], dtype=object), n)
    cols["product"] = rng.choice(np.array(["cash", "cash_night", None], dtype=object), n)
    cols["ip"] = rng.choice(np.array([f"p:{i:04x}" for i in range(5000)] + [None], dtype=object), n)
    cols["ip_prefix"] = rng.choice(np.array([f"p:{i:04x}" for i in range(500)], dtype=object), n)
    return cols


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (about 20 s)")
    args = ap.parse_args(argv)
    rows = 200_000 if args.quick else 1_000_000
    repeat = 3 if args.quick else 5
    rng = np.random.default_rng(1)
    rs = fifty_rules()
    crs = rs.compile(FEATURES + STRINGS, identifier_names=["ip", "ip_prefix"])
    n_rules = len(crs.codes)
    events = [event(rng) for _ in range(2_000 if args.quick else 10_000)]
    hits_per_event = statistics.mean(len(crs.evaluate(e)) for e in events)
    naive = NaiveInterpreter(rs)
    one = per_call_us(crs.evaluate, events, repeat)
    one_naive = per_call_us(naive.evaluate, events[: len(events) // 4], repeat)
    print(f"{n_rules} rules, {hits_per_event:.2f} hits per event on average")

    cols = columns(rows, rng)
    times = []
    crs.evaluate_columns({k: v[:1000] for k, v in cols.items()}, min(rows, 1000))
    for _ in range(repeat):
        t0 = time.perf_counter()
        m = crs.evaluate_columns(cols, rows)
        m.action_codes()
        times.append(time.perf_counter() - t0)
    vec_rate = rows / statistics.median(times)
    k = 20_000
    sample = [{name: col[i] for name, col in cols.items()} for i in range(k)]
    scalar_rate = 1e6 / per_call_us(crs.evaluate, sample, repeat)
    params = {"rules": n_rules, "hits_per_event": round(hits_per_event, 3)}
    results = [
        result("rules_50_one_event_median", one, "us", "naive_ast_interpreter", one_naive,
               {**params, "goal_us": 10.0}),
        result("rules_50_columns", vec_rate, "rows/s", "scalar_evaluator_row_by_row", scalar_rate,
               {**params, "rows": rows}),
    ]
    write_results("bench_rules", results)


if __name__ == "__main__":
    main()
