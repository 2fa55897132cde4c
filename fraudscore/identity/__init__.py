"""Identifier normalisation, keyed pseudonyms and identity features.

Every personal identifier of an event (the schema fields with an
``identifier`` kind) is normalised (:mod:`fraudscore.identity.normalize`) and
replaced by a **pseudonym**: ``"p:" + hex(BLAKE2b-128(normalised value,
key=Keys.pseudonym, person=kind))``. The key comes from the caller
(:class:`~fraudscore.keys.Keys`); without it a pseudonym cannot be linked back
to a value, not even by enumerating all 10^11 mainland mobile numbers. The raw
value is used inside :meth:`Identity.process` only: nothing raw is cached,
returned, logged or put in an exception message.

Pseudonyms depend on the identifier *kind*, not on the field name, so the same
person as ``applicant_id`` and as ``inviter_id`` gets the same pseudonym.

Identity features are floats (``NaN`` = field missing) named
``<field>__<feature>``; :data:`IDENTITY_FEATURES` lists them for the default
schema and :attr:`Identity.feature_names` for any schema.

Examples
--------
>>> from fraudscore.keys import Keys
>>> from fraudscore.schema import DEFAULT_SCHEMA
>>> ident = Identity(Keys(b"0123456789abcdef-demo-secret"), DEFAULT_SCHEMA)
>>> ev = DEFAULT_SCHEMA.validate({"application_id": "A1", "ts": "2026-11-29T10:00:00Z",
...     "applicant_id": "11010519491231002X", "phone": "13800138000", "ip": "1.2.3.4"})
>>> pseudo, feats = ident.process(ev)
>>> pseudo["phone"] == ident.pseudonym("phone", "+86 138-0013-8000"), pseudo["email"]
(True, None)
>>> pseudo["ip_prefix"] == ident.pseudonym("ip_prefix", "1.2.3.99")
True
>>> feats["applicant_id__valid"], feats["applicant_id__age"], feats["applicant_id__gender"]
(1.0, 76.0, 0.0)
>>> sorted(feats) == sorted(IDENTITY_FEATURES)
True
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import xxhash

from .._core import load as load_core
from ..errors import ConfigError
from ..keys import Keys
from ..schema import DEFAULT_SCHEMA, Schema
from .normalize import (
    DISPOSABLE_DOMAINS,
    _card_parts,
    _email_parts,
    _ip_parts,
    _national_id_parts,
    _phone_parts,
    normalize_card,
    normalize_email,
    normalize_generic,
    normalize_ip,
    normalize_national_id,
    normalize_phone,
)

__all__ = ["Identity", "IDENTITY_FEATURES", "identity_feature_names", "KIND_FEATURES"]

NAN = math.nan
_MS_PER_DAY = 86_400_000
_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()

#: Features computed per identifier kind (``<field>__<name>``).
KIND_FEATURES: dict[str, tuple[str, ...]] = {
    "national_id": ("valid", "checksum_ok", "age", "gender"),
    "phone": ("valid", "cn_mobile", "cn_virtual"),
    "email": ("valid", "disposable", "plus_tag"),
    "bank_card": ("valid", "luhn_ok", "bin6"),
    "ip": ("valid", "private", "ipv6"),
    "generic": (),
    "device_id": (),
}
_KINDS = tuple(KIND_FEATURES) + ("ip_prefix",)


def identity_feature_names(schema: Schema) -> tuple[str, ...]:
    """The identity feature names for ``schema``, in a fixed order.

    Examples
    --------
    >>> identity_feature_names(DEFAULT_SCHEMA)[:3]
    ('applicant_id__valid', 'applicant_id__checksum_ok', 'applicant_id__age')
    """
    return tuple(sys.intern(f"{name}__{feat}") for name, kind in schema.identifiers.items()
                 for feat in KIND_FEATURES[kind])


#: Identity feature names for :data:`~fraudscore.schema.DEFAULT_SCHEMA`.
IDENTITY_FEATURES: tuple[str, ...] = identity_feature_names(DEFAULT_SCHEMA)


def _f(flag: bool) -> float:
    return 1.0 if flag else 0.0


_DAYS: dict[int, tuple[int, int, int]] = {}  # epoch day -> (year, month, day); a few thousand at most


def _age_years(birth: tuple[int, int, int], ts_ms: int | None) -> float:
    if ts_ms is None:
        return NAN
    day = ts_ms // _MS_PER_DAY
    today = _DAYS.get(day)
    if today is None:
        date = _dt.date.fromordinal(day + _EPOCH_ORDINAL)
        today = (date.year, date.month, date.day)
        if len(_DAYS) >= 65_536:
            _DAYS.clear()
        _DAYS[day] = today
    y, m, d = birth
    age = today[0] - y - ((today[1], today[2]) < (m, d))
    return float(age)


class Identity:
    """Normalise, pseudonymise and describe the identifiers of events.

    Parameters
    ----------
    keys : Keys
        The caller's keys; only ``keys.pseudonym`` is used. Never stored.
    schema : Schema, default DEFAULT_SCHEMA
        Its ``identifiers`` (``{field: kind}``) say which fields to process.
    disposable_domains : iterable of str, optional
        Extra disposable e-mail domains, added to the built-in list.
    cache_size : int, default 65536
        Bound of the per-value result cache (0 disables it). The cache is keyed
        by a keyed hash of the raw value and holds only pseudonyms and features.

    Examples
    --------
    >>> from fraudscore.keys import Keys
    >>> ident = Identity(Keys("0123456789abcdef-demo-secret"))
    >>> p = ident.pseudonym("email", "A.B+x@gmail.com")
    >>> p.startswith("p:") and len(p), p == ident.pseudonym("email", "ab@googlemail.com")
    (34, True)
    """

    def __init__(
        self,
        keys: Keys,
        schema: Schema = DEFAULT_SCHEMA,
        *,
        disposable_domains: Iterable[str] = (),
        cache_size: int = 65_536,
    ) -> None:
        if not isinstance(keys, Keys):
            raise ConfigError(f"The 'keys' parameter of Identity must be a Keys object. Got {type(keys).__name__} instead.")
        if not isinstance(schema, Schema):
            raise ConfigError(
                f"The 'schema' parameter of Identity must be a Schema. Got {type(schema).__name__} instead."
            )
        self.schema = schema
        self.key_id = keys.key_id
        self._hashers = {
            kind: hashlib.blake2b(key=keys.pseudonym, digest_size=16, person=kind.encode()[:16]) for kind in _KINDS
        }
        # kind -> normalised value -> pseudonym: the compiled kernel (fraudscore/_core/pseudonym.c)
        # when available, else the hashlib reference (_py_hex); bit-identical (tests/test_identity_compiled.py)
        core = load_core("pseudonym")
        self._hex: dict[str, Callable[[str], str]] = {
            kind: core.Hasher(keys.pseudonym, kind.encode()[:16]) if core is not None else self._py_hex(kind)
            for kind in _KINDS
        }
        # identifier normalisation + pseudonym in one compiled call (fraudscore/_core/identity.c) for printable
        # ASCII values; None (values off its fast path, or no extension): the describers below, the reference
        kern = load_core("identity")
        self._kernel: Any = None
        self._fields = tuple(schema.identifiers.items())
        # interned names (as identity_feature_names): the compiled glue reads the features dict by identity
        self._plan = tuple((name, kind, tuple(sys.intern(f"{name}__{f}") for f in KIND_FEATURES[kind]))
                           for name, kind in self._fields)
        self._has_ip = any(kind == "ip" for _, kind in self._fields)
        self._seed = int.from_bytes(keys.pseudonym[:8], "little")
        self._cache_size = int(cache_size)
        self._cache: dict[bytes, tuple[Any, ...]] | None = {} if cache_size else None
        self.feature_names: tuple[str, ...] = identity_feature_names(schema)
        self._time_field = schema.time_field
        self._disposable = frozenset(DISPOSABLE_DOMAINS | {str(d).strip().lower() for d in disposable_domains})
        if kern is not None:
            self._kernel = kern.Kernel(keys.pseudonym, tuple(k.encode()[:16] for k in _KINDS), self._disposable)
        describers = {"national_id": self._nid, "phone": self._phone, "email": self._email,
                      "bank_card": self._card, "ip": self._ip, "device_id": self._device_id}
        # per field: name, kind, feature names, describer, cache-key seed (one per kind), features when missing,
        # kind code of the compiled kernel
        self._run: tuple[tuple[str, str, tuple[str, ...], Callable[[Any], Any], int, dict[str, float], int], ...] = \
            tuple((name, kind, fnames, describers.get(kind, self._generic),
                   (self._seed + 0x9E3779B97F4A7C15 * (1 + _KINDS.index(kind))) & 0xFFFF_FFFF_FFFF_FFFF,
                   dict.fromkeys(fnames, NAN), _KINDS.index(kind))
                  for name, kind, fnames in self._plan)

        # the compiled process(): per field its name, kind code, the reference describer (cached) and feature names
        self._kplan = tuple((name, code, self._cached(describe, kseed), fnames)
                            for name, kind, fnames, describe, kseed, _missing, code in self._run)

    def _cached(self, describe: Callable[[Any], Any], kseed: int) -> Callable[[Any], Any]:
        """``describe`` through the bounded per-value cache (the reference path of :meth:`process`)."""
        def run(raw: Any) -> Any:
            cache = self._cache
            if cache is None or not isinstance(raw, str):
                return describe(raw)
            key = xxhash.xxh3_128_digest(raw.encode("utf-8", "surrogatepass"), seed=kseed)
            hit = cache.get(key)
            if hit is None:
                hit = describe(raw)
                if len(cache) >= self._cache_size:
                    cache.clear()
                cache[key] = hit
            return hit

        return run

    def __repr__(self) -> str:
        return f"Identity(key_id={self.key_id!r}, fields={[f for f, _ in self._fields]})"

    # -- pseudonyms -----------------------------------------------------------
    def _py_hex(self, kind: str) -> Callable[[str], str]:
        """The reference pseudonym function of one kind (hashlib's keyed BLAKE2b)."""
        base = self._hashers[kind]

        def hex_(norm: str) -> str:
            h = base.copy()
            h.update(norm.encode("utf-8", "surrogatepass"))
            return "p:" + h.hexdigest()

        return hex_

    def _pseudo(self, kind: str, norm: str) -> str:
        return self._hex[kind](norm)

    # -- describers: raw value -> (pseudonym, features, extra), one per kind ----
    def _nid(self, raw: Any) -> tuple[str | None, tuple[float, ...], Any]:
        v, valid, checksum_ok, birth, male = _national_id_parts(raw)
        p = None if v is None else self._hex["national_id"](v)
        sex = NAN if male is None else 1.0 if male else 0.0
        return p, (1.0 if valid else 0.0, 1.0 if checksum_ok else 0.0, sex), birth

    def _phone(self, raw: Any) -> tuple[str | None, tuple[float, ...], Any]:
        v, valid, cn_mobile, cn_virtual = _phone_parts(raw)
        p = None if v is None else self._hex["phone"](v)
        return p, (1.0 if valid else 0.0, 1.0 if cn_mobile else 0.0, 1.0 if cn_virtual else 0.0), None

    def _email(self, raw: Any) -> tuple[str | None, tuple[float, ...], Any]:
        v, valid, disposable, plus_tag = _email_parts(raw, self._disposable)
        p = None if v is None else self._hex["email"](v)
        return p, (1.0 if valid else 0.0, 1.0 if disposable else 0.0, 1.0 if plus_tag else 0.0), None

    def _card(self, raw: Any) -> tuple[str | None, tuple[float, ...], Any]:
        v, valid, luhn, bin6 = _card_parts(raw)
        p = None if v is None else self._hex["bank_card"](v)
        return p, (1.0 if valid else 0.0, 1.0 if luhn else 0.0, NAN if bin6 is None else float(bin6)), None

    def _ip(self, raw: Any) -> tuple[str | None, tuple[float, ...], Any]:
        v, prefix, valid, private, ipv6 = _ip_parts(raw)
        if prefix is not None:
            prefix = self._hex["ip_prefix"](prefix)
        p = None if v is None else self._hex["ip"](v)
        return p, (1.0 if valid else 0.0, 1.0 if private else 0.0, 1.0 if ipv6 else 0.0), prefix

    def _generic(self, raw: Any) -> tuple[str | None, tuple[float, ...], Any]:
        norm = normalize_generic(raw)
        return (None if norm is None else self._pseudo("generic", norm)), (), None

    def _device_id(self, raw: Any) -> tuple[str | None, tuple[float, ...], Any]:
        norm = normalize_generic(raw)
        return (None if norm is None else self._pseudo("device_id", norm)), (), None

    def normalize(self, kind: str, raw: Any) -> str | None:
        """The normalised form of ``raw`` as an identifier of ``kind`` (``None`` when empty).

        Examples
        --------
        >>> from fraudscore.keys import Keys
        >>> Identity(Keys("0123456789abcdef-demo-secret")).normalize("ip_prefix", "10.1.2.3")
        '10.1.2.0/24'
        """
        if kind == "national_id":
            return normalize_national_id(raw).value
        if kind == "phone":
            return normalize_phone(raw).value
        if kind == "email":
            return normalize_email(raw, self._disposable).value
        if kind == "bank_card":
            return normalize_card(raw).value
        if kind == "ip":
            return normalize_ip(raw).value
        if kind == "ip_prefix":
            s = normalize_generic(raw)
            if s is not None and "/" in s:  # a CIDR: use its network address
                s = s.split("/", 1)[0]
            ip = normalize_ip(s)
            return ip.prefix if ip.valid else ip.value
        if kind in ("generic", "device_id"):
            return normalize_generic(raw)
        raise ConfigError(f"The 'kind' parameter of Identity.pseudonym must be one of {_KINDS}. Got {kind!r} instead.")

    def pseudonym(self, kind: str, raw_value: Any) -> str | None:
        """Normalise then pseudonymise one value (e.g. for rule lists like ``@blocked_ips``).

        Parameters
        ----------
        kind : str
            ``national_id``, ``phone``, ``email``, ``bank_card``, ``ip``, ``ip_prefix``
            (an address or CIDR; gives the pseudonym of its /24 or /48 network) or ``generic``.
        raw_value : str
            The raw identifier.

        Returns
        -------
        str or None
            ``"p:<32 hex>"``, or ``None`` when nothing is left after normalisation.
        """
        norm = self.normalize(kind, raw_value)
        return None if norm is None else self._pseudo(kind, norm)

    # -- whole columns ---------------------------------------------------------
    def process_columns(self, columns: Mapping[str, np.ndarray], ts: np.ndarray | None,
                        n: int | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Pseudonym columns and identity features of a batch, equal to :meth:`process` row by row.

        See :func:`fraudscore.identity.columns.process_columns` (``None``, ``""`` and
        float NaN are missing; features are columns of the returned matrix, in
        :attr:`feature_names` order).

        Examples
        --------
        >>> from fraudscore.keys import Keys
        >>> ident = Identity(Keys("0123456789abcdef-demo-secret"))
        >>> pseudo, feats = ident.process_columns({"phone": np.array(["13800138000"], dtype=object)},
        ...                                       np.array([1_795_946_400_000]))
        >>> pseudo["phone"][0] == ident.pseudonym("phone", "13800138000"), feats.shape
        (True, (1, 20))
        """
        from .columns import process_columns

        return process_columns(self, columns, ts, n)

    # -- one event -------------------------------------------------------------
    def process(self, event: Mapping[str, Any]) -> tuple[dict[str, str | None], dict[str, float]]:
        """Pseudonyms and identity features of one normalised event.

        Parameters
        ----------
        event : Mapping
            A normalised event (:meth:`Schema.validate`), raw identifiers inside.

        Returns
        -------
        pseudo : dict
            ``{field: pseudonym or None}`` for every identifier field, plus
            ``ip_prefix`` when the schema has an ``ip`` field.
        feats : dict
            ``{name: float}`` with exactly :attr:`feature_names` (``NaN`` = missing).

        Notes
        -----
        With the compiled kernel (``fraudscore/_core/identity.c``) the whole event is one
        call: printable-ASCII values are normalised and pseudonymised in C (cheaper than a
        cache lookup), every other value by the describers below. Results of the describers
        are cached per value in a bounded cache (emptied when full) keyed by a keyed 128-bit
        hash of the value, seeded per kind: the cache holds no raw value.
        """
        kernel = self._kernel
        if kernel is not None:  # the same steps in one compiled call; off its fast path it calls the reference
            ts = event.get(self._time_field)
            ts = int(ts) if isinstance(ts, (int, np.integer)) else None
            return kernel.process(event, self._kplan, ts, self._has_ip, _age_years)  # type: ignore[no-any-return]
        pseudo: dict[str, str | None] = {}
        feats: dict[str, float] = {}
        get = event.get
        ts = get(self._time_field)
        ip_prefix: str | None = None
        cache = self._cache
        size = self._cache_size
        for name, kind, fnames, describe, kseed, missing, _code in self._run:
            raw = get(name)
            if raw is None or raw == "":
                pseudo[name] = None
                feats.update(missing)
                continue
            if cache is not None and isinstance(raw, str):
                key = xxhash.xxh3_128_digest(raw.encode("utf-8", "surrogatepass"), seed=kseed)
                hit = cache.get(key)
                if hit is None:
                    hit = describe(raw)
                    if len(cache) >= size:
                        cache.clear()  # cheaper per event than LRU bookkeeping; most values are seen once
                    cache[key] = hit
            else:
                hit = describe(raw)
            p, fv, extra = hit
            pseudo[name] = p
            if kind == "national_id":
                valid, age = fv[0], NAN
                if extra is not None and isinstance(ts, (int, np.integer)):
                    age = _age_years(extra, int(ts))
                    if age < 0:
                        valid, age = 0.0, NAN
                feats[fnames[0]] = valid
                feats[fnames[1]] = fv[1]
                feats[fnames[2]] = age
                feats[fnames[3]] = fv[2]
                continue
            if kind == "ip" and ip_prefix is None:
                ip_prefix = extra
            feats.update(zip(fnames, fv))
        if self._has_ip:
            pseudo["ip_prefix"] = ip_prefix
        return pseudo, feats
