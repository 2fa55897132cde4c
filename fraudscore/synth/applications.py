"""The synthetic loan-application generator: genuine applicants plus labelled fraud.

Genuine behaviour (this module):

* most applicants apply once; about a quarter of genuine applications come from
  **repeat borrowers** who re-apply when a loan matures (1, 3, 6, 12, 24-month
  terms, 3 / 6 / 12 most common), so genuine velocity has a periodic shape;
* a weekly and local time-of-day rhythm (quiet nights, evening peak);
* each applicant has a home IP and a device; 3 % share a family member's device
  and home IP; a third of the rows come from mobile IPs, 1 % via a corporate VPN /
  cloud proxy;
* 8 % were invited by an earlier genuine applicant;
* small data-quality noise that overlaps fraud signals: mistyped ID numbers (bad
  checksum), disposable e-mails, rooted phones, new phones / cards on re-application.

Fraud (:mod:`fraudscore.synth.fraud`) is ``fraud_rate`` of the rows, split over the
scenarios of :data:`~fraudscore.synth.data.SCENARIOS`. Labels arrive late:
genuine outcomes 30-90 days after the application (first repayments), fraud 7-45
days after (first missed repayment).

Examples
--------
>>> data = generate(n_days=7, per_day=1000, fraud_rate=0.03, seed=0)
>>> len(data), round(float(data.labels["is_fraud"].mean()), 3)
(7000, 0.03)
>>> bool((data.labels["label_ts"] > data.columns["ts"]).all())
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..timeutil import to_epoch_ms
from ._digits import digit_strings
from ._parts import DAY_MS, Context, amounts, concat, draw_times, make_part, no_gc, obj, products, terms
from .data import EVENT_COLUMNS, SCENARIOS, SyntheticData
from ._pyrng import PyRng
from .devices import drift, random_devices
from .fraud import BUILDERS
from .identities import PROXY_PREFIXES, bank_cards, emails, ips_in_prefixes, ipv4s, national_ids, phones

__all__ = ["generate", "DEFAULT_SCENARIO_MIX"]

DEFAULT_SCENARIO_MIX: dict[str, float] = {
    "device_farm": 0.30, "identity_theft": 0.15, "synthetic_identity": 0.25, "invitation_ring": 0.15,
    "proxy_burst": 0.15,
}
"""Default share of each fraud scenario among the fraud rows."""
_MONTH_MS = int(30.4 * DAY_MS)
_REPEAT_SHARE = 0.25
_CHANNELS = np.array(["app", "h5", "web", "partner"], dtype=object)
_CHANNEL_P = np.array([0.55, 0.20, 0.12, 0.13])


def _repeat_chains(rng: np.random.Generator, n: int, t0: int, t1: int) -> tuple[np.ndarray, ...]:
    """Rows of repeat borrowers in ``[t0, t1)``: (chain, ts, term, step), about ``_REPEAT_SHARE * n`` of them."""
    window = t1 - t0
    lookback = min(395 * DAY_MS, 2 * window + 30 * DAY_MS)
    cycle = 6.7 * _MONTH_MS
    per_chain = window / (window + lookback) * (1.0 + window / cycle)
    target = int(_REPEAT_SHARE * n)
    n_chains = int(min(2 * n, np.ceil(target / max(per_chain, 1e-9)))) if target else 0
    t = t0 - lookback + rng.integers(0, window + lookback, size=n_chains, dtype=np.int64)
    chain_ids = np.arange(n_chains)
    rows: list[tuple[np.ndarray, ...]] = []
    step = 0
    while t.size:
        term = terms(rng, t.size)
        inside = t >= t0
        rows.append((chain_ids[inside], t[inside], term[inside], np.full(int(inside.sum()), step)))
        pause = np.where(rng.random(t.size) < 0.3, rng.integers(0, 90 * DAY_MS, size=t.size), 0)
        t = t + (term * _MONTH_MS).astype(np.int64) + rng.integers(-3 * DAY_MS, 10 * DAY_MS, size=t.size) + pause
        keep = t < t1
        t, chain_ids = t[keep], chain_ids[keep]
        step += 1
    if not rows:
        return tuple(np.zeros(0, dtype=np.int64) for _ in range(4))
    chain, ts, term, steps = (np.concatenate(c) for c in zip(*rows))
    if ts.size > target:
        pick = np.sort(rng.choice(ts.size, size=target, replace=False))
        chain, ts, term, steps = chain[pick], ts[pick], term[pick], steps[pick]
    return chain, ts, term, steps


def _genuine(ctx: Context, n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The genuine rows, and the ID numbers of the genuine applicants."""
    rng = ctx.rng
    chain, rep_ts, rep_term, rep_step = _repeat_chains(rng, n, ctx.t0, ctx.t1)
    _, chain = np.unique(chain, return_inverse=True)
    n_chain = int(chain.max()) + 1 if chain.size else 0
    m = n - chain.size
    n_app = n_chain + m
    who = np.concatenate([chain, n_chain + np.arange(m)])
    ts = np.concatenate([rep_ts, draw_times(rng, m, ctx.t0, ctx.n_days)])
    term = np.concatenate([rep_term, terms(rng, m)])
    step = np.concatenate([rep_step, np.zeros(m, dtype=np.int64)])

    # applicants: identities, preferred channel, device, home IP
    ids = national_ids(rng, n_app, valid=rng.random(n_app) > 0.003)
    phone, email = phones(rng, n_app), emails(rng, n_app, disposable=rng.random(n_app) < 0.005)
    card, home_ip = bank_cards(rng, n_app), ipv4s(rng, n_app)
    chan = rng.choice(len(_CHANNELS), size=n_app, p=_CHANNEL_P)
    platform = np.where(chan == 0, np.where(rng.random(n_app) < 0.68, "android", "ios"), "web")
    has_dev = (chan != 3) | (rng.random(n_app) < 0.3)
    dev_of = np.full(n_app, -1, dtype=np.int64)
    dev_of[has_dev] = np.arange(int(has_dev.sum()))
    family = (rng.random(n_app) < 0.03) & has_dev
    src = rng.integers(0, n_app, size=n_app)
    family &= has_dev[src] & ~family[src]
    dev_of[family], chan[family], home_ip[family] = dev_of[src[family]], chan[src[family]], home_ip[src[family]]
    dev_pool = random_devices(rng, int(has_dev.sum()), platform[has_dev])
    truth_ids = ctx.devices(len(dev_pool))

    # invitations from applicants who came earlier
    first = np.full(n_app, np.iinfo(np.int64).max)
    np.minimum.at(first, who, ts)
    order = np.argsort(first, kind="stable")
    rank = np.empty(n_app, dtype=np.int64)
    rank[order] = np.arange(n_app)
    invited = (rng.random(n_app) < 0.08) & (rank > 0)
    inviter = obj(None, n_app)
    inviter[invited] = ids[order[(rng.random(int(invited.sum())) * rank[invited]).astype(np.int64)]]

    # rows
    row_phone, row_card = phone[who], card[who]
    new_phone, new_card = rng.random(n) < 0.03, rng.random(n) < 0.06
    row_phone[new_phone] = phones(rng, int(new_phone.sum()))
    row_card[new_card] = bank_cards(rng, int(new_card.sum()))
    u = rng.random(n)
    ip = home_ip[who]
    mobile, vpn = (u >= 0.65) & (u < 0.98), u >= 0.99
    ip[mobile] = ipv4s(rng, int(mobile.sum()))
    ip[vpn] = ips_in_prefixes(rng, list(PROXY_PREFIXES), int(vpn.sum()))
    d = dev_of[who]
    device = obj(None, n)
    has = d >= 0
    pool = obj(dev_pool) if dev_pool else obj(None, 0)
    device[has] = pool[d[has]]
    drifted = np.flatnonzero(has & (step > 0) & (rng.random(n) < 0.5))
    fast = PyRng(rng)
    for i in drifted.tolist():
        device[i] = drift(device[i], fast)
    return make_part(
        n, ts=ts, applicant_id=ids[who], phone=row_phone, email=email[who], bank_card=row_card, ip=ip,
        inviter_id=inviter[who], product=products(rng, n), channel=_CHANNELS[chan[who]], device=device,
        amount=amounts(rng, n), term_months=term, device_truth=np.where(has, truth_ids[np.maximum(d, 0)], -1)
        if len(truth_ids) else -1, scenario="genuine"), ids


