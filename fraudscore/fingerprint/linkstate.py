"""Device-link state: the interface, and the in-memory state (bounded LRU).

The Redis state (shared by workers) is :class:`~fraudscore.fingerprint.linkstate_redis.RedisLinkState`.

The state holds, per linked device, a small **record** of keyed hashes only
(never a raw attribute): the last fingerprint id, the browser family, parsed
versions, the 48-bit hashes of the volatile attributes, first/last seen time
and a count. Two indexes point at records: *exact* (fingerprint id -> device
id) and *blocks* (``hardware section + anchor attribute hash`` -> the most
recent device ids with it, at most ``max_per_block``).

Expiry uses **event time** (``ts_ms``), so online and batch linking agree: a
record last seen more than ``ttl_ms`` before the current event is ignored.
The memory state also evicts the least recently used devices beyond
``max_devices``; Redis keys carry a wall-clock TTL of ``ttl_ms`` as a bound.

A linker uses a state only through :class:`LinkState`'s methods (reads:
``lookup``, ``get_exact``, ``get``, ``candidates``; writes: ``commit``,
``touch``), and ``link`` must be a deterministic function of what it reads: the
Redis state may run it again for the same event after a concurrent change.

Examples
--------
>>> st = MemoryLinkState(max_devices=2, ttl_ms=1000)
>>> st.commit({"id": "d1", "t": 0}, ["fp1_a_b_c"], ["k"], 0)
>>> st.get_exact(["fp1_a_b_c"], 10), [r["id"] for r in st.candidates(["k"], 10)]
('d1', ['d1'])
>>> st.get_exact(["fp1_a_b_c"], 5000) is None   # expired by event time
True
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError

__all__ = ["LinkState", "MemoryLinkState", "DEFAULT_TTL_MS"]

DEFAULT_TTL_MS = 180 * 86_400_000  # 180 days
Record = dict[str, Any]


def _check(name: str, owner: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"The '{name}' parameter of {owner} must be an integer >= {minimum}. Got {value!r} instead."
        )
    return value


class LinkState:
    """Interface of a link state (see :class:`MemoryLinkState` and :class:`RedisLinkState`)."""

    ttl_ms: int
    max_per_block: int

    def get_exact(self, fp_ids: Sequence[str], now: int) -> str | None:  # pragma: no cover - interface
        """The device id of the first of ``fp_ids`` seen before (and not expired)."""
        raise NotImplementedError

    def get(self, device_id: str, now: int) -> Record | None:  # pragma: no cover - interface
        """The record of one device, or ``None`` when unknown or expired."""
        raise NotImplementedError

    def candidates(self, block_keys: Sequence[str], now: int) -> list[Record]:  # pragma: no cover - interface
        """Live records of the devices indexed under any of ``block_keys`` (most recent first, no repeats)."""
        raise NotImplementedError

    def commit(self, record: Record, fp_ids: Sequence[str], block_keys: Sequence[str],
               now: int) -> None:  # pragma: no cover - interface
        """Store ``record`` and index it under ``fp_ids`` (exact) and ``block_keys``."""
        raise NotImplementedError

    def lookup(self, fp_ids: Sequence[str], block_keys: Sequence[str],
               now: int) -> tuple[Record | None, list[Record]]:
        """``(record of the exact match or None, candidate records when there is none)``.

        One call per link; stores that pay per round trip (Redis) answer it in two.
        """
        did = self.get_exact(fp_ids, now)
        if did is not None:
            rec = self.get(did, now)
            if rec is not None:
                return rec, []
        return None, self.candidates(block_keys, now)

    def touch(self, record: Record, now: int) -> None:  # pragma: no cover - interface
        """Mark a device (``record`` from :meth:`get`) as seen again at ``now``, its state unchanged."""
        raise NotImplementedError


class MemoryLinkState(LinkState):
    """Link state in process memory, bounded and evicted.

    Parameters
    ----------
    max_devices : int, default 1_000_000
        Most devices kept; the least recently seen are evicted beyond it.
    ttl_ms : int, default 180 days
        A device not seen for longer (in event time) is forgotten.
    max_per_block : int, default 8
        Most device ids kept per candidate block (the most recent ones).
    """

    def __init__(self, max_devices: int = 1_000_000, ttl_ms: int = DEFAULT_TTL_MS, max_per_block: int = 8) -> None:
        self.max_devices = _check("max_devices", "MemoryLinkState", max_devices)
        self.ttl_ms = _check("ttl_ms", "MemoryLinkState", ttl_ms)
        self.max_per_block = _check("max_per_block", "MemoryLinkState", max_per_block)
        self._devices: OrderedDict[str, Record] = OrderedDict()
        self._exact: OrderedDict[str, str] = OrderedDict()
        self._blocks: OrderedDict[str, list[str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._devices)

    def to_dict(self) -> dict[str, Any]:
        """The whole state as plain data (JSON-ready; keyed hashes only), in recency order.

        Examples
        --------
        >>> st = MemoryLinkState()
        >>> st.commit({"id": "d1", "t": 0}, ["fp1_a_b_c"], ["k"], 0)
        >>> other = MemoryLinkState()
        >>> other.restore_dict(st.to_dict())
        >>> other.get_exact(["fp1_a_b_c"], 10)
        'd1'
        """
        return {"devices": list(self._devices.values()), "exact": [[k, v] for k, v in self._exact.items()],
                "blocks": [[k, list(v)] for k, v in self._blocks.items()]}

    def restore_dict(self, data: dict[str, Any]) -> None:
        """Replace the state with :meth:`to_dict` output."""
        try:
            devices = OrderedDict((str(r["id"]), dict(r)) for r in data["devices"])
            exact = OrderedDict((str(k), str(v)) for k, v in data["exact"])
            blocks = OrderedDict((str(k), [str(d) for d in v]) for k, v in data["blocks"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"device-link state data is malformed: {exc}") from None
        self._devices, self._exact, self._blocks = devices, exact, blocks

    def _live(self, device_id: str | None, now: int) -> Record | None:
        if device_id is None:
            return None
        rec = self._devices.get(device_id)
        if rec is None or now - rec["t"] > self.ttl_ms:
            return None
        return rec

    def get_exact(self, fp_ids: Sequence[str], now: int) -> str | None:
        for fid in fp_ids:
            did = self._exact.get(fid)
            if did is not None and self._live(did, now) is not None:
                return did
        return None

    def get(self, device_id: str, now: int) -> Record | None:
        return self._live(device_id, now)

    def lookup(self, fp_ids: Sequence[str], block_keys: Sequence[str],
               now: int) -> tuple[Record | None, list[Record]]:
        exact, devices, ttl = self._exact, self._devices, self.ttl_ms
        for fid in fp_ids:  # get_exact then get, in one pass
            did = exact.get(fid)
            if did is not None:
                rec = devices.get(did)
                if rec is not None and now - rec["t"] <= ttl:
                    return rec, []
        return None, self.candidates(block_keys, now)

    def candidates(self, block_keys: Sequence[str], now: int) -> list[Record]:
        out: list[Record] = []
        seen: set[str] = set()
        for key in block_keys:
            for did in reversed(self._blocks.get(key, ())):
                if did in seen:
                    continue
                seen.add(did)
                rec = self._live(did, now)
                if rec is not None:
                    out.append(rec)
        return out

    def touch(self, record: Record, now: int) -> None:
        record["t"] = max(record["t"], now)
        record["n"] += 1
        self._devices.move_to_end(record["id"])

    def commit(self, record: Record, fp_ids: Sequence[str], block_keys: Sequence[str], now: int) -> None:
        did = record["id"]
        devices = self._devices
        devices[did] = record
        devices.move_to_end(did)
        exact = self._exact
        for fid in fp_ids:
            exact[fid] = did
            exact.move_to_end(fid)
        blocks = self._blocks
        for key in block_keys:
            lst = blocks.get(key)
            if lst is None:
                blocks[key] = [did]
            else:
                if did in lst:
                    lst.remove(did)
                lst.append(did)
                if len(lst) > self.max_per_block:
                    del lst[0]
                blocks.move_to_end(key)
        limit = self.max_devices
        while len(devices) > limit:
            devices.popitem(last=False)
        while len(exact) > 4 * limit:
            exact.popitem(last=False)
        while len(blocks) > 4 * limit:
            blocks.popitem(last=False)
