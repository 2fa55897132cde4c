"""The suite's goals and its Markdown report.

Examples
--------
>>> rows = [{"group": "single", "name": "single/large/e2e_p99", "value": 50.0, "unit": "us",
...          "baseline_name": "m", "baseline_value": 10.0, "ratio": 0.2, "params": {}}]
>>> [(g["goal"], g["met"]) for g in check_goals(rows)][:1]
[('single event, large bundle, p99 <= 60 us', True)]
>>> "| single/large/e2e_p99 |" in render_markdown({"machine": {}, "results": rows, "goals": check_goals(rows),
...                                                 "notes": [], "mode": "quick", "created": "now"})
True
"""

from __future__ import annotations

from typing import Any

__all__ = ["GOALS", "check_goals", "render_markdown"]

# (description, result name (or name prefix for "all"), comparison, target, field)
GOALS: tuple[tuple[str, str, str, float, str], ...] = (
    ("single event, large bundle, p99 <= 60 us", "single/large/e2e_p99", "<=", 60.0, "value"),
    ("single event, large bundle, p99 <= 60 us in thread CPU time (no preemption)", "single/large/e2e_cpu_p99",
     "<=", 60.0, "value"),
    ("everything except the model <= 15 us at the median (large bundle)", "single/large/non_model_p50", "<=", 15.0,
     "value"),
    ("single event with Redis, p99 <= 250 us", "redis/default/e2e_p99", "<=", 250.0, "value"),
    ("Redis: one round trip per event (one node, one worker)", "redis/default/round_trips_per_event", "<=", 1.0,
     "value"),
    ("Redis Cluster feature p99 <= 2x one node", "redis_cluster/default/features_p99_vs_one_node", ">=", 0.5,
     "ratio"),
    ("2 processes on one Redis node >= 1.7x one", "concurrency/redis/events_per_s/2_procs", ">=", 1.7, "ratio"),
    ("4 processes on one Redis node >= 3x one", "concurrency/redis/events_per_s/4_procs", ">=", 3.0, "ratio"),
    ("batch >= 1.0x bare LightGBM predict (largest size run)", "batch/*/events_per_s/", ">=", 1.0, "ratio"),
    ("batch >= 0.8x bare LightGBM predict (floor, largest size run)", "batch/*/events_per_s/", ">=", 0.8, "ratio"),
    ("entities 10k -> 1M in state: throughput >= 0.8x", "scaling/entities/events_per_s/1000000", ">=", 0.8, "ratio"),
    ("memory store <= 128 B per entity-window (largest size run)", "scaling/memory/bytes_per_entity_window", "<=",
     128.0, "value"),
)


def _unit(field: str, name: str) -> str:
    if field == "ratio":
        return "x"
    return " B" if "bytes" in name else " us"


def _size(name: str) -> int:
    try:
        return int(name.rsplit("/", 1)[-1])
    except ValueError:
        return -1


def check_goals(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each goal with its measured figure and whether it is met (``None`` when not measured)."""
    by_name = {r["name"]: r for r in results}
    out = []
    for desc, name, op, target, field in GOALS:
        if "*" in name:
            head, tail = name.split("*")
            cands = [r for r in results if r["name"].startswith(head) and tail in r["name"]]
            # the largest batch size measured, on the largest bundle measured
            cands.sort(key=lambda r: (r["params"].get("bundle") == "large", _size(r["name"])))
            row = cands[-1] if cands else None
        else:
            row = by_name.get(name)
        val = None if row is None else row.get(field)
        met = None if val is None else (val <= target if op == "<=" else val >= target)
        out.append({"goal": desc, "result": None if row is None else row["name"], "measured": val,
                    "target": f"{op} {target:g}{_unit(field, name)}", "met": met})
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    return str(v)


def render_markdown(doc: dict[str, Any]) -> str:
    """The short Markdown report of a suite document (``suite.json``)."""
    m = doc.get("machine", {})
    lines = [f"# fraudscore benchmark suite ({doc.get('mode', '?')} run, {doc.get('created', '?')})", "",
             "Machine: " + ", ".join(f"{k} {m[k]}" for k in ("cpu", "cpu_count", "mem_total_gib", "platform", "python",
                                                           "lightgbm", "fraudscore") if k in m), "",
             "Every figure is a median of repeated runs; ratios are against a baseline measured in the same run "
             "(above 1 = fraudscore faster).", "", "## Goals", "", "| goal | measured | target | met |",
             "|---|---|---|---|"]
    for g in doc.get("goals", []):
        met = {True: "yes", False: "**no**", None: "not measured"}[g["met"]]
        lines.append(f"| {g['goal']} | {_fmt(g['measured'])} | {g['target']} | {met} |")
    if doc.get("bundles"):
        lines += ["", "## Reference bundles", ""]
        lines += [f"- {k}: " + ", ".join(f"{a} {b}" for a, b in v.items()) for k, v in doc["bundles"].items()]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in doc.get("results", []):
        groups.setdefault(r.get("group", r["name"].split("/")[0]), []).append(r)
    for g, rows in groups.items():
        lines += ["", f"## {g}", "", "| result | value | unit | baseline | baseline value | ratio |",
                  "|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['name']} | {_fmt(r['value'])} | {r['unit']} | {r['baseline_name'] or '-'} | "
                         f"{_fmt(r['baseline_value'])} | {_fmt(r['ratio'])} |")
    if doc.get("timings"):
        lines += ["", "Group wall times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in doc["timings"].items())]
    if doc.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in doc["notes"]]
    return "\n".join(lines) + "\n"
