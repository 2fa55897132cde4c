"""Column-wise identity processing equals :meth:`Identity.process` row by row (bit for bit)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fraudscore.identity import Identity
from fraudscore.identity.normalize import id_checksum
from fraudscore.keys import Keys
from fraudscore.schema import DEFAULT_SCHEMA, Field, Schema

KEYS = Keys(b"test-secret-for-identity-cols-01")
IDENT = Identity(KEYS, cache_size=0)
TS = 1_795_946_400_000
FIELDS = list(DEFAULT_SCHEMA.identifiers)


def _nid(body: str) -> str:
    return body + id_checksum(body)


_digits = st.text("0123456789", min_size=0, max_size=20)
_nids = st.one_of(
    st.builds(lambda r, y, m, d, s: _nid(f"{r:02d}0105{y:04d}{m:02d}{d:02d}{s:03d}"),
              st.integers(0, 99), st.integers(1850, 2250), st.integers(0, 13), st.integers(0, 32),
              st.integers(0, 999)),
    st.builds(lambda s, c: s[:17] + c, st.text("0123456789", min_size=17, max_size=17), st.sampled_from("0123456789Xx")),
    st.text("0123456789", min_size=15, max_size=15),
)
_phones = st.one_of(
    st.builds(lambda s: "1" + s, st.text("0123456789", min_size=10, max_size=10)),
    st.builds(lambda s: "+861" + s, st.text("0123456789", min_size=10, max_size=10)),
    st.builds(lambda s: "+86" + s, st.text("0123456789", min_size=11, max_size=11)),
    st.builds(lambda s: "0086 1" + s, st.text("0123456789", min_size=10, max_size=10)),
)
_cards = st.one_of(_digits, st.builds(lambda s: s[:4] + "-" + s[4:], st.text("0123456789", min_size=8, max_size=19)))
_odd = st.one_of(
    st.none(), st.just(""), st.just("   "), st.text(max_size=24),
    st.text("0123456789 +-xX١٢３", max_size=20),  # unicode digits, full-width, separators
    st.sampled_from(["a@b.com", "A.B+x@GoogleMail.com", "x@mailinator.com", "1.2.3.4", "10.0.0.300", "::1",
                     "2001:DB8::1", "ＡＢＣ", "1\u0661800138000", "+86\uff11\uff13800138000"]),
)
_value = st.one_of(_nids, _phones, _cards, _odd)
_rows = st.lists(st.tuples(*[_value for _ in FIELDS], st.integers(-10**11, 4 * 10**12)), min_size=0, max_size=30)


def _check(ident: Identity, fields: list[str], rows: list[tuple]) -> None:
    n = len(rows)
    cols = {}
    for k, f in enumerate(fields):
        col = np.empty(n, dtype=object)
        col[:] = [r[k] for r in rows]
        cols[f] = col
    ts = np.array([r[-1] for r in rows], dtype=np.int64)
    pseudo, feats = ident.process_columns(cols, ts)
    assert feats.shape == (n, len(ident.feature_names))
    for i, r in enumerate(rows):
        ev = {f: r[k] for k, f in enumerate(fields)}
        ev["ts"] = int(ts[i])
        p, fe = ident.process(ev)
        assert {k: v[i] for k, v in pseudo.items()} == p
        exp = np.array([fe[name] for name in ident.feature_names])
        np.testing.assert_array_equal(feats[i], exp)


@given(_rows)
def test_columns_equal_scalar_path(rows):
    _check(IDENT, FIELDS, rows)


@given(st.lists(st.tuples(_nids, _phones, _cards, st.integers(0, 4 * 10**12)), max_size=40))
def test_fast_forms_equal_scalar_path(rows):
    _check(IDENT, ["applicant_id", "phone", "bank_card"], rows)


def test_repeated_values_and_missing():
    rows = [("11010519491231002X", "13800138000", None, None, "1.2.3.4", "11010519491231002X", TS),
            ("11010519491231002X", "13800138000", "", "4111111111111111", None, None, TS + 86_400_000 * 400),
            (None, "", "a@b.com", "4111 1111 1111 1111", "1.2.3.5", "20010519491231002X", 0)]
    _check(IDENT, FIELDS, rows)


def test_two_ip_fields_and_generic():
    schema = Schema([*DEFAULT_SCHEMA.fields, Field("ip2", "str", identifier="ip"),
                     Field("ref", "str", identifier="generic")])
    ident = Identity(KEYS, schema)
    fields = list(schema.identifiers)
    rows = [tuple(v for v in (["x"] * len(fields))) + (TS,),
            tuple([None] * (len(fields) - 2) + ["10.0.0.1", " ＡＢ "]) + (TS,)]
    rows[0] = rows[0][:-3] + ("999.1.1.1", "8.8.8.8", "r") + (TS,)
    _check(ident, fields, rows)


def test_no_time_gives_nan_ages():
    col = np.array(["11010519491231002X"], dtype=object)
    _, feats = IDENT.process_columns({"applicant_id": col}, None, 1)
    assert np.isnan(feats[0, list(IDENT.feature_names).index("applicant_id__age")])
