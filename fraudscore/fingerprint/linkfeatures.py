"""Attribute-difference features of a (new fingerprint, known device) pair, and device records.

The learned link model (:mod:`fraudscore.fingerprint.linkmodel`) sees, for an
observed fingerprint and one candidate device (its last state, a *record*),
the features :data:`PAIR_FEATURES`, in the spirit of FP-STALKER's hybrid linker:

=========================  ===========================================================
``browser_delta``          browser version step (major x 100 + minor), -1 unknown
``os_delta``               OS version step, -1 unknown
``app_delta``              app version step, -1 unknown
``ua_same_version``        1 when the user agent changed while no version moved
``n_changed``              number of changed attributes (renderer included)
``screen`` ...             per attribute: 0 same, 1 changed, 2 appeared / vanished,
                           -1 absent on both sides (screen, timezone, languages, fonts,
                           canvas, renderer, SIM operator, emulator / root flags)
``id_match``               1 when a resettable id (Android ID, IDFV, IMEI) is equal
``id_changed``             1 when every resettable id present on both sides differs
``fonts_jaccard``          Jaccard of the font lists (bottom-k sketches), -1 unknown
``fonts_delta``            change in the number of fonts, -1 unknown
``lang_jaccard``           Jaccard of the languages, -1 unknown
``log_gap_hours``          log(1 + hours since the device was last seen)
``ip_match``               1 same IP /24 as last time, 0 another, -1 unknown
``n_candidates``           devices of the block that pass the hard rules (crowding)
``source_app``             1 for the lender's app, 0 for a browser
``mobile``                 1 for phones and tablets
``log_seen``               log(1 + observations of the candidate device)
=========================  ===========================================================

A *record* is what the link state keeps per device: keyed hashes and parsed
versions only, never an attribute value (see :func:`make_record`).

Examples
--------
>>> from fraudscore.keys import Keys
>>> from fraudscore.fingerprint.sections import Fingerprinter
>>> fpr = Fingerprinter(Keys(b"0123456789abcdef-demo-secret"))
>>> a = fpr.fingerprint({"os": "android", "model": "X1", "app_version": "5.1", "android_id": "aa"})
>>> b = fpr.fingerprint({"os": "android", "model": "X1", "app_version": "5.2", "android_id": "aa"})
>>> x = pair_features(b, make_record(a, "d1", 0, None, 0), 3_600_000, 0, 1)
>>> dict(zip(PAIR_FEATURES, x))["app_delta"], dict(zip(PAIR_FEATURES, x))["id_match"]
(1.0, 1.0)
"""

from __future__ import annotations

import math
from operator import ne
from sys import intern
from typing import Any

from .sections import SKETCH_K, VOLATILE_ATTRS, Fingerprint, sketch_jaccard

__all__ = ["PAIR_FEATURES", "pair_features", "make_record", "compatible", "compatible_records", "version_step",
           "n_differences"]

_PER_ATTR = ("screen", "timezone", "languages", "fonts_hash", "canvas_hash", "sim_operator")
PAIR_FEATURES: tuple[str, ...] = (
    "browser_delta", "os_delta", "app_delta", "ua_same_version", "n_changed",
    "screen", "timezone", "languages", "fonts", "canvas", "renderer", "sim", "flags",
    "id_match", "id_changed", "fonts_jaccard", "fonts_delta", "lang_jaccard",
    "log_gap_hours", "ip_match", "n_candidates", "source_app", "mobile", "log_seen",
)
_IDX = {a: i for i, a in enumerate(VOLATILE_ATTRS)}
_ATTR_POS = tuple(_IDX[a] for a in _PER_ATTR)
_ID_POS = (_IDX["android_id"], _IDX["idfv"], _IDX["imei"])
_FLAG_POS = (_IDX["emulator"], _IDX["rooted"])
_UA, _OSV, _APPV = _IDX["user_agent"], _IDX["os_version"], _IDX["app_version"]
_MS_PER_HOUR = 3_600_000.0
#: The layout the compiled kernel (``fraudscore/_core/linking.c``) hard-codes: components, features, sketch
#: size, user-agent and OS-version positions, per-attribute, resettable-id and flag positions. The linker
#: uses the kernel only when its ``LAYOUT`` equals this.
LAYOUT = (len(VOLATILE_ATTRS), len(PAIR_FEATURES), SKETCH_K, _UA, _OSV, _ATTR_POS, _ID_POS, _FLAG_POS)


def version_step(new: Any, old: Any) -> float:
    """``(major step) * 100 + (minor step)`` from ``old`` to ``new``; -1 when either is unknown.

    Examples
    --------
    >>> version_step((17, 2), (17, 1)), version_step((18,), (17, 6)), version_step(None, (1,))
    (1.0, 94.0, -1.0)
    """
    if not new or not old:
        return -1.0
    major = new[0] - old[0]
    minor = (new[1] if len(new) > 1 else 0) - (old[1] if len(old) > 1 else 0)
    return float(min(max(major * 100 + minor, -1), 2000))


def _not_backwards(new: Any, old: Any) -> bool:
    return new is None or old is None or tuple(new) >= tuple(old)


def compatible(fp: Fingerprint, rec: dict[str, Any]) -> bool:
    """The hard rules: same hardware family and browser family, no version going backwards."""
    c = fp.canonical
    return (rec["fam"] == fp.family and rec["bf"] == c.browser_family
            and _not_backwards(c.os_version, rec["ov"]) and _not_backwards(c.browser_version, rec["bv"])
            and _not_backwards(c.app_version, rec["av"]))


