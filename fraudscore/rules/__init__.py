"""The rule language: analyst rules in TOML, compiled to scalar and vectorised evaluators.

See ``docs/rules.md`` for the language. The pipeline uses::

    rs = RuleSet.from_toml(path_or_text, lists_dir=None)
    crs = rs.compile(known_names, list_transform=None, identifier_names=())
    crs.evaluate(values) -> list[RuleHit]
    crs.evaluate_columns(columns, n) -> HitMatrix
    combine(hits) -> (rule_action | None, points)

Examples
--------
>>> from fraudscore.rules import Rule, RuleSet, combine
>>> crs = RuleSet([Rule("NEW_DEV", "distinct__device_id__by__applicant_id__24h >= 3", action="review",
...                     score=120, reason="{distinct__device_id__by__applicant_id__24h} devices in 24 h")]
...              ).compile(["distinct__device_id__by__applicant_id__24h"])
>>> hits = crs.evaluate({"distinct__device_id__by__applicant_id__24h": 4.0})
>>> hits[0].reason, combine(hits)
('4 devices in 24 h', ('review', 120))
"""

from .backtest import BacktestReport, DecisionDiff, RuleStats, backtest, diff_decisions
from .combine import ACTION_CODES, ACTIONS, HitMatrix, RuleHit, combine
from .lists import NamedList
from .parser import FUNCTIONS, parse_expression
from .ruleset import CompiledRuleSet, Rule, RuleSet
from .template import format_value

__all__ = [
    "Rule", "RuleSet", "CompiledRuleSet", "RuleHit", "HitMatrix", "NamedList", "combine",
    "ACTIONS", "ACTION_CODES", "FUNCTIONS", "parse_expression", "format_value",
    "backtest", "diff_decisions", "BacktestReport", "RuleStats", "DecisionDiff",
]
