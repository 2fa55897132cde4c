"""How :class:`~fraudscore.velocity.redis_store.RedisStore` splits one event into script calls.

One call on a single node; on a Redis Cluster one per hash slot the event touches (each key group's entity key
in its shard's slot, the link keys in the slot of the fingerprint's hardware family), plus, on a cluster, an
unchecked call carrying this worker's pending global count increments. :class:`SlotCalls` is the store's mixin
for it: the calls (``_calls``), their ``KEYS`` / ``ARGV`` (``_args``: :func:`~fraudscore.velocity.redis_calls.call_args`)
and the pending increments. It reads the store's configuration (prefix, shards, bound plan and group metadata,
link state) and keeps its entity-key cache.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Mapping
from typing import Any

from .._core import load as load_core
from .._redis import shard_of, tag
from .plan import Plan
from .redis_calls import _Call, _GroupMeta, app_hash, call_args, group_row
from .redis_wire import device_ctx, identifier_hash

#: the compiled groups of :meth:`SlotCalls._single_call` (``_core/redis_single.h``); None: the Python reference
_SINGLE: Any = getattr(load_core("redis_calls"), "single_groups", None)

__all__ = ["SlotCalls"]

_TS_ROW = struct.Struct("<d")
#: entity keys cached per store, over all its groups (a group's are cleared when it holds its share)
EKEYS_MAX = 65_536


def _key_tag(key: str, plen: int) -> str:
    """The hash tag of an entity key ``<prefix>v{..}:...`` whose prefix has ``plen`` characters (a prefix has no
    braces: :func:`~fraudscore._redis.check_prefix`).

    Examples
    --------
    >>> _key_tag("fs:v{ab12.3}:sig:00ff", 3)
    '{ab12.3}'
    """
    return key[plen + 1:key.index("}", plen + 1) + 1]


#: memory_layout's slot kinds (flag, val, valid, opt, dist, app) as the compiled ``single_groups`` numbers them, and
#: the ``group_row`` code of each (redis_calls._SLOT_CODE)
_KIND_NUMBERS = (0, 1, 2, 3, 4, 5)
_KIND_CODES = (0, 1, 0, 2, 3, 4)


def _slots(m: _GroupMeta) -> tuple[tuple[int, str | None], ...] | None:
    """A filter-free group's ``(kind, field)`` per slot, for the compiled ``single_groups`` to make its row from the
    record (see ``_core/redis_single.h``); None (it calls ``extract``) for a group with filters, or where the
    layout's slots are not numbered as it expects."""
    from . import memory_layout as ml

    lay = m.layout
    if (ml._FLAG, ml._VAL, ml._VALID, ml._OPT, ml._DIST, ml._APP) != _KIND_NUMBERS or lay._filters or not m.codes:
        return None
    ex = lay._ex
    if len(ex) != len(m.codes) or any(fi >= 0 or _KIND_CODES[k] != c for (k, _f, fi), c in zip(ex, m.codes)):
        return None
    return tuple((k, f) for k, f, _fi in ex)


