"""The ``fraudscore monitor`` command."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_command"]


def add_command(sub: Any) -> None:
    """Register ``fraudscore monitor`` on an ``argparse`` sub-parsers object."""
    from ..cli import key_arg

    p = sub.add_parser("monitor", help="stability, action rates and performance of scored output, with alerts",
                       description="Compare scored output (the file 'fraudscore score --features' writes) with the "
                                   "training reference stored in the bundle: PSI of the score and of each feature "
                                   "per day or week, action rates, precision / recall as labels arrive, and alerts "
                                   "(PSI >= 0.1 warning, >= 0.25 alert). Writes monitor.json, monitor.md and PNG "
                                   "charts (with the 'plot' extra) into --out.")
    p.add_argument("scored", help="scored output, .csv or .parquet (with the 'ts' column; --features for feature PSI)")
    p.add_argument("--bundle", required=True, help="the bundle that scored it (directory or zip)")
    p.add_argument("--labels", help="labels (application_id, is_fraud, label_time), .csv or .parquet")
    p.add_argument("--as-of", help="count only labels known by this time (ISO date-time; default: all given)")
    p.add_argument("--freq", choices=("day", "week"), default="day", help="period length (default: day)")
    p.add_argument("--out", required=True, help="directory for monitor.json, monitor.md and the charts")
    p.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    p.add_argument("--psi-warn", type=float, default=0.1, help="PSI warning level (default: 0.1)")
    p.add_argument("--psi-alert", type=float, default=0.25, help="PSI alert level (default: 0.25)")
    p.add_argument("--min-rows", type=int, default=200, help="fewest rows for a period to be alerted on (default: 200)")
    p.add_argument("--fail-on-alert", action="store_true", help="exit with status 3 when there is an alert")
    key_arg(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..bundle import Bundle
    from ..cli import keys_from, read_table
    from .report import AlertRules, monitor

    bundle = Bundle.load(args.bundle, key=keys_from(args))
    scored = read_table(args.scored)
    labels = read_table(args.labels) if args.labels else None
    rules = AlertRules(psi_warn=args.psi_warn, psi_alert=args.psi_alert, min_rows=args.min_rows)
    rep = monitor(scored, bundle, labels, as_of=args.as_of, freq=args.freq, rules=rules)
    written = rep.save(Path(args.out), charts=not args.no_charts)
    n_alert = sum(a.level == "alert" for a in rep.alerts)
    n_warn = len(rep.alerts) - n_alert
    print(f"{len(rep.periods)} periods, {n_alert} alerts, {n_warn} warnings; report -> {written['markdown']}")
    for a in sorted(rep.alerts, key=lambda a: a.period):
        if a.level == "alert":
            print(f"  {a.period} ALERT {a.kind} {a.subject}: {a.message}")
    return 3 if (args.fail_on_alert and n_alert) else 0
