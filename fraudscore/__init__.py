"""fraudscore: fraud scoring for loan applications.

One call, :meth:`Scorer.score`, combines device fingerprints and linking,
velocity features, rules and a LightGBM model into a :class:`Decision`;
:meth:`Scorer.score_batch` gives the same answers for many events at once.

The library reports through the standard :mod:`logging` module, logger
``"fraudscore"`` (bundle loaded, degraded decisions, store errors, rows
rejected, what training left out); it never prints. It has a ``NullHandler``:
configure logging in your program to see the messages.

Examples
--------
>>> import fraudscore as fs
>>> sorted(set(fs.__all__) & {"Scorer", "Decision", "load", "train", "score"})
['Decision', 'Scorer', 'load', 'train']
"""

import logging as _logging

from ._version import __version__
from .batch import ColumnBatch, to_columns
from .bundle import Bundle
from .decision import Decision, DecisionBatch, Reason
from .errors import (BundleError, ConfigError, EventError, FraudscoreError, InputError, MissingDependencyError,
                     NotFittedError, RuleSyntaxError, StoreError)
from .fingerprint import DeviceLinker, Fingerprinter
from .keys import Keys
from .model import Model, TrainConfig
from .policy import Policy
from .rules import Rule, RuleSet
from .schema import DEFAULT_SCHEMA, Field, Schema
from .scorer import Scorer, load
from .train import TrainResult, train
from .velocity import FeatureSet, FeatureSpec, MemoryStore, RedisStore
from .warmstart import ScoringState

_logging.getLogger("fraudscore").addHandler(_logging.NullHandler())

__all__ = [
    "__version__",
    # nouns
    "Scorer", "Decision", "DecisionBatch", "Reason", "Bundle", "FeatureSpec", "FeatureSet", "Rule", "RuleSet",
    "Fingerprinter", "DeviceLinker", "Keys", "Schema", "Field", "DEFAULT_SCHEMA", "Policy", "Model",
    "TrainConfig", "TrainResult", "MemoryStore", "RedisStore", "ColumnBatch", "ScoringState",
    # verbs
    "load", "train", "to_columns",
    # errors
    "FraudscoreError", "EventError", "InputError", "ConfigError", "RuleSyntaxError", "BundleError", "StoreError",
    "NotFittedError", "MissingDependencyError",
]
