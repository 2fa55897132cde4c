"""A fast scalar random source with the few ``numpy.random.Generator`` methods that drift uses (private).

:func:`fraudscore.synth.devices.drift` makes a handful of scalar draws per call;
with a numpy ``Generator`` each costs microseconds of call overhead. The
generator drifts tens of thousands of devices, so it passes a :class:`PyRng`
instead: a :class:`random.Random` seeded from the numpy generator (so the same
seed still gives the same data), behind the same method names.

Examples
--------
>>> import numpy as np
>>> r = PyRng(np.random.default_rng(0))
>>> 0 <= r.random() < 1, r.integers(1, 3) in (1, 2), sorted(r.choice(4, size=4, replace=False))
(True, True, [0, 1, 2, 3])
>>> r.integers(0, 10, size=(1, 6), dtype=np.uint8).shape, len(r.bytes(8))
((1, 6), 8)
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

__all__ = ["PyRng"]


class PyRng:
    """``random.Random`` behind a subset of the ``numpy.random.Generator`` interface.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the seed.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self._r = random.Random(int(rng.integers(0, 2**63)))
        self.random = self._r.random

    def integers(self, low: int, high: int | None = None, size: Any = None, dtype: Any = None) -> Any:
        """Uniform integers in ``[low, high)`` (a scalar ``int`` when ``size`` is None)."""
        if high is None:
            low, high = 0, low
        if size is None:
            return self._r.randrange(int(low), int(high))
        shape = (size,) if isinstance(size, int) else tuple(size)
        k = int(np.prod(shape))
        values = [self._r.randrange(int(low), int(high)) for _ in range(k)]
        return np.array(values, dtype=dtype or np.int64).reshape(shape)

    def bytes(self, n: int) -> bytes:
        """``n`` random bytes."""
        return self._r.randbytes(n)

    def choice(self, a: int, size: int | None = None, replace: bool = True, p: Any = None) -> Any:
        """Index draws from ``range(a)`` with probabilities ``p`` (sequential draws without replacement)."""
        n = int(a)
        weights = None if p is None else (p.tolist() if isinstance(p, np.ndarray) else list(p))
        if size is None:
            return self._pick(n, weights)
        if replace:
            return [self._pick(n, weights) for _ in range(int(size))]
        items = list(range(n))
        w = weights or [1.0] * n
        out = []
        for _ in range(int(size)):
            j = self._pick(len(items), w)
            out.append(items.pop(j))
            w.pop(j)
        return out

    def _pick(self, n: int, weights: list[float] | None) -> int:
        if weights is None:
            return int(self._r.random() * n)
        u = self._r.random() * sum(weights)
        for i, w in enumerate(weights):
            u -= w
            if u < 0:
                return i
        return max(i for i, w in enumerate(weights) if w > 0)  # rounding at the very top
