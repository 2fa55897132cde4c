"""A look-alike of a public e-commerce fraud table, for the foreign-data walkthrough.

Many public fraud data sets are one flat table with a label column. This
generator writes one with the column layout of a well-known one (an online
shop's first purchases: ``user_id, signup_time, purchase_time, purchase_value,
device_id, source, browser, sex, age, ip_address, class``), so the walkthrough
(``docs/examples/foreign_data.md``) can show fraudscore on data shaped like
that, without shipping third-party data. No value comes from the real set.

What it imitates (in simplified form; the rates are parameters, not measurements):

* one purchase per user, ``class`` = 1 for fraud, about 9 % fraud by default;
* most fraud comes in **bursts**: several fresh accounts buying within a second
  of signing up, from one device and one IP address;
* the rest is **slower fraud**, hard to tell from genuine use: accounts that
  sign up and buy on the same timetable as genuine users, on a device two to
  four accounts use over a few weeks;
* genuine users buy days to months after signing up, mostly on their own
  device (a few share one with a household member);
* the rows are **not** in time order (as in the real file), so the
  walkthrough also shows that offline commands sort by time first.

Examples
--------
>>> t = generate_ecommerce(n_days=10, per_day=100, seed=1)
>>> list(t.columns)
['user_id', 'signup_time', 'purchase_time', 'purchase_value', 'device_id', 'source', 'browser', 'sex', 'age', 'ip_address', 'class']
>>> len(t), bool(0.05 < t["class"].mean() < 0.13), t["user_id"].is_unique
(1000, True, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._compat import require_pandas
from ..timeutil import to_epoch_ms

__all__ = ["generate_ecommerce", "COLUMNS"]

COLUMNS = ("user_id", "signup_time", "purchase_time", "purchase_value", "device_id", "source", "browser", "sex",
           "age", "ip_address", "class")
_DAY = 86_400_000
_LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def _device_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.array(["".join(r) for r in _LETTERS[rng.integers(0, 26, size=(n, 13))]], dtype=object)


def _ips(rng: np.random.Generator, n: int) -> np.ndarray:
    parts = rng.integers(1, 255, size=(n, 4))
    return np.array([f"{a}.{b}.{c}.{d}" for a, b, c, d in parts.tolist()], dtype=object)


def generate_ecommerce(n_days: int = 90, per_day: int = 500, fraud_rate: float = 0.09, seed: int = 0,
                       start: str | int = "2026-01-05", *, burst_share: float = 0.6, shuffle: bool = True) -> Any:
    """Generate the look-alike table (a ``pandas.DataFrame``; see the module docstring).

    Parameters
    ----------
    n_days, per_day : int
        Purchases happen over ``n_days`` from ``start``; ``n_days * per_day`` rows.
    fraud_rate : float
        Share of ``class = 1`` rows.
    seed : int
        Random seed (same arguments, same table).
    start : str or int
        First purchase day.
    burst_share : float
        Share of the fraud that comes in bursts (the rest is slower fraud).
    shuffle : bool, default True
        Rows in random order, as in the real file (``False``: by purchase time).
    """
    pd = require_pandas()
    if n_days < 1 or per_day < 1 or not 0 <= fraud_rate < 1:
        raise ValueError("n_days and per_day must be >= 1 and fraud_rate in [0, 1)")
    rng = np.random.default_rng(seed)
    n = n_days * per_day
    t0 = to_epoch_ms(start)
    n_fraud = int(round(n * fraud_rate))
    n_burst = int(round(n_fraud * burst_share))
    n_gen = n - n_fraud
    purchase = np.empty(n, dtype=np.int64)
    signup = np.empty(n, dtype=np.int64)
    device = np.empty(n, dtype=object)
    ip = np.empty(n, dtype=object)
    label = np.zeros(n, dtype=np.int64)
    # genuine: own device (10 % share one with another genuine user), signup days to months before buying
    purchase[:n_gen] = t0 + rng.integers(0, n_days * _DAY, size=n_gen)
    signup[:n_gen] = purchase[:n_gen] - rng.integers(_DAY // 2, 120 * _DAY, size=n_gen)
    dev = _device_ids(rng, n_gen)
    shared = rng.random(n_gen) < 0.10
    dev[shared] = dev[rng.integers(0, n_gen, size=int(shared.sum()))]
    device[:n_gen] = dev
    ip[:n_gen] = _ips(rng, n_gen)
    # bursts: 5-20 fresh accounts, one device and one IP, buying within a second of signing up
    i = n_gen
    while i < n_gen + n_burst:
        k = int(min(rng.integers(5, 21), n_gen + n_burst - i))
        t = t0 + int(rng.integers(0, n_days * _DAY))
        times = t + np.sort(rng.integers(0, 4 * 3_600_000, size=k))
        purchase[i : i + k] = times
        signup[i : i + k] = times - rng.integers(200, 1_000, size=k)
        device[i : i + k] = _device_ids(rng, 1)[0]
        ip[i : i + k] = _ips(rng, 1)[0]
        i += k
    # slower fraud: genuine timing, on a device 2-4 accounts use over a few weeks
    j = n_gen + n_burst
    while j < n:
        k = int(min(rng.integers(2, 5), n - j))
        t = t0 + int(rng.integers(0, n_days * _DAY))
        purchase[j : j + k] = np.minimum(t + rng.integers(0, 21 * _DAY, size=k), t0 + n_days * _DAY - 1)
        signup[j : j + k] = purchase[j : j + k] - rng.integers(_DAY // 2, 120 * _DAY, size=k)
        device[j : j + k] = _device_ids(rng, 1)[0]
        ip[j : j + k] = _ips(rng, k)
        j += k
    label[n_gen:] = 1
    value = np.clip(np.round(rng.lognormal(3.45, 0.5, size=n)), 9, 154).astype(np.int64)
    source = rng.choice(np.array(["SEO", "Ads", "Direct"], dtype=object), size=n, p=[0.4, 0.4, 0.2])
    browser = rng.choice(np.array(["Chrome", "IE", "Safari", "FireFox", "Opera"], dtype=object), size=n,
                         p=[0.41, 0.24, 0.16, 0.16, 0.03])
    sex = rng.choice(np.array(["M", "F"], dtype=object), size=n, p=[0.58, 0.42])
    age = np.clip(np.round(rng.normal(33, 8.6, size=n)), 18, 76).astype(np.int64)
    order = rng.permutation(n) if shuffle else np.argsort(purchase, kind="stable")
    user = rng.choice(np.arange(1, 400_001), size=n, replace=False)

    def fmt(ms: np.ndarray) -> np.ndarray:
        return np.datetime_as_string(ms.astype("datetime64[ms]").astype("datetime64[s]"), unit="s")

    table = pd.DataFrame({
        "user_id": user,
        "signup_time": np.char.replace(fmt(signup[order]), "T", " "),
        "purchase_time": np.char.replace(fmt(purchase[order]), "T", " "),
        "purchase_value": value[order],
        "device_id": device[order],
        "source": source[order],
        "browser": browser[order],
        "sex": sex[order],
        "age": age[order],
        "ip_address": ip[order],
        "class": label[order],
    })
    for c in ("signup_time", "purchase_time"):
        table[c] = table[c].astype(object)
    return table