class SlotCalls:
    """The event's script calls by hash slot (a mixin of :class:`~fraudscore.velocity.redis_store.RedisStore`)."""

    prefix: str
    shards: int
    idempotency_ttl_ms: int
    _cluster: bool
    _plan: Plan | None
    _meta: list[_GroupMeta]
    _labels: bytes
    _link_state: Any
    _ekeys: list[dict[str, str]]
    _ekeys_cap: int  # entity keys kept per group (EKEYS_MAX over all groups)
    _pending: dict[tuple[str, str], int]
    _wlock: threading.Lock

    # -- layout ------------------------------------------------------------------------------
    def _entity_key(self, m: _GroupMeta, ent: Any, record: Mapping[str, Any], ekeys: dict[str, str], p: str) -> str:
        """The key of a group's entity ``ent`` (its shard's hash tag inside: :func:`_key_tag`): a pure function of
        its value, remembered in the group's ``ekeys`` for str values (1 and 1.0 hash apart) where the key cannot
        depend on the event's link. Plain str -> str entries: nothing the cyclic garbage collector tracks (a tuple
        per entry made a collection of the youngest generation every ~15 events)."""
        eh = identifier_hash(ent, 12)
        shard = self._group_shard(m, ent, eh, record)
        key = f"{p}v{tag(p, shard)}:{m.group.signature}:{eh.hex()}"
        if type(ent) is str and (self._link_state is not None or not m.device_keyed):
            if len(ekeys) >= self._ekeys_cap:
                ekeys.clear()
            ekeys[ent] = key
        return key

    def _group_shard(self, m: _GroupMeta, ent: Any, ehash: bytes, record: Mapping[str, Any]) -> int:
        if m.device_keyed and self._link_state is not None:
            s = self._link_state.device_shard(record.get("device_id"))
            if s is not None:
                return int(s)
        return int.from_bytes(ehash[:4], "little") % self.shards

    def _calls(self, record: Mapping[str, Any], ts: int, app: str, txn: Any, extra: bytes, late: bool,
               nonce: bytes, pending: bool = False, acquire: bool = False) -> list[_Call]:
        """The event's script calls: one on a single node (:meth:`_single_call`), one per hash slot on a cluster."""
        if not self._cluster:
            return [self._single_call(record, ts, app, txn, extra, late, nonce, acquire)]
        p = self.prefix
        parts: list[tuple[str, str, int, bytes, _GroupMeta]] = []  # (hash tag, key, cfg idx, member, meta)
        plen = len(p)
        trow = _TS_ROW.pack(float(ts))  # the row of a group without slots: the event time alone
        if _SINGLE is not None and type(record) is dict:
            # the groups' keys and rows as on one node, in one compiled call (_core/redis_single.h), then routed
            ls = self._link_state
            keys, groups, _dev = _SINGLE(self._single_spec(), self._single_ctx(), self._ekeys, record, ts,
                                         0 if ls is None else ls.shards, self._ekeys_cap, self._entity_key)
            meta = self._meta
            for (cfgi, _k, _l, row), key in zip(groups, keys):
                parts.append((_key_tag(key, plen), key, cfgi, row, meta[cfgi - 1]))
        else:
            for gi, (m, ek) in enumerate(zip(self._meta, self._ekeys)):
                sk = m.layout.single_key
                ent = record.get(sk) if sk is not None else m.layout.entity(record)
                if ent is None:
                    continue
                key = ek.get(ent) if type(ent) is str else None
                if key is None:
                    key = self._entity_key(m, ent, record, ek, p)
                parts.append((_key_tag(key, plen), key, gi + 1,
                              group_row(m, m.layout.extract(record), ts) if m.codes else trow, m))
        link_tag = txn.tag if txn is not None else None
        from redis.cluster import key_slot

        by_slot: dict[int, _Call] = {}
        order: list[int] = []

        def call_for(t: str) -> _Call:
            s = key_slot(t.encode())
            c = by_slot.get(s)
            if c is None:
                c = by_slot[s] = _Call(t)
                order.append(s)
            return c
        if link_tag is not None:
            c = call_for(link_tag)
            c.link = True
        for gtag, key, cfgi, member, m in parts:
            c = call_for(gtag)
            c.groups.append((cfgi, 0, 0, member))
            c.keys.append(key)
            if m.device_keyed or m.device_valued:
                c.device_dependent = True
        aux = None
        if txn is not None:
            lc = call_for(link_tag)  # type: ignore[arg-type]
            gkey = self._link_state.global_key
            lc.sreads = list(txn.reads.items())
            lc.swrites = list(txn.writes.items())
            # the reads of one hash come together (the link state reads a hash's fields in one go): the script
            # reads each run of one hash with one HMGET
            lc.hreads = [(k, v) for k, v in txn.hreads.items() if k[0] != gkey]
            lc.hincr = [(k, v) for k, v in txn.hincr.items() if k[0] != gkey]
            lc.dep = txn.dep
            if pending:
                # the global counts live in another slot: this worker's committed increments not sent yet go in
                # an unchecked call of their own (no record, never late), whose reply refreshes the cached counts
                greads = [(k, v) for k, v in txn.hreads.items() if k[0] == gkey]
                gincr = self._take_pending()
                if greads or gincr:
                    aux = _Call(gkey[len(p) + 1:], aux=True, hreads=greads, hincr=gincr)
        calls = [by_slot[s] for s in order]
        ah = app_hash(app, 12).hex() if app else ""
        for c in calls:
            c.ctx = device_ctx(record) if (c.device_dependent and not c.link) else ""
            c.late, c.app, c.ts, c.nonce = late, ah, ts, nonce
            c.anchor = c.link or (txn is None and c is calls[0])
            c.extra = extra if c.anchor else b""
            c.txn = txn if c.link else None
            c.check = c.link
            c.lease = (2 if acquire else 1) if c.link else 0
        if aux is not None:
            aux.app, aux.ts, aux.nonce, aux.check = ah, ts, nonce, False
            calls.append(aux)
        return calls

    def _single_call(self, record: Mapping[str, Any], ts: int, app: str, txn: Any, extra: bytes, late: bool,
                     nonce: bytes, acquire: bool) -> _Call:
        """The event's one call on a single node (what :meth:`_calls` builds there, without the slot routing)."""
        p = self.prefix
        if _SINGLE is not None and type(record) is dict:
            # the groups' keys and rows in one compiled call (_core/redis_single.h; reference: _single_groups_py)
            ls = self._link_state
            keys, groups, dev = _SINGLE(self._single_spec(), self._single_ctx(), self._ekeys, record, ts,
                                        0 if ls is None else ls.shards, self._ekeys_cap, self._entity_key)
        else:
            keys, groups, dev = self._single_groups_py(record, ts)
        link_tag = txn.tag if txn is not None else None
        c = _Call(link_tag or (_key_tag(keys[0], len(p)) if keys else tag(p, shard_of(app, self.shards))), keys,
                  groups)
        c.device_dependent = dev
        link = c.link = link_tag is not None
        if txn is not None:
            c.sreads = list(txn.reads.items())
            c.swrites = list(txn.writes.items())
            c.hreads = list(txn.hreads.items())
            c.hincr = list(txn.hincr.items())
            c.dep = txn.dep
        c.anchor = link or txn is None  # (the link call, or the first and only call)
        c.extra = extra if c.anchor else b""
        c.txn = txn if link else None
        c.check = link
        c.lease = (2 if acquire else 1) if link else 0
        c.late, c.app, c.ts, c.nonce = late, app_hash(app, 12).hex() if app else "", ts, nonce
        return c

    def _single_groups_py(self, record: Mapping[str, Any], ts: int
                          ) -> tuple[list[str], list[tuple[int, int, int, bytes]], bool]:
        """The keys and rows of the groups of :meth:`_single_call`, and whether one depends on the device: the
        reference of the compiled ``fraudscore._core.redis_calls.single_groups``."""
        p = self.prefix
        trow = None  # the row of a group without slots: the event time alone
        groups: list[tuple[int, int, int, bytes]] = []
        keys: list[str] = []
        dev = False
        for gi, (m, ek) in enumerate(zip(self._meta, self._ekeys)):
            lay = m.layout
            sk = lay.single_key
            ent = record.get(sk) if sk is not None else lay.entity(record)
            if ent is None:
                continue
            key = ek.get(ent) if type(ent) is str else None
            if key is None:
                key = self._entity_key(m, ent, record, ek, p)
            if m.codes:
                row = group_row(m, lay.extract(record), ts)
            else:
                if trow is None:
                    trow = _TS_ROW.pack(float(ts))
                row = trow
            groups.append((gi + 1, 0, 0, row))
            keys.append(key)
            if m.device_keyed or m.device_valued:
                dev = True
        return keys, groups, dev

    def _single_spec(self) -> tuple[Any, ...]:
        """Per group, what the compiled ``single_groups`` reads (see ``_core/redis_single.h``), for the bound
        groups (made again when they change)."""
        meta = self._meta
        hit = self.__dict__.get("_single_memo")
        if hit is not None and hit[0] is meta:
            return hit[1]  # type: ignore[no-any-return]
        spec = tuple((gi + 1, m.layout.single_key, m.layout.entity, m.layout.extract if m.codes else None,
                      m.code_bytes, f":{m.group.signature}:", bool(m.device_keyed), bool(m.device_valued), m,
                      _slots(m)) for gi, m in enumerate(meta))
        self.__dict__["_single_memo"] = (meta, spec)
        return spec

    def _single_ctx(self) -> tuple[Any, ...]:
        """The store's part of the compiled ``single_groups``' arguments: the key's head, the shards, their tags
        (filled as they are used), and the reference functions it calls for what it does not make itself (True:
        the str hashes of ``identifier_hash`` are made in C)."""
        p = self.prefix
        hit = self.__dict__.get("_single_ctx_memo")
        if hit is not None and hit[0] == p and len(hit[1][2]) == self.shards:
            return hit[1]  # type: ignore[no-any-return]
        ctx = (f"{p}v", self.shards, [None] * self.shards, tag, p, True, identifier_hash, app_hash)
        self.__dict__["_single_ctx_memo"] = (p, ctx)
        return ctx

    def _take_pending(self) -> list[tuple[tuple[str, str], int]]:
        """Cluster: the global count increments of this worker's committed links, not yet sent."""
        with self._wlock:
            out = list(self._pending.items())
            self._pending.clear()
        return out

    def _restore_pending(self, incr: list[tuple[tuple[str, str], int]]) -> None:
        with self._wlock:
            for k, d in incr:
                self._pending[k] = self._pending.get(k, 0) + d

    def _args(self, c: _Call) -> tuple[list[Any], list[Any]]:
        """KEYS and ARGV of one call (:func:`~fraudscore.velocity.redis_calls.call_args`)."""
        assert self._plan is not None
        return call_args(c, prefix=self.prefix, cluster=self._cluster, shards=self.shards, meta=self._meta,
                         lateness_ms=self._plan.lateness, idempotency_ttl_ms=self.idempotency_ttl_ms,
                         link_ttl_ms=self._link_state.ttl_ms if self._link_state is not None else 0,
                         labels=self._labels)
