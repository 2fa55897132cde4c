"""``fraudscore bench``: the benchmark suite (JSON plus a short Markdown report).

Groups (one module each): ``single`` (one event end to end, default and large
bundle, stage breakdown), ``redis`` (one event with the Redis store), ``batch``
(``score_batch`` against bare LightGBM predict), ``scaling`` (entities, history,
rules, trees, rescoring) and ``concurrency`` (processes sharing one Redis store).
``--quick`` runs small sizes in about a minute (CI). Results (``suite.json``
and ``suite.md``) go where ``--out`` says, by default the current directory;
the committed results of a source checkout (``benchmarks/results``) are only
replaced with ``--update-committed`` (``python benchmarks/run_suite.py`` passes
it). ``--check`` exits with code 1 when a goal is not met. See
``docs/benchmarks.md``.

Examples
--------
>>> import argparse
>>> sub = argparse.ArgumentParser().add_subparsers()
>>> p = add_command(sub)
>>> p.parse_args(["--quick", "--only", "batch"]).only
['batch']
>>> unmet([{"goal": "g", "met": False}, {"goal": "h", "met": None}])
['g']
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .common import Settings, machine_info
from .report import check_goals, render_markdown

__all__ = ["GROUPS", "run_suite", "add_command", "committed_results_dir", "unmet"]

log = logging.getLogger("fraudscore")

GROUPS: tuple[str, ...] = ("single", "redis", "batch", "scaling", "concurrency")
_MODULES = {"single": "single", "redis": "store", "batch": "batch", "scaling": "scaling",
            "concurrency": "concurrency"}


def committed_results_dir() -> Path | None:
    """``benchmarks/results`` of the source checkout this package runs from (an editable install), else ``None``."""
    src = Path(__file__).resolve().parents[2]
    d = src / "benchmarks" / "results"
    return d if (src / "pyproject.toml").is_file() and d.is_dir() else None


def unmet(goals: list[dict[str, Any]]) -> list[str]:
    """The goals measured and not met (goals not measured do not count)."""
    return [g["goal"] for g in goals if g.get("met") is False]


def run_suite(*, quick: bool = False, out: str | Path | None = None, only: Sequence[str] | None = None,
              settings: Settings | None = None, log: Callable[[str], Any] = log.info) -> dict[str, Any]:
    """Run the suite and write ``suite.json`` and ``suite.md`` into ``out``; returns the JSON document.

    Parameters
    ----------
    quick : bool
        Small sizes (CI); otherwise the full sizes.
    out : path, optional
        Output directory (default: the current directory).
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
    out_dir = Path(out) if out is not None else Path.cwd()
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
                              description="Run the benchmark suite and write suite.json and suite.md into --out (by "
                                          "default the current directory). Every figure is a median of repeated runs "
                                          "with a ratio against a baseline measured in the same run. With --check, "
                                          "exit with code 1 when a goal is not met.")
    p.add_argument("--quick", action="store_true", help="small sizes, about a minute (CI)")
    p.add_argument("--out", help="output directory (default: the current directory)")
    p.add_argument("--only", nargs="+", choices=GROUPS, metavar="NAME",
                   help=f"run only these groups: {', '.join(GROUPS)}")
    p.add_argument("--check", action="store_true", help="exit with code 1 when a measured goal is not met")
    p.add_argument("--update-committed", action="store_true",
                   help="allow replacing the committed results of this source checkout (benchmarks/results)")
    p.set_defaults(func=_run)
    return p


def _run(args: argparse.Namespace) -> int:
    from ..cli import EXIT_CHECK_FAILED, UsageError

    out = Path(args.out) if args.out else Path.cwd()
    committed = committed_results_dir()
    if committed is not None and out.resolve() == committed.resolve() and not args.update_committed:
        raise UsageError(f"{out} holds the committed benchmark results of this checkout; choose another --out, "
                         "or pass --update-committed to replace them")
    doc = run_suite(quick=args.quick, out=out, only=args.only, log=print)
    for g in doc["goals"]:
        met = {True: "met", False: "NOT met", None: "not measured"}[g["met"]]
        val = "-" if g["measured"] is None else f"{g['measured']:,.3g}"
        print(f"  {g['goal']:<66} {val:>10}  {met}")
    missed = unmet(doc["goals"])
    if args.check and missed:
        print(f"fraudscore bench: {len(missed)} goal(s) not met: {'; '.join(missed)}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    return 0
