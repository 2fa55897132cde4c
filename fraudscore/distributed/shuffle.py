"""The shuffle's plumbing: one message per (partition, worker) pair each way.

A partition splits its rows into bucket pieces; :func:`take_buckets` sends the pieces of the
buckets one worker replays in one message, :func:`reduce_bucket` runs a bucket's reducer over
every partition's piece, :func:`collect` sends one worker's answers for one partition back in
one message and :func:`call_flat` hands them to the join. :func:`bucket_rows` is what placing
the buckets on workers weighs (see :func:`fraudscore.distributed.partition.assign`).

Examples
--------
>>> import numpy as np
>>> bucket_rows([{"idx": np.arange(4)}, {}]).tolist()
[4.0, 0.0]
>>> call_flat(lambda head, *r: (head, r), 1, "h", collect(0, ["a", "b"]), collect(0, ["c"]))
('h', ('a', 'c'))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["KEY_LOAD_WEIGHT", "bucket_rows", "take_buckets", "reduce_bucket", "collect", "call_flat"]

#: Weight of a velocity bucket's squared rows per entity key against its rows, when buckets are
#: placed (a least-squares fit of replay CPU per bucket on 100,000 synthetic rows gave 0.04 to 0.06).
KEY_LOAD_WEIGHT = 0.05


def bucket_rows(pieces: Sequence[Any]) -> np.ndarray:
    """What placing buckets weighs, per bucket: its rows (every key group's, for a velocity piece), plus
    :data:`KEY_LOAD_WEIGHT` times the squared rows per entity key for a velocity piece."""
    def rows(p: Any) -> float:
        if not p:
            return 0.0
        if "idx" in p:
            return float(len(p["idx"]))
        return sum(len(g["idx"]) for k, g in p.items() if k != "load") + float(p.get("load", 0.0))

    return np.array([rows(p) for p in pieces], dtype=np.float64)


def take_buckets(pieces: Sequence[Any], buckets: Sequence[int]) -> dict[int, Any]:
    """The pieces of the buckets one worker replays (one message from this partition to that worker)."""
    return {b: pieces[b] for b in buckets}


def reduce_bucket(reducer: Any, n_head: int, bucket: int, *args: Any) -> Any:
    """``reducer(*head, *pieces)`` for one bucket: ``args`` is the head (``n_head`` items) and then each
    partition's :func:`take_buckets` result for this bucket's worker."""
    return reducer(*args[:n_head], *[sent[bucket] for sent in args[n_head:]])


def collect(index: int, *results: Sequence[Any]) -> list[Any]:
    """What one worker's buckets found for input partition ``index`` (one message back to it)."""
    return [r[index] for r in results]


def call_flat(fn: Any, n_head: int, *args: Any) -> Any:
    """``fn(*head, *results)`` where each argument after the head is a :func:`collect` list."""
    return fn(*args[:n_head], *[r for got in args[n_head:] for r in got])
