"""A synchronous stand-in for ``distributed.Client``: runs each task at once, in this process.

It executes the very task graph :mod:`fraudscore.distributed` builds (the same
splits, shuffles, joins and worker placement), so property tests can vary
partitions and buckets quickly; the cluster tests run the same graph on real
worker processes. It reports ``threads`` single-thread workers and records where
each task and scattered item was placed (``placed``: ``(function name, worker)``).
"""

from __future__ import annotations

from typing import Any


class Done:
    """A finished task's result (what a future resolves to)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _resolve(v: Any) -> Any:
    return v.value if isinstance(v, Done) else v


class InlineClient:
    def __init__(self, threads: int = 2) -> None:
        self.threads = threads
        self.tasks = 0
        self.placed: list[tuple[str, str | None]] = []

    def nthreads(self) -> dict[str, int]:
        return {f"inline-{i}": 1 for i in range(self.threads)}

    def submit(self, fn: Any, *args: Any, pure: bool = True, workers: list[str] | None = None,
               allow_other_workers: bool = True, **kw: Any) -> Done:
        self.tasks += 1
        self.placed.append((getattr(fn, "__name__", repr(fn)), workers[0] if workers else None))
        return Done(fn(*[_resolve(a) for a in args], **{k: _resolve(v) for k, v in kw.items()}))

    def scatter(self, data: Any, broadcast: bool = False, workers: list[str] | None = None) -> Any:
        if isinstance(data, list):
            self.placed.extend(("scatter", workers[0] if workers else None) for _ in data)
            return [Done(d) for d in data]
        return Done(data)

    def gather(self, futures: Any) -> Any:
        if isinstance(futures, list):
            return [_resolve(f) for f in futures]
        return _resolve(futures)