def _application_ids(n: int, prefix: str) -> np.ndarray:
    """``prefix`` + the row number as 10 zero-padded digits, for rows ``0 .. n - 1``."""
    digits = np.empty((n, 10), dtype=np.uint8)
    rest = np.arange(n, dtype=np.int64)
    for j in range(9, -1, -1):
        digits[:, j] = rest % 10
        rest //= 10
    return digit_strings(digits, prefix=prefix)


def _check(name: str, value: Any, ok: bool, what: str) -> None:
    if not ok:
        raise ConfigError(f"The {name!r} parameter of generate must be {what}. Got {value!r} instead.")


def generate(n_days: int = 28, per_day: int = 2000, fraud_rate: float = 0.03, seed: int | None = 0,
             start: str | int = "2026-01-05", *, scenario_mix: dict[str, float] | None = None) -> SyntheticData:
    """Generate a labelled stream of loan applications.

    Parameters
    ----------
    n_days : int, default 28
        Length of the period, in days from ``start``.
    per_day : int, default 2000
        Average applications per day (the total is exactly ``n_days * per_day``).
    fraud_rate : float, default 0.03
        Share of fraudulent applications (exact up to rounding).
    seed : int, optional
        Random seed: the same arguments give identical data.
    start : str or int, default "2026-01-05"
        First day (UTC midnight), as a date string or epoch time.
    scenario_mix : dict, optional
        Relative weight of each fraud scenario (default :data:`DEFAULT_SCENARIO_MIX`);
        scenarios left out are not generated.

    Returns
    -------
    SyntheticData
        Columns sorted by ``ts``, labels and ground truth.

    Examples
    --------
    >>> d = generate(n_days=2, per_day=500, seed=3, scenario_mix={"proxy_burst": 1.0})
    >>> sorted(set(d.labels["scenario"]))
    ['genuine', 'proxy_burst']
    >>> generate(n_days=0)
    Traceback (most recent call last):
    ...
    fraudscore.errors.ConfigError: The 'n_days' parameter of generate must be a positive integer. Got 0 instead.
    """
    _check("n_days", n_days, isinstance(n_days, (int, np.integer)) and n_days >= 1, "a positive integer")
    _check("per_day", per_day, isinstance(per_day, (int, np.integer)) and per_day >= 1, "a positive integer")
    _check("fraud_rate", fraud_rate, isinstance(fraud_rate, (int, float)) and 0.0 <= fraud_rate < 1.0,
           "a number in [0, 1)")
    mix = dict(DEFAULT_SCENARIO_MIX if scenario_mix is None else scenario_mix)
    _check("scenario_mix", scenario_mix, bool(mix) and set(mix) <= set(BUILDERS) and all(
        isinstance(v, (int, float)) and v >= 0 for v in mix.values()) and sum(mix.values()) > 0,
        f"a mapping of scenarios {tuple(BUILDERS)} to non-negative weights")
    try:
        t0 = to_epoch_ms(start)
    except (TypeError, ValueError):
        raise ConfigError(f"The 'start' parameter of generate must be a date or timestamp. Got {start!r} instead."
                          ) from None
    t0 -= t0 % DAY_MS
    with no_gc():  # only acyclic objects are made: cyclic GC passes over millions of new dicts are pure cost
        return _generate(int(n_days), int(per_day), float(fraud_rate), seed, t0, mix)


