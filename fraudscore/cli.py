"""The ``fraudscore`` command line (also ``python -m fraudscore``).

Sub-commands are registered by small ``_add_*`` functions below, one per
command, each with its own ``--help``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import FraudscoreError

__all__ = ["main", "build_parser", "read_table", "write_table"]


def read_table(path: str | Path, schema: Any = None) -> Any:
    """Read a CSV or Parquet file into a ``pandas.DataFrame`` (extra ``pandas``).

    CSV columns of the schema's string fields and ``device.*`` columns are read
    as text, so identifiers such as phone numbers keep their leading ``+`` and
    zeros (the default loan schema when ``schema`` is None).
    """
    from ._compat import require_pandas
    from .rescore import _csv_dtypes
    from .schema import DEFAULT_SCHEMA

    pd = require_pandas()
    p = Path(path)
    if p.suffix in (".parquet", ".pq"):
        return pd.read_parquet(p)
    if p.suffix in (".csv", ".gz", ".txt"):
        return pd.read_csv(p, dtype=_csv_dtypes(p, schema or DEFAULT_SCHEMA))
    raise FraudscoreError(f"{p}: unknown file type {p.suffix!r}; use .csv or .parquet")


def write_table(df: Any, path: str | Path) -> None:
    """Write a DataFrame as CSV or Parquet, by file extension."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix in (".parquet", ".pq"):
        df.to_parquet(p)
    else:
        df.to_csv(p, index=False)


def _key_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key-env", default="FRAUDSCORE_KEY", metavar="VAR",
                        help="environment variable holding the secret key (default: FRAUDSCORE_KEY)")


def _keys(args: argparse.Namespace) -> Any:
    from .keys import Keys

    return Keys.from_env(args.key_env)


# -- demo --------------------------------------------------------------------------------
def _add_demo(sub: Any) -> None:
    p = sub.add_parser("demo", help="train and score on built-in synthetic data, print a report",
                       description="Generate synthetic loan applications, train a bundle on the earlier weeks, "
                                   "score the last week online and in batch, and print metrics and throughput.")
    p.add_argument("--days", type=int, default=35, help="days of synthetic applications (default: 35)")
    p.add_argument("--per-day", type=int, default=1500, help="applications per day (default: 1500)")
    p.add_argument("--test-days", type=int, default=7, help="last days scored as the test period (default: 7)")
    p.add_argument("--seed", type=int, default=4, help="random seed (default: 4)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    report = run_demo(days=args.days, per_day=args.per_day, test_days=args.test_days, seed=args.seed,
                      show_progress=not args.no_progress)
    print(report.render())
    return 0


# -- synth -------------------------------------------------------------------------------
def _add_synth(sub: Any) -> None:
    p = sub.add_parser("synth", help="write synthetic applications and labels to CSV/Parquet",
                       description="Generate a seeded stream of synthetic loan applications with known fraud. "
                                   "Device attributes are written as flattened 'device.<name>' columns.")
    p.add_argument("out", help="output file for applications (.parquet or .csv)")
    p.add_argument("--labels", required=True, help="output file for labels (.parquet or .csv)")
    p.add_argument("--days", type=int, default=28, help="days to generate (default: 28)")
    p.add_argument("--per-day", type=int, default=2000, help="applications per day (default: 2000)")
    p.add_argument("--fraud-rate", type=float, default=0.03, help="share of fraudulent applications (default: 0.03)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--start", default="2026-01-05", help="first day, ISO date (default: 2026-01-05)")
    p.set_defaults(func=_run_synth)


def _run_synth(args: argparse.Namespace) -> int:
    from .synth import generate

    data = generate(n_days=args.days, per_day=args.per_day, fraud_rate=args.fraud_rate, seed=args.seed,
                    start=args.start)
    events, labels = data.to_pandas(flatten_device=True)
    write_table(events, args.out)
    write_table(labels, args.labels)
    print(f"wrote {len(events):,} applications to {args.out} and labels to {args.labels}")
    return 0


# -- train -------------------------------------------------------------------------------
def _add_train(sub: Any) -> None:
    p = sub.add_parser("train", help="train a bundle from a labelled history",
                       description="Compute point-in-time features over HISTORY (CSV or Parquet, arrival order), "
                                   "train LightGBM with a time-ordered split, choose thresholds and save a bundle.")
    p.add_argument("history", help="applications, .csv or .parquet")
    p.add_argument("labels", help="labels with application_id, is_fraud, label_time (.csv or .parquet)")
    p.add_argument("--out", required=True, help="bundle directory to write")
    p.add_argument("--config", help="fraudscore.toml with [model], [features] and [rules] sections")
    p.add_argument("--zip", action="store_true", help="also write DIR.zip")
    p.add_argument("--report", metavar="DIR",
                   help="where to write the model report (report.md, report.json, PNG charts; default: OUT.report)")
    p.add_argument("--no-report", action="store_true", help="do not write the model report")
    _key_arg(p)
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from .train import train

    history, labels = read_table(args.history), read_table(args.labels)
    result = train(history, labels, key=_keys(args), config=args.config)
    path = result.save(args.out, zip=args.zip)
    m = result.bundle.model.metrics
    print(f"trained on {len(result.y):,} rows ({len(result.errors)} rejected); validation "
          f"AUC {m.get('roc_auc', float('nan')):.3f}, AP {m.get('average_precision', float('nan')):.3f}")
    print(f"bundle written to {path}")
    if not args.no_report:
        where = Path(args.report) if args.report else Path(args.out).with_name(Path(args.out).name + ".report")
        written = result.report().save(where)
        print(f"model report written to {written['markdown']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="fraudscore", description="Fraud scoring for loan applications.")
    parser.add_argument("--version", action="version", version=f"fraudscore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    for mod in _COMMAND_MODULES:
        importlib.import_module(mod).add_command(sub)
    return parser


_COMMANDS = [_add_demo, _add_synth, _add_train]

# Commands that live beside the code they drive: each module defines ``add_command(subparsers)``.
_COMMAND_MODULES: tuple[str, ...] = (
    "fraudscore.rules.cli",
    "fraudscore.bench",
    "fraudscore.plausibility",
    "fraudscore.rescore",
    "fraudscore.challenger",
    "fraudscore.monitor",
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fraudscore`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FraudscoreError as exc:
        print(f"fraudscore {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"fraudscore {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
