"""A synchronous stand-in for ``distributed.Client``: runs each task at once, in this process.

It executes the very task graph :mod:`fraudscore.distributed` builds (the same
splits, shuffles, joins and worker placement), so property tests can vary
partitions and buckets quickly; the cluster tests run the same graph on real
worker processes. It reports ``threads`` single-thread workers and records where
each task and scattered item was placed (``placed``: ``(function name, worker, input
partition)``; the name is ``"reduce_bucket:link_bucket"`` where a task runs a function
passed first; the partition is the index of a partition argument or result, if any).
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
        self.placed: list[tuple[str, str | None, int | None]] = []

    def nthreads(self) -> dict[str, int]:
        return {f"inline-{i}": 1 for i in range(self.threads)}

    def submit(self, fn: Any, *args: Any, pure: bool = True, workers: list[str] | None = None,
               allow_other_workers: bool = True, **kw: Any) -> Done:
        self.tasks += 1
        args = [_resolve(a) for a in args]
        out = fn(*args, **{k: _resolve(v) for k, v in kw.items()})
        part = next((a.index for a in [*args, out] if hasattr(a, "cb") and hasattr(a, "index")), None)
        name = getattr(fn, "__name__", repr(fn))
        if args and callable(args[0]) and hasattr(args[0], "__name__"):  # reduce_bucket, call_flat: what they run
            name += ":" + args[0].__name__
        self.placed.append((name, workers[0] if workers else None, part))
        return Done(out)

    def scatter(self, data: Any, broadcast: bool = False, workers: list[str] | None = None, hash: bool = True) -> Any:
        if isinstance(data, list):
            self.placed.extend(("scatter", workers[0] if workers else None, None) for _ in data)
            return [Done(d) for d in data]
        return Done(data)

    def gather(self, futures: Any) -> Any:
        if isinstance(futures, list):
            return [_resolve(f) for f in futures]
        return _resolve(futures)
