"""Optional dependencies, imported lazily with an error that names the extra to install.

Examples
--------
>>> optional_import("json").__name__
'json'
>>> optional_import("no_such_module_xyz", extra="pandas")
Traceback (most recent call last):
...
fraudscore.errors.MissingDependencyError: this feature needs 'no_such_module_xyz': pip install 'fraudscore[pandas]'
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from .errors import MissingDependencyError

__all__ = ["optional_import", "require_pandas", "require_pyarrow", "require_redis", "require_sklearn", "progress"]


def optional_import(name: str, *, extra: str = "all") -> ModuleType:
    """Import ``name`` or raise :class:`MissingDependencyError` naming ``fraudscore[extra]``."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MissingDependencyError(f"this feature needs {name!r}: pip install 'fraudscore[{extra}]'") from None


def require_pandas() -> Any:
    """The ``pandas`` module (extra ``pandas``)."""
    return optional_import("pandas", extra="pandas")


def require_pyarrow() -> Any:
    """The ``pyarrow`` module (extra ``pandas``)."""
    return optional_import("pyarrow", extra="pandas")


def require_redis() -> Any:
    """The ``redis`` module (extra ``redis``)."""
    return optional_import("redis", extra="redis")


def require_sklearn() -> Any:
    """The ``sklearn`` module (extra ``train``)."""
    return optional_import("sklearn", extra="train")


class _NoProgress:
    def __init__(self, *a: Any, **k: Any) -> None:
        pass

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def add_task(self, *a: Any, **k: Any) -> int:
        return 0

    def update(self, *a: Any, **k: Any) -> None:
        return None

    def advance(self, *a: Any, **k: Any) -> None:
        return None


def progress(enabled: bool = True, unit: str = "rows") -> Any:
    """A ``rich.progress.Progress`` with counts, ``unit``/s and ETA columns, or a no-op stand-in.

    The bars go to stderr, and only when it is a terminal (so piped output and logs
    stay clean). Falls back to the no-op when ``rich`` (extra ``cli``) is not
    installed, stderr is not a terminal, or ``enabled`` is false.
    """
    import sys

    if not enabled or not getattr(sys.stderr, "isatty", lambda: False)():
        return _NoProgress()
    try:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
    except ImportError:
        return _NoProgress()

    class _Rate(TextColumn):
        def __init__(self) -> None:
            super().__init__("")

        def render(self, task: Any) -> Any:  # rows per second
            from rich.text import Text

            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} {unit}/s" if speed else "", style="progress.data.speed")

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        _Rate(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
        console=Console(stderr=True),
    )
