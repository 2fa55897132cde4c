"""The 0.1 rule-based linker, kept unchanged as a baseline for the benchmarks (not the default).

:class:`LegacyLinker` is the linker of fraudscore 0.1: candidates share the exact
*hardware section* and one anchor (Android ID, IDFV, IMEI or the fonts hash);
weighted rules accept or refuse each; exact fingerprint matches always merge
with confidence 1.0. Issue #12 reproduced its failures on realistic drift
(font and renderer changes split desktops; identical phones merge; candidates
pushed out of small blocks). ``benchmarks/bench_linking.py`` measures it beside
:class:`~fraudscore.fingerprint.DeviceLinker` in the same run.

Examples
--------
>>> from fraudscore.keys import Keys
>>> from fraudscore.fingerprint.sections import Fingerprinter
>>> fpr = Fingerprinter(Keys(b"0123456789abcdef-demo-secret"))
>>> lk = LegacyLinker()
>>> dev = {"os": "ios", "model": "iPhone15,2", "idfv": "A1"}
>>> lk.link(fpr.fingerprint(dev), 1).new, lk.link(fpr.fingerprint(dev), 2).link_confidence
(True, 1.0)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import xxhash

from ..errors import ConfigError
from .linkstate import DEFAULT_TTL_MS, _check
from .sections import VOLATILE_ATTRS, Fingerprint

__all__ = ["LegacyLinker", "LegacyLinkState", "LegacyResult"]

Record = dict[str, Any]


class LegacyLinkState:
    """The 0.1 link state in process memory (blocks ordered by last state change).

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
        self.max_devices = _check("max_devices", "LegacyLinkState", max_devices)
        self.ttl_ms = _check("ttl_ms", "LegacyLinkState", ttl_ms)
        self.max_per_block = _check("max_per_block", "LegacyLinkState", max_per_block)
        self._devices: OrderedDict[str, Record] = OrderedDict()
        self._exact: OrderedDict[str, str] = OrderedDict()
        self._blocks: OrderedDict[str, list[str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._devices)

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



#: How much a change of each volatile attribute counts against a link.
CHANGE_WEIGHTS: dict[str, float] = {
    "user_agent": 0.0,  # allowed when the browser family stays and versions go forward
    "os_version": 0.0, "app_version": 0.0,
    "screen": 1.0, "timezone": 1.0, "languages": 1.0, "sim_operator": 1.0,
    "canvas_hash": 2.0, "fonts_hash": 3.0,
    "android_id": 3.0, "idfv": 3.0, "imei": 3.0,
    "emulator": 3.0, "rooted": 2.0,
}
_WEIGHTS = tuple(CHANGE_WEIGHTS[a] for a in VOLATILE_ATTRS)
_ID_POS = tuple(VOLATILE_ATTRS.index(a) for a in ("android_id", "idfv", "imei"))
_UA_POS = VOLATILE_ATTRS.index("user_agent")
_MASK48 = (1 << 48) - 1


@dataclass(frozen=True, slots=True)
class LegacyResult:
    """The outcome of linking one fingerprint.

    Attributes
    ----------
    device_id : str
        The stable device id (``"d_<hardware section>_<12 hex>"``).
    link_confidence : float
        1.0 for an exact match, lower for drifted links, 0.0 for a new device.
    changed : tuple of str
        Volatile attributes that differ from the device's previous state.
    new : bool
        Whether a new device was created.
    how : str
        ``"exact"``, ``"id"`` (a resettable id matched), ``"anchor"``, ``"hardware"`` or ``"new"``.
    """

    device_id: str
    link_confidence: float
    changed: tuple[str, ...] = ()
    new: bool = False
    how: str = "new"


def _not_backwards(new: Any, old: Any) -> bool:
    return new is None or old is None or tuple(new) >= tuple(old)


class LegacyLinker:
    """Link fingerprints to stable device ids over a :class:`LinkState`.

    Parameters
    ----------
    state : LinkState, optional
        :class:`MemoryLinkState` (default, fresh) or :class:`RedisLinkState`.
    max_weight : float, default 2.0
        Largest total change weight for a link without a matching resettable id.
    id_match_weight : float, default 6.0
        Largest total change weight when a resettable id matches (and is unique).
    max_changed : int, default 4
        Largest number of changed attributes (weight-0 version updates included).

    Examples
    --------
    >>> LegacyLinker(max_weight=-1)
    Traceback (most recent call last):
    ...
    fraudscore.errors.ConfigError: The 'max_weight' parameter of DeviceLinker must be a number >= 0. Got -1 instead.
    """

    def __init__(self, state: LegacyLinkState | None = None, *, max_weight: float = 2.0, id_match_weight: float = 6.0,
                 max_changed: int = 4) -> None:
        for name, value in (("max_weight", max_weight), ("id_match_weight", id_match_weight),
                            ("max_changed", max_changed)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"The {name!r} parameter of DeviceLinker must be a number >= 0. Got {value!r} instead.")
        if state is not None and not isinstance(state, LegacyLinkState):
            raise ConfigError(
                f"The 'state' parameter of DeviceLinker must be a LegacyLinkState. Got {type(state).__name__} instead."
            )
        self.state = state if state is not None else LegacyLinkState()
        self.max_weight = float(max_weight)
        self.id_match_weight = float(id_match_weight)
        self.max_changed = int(max_changed)
        self._exact_results: dict[str, LegacyResult] = {}

    def __repr__(self) -> str:
        return f"LegacyLinker(state={type(self.state).__name__}, max_weight={self.max_weight})"

    def _record(self, fp: Fingerprint, device_id: str, now: int, prev: dict[str, Any] | None) -> dict[str, Any]:
        c = fp.canonical
        return {
            "id": device_id, "fp": fp.id, "hw": fp.hardware, "bf": c.browser_family,
            "ov": list(c.os_version) if c.os_version else None,
            "bv": list(c.browser_version) if c.browser_version else None,
            "av": list(c.app_version) if c.app_version else None,
            "c": list(fp.components), "f": now if prev is None else prev["f"], "t": now,
            "n": 1 if prev is None else prev["n"] + 1,
        }

    @staticmethod
    def _compatible(fp: Fingerprint, rec: dict[str, Any]) -> bool:
        """The hard rules: same hardware and browser family, versions not going backwards."""
        c = fp.canonical
        return (rec.get("hw") == fp.hardware and rec.get("bf") == c.browser_family
                and _not_backwards(c.os_version, rec["ov"]) and _not_backwards(c.browser_version, rec["bv"])
                and _not_backwards(c.app_version, rec["av"]))

    def _assess(self, fp: Fingerprint, rec: dict[str, Any], shared_anchor: bool) -> tuple[float, tuple[str, ...], str] | None:
        """(weight, changed, how) of linking ``fp`` to ``rec``, or None when a rule forbids it."""
        c = fp.canonical
        old = rec["c"]
        new = fp.components
        weight = 0.0
        changed = []
        for i, (a, b) in enumerate(zip(new, old)):
            if a != b:
                changed.append(VOLATILE_ATTRS[i])
                weight += _WEIGHTS[i]
        if not changed:
            return 0.0, (), "hardware"
        if len(changed) > self.max_changed:
            return None
        if new[_UA_POS] != old[_UA_POS] and _not_backwards(rec["bv"], c.browser_version) and _not_backwards(
                rec["ov"], c.os_version):
            weight += 1.0  # user agent changed without a browser or OS update
        id_match = any(new[p] and new[p] == old[p] for p in _ID_POS)
        if id_match:
            limit, how = self.id_match_weight, "id"
        elif shared_anchor:
            limit, how = 0.0, "anchor"
        else:
            limit, how = self.max_weight, "hardware" if fp.link_keys[0] == fp.hardware else "anchor"
        if weight > limit:
            return None
        return weight, tuple(changed), how

    def link(self, fp: Fingerprint, ts_ms: int) -> LegacyResult:
        """Link one fingerprint observed at ``ts_ms`` (event time) and update the state.

        Parameters
        ----------
        fp : Fingerprint
            From :meth:`Fingerprinter.fingerprint`.
        ts_ms : int
            Event time in epoch milliseconds (events arrive in time order).

        Returns
        -------
        LegacyResult
        """
        if type(fp) is not Fingerprint and not isinstance(fp, Fingerprint):
            raise ConfigError(f"DeviceLinker.link needs a Fingerprint. Got {type(fp).__name__} instead.")
        now = ts_ms if type(ts_ms) is int else int(ts_ms)
        state = self.state
        fid = fp.id
        ids = (fid, *fp.aliases) if fp.aliases else (fid,)
        blocks = fp.link_keys
        prev, cands = state.lookup(ids, blocks, now)
        if prev is not None:
            did = prev["id"]
            if prev["fp"] == fid:
                state.touch(prev, now)  # the device's current state, seen again
            else:
                state.commit(self._record(fp, did, now, prev), ids, blocks, now)
            res = self._exact_results.get(did)
            if res is None:  # results are immutable: one per device, reused
                if len(self._exact_results) >= 65_536:
                    self._exact_results.clear()
                res = self._exact_results[did] = LegacyResult(did, 1.0, (), False, "exact")
            return res
        best: tuple[float, int, tuple[str, ...], str, dict[str, Any]] | None = None
        cands = [r for r in cands if self._compatible(fp, r)]
        shared = len(cands) > 1  # the anchor (or bare hardware) is not unique to one device
        for rec in cands:
            res = self._assess(fp, rec, shared)
            if res is None:
                continue
            weight, changed, how = res
            key = (weight, -rec["t"])
            if best is None or key < (best[0], best[1]):
                best = (weight, -rec["t"], changed, how, rec)
        if best is not None:
            weight, _, changed, how, rec = best
            base = 0.99 if how == "id" else 0.97 if how == "hardware" and not changed else 0.95
            conf = round(max(0.05, min(0.99, base - 0.04 * len(changed) - 0.1 * weight)), 3)
            state.commit(self._record(fp, rec["id"], now, rec), ids, blocks, now)
            return LegacyResult(rec["id"], conf, changed, False, how)
        suffix = xxhash.xxh3_64_intdigest(f"{fp.id}|{now}".encode()) & _MASK48
        did = f"d_{fp.hardware}_{suffix:012x}"
        state.commit(self._record(fp, did, now, None), ids, blocks, now)
        return LegacyResult(did, 0.0, (), True, "new")
