"""fraudscore: fraud scoring for loan applications (public API filled in by fraudscore/api)."""
from ._version import __version__
from .errors import (BundleError, ConfigError, EventError, FraudscoreError, MissingDependencyError,
                     NotFittedError, RuleSyntaxError, StoreError)

__all__ = ["__version__", "FraudscoreError", "EventError", "ConfigError", "RuleSyntaxError",
           "BundleError", "StoreError", "NotFittedError", "MissingDependencyError"]
