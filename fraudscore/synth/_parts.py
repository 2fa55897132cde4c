"""Shared pieces of the application generator (private): column parts, times, amounts.

A *part* is a dict of equal-length columns for a group of generated rows
(event fields plus ``is_fraud``, ``scenario``, ``device_truth``, ``group``);
:func:`concat` joins parts before they are sorted into arrival order.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
LOCAL_OFFSET_H = 8  # China Standard Time: applicants' daily rhythm is local
# relative application volume per local hour (quiet nights, late-morning and evening peaks)
HOUR_P = np.array([3, 2, 1, 1, 1, 1, 2, 4, 6, 8, 10, 10, 8, 8, 8, 8, 8, 8, 8, 9, 10, 11, 10, 6], dtype=float)
HOUR_P /= HOUR_P.sum()
WEEKDAY_P = np.array([1.0, 1.0, 1.0, 1.0, 1.05, 0.9, 0.85])  # Monday .. Sunday
TERMS = np.array([1.0, 3.0, 6.0, 12.0, 24.0])
TERM_P = np.array([0.05, 0.35, 0.30, 0.25, 0.05])
PRODUCTS = np.array(["cash_loan", "installment", "credit_line"], dtype=object)
PRODUCT_P = np.array([0.6, 0.3, 0.1])
OBJECT_FIELDS = ("applicant_id", "phone", "email", "bank_card", "ip", "inviter_id", "product", "channel",
                 "device", "scenario")


@dataclass
class Context:
    """What the scenario builders share: randomness, the period, genuine applicants, id counters."""

    rng: np.random.Generator
    t0: int
    n_days: int
    genuine_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    next_device: int = 0
    next_group: int = 0

    @property
    def t1(self) -> int:
        return self.t0 + self.n_days * DAY_MS

    def devices(self, k: int) -> np.ndarray:
        """``k`` new ground-truth device ids."""
        out = np.arange(self.next_device, self.next_device + k, dtype=np.int64)
        self.next_device += k
        return out

    def groups(self, k: int) -> np.ndarray:
        """``k`` new campaign ids."""
        out = np.arange(self.next_group, self.next_group + k, dtype=np.int64)
        self.next_group += k
        return out


def obj(values: Any, n: int | None = None) -> np.ndarray:
    """Object array of ``values`` (a scalar is repeated ``n`` times)."""
    if n is not None and (values is None or isinstance(values, str)):
        out = np.empty(n, dtype=object)
        out[:] = values
        return out
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values) if not isinstance(values, np.ndarray) else values
    return arr


def draw_times(rng: np.random.Generator, n: int, t0: int, n_days: int) -> np.ndarray:
    """``n`` times in ``[t0, t0 + n_days)`` with weekly and local time-of-day rhythm (``t0`` a UTC midnight)."""
    dow0 = int((t0 // DAY_MS + 3) % 7)  # 1970-01-01 was a Thursday
    w = WEEKDAY_P[(dow0 + np.arange(n_days)) % 7]
    day = rng.choice(n_days, size=n, p=w / w.sum())
    hour = rng.choice(24, size=n, p=HOUR_P)
    slot = (day * 24 + hour - LOCAL_OFFSET_H) % (n_days * 24)
    return t0 + slot.astype(np.int64) * HOUR_MS + rng.integers(0, HOUR_MS, size=n, dtype=np.int64)


def burst_times(rng: np.random.Generator, n: int, start: int, span_ms: int) -> np.ndarray:
    """``n`` sorted times uniformly within ``[start, start + span_ms)``."""
    return np.sort(start + rng.integers(0, max(int(span_ms), 1), size=n, dtype=np.int64))


def amounts(rng: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
    """Loan amounts: log-normal around 5000 * scale, rounded to 100, within [500, 200000]."""
    a = np.exp(rng.normal(np.log(5000.0 * scale), 0.8, size=n))
    return np.clip(np.round(a / 100.0) * 100.0, 500.0, 200_000.0)


def terms(rng: np.random.Generator, n: int) -> np.ndarray:
    """Loan terms in months (3, 6 and 12 most common)."""
    return TERMS[rng.choice(len(TERMS), size=n, p=TERM_P)]


def products(rng: np.random.Generator, n: int) -> np.ndarray:
    return PRODUCTS[rng.choice(len(PRODUCTS), size=n, p=PRODUCT_P)]


def split_sizes(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    """Group sizes in ``[low, high]`` summing exactly to ``n`` (the last group may be smaller)."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    sizes = rng.integers(low, high + 1, size=n // max(low, 1) + 1)
    cum = np.cumsum(sizes)
    k = int(np.searchsorted(cum, n)) + 1
    sizes = sizes[:k].copy()
    sizes[-1] -= int(cum[k - 1]) - n
    return sizes[sizes > 0]


def make_part(n: int, **cols: Any) -> dict[str, np.ndarray]:
    """A part of ``n`` rows: given columns, defaults (``None`` / NaN / -1) for the rest."""
    out: dict[str, np.ndarray] = {}
    for name in OBJECT_FIELDS:
        v = cols.pop(name, None)
        out[name] = v if isinstance(v, np.ndarray) and v.dtype == object else obj(v, n) if (
            v is None or isinstance(v, str)) else obj(v)
    out["ts"] = np.asarray(cols.pop("ts"), dtype=np.int64)
    out["amount"] = np.asarray(cols.pop("amount", np.full(n, np.nan)), dtype=np.float64)
    out["term_months"] = np.asarray(cols.pop("term_months", np.full(n, np.nan)), dtype=np.float64)
    out["is_fraud"] = np.broadcast_to(np.asarray(cols.pop("is_fraud", False), dtype=np.int8), (n,)).copy()
    for k in ("device_truth", "group"):
        out[k] = np.broadcast_to(np.asarray(cols.pop(k, -1), dtype=np.int64), (n,)).copy()
    if cols:
        raise TypeError(f"unknown part columns {sorted(cols)}")
    bad = [k for k, v in out.items() if v.shape != (n,)]
    if bad:
        raise ValueError(f"part columns {bad} do not have {n} rows")
    return out


def concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Join parts column by column."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of acyclic objects.

    On exit the collector is restored. The new objects are moved straight to the
    oldest generation (``gc.freeze``, then ``gc.unfreeze``) instead of being traversed
    by a young-generation pass first: nothing is leaked, any cyclic garbage is
    found by the next full collection. This is skipped when the process froze
    objects on purpose (``gc.get_freeze_count() > 0``).

    Examples
    --------
    >>> with no_gc():
    ...     gc.isenabled()
    False
    >>> gc.isenabled(), gc.get_freeze_count()
    (True, 0)
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.enable()
                gc.unfreeze()
            else:
                gc.enable()
