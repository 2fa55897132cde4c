"""Round 17 (`batchkern`): the batch describer fills the describers' sink (no result tuples) and gathers with take.

``Kernel.describe_columns`` == ``Kernel.describe`` per value (also after an error), the kernel's sink is left
unset afterwards, and :func:`process_columns` (compiled) == :meth:`Identity.process` row by row with many
repeated values and missing rows, so the ``take`` gathers are checked against the reference.
"""

from __future__ import annotations

import hashlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.identity import Identity
from fraudscore.identity.columns import process_columns
from fraudscore.keys import Keys
from tests.helpers import compiled_core

core = compiled_core("identity", "the compiled identity module")

KEYS = Keys(b"0123456789abcdef-batch-sink-test")
IDENT = Identity(KEYS)
KINDS = ("national_id", "phone", "email", "bank_card", "ip", "generic", "device_id")
_values = st.one_of(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=24),
                    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
                    st.from_regex(r"[1-6][0-9]{16}[0-9X]", fullmatch=True),
                    st.from_regex(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", fullmatch=True),
                    st.none(), st.just(""))


@settings(deadline=None, max_examples=60)
@given(st.sampled_from(range(len(KINDS))), st.lists(_values, max_size=16))
def test_describe_columns_then_describe(code, values):
    """The sink is a per-call local: describe() after describe_columns still builds its tuples, equal per value."""
    m = len(values)
    feats = np.zeros((m, 5))
    ps, _ = IDENT._kernel.describe_columns(code, values, feats, np.full((m, 3), -1, dtype=np.int64),
                                          np.zeros(m, dtype=np.uint8))
    for v, p in zip(values, ps):
        want = IDENT._kernel.describe(code, v) if isinstance(v, str) and v else None
        assert want is None or isinstance(want, tuple)
        assert p == (None if want is None else want[0])
    assert not feats[:, 4].any()  # never past the describer's features


def test_pseudonym_text_is_lower_hex_of_the_digest():
    """The two-digits-a-byte table gives hashlib's hexdigest (every byte value occurs over these digests)."""
    seen = set()
    for i in range(400):
        v = f"v{i}"
        want = "p:" + hashlib.blake2b(v.encode(), key=KEYS.pseudonym, digest_size=16,
                                      person=b"generic").hexdigest()
        got = IDENT._kernel.describe(len(KINDS) - 2, v)[0]
        assert got == want
        seen.update(bytes.fromhex(got[2:]))
    assert len(seen) == 256


@settings(deadline=None, max_examples=40)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 4 * 10**12)), max_size=30))
def test_columns_with_repeats_equal_process(rows):
    """Few distinct values on many rows (the gathers spread each one), missing values among them."""
    nids = [None, "", "11010519491231002X", "110105194912310021", "44030619900101123X", "abc"]
    ips = [None, "", "1.2.3.4", "10.0.0.1", "::1", "999.1.1.1"]
    cols = {"applicant_id": np.array([nids[a] for a, _, _ in rows], dtype=object),
            "ip": np.array([ips[b] for _, b, _ in rows], dtype=object)}
    ts = np.array([t for _, _, t in rows], dtype=np.int64)
    pseudo, feats = process_columns(IDENT, cols, ts, len(rows))
    for i, (a, b, t) in enumerate(rows):
        p, f = IDENT.process({"applicant_id": nids[a], "ip": ips[b], "ts": t})
        assert pseudo["applicant_id"][i] == p["applicant_id"] and pseudo["ip"][i] == p["ip"]
        got = feats[i].tolist()
        want = [f[name] for name in IDENT.feature_names]
        assert np.array_equal(np.array(got), np.array(want, dtype=float), equal_nan=True)
