"""The ``fraudscore score`` and ``fraudscore diff`` commands (registered by :func:`add_command`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_command"]


def _common(p: argparse.ArgumentParser) -> None:
    from ..cli import key_arg, max_rejected_arg

    p.add_argument("input", help="applications: .csv, .csv.gz, .parquet or a folder of .parquet files "
                                 "(scored in event-time order)")
    p.add_argument("--labels", help="known labels (the id column, is_fraud, label_time), for label-delayed features")
    p.add_argument("--chunk-rows", type=int, default=100_000, metavar="N",
                   help="rows per chunk; memory grows with it (default: 100000)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    max_rejected_arg(p)
    key_arg(p)
    p.add_argument("--now", metavar="TIME",
                   help="the replay's clock for the clock-skew bound: rows more than 5 minutes after it are "
                        "refused (ISO time or epoch ms; default: the wall clock)")


def add_command(sub: Any) -> None:
    """Register ``score`` and ``diff`` on an ``argparse`` sub-parsers object."""
    p = sub.add_parser("score", help="rescore a history with a bundle, in chunks (bounded memory)",
                       description="Score INPUT with a bundle, chunk by chunk and point-in-time correct across "
                                   "chunks, in event-time order (a stable sort; a file already in time order is "
                                   "streamed), and write one row per application: input row, id, score, "
                                   "probability, action, top reasons. Rejected rows go to a side CSV, written only "
                                   "when a row is rejected. With --state-in/--state-out a run continues where the "
                                   "previous one stopped (monthly rescoring without re-sending history).")
    _common(p)
    p.add_argument("--bundle", required=True, help="bundle directory or zip")
    p.add_argument("--out", required=True, help="output file (.parquet or .csv)")
    p.add_argument("--features", action="store_true", help="include the feature columns")
    p.add_argument("--errors", help="side CSV for rejected rows (default: OUT with .errors.csv)")
    p.add_argument("--state-in", metavar="DIR", help="start from the scoring state saved by an earlier run")
    p.add_argument("--state-out", metavar="DIR", help="save the scoring state where this run ends")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="score on a Dask cluster (extra 'dask'): a scheduler address such as tcp://host:8786, or "
                        "local:N for N local worker processes; INPUT must be Parquet (a file or a folder) and "
                        "OUT a folder, one part-<i>.parquet per input partition (docs/scaling.md)")
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


def _check_chunk_rows(args: argparse.Namespace) -> None:
    from ..cli import UsageError

    if args.chunk_rows < 1:
        raise UsageError("--chunk-rows must be at least 1")


def _scorer(bundle: str, key: Any, args: argparse.Namespace) -> Any:
    """The bundle path, or its scorer with the replay's clock when ``--now`` is given."""
    if args.now is None:
        return bundle
    from ..cli import UsageError
    from ..scorer import load
    from ..timeutil import to_epoch_ms

    try:
        now = to_epoch_ms(int(args.now) if args.now.isdigit() else args.now)
    except (TypeError, ValueError):
        raise UsageError("--now: give an ISO time (2027-01-01T00:00:00Z) or epoch milliseconds") from None
    return load(bundle, key=key, clock=lambda: now)


def _run_score(args: argparse.Namespace) -> int:
    from ..cli import keys_from
    from . import rescore

    _check_chunk_rows(args)
    keys = keys_from(args)
    if args.dask:
        return _run_score_dask(args, keys)
    if Path(args.out).suffix.lower() not in (".csv", ".parquet", ".pq"):
        from ..cli import UsageError

        raise UsageError(f"--out {args.out}: use a .csv or .parquet file name")
    err_path = args.errors or str(Path(args.out).with_suffix("")) + ".errors.csv"
    summary = rescore(args.input, _scorer(args.bundle, keys, args), args.out, chunk_rows=args.chunk_rows, labels=args.labels,
                      with_features=args.features, errors_out=err_path, progress=not args.no_progress,
                      key=keys, sort_by_time=True, state_in=args.state_in, state_out=args.state_out)
    return _report(args, summary)


def _run_score_dask(args: argparse.Namespace, keys: Any) -> int:
    from ..cli import UsageError

    if args.state_in or args.state_out:
        raise UsageError("--dask does not continue or save a scoring state (--state-in/--state-out): a warm "
                         "start replays one process's state; score the whole history instead")
    if Path(args.out).suffix.lower() in (".csv", ".parquet", ".pq"):
        raise UsageError(f"--out {args.out}: with --dask, give a folder (one part-<i>.parquet per input partition)")
    from ..distributed import connect, score_dask

    err_path = args.errors or str(Path(args.out)) + ".errors.csv"
    client, cluster = connect(args.dask)
    try:
        summary = score_dask(client, args.bundle, args.input, args.out, key=keys, labels=args.labels,
                             with_features=args.features, errors_out=err_path, sort_by_time=True)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return _report(args, summary)


def _report(args: argparse.Namespace, summary: Any) -> int:
    from ..cli import EXIT_BAD_INPUT

    print(summary.render())
    print(f"results -> {args.out}")
    if args.state_out:
        print(f"scoring state -> {args.state_out}")
    if not summary.rows_rejected:
        print("no rows rejected")
        return 0
    share = summary.rows_rejected / summary.rows_in if summary.rows_in else 1.0
    print(f"rejected rows -> {summary.errors_out}")
    if share > args.max_rejected or not summary.rows_scored:
        print(f"fraudscore score: error: {summary.rows_rejected:,} of {summary.rows_in:,} rows ({share:.1%}) were "
              f"rejected, more than --max-rejected {args.max_rejected:.0%}; first: {summary.first_error}; "
              f"all in {summary.errors_out}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"fraudscore score: warning: {summary.rows_rejected:,} row(s) rejected; first: {summary.first_error}",
          file=sys.stderr)
    return 0


def _run_diff(args: argparse.Namespace) -> int:
    from ..cli import EXIT_BAD_INPUT, keys_from
    from .diff import diff_bundles

    _check_chunk_rows(args)
    key = keys_from(args)
    rep = diff_bundles(args.input, _scorer(args.bundle, key, args), _scorer(args.against, key, args), key=key, labels=args.labels,
                       chunk_rows=args.chunk_rows, top_n=args.top, out=args.out, progress=not args.no_progress,
                       sort_by_time=True, segment=args.segment or None)
    share = rep.changed / rep.rows if rep.rows else 0.0
    print(f"{rep.rows:,} rows compared, {rep.changed:,} decisions change ({share:.2%}); report -> {args.out}")
    for side in ("a", "b"):
        e = rep.evaluation.get(side, {}).get("all")
        if e:
            print(f"  {side.upper()}: flagged precision {e['precision']['flagged']:.3f}, recall "
                  f"{e['recall']['flagged']:.3f}, AP {e['average_precision']:.3f} on {e['labelled']:,} labelled rows")
    total = rep.rows + rep.rejected
    if rep.rejected and (not rep.rows or rep.rejected / total > args.max_rejected):
        print(f"fraudscore diff: error: {rep.rejected:,} of {total:,} rows were rejected, more than "
              f"--max-rejected {args.max_rejected:.0%}; run 'fraudscore score' on the input to see which",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0
