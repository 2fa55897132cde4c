"""Column-wise identity processing for the batch path: bit-identical to :meth:`Identity.process` row by row.

:func:`process_columns` factorises each identifier column, describes every distinct
value once and spreads the results back over the rows. Common, unambiguous forms
are described with numpy over digit arrays (18-character national ids: checksum,
birth date, region, sex; mainland mobile numbers; plain card numbers: Luhn, BIN);
every other value goes through the scalar describer of :class:`Identity`, so the
fast path never has to be right about an unusual value. Pseudonyms are one keyed
BLAKE2b per distinct normalised value. Ages are computed per row from the row's
day, exactly as :meth:`Identity.process` does.

Examples
--------
>>> import numpy as np
>>> from fraudscore.identity import Identity
>>> from fraudscore.keys import Keys
>>> ident = Identity(Keys(b"0123456789abcdef-demo-secret"))
>>> cols = {"applicant_id": np.array(["11010519491231002X", None], dtype=object),
...         "phone": np.array(["13800138000", "+44 20 7946 0958"], dtype=object)}
>>> ts = np.array([1_795_946_400_000, 1_795_946_400_000])
>>> pseudo, feats = process_columns(ident, cols, ts)
>>> pseudo["phone"][0] == ident.process({"phone": "13800138000", "ts": int(ts[0])})[0]["phone"]
True
>>> feats[:, list(ident.feature_names).index("applicant_id__age")]
array([76., nan])
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .._core import load as load_core
from .normalize import _ID_CHECK, _ID_WEIGHTS, CN_PROVINCE_CODES

if TYPE_CHECKING:  # pragma: no cover
    from . import Identity

__all__ = ["process_columns"]

_MS_PER_DAY = 86_400_000
_EPOCH_ORDINAL = 719_163
_W = np.array(_ID_WEIGHTS, dtype=np.int64)
_CHECK_CODES = np.array([ord(c) for c in _ID_CHECK], dtype=np.uint32)
_REGION = np.zeros(100, dtype=bool)
_REGION[list(CN_PROVINCE_CODES)] = True
# mainland mobile segments (second and third digit), as in normalize._CN_MOBILE_RE
_MOBILE = np.zeros(100, dtype=bool)
for _seg in [30 + i for i in range(10)] + [45, 46, 47, 48, 49] + [50, 51, 52, 53, 55, 56, 57, 58, 59] + [
        62, 65, 66, 67] + [70 + i for i in range(9)] + [80 + i for i in range(10)] + [90, 91, 92, 93, 95, 96, 97,
                                                                                          98, 99]:
    _MOBILE[_seg] = True
_VIRTUAL = np.zeros(100, dtype=bool)
_VIRTUAL[[70, 71, 62, 65, 67]] = True
_MDAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _digits(vals: list[str], idx: np.ndarray, width: int) -> np.ndarray:
    """Code points of ``vals[idx]`` (all of length ``width``) as an ``(len(idx), width)`` uint32 array."""
    if not idx.size:
        return np.zeros((0, width), dtype=np.uint32)
    return np.array([vals[i] for i in idx.tolist()], dtype=f"<U{width}").view(np.uint32).reshape(-1, width)


def _is_digit(cp: np.ndarray) -> np.ndarray:
    return (cp >= 48) & (cp <= 57)


class _Hasher:
    """Pseudonyms of one kind, one keyed BLAKE2b per distinct normalised value."""

    def __init__(self, ident: Identity, kind: str) -> None:
        self._h = ident._hex[kind]
        self._memo: dict[str, str] = {}

    def __call__(self, norm: str | None) -> str | None:
        if norm is None:
            return None
        p = self._memo.get(norm)
        if p is None:
            p = self._memo[norm] = self._h(norm)
        return p

    def fill(self, pseudo: list[Any], idx: list[int], vals: list[str], prefix: str = "") -> None:
        """``pseudo[i] = pseudonym(prefix + vals[i])`` for ``i`` in ``idx`` (one C call when compiled)."""
        many = getattr(self._h, "many", None)
        if many is not None:
            for i, p in zip(idx, many([vals[i] for i in idx], prefix)):
                pseudo[i] = p
            return
        for i in idx:
            pseudo[i] = self(prefix + vals[i])


def _nid_fast(ident: Identity, vals: list[str], feats: np.ndarray, pseudo: list[Any], birth: np.ndarray) -> np.ndarray:
    """18-character ASCII ids: fills ``feats`` (valid, checksum_ok, sex), ``pseudo`` and ``birth``; returns done mask."""
    m = len(vals)
    done = np.zeros(m, dtype=bool)
    lens = np.fromiter(map(len, vals), dtype=np.int64, count=m)
    idx = np.flatnonzero(lens == 18)
    cp = _digits(vals, idx, 18)
    ok = _is_digit(cp[:, :17]).all(axis=1) & (_is_digit(cp[:, 17]) | (cp[:, 17] == 88))
    idx, cp = idx[ok], cp[ok]
    d = cp.astype(np.int64) - 48
    ck = _CHECK_CODES[(d[:, :17] @ _W) % 11] == cp[:, 17]
    y = d[:, 6] * 1000 + d[:, 7] * 100 + d[:, 8] * 10 + d[:, 9]
    mo = d[:, 10] * 10 + d[:, 11]
    dd = d[:, 12] * 10 + d[:, 13]
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    mo_ok = (mo >= 1) & (mo <= 12)
    mdays = _MDAYS[np.where(mo_ok, mo, 0)] + ((mo == 2) & leap)
    born = (y >= 1900) & (y <= 2199) & mo_ok & (dd >= 1) & (dd <= mdays)
    region = _REGION[d[:, 0] * 10 + d[:, 1]]
    feats[idx, 0] = (ck & born & region).astype(np.float64)
    feats[idx, 1] = ck.astype(np.float64)
    feats[idx, 2] = (d[:, 16] % 2 == 1).astype(np.float64)
    birth[idx] = np.where(born[:, None], np.stack([y, mo, dd], axis=1), -1)
    _Hasher(ident, "national_id").fill(pseudo, idx.tolist(), vals)
    done[idx] = True
    return done


def _phone_fast(ident: Identity, vals: list[str], feats: np.ndarray, pseudo: list[Any]) -> np.ndarray:
    """``1xxxxxxxxxx`` and ``+861xxxxxxxxxx`` (ASCII digits): a mainland mobile number or an invalid one."""
    m = len(vals)
    done = np.zeros(m, dtype=bool)
    lens = np.fromiter(map(len, vals), dtype=np.int64, count=m)
    hasher = _Hasher(ident, "phone")
    for width, off in ((11, 0), (14, 3)):
        idx = np.flatnonzero(lens == width)
        cp = _digits(vals, idx, width)
        ok = _is_digit(cp[:, off:]).all(axis=1) & (cp[:, off] == 49)
        if off:
            ok &= (cp[:, 0] == 43) & (cp[:, 1] == 56) & (cp[:, 2] == 54)  # "+86"
        idx, cp = idx[ok], cp[ok].astype(np.int64) - 48
        seg = cp[:, off + 1] * 10 + cp[:, off + 2]
        mobile = _MOBILE[seg]
        feats[idx, 0] = mobile  # a +861 number that is no mobile number is invalid
        feats[idx, 1] = mobile
        feats[idx, 2] = mobile & _VIRTUAL[seg]
        hasher.fill(pseudo, idx.tolist(), vals, "+86" if width == 11 else "")
        done[idx] = True
    return done


def _card_fast(ident: Identity, vals: list[str], feats: np.ndarray, pseudo: list[Any]) -> np.ndarray:
    """ASCII digit strings of 12 to 19 digits: Luhn over digit arrays, BIN from the first six."""
    m = len(vals)
    done = np.zeros(m, dtype=bool)
    lens = np.fromiter(map(len, vals), dtype=np.int64, count=m)
    hasher = _Hasher(ident, "bank_card")
    luhn2 = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int64)
    for width in range(12, 20):
        idx = np.flatnonzero(lens == width)
        cp = _digits(vals, idx, width)
        ok = _is_digit(cp).all(axis=1)
        idx, d = idx[ok], cp[ok].astype(np.int64) - 48
        r = d[:, ::-1]
        total = r[:, 0::2].sum(axis=1) + luhn2[r[:, 1::2]].sum(axis=1)
        feats[idx, 0] = 1.0
        feats[idx, 1] = (total % 10 == 0)
        feats[idx, 2] = d[:, :6] @ np.array([100_000, 10_000, 1_000, 100, 10, 1], dtype=np.int64)
        hasher.fill(pseudo, idx.tolist(), vals)
        done[idx] = True
    return done


def _factorize(col: np.ndarray | None, n: int) -> tuple[np.ndarray, list[Any]]:
    """Codes (-1 = missing: ``None``, ``""`` or a float NaN) and the distinct values; non-``str`` never shared."""
    codes = np.full(n, -1, dtype=np.int64)
    if col is None:
        return codes, []
    cols = load_core("columns")
    got = cols.factorize(col.tolist(), True, 1) if cols is not None and n else None
    if got is not None:  # the same loop over exact str values with an open-addressing table (_core/columns.c)
        return np.frombuffer(got[0], dtype=np.int64), got[1]
    core = load_core("identity")
    if core is not None and n:  # the same loop, compiled (fraudscore/_core/identity.c)
        raw, uniq_c = core.factorize(col.tolist())
        return np.frombuffer(raw, dtype=np.int64), uniq_c
    index: dict[str, int] = {}
    uniq: list[Any] = []
    out: list[int] = []
    for v in col.tolist():
        if isinstance(v, str):
            if not v:
                out.append(-1)
                continue
            c = index.get(v)
            if c is None:
                c = index[v] = len(uniq)
                uniq.append(v)
        elif v is None or (isinstance(v, float) and math.isnan(v)):
            c = -1
        else:
            c = len(uniq)
            uniq.append(v)
        out.append(c)
    return np.array(out, dtype=np.int64) if n else codes, uniq


def _today(days: np.ndarray) -> np.ndarray:
    """``(year, month, day)`` of each epoch day, through the same calendar as :meth:`Identity.process`."""
    u, inv = np.unique(days, return_inverse=True)
    ymd = []
    for day in u.tolist():
        date = _dt.date.fromordinal(day + _EPOCH_ORDINAL)
        ymd.append((date.year, date.month, date.day))
    return np.array(ymd, dtype=np.int64).reshape(-1, 3)[inv.reshape(-1)]


def process_columns(ident: Identity, columns: Mapping[str, np.ndarray], ts: np.ndarray | None,
                    n: int | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Pseudonym columns and the identity feature matrix of a whole batch.

    Parameters
    ----------
    ident : Identity
        The identity processor (keys, schema, disposable domains).
    columns : mapping of str to ndarray
        Identifier columns (object arrays of ``str`` / ``None``); absent fields are all missing.
    ts : ndarray of int64 or None
        Event times (epoch ms), for national-id ages; ``None`` gives ``NaN`` ages.
    n : int, optional
        The number of rows (default ``len(ts)``).

    Returns
    -------
    pseudo : dict of str to ndarray
        Object arrays ``{field: pseudonym or None}``, plus ``ip_prefix`` when the schema has an ``ip`` field.
    feats : ndarray of float64, shape (n, len(ident.feature_names))
        Equal, row by row, to the ``feats`` of :meth:`Identity.process` (``None``, ``""`` and float
        NaN count as missing).
    """
    if n is None:
        n = 0 if ts is None else len(ts)
    names = ident.feature_names
    pos = {fn: i for i, fn in enumerate(names)}
    feats = np.full((n, len(names)), np.nan)
    out: dict[str, np.ndarray] = {}
    prefix = np.full(n, None, dtype=object)
    need_prefix = np.ones(n, dtype=bool)
    today = None
    if ts is not None and n:
        today = _today(np.asarray(ts, dtype=np.int64) // _MS_PER_DAY)
    kernel = ident._kernel
    for name, kind, fnames, describe, _, _, code in ident._run:
        codes, vals = _factorize(columns.get(name), n)
        m = len(vals)
        k = len(fnames)
        u_feat = np.zeros((m + 1, max(k, 3)), dtype=np.float64)
        u_pseudo: list[Any] = [None] * (m + 1)
        u_extra: list[Any] = [None] * (m + 1)
        birth = np.full((m + 1, 3), -1, dtype=np.int64)
        if kernel is not None:  # the compiled describer over the distinct values, into the arrays at once
            done_u8 = np.zeros(m, dtype=np.uint8)  # (fraudscore/_core/identity.c describe_columns)
            ps, ex = kernel.describe_columns(code, vals, u_feat[:m], birth[:m], done_u8)
            u_pseudo[:m] = ps
            u_extra[:m] = ex
            done = done_u8.view(bool)
        else:
            done = _python_fast(ident, kind, vals, u_feat, u_pseudo, birth)
        for i in np.flatnonzero(~done).tolist():  # everything else: the scalar describer
            p, fv, extra = describe(vals[i])
            u_pseudo[i] = p
            u_feat[i, : len(fv)] = fv
            u_extra[i] = extra
            if kind == "national_id" and extra is not None:
                birth[i] = extra
        rows = np.where(codes < 0, m, codes)
        miss = codes < 0
        out[name] = _objects(u_pseudo).take(rows)  # take: no fancy-index iterator (round 17)
        if kind == "national_id":
            f = u_feat.take(rows, axis=0)
            valid, age = f[:, 0].copy(), np.full(n, np.nan)
            b = birth.take(rows, axis=0)
            has = (b[:, 0] >= 0) & ~miss
            if today is not None and has.any():
                t = today[has]
                bb = b[has]
                later = (t[:, 1] < bb[:, 1]) | ((t[:, 1] == bb[:, 1]) & (t[:, 2] < bb[:, 2]))
                a = (t[:, 0] - bb[:, 0] - later).astype(np.float64)
                neg = a < 0
                a[neg] = np.nan
                v = valid[has]
                v[neg] = 0.0
                valid[has] = v
                age[has] = a
            cols = (valid, f[:, 1], age, f[:, 2])
            for fn, c in zip(fnames, cols):
                feats[:, pos[fn]] = np.where(miss, np.nan, c)
            continue
        if k:  # the missing rows' slot (m) holds NaN: one gather of the k columns, no mask per feature
            u_feat[m, :k] = np.nan
            cols_at = [pos[fn] for fn in fnames]
            at = cols_at[0]
            gathered = u_feat[:, :k].take(rows, axis=0) if k > 1 else u_feat[:, 0].take(rows)
            if cols_at == list(range(at, at + k)):
                feats[:, at : at + k] = gathered.reshape(n, k)
            else:
                feats[:, cols_at] = gathered.reshape(n, k)
        if kind == "ip":
            p = _objects(u_extra).take(rows)
            fill = need_prefix & (p != None)  # noqa: E711 - elementwise
            prefix[fill] = p[fill]
            need_prefix &= ~fill
    if ident._has_ip:
        out["ip_prefix"] = prefix
    return out, feats


def _python_fast(ident: Identity, kind: str, vals: list[Any], u_feat: np.ndarray, u_pseudo: list[Any],
                 birth: np.ndarray) -> np.ndarray:
    """Without the compiled kernel: the numpy fast paths of the common forms; ``done`` per distinct value."""
    strs = [v if isinstance(v, str) else "" for v in vals]
    if kind == "national_id":
        return _nid_fast(ident, strs, u_feat, u_pseudo, birth)
    if kind == "phone":
        return _phone_fast(ident, strs, u_feat, u_pseudo)
    if kind == "bank_card":
        return _card_fast(ident, strs, u_feat, u_pseudo)
    return np.zeros(len(vals), dtype=bool)


def _objects(values: list[Any]) -> np.ndarray:
    """A 1-d object array of ``values`` (``np.fromiter``: no shape discovery per element)."""
    return np.fromiter(values, dtype=object, count=len(values))