def _generate(n_days: int, per_day: int, fraud_rate: float, seed: int | None, t0: int, mix: dict[str, float]
              ) -> SyntheticData:
    rng = np.random.default_rng(seed)
    total = int(n_days) * int(per_day)
    n_fraud = int(round(total * float(fraud_rate)))
    ctx = Context(rng, t0, int(n_days))
    genuine, ctx.genuine_ids = _genuine(ctx, total - n_fraud)  # every applicant applies at least once
    parts = [genuine]
    names = [s for s in SCENARIOS[1:] if mix.get(s, 0) > 0]
    w = np.array([mix[s] for s in names], dtype=float)
    counts = np.floor(n_fraud * w / w.sum()).astype(np.int64)
    if n_fraud >= len(names):
        counts = np.maximum(counts, 1)
    while counts.sum() > n_fraud:
        counts[int(np.argmax(counts))] -= 1
    counts[int(np.argmax(w))] += n_fraud - counts.sum()
    for name, k in zip(names, counts.tolist()):
        if k > 0:
            parts.append(BUILDERS[name](ctx, k))
    rows = concat(parts)
    order = np.argsort(rows["ts"], kind="stable")
    rows = {k: v[order] for k, v in rows.items()}
    n = len(order)
    app_id = _application_ids(n, f"A{int(seed or 0) % 1000:03d}")
    fraud = rows["is_fraud"].astype(bool)
    delay = np.where(fraud, rng.integers(7 * DAY_MS, 45 * DAY_MS, size=n),
                     rng.integers(30 * DAY_MS, 90 * DAY_MS, size=n))
    columns = {k: (app_id if k == "application_id" else rows[k]) for k in EVENT_COLUMNS}
    labels = {"application_id": app_id, "is_fraud": rows["is_fraud"].astype(np.int8),
              "label_ts": rows["ts"] + delay.astype(np.int64), "scenario": rows["scenario"]}
    truth = {"device_truth": rows["device_truth"], "group": rows["group"]}
    params = {"n_days": int(n_days), "per_day": int(per_day), "fraud_rate": float(fraud_rate), "seed": seed,
              "start": int(t0), "scenario_mix": mix}
    return SyntheticData(columns=columns, labels=labels, truth=truth, params=params)
