"""The keys a fingerprint is linked by: candidate blocks, value-count keys, popularity keys, class keys.

Pure functions of a :class:`~fraudscore.fingerprint.sections.Fingerprint` (no state, no key material beyond the
fingerprint's own keyed hashes): where :class:`~fraudscore.fingerprint.linker.DeviceLinker` indexes a device and
reads its candidates (:func:`block_keys`, :func:`walk_keys`), which value counts its popularity estimate reads
(:func:`stat_keys`, :func:`pop_keys`) and the class record of a common fingerprint (:func:`shared_key`).
``DeviceLinker`` exposes each as a static method of the same name; the compiled link state
(``_core/linkstate_keys.h``) computes the same keys and is tested against these.
"""

from __future__ import annotations

import xxhash

from .sections import VOLATILE_ATTRS, Fingerprint

__all__ = ["FONT_PROBES", "block_keys", "walk_keys", "stat_keys", "pop_keys", "shared_key"]

_MASK48 = (1 << 48) - 1
_IDX = {a: i for i, a in enumerate(VOLATILE_ATTRS)}
#: Components whose values are counted per hardware family for the popularity estimate (every volatile
#: one: a font list or canvas shared by every phone of a family says nothing there, however rare elsewhere).
_FAM_POS = tuple(range(len(VOLATILE_ATTRS)))
_GLOB_POS: tuple[int, ...] = ()  # nothing is counted over all families
_ID_TAGS = tuple((_IDX[a], a[:2]) for a in ("android_id", "idfv", "imei"))
_RENDERER_SLOT = 15
_CLASS_POS = tuple(_IDX[a] for a in ("screen", "timezone", "languages", "sim_operator", "emulator", "rooted"))
#: A phone's class leaves the timezone out: nearly every phone shows the home one, so it separates no twins,
#: while a trip would move the phone to another class and back.
_CLASS_POS_MOBILE = tuple(p for p in _CLASS_POS if p != _IDX["timezone"])
_POP_POS_MOBILE = (*_CLASS_POS, *(p for p, _ in _ID_TAGS))
_POP_POS = (*_POP_POS_MOBILE, _IDX["fonts_hash"], _IDX["canvas_hash"])
#: Font-list blocks a fingerprint's candidates are read from: one per smallest keyed font hash (the first is
#: the one its device is indexed under; the others are read-only probes, see :func:`walk_keys`).
FONT_PROBES = 2


def block_keys(fp: Fingerprint) -> tuple[str, ...]:
    """Candidate blocks a fingerprint's device is indexed under: ``<family>:<browser family>[:<font MinHash>]``
    and ``<family>:<resettable id>``.

    The font list's MinHash (the smallest keyed font hash) splits a family's desktops into
    blocks that installing or removing a font rarely changes (only when that font is the minimum;
    :func:`walk_keys` reads one more block for that case).
    """
    fam = fp.family
    comps = fp.components
    bf = fp.canonical.browser_family or fp.canonical.source
    main = f"{fam}:{bf}:{fp.fonts_sketch[0]:08x}" if fp.fonts_sketch else f"{fam}:{bf}"
    return (main, *(f"{fam}:{t}{comps[p]:012x}" for p, t in _ID_TAGS if comps[p]))


def walk_keys(fp: Fingerprint, blocks: tuple[str, ...]) -> tuple[str, ...]:
    """The blocks the candidates of ``fp`` are read from: its ``blocks`` (:func:`block_keys`) and, for a font
    list of two hashes or more, the block of its *second* smallest font hash, read only (a multi-probe
    MinHash: a font installed below the minimum makes the old minimum the second smallest, so the device's
    own record, indexed under the old minimum, is still walked; round 9).

    Examples
    --------
    >>> from fraudscore.keys import Keys
    >>> from fraudscore.fingerprint.sections import Fingerprinter
    >>> fpr = Fingerprinter(Keys(b"0123456789abcdef-demo-secret"))
    >>> pc = {"platform": "Win32", "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0",
    ...       "fonts": ["Arial", "Calibri", "SimSun"]}
    >>> home = block_keys(fpr.fingerprint(pc))[0]          # where the device is indexed
    >>> later = [fpr.fingerprint({**pc, "fonts": pc["fonts"] + [f"Font {i}"]}) for i in range(40)]
    >>> all(home in walk_keys(fp, block_keys(fp)) for fp in later)  # any font added
    True
    """
    fs = fp.fonts_sketch
    if len(fs) < FONT_PROBES:
        return blocks
    bf = fp.canonical.browser_family or fp.canonical.source
    return (blocks[0], *(f"{fp.family}:{bf}:{h:08x}" for h in fs[1:FONT_PROBES]), *blocks[1:])


def stat_keys(fp: Fingerprint, positions: tuple[int, ...] | None = None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Value-count keys (family, global) of the fingerprint's present values (or of ``positions`` only)."""
    comps = fp.components
    fam = tuple(comps[p] * 16 + p for p in _FAM_POS if comps[p] and (positions is None or p in positions))
    if fp.renderer and (positions is None or _RENDERER_SLOT in positions):
        fam += (fp.renderer * 16 + _RENDERER_SLOT,)
    glob = tuple(comps[p] * 16 + p for p in _GLOB_POS if comps[p] and (positions is None or p in positions))
    return fam, glob


def pop_keys(fp: Fingerprint) -> tuple[int, ...]:
    """The family value-count keys :meth:`DeviceLinker.popularity <fraudscore.fingerprint.linker.DeviceLinker.popularity>` multiplies the shares of."""
    comps = fp.components
    keys = tuple(comps[p] * 16 + p for p in (_POP_POS if not fp.mobile else _POP_POS_MOBILE) if comps[p])
    if fp.renderer and not fp.mobile:
        keys += (fp.renderer * 16 + _RENDERER_SLOT,)
    return keys


def shared_key(fp: Fingerprint) -> str:
    """The class of a common fingerprint: hardware family, browser family, the settings (screen, timezone --
    not on phones --, languages, SIM, flags) and the font list's MinHash on desktops (on phones, whether the
    list is reported: their lists are fixed by model and OS version), without what updates change
    (versions, canvas)."""
    c = fp.components
    fonts = (fp.fonts_sketch[0] if not fp.mobile else 1) if fp.fonts_sketch else 0
    h = xxhash.xxh3_64_intdigest(repr((fp.family, fp.canonical.browser_family, fonts,
                                       *(c[p] for p in (_CLASS_POS_MOBILE if fp.mobile else _CLASS_POS)))
                                      ).encode()) & _MASK48
    return f"s:{h:012x}"
