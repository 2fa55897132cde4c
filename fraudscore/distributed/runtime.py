"""What runs once in each Dask worker process, beside the tasks: CPU counters per task function and the
pickling of fingerprints by constructor.

Examples
--------
>>> from fraudscore.distributed.runtime import phase_cpu
>>> isinstance(phase_cpu(), dict)
True
"""

from __future__ import annotations

from typing import Any

from ..pipeline import paused_gc

__all__ = ["PHASE_CPU", "phase_cpu"]

#: CPU seconds (of the task's thread) and calls per task function in this process: ``{name: [cpu_s, calls]}``.
#: Read with ``client.run(fraudscore.distributed.tasks.phase_cpu)`` to see where a run's CPU goes
#: (a diagnostic: with several threads per worker an update can be lost).
PHASE_CPU: dict[str, list[float]] = {}


def phase_cpu(reset: bool = False) -> dict[str, list[float]]:
    """A copy of :data:`PHASE_CPU` (emptied after copying when ``reset``)."""
    out = {k: list(v) for k, v in PHASE_CPU.items()}
    if reset:
        PHASE_CPU.clear()
    return out


def _no_gc(fn: Any) -> Any:
    """Run a task with the cyclic collector paused (cycle-free bulk allocations, as in a single process),
    charging its CPU time to :data:`PHASE_CPU`."""
    import functools
    from time import thread_time

    name = fn.__name__

    @functools.wraps(fn)
    def run(*args: Any, **kw: Any) -> Any:
        c0 = thread_time()
        try:
            with paused_gc():
                return fn(*args, **kw)
        finally:
            acc = PHASE_CPU.setdefault(name, [0.0, 0])
            acc[0] += thread_time() - c0
            acc[1] += 1

    return run


def _pickle_by_fields(cls: Any) -> None:
    """Pickle instances of the frozen, slotted dataclass ``cls`` as ``cls(*fields)``.

    Such a dataclass pickles through Python-level ``__getstate__`` / ``__setstate__``
    that call :func:`dataclasses.fields` per object; a fingerprint with its canonical
    attributes took about 30 us to pickle and unpickle, most of what the link pass's
    pieces cost to ship between workers. ``(cls, attrgetter(...)(obj))`` is a C-level
    tuple and one constructor call: about 17 us, and nothing for pieces that stay on
    their worker. Registered with :mod:`copyreg` in the processes that import this
    module (the workers running these tasks); the objects that come back are equal,
    field by field, and pickles made without it still load.
    """
    import copyreg
    from dataclasses import fields
    from operator import attrgetter

    names = [f.name for f in fields(cls)]
    if not all(f.init for f in fields(cls)):  # pragma: no cover - every field is a constructor argument today
        return
    get = attrgetter(*names)
    copyreg.pickle(cls, lambda obj: (cls, get(obj)))


def _register_pickling() -> None:
    from ..fingerprint.canonical import CanonicalDevice
    from ..fingerprint.sections import Fingerprint

    _pickle_by_fields(Fingerprint)
    _pickle_by_fields(CanonicalDevice)


_register_pickling()
