"""Byte budgets for caches and memos: bounded in bytes, not only in entries.

A cache keyed by outside text (device attributes, user agents) holds as many
bytes as the text it was fed. :class:`ByteBudget` charges every insertion an
estimate of the bytes it retains (:func:`text_cost`: the characters of the
strings in the key and value, plus a fixed per-entry overhead) and clears all
the memos it guards when the budget is spent, the same way the entry bounds
already clear them: they cache pure functions, so results never depend on them.
LRU caches use :func:`text_cost` directly and evict until they fit.

Examples
--------
>>> a, b = {}, {}
>>> budget = ByteBudget(2_000, a, b)
>>> budget.remember(a, "k" * 300, "v")
>>> budget.remember(b, "x", "y" * 300)
>>> len(a), len(b), budget.used > 600
(1, 1, True)
>>> budget.remember(a, "z" * 1_000, None)  # over budget: everything is cleared, then it is kept
>>> len(a), len(b), budget.used == str_cost("z" * 1_000, None)
(1, 0, True)
"""

from __future__ import annotations

from sys import getsizeof as _getsizeof
from typing import Any

__all__ = ["ByteBudget", "text_cost", "str_cost", "ENTRY_OVERHEAD"]

ENTRY_OVERHEAD = 160
"""Bytes charged per entry beyond its text (dict slot, objects, small tuples)."""


def text_cost(*parts: Any) -> int:
    """Estimated bytes retained by ``parts``: the size of each string (``sys.getsizeof``, exact for
    ``str``), nested in tuples, lists and dict values, plus :data:`ENTRY_OVERHEAD`."""
    n = ENTRY_OVERHEAD
    stack = list(parts)
    while stack:
        p = stack.pop()
        if type(p) is str:
            n += _getsizeof(p)
        elif isinstance(p, (tuple, list)):
            n += 8 * len(p)
            stack.extend(p)
        elif isinstance(p, dict):
            n += 64 * len(p)
            stack.extend(p.values())
        elif p is not None:
            n += 32
    return n


def str_cost(key: Any, value: Any) -> int:
    """:func:`text_cost` of a ``(key, value)`` memo entry, fast when both are strings or ``None``."""
    tk, tv = type(key), type(value)
    if tk is str and (tv is str or value is None):
        return ENTRY_OVERHEAD + _getsizeof(key) + (_getsizeof(value) if tv is str else 0)
    return text_cost(key, value)


class ByteBudget:
    """One byte budget shared by several clear-when-full memo dicts.

    Parameters
    ----------
    budget : int
        Bytes (estimated by :func:`text_cost`) the memos may hold together.
    *memos : dict
        The memos this budget guards; all are cleared when it is spent.
    """

    def __init__(self, budget: int, *memos: dict[Any, Any]) -> None:
        self.budget = int(budget)
        self.memos = list(memos)
        self.used = 0
        self._share: dict[int, int] = {}

    def add(self, memo: dict[Any, Any]) -> None:
        """Guard one more memo."""
        self.memos.append(memo)

    def remember(self, memo: dict[Any, Any], key: Any, value: Any, max_entries: int | None = None,
                 cost: int | None = None) -> None:
        """``memo[key] = value``, charged to the budget (``cost``, or :func:`str_cost` of the entry).

        A memo at ``max_entries`` is cleared first (its bytes are given back); when the
        budget would overflow, every memo is cleared first.
        """
        if cost is None:
            cost = str_cost(key, value)
        mid = id(memo)
        if max_entries is not None and len(memo) >= max_entries:
            self.used -= self._share.pop(mid, 0)
            memo.clear()
        if self.used + cost > self.budget:
            self.clear()
        memo[key] = value
        self.used += cost
        self._share[mid] = self._share.get(mid, 0) + cost

    def clear(self) -> None:
        """Empty every memo."""
        for m in self.memos:
            m.clear()
        self.used = 0
        self._share.clear()
