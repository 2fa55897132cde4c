"""Drift-tolerant device linking: one stable ``device_id`` per physical device.

Fingerprints drift: browsers update, fonts get installed, the timezone changes
(FP-STALKER, IEEE S&P 2018, saw most browsers change within days).
:class:`DeviceLinker` gives each observed fingerprint a device id, in the
spirit of FP-STALKER's rule-based linker:

1. **exact**: a fingerprint id (or an alias under an older scheme) seen before
   returns its device;
2. **candidates** come from an index, never a scan: devices sharing the
   *hardware section* and one near-unique *anchor* attribute (Android ID, IDFV,
   IMEI, fonts hash; the hardware section alone when there is no anchor);
3. **rules** per candidate: same browser family (the OS family and hardware
   are in the hardware section); OS, browser and app versions that do not go
   backwards; a bounded, weighted number of changed volatile attributes
   (:data:`CHANGE_WEIGHTS`): at most ``max_weight`` in general, more when a
   resettable id (Android ID / IDFV / IMEI) matches and is unique to that device,
   none when the anchor is shared with other devices (a default font list);
4. the best candidate (lowest weight, then most recently seen) wins; otherwise
   a new device id is created.

Identical fingerprints of distinct devices (same model, same settings) cannot
be told apart by any attribute linker; nor can a device farm that randomises
every resettable id, which is why the hardware section is also exposed as an
entity (``device_hw``). See ``docs/fingerprints.md`` for measured precision and recall.

Examples
--------
>>> from fraudscore.keys import Keys
>>> from fraudscore.fingerprint.sections import Fingerprinter
>>> from fraudscore.fingerprint.linkstate import MemoryLinkState
>>> fpr = Fingerprinter(Keys(b"0123456789abcdef-demo-secret"))
>>> linker = DeviceLinker(MemoryLinkState())
>>> dev = {"os": "android", "os_version": "13", "model": "2211133C", "manufacturer": "Xiaomi",
...        "screen": "1080x2400", "app_version": "5.2.1", "android_id": "9774d56d682e549c", "timezone": "Asia/Shanghai"}
>>> r1 = linker.link(fpr.fingerprint(dev), 1_000)
>>> r2 = linker.link(fpr.fingerprint({**dev, "app_version": "5.3.0", "timezone": "Asia/Tokyo"}), 2_000)
>>> r1.new, r2.device_id == r1.device_id, r2.changed, r2.link_confidence
(True, True, ('app_version', 'timezone'), 0.81)
>>> linker.link(fpr.fingerprint({**dev, "app_version": "5.0.0"}), 3_000).new   # versions never go backwards
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import xxhash

from ..errors import ConfigError
from .linkstate import LinkState, MemoryLinkState
from .sections import VOLATILE_ATTRS, Fingerprint

__all__ = ["DeviceLinker", "LinkResult", "CHANGE_WEIGHTS"]

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
class LinkResult:
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


class DeviceLinker:
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
    >>> DeviceLinker(max_weight=-1)
    Traceback (most recent call last):
    ...
    fraudscore.errors.ConfigError: The 'max_weight' parameter of DeviceLinker must be a number >= 0. Got -1 instead.
    """

    def __init__(self, state: LinkState | None = None, *, max_weight: float = 2.0, id_match_weight: float = 6.0,
                 max_changed: int = 4) -> None:
        for name, value in (("max_weight", max_weight), ("id_match_weight", id_match_weight),
                            ("max_changed", max_changed)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"The {name!r} parameter of DeviceLinker must be a number >= 0. Got {value!r} instead.")
        if state is not None and not isinstance(state, LinkState):
            raise ConfigError(
                f"The 'state' parameter of DeviceLinker must be a LinkState. Got {type(state).__name__} instead."
            )
        self.state = state if state is not None else MemoryLinkState()
        self.max_weight = float(max_weight)
        self.id_match_weight = float(id_match_weight)
        self.max_changed = int(max_changed)
        self._exact_results: dict[str, LinkResult] = {}

    def __repr__(self) -> str:
        return f"DeviceLinker(state={type(self.state).__name__}, max_weight={self.max_weight})"

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

    def link(self, fp: Fingerprint, ts_ms: int) -> LinkResult:
        """Link one fingerprint observed at ``ts_ms`` (event time) and update the state.

        Parameters
        ----------
        fp : Fingerprint
            From :meth:`Fingerprinter.fingerprint`.
        ts_ms : int
            Event time in epoch milliseconds (events arrive in time order).

        Returns
        -------
        LinkResult
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
                res = self._exact_results[did] = LinkResult(did, 1.0, (), False, "exact")
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
            return LinkResult(rec["id"], conf, changed, False, how)
        suffix = xxhash.xxh3_64_intdigest(f"{fp.id}|{now}".encode()) & _MASK48
        did = f"d_{fp.hardware}_{suffix:012x}"
        state.commit(self._record(fp, did, now, None), ids, blocks, now)
        return LinkResult(did, 0.0, (), True, "new")
