"""Fraud scenarios of the synthetic generator, one builder per scenario code.

Each builder takes the shared :class:`~fraudscore.synth._parts.Context` and a
number of rows and returns a part (columns for those rows). The patterns are
built to overlap genuine behaviour: no single field gives the label away.

* ``device_farm`` -- a few physical phones or emulators, many fresh (mostly valid)
  identities; between applications the farm tool randomises the volatile
  attributes and resettable ids (:func:`~fraudscore.synth.devices.drift`,
  ``kind="farm"``), hardware stays; half the farms hide the emulator / root flags.
* ``identity_theft`` -- one real ID number (often one that also applies
  genuinely) applying from several new phones and devices within hours.
* ``synthetic_identity`` -- rings of made-up identities: invalid checksums or
  implausible birth dates for some (not all), phones, bank cards and e-mails
  (often disposable) shared across the ring's identities.
* ``invitation_ring`` -- fraudsters inviting each other for referral rewards,
  on a few shared devices and a shared /24.
* ``proxy_burst`` -- bursts of applications within an hour from a few data-centre
  /24 ranges, each from a different device.

Examples
--------
>>> import numpy as np
>>> from fraudscore.synth._parts import Context
>>> ctx = Context(np.random.default_rng(0), t0=1767571200000, n_days=7)
>>> part = BUILDERS["proxy_burst"](ctx, 25)
>>> len(part["ts"]), set(part["scenario"]), bool(part["is_fraud"].all())
(25, {'proxy_burst'}, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._parts import DAY_MS, HOUR_MS, Context, amounts, burst_times, make_part, obj, products, split_sizes, terms
from ._pyrng import PyRng
from .devices import drift, random_devices
from .identities import (_OCTETS, PROXY_PREFIXES, bank_cards, emails, ips_in_prefixes, ipv4s, national_ids,
                         phones)

__all__ = ["BUILDERS", "device_farm", "identity_theft", "synthetic_identity", "invitation_ring", "proxy_burst"]


def _prefix(ip: str) -> str:
    return ip.rsplit(".", 1)[0]


def _campaign_start(ctx: Context, span_ms: int) -> int:
    return ctx.t0 + int(ctx.rng.integers(0, max(ctx.n_days * DAY_MS - span_ms, 1)))


def _platforms(rng: np.random.Generator, n: int, p_web: float) -> np.ndarray:
    return np.array(["android", "ios", "web"], dtype=object)[
        rng.choice(3, size=n, p=[(1 - p_web) * 0.7, (1 - p_web) * 0.3, p_web])]


def _channels(platform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    web = np.where(rng.random(len(platform)) < 0.6, "h5", "web").astype(object)
    return np.where(platform == "web", web, "app").astype(object)


def device_farm(ctx: Context, n: int) -> dict[str, np.ndarray]:
    """Rows from device farms (see the module docstring)."""
    rng, parts = ctx.rng, []
    fast = PyRng(rng)  # fast scalar draws for the per-row drift
    for size in split_sizes(rng, n, 30, 120):
        n_phys = int(rng.integers(2, 9))
        emulator = bool(rng.random() < 0.65)
        platform = "android" if emulator or rng.random() < 0.8 else "ios"
        base = random_devices(rng, n_phys, platform, emulator=emulator, rooted=not emulator)
        if rng.random() < 0.5:  # the farm hides its flags
            base = [{**d, "emulator": False, "rooted": False} for d in base]
        truth = ctx.devices(n_phys)
        which = rng.integers(0, n_phys, size=size)
        devices = obj([drift(base[w], fast, kind="farm") for w in which])
        span = int(rng.integers(1, 6)) * DAY_MS
        if rng.random() < 0.5:  # a pool of mobile-proxy addresses in two /24s
            ip = ips_in_prefixes(rng, [_prefix(x) for x in ipv4s(rng, 2)], size)
        else:  # rotating residential proxies
            ip = ipv4s(rng, size)
        inviter = obj(None, size)
        abuse = rng.random(size) < 0.1  # referral abuse: "invited" by a real customer
        if len(ctx.genuine_ids) and abuse.any():
            inviter[abuse] = ctx.genuine_ids[rng.integers(0, len(ctx.genuine_ids), size=int(abuse.sum()))]
        parts.append(make_part(
            size, ts=burst_times(rng, size, _campaign_start(ctx, span), span),
            applicant_id=national_ids(rng, size, valid=rng.random(size) < 0.9), phone=phones(rng, size),
            email=emails(rng, size, disposable=rng.random(size) < 0.15), bank_card=bank_cards(rng, size), ip=ip,
            inviter_id=inviter, product=products(rng, size), channel="app", device=devices,
            amount=amounts(rng, size, 1.3), term_months=terms(rng, size), device_truth=truth[which],
            group=ctx.groups(1)[0]))
    return _finish(parts, "device_farm")


def identity_theft(ctx: Context, n: int) -> dict[str, np.ndarray]:
    """One real ID number applying from several new phones and devices within hours."""
    rng = ctx.rng
    sizes = split_sizes(rng, n, 2, 5)
    k = len(sizes)
    victims = national_ids(rng, k)
    if len(ctx.genuine_ids):
        known = rng.random(k) < 0.5
        victims = np.where(known, ctx.genuine_ids[rng.integers(0, len(ctx.genuine_ids), size=k)], victims)
    victim = np.repeat(np.arange(k), sizes)
    starts = np.array([_campaign_start(ctx, 6 * HOUR_MS) for _ in range(k)], dtype=np.int64)
    ts = starts[victim] + rng.integers(0, 6 * HOUR_MS, size=n, dtype=np.int64)
    platform = _platforms(rng, n, 0.35)
    cards = bank_cards(rng, n)
    shared_card = bank_cards(rng, k)
    cards = np.where((rng.random(k) < 0.5)[victim], shared_card[victim], cards)
    return _finish([make_part(
        n, ts=ts, applicant_id=victims[victim], phone=phones(rng, n), email=emails(rng, n), bank_card=cards,
        ip=ipv4s(rng, n), product=products(rng, n), channel=_channels(platform, rng),
        device=obj(random_devices(rng, n, platform)), amount=amounts(rng, n, 1.6), term_months=terms(rng, n),
        device_truth=ctx.devices(n), group=ctx.groups(k)[victim])], "identity_theft")


def _layout(rng: np.random.Generator, n: int, low: int, high: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Campaign sizes in ``[low, high]`` summing to ``n``; for every row its campaign and position in it."""
    sizes = split_sizes(rng, n, low, high)
    grp = np.repeat(np.arange(len(sizes)), sizes)
    pos = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return sizes, grp, pos