def compatible_records(fp: Fingerprint, recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``[r for r in recs if compatible(fp, r)]`` in one pass (the linker's hot loop over a block).

    Examples
    --------
    >>> from fraudscore.keys import Keys
    >>> from fraudscore.fingerprint.sections import Fingerprinter
    >>> fpr = Fingerprinter(Keys(b"0123456789abcdef-demo-secret"))
    >>> a = fpr.fingerprint({"os": "android", "model": "X1", "app_version": "5.2", "android_id": "aa"})
    >>> old = make_record(fpr.fingerprint({"os": "android", "model": "X1", "app_version": "5.1"}), "d1", 0, None, 0)
    >>> new = make_record(fpr.fingerprint({"os": "android", "model": "X1", "app_version": "5.3"}), "d2", 0, None, 0)
    >>> [r["id"] for r in compatible_records(a, [old, new])] == [r["id"] for r in (old, new) if compatible(a, r)]
    True
    """
    c = fp.canonical
    fam, bf = fp.family, c.browser_family
    ov, bv, av = (None if v is None else list(v) for v in (c.os_version, c.browser_version, c.app_version))
    return [r for r in recs if r["fam"] == fam and r["bf"] == bf
            and (ov is None or r["ov"] is None or ov >= r["ov"])
            and (bv is None or r["bv"] is None or bv >= r["bv"])
            and (av is None or r["av"] is None or av >= r["av"])]


def n_differences(fp: Fingerprint, rec: dict[str, Any]) -> int:
    """Number of volatile components (and the renderer) that differ: the cheap pre-filter."""
    return (fp.renderer != rec["r"]) + sum(map(ne, fp.components, rec["c"]))


def _cmp(a: int, b: int) -> float:
    if a == b:
        return 0.0 if a else -1.0
    return 2.0 if (a == 0 or b == 0) else 1.0


def pair_features(fp: Fingerprint, rec: dict[str, Any], now: int, ip: int, n_candidates: int) -> list[float]:
    """:data:`PAIR_FEATURES` of linking ``fp`` (observed at ``now`` from IP hash ``ip``, 0 unknown) to ``rec``."""
    c = fp.canonical
    new, old = fp.components, rec["c"]
    bstep = version_step(c.browser_version, rec["bv"])
    ostep = version_step(c.os_version, rec["ov"])
    astep = version_step(c.app_version, rec["av"])
    changed = sum(map(ne, new, old)) + (fp.renderer != rec["r"])
    ua_same = 1.0 if new[_UA] != old[_UA] and bstep <= 0 and ostep <= 0 and new[_OSV] == old[_OSV] else 0.0
    per = [_cmp(new[p], old[p]) for p in _ATTR_POS]
    ids_both = [(new[p], old[p]) for p in _ID_POS if new[p] and old[p]]
    id_match = 1.0 if any(a == b for a, b in ids_both) else 0.0
    id_changed = -1.0 if not ids_both else (1.0 if all(a != b for a, b in ids_both) else 0.0)
    flags = max(_cmp(new[p], old[p]) for p in _FLAG_POS)
    fs, rfs = fp.fonts_sketch, rec["fs"]
    fj = sketch_jaccard(fs, rfs) if fs and rfs else -1.0
    fd = float(min(abs(fp.font_count - rec["fn"]), 500)) if fs and rfs else -1.0
    lg, rlg = fp.lang_items, rec["lg"]
    lj = sketch_jaccard(lg, rlg) if lg and rlg else -1.0
    gap = math.log1p(max(now - rec["t"], 0) / _MS_PER_HOUR)
    rip = rec["ip"]
    ipm = -1.0 if not ip or not rip else (1.0 if ip == rip else 0.0)
    return [bstep, ostep, astep, ua_same, float(changed), per[0], per[1], per[2], per[3], per[4],
            _cmp(fp.renderer, rec["r"]), per[5], flags, id_match, id_changed, fj, fd, lj, gap, ipm,
            float(n_candidates), 1.0 if c.source == "app" else 0.0, 1.0 if fp.mobile else 0.0,
            math.log1p(rec["n"])]


_LISTS: dict[tuple[int, ...], list[int]] = {}


def _shared_list(v: tuple[int, ...]) -> list[int]:
    """``list(v)``, one list object per distinct version (bounded): records share it."""
    hit = _LISTS.get(v)
    if hit is None:
        if len(_LISTS) >= 4096:
            _LISTS.clear()
        hit = _LISTS[v] = list(v)
    return hit


def make_record(fp: Fingerprint, device_id: str, now: int, prev: dict[str, Any] | None, ip: int) -> dict[str, Any]:
    """The state record of device ``device_id`` in state ``fp`` seen at ``now`` (``prev``: its last record)."""
    c = fp.canonical
    bf = c.browser_family
    # family names interned and version lists shared between records (never mutated in place): the compiled
    # filter then compares most of them by pointer, without reading them from memory
    return {
        "id": device_id, "fp": fp.id, "fam": intern(fp.family), "bf": intern(bf) if type(bf) is str else bf,
        "ov": _shared_list(c.os_version) if c.os_version else None,
        "bv": _shared_list(c.browser_version) if c.browser_version else None,
        "av": _shared_list(c.app_version) if c.app_version else None,
        "c": list(fp.components), "r": fp.renderer, "fs": list(fp.fonts_sketch), "fn": fp.font_count,
        "lg": list(fp.lang_items), "ip": ip or (prev["ip"] if prev is not None else 0),
        "f": now if prev is None else prev["f"], "t": now if prev is None else max(prev["t"], now),
        "n": 1 if prev is None else prev["n"] + 1,
    }
