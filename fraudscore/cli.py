"""The ``fraudscore`` command line (also ``python -m fraudscore``).

Sub-commands are registered by small ``_add_*`` functions below, one per
command, each with its own ``--help``; commands that live beside the code they
drive register themselves (``add_command`` in their module).

Every error is one line on stderr, ``fraudscore COMMAND: error: WHAT; WHAT TO DO``,
never a traceback, and the exit code says what kind of failure it was:

====  =====================================================================
code  meaning
====  =====================================================================
0     done
1     a check did not pass (``fraudscore bench --check``: a goal is unmet)
2     usage: a bad or missing command-line argument, no secret key
3     bad input: a data file, configuration, schema, rules, bundle or state
      that must be fixed (also: too many rejected rows, a missing extra)
4     internal error: a bug in fraudscore (``--debug`` shows the traceback)
130   interrupted (Ctrl-C)
====  =====================================================================

Examples
--------
>>> main(["train"])
2
>>> EXIT_CODES[3]
'bad input'
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ._version import __version__
from .errors import FraudscoreError, RuleSyntaxError

__all__ = ["main", "build_parser", "read_table", "write_table", "EXIT_CODES", "UsageError", "read_history"]

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_CODES: dict[int, str] = {0: "done", 1: "check failed", 2: "usage", 3: "bad input", 4: "internal error",
                              130: "interrupted"}
DEFAULT_MAX_REJECTED = 0.05

log = logging.getLogger("fraudscore")


class UsageError(Exception):
    """A command-line usage problem (exit code 2), reported as one line."""


class _Parser(argparse.ArgumentParser):
    """``argparse`` with one-line errors (exit code 2) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(EXIT_USAGE)


# -- shared helpers ------------------------------------------------------------------------
def read_table(path: str | Path, schema: Any = None, *, sort_by_time: bool = False) -> Any:
    """Read a CSV / Parquet file or a folder of Parquet files into a ``pandas.DataFrame`` (extra ``pandas``).

    See :class:`fraudscore.tables.TableFile`: text fields stay text, a bad cell
    rejects only its row later, a missing required column is an ``InputError``.
    """
    from .tables import read_table as _read

    return _read(path, schema, sort_by_time=sort_by_time)


def read_history(path: str | Path, schema: Any) -> tuple[Any, Any, list[Any]]:
    """An offline history for train / backtest: the rows in time order, their input row numbers and read errors."""
    from .tables import TableFile

    t = TableFile(path, schema, sort_by_time=True)
    frame, rows = t.read()
    return frame, rows, list(t.read_errors)


def write_table(df: Any, path: str | Path) -> None:
    """Write a DataFrame as CSV or Parquet, by file extension."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix in (".parquet", ".pq"):
        df.to_parquet(p)
    else:
        df.to_csv(p, index=False)


def key_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--key-env`` (where the secret key is read from)."""
    parser.add_argument("--key-env", default="FRAUDSCORE_KEY", metavar="VAR",
                        help="environment variable holding the secret key (default: FRAUDSCORE_KEY)")


def keys_from(args: argparse.Namespace) -> Any:
    """The secret key named by ``--key-env``, or a :class:`UsageError` in command-line words."""
    from .keys import Keys

    var = getattr(args, "key_env", "FRAUDSCORE_KEY")
    value = os.environ.get(var)
    if not value:
        raise UsageError(f"no secret key: set {var} to your key (at least 16 characters)"
                         + ("" if var != "FRAUDSCORE_KEY" else ", or name another variable with --key-env"))
    if len(value.encode("utf-8")) < 16:
        raise UsageError(f"the key in {var} is too short: use at least 16 characters")
    return Keys(value)


