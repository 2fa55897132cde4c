"""The compiled store's 64-bit keys of text values (``_core/keys.h``) against a Python oracle and pinned values.

The keys are written into every compiled snapshot (``FSVSNAP2``), so they must never change. Round 13 replaced
the digit-table loop of ``fs_pseudonym_key`` with an 8-bytes-at-a-time (SWAR) parse; these tests hold the parse to
the rule the table implemented, found while doing so: a ``"p:"`` + 32-character text is folded (its 128 bits, as
two 64-bit halves, ``hi ^ fmix64(lo ^ golden)``) only when every character is one of ``0-9`` and ``Q-V`` (the
table's 10-15 row sits at ``'Q'``-``'V'``, not ``'a'``-``'f'``); anything else -- real lower-case pseudonyms
included -- is keyed by the seeded xxh3 of the text's code units.
"""

from __future__ import annotations

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import compiled_core

core = compiled_core("velocity_store", "The compiled velocity store")

ALPHA = "0123456789QRSTUV"
M64 = (1 << 64) - 1
SEED_STR = 0x66732D7374722D31  # "fs-str-1"


def _fmix64(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & M64
    return k ^ (k >> 33)


def oracle(s: str) -> int:
    """The key of a text value, as ``keys.h`` computes it."""
    if len(s) == 34 and s[:2] == "p:" and all(c in ALPHA for c in s[2:]):
        hi = int("".join("%x" % ALPHA.index(c) for c in s[2:18]), 16)
        lo = int("".join("%x" % ALPHA.index(c) for c in s[18:]), 16)
        return (hi ^ _fmix64(lo ^ 0x9E3779B97F4A7C15)) or 1
    top = max(map(ord, s), default=0)
    kind, data = ((1, s.encode("latin-1")) if top < 256 else
                  (2, s.encode("utf-16-le", "surrogatepass")) if top < 65536 else (4, s.encode("utf-32-le")))
    return xxhash.xxh3_64_intdigest(data, seed=SEED_STR + kind) or 1


PINNED = {  # value_key at c2d63b3 (before the SWAR parse)
    "p:0123456789abcdef0123456789abcdef": 12101935844330605588,
    "p:00000000000000000000000000000000": 11286133854226296554,
    "p:0123456789QRSTUV0123456789QRSTUV": 800616728473467602,
    "p:VVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVV": 14063026691324537279,
    "p:0123456789qrstuv0123456789qrstuv": 1773396963147350508,
    "d_abc": 7827300654541817898,
    "\u65e5\u672c": 13714814918769915893,
    "p:" + "0" * 31 + "\u00e9": 300973663850454652,
}


@pytest.mark.parametrize("value", sorted(PINNED))
def test_pinned_keys(value):
    assert core.value_key(value) == PINNED[value] == oracle(value)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=ALPHA, min_size=32, max_size=32), st.integers(0, 33),
       st.one_of(st.none(), st.characters(max_codepoint=0x1FFFF)))
def test_pseudonym_shaped_keys_equal_the_oracle(digits, pos, other):
    """Every byte value at every position of a pseudonym-shaped text: folded or hashed exactly as the oracle."""
    s = "p:" + digits
    if other is not None:
        s = s[:pos] + other + s[pos + 1:]
    assert core.value_key(s) == oracle(s)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789abcdefQRSTUVWpP:", min_size=30, max_size=36))
def test_near_pseudonym_texts_equal_the_oracle(body):
    for s in (body, "p:" + body):
        assert core.value_key(s) == oracle(s)


def test_every_byte_at_every_position():
    base = "p:0123456789QRSTUV" * 2
    base = base[:34]
    for pos in range(34):
        for c in range(256):
            s = base[:pos] + chr(c) + base[pos + 1:]
            assert core.value_key(s) == oracle(s), (pos, c)
