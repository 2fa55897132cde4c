"""Sectioned, keyed, versioned fingerprint ids (in the spirit of JA4's ``a_b_c``).

A fingerprint id reads ``fp1_<hardware>_<software>_<volatile>``:

* ``fp1`` -- the **scheme version** (:data:`SCHEME_VERSION`): which attributes go
  into which section and how they are canonicalised;
* ``hardware`` -- what a device cannot change: source, OS family and the
  hardware attributes (:data:`HARDWARE_ATTRS`);
* ``software`` -- OS family and major version, browser family and major version;
* ``volatile`` -- everything else that is known (:data:`VOLATILE_ATTRS`): full
  versions, user agent, timezone, languages, fonts, canvas, resettable ids, flags.

Each section is 12 hex digits (48 bits) of a keyed xxh3 hash: the 64-bit seed
``Keys.fingerprint_seed`` plus the 64-byte ``Keys.fingerprint`` secret mixed into
every input. Two ids can be compared section by section (:func:`compare_ids`).
Without the key, nobody can compute an id from attributes, so ids cannot be
precomputed or collided offline; see ``docs/fingerprints.md`` for the threat model.

Examples
--------
>>> from fraudscore.keys import Keys
>>> fpr = Fingerprinter(Keys(b"0123456789abcdef-demo-secret"))
>>> dev = {"os": "android", "os_version": "13", "model": "2211133C", "manufacturer": "Xiaomi",
...        "screen": "1080x2400", "app_version": "5.2.1", "android_id": "9774d56d682e549c"}
>>> a = fpr.fingerprint(dev)
>>> b = fpr.fingerprint({**dev, "app_version": "5.3.0"})
>>> a.id.startswith("fp1_"), a.hardware == b.hardware, a.volatile == b.volatile
(True, True, False)
>>> compare_ids(a.id, b.id)
('volatile',)
>>> fpr.fingerprint(None) is None
True
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from sys import getsizeof
from typing import Any

import xxhash

from .._core import load as load_core
from .._memo import ByteBudget, text_cost
from ..errors import ConfigError
from ..keys import Keys
from ..limits import FINGERPRINT_CACHE_BYTES, FINGERPRINT_MEMO_BYTES
from . import canonical as _canonical
from .canonical import ATTRIBUTE_INDEX, CanonicalDevice, canonicalize

__all__ = [
    "SCHEME_VERSION",
    "HARDWARE_ATTRS",
    "VOLATILE_ATTRS",
    "ANCHOR_ATTRS",
    "Fingerprint",
    "Fingerprinter",
    "compare_ids",
    "parse_id",
    "SKETCH_K",
    "renderer_model",
    "sketch_jaccard",
]

#: The current fingerprint scheme. Bump it whenever canonicalisation or the
#: section layout changes; see ``docs/fingerprints.md`` ("Scheme versions").
SCHEME_VERSION = 1

#: Hardware attributes per source (plus source and OS family). Web screens are
#: volatile: an external monitor changes them.
HARDWARE_ATTRS: dict[str, tuple[str, ...]] = {
    "app": ("manufacturer", "model", "screen"),
    "web": ("platform", "color_depth", "webgl_vendor", "webgl_renderer", "hardware_concurrency",
            "device_memory", "touch_support"),
}
#: Attributes compared one by one by the linker (the volatile section's inputs).
VOLATILE_ATTRS: tuple[str, ...] = (
    "user_agent", "os_version", "app_version", "screen", "timezone", "languages", "fonts_hash", "canvas_hash",
    "android_id", "idfv", "imei", "sim_operator", "emulator", "rooted",
)
#: Near-unique attributes the linker indexes candidates by (with the hardware section).
ANCHOR_ATTRS: tuple[str, ...] = ("android_id", "idfv", "imei", "fonts_hash")
_VOL_IDX = tuple(ATTRIBUTE_INDEX[a] for a in VOLATILE_ATTRS)
_HW_IDX = {src: tuple(ATTRIBUTE_INDEX[a] for a in attrs) for src, attrs in HARDWARE_ATTRS.items()}
_ANCHOR_POS = tuple(VOLATILE_ATTRS.index(a) for a in ANCHOR_ATTRS)
_SEP = "\x1f"
_MISSING = "\x00"
_MASK48 = (1 << 48) - 1
_CANVAS_POS = VOLATILE_ATTRS.index("canvas_hash")
_CANVAS_IDX = ATTRIBUTE_INDEX["canvas_hash"]
#: Per volatile attribute: index in the canonical values, hash-input prefix, whether its hashes are cached
#: (not for near-unique attributes, which would only churn the cache).
_COMP_PLAN = tuple((ATTRIBUTE_INDEX[a], f"c{_SEP}{a}{_SEP}",
                    a not in ("fonts_hash", "canvas_hash", "android_id", "idfv", "imei")) for a in VOLATILE_ATTRS)
_ANCHOR_TAGS = tuple((p, VOLATILE_ATTRS[p][:2]) for p in _ANCHOR_POS)
_C_PLAN = tuple((i, pre) for i, pre, _cached in _COMP_PLAN)  # the compiled kernel's component plan
_MEMO_MAX = 65_536
_VOL_GET = itemgetter(*_VOL_IDX)
_HW_GET = {src: itemgetter(*idx) for src, idx in _HW_IDX.items()}
_HW_GET_ANY = itemgetter(*(_HW_IDX["web"] + _HW_IDX["app"]))  # an unknown source: both lists


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """One observed device state.

    Attributes
    ----------
    id : str
        ``fp<scheme>_<hardware>_<software>_<volatile>``.
    hardware, software, volatile : str
        The three sections (12 hex digits each).
    scheme : int
        The scheme version.
    canonical : CanonicalDevice
        The canonical attributes (in memory only; never stored by the linker).
    components : tuple of int
        Keyed 48-bit hashes of :data:`VOLATILE_ATTRS` (0 = missing), for linking.
    canvas : str or None
        Keyed hash of the canvas hash (``"c:<12 hex>"``), a velocity entity for
        "canvas seen on many devices".
    aliases : tuple of str
        Ids of the same state under older schemes (see ``Fingerprinter(also=...)``).
    link_keys : tuple of str
        The 0.1 linker's candidate index keys (:mod:`fraudscore.fingerprint.legacy`).
    family : str
        Keyed hash (12 hex) of the *hardware family*: the hardware section without what
        a driver update changes (the WebGL renderer's driver version and PCI id); the
        linker's candidate blocks are keyed by it.
    renderer : int
        Keyed 48-bit hash of the full WebGL renderer string (0 = missing).
    fonts_sketch : tuple of int
        Bottom-k sketch (the :data:`SKETCH_K` smallest keyed 32-bit hashes) of the font
        list, for a Jaccard estimate between two states; ``()`` without a font list.
    font_count : int
        Number of fonts in the list.
    lang_items : tuple of int
        Sorted keyed 32-bit hashes of the languages.
    mobile : bool
        A phone or tablet (app, iOS / Android browser, or touch screen).
    """

    id: str
    hardware: str
    software: str
    volatile: str
    scheme: int
    canonical: CanonicalDevice
    components: tuple[int, ...]
    canvas: str | None = None
    aliases: tuple[str, ...] = ()
    link_keys: tuple[str, ...] = ()
    family: str = ""
    renderer: int = 0
    fonts_sketch: tuple[int, ...] = ()
    font_count: int = 0
    lang_items: tuple[int, ...] = ()
    mobile: bool = False

    def anchors(self) -> tuple[tuple[str, int], ...]:
        """``(attribute, hash)`` of the present near-unique attributes (:data:`ANCHOR_ATTRS`)."""
        c = self.components
        return tuple((VOLATILE_ATTRS[p], c[p]) for p in _ANCHOR_POS if c[p])


#: Size of the bottom-k font-list sketch.
SKETCH_K = 32
_MASK32 = (1 << 32) - 1
_DRIVER_RE = re.compile(r"\s*\(0x[0-9a-f]+\)|-\d+(?:\.\d+)+")


def renderer_model(renderer: str | None) -> str | None:
    """The WebGL renderer without what a driver update changes (PCI id, driver version).

    Examples
    --------
    >>> renderer_model("angle (intel, intel(r) uhd graphics 620 (0x00005917) direct3d11 vs_5_0 ps_5_0, "
    ...                "d3d11-31.0.101.4017)")
    'angle (intel, intel(r) uhd graphics 620 direct3d11 vs_5_0 ps_5_0, d3d11)'
    """
    if renderer is None:
        return None
    return _DRIVER_RE.sub("", renderer)


def sketch_jaccard(a: tuple[int, ...] | list[int], b: tuple[int, ...] | list[int], k: int = SKETCH_K) -> float:
    """Jaccard similarity estimated from two bottom-k sketches (exact when both sets have < k items).

    Examples
    --------
    >>> sketch_jaccard((1, 2, 3), (2, 3, 4)), sketch_jaccard((), (1,))
    (0.5, 0.0)
    """
    if not a or not b:
        return 0.0
    sa, sb = set(a), set(b)
    union = sorted(sa | sb)[:k]
    return sum(1 for x in union if x in sa and x in sb) / len(union)


def parse_id(fp_id: str) -> tuple[int, str, str, str]:
    """Split an id into ``(scheme, hardware, software, volatile)``.

    Examples
    --------
    >>> parse_id("fp1_0123456789ab_0123456789ac_0123456789ad")[0]
    1
    >>> parse_id("nonsense")
    Traceback (most recent call last):
    ...
    fraudscore.errors.ConfigError: Not a fingerprint id: expected 'fp<scheme>_<hw>_<sw>_<vol>'.
    """
    parts = fp_id.split("_") if isinstance(fp_id, str) else []
    if len(parts) != 4 or not parts[0].startswith("fp") or not parts[0][2:].isdigit():
        raise ConfigError("Not a fingerprint id: expected 'fp<scheme>_<hw>_<sw>_<vol>'.")
    return int(parts[0][2:]), parts[1], parts[2], parts[3]


def compare_ids(a: str, b: str) -> tuple[str, ...]:
    """Names of the sections in which two ids differ (``("scheme",)`` across schemes).

    Examples
    --------
    >>> compare_ids("fp1_aaaaaaaaaaaa_bbbbbbbbbbbb_cccccccccccc", "fp1_aaaaaaaaaaaa_bbbbbbbbbbbd_cccccccccccd")
    ('software', 'volatile')
    """
    pa, pb = parse_id(a), parse_id(b)
    if pa[0] != pb[0]:
        return ("scheme",)
    return tuple(n for n, x, y in zip(("hardware", "software", "volatile"), pa[1:], pb[1:]) if x != y)


def _scheme1_sections(c: CanonicalDevice) -> tuple[str, str, str]:
    vals = c.values
    src = c.source
    fam = c.os_family or _MISSING
    hw = _SEP.join(["hw", src, fam, *[v or _MISSING for v in _HW_GET.get(src, _HW_GET_ANY)(vals)]])
    sw = _SEP.join(["sw", src, fam, str(c.os_major), c.browser_family or _MISSING, str(c.browser_major)])
    vol = _SEP.join(["vol", *[v or _MISSING for v in _VOL_GET(vals)]])
    return hw, sw, vol


_RENDERER_IDX = ATTRIBUTE_INDEX["webgl_renderer"]
_FONTS_IDX = ATTRIBUTE_INDEX["fonts"]
_LANGS_IDX = ATTRIBUTE_INDEX["languages"]
_TOUCH_IDX = ATTRIBUTE_INDEX["touch_support"]
_FAM_WEB = tuple(ATTRIBUTE_INDEX[a] for a in ("platform", "color_depth", "webgl_vendor", "hardware_concurrency",
                                              "device_memory", "touch_support"))
_FAM_APP = tuple(ATTRIBUTE_INDEX[a] for a in HARDWARE_ATTRS["app"])


def _family_input(c: CanonicalDevice) -> str:
    """The hardware family: the hardware section's inputs with the renderer's driver details removed."""
    vals = c.values
    if c.source == "app":
        parts = [vals[i] or _MISSING for i in _FAM_APP]
    else:
        parts = [vals[i] or _MISSING for i in _FAM_WEB]
        parts.append(renderer_model(vals[_RENDERER_IDX]) or _MISSING)
    return _SEP.join(["fam", c.source, c.os_family or _MISSING, *parts])


#: The compiled scheme-1 kernel's plan (``_core.fingerprint.Hasher.sections1``): hardware attribute indices for
#: app, web and other sources, volatile indices, the component plan, anchor tags, canvas position and index,
#: renderer, fonts and languages indices, sketch size.
_S1_PLAN = (_HW_IDX["app"], _HW_IDX["web"], _HW_IDX["web"] + _HW_IDX["app"], _VOL_IDX, _C_PLAN, _ANCHOR_TAGS,
            _CANVAS_POS, _CANVAS_IDX, _RENDERER_IDX, _FONTS_IDX, _LANGS_IDX, SKETCH_K)

_FP_FIELDS = tuple(f.name for f in dataclasses.fields(Fingerprint))
_CD_FIELDS = tuple(f.name for f in dataclasses.fields(CanonicalDevice))
_CD_DESCRIPTORS = tuple(CanonicalDevice.__dict__[f] for f in _CD_FIELDS)
_FP_DESCRIPTORS = tuple(Fingerprint.__dict__[f] for f in _FP_FIELDS)


def _build1_context() -> tuple[Any, ...] | None:
    """The compiled ``build1`` kernel's context (``_core.fingerprint.Hasher.build1``), or ``None``.

    It holds canonical.py's memos and miss handlers (so the compiled loop and the reference share them),
    the plans above, and the two frozen dataclasses with their slot descriptors: the kernel fills the
    slots as the dataclasses' ``__init__`` does (``object.__setattr__``).
    """
    if not (all(type(d) is types.MemberDescriptorType for d in _CD_DESCRIPTORS + _FP_DESCRIPTORS)
            and not hasattr(Fingerprint, "__post_init__") and not hasattr(CanonicalDevice, "__post_init__")
            and _CD_FIELDS == ("values", "extra", "source", "os_family", "os_version", "browser_family",
                               "browser_version", "app_version")
            and _FP_FIELDS == ("id", "hardware", "software", "volatile", "scheme", "canonical", "components",
                               "canvas", "aliases", "link_keys", "family", "renderer", "fonts_sketch",
                               "font_count", "lang_items", "mobile")):
        return None  # pragma: no cover - the kernel's field order no longer matches the dataclasses
    return (_canonical.compiled_args(), _canonical.extras_of,
            _canonical.derive_context(CanonicalDevice),
            (_S1_PLAN, _FAM_APP, _FAM_WEB, _RENDERER_IDX, _TOUCH_IDX, Fingerprint, _FP_DESCRIPTORS, "app", ()))


#: Registered schemes: version -> function from canonical device to the three section inputs.
SCHEMES = {1: _scheme1_sections}


class Fingerprinter:
    """Compute keyed, sectioned fingerprints of device mappings.

    Parameters
    ----------
    keys : Keys
        The caller's keys (``fingerprint`` secret and ``fingerprint_seed``). Never stored.
    scheme : int, default SCHEME_VERSION
        The scheme for :attr:`Fingerprint.id`.
    also : tuple of int, default ()
        Older schemes to compute too, as :attr:`Fingerprint.aliases`, during a
        migration (the linker then finds devices first seen under those schemes).
    cache_size : int, default 65536
        Bound of the LRU cache from a device mapping to its fingerprint (keyed by
        a keyed 128-bit hash of the mapping); entries hold the canonical attributes.
    cache_bytes : int, default :data:`~fraudscore.limits.FINGERPRINT_CACHE_BYTES`
        Byte bound of the same cache (estimated from the text each entry holds):
        least recently used entries go first when either bound is reached.

    Examples
    --------
    >>> from fraudscore.keys import Keys
    >>> k1, k2 = Keys("0123456789abcdef-one"), Keys("0123456789abcdef-two")
    >>> d = {"user_agent": "Mozilla/5.0 (Windows NT 10.0) Chrome/120.0.0.0", "platform": "Win32"}
    >>> Fingerprinter(k1).fingerprint(d).id == Fingerprinter(k1).fingerprint(d).id
    True
    >>> Fingerprinter(k1).fingerprint(d).id == Fingerprinter(k2).fingerprint(d).id
    False
    """

    def __init__(self, keys: Keys, *, scheme: int = SCHEME_VERSION, also: tuple[int, ...] = (),
                 cache_size: int = 65_536, cache_bytes: int = FINGERPRINT_CACHE_BYTES) -> None:
        if not isinstance(keys, Keys):
            raise ConfigError(
                f"The 'keys' parameter of Fingerprinter must be a Keys object. Got {type(keys).__name__} instead."
            )
        for s in (scheme, *also):
            if s not in SCHEMES:
                raise ConfigError(
                    f"The 'scheme' parameter of Fingerprinter must be one of {sorted(SCHEMES)}. Got {s!r} instead."
                )
        if not isinstance(cache_size, int) or cache_size < 0:
            raise ConfigError(
                f"The 'cache_size' parameter of Fingerprinter must be a non-negative int. Got {cache_size!r} instead."
            )
        self.scheme = scheme
        self.also = tuple(s for s in also if s != scheme)
        self.key_id = keys.key_id
        self._seed = keys.fingerprint_seed
        self._prefix = keys.fingerprint
        self._cache_size = cache_size
        self._cache_bytes = int(cache_bytes)
        self._cache_used = 0
        self._cache: OrderedDict[bytes, Fingerprint] | None = OrderedDict() if cache_size else None
        self._sections1: Any = None  # the compiled from_canonical hashing (scheme 1), see below
        self._mapping_key: Any = None  # the compiled cache key of a device dict (else a repr-text key)
        self._build1: Any = None  # compiled from_canonical(canonicalize(d)) of a dict (None: use the reference)
        self._assemble1: Any = None  # compiled from_canonical(c) (None: use the reference)
        # keyed hashes of low-cardinality inputs (hardware and software sections, common attribute values)
        self._memo: dict[str, str] = {}
        self._comp_memo: tuple[dict[str, int], ...] = tuple({} for _ in _COMP_PLAN)  # per volatile attribute
        self._items: dict[str, int] = {}  # font and language names -> keyed 32-bit hashes
        self._budget = ByteBudget(FINGERPRINT_MEMO_BYTES, self._memo, *self._comp_memo, self._items)
        # the compiled kernels (fraudscore/_core/fingerprint.c, fingerprint_sections.c) replace _hex and _components when available;
        # the methods below stay the reference (bit-identical: tests/fingerprint/test_sections_compiled.py)
        core = load_core("fingerprint")
        if core is not None:
            hasher = core.Hasher(self._prefix, self._seed)
            self._hex = hasher.hex  # type: ignore[method-assign]
            self._components = functools.partial(hasher.components, _C_PLAN)  # type: ignore[method-assign]
            self._mapping_key = hasher.mapping_key
            if scheme == 1 and not self.also:  # all of from_canonical's hashing in one call
                self._sections1 = functools.partial(hasher.sections1, _S1_PLAN)
                ctx = _build1_context()
                if ctx is not None:  # canonicalize + from_canonical in one call (canonical.py's memos shared)
                    self._build1 = functools.partial(hasher.build1, ctx)
                    self._assemble1 = functools.partial(hasher.assemble1, ctx[3], _CD_DESCRIPTORS)

    def __repr__(self) -> str:
        return f"Fingerprinter(key_id={self.key_id!r}, scheme={self.scheme})"

    def _h(self, text: str) -> int:
        return xxhash.xxh3_64_intdigest(self._prefix + text.encode("utf-8", "surrogatepass"), seed=self._seed)

    def _hex(self, text: str) -> str:
        return f"{self._h(text) & _MASK48:012x}"

    def _memo_hex(self, text: str) -> str:
        memo = self._memo
        out = memo.get(text)
        if out is None:
            out = self._hex(text)
            self._budget.remember(memo, text, out, _MEMO_MAX)
        return out  # type: ignore[no-any-return]

    def _sections(self, c: CanonicalDevice, scheme: int) -> tuple[str, str, str, str]:
        hw_in, sw_in, vol_in = SCHEMES[scheme](c)
        tag = f"{scheme}{_SEP}"
        hw, sw, vol = self._memo_hex(tag + hw_in), self._memo_hex(tag + sw_in), self._hex(tag + vol_in)
        return f"fp{scheme}_{hw}_{sw}_{vol}", hw, sw, vol

    def _components(self, vals: tuple[str | None, ...]) -> tuple[int, ...]:
        h = self._h
        out = []
        for (i, pre, cached), memo in zip(_COMP_PLAN, self._comp_memo):
            v = vals[i]
            if v is None:
                out.append(0)
            elif cached:
                x = memo.get(v)
                if x is None:
                    x = (h(pre + v) & _MASK48) or 1
                    self._budget.remember(memo, v, x, _MEMO_MAX)
                out.append(x)
            else:
                out.append((h(pre + v) & _MASK48) or 1)
        return tuple(out)

    def from_canonical(self, c: CanonicalDevice) -> Fingerprint:
        """The fingerprint of an already canonical device.

        Examples
        --------
        >>> from fraudscore.keys import Keys
        >>> fpr = Fingerprinter(Keys("0123456789abcdef-demo"))
        >>> fpr.from_canonical(canonicalize({"os": "ios"})).scheme
        1
        """
        asm = self._assemble1
        if asm is not None and type(c) is CanonicalDevice:  # bit-identical (tests/fingerprint/test_build_compiled.py)
            fp = asm(c)
            if fp is not None:
                return fp  # type: ignore[no-any-return]
        vals = c.values
        sec = self._sections1
        if sec is not None:  # compiled: bit-identical (tests/fingerprint/test_sections_compiled.py)
            fid, hw, sw, vol, comps, canvas, keys, fam, rend_h, sketch, n_fonts, lang_items = sec(
                vals, c.source, c.os_family, c.os_major, c.browser_family, c.browser_major, _family_input(c))
            touch = vals[_TOUCH_IDX]
            mobile = c.source == "app" or c.os_family in ("ios", "android") or (
                touch is not None and touch.isdigit() and int(touch) > 0)
            return Fingerprint(fid, hw, sw, vol, 1, c, comps, canvas, (), keys, fam, rend_h, sketch, n_fonts,
                               lang_items, mobile)
        fid, hw, sw, vol = self._sections(c, self.scheme)
        comps = self._components(vals)
        canvas = None if vals[_CANVAS_IDX] is None else f"c:{comps[_CANVAS_POS]:012x}"
        aliases = tuple(self._sections(c, s)[0] for s in self.also) if self.also else ()
        keys = tuple(f"{hw}:{t}{comps[p]:012x}" for p, t in _ANCHOR_TAGS if comps[p]) or (hw,)
        fam = self._memo_hex(_family_input(c))
        rend = vals[_RENDERER_IDX]
        fonts = vals[_FONTS_IDX]
        sketch: tuple[int, ...] = ()
        n_fonts = 0
        if fonts is not None:
            items = fonts.split(",")
            n_fonts = len(items)
            sketch = tuple(sorted(self._item_hash("f", x) for x in items)[:SKETCH_K])
        langs = vals[_LANGS_IDX]
        lang_items = tuple(sorted(self._item_hash("l", x) for x in langs.split(","))) if langs else ()
        touch = vals[_TOUCH_IDX]
        mobile = c.source == "app" or c.os_family in ("ios", "android") or (
            touch is not None and touch.isdigit() and int(touch) > 0)
        return Fingerprint(fid, hw, sw, vol, self.scheme, c, comps, canvas, aliases, keys, fam,
                           0 if rend is None else (self._h("r" + _SEP + rend) & _MASK48) or 1, sketch, n_fonts,
                           lang_items, mobile)

    def _item_hash(self, kind: str, item: str) -> int:
        """Keyed 32-bit hash of one font or language name (memoised: names repeat across devices)."""
        memo = self._items
        key = kind + item
        x = memo.get(key)
        if x is None:
            x = self._h(f"i{_SEP}{key}") & _MASK32
            self._budget.remember(memo, key, x, _MEMO_MAX)
        return x

    def fingerprint_many(self, devices: Iterable[Mapping[str, Any] | None]) -> list[Fingerprint | None]:
        """Fingerprints of many device mappings, equal to :meth:`fingerprint` of each.

        For batches of mostly new devices: the LRU cache is neither read nor filled
        (it would only churn); with the compiled core, equal mappings within the call are
        fingerprinted once (keyed by a compiled hash of their items).

        Examples
        --------
        >>> from fraudscore.keys import Keys
        >>> fpr = Fingerprinter(Keys("0123456789abcdef-demo"))
        >>> a, b = fpr.fingerprint_many([{"os": "ios"}, None])
        >>> a == fpr.fingerprint({"os": "ios"}), b
        (True, None)
        """
        from_canonical = self.from_canonical
        key = self._mapping_key
        build = self._build1
        if key is None:
            return [from_canonical(canonicalize(d)) if d else None for d in devices]
        memo: dict[bytes, Fingerprint] = {}  # equal mappings in one batch: fingerprinted once (compiled key)
        out: list[Fingerprint | None] = []
        for d in devices:
            if not d:
                out.append(None)
                continue
            k = key(d)
            fp = None if k is None else memo.get(k)
            if fp is None:
                fp = None if build is None else build(d)
                if fp is None:
                    fp = from_canonical(canonicalize(d))
                if k is not None:
                    memo[k] = fp
            out.append(fp)
        return out

    def fingerprint(self, device: Mapping[str, Any] | None) -> Fingerprint | None:
        """Fingerprint a ``device`` mapping; ``None`` (or an empty mapping) gives ``None``.

        Parameters
        ----------
        device : Mapping or None
            Device attributes (see ``docs/fingerprints.md``); unknown keys are tolerated.

        Returns
        -------
        Fingerprint or None
            ``None`` means "device missing".
        """
        if not device:
            return None
        cache = self._cache
        if cache is None:
            fp = None if self._build1 is None else self._build1(device)
            return self.from_canonical(canonicalize(device)) if fp is None else fp
        key = None if self._mapping_key is None else self._mapping_key(device)  # compiled: no repr text
        if key is None:
            text = repr(device) if type(device) is dict else repr(tuple(device.items()))  # repr(dict) is cheaper
            key = xxhash.xxh3_128_digest(text.encode("utf-8", "surrogatepass"), seed=self._seed)
        fp = cache.get(key)
        if fp is None:
            build = self._build1
            fp = None if build is None else build(device)  # None: not an exact dict, or an uncommon value
            if fp is None:
                fp = self.from_canonical(canonicalize(device))
            cache[key] = fp
            self._cache_used += _fp_cost(fp)
            if len(cache) > self._cache_size or (self._cache_used > self._cache_bytes and len(cache) > 1):
                self._trim_cache()
        else:
            cache.move_to_end(key)
        return fp

    def _trim_cache(self) -> None:
        """Drop the least recently used fingerprints until the cache is within its size and byte bounds (one is
        always kept). :meth:`fingerprint` and its compiled twin (``_core/pipeline.c``) call it after an insert."""
        cache = self._cache
        assert cache is not None
        while len(cache) > self._cache_size or (self._cache_used > self._cache_bytes and len(cache) > 1):
            self._cache_used -= _fp_cost(cache.popitem(last=False)[1])

    @property
    def cache_bytes_used(self) -> int:
        """Estimated bytes held by the fingerprint cache (see :data:`~fraudscore.limits.FINGERPRINT_CACHE_BYTES`)."""
        return self._cache_used


_CORE_MOD = load_core("fingerprint")
#: ``sum(map(getsizeof, filter(None, values)))`` compiled (``_core.fingerprint.values_size``), or ``None``.
_VALUES_SIZE = getattr(_CORE_MOD, "values_size", None)


def _fp_cost(fp: Fingerprint) -> int:
    """Estimated bytes one cached fingerprint retains (its canonical text, ids and hashes)."""
    c = fp.canonical
    vals = c.values
    # ids, hashes, objects: ~900
    n = 900 + 8 * len(vals) + (sum(map(getsizeof, filter(None, vals))) if _VALUES_SIZE is None else _VALUES_SIZE(vals))
    if c.extra:
        n += text_cost(c.extra)
    return n
