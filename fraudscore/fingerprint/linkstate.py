"""Device-link state: in memory (bounded) or in Redis (shared by workers).

The linker's decision is a pure function of (fingerprint, :class:`LinkView`,
time): a state answers :meth:`LinkState.read` with a view of everything the
decision needs, and applies the decision with :meth:`LinkState.write`. That is
the shape of an optimistic protocol ("read the candidate block, decide in
Python, commit atomically"). The state holds keyed hashes only, never an
attribute value:

* **records**, one per device (:func:`~fraudscore.fingerprint.linkfeatures.make_record`):
  last fingerprint id, hardware family, browser family, parsed versions, the
  48-bit hashes of the volatile attributes and the renderer, the font-list
  sketch, language hashes, last IP /24 hash, first / last seen time and a count;
* the **exact index**: fingerprint id -> ``(device id, devices seen with it)``;
  the second number counts collisions (another live device showing the same
  fingerprint);
* **blocks**: ``<family>:<browser family>[:<font MinHash>]`` and ``<family>:<resettable id>`` ->
  device ids ordered by **last sighting** (a device seen again unchanged moves
  to the front), at most ``max_per_block``; a live device pushed out is counted
  in :attr:`MemoryLinkState.live_evictions`;
* **value counts** for the popularity estimate: per hardware family, the number
  of devices and how many showed each value of the settings attributes; over
  all devices, the same for fonts, canvas and resettable ids.

Expiry uses **event time** (``ts_ms``), so online and batch linking agree: a
record last seen more than ``ttl_ms`` before the current event is ignored.

Examples
--------
>>> st = MemoryLinkState(max_devices=10, ttl_ms=1000)
>>> plan = LinkPlan(record={"id": "d1", "t": 0, "n": 1}, fp_ids=("fp1_a_b_c",), block_keys=("k",), ndev=1,
...                 new_device=True, fam="f", fam_keys=(1,), glob_keys=())
>>> st.write(plan, 0)
>>> v = st.read(("fp1_a_b_c",), ("k",), "f", (1,), (), 10)
>>> v.exact["id"], v.exact_ndev, v.fam_n, v.fam_counts
('d1', 1, 1, {1: 1})
>>> st.read(("fp1_a_b_c",), ("k",), "f", (), (), 5000).exact is None   # expired by event time
True
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._core import load as load_core
from ..errors import ConfigError, StoreError

__all__ = ["LinkState", "MemoryLinkState", "RedisLinkState", "LinkView", "LinkPlan", "DEFAULT_TTL_MS"]

DEFAULT_TTL_MS = 180 * 86_400_000  # 180 days
Record = dict[str, Any]


def _check(name: str, owner: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"The '{name}' parameter of {owner} must be an integer >= {minimum}. Got {value!r} instead."
        )
    return value


@dataclass
class LinkView:
    """What a link decision reads: the exact match, the candidates and the value counts."""

    exact: Record | None = None
    exact_ndev: int = 0
    shared: Record | None = None
    cands: list[Record] = field(default_factory=list)
    fam_n: int = 0
    fam_counts: dict[int, int] = field(default_factory=dict)  # at least the requested keys (absent = 0)
    glob_n: int = 0
    glob_counts: dict[int, int] = field(default_factory=dict)


@dataclass
class LinkPlan:
    """What a link decision writes (see :meth:`LinkState.write`).

    ``touch`` means the device was seen again in its current state: ``record`` is the
    stored record, of which only the last sighting, count and IP (``ip``, 0 = keep)
    change, and it moves to the front of its blocks.
    """

    record: Record
    fp_ids: tuple[str, ...]
    block_keys: tuple[str, ...]
    ndev: int
    new_device: bool
    fam: str
    fam_keys: tuple[int, ...] = ()
    glob_keys: tuple[int, ...] = ()
    touch: bool = False
    ip: int = 0


def _recency_map(book: Any, walk: Any) -> Any:
    """The type of MemoryLinkState's recency-ordered maps: ``RecencyMap`` of the compiled ``linkstate`` module (its
    walk told about it), or ``OrderedDict`` (the reference; also where the compiled walk cannot read the maps)."""
    rm = getattr(book, "RecencyMap", None) if book is not None else None
    if rm is None:
        return OrderedDict
    if walk is not None:
        use = getattr(walk, "use_maps", None)
        if use is None:  # pragma: no cover - a linking module of another build
            return OrderedDict
        use(rm)
    return rm


class LinkState:
    """Interface of a link state (see :class:`MemoryLinkState` and :class:`RedisLinkState`)."""

    ttl_ms: int
    max_per_block: int

    def read(self, fp_ids: Sequence[str], block_keys: Sequence[str], fam: str, fam_keys: Sequence[int],
             glob_keys: Sequence[int], now: int,
             need_candidates: Callable[[Record | None], bool] | None = None,
             shared_key: str | None = None) -> LinkView:  # pragma: no cover
        """The exact match of the first known of ``fp_ids`` (and its collision count), the record indexed
        under ``shared_key`` (the shared record of a common fingerprint's class), the live records of
        ``block_keys`` (most recently seen first, no repeats, the exact match excluded; only when
        ``need_candidates(exact record or None)`` is true, when given) and the value counts."""
        raise NotImplementedError

    def write(self, plan: LinkPlan, now: int) -> None:  # pragma: no cover - interface
        """Apply a decision: store the record, index it, count its values."""
        raise NotImplementedError


class MemoryLinkState(LinkState):
    """Link state in process memory, bounded and evicted.

    Parameters
    ----------
    max_devices : int, default 1_000_000
        Most devices kept; the least recently seen are evicted beyond it.
    ttl_ms : int, default 180 days
        A device not seen for longer (in event time) is forgotten.
    max_per_block : int, default 64
        Most device ids kept per candidate block (the most recently seen ones).

    Attributes
    ----------
    live_evictions : int
        Live devices pushed out of a full block by more recently seen ones.
    """

    def __init__(self, max_devices: int = 1_000_000, ttl_ms: int = DEFAULT_TTL_MS, max_per_block: int = 64) -> None:
        self.max_devices = _check("max_devices", "MemoryLinkState", max_devices)
        self.ttl_ms = _check("ttl_ms", "MemoryLinkState", ttl_ms)
        self.max_per_block = _check("max_per_block", "MemoryLinkState", max_per_block)
        core = load_core("linking")  # the compiled block walk, or None (the reference: _walk_reference)
        self._walk = core.walk if core is not None else None
        # the compiled touch / write (fraudscore/_core/linkstate.c), or None (the references below)
        book = load_core("linkstate")
        self._ctouch = book.touch if book is not None else None
        self._cwrite = book.write if book is not None else None
        # the recency-ordered maps: the reference's OrderedDicts, or with the compiled core C-owned RecencyMaps
        # (``_core.linkstate.RecencyMap``: the same keys, values and order; open addressing on the str keys' hashes
        # and an intrusive recency list instead of OrderedDict's node table)
        self._maps: Any = _recency_map(book, core)
        self._devices: OrderedDict[str, Record] = self._maps()
        self._exact: OrderedDict[str, list[Any]] = self._maps()
        self._blocks: OrderedDict[str, OrderedDict[str, None]] = self._maps()
        # the family value counts: the reference's OrderedDict (family -> [n, {key: count}]), or with the compiled
        # core the same mapping owned by C (``_core.linkstate.FamilyCounts``: 64-bit keys in open-addressing
        # tables, an intrusive recency list; read through get / items as copies, counted through count / bound)
        self._fam: Any = book.FamilyCounts() if book is not None else OrderedDict()
        self._glob: list[Any] = [0, OrderedDict()]
        self.live_evictions = 0

    def __len__(self) -> int:
        return len(self._devices)

    def to_dict(self) -> dict[str, Any]:
        """The whole state as plain data (JSON-ready; keyed hashes only), in recency order.

        Examples
        --------
        >>> st = MemoryLinkState()
        >>> st.write(LinkPlan({"id": "d1", "t": 0, "n": 1}, ("fp1_a_b_c",), ("k",), 1, True, "f", (7,)), 0)
        >>> other = MemoryLinkState()
        >>> other.restore_dict(st.to_dict())
        >>> other.read(("fp1_a_b_c",), ("k",), "f", (7,), (), 10) == st.read(("fp1_a_b_c",), ("k",), "f", (7,), (), 10)
        True
        """
        return {"devices": list(self._devices.values()), "exact": [[k, v] for k, v in self._exact.items()],
                "blocks": [[k, list(v)] for k, v in self._blocks.items()],
                "families": [[k, n, [[c, v] for c, v in counts.items()]] for k, (n, counts) in self._fam.items()],
                "global": [self._glob[0], [[c, v] for c, v in self._glob[1].items()]],
                "live_evictions": self.live_evictions}

    def restore_dict(self, data: dict[str, Any]) -> None:
        """Replace the state with :meth:`to_dict` output."""
        try:
            devices = OrderedDict((str(r["id"]), dict(r)) for r in data["devices"])
            exact = OrderedDict((str(k), [str(v[0]), int(v[1])]) for k, v in data["exact"])
            blocks = OrderedDict((str(k), OrderedDict((str(d), None) for d in v)) for k, v in data["blocks"])
            fam = OrderedDict((str(k), [int(n), {int(c): int(v) for c, v in counts}])
                              for k, n, counts in data["families"])
            glob = [int(data["global"][0]), OrderedDict((int(c), int(v)) for c, v in data["global"][1])]
            evictions = int(data.get("live_evictions", 0))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise StoreError(f"device-link state data is malformed: {exc}") from None
        if self._maps is not OrderedDict:  # the C-owned maps: the same keys, values and order
            devices, exact = self._maps(devices.items()), self._maps(exact.items())
            blocks = self._maps((k, self._maps(v.items())) for k, v in blocks.items())
        if type(self._fam) is not OrderedDict:  # the C-owned counts: the same families, order and counts
            counts = type(self._fam)()
            try:
                for k, (n, c) in fam.items():
                    counts.load(k, n, c)
            except (TypeError, OverflowError) as exc:
                raise StoreError(f"device-link state data is malformed: {exc}") from None
            fam = counts
        self._devices, self._exact, self._blocks, self._fam, self._glob = devices, exact, blocks, fam, glob
        self.live_evictions = evictions

    def current(self, fp_id: str, now: int) -> tuple[Record, int] | None:
        """The live record indexed under ``fp_id`` and the fingerprint's device count, else None.

        The fast path of the commonest event, a device seen again: what :meth:`read` returns as
        the exact match when ``fp_id`` is the first fingerprint id it is asked for.

        Examples
        --------
        >>> st = MemoryLinkState()
        >>> st.write(LinkPlan({"id": "d1", "fp": "fp1_a", "t": 0, "n": 1}, ("fp1_a",), ("k",), 1, True, "f"), 0)
        >>> st.current("fp1_a", 10)[0]["id"], st.current("fp1_b", 10)
        ('d1', None)
        """
        hit = self._exact.get(fp_id)
        if hit is None:
            return None
        rec = self._devices.get(hit[0])
        if rec is None or now - rec["t"] > self.ttl_ms:
            return None
        return rec, hit[1]

    def family(self, fam: str) -> tuple[int, dict[int, int]]:
        """The live device count and value counts of hardware family ``fam`` (read-only)."""
        f = self._fam.get(fam)
        return (f[0], f[1]) if f is not None else (0, {})

    def read(self, fp_ids: Sequence[str], block_keys: Sequence[str], fam: str, fam_keys: Sequence[int],
             glob_keys: Sequence[int], now: int,
             need_candidates: Callable[[Record | None], bool] | None = None,
             shared_key: str | None = None) -> LinkView:
        devices, ttl = self._devices, self.ttl_ms
        view = LinkView()
        for fid in fp_ids:
            hit = self._exact.get(fid)
            if hit is not None:
                rec = devices.get(hit[0])
                if rec is not None and now - rec["t"] <= ttl:
                    view.exact, view.exact_ndev = rec, hit[1]
                    break
        if shared_key is not None:
            hit = self._exact.get(shared_key)
            if hit is not None:
                rec = devices.get(hit[0])
                if rec is not None and now - rec["t"] <= ttl:
                    view.shared = rec
        if need_candidates is None or need_candidates(view.exact):
            skip = view.exact["id"] if view.exact is not None else None
            walk = self._walk
            got = walk(self._blocks, block_keys, devices, skip, now, ttl) if walk is not None else None
            if got is not None:  # the compiled walk (fraudscore/_core/linking.c): the loop below, in C
                view.cands = got
            else:
                self._walk_reference(view.cands, block_keys, skip, now)
        f = self._fam.get(fam)
        if f is not None:  # the family's live counts (read-only for the decision; a superset of fam_keys)
            view.fam_n, view.fam_counts = f[0], f[1]
        if glob_keys:
            g = self._glob[1]
            view.glob_n = self._glob[0]
            view.glob_counts = {k: g.get(k, 0) for k in glob_keys}
        return view

    def _walk_reference(self, cands: list[Record], block_keys: Sequence[str], skip: str | None, now: int) -> None:
        """Append the live records of ``block_keys`` to ``cands``: most recently seen first, no repeats,
        ``skip`` left out (the reference of the compiled walk)."""
        devices, ttl, blocks = self._devices, self.ttl_ms, self._blocks
        seen: set[str] = set()
        for key in block_keys:
            blk = blocks.get(key)
            if not blk:
                continue
            for did in reversed(blk):
                if did in seen or did == skip:
                    continue
                seen.add(did)
                rec = devices.get(did)
                if rec is not None and now - rec["t"] <= ttl:
                    cands.append(rec)

    def touch(self, rec: Record, fp_ids: Sequence[str], block_keys: Sequence[str], ndev: int, ip: int,
              now: int) -> None:
        """``write(LinkPlan(rec, fp_ids, block_keys, ndev, False, fam, touch=True, ip=ip), now)`` without the
        plan: the stored record ``rec`` seen again (the linker's fast path)."""
        c = self._ctouch
        if c is None or c(self, rec, fp_ids, block_keys, ndev, ip, now) is None:  # None: the reference's job
            self._touch_reference(rec, fp_ids, block_keys, ndev, ip, now)

    def _touch_reference(self, rec: Record, fp_ids: Sequence[str], block_keys: Sequence[str], ndev: int, ip: int,
                         now: int) -> None:
        """:meth:`touch` in pure Python (the reference of the compiled ``_core.linkstate.touch``)."""
        if now > rec["t"]:
            rec["t"] = now
        rec["n"] += 1
        if ip:
            rec["ip"] = ip
        did = rec["id"]
        self._devices.move_to_end(did)
        exact = self._exact
        for fid in fp_ids:
            if fid in exact:
                exact.move_to_end(fid)
            else:
                exact[fid] = [did, ndev]
        self._index(did, block_keys, now)
        self._bound()

    def write(self, plan: LinkPlan, now: int) -> None:
        rec = plan.record
        if plan.touch:  # the stored record itself: seen again, unchanged
            self.touch(rec, plan.fp_ids, plan.block_keys, plan.ndev, plan.ip, now)
            return
        c = self._cwrite
        if c is None or c(self, rec, plan.fp_ids, plan.block_keys, plan.ndev, plan.new_device, plan.fam,
                          plan.fam_keys, plan.glob_keys, now) is None:  # None: the reference's job
            self._write_reference(plan, now)

    def _write_reference(self, plan: LinkPlan, now: int) -> None:
        """:meth:`write` of a plan that is not a touch, in pure Python (the reference of the compiled
        ``_core.linkstate.write``)."""
        rec = plan.record
        did = rec["id"]
        devices = self._devices
        exact = self._exact
        devices[did] = rec
        devices.move_to_end(did)
        for fid in plan.fp_ids:
            exact[fid] = [did, plan.ndev]
            exact.move_to_end(fid)
        self._index(did, plan.block_keys, now)
        if (plan.fam_keys or plan.new_device) and type(self._fam) is not OrderedDict:
            self._fam.count(plan.fam, plan.new_device, plan.fam_keys)  # the C-owned counts: the branch below
        elif plan.fam_keys or plan.new_device:
            f = self._fam.get(plan.fam)
            if f is None:
                f = self._fam[plan.fam] = [0, {}]
            self._fam.move_to_end(plan.fam)
            f[0] += plan.new_device
            counts = f[1]
            for k in plan.fam_keys:
                counts[k] = counts.get(k, 0) + 1
        if plan.glob_keys or plan.new_device:
            self._glob[0] += plan.new_device
            g = self._glob[1]
            for k in plan.glob_keys:
                g[k] = g.get(k, 0) + 1
                g.move_to_end(k)
        self._bound()

    def _index(self, did: str, block_keys: Sequence[str], now: int) -> None:
        """Put device ``did`` at the front (most recently seen) of its blocks, evicting beyond the cap."""
        blocks, cap, ttl, devices = self._blocks, self.max_per_block, self.ttl_ms, self._devices
        for key in block_keys:
            blk = blocks.get(key)
            if blk is None:
                blk = blocks[key] = self._maps()
            blk[did] = None
            blk.move_to_end(did)
            blocks.move_to_end(key)
            while len(blk) > cap:
                old, _ = blk.popitem(last=False)
                orec = devices.get(old)
                if orec is not None and now - orec["t"] <= ttl:
                    self.live_evictions += 1

    def _bound(self) -> None:
        """Evict the least recently used beyond the size limits."""
        limit = self.max_devices
        devices, exact, blocks = self._devices, self._exact, self._blocks
        if len(devices) > limit:
            while len(devices) > limit:
                devices.popitem(last=False)
        if len(exact) > 4 * limit:
            while len(exact) > 4 * limit:
                exact.popitem(last=False)
        if len(blocks) > 4 * limit:
            while len(blocks) > 4 * limit:
                blocks.popitem(last=False)
        fam = self._fam
        if type(fam) is not OrderedDict:  # the C-owned counts: the loop below
            fam.bound(limit)
        while len(fam) > limit:
            fam.popitem(last=False)
        g = self._glob[1]
        while len(g) > 8 * limit:
            g.popitem(last=False)


class RedisLinkState(LinkState):
    """Link state in Redis, shared by several worker processes.

    Keys (all under ``prefix``): ``:d:<device id>`` (the record, JSON),
    ``:x:<fp id>`` (``"<device id>|<devices seen with it>"``), ``:b:<block>`` (a
    sorted set of device ids scored by last sighting, trimmed to the
    ``max_per_block`` most recent), ``:f:<family>`` (a hash: ``n`` devices and one
    count per settings value) and ``:g`` (the same over all families for fonts,
    canvas and resettable ids). Every key gets a wall-clock expiry of ``ttl_ms``;
    records are also checked against event time, like :class:`MemoryLinkState`.
    A decision costs two pipelined round trips to read and one to write.

    Parameters
    ----------
    client : redis.Redis
        A connected client (``decode_responses`` may be either).
    prefix : str, default "fs:link"
        Key prefix; use one per deployment and key.
    ttl_ms : int, default 180 days
    max_per_block : int, default 64

    Notes
    -----
    Read and write are separate round trips: two workers deciding on the same
    device at the same moment may both create it (the later write wins the
    exact index). Failures raise :class:`~fraudscore.errors.StoreError`.
    """

    def __init__(self, client: Any, prefix: str = "fs:link", ttl_ms: int = DEFAULT_TTL_MS,
                 max_per_block: int = 64) -> None:
        if client is None or not hasattr(client, "pipeline"):
            raise ConfigError("The 'client' parameter of RedisLinkState must be a redis client. Got None instead."
                              if client is None else
                              f"The 'client' parameter of RedisLinkState must be a redis client. "
                              f"Got {type(client).__name__} instead.")
        if not isinstance(prefix, str) or not prefix:
            raise ConfigError(f"The 'prefix' parameter of RedisLinkState must be a non-empty str. Got {prefix!r} instead.")
        self.client = client
        self.prefix = prefix
        self.ttl_ms = _check("ttl_ms", "RedisLinkState", ttl_ms)
        self.max_per_block = _check("max_per_block", "RedisLinkState", max_per_block)

    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except Exception as exc:  # redis.exceptions.* and socket errors
            if isinstance(exc, (ConfigError, StoreError)):
                raise
            raise StoreError(f"Redis link state failed: {type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _s(v: Any) -> str | None:
        return v.decode() if isinstance(v, bytes) else v

    def _load(self, raw: Any, now: int) -> Record | None:
        if raw is None:
            return None
        rec = json.loads(raw)
        return None if now - rec["t"] > self.ttl_ms else rec

    def read(self, fp_ids: Sequence[str], block_keys: Sequence[str], fam: str, fam_keys: Sequence[int],
             glob_keys: Sequence[int], now: int,
             need_candidates: Callable[[Record | None], bool] | None = None,
             shared_key: str | None = None) -> LinkView:
        p = self.prefix
        fp_ids = [*fp_ids, *([shared_key] if shared_key is not None else [])]

        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            pipe.mget([f"{p}:x:{f}" for f in fp_ids])
            for key in block_keys:
                pipe.zrevrange(f"{p}:b:{key}", 0, self.max_per_block - 1)
            pipe.hmget(f"{p}:f:{fam}", ["n", *map(str, fam_keys)])
            if glob_keys:
                pipe.hmget(f"{p}:g", ["n", *map(str, glob_keys)])
            return pipe.execute()

        replies = self._call(run)
        exact = []
        shared_id = None
        for k, raw in enumerate(replies[0]):
            raw = self._s(raw)
            if raw is not None:
                did, _, nd = raw.rpartition("|")
                if shared_key is not None and k == len(fp_ids) - 1:
                    shared_id = did
                else:
                    exact.append((did, int(nd)))
        ids: list[str] = list(dict.fromkeys([*(d for d, _ in exact), *([shared_id] if shared_id else [])]))
        order: list[str] = []  # candidates: most recently seen first, per block in order, no repeats
        for lst in replies[1:1 + len(block_keys)]:
            for did in lst:
                did = self._s(did)
                if did not in order:
                    order.append(did)
                if did not in ids:
                    ids.append(did)
        view = LinkView()
        fam_r = replies[1 + len(block_keys)]
        glob_r = replies[2 + len(block_keys)] if glob_keys else []
        view.fam_n = int(fam_r[0] or 0)
        view.fam_counts = {k: int(v or 0) for k, v in zip(fam_keys, fam_r[1:])}
        if glob_keys:
            view.glob_n = int(glob_r[0] or 0)
            view.glob_counts = {k: int(v or 0) for k, v in zip(glob_keys, glob_r[1:])}
        if not ids:
            return view
        raws = self._call(lambda: self.client.mget([f"{p}:d:{d}" for d in ids]))
        recs = {d: self._load(raw, now) for d, raw in zip(ids, raws)}
        for did, nd in exact:
            if recs.get(did) is not None:
                view.exact, view.exact_ndev = recs[did], nd
                break
        if shared_id is not None:
            view.shared = recs.get(shared_id)
        if need_candidates is None or need_candidates(view.exact):
            skip = view.exact["id"] if view.exact is not None else None
            view.cands = [recs[d] for d in order if d != skip and recs.get(d) is not None]
        return view

    def write(self, plan: LinkPlan, now: int) -> None:
        rec = plan.record
        if plan.touch:
            rec = {**rec, "t": max(rec["t"], now), "n": rec["n"] + 1, "ip": plan.ip or rec["ip"]}
        did = rec["id"]
        ttl = self.ttl_ms
        p = self.prefix
        data = json.dumps(rec, separators=(",", ":"))

        def run() -> None:
            pipe = self.client.pipeline(transaction=False)
            pipe.set(f"{p}:d:{did}", data, px=ttl)
            for fid in plan.fp_ids:
                pipe.set(f"{p}:x:{fid}", f"{did}|{plan.ndev}", px=ttl)
            for key in plan.block_keys:
                k = f"{p}:b:{key}"
                pipe.zadd(k, {did: rec["t"]})
                pipe.zremrangebyrank(k, 0, -(self.max_per_block + 1))
                pipe.pexpire(k, ttl)
            if not plan.touch:
                fk = f"{p}:f:{plan.fam}"
                if plan.new_device:
                    pipe.hincrby(fk, "n", 1)
                for k in plan.fam_keys:
                    pipe.hincrby(fk, str(k), 1)
                pipe.pexpire(fk, ttl)
                if plan.new_device or plan.glob_keys:
                    if plan.new_device:
                        pipe.hincrby(f"{p}:g", "n", 1)
                    for k in plan.glob_keys:
                        pipe.hincrby(f"{p}:g", str(k), 1)
                    pipe.pexpire(f"{p}:g", ttl)
            pipe.execute()

        self._call(run)
