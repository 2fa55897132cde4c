"""Exceptions raised by fraudscore.

Every exception the library raises on purpose derives from
:class:`FraudscoreError`, and each subclass also inherits the built-in exception
a caller would naturally catch, so ``except ValueError`` keeps working::

    FraudscoreError
    ├── EventError(ValueError)           a malformed event; names the field
    ├── InputError(ValueError)           a data file that cannot be read as a table of events
    ├── ConfigError(ValueError)          a bad parameter (feature spec, schema, policy)
    │   └── RuleSyntaxError              a rule that does not parse or type-check
    ├── BundleError(ValueError)          a missing, tampered or incompatible bundle
    ├── StoreError(RuntimeError)         a velocity / link store failed (e.g. Redis down)
    ├── NotFittedError(RuntimeError)     a model or scorer used before it was trained
    └── MissingDependencyError(ImportError)  an optional extra is not installed

    FraudscoreWarning(UserWarning)        something worked but deserves a look (e.g. a
                                          validation period with very few frauds)

Examples
--------
>>> from fraudscore.errors import EventError, FraudscoreError
>>> err = EventError("amount", "must be a finite number", value="abc")
>>> isinstance(err, FraudscoreError) and isinstance(err, ValueError)
True
>>> str(err)
"field 'amount': must be a finite number (got str)"
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FraudscoreError",
    "EventError",
    "InputError",
    "ConfigError",
    "RuleSyntaxError",
    "BundleError",
    "StoreError",
    "NotFittedError",
    "MissingDependencyError",
    "FraudscoreWarning",
]

_MISSING = object()


class FraudscoreError(Exception):
    """Root of every error fraudscore raises on purpose."""


class EventError(FraudscoreError, ValueError):
    """A malformed event.

    Parameters
    ----------
    field : str
        Dotted name of the offending field (``"device.screen"`` for nested ones).
    problem : str
        What was expected, e.g. ``"must be a finite number"``.
    value : object, optional
        The offending value. Only its *type* is shown in the message, never the
        value itself, so raw personal identifiers never reach a log.
    row : int, optional
        Row position in a batch, when the error comes from one.
    """

    def __init__(
        self, field: str, problem: str, *, value: Any = _MISSING, row: int | None = None
    ) -> None:
        self.field = field
        self.problem = problem
        self.value_type = None if value is _MISSING else type(value).__name__
        self.row = row
        msg = f"field {field!r}: {problem}"
        if self.value_type is not None:
            msg += f" (got {self.value_type})"
        if row is not None:
            msg = f"row {row}: {msg}"
        super().__init__(msg)

    def at_row(self, row: int) -> EventError:
        """Return a copy of this error that also names the batch row."""
        err = EventError(self.field, self.problem, row=row)
        err.value_type = self.value_type
        msg = f"row {row}: field {self.field!r}: {self.problem}"
        if self.value_type is not None:
            msg += f" (got {self.value_type})"
        err.args = (msg,)
        return err


class InputError(FraudscoreError, ValueError):
    """A data file (CSV, Parquet, a folder of Parquet files) that cannot be read as a table of events.

    Raised for an unknown file type, a missing file, a required column the file
    lacks, or a file the parser cannot read at all. Bad *rows* are not input
    errors: batch paths report them one by one and score the rest.
    """


class ConfigError(FraudscoreError, ValueError):
    """A bad parameter in a configuration object (feature spec, schema, policy...).

    Messages follow the form ``"The 'window' parameter of FeatureSpec must be a
    positive duration. Got '-5m' instead."``.
    """


class RuleSyntaxError(ConfigError):
    """A rule expression that cannot be compiled.

    Parameters
    ----------
    message : str
        What is wrong.
    code : str, optional
        The rule's reason code.
    source : str, optional
        The expression text.
    line, col : int, optional
        1-based line and 0-based column of the offending part in ``source``.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        source: str | None = None,
        line: int | None = None,
        col: int | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.source = source
        self.line = line
        self.col = col
        super().__init__(self._render())

    def _render(self) -> str:
        head = f"rule {self.code!r}: " if self.code else ""
        where = f" (line {self.line}, column {self.col})" if self.line is not None else ""
        text = f"{head}{self.message}{where}"
        if self.source is not None and self.line is not None and self.col is not None:
            lines = self.source.splitlines() or [""]
            if 1 <= self.line <= len(lines):
                src = lines[self.line - 1]
                text += f"\n    {src}\n    {' ' * max(self.col, 0)}^"
        return text


class BundleError(FraudscoreError, ValueError):
    """A bundle that is missing a file, was tampered with, or is incompatible."""


class StoreError(FraudscoreError, RuntimeError):
    """A velocity or device-link store failed (connection refused, timeout...)."""


class NotFittedError(FraudscoreError, RuntimeError):
    """An object that needs training was used before it was trained."""


class MissingDependencyError(FraudscoreError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class FraudscoreWarning(UserWarning):
    """A result that works but deserves a look: issued with :mod:`warnings` and logged on ``fraudscore``.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     warnings.warn("validation holds only 3 frauds", FraudscoreWarning)
    >>> w[0].category.__name__
    'FraudscoreWarning'
    """
