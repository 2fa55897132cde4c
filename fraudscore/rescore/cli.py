"""The ``fraudscore score`` and ``fraudscore diff`` commands (registered by :func:`add_command`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_command"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="applications in arrival order, .csv or .parquet")
    p.add_argument("--labels", help="known labels (application_id, is_fraud, label_time), for label-delayed features")
    p.add_argument("--chunk-rows", type=int, default=100_000, metavar="N",
                   help="rows per chunk; memory grows with it (default: 100000)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--key-env", default="FRAUDSCORE_KEY", metavar="VAR",
                   help="environment variable holding the secret key (default: FRAUDSCORE_KEY)")


def add_command(sub: Any) -> None:
    """Register ``score`` and ``diff`` on an ``argparse`` sub-parsers object."""
    p = sub.add_parser("score", help="rescore a history with a bundle, in chunks (bounded memory)",
                       description="Score INPUT (CSV or Parquet, arrival order) with a bundle, chunk by chunk and "
                                   "point-in-time correct across chunks, and write one row per application: input "
                                   "row, id, score, probability, action, top reasons. Bad rows go to a side file.")
    _common(p)
    p.add_argument("--bundle", required=True, help="bundle directory or zip")
    p.add_argument("--out", required=True, help="output file (.parquet or .csv)")
    p.add_argument("--features", action="store_true", help="include the feature columns")
    p.add_argument("--errors", help="side CSV for rejected rows (default: OUT with .errors.csv)")
    p.set_defaults(func=_run_score)

    d = sub.add_parser("diff", help="compare the decisions of two bundles on one history",
                       description="Rescore INPUT with bundle A (--bundle) and bundle B (--against, default: A's "
                                   "challenger) and report how many decisions change, the action matrix, the score "
                                   "shift and the reasons that appear or disappear on changed rows; with --labels, "
                                   "also the precision and recall of each action and the average precision of each "
                                   "bundle against the outcomes, by --segment.")
    _common(d)
    d.add_argument("--bundle", required=True, help="bundle A (current), directory or zip")
    d.add_argument("--against", help="bundle B (candidate), directory or zip (default: the challenger of A)")
    d.add_argument("--segment", action="append", default=[], metavar="FIELD",
                   help="break the evaluation against labels down by this schema field (repeatable)")
    d.add_argument("--out", required=True, help="report file: .md (Markdown) or .json")
    d.add_argument("--top", type=int, default=10, help="examples of changed decisions to list (default: 10)")
    d.set_defaults(func=_run_diff)


def _key(args: argparse.Namespace) -> Any:
    from ..keys import Keys

    return Keys.from_env(args.key_env)


def _run_score(args: argparse.Namespace) -> int:
    from . import rescore

    err_path = args.errors or str(Path(args.out).with_suffix("")) + ".errors.csv"
    summary = rescore(args.input, args.bundle, args.out, chunk_rows=args.chunk_rows, labels=args.labels,
                      with_features=args.features, errors_out=err_path, progress=not args.no_progress,
                      key=_key(args))
    print(f"{summary.render()}\nresults -> {args.out}; rejected rows -> {err_path}")
    return 0


def _run_diff(args: argparse.Namespace) -> int:
    from .diff import diff_bundles

    key = _key(args)
    rep = diff_bundles(args.input, args.bundle, args.against, key=key, labels=args.labels,
                       chunk_rows=args.chunk_rows, top_n=args.top, out=args.out, progress=not args.no_progress,
                       segment=args.segment or None)
    share = rep.changed / rep.rows if rep.rows else 0.0
    print(f"{rep.rows:,} rows compared, {rep.changed:,} decisions change ({share:.2%}); report -> {args.out}",
          file=sys.stdout)
    for side in ("a", "b"):
        e = rep.evaluation.get(side, {}).get("all")
        if e:
            print(f"  {side.upper()}: flagged precision {e['precision']['flagged']:.3f}, recall "
                  f"{e['recall']['flagged']:.3f}, AP {e['average_precision']:.3f} on {e['labelled']:,} labelled rows")
    return 0
