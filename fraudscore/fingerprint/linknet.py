"""Network-scoped popularity: a fingerprint common globally may be unique on its network.

The linker links a fingerprint that attributes cannot separate (identical phones of one
model with the same settings) to its class record at confidence ``1 / popularity``,
below :data:`~fraudscore.fingerprint.linker.MIN_LINK_CONFIDENCE`: velocity does not key
on it. :class:`NetworkScope` (opt-in: ``DeviceLinker(network=NetworkScope())``) counts,
per IP /24 token, the distinct ids seen there within a window, and re-scopes such a
class link to ``<class id>@<network>`` with the confidence that no twin of the class
shares that network:

    popularity on the network = 1 + prior + (ids seen there) x (class popularity / live ids)

(the expected number of the class's devices among the network's other devices, under
independence). A twin seen on its home /24 among a few devices gets its own id at
confidence near 1; behind a carrier-grade NAT (hundreds of the lender's devices on one
/24) the link stays refused. What it cannot see: two twins of one household (or of two
neighbouring households) on one /24 share one id -- independence does not hold inside
a household (``prior`` adds an expected number of such twins) -- and a line renumbered
to another /24 starts a new id there (recall, not precision).

Examples
--------
>>> ns = NetworkScope(window_ms=86_400_000)
>>> for k in range(5):                               # a home /24: a few devices
...     ns.observe(7, f"d_{k}", 1_000)
>>> ns.scope("s:abc", 0.05, 7, 2_000)[1] >= 0.6      # class popularity 20 among 5 live ids... conservative
False
>>> for k in range(400):                             # many devices elsewhere: the class is rare among them
...     ns.observe(9, f"e_{k}", 1_000)
>>> sid, conf = ns.scope("s:abc", 0.05, 7, 2_000)
>>> sid, conf >= 0.6
('s:abc@000000000007', True)
>>> ns.scope("s:abc", 0.05, 9, 2_000)[1] < 0.6       # a crowded /24 (CGNAT): still refused
True
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import xxhash

from ..errors import ConfigError

__all__ = ["NetworkScope", "scoped_link"]
_MASK48 = (1 << 48) - 1


def _stamp(books: dict[Any, OrderedDict], outer: Any, inner: Any, now: int, cap: int) -> None:
    """Set ``books[outer][inner] = now`` as its most recent entry, keeping at most ``cap`` entries per book."""
    book = books.get(outer)
    if book is None:
        book = books[outer] = OrderedDict()
    book[inner] = now
    book.move_to_end(inner)
    while len(book) > cap:
        book.popitem(last=False)


class NetworkScope:
    """Distinct ids per network (IP /24 token) within a window, and the network-scoped confidence.

    Parameters
    ----------
    window_ms : int, default 14 days
        Ids count on a network (and among the live ids) for this long after their last sighting there.
    max_per_network : int, default 256
        Ids kept per network (most recent); a network at the cap is crowded whatever the class.
    max_ids : int, default 1,000,000
        Live ids kept overall (least recently seen dropped first).
    prior : float, default 0.0
        Expected twins of the class on the network beyond independence (e.g. same-model phones of
        one household); added to the network popularity.
    min_confidence : float, default 0.9
        A scoped link whose confidence falls below this stays the class link (``how == "shared"``, its
        own confidence). Above ``MIN_LINK_CONFIDENCE`` on purpose: the independence estimate misses
        neighbours and renumbered lines (on the simulator's grounded networks the false pairs come at
        confidences 0.6-0.9); 0.9 kept the plain linker's precision there (docs/fingerprints.md).

    Examples
    --------
    >>> NetworkScope(window_ms=0)
    Traceback (most recent call last):
    ...
    fraudscore.errors.ConfigError: The 'window_ms' parameter of NetworkScope must be an integer >= 1. Got 0 instead.
    """

    def __init__(self, window_ms: int = 14 * 86_400_000, *, max_per_network: int = 256, max_ids: int = 1_000_000,
                 prior: float = 0.0, min_confidence: float = 0.9) -> None:
        for name, v in (("window_ms", window_ms), ("max_per_network", max_per_network), ("max_ids", max_ids)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"The {name!r} parameter of NetworkScope must be an integer >= 1. Got {v!r} instead.")
        if isinstance(prior, bool) or not isinstance(prior, (int, float)) or not prior >= 0:
            raise ConfigError(f"The 'prior' parameter of NetworkScope must be a number >= 0. Got {prior!r} instead.")
        if isinstance(min_confidence, bool) or not isinstance(min_confidence, (int, float)) or not (
                0 <= min_confidence <= 1):
            raise ConfigError("The 'min_confidence' parameter of NetworkScope must be a number in [0, 1]. "
                              f"Got {min_confidence!r} instead.")
        self.min_confidence = float(min_confidence)
        self.window_ms = window_ms
        self.max_per_network = max_per_network
        self.max_ids = max_ids
        self.prior = float(prior)
        self._nets: dict[int, OrderedDict[str, int]] = {}
        self._live: OrderedDict[str, int] = OrderedDict()  # linker ids (before scoping) by last sighting
        self._spread: dict[str, OrderedDict[int, int]] = {}  # class id -> networks it was seen on, by last sighting

    def _expire(self, book: OrderedDict[str, int], now: int) -> None:
        cut = now - self.window_ms
        while book:
            k, t = next(iter(book.items()))
            if t > cut:
                break
            del book[k]

    def observe(self, net: int, did: str, now: int, base: str | None = None) -> None:
        """Record a sighting of id ``did`` (the linker's id ``base``, when scoped) on network ``net`` at ``now``."""
        _stamp(self._nets, net, did, now, self.max_per_network)
        if base is not None:
            _stamp(self._spread, base, net, now, self.max_per_network)
        live = self._live
        key = base if base is not None else did
        live[key] = now
        live.move_to_end(key)
        while len(live) > self.max_ids:
            live.popitem(last=False)

    def crowd(self, net: int, now: int, exclude: str | None = None) -> int:
        """Distinct ids seen on ``net`` within the window (``exclude`` not counted)."""
        book = self._nets.get(net)
        if not book:
            return 0
        self._expire(book, now)
        return len(book) - (1 if exclude is not None and exclude in book else 0)

    def live(self, now: int) -> int:
        """Distinct linker ids seen (on any network) within the window."""
        self._expire(self._live, now)
        return len(self._live)

    def scope(self, class_id: str, confidence: float, net: int, now: int) -> tuple[str, float]:
        """The network-scoped id of a class link of ``confidence`` (``1 / popularity``) on ``net``, and its
        confidence: ``1 / (1 + prior + crowd x min(1, popularity / live ids))``. Records nothing."""
        sid = f"{class_id}@{net:012x}"
        pop = 1.0 / confidence if confidence > 0 else float("inf")
        spread = self._spread.get(class_id)
        if spread:  # the networks the class was seen on: at least that many of its devices (or trips) are live
            self._expire(spread, now)  # type: ignore[arg-type]
            pop = max(pop, float(len(spread) + (net not in spread)))
        share = min(1.0, pop / max(self.live(now), 1))
        others = self.crowd(net, now, exclude=sid)
        return sid, round(min(1.0, 1.0 / (1.0 + self.prior + others * share)), 3)

    def __len__(self) -> int:
        return len(self._nets)


def scoped_link(linker: Any, fp: Any, ts_ms: int, ip: str | int | None = None) -> Any:
    """``DeviceLinker.link`` with the linker's :class:`NetworkScope` (bound as ``linker.link`` when it has one).

    The plain link first (compiled or not, unchanged); then, for an event with an IP token, the network
    records the id, and a class link (``how == "shared"``: always below ``MIN_LINK_CONFIDENCE``) becomes
    ``<class id>@<network>`` (``how == "network"``) when its scoped confidence reaches ``min_confidence``.
    """
    res = type(linker).link(linker, fp, ts_ms, ip)
    ns = linker.network
    if ip is None or ns is None:
        return res
    if type(ip) is int:
        iph = ip
    else:  # the token's hash, as link() computes it (its memo when it has one)
        iph = linker._ip_memo.get(ip, 0) or ((xxhash.xxh3_64_intdigest(str(ip).encode()) & _MASK48) or 1)
    now = ts_ms if type(ts_ms) is int else int(ts_ms)
    if res.how != "shared":
        ns.observe(iph, res.device_id, now)
        return res
    sid, conf = ns.scope(res.device_id, res.link_confidence, iph, now)
    ns.observe(iph, sid, now, res.device_id)
    if conf < ns.min_confidence:
        return res
    return linker._result((sid, conf, res.changed, res.new, "network"))