def max_rejected_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--max-rejected``."""
    parser.add_argument("--max-rejected", type=_share, default=DEFAULT_MAX_REJECTED, metavar="SHARE",
                        help="exit with code 3 when more than this share of rows is rejected "
                             f"(default: {DEFAULT_MAX_REJECTED}; 1 never fails)")


def _share(text: str) -> float:
    try:
        v = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a share: {text!r} (use e.g. 0.05 or 5%)") from None
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"a share must be between 0 and 1, got {text!r}")
    return v


def schema_from(path: str | None) -> Any:
    """The schema in a TOML file, or ``None``."""
    if not path:
        return None
    from .schema import Schema

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(2, "No such file or directory", str(p))
    return Schema.from_toml(p)


# -- demo --------------------------------------------------------------------------------
def _add_demo(sub: Any) -> None:
    p = sub.add_parser("demo", help="train and score on built-in synthetic data, print a report",
                       description="Generate synthetic loan applications, train a bundle on the earlier weeks, "
                                   "score the last week in batch (and a sample online, checking both agree), and "
                                   "print metrics, thresholds, a confusion table and throughput. The bundle and a "
                                   "PNG report (with matplotlib) are kept in --out.")
    p.add_argument("--days", type=int, default=35, help="days of synthetic applications (default: 35)")
    p.add_argument("--per-day", type=int, default=1500, help="applications per day (default: 1500)")
    p.add_argument("--test-days", type=int, default=7, help="last days scored as the test period (default: 7)")
    p.add_argument("--seed", type=int, default=4, help="random seed (default: 4)")
    p.add_argument("--online-sample", type=int, default=2000, metavar="N",
                   help="test events also scored online, one at a time, to check online = batch (default: 2000)")
    p.add_argument("--out", default="fraudscore-demo", metavar="DIR",
                   help="folder for the bundle and the report (default: ./fraudscore-demo)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    report = run_demo(days=args.days, per_day=args.per_day, test_days=args.test_days, seed=args.seed,
                      show_progress=not args.no_progress, out=args.out, online_sample=args.online_sample)
    print(report.render())
    return 0


# -- synth -------------------------------------------------------------------------------
def _add_synth(sub: Any) -> None:
    p = sub.add_parser("synth", help="write synthetic applications and labels to CSV/Parquet",
                       description="Generate a seeded stream of synthetic loan applications with known fraud "
                                   "(device attributes as flattened 'device.<name>' columns), or with --kind "
                                   "ecommerce a look-alike of a public e-commerce fraud table (one file, label "
                                   "column 'class').")
    p.add_argument("out", help="output file for applications (.parquet or .csv)")
    p.add_argument("--labels", help="output file for labels (.parquet or .csv; required for --kind loans)")
    p.add_argument("--kind", choices=("loans", "ecommerce"), default="loans",
                   help="loans (default) or ecommerce")
    p.add_argument("--days", type=int, default=28, help="days to generate (default: 28)")
    p.add_argument("--per-day", type=int, default=2000, help="applications per day (default: 2000)")
    p.add_argument("--fraud-rate", type=float, default=None,
                   help="share of fraudulent rows (default: 0.03 for loans, 0.09 for ecommerce)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--start", default="2026-01-05", help="first day, ISO date (default: 2026-01-05)")
    p.set_defaults(func=_run_synth)


def _run_synth(args: argparse.Namespace) -> int:
    if args.kind == "ecommerce":
        from .synth.ecommerce import generate_ecommerce

        table = generate_ecommerce(n_days=args.days, per_day=args.per_day, seed=args.seed, start=args.start,
                                   **({} if args.fraud_rate is None else {"fraud_rate": args.fraud_rate}))
        write_table(table, args.out)
        print(f"wrote {len(table):,} purchases to {args.out} (label column 'class')")
        return 0
    if not args.labels:
        raise UsageError("--labels FILE is required for --kind loans")
    from .synth import generate

    data = generate(n_days=args.days, per_day=args.per_day, seed=args.seed, start=args.start,
                    fraud_rate=0.03 if args.fraud_rate is None else args.fraud_rate)
    events, labels = data.to_pandas(flatten_device=True)
    write_table(events, args.out)
    write_table(labels, args.labels)
    print(f"wrote {len(events):,} applications to {args.out} and labels to {args.labels}")
    return 0


# -- train -------------------------------------------------------------------------------
def _add_train(sub: Any) -> None:
    p = sub.add_parser("train", help="train a bundle from a labelled history",
                       description="Compute point-in-time features over HISTORY (CSV, Parquet or a folder of "
                                   "Parquet files; sorted by event time first), train LightGBM with a time-ordered "
                                   "split, choose thresholds and save a bundle.")
    p.add_argument("history", help="applications: .csv, .csv.gz, .parquet or a folder of .parquet files")
    p.add_argument("labels", nargs="?",
                   help="labels: the id column, is_fraud, and label_time when a feature is label-delayed "
                        "(or use --label-column)")
    p.add_argument("--out", required=True, help="bundle directory to write")
    p.add_argument("--config", help="fraudscore.toml with [model], [features], [rules], [inputs], [schema]")
    p.add_argument("--schema", help="schema TOML describing HISTORY's columns (default: the config's [schema], "
                                    "else the loan-application schema)")
    p.add_argument("--label-column", metavar="COL",
                   help="take is_fraud from this column of HISTORY instead of a labels file")
    p.add_argument("--zip", action="store_true", help="also write DIR.zip beside the directory DIR")
    p.add_argument("--threads", type=int, metavar="N",
                   help="LightGBM threads (default: the cores free when training starts)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--report", metavar="DIR",
                   help="where to write the model report (report.md, report.json, PNG charts; default: OUT.report)")
    p.add_argument("--no-report", action="store_true", help="do not write the model report")
    max_rejected_arg(p)
    key_arg(p)
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from .schema import DEFAULT_SCHEMA
    from .train import _schema_from_config, load_config, train

    keys = keys_from(args)
    if bool(args.labels) == bool(args.label_column):
        raise UsageError("give either a LABELS file or --label-column COL")
    cfg = load_config(args.config) if args.config else {}
    schema = schema_from(args.schema) or _schema_from_config(cfg) or DEFAULT_SCHEMA
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError("--threads must be at least 1")
        cfg.setdefault("model", {})["num_threads"] = args.threads
    history, rows, read_errors = read_history(args.history, schema)
    if args.label_column:
        if args.label_column not in history.columns:
            raise UsageError(f"--label-column {args.label_column!r}: {args.history} has no such column")
        labels: Any = {schema.id_field: history[schema.id_field].to_numpy(),
                       "is_fraud": history[args.label_column].to_numpy()}
        history = history.drop(columns=[args.label_column])
    else:
        from .tables import read_table as _read

        labels = _read(args.labels, text_columns=(schema.id_field, "application_id"))
    n_in = len(history) + len(read_errors)
    if n_in and len(read_errors) / n_in > args.max_rejected:
        raise FraudscoreError(f"{args.history}: {len(read_errors):,} of {n_in:,} rows are unreadable, more than "
                              f"--max-rejected {args.max_rejected:.0%}; first: {read_errors[0]}")
    result = train(history, labels, key=keys, config=cfg, schema=schema, progress=not args.no_progress,
                   max_rejected=args.max_rejected)
    result.save(args.out)
    m = result.bundle.model.metrics
    rejected = len(result.errors) + len(read_errors)
    print(f"trained on {len(result.y):,} rows ({rejected:,} rejected); validation "
          f"AUC {m.get('roc_auc', float('nan')):.3f}, AP {m.get('average_precision', float('nan')):.3f}; "
          f"{len(result.feature_names)} features, {len(result.bundle.model.feature_names)} used by the model")
    print(_training_choices(result.bundle.model))
    if rejected:
        first = read_errors[0] if read_errors else result.errors[0].at_row(int(rows[result.errors[0].row or 0]))
        print(f"first rejected row: {first}")
    print(f"bundle written to {args.out}")
    if args.zip:
        zpath = result.save(args.out, zip=True)
        print(f"zip archive written to {zpath}")
    if not args.no_report:
        where = Path(args.report) if args.report else Path(args.out).with_name(Path(args.out).name + ".report")
        written = result.report().save(where)
        print(f"model report written to {written['markdown']}")
    return 0


def _training_choices(model: Any) -> str:
    """One line: the validation, calibration and class weighting the training chose, and why."""
    t = model.training
    v = t.get("validation") or {}
    return (f"validation: {v.get('strategy', 'holdout')} ({v.get('reason', 'requested')}); "
            f"calibration {getattr(model.calibrator, 'method', 'isotonic')}; "
            f"class weighting {t.get('imbalance', '?')}; {t.get('best_iteration', '?')} trees")


# -- schema ------------------------------------------------------------------------------
def _add_schema(sub: Any) -> None:
    p = sub.add_parser("schema", help="propose a schema TOML for a table (Schema.infer)",
                       description="Look at a table's columns and values and write a schema TOML describing them: "
                                   "id and time fields, numbers, timestamps, identifiers (pseudonymised), entities "
                                   "for velocity features, protected attributes. Review it, then pass it to "
                                   "'fraudscore train --schema'.")
    p.add_argument("table", help=".csv, .csv.gz, .parquet or a folder of .parquet files")
    p.add_argument("--out", help="write the TOML here (default: print it)")
    p.add_argument("--id-field", help="the column identifying each event (default: guessed)")
    p.add_argument("--time-field", help="the event-time column (default: guessed)")
    p.add_argument("--label-column", metavar="COL", help="the label column, left out of the schema "
                                                         "(default: guessed: is_fraud, class, label...)")
    p.set_defaults(func=_run_schema)


def _run_schema(args: argparse.Namespace) -> int:
    from .infer import infer_schema
    from .tables import read_table as _read

    table = _read(args.table)
    inferred = infer_schema(table, id_field=args.id_field, time_field=args.time_field, label=args.label_column)
    text = inferred.to_toml()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"schema written to {args.out}")
    else:
        print(text, end="")
    return 0


# -- the parser and the entry point -----------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = _Parser(prog="fraudscore", description="Fraud scoring for loan applications.",
                     epilog="Exit codes: 0 done, 1 check failed, 2 usage, 3 bad input, 4 internal error. "
                            "See docs/cli.md.")
    parser.add_argument("--version", action="version", version=f"fraudscore {__version__}")
    _global_args(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in _COMMANDS:
        add(sub)
    for mod in _COMMAND_MODULES:
        importlib.import_module(mod).add_command(sub)
    for p in sub.choices.values():  # the global options also work after the command
        _global_args(p, argparse.SUPPRESS)
    return parser


def _global_args(p: argparse.ArgumentParser, default: Any) -> None:
    p.add_argument("-v", "--verbose", action="count", default=0 if default is None else default,
                   help="more messages on stderr (-vv for debugging detail)")
    p.add_argument("--debug", action="store_true", default=False if default is None else default,
                   help="show the traceback of an internal error (also FRAUDSCORE_DEBUG=1)")


_COMMANDS = [_add_demo, _add_synth, _add_schema, _add_train]

# Commands that live beside the code they drive: each module defines ``add_command(subparsers)``.
_COMMAND_MODULES: tuple[str, ...] = (
    "fraudscore.rules.cli",
    "fraudscore.bench",
    "fraudscore.plausibility",
    "fraudscore.rescore",
    "fraudscore.challenger",
    "fraudscore.monitor",
)


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage().replace("\n", " ")
        return f"fraudscore: {record.levelname.lower()}: {msg}"


def _setup_logging(verbose: int) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    logger = logging.getLogger("fraudscore")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING)
    return handler


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, RuleSyntaxError):
        where = f" (line {exc.line}, column {exc.col})" if exc.line is not None else ""
        return (f"rule {exc.code!r}: " if exc.code else "") + exc.message + where
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return " ".join(lines) if lines else type(exc).__name__


_PYTHON_WORDS = (
    (re.compile(r"The '(\w+)' parameter of TrainConfig"), r"[model] \1 in the training configuration"),
    (re.compile(r"The '(\w+)' parameter of FeatureSpec (\S+)"), r"[features] \2: \1"),
    (re.compile(r"The '(\w+)' parameter of FeatureSet"), r"[features] \1"),
    (re.compile(r"pass key=\.\.\. or set the (\w+) environment variable"), r"set \1"),
)


def _cli_words(text: str) -> str:
    """An error message in command-line words: configuration sections instead of Python parameters."""
    for pattern, repl in _PYTHON_WORDS:
        text = pattern.sub(repl, text)
    return text


def _hint(exc: BaseException, args: argparse.Namespace) -> str:
    """What to do, in command-line words, for errors whose message speaks of the library."""
    text = str(exc)
    var = getattr(args, "key_env", "FRAUDSCORE_KEY")
    if "does not match the bundle's key id" in text or "signed with another key" in text:
        return f"; set {var} to the key the bundle was trained with"
    if "another key" in text and "state" in text:
        return f"; set {var} to the key of the run that saved the state"
    return ""


def _is_input_error(exc: BaseException) -> bool:
    if isinstance(exc, (FraudscoreError, OSError, UnicodeDecodeError)):
        return True
    mod = type(exc).__module__
    if mod.startswith("pandas") and type(exc).__name__ in ("ParserError", "EmptyDataError"):
        return True
    if mod.startswith("pyarrow") and type(exc).__name__ in ("ArrowInvalid", "ArrowTypeError"):
        return True
    return type(exc).__name__ == "TOMLDecodeError"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fraudscore`` console script; returns the exit code (see the module docstring)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_USAGE
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = bool(args.debug) or os.environ.get("FRAUDSCORE_DEBUG", "") not in ("", "0")
    handler = _setup_logging(int(args.verbose or 0))
    prog = f"fraudscore {args.command}"
    try:
        with warnings.catch_warnings():
            if not args.verbose:
                warnings.simplefilter("ignore")
            return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"{prog}: error: {exc} (see '{prog} --help')", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one place every error becomes one line
        if _is_input_error(exc):
            print(f"{prog}: error: {_cli_words(_one_line(exc))}{_hint(exc, args)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if debug:
            import traceback

            traceback.print_exc()
        print(f"{prog}: internal error: {type(exc).__name__}: {_one_line(exc)} -- a bug in fraudscore "
              f"{__version__}; rerun with --debug for the traceback and report it", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        logging.getLogger("fraudscore").removeHandler(handler)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