def _campaign_times(ctx: Context, grp: np.ndarray, span_ms: np.ndarray) -> np.ndarray:
    """Row times: each campaign starts at random in the period and spreads over its span (sorted within it)."""
    rng = ctx.rng
    start = ctx.t0 + rng.integers(0, np.maximum(ctx.n_days * DAY_MS - span_ms, 1), dtype=np.int64)
    off = rng.integers(0, np.maximum(span_ms, 1)[grp], dtype=np.int64)
    return start[grp] + off[np.lexsort((off, grp))]


def _pick(rng: np.random.Generator, grp: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """For every row, a random one of its campaign's ``counts[grp]`` pooled items (index into the pool)."""
    first = np.cumsum(counts) - counts
    return first[grp] + (rng.random(len(grp)) * counts[grp]).astype(np.int64)


def _in_prefix(rng: np.random.Generator, prefixes: np.ndarray) -> np.ndarray:
    """One address in each given ``"a.b.c"`` prefix."""
    return prefixes + np.full(len(prefixes), ".", dtype=object) + _OCTETS[rng.integers(2, 255, size=len(prefixes))]


def _prefixes(rng: np.random.Generator, k: int) -> np.ndarray:
    return obj([_prefix(x) for x in ipv4s(rng, k)])


def synthetic_identity(ctx: Context, n: int) -> dict[str, np.ndarray]:
    """Rings of made-up identities sharing phones, cards, e-mails and devices."""
    rng = ctx.rng
    fast = PyRng(rng)  # fast scalar draws for the per-row drift
    sizes, grp, pos = _layout(rng, n, 3, 12)
    g = len(sizes)
    n_ids = np.maximum(1, sizes - rng.integers(0, sizes // 3 + 1))  # a few identities apply twice
    kind = rng.choice(3, size=int(n_ids.sum()), p=[0.35, 0.25, 0.40])  # bad checksum, bad birth date, valid
    ids = national_ids(rng, len(kind), valid=kind != 0, implausible_birth=kind == 1)
    local = np.where(pos < n_ids[grp], pos, (rng.random(n) * n_ids[grp]).astype(np.int64))
    who = (np.cumsum(n_ids) - n_ids)[grp] + local
    n_phone, n_card, n_mail = rng.integers(1, 4, size=g), rng.integers(1, 3, size=g), rng.integers(1, 4, size=g)
    phone = phones(rng, int(n_phone.sum()))[_pick(rng, grp, n_phone)]
    card = bank_cards(rng, int(n_card.sum()))[_pick(rng, grp, n_card)]
    mail = emails(rng, int(n_mail.sum()), disposable=np.repeat(rng.random(g) < 0.5, n_mail))[_pick(rng, grp, n_mail)]
    n_dev = rng.integers(1, 4, size=g)
    web = rng.random(g) < 0.3
    base = random_devices(rng, int(n_dev.sum()), np.where(np.repeat(web, n_dev), "web", "android").astype(object))
    truth = ctx.devices(len(base))
    dw = _pick(rng, grp, n_dev)
    devices = obj([drift(base[w], fast) if fast.random() < 0.3 else base[w] for w in dw.tolist()])
    return _finish([make_part(
        n, ts=_campaign_times(ctx, grp, rng.integers(1, 15, size=g) * DAY_MS), applicant_id=ids[who], phone=phone,
        email=mail, bank_card=card, ip=_in_prefix(rng, _prefixes(rng, g)[grp]), product=products(rng, n),
        channel=np.where(web, "h5", "app").astype(object)[grp], device=devices, amount=amounts(rng, n, 1.2),
        term_months=terms(rng, n), device_truth=truth[dw], group=ctx.groups(g)[grp])], "synthetic_identity")


def invitation_ring(ctx: Context, n: int) -> dict[str, np.ndarray]:
    """Fraudsters inviting each other for referral rewards."""
    rng = ctx.rng
    fast = PyRng(rng)  # fast scalar draws for the per-row drift
    sizes, grp, pos = _layout(rng, n, 5, 20)
    g = len(sizes)
    ids = national_ids(rng, n, valid=rng.random(n) < 0.95)
    inviter = obj(None, n)
    later = np.flatnonzero(pos > 0)  # invited by a recent ring member (one of the previous four)
    inviter[later] = ids[later - 1 - (rng.random(len(later)) * np.minimum(pos[later], 4)).astype(np.int64)]
    entry = np.flatnonzero((pos == 0) & (rng.random(n) < 0.3))  # the ring's entry point: a genuine user's referral
    if len(ctx.genuine_ids) and len(entry):
        inviter[entry] = ctx.genuine_ids[rng.integers(0, len(ctx.genuine_ids), size=len(entry))]
    n_dev = rng.integers(2, 5, size=g)
    base = random_devices(rng, int(n_dev.sum()), _platforms(rng, int(n_dev.sum()), 0.2))
    truth = ctx.devices(len(base))
    dw = _pick(rng, grp, n_dev)
    devices = obj([drift(base[w], fast) if fast.random() < 0.4 else base[w] for w in dw.tolist()])
    ip = np.where(rng.random(n) < 0.6, _in_prefix(rng, _prefixes(rng, g)[grp]), ipv4s(rng, n))
    channel = np.where([d["source"] == "web" for d in devices], "h5", "app").astype(object)
    return _finish([make_part(
        n, ts=_campaign_times(ctx, grp, rng.integers(1, 4, size=g) * DAY_MS), applicant_id=ids,
        phone=phones(rng, n), email=emails(rng, n, disposable=rng.random(n) < 0.1), bank_card=bank_cards(rng, n),
        ip=obj(ip), inviter_id=inviter, product=products(rng, n), channel=channel, device=devices,
        amount=amounts(rng, n, 0.8), term_months=terms(rng, n), device_truth=truth[dw], group=ctx.groups(g)[grp])],
        "invitation_ring")


def proxy_burst(ctx: Context, n: int) -> dict[str, np.ndarray]:
    """Bursts of applications within an hour from a few data-centre /24 ranges."""
    rng = ctx.rng
    sizes, grp, _ = _layout(rng, n, 10, 40)
    g = len(sizes)
    span = rng.integers(20, 91, size=g) * 60_000
    platform = _platforms(rng, n, 0.7)
    # one to three distinct data-centre ranges per burst
    ranges = np.argsort(rng.random((g, len(PROXY_PREFIXES))), axis=1)
    k = rng.integers(1, 4, size=g)
    prefix = obj(PROXY_PREFIXES)[ranges[grp, (rng.random(n) * k[grp]).astype(np.int64)]]
    return _finish([make_part(
        n, ts=_campaign_times(ctx, grp, span), applicant_id=national_ids(rng, n, valid=rng.random(n) < 0.75),
        phone=phones(rng, n), email=emails(rng, n, disposable=rng.random(n) < 0.2), bank_card=bank_cards(rng, n),
        ip=_in_prefix(rng, prefix), product=products(rng, n), channel=_channels(platform, rng),
        device=obj(random_devices(rng, n, platform)), amount=amounts(rng, n, 1.5), term_months=terms(rng, n),
        device_truth=ctx.devices(n), group=ctx.groups(g)[grp])], "proxy_burst")


def _finish(parts: list[dict[str, np.ndarray]], scenario: str) -> dict[str, np.ndarray]:
    from ._parts import concat

    out = concat(parts) if parts else make_part(0, ts=np.zeros(0, dtype=np.int64))
    out["is_fraud"][:] = 1
    out["scenario"] = obj(scenario, len(out["ts"]))
    return out


BUILDERS: dict[str, Callable[[Context, int], dict[str, Any]]] = {
    "device_farm": device_farm,
    "identity_theft": identity_theft,
    "synthetic_identity": synthetic_identity,
    "invitation_ring": invitation_ring,
    "proxy_burst": proxy_burst,
}
"""Scenario code -> builder."""
