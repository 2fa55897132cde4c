"""``fraudscore backtest``: a rule set over a labelled history, from the batch path.

The history goes through the same feature pipeline as ``score_batch`` (point in
time, labels only as known), then the rule set is evaluated column-wise and
compared with the labels: per-rule hit rate, precision, recall, marginal effect
and overlap. With ``--against`` the decisions of two rule-set versions over the
same history are diffed.

Examples
--------
>>> from fraudscore.synth import generate
>>> from fraudscore.rules import RuleSet
>>> data = generate(n_days=7, per_day=200, seed=3)
>>> rep = backtest_history(data.columns, data.labels, RuleSet.default(), key=b"doc-example-secret-0001")
>>> rep.n == len(data), len(rep.rules) == len([r for r in RuleSet.default().rules if r.enabled])
(True, True)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ..keys import Keys
from .ruleset import RuleSet

__all__ = ["backtest_history", "diff_history", "add_command"]


def _scorer(rules: RuleSet, key: Any, bundle: str | Path | None) -> Any:
    from ..bundle import Bundle
    from ..fingerprint import SCHEME_VERSION
    from ..policy import Policy
    from ..schema import DEFAULT_SCHEMA
    from ..scorer import Scorer
    from ..velocity.defaults import default_feature_set

    keys = Keys.resolve(key)
    if bundle is not None:
        b = Bundle.load(bundle, key=keys)
        b.model = None  # the rules alone are backtested
        b.rules_toml = rules.to_toml()
    else:
        b = Bundle(model=None, schema=DEFAULT_SCHEMA.to_dict(), features=default_feature_set().to_dict(),
                   rules_toml=rules.to_toml(), fingerprint={"scheme_version": SCHEME_VERSION, "key_id": keys.key_id},
                   policy=Policy().to_dict())
    return Scorer(b, keys)


def _columns_and_labels(scorer: Any, history: Any, labels: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
    index = scorer.label_index(labels)
    cb, rec, X = scorer.features_batch(history, index)
    columns = dict(rec)
    columns.update({name: X[:, j] for j, name in enumerate(scorer.pipeline.feature_names)})
    y = index.align(cb.columns[scorer.schema.id_field])["is_fraud"]
    return columns, np.nan_to_num(y, nan=0.0).astype(np.int8)


def backtest_history(history: Any, labels: Any, rules: RuleSet, *, key: Any = None,
                     bundle: str | Path | None = None) -> Any:
    """Backtest ``rules`` over a labelled history of raw events.

    Parameters
    ----------
    history : any batch form
        Applications in arrival order.
    labels : mapping or DataFrame
        ``application_id``, ``is_fraud``, ``label_time`` / ``label_ts``; unlabelled rows count as genuine.
    rules : RuleSet
        The rules to test.
    key : Keys, bytes or str, optional
        The secret (``FRAUDSCORE_KEY`` when omitted).
    bundle : path, optional
        Take the schema and feature specs from this bundle (default: the built-in ones).

    Returns
    -------
    BacktestReport
    """
    scorer = _scorer(rules, key, bundle)
    columns, y = _columns_and_labels(scorer, history, labels)
    known = (*scorer.pipeline.record_fields, *scorer.pipeline.feature_names)
    return rules.backtest(columns, y, known_names=known, list_transform=scorer.pipeline.identity.pseudonym)


def diff_history(history: Any, labels: Any, old: RuleSet, new: RuleSet, *, key: Any = None,
                 bundle: str | Path | None = None) -> Any:
    """Decisions that change between two rule sets over the same history (a ``DecisionDiff``)."""
    scorer = _scorer(new, key, bundle)
    columns, _ = _columns_and_labels(scorer, history, labels)
    known = (*scorer.pipeline.record_fields, *scorer.pipeline.feature_names)
    return old.diff(new, columns, known_names=known, list_transform=scorer.pipeline.identity.pseudonym)


def add_command(sub: Any) -> None:
    """Register ``fraudscore backtest``."""
    from ..cli import key_arg, max_rejected_arg

    p = sub.add_parser("backtest", help="backtest a rule set over a labelled history",
                       description="Compute point-in-time features over HISTORY (CSV, Parquet or a folder of "
                                   "Parquet files; sorted by event time first), evaluate the rules column-wise and "
                                   "report per-rule hit rate, precision, recall, marginal effect and overlap; with "
                                   "--against, diff two rule-set versions.")
    p.add_argument("history", help="applications: .csv, .csv.gz, .parquet or a folder of .parquet files")
    p.add_argument("labels", help="labels: the id column, is_fraud, label_time")
    p.add_argument("--rules", help="rules TOML (default: the shipped loan rule set)")
    p.add_argument("--against", help="a second rules TOML: report how decisions change from --rules to it")
    p.add_argument("--bundle", help="take schema and feature specs from this bundle")
    p.add_argument("--json", help="also write the report as JSON to this file")
    max_rejected_arg(p)
    key_arg(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import json

    from ..cli import keys_from, read_history
    from ..errors import InputError
    from ..tables import read_table

    keys = keys_from(args)
    for flag, path in (("--rules", args.rules), ("--against", args.against)):
        if path and not Path(path).is_file():
            raise InputError(f"{flag} {path}: no such rules file")
    rules = RuleSet.from_toml(Path(args.rules)) if args.rules else RuleSet.default()
    scorer = _scorer(rules, keys, args.bundle)
    history, _, read_errors = read_history(args.history, scorer.schema)
    n_in = len(history) + len(read_errors)
    if n_in and len(read_errors) / n_in > args.max_rejected:
        raise InputError(f"{args.history}: {len(read_errors):,} of {n_in:,} rows are unreadable, more than "
                         f"--max-rejected {args.max_rejected:.0%}; first: {read_errors[0]}")
    labels = read_table(args.labels, text_columns=(scorer.schema.id_field, "application_id"))
    if args.against:
        other = RuleSet.from_toml(Path(args.against))
        report = diff_history(history, labels, rules, other, key=keys, bundle=args.bundle)
    else:
        report = backtest_history(history, labels, rules, key=keys, bundle=args.bundle)
    print(report.to_text())
    if args.json:
        import dataclasses

        doc = report.to_dict() if hasattr(report, "to_dict") else dataclasses.asdict(report)
        Path(args.json).write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    return 0
