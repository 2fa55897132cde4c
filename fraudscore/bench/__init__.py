"""``fraudscore bench``: the benchmark suite (JSON plus a short Markdown report).

Groups (one module each): ``single`` (one event end to end, default and large
bundle, stage breakdown), ``redis`` (one event with the Redis store), ``batch``
(``score_batch`` against bare LightGBM predict), ``scaling`` (entities, history,
rules, trees, rescoring) and ``concurrency`` (processes sharing one Redis store).
``--quick`` runs small sizes in about a minute (CI); the full run writes
``benchmarks/results/suite.json`` and ``suite.md``. See ``docs/benchmarks.md``.

Examples
--------
>>> import argparse
>>> sub = argparse.ArgumentParser().add_subparsers()
>>> p = add_command(sub)
>>> p.parse_args(["--quick", "--only", "batch"]).only
['batch']
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .common import Settings, machine_info
from .report import check_goals, render_markdown

__all__ = ["GROUPS", "run_suite", "add_command", "default_out_dir"]

GROUPS: tuple[str, ...] = ("single", "redis", "batch", "scaling", "concurrency")
_MODULES = {"single": "single", "redis": "store", "batch": "batch", "scaling": "scaling",
            "concurrency": "concurrency"}


def default_out_dir() -> Path:
    """``benchmarks/results`` of the source tree (or of the working directory when installed)."""
    src = Path(__file__).resolve().parents[2] / "benchmarks"
    return (src if src.is_dir() else Path.cwd() / "benchmarks") / "results"


def run_suite(*, quick: bool = False, out: str | Path | None = None, only: Sequence[str] | None = None,
              settings: Settings | None = None, log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Run the suite and write ``suite.json`` and ``suite.md`` into ``out``; returns the JSON document.

    Parameters
    ----------
    quick : bool
        Small sizes (CI); otherwise the full sizes.
    out : path, optional
        Output directory (default :func:`default_out_dir`).
    only : sequence of str, optional
        Group names to run (default all of :data:`GROUPS`).
    settings : Settings, optional
        Explicit sizes (overrides ``quick``).
    """
    import importlib

    from .bundles import BenchContext

    only = list(only or GROUPS)
    unknown = sorted(set(only) - set(GROUPS))
    if unknown:
        raise ValueError(f"unknown benchmark groups {unknown}; known: {list(GROUPS)}")
    settings = settings or Settings.for_mode(quick)
    out_dir = Path(out) if out is not None else default_out_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = BenchContext(settings, log=log)
    results: list[dict[str, Any]] = []
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    try:
        for g in (g for g in GROUPS if g in only):
            t0 = time.perf_counter()
            mod = importlib.import_module(f"{__name__}.{_MODULES[g]}")
            rows = mod.run(ctx)
            for r in rows:
                r["group"] = g
            results.extend(rows)
            timings[g] = time.perf_counter() - t0
        bundles = {name: ctx.describe(name) for name in ("default", "large") if name in ctx._bundles}
    finally:
        ctx.close()
    timings["total"] = time.perf_counter() - t_all
    doc = {"machine": machine_info(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "mode": "quick" if settings.quick else "full", "groups": [g for g in GROUPS if g in only],
           "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(settings).items()},
           "bundles": bundles, "results": results, "goals": check_goals(results), "notes": ctx.notes,
           "timings": timings}
    (out_dir / "suite.json").write_text(json.dumps(doc, indent=2, default=float), encoding="utf-8")
    (out_dir / "suite.md").write_text(render_markdown(doc), encoding="utf-8")
    log(f"results -> {out_dir / 'suite.json'} and {out_dir / 'suite.md'} ({timings['total']:.0f} s)")
    return doc


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``fraudscore bench`` on a sub-parser collection."""
    p = subparsers.add_parser("bench", help="run the benchmark suite (JSON + Markdown report)",
                              description="Run the benchmark suite and write suite.json and suite.md. Every figure "
                                          "is a median of repeated runs with a ratio against a baseline measured in "
                                          "the same run.")
    p.add_argument("--quick", action="store_true", help="small sizes, about a minute (CI)")
    p.add_argument("--out", help="output directory (default: benchmarks/results)")
    p.add_argument("--only", nargs="+", choices=GROUPS, metavar="NAME",
                   help=f"run only these groups: {', '.join(GROUPS)}")
    p.set_defaults(func=_run)
    return p


def _run(args: argparse.Namespace) -> int:
    doc = run_suite(quick=args.quick, out=args.out, only=args.only)
    for g in doc["goals"]:
        met = {True: "met", False: "NOT met", None: "not measured"}[g["met"]]
        val = "-" if g["measured"] is None else f"{g['measured']:,.3g}"
        print(f"  {g['goal']:<66} {val:>10}  {met}")
    return 0
