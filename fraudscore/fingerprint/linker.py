"""Drift-tolerant, collision-aware device linking: one ``device_id`` per physical device.

:class:`DeviceLinker` links each observed fingerprint to a device in the spirit
of FP-STALKER's *hybrid* linker (rules find candidates, a learned model decides):

1. **exact**: a fingerprint id (or an alias under an older scheme) seen before
   returns its device -- unless the device has since moved to newer versions
   than this fingerprint shows (then another device shows it: a collision);
2. **popularity**: the expected number of live devices sharing the fingerprint's
   lasting attributes (those updates do not change), from value counts in its
   hardware family, the collisions seen on the exact index and -- for a phone
   without a resettable id while its family holds fewer than
   ``min_family_devices`` devices -- a prior of ``mobile_prior`` devices (mobile
   fingerprints are mostly not unique);
3. **shared classes**: a fingerprint whose popularity reaches :data:`COMMON_POPULARITY`
   cannot be told apart from its twins: it is linked to one shared record per class
   (hardware family, browser, lasting settings) across updates, as exact
   matching would within one version, with confidence ``1 / popularity`` (at most
   0.5: a class record stands for two devices or more). The class is sticky: a
   twin hitting the class record is a sighting of it, and a device tracked alone
   whose fingerprint becomes common joins its class on its next exact hit;
4. **candidates** otherwise come from blocks, never a scan: devices of the same
   *hardware family* (the hardware section without the renderer's driver
   details, so a driver update does not hide a desktop), browser family and
   font-list MinHash -- read together with the block of the second smallest font
   hash --, plus those sharing a resettable id; blocks are ordered by
   **last sighting**;
5. **hard rules**: same family and browser family, no OS / browser / app
   version going backwards; a cheap pre-filter keeps the :attr:`max_scored`
   closest candidates;
6. the **link model** (:class:`~fraudscore.fingerprint.linkmodel.LinkModel`,
   LightGBM on :data:`~fraudscore.fingerprint.linkfeatures.PAIR_FEATURES`) gives
   each the probability of being the same device; the best links when it reaches
   :attr:`link_probability` (confidence: probability / popularity), else a new
   device is created.

``link_confidence`` is thus the estimated probability that the id denotes this
one physical device. Links below :data:`MIN_LINK_CONFIDENCE` are *refused*
downstream: the pipeline keys no velocity feature on them (``device_id`` is
``None`` in the record and the decision) and ``device__link_confidence`` carries
the number. An exact match on a common fingerprint (identical phones) therefore
never merges two phones' histories. The decision is a pure function of the
fingerprint, the :class:`~fraudscore.fingerprint.linkstate.LinkView` read from
the state and the event time (:meth:`DeviceLinker.decide`), so an optimistic
read-decide-commit protocol fits. Over a :class:`MemoryLinkState`, :meth:`DeviceLinker.link`
takes a fast path for an exact hit (``decide``'s exact branch inlined, parity-tested
against read -> decide -> write).

Examples
--------
>>> from fraudscore.keys import Keys
>>> from fraudscore.fingerprint.sections import Fingerprinter
>>> fpr = Fingerprinter(Keys(b"0123456789abcdef-demo-secret"))
>>> linker = DeviceLinker()
>>> dev = {"os": "android", "os_version": "13", "model": "2211133C", "manufacturer": "Xiaomi",
...        "screen": "1080x2400", "app_version": "5.2.1", "android_id": "9774d56d682e549c", "timezone": "Asia/Shanghai"}
>>> r1 = linker.link(fpr.fingerprint(dev), 1_000)
>>> r2 = linker.link(fpr.fingerprint({**dev, "app_version": "5.3.0", "timezone": "Asia/Tokyo"}), 2_000)
>>> r1.new, r2.device_id == r1.device_id, r2.changed, r2.link_confidence >= MIN_LINK_CONFIDENCE
(True, True, ('app_version', 'timezone'), True)
>>> linker.link(fpr.fingerprint({**dev, "app_version": "5.0.0"}), 3_000).new   # versions never go backwards
True
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MethodType
from typing import Any

import xxhash

from ..errors import ConfigError
from .linkfeatures import compatible_records, make_record, n_differences, pair_features
from .linkkeys import _ID_TAGS, _MASK48, _RENDERER_SLOT, block_keys, pop_keys, shared_key, stat_keys, walk_keys
from .linkmodel import LinkModel, default_link_model
from .linknet import NetworkScope, scoped_link
from .linker_kernels import _book_kernel, _kernel
from .linkstate import LinkPlan, LinkState, LinkView, MemoryLinkState
from .sections import VOLATILE_ATTRS, Fingerprint

__all__ = ["DeviceLinker", "LinkResult", "MIN_LINK_CONFIDENCE", "COMMON_POPULARITY"]

#: Velocity features keyed on ``device_id`` use a link only at or above this confidence (a fingerprint
#: shared by two devices or more gets at most 0.5).
MIN_LINK_CONFIDENCE = 0.6
#: Popularity from which a fingerprint is *common* (its link confidence would fall below MIN_LINK_CONFIDENCE):
#: its observations go to the one shared record of its class.
COMMON_POPULARITY = 1.0 / MIN_LINK_CONFIDENCE
#: Least popularity of a fingerprint linked to its class record (which stands for two devices or more).
_CLASS_POPULARITY = 2.0


@dataclass(frozen=True, slots=True)
class LinkResult:
    """The outcome of linking one fingerprint.

    Attributes
    ----------
    device_id : str
        The device id (``"d_<hardware family>_<12 hex>"``).
    link_confidence : float
        Estimated probability that ``device_id`` denotes this one physical device:
        the model's probability (1 for an exact match), times one minus the
        runner-up's, divided by the fingerprint's popularity. Below
        :data:`MIN_LINK_CONFIDENCE` the pipeline does not key velocity on it.
    changed : tuple of str
        Volatile attributes that differ from the device's previous state.
    new : bool
        Whether a new device was created.
    how : str
        ``"exact"``, ``"shared"`` (an exact match on a common fingerprint),
        ``"model"`` (a drifted state linked by the model), ``"new"`` or, with a
        :class:`~fraudscore.fingerprint.linknet.NetworkScope`, ``"network"`` (a class link
        scoped to the event's IP /24).
    """

    device_id: str
    link_confidence: float
    changed: tuple[str, ...] = ()
    new: bool = False
    how: str = "new"


def _ahead(rec: dict[str, Any], fp: Fingerprint) -> bool:
    """Whether the device's recorded versions are newer than the fingerprint's (it moved on)."""
    c = fp.canonical
    for new, old in ((c.os_version, rec["ov"]), (c.browser_version, rec["bv"]), (c.app_version, rec["av"])):
        if new is not None and old is not None and tuple(old) > tuple(new):
            return True
    return False


class DeviceLinker:
    """Link fingerprints to device ids over a :class:`~fraudscore.fingerprint.linkstate.LinkState`.

    Parameters
    ----------
    state : LinkState, optional
        :class:`MemoryLinkState` (default, fresh) or :class:`RedisLinkState`.
    model : LinkModel, optional
        The pairwise link model; the package's default model when omitted.
    link_probability : float, default 0.5
        Smallest model probability that links a drifted fingerprint to a device.
    max_scored : int, default 8
        Most candidates scored by the model per event (the closest ones; only those sharing
        a resettable id when any does).
    mobile_prior : float, default 3.0
        Popularity assumed for a phone's fingerprint without a resettable id while its
        hardware family holds fewer than ``min_family_devices`` devices.
    min_family_devices : int, default 30
        Devices of a family needed before value counts alone estimate popularity.
    network : NetworkScope, optional
        Network-scoped popularity (opt-in, see :mod:`fraudscore.fingerprint.linknet`): a class link
        (``how == "shared"``) of an event with an IP /24 becomes ``<class id>@<network>`` (``how ==
        "network"``) with the confidence that no twin shares that network. Kept in this process's memory
        (not in a Redis link state).

    Examples
    --------
    >>> DeviceLinker(link_probability=2)
    Traceback (most recent call last):
    ...
    fraudscore.errors.ConfigError: The 'link_probability' parameter of DeviceLinker must be a number in [0, 1]. Got 2 instead.
    """

    # the last fingerprint _keys answered for, and its keys (class defaults: linktrain builds a bare instance)
    _last_fp: Fingerprint | None = None
    _last_keys: tuple[Any, ...] = ()
    _variant_memo: dict[Any, Any] | None = None
    _link_fast: Any = None  # the compiled read -> decide -> write over a MemoryLinkState (None: Python)
    _link_entry: Any = None  # the whole of link() compiled (keys, IP, link, result); None: the Python path

    def __init__(self, state: LinkState | None = None, *, model: LinkModel | None = None,
                 link_probability: float = 0.5, max_scored: int = 8, mobile_prior: float = 3.0,
                 min_family_devices: int = 30, network: NetworkScope | None = None) -> None:
        if isinstance(link_probability, bool) or not isinstance(link_probability, (int, float)) or not (
                0 <= link_probability <= 1):
            raise ConfigError("The 'link_probability' parameter of DeviceLinker must be a number in [0, 1]. "
                              f"Got {link_probability!r} instead.")
        for name, v in (("max_scored", max_scored), ("min_family_devices", min_family_devices)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"The {name!r} parameter of DeviceLinker must be an integer >= 1. Got {v!r} instead.")
        if isinstance(mobile_prior, bool) or not isinstance(mobile_prior, (int, float)) or mobile_prior < 1:
            raise ConfigError(f"The 'mobile_prior' parameter of DeviceLinker must be a number >= 1. "
                              f"Got {mobile_prior!r} instead.")
        if state is not None and not isinstance(state, LinkState):
            raise ConfigError(
                f"The 'state' parameter of DeviceLinker must be a LinkState. Got {type(state).__name__} instead."
            )
        if model is not None and not isinstance(model, LinkModel):
            raise ConfigError(f"The 'model' parameter of DeviceLinker must be a LinkModel. Got {type(model).__name__} "
                              "instead.")
        if network is not None and not isinstance(network, NetworkScope):
            raise ConfigError(f"The 'network' parameter of DeviceLinker must be a NetworkScope. "
                              f"Got {type(network).__name__} instead.")
        self.state = state if state is not None else MemoryLinkState()
        self.network = network
        if network is not None:  # an instance attribute: the default linker's link() pays nothing for it
            self.link = MethodType(scoped_link, self)  # type: ignore[method-assign]
        self.model = model if model is not None else default_link_model()
        self.link_probability = float(link_probability)
        self.max_scored = max_scored
        self.mobile_prior = float(mobile_prior)
        self.min_family_devices = min_family_devices
        self._key_memo: dict[str, Any] = {}  # fingerprint id -> its keys (a pure function of the fingerprint)
        self._variant_memo: dict[Any, Any] = {}  # (id, font sketch, aliases) -> keys, for an id's other variants
        self._ip_memo: dict[Any, int] = {}  # IP token -> its hash
        self._results: dict[tuple[Any, ...], LinkResult] = {}  # LinkResults by their fields (immutable)
        # the compiled per-candidate kernel (None: the Python reference; FRAUDSCORE_PURE_PYTHON=1 forces it)
        core = _kernel()
        self._select = core.select if core is not None else None
        self._pick = core.pick if core is not None else None
        # the compiled exact / class-record paths over a MemoryLinkState (None: the Python path)
        book = _book_kernel()
        self._link_fast = book.link if book is not None else None
        # link() in one compiled call (fraudscore/_core/linkstate.c ``entry``): only for this very class (a subclass
        # may override the steps it inlines) and only while _link_fast is the kernel's (tests replace it)
        self._link_entry = book.entry if book is not None and type(self) is DeviceLinker else None

    def __repr__(self) -> str:
        return f"DeviceLinker(state={type(self.state).__name__}, model={self.model.sha256[:12]})"

    # -- keys (pure functions of the fingerprint: linkkeys.py) --------------------------------------------
    block_keys = staticmethod(block_keys)
    walk_keys = staticmethod(walk_keys)
    stat_keys = staticmethod(stat_keys)
    pop_keys = staticmethod(pop_keys)
    shared_key = staticmethod(shared_key)

    # -- popularity ---------------------------------------------------------------------
    def popularity(self, fp: Fingerprint, view: LinkView, ndev: int, known: bool = False) -> float:
        """Expected number of live devices showing ``fp``'s lasting attributes (at least 1).

        The product of the family's value shares over the attributes updates do not change
        (screen, timezone, languages, SIM, flags, resettable ids, and on desktops fonts, canvas
        and renderer: a phone's are fixed by its model and OS), times the family's other devices,
        plus one. ``known``: the device itself is already counted (an exact match, or a drifted
        state of a device in the family), so it is taken out of the counts.
        """
        g = 1.0
        for v in view.glob_counts.values():
            g *= (v + 1) / (view.glob_n + 1)
        pop = self._popularity(fp, self._keys(fp)[6], view.fam_n, view.fam_counts, ndev, known, g)
        deps = getattr(view, "deps", None)
        if deps is not None:  # a view recording what the decision depends on (see _depends)
            deps.append((fp, ndev, known, g, pop))
        return pop

    def _popularity(self, fp: Fingerprint, keys: tuple[int, ...], fam_n: int, counts: dict[int, int], ndev: int,
                    known: bool, glob: float = 1.0) -> float:
        k = 1 if known else 0
        n = fam_n - k
        est = 1.0
        if n > 0:
            others = float(n)
            get = counts.get
            for key in keys:
                c = get(key, 0) - k
                if c <= 0:
                    others = 0.0
                    break
                others *= c / n
            est += others
        est *= glob
        pop = est if est > ndev else float(ndev)
        if pop < 1.0:
            pop = 1.0
        if fp.mobile and n < self.min_family_devices and pop < self.mobile_prior and not any(
                fp.components[p] for p, _ in _ID_TAGS):
            pop = self.mobile_prior
        return pop

    # -- the decision ---------------------------------------------------------------------
    def _keys(self, fp: Fingerprint) -> tuple[Any, ...]:
        """(ids, block keys, family and global count keys, class key, font sketch, popularity keys, class id, aliases,
        walk keys) of ``fp``, memoised by id."""
        if fp is self._last_fp:  # the same (frozen) fingerprint again within one link
            return self._last_keys
        hit = self._key_memo.get(fp.id)
        # the font-list sketch is not part of the id (a script may report the list or only its hash): check it
        if hit is None or hit[5] != fp.fonts_sketch or hit[8] != fp.aliases:
            # twins whose scripts differ that way share the id: the other variants are memoised apart (else
            # every sighting of one would recompute the keys of the other)
            variant = (fp.id, fp.fonts_sketch, fp.aliases) if hit is not None else None
            hit = self._variant_memo.get(variant) if variant is not None and self._variant_memo is not None else None
            if hit is None:
                fam_keys, glob_keys = self.stat_keys(fp)
                ids = (fp.id, *fp.aliases) if fp.aliases else (fp.id,)
                key = self.shared_key(fp)
                blocks = self.block_keys(fp)
                hit = (ids, blocks, fam_keys, glob_keys, key, fp.fonts_sketch, self.pop_keys(fp),
                       f"d_{fp.family}_{key[2:]}", fp.aliases, self.walk_keys(fp, blocks))
                memo = self._key_memo if variant is None else self._variant_memo
                if memo is None:
                    memo = self._variant_memo = {}
                if len(memo) >= 65_536:
                    memo.clear()
                memo[fp.id if variant is None else variant] = hit
        self._last_fp, self._last_keys = fp, hit
        return hit

    def read(self, fp: Fingerprint, now: int) -> LinkView:
        """Read what :meth:`decide` needs from the state."""
        ids, _, fam_keys, glob_keys, shared, _, _, class_id, _, walk = self._keys(fp)
        return self.state.read(ids, walk, fp.family, fam_keys, glob_keys, now,
                               lambda ex: ex is None or (ex["id"] != class_id and _ahead(ex, fp)), shared)

    def decide(self, fp: Fingerprint, view: LinkView, now: int, ip: int = 0) -> tuple[LinkResult, LinkPlan]:
        """The link of ``fp`` at ``now`` given ``view``: a pure function, no state is touched.

        Returns the result and the plan to :meth:`LinkState.write`.
        """
        ids, blocks, fam_keys, glob_keys, key, _, _, class_id, _, _ = self._keys(fp)
        ex = view.exact
        if ex is not None and (ex["id"] == class_id or not _ahead(ex, fp)):
            # (a class record holds twins on several versions: none of them is "ahead" of another; it stands for
            # two devices or more, whatever the counts say now)
            pop = self.popularity(fp, view, view.exact_ndev, True)
            if ex["id"] == class_id and pop < _CLASS_POPULARITY:
                pop = _CLASS_POPULARITY
            if pop >= COMMON_POPULARITY and ex["id"] != class_id:
                # a device tracked on its own whose fingerprint has become common: its twins cannot be told
                # apart, so it joins its class record (else it alternates between the two ids)
                sh = view.shared
                did = sh["id"] if sh is not None else class_id
                changed, _ = _changes(fp, sh) if sh is not None else ((), ())
                plan = LinkPlan(make_record(fp, did, now, sh, ip), (*ids, key), blocks, view.exact_ndev, False,
                                fp.family)
                _depends(view, 1.0, _CLASS_POPULARITY, True)
                return LinkResult(did, round(1.0 / max(pop, _CLASS_POPULARITY), 3), changed, False, "shared"), plan
            conf = round(min(1.0, 1.0 / pop), 3)
            did = ex["id"]
            if ex["fp"] == fp.id or did == class_id:  # seen again (a twin of the class: its record stays)
                plan = LinkPlan(ex, ids, blocks, view.exact_ndev, False, fp.family, touch=True, ip=ip)
                changed: tuple[str, ...] = ()
            else:  # back to an earlier state of its own (e.g. undocked again)
                changed, pos = _changes(fp, ex)
                fk, gk = self.stat_keys(fp, pos)
                plan = LinkPlan(make_record(fp, did, now, ex, ip), ids, blocks, view.exact_ndev, False, fp.family,
                                fk, gk)
            how = "exact" if conf >= MIN_LINK_CONFIDENCE else "shared"
            _depends(view, 1.0, _CLASS_POPULARITY if did == class_id else 1.0, did != class_id)
            return LinkResult(did, conf, changed, False, how), plan
        ndev = view.exact_ndev + 1 if ex is not None else 1  # another device already showed this fingerprint
        pop = self.popularity(fp, view, ndev, bool(view.cands))
        if pop >= COMMON_POPULARITY:
            # attributes cannot separate this fingerprint's devices: one shared record per class (hardware family,
            # browser, settings) across updates -- what exact matching does within one version -- at low confidence
            sh = view.shared
            did = sh["id"] if sh is not None else class_id
            changed, pos = _changes(fp, sh) if sh is not None else ((), ())
            fk, gk = self.stat_keys(fp, pos) if sh is not None else (fam_keys, glob_keys)  # memo = stat_keys(fp)
            plan = LinkPlan(make_record(fp, did, now, sh, ip), (*ids, key), blocks, ndev, sh is None, fp.family,
                            fk, gk)
            _depends(view, 1.0, _CLASS_POPULARITY, True)
            return LinkResult(did, round(1.0 / max(pop, _CLASS_POPULARITY), 3), changed, sh is None, "shared"), plan
        best = self.best_candidate(fp, view.cands, now, ip)
        if best is not None and best[0] >= self.link_probability:
            p1, rec = best
            conf = round(min(1.0, p1 / pop), 3)
            changed, pos = _changes(fp, rec)
            fk, gk = self.stat_keys(fp, pos)
            plan = LinkPlan(make_record(fp, rec["id"], now, rec, ip), ids, blocks, ndev, False, fp.family, fk, gk)
            _depends(view, p1, 1.0, True)
            return LinkResult(rec["id"], conf, changed, False, "model"), plan
        p1 = best[0] if best is not None else 0.0
        conf = round(min(1.0, (1.0 - p1) / pop), 3)
        did = new_device_id(fp, now)
        plan = LinkPlan(make_record(fp, did, now, None, ip), ids, blocks, ndev, True, fp.family, fam_keys, glob_keys)
        _depends(view, 1.0 - p1, 1.0, True)
        return LinkResult(did, conf, (), True, "new"), plan

    def best_candidate(self, fp: Fingerprint, recs: list[dict[str, Any]], now: int,
                       ip: int = 0) -> tuple[float, dict[str, Any]] | None:
        """The best-scored candidate of ``recs`` for ``fp`` at ``now``: ``(probability, record)``, or None.

        Steps 5 and 6 of the linking (hard rules, the :attr:`max_scored` closest -- only those sharing a
        resettable id when any does --, the link model, ties broken by last sighting then device id). The
        compiled kernel (``fraudscore._core.linking``) does the per-candidate work when available; it hands
        back to :meth:`best_candidate_reference` (the reference) on any input it does not handle.
        """
        select = self._select
        if select is not None:
            got = select(fp, recs, now, ip, self.max_scored)
            if got is not None:
                _, near, rows = got
                if not near:
                    return None
                # only the best is used (LinkModel.best_rows: rows provably below it may come back as -1.0)
                ps = self.model.best_rows(rows, len(near))
                i = self._pick(ps, near)
                if i >= 0:
                    return ps[i], near[i]
                p1, rec = sorted(zip(ps, near), key=lambda s: (-s[0], -s[1]["t"], s[1]["id"]))[0]
                return p1, rec
        return self.best_candidate_reference(fp, recs, now, ip)

    def best_candidate_reference(self, fp: Fingerprint, recs: list[dict[str, Any]], now: int,
                                 ip: int = 0) -> tuple[float, dict[str, Any]] | None:
        """:meth:`best_candidate` in pure Python: the reference the compiled kernel is tested against."""
        cands = compatible_records(fp, recs)
        n_c = len(cands)
        if not cands:
            return None
        ids_now = [(p, fp.components[p]) for p, _ in _ID_TAGS if fp.components[p]]
        same_id = [r for r in cands if any(r["c"][p] == v for p, v in ids_now)] if ids_now else []
        # a resettable id still matching points at the device (FP-STALKER's rules first): score only those
        near = sorted((n_differences(fp, r), -r["t"], r["id"], r) for r in (same_id or cands))[: self.max_scored]
        predict = self.model.predict
        scored = sorted(((predict(pair_features(fp, r, now, ip, n_c)), nd, r) for nd, _, _, r in near),
                        key=lambda s: (-s[0], -s[2]["t"], s[2]["id"]))
        return scored[0][0], scored[0][2]

    def link(self, fp: Fingerprint, ts_ms: int, ip: str | int | None = None) -> LinkResult:
        """Link one fingerprint observed at ``ts_ms`` (event time) and update the state.

        Parameters
        ----------
        fp : Fingerprint
            From :meth:`Fingerprinter.fingerprint`.
        ts_ms : int
            Event time in epoch milliseconds (events arrive in time order).
        ip : str or int, optional
            The event's IP /24 (any stable token, e.g. the keyed ``ip_prefix`` pseudonym),
            for the "same network as last time" feature.

        Returns
        -------
        LinkResult
        """
        entry = self._link_entry
        if entry is not None:
            # the whole of what follows in one compiled call over a MemoryLinkState (an exact int time, an IP
            # hash or a token hashed before); None: this Python path, nothing changed (parity-tested)
            res = entry(self, fp, ts_ms, ip)
            if res is not None:
                return res
        if type(fp) is not Fingerprint and not isinstance(fp, Fingerprint):
            raise ConfigError(f"DeviceLinker.link needs a Fingerprint. Got {type(fp).__name__} instead.")
        now = ts_ms if type(ts_ms) is int else int(ts_ms)
        if ip is None:
            iph = 0
        elif type(ip) is int:
            iph = ip
        else:
            iph = self._ip_memo.get(ip, 0)
            if not iph:
                iph = (xxhash.xxh3_64_intdigest(str(ip).encode()) & _MASK48) or 1
                if len(self._ip_memo) >= 65_536:
                    self._ip_memo.clear()
                self._ip_memo[ip] = iph
        st = self.state
        if type(st) is MemoryLinkState and self._link_fast is not None:
            # the compiled read -> decide -> write (fraudscore/_core/linkstate.c; the candidates are scored by
            # best_candidate); None: it hands over to the reference below, with the state untouched (parity-tested)
            got = self._link_fast(st, fp, self._keys(fp), now, iph, self.min_family_devices, self.mobile_prior,
                                  self.link_probability, st._walk, self.best_candidate, new_device_id)
            if got is not None:
                return self._result(got)
        elif type(st) is MemoryLinkState:
            # fast path of an unchanged device seen again: decide()'s exact branch, inlined (parity-tested)
            cur = st.current(fp.id, now)
            keys = self._keys(fp)
            if cur is not None and (cur[0]["fp"] == fp.id or cur[0]["id"] == keys[7]):
                rec, ndev = cur
                fam_n, counts = st.family(fp.family)
                pop = self._popularity(fp, keys[6], fam_n, counts, ndev, True)
                did = rec["id"]
                if did == keys[7] and pop < _CLASS_POPULARITY:
                    pop = _CLASS_POPULARITY
                if pop < COMMON_POPULARITY or did == keys[7]:
                    conf = round(min(1.0, 1.0 / pop), 3)
                    st.touch(rec, keys[0], keys[1], ndev, iph, now)
                    return self._result((did, conf, (), False, "exact" if conf >= MIN_LINK_CONFIDENCE else "shared"))
        view = self.read(fp, now)
        res, plan = self.decide(fp, view, now, iph)
        self.state.write(plan, now)
        return res


    def _result(self, fields: tuple[Any, ...]) -> LinkResult:
        """The (immutable, shared) :class:`LinkResult` of ``fields``, from a bounded memo (emptied when full)."""
        res = self._results.get(fields)
        if res is None:
            if len(self._results) >= 65_536:
                self._results.clear()
            res = self._results[fields] = LinkResult(*fields)
        return res

def _depends(view: LinkView, x: float, floor: float, split: bool) -> None:
    """Hook for an optimistic link state: tell a recording view (one with a ``deps`` list, e.g. the Redis
    state's) how this decision depends on the value counts: only through the popularity ``pop`` of
    :meth:`DeviceLinker.popularity` (recorded there), its confidence being ``round(min(1, x / max(pop,
    floor)), 3)`` and, when ``split``, its plan changing where ``pop`` reaches :data:`COMMON_POPULARITY`.
    Nothing is recorded on other views."""
    deps = getattr(view, "deps", None)
    if deps is not None:
        deps.append((x, floor, split))


def new_device_id(fp: Fingerprint, now: int) -> str:
    """The id of a new device first seen as ``fp`` at ``now``: ``d_<family>_<12 hex of xxh3(id|now)>``.

    Examples
    --------
    >>> from fraudscore.keys import Keys
    >>> from fraudscore.fingerprint.sections import Fingerprinter
    >>> fp = Fingerprinter(Keys(b"0123456789abcdef-demo-secret")).fingerprint({"os": "android", "model": "X1"})
    >>> new_device_id(fp, 1_000) == new_device_id(fp, 1_000) != new_device_id(fp, 1_001)
    True
    """
    suffix = xxhash.xxh3_64_intdigest(f"{fp.id}|{now}".encode()) & _MASK48
    return f"d_{fp.family}_{suffix:012x}"


def _changes(fp: Fingerprint, rec: dict[str, Any]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Names and positions of the volatile attributes (and the renderer) that differ from ``rec``."""
    pos = tuple(i for i, (a, b) in enumerate(zip(fp.components, rec["c"])) if a != b)
    names = tuple(VOLATILE_ATTRS[i] for i in pos)
    if fp.renderer != rec["r"]:
        names += ("webgl_renderer",)
        pos += (_RENDERER_SLOT,)
    return names, pos
