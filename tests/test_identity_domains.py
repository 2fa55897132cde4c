"""The e-mail describer's disposable domains as a C table (round 16, `velident`) == the frozenset, bit for bit.

Kernels made with extra domains (ASCII, upper-case, non-ASCII, with dots and odd characters) answer as the
Python describer of the same ``Identity``; a kernel given a frozenset subclass (table off: the frozenset is asked,
the pre-round-16 path) answers the same.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.identity import _KINDS, Identity
from fraudscore.keys import Keys
from tests.helpers import compiled_core
from tests.test_identity_kernel import CODE, same

core = compiled_core("identity", "the compiled identity module")

KEYS = Keys(b"0123456789abcdef-identity-domains")
EXTRA = ["corp-temp.cn", "A.B.example", "x.y.z.disposable.io", "\u00e9t\u00e9.fr", "q", "a-b_c.d!e", "..", "z.z."]
IDENT = Identity(KEYS, disposable_domains=EXTRA)
PERSONS = tuple(k.encode()[:16] for k in _KINDS)  # as Identity makes its kernel


class Frozen(frozenset):
    """A frozenset subclass: the kernel leaves its C table off and asks the set."""


OFF = core.Kernel(KEYS.pseudonym, PERSONS, Frozen(IDENT._disposable))

labels = st.sampled_from(["mailinator", "com", "corp-temp", "cn", "a", "b", "example", "x", "y", "z", "disposable",
                          "io", "q", "a-b_c", "d!e", "", "yopmail", "net", "gmail", "GMAIL", "Tempmail"])
domains = st.lists(labels, min_size=1, max_size=6).map(".".join)
emails = st.tuples(st.sampled_from(["user", "u.s.e.r+tag", " x ", "", "+", "a@b"]), domains,
                   st.sampled_from(["", ".", ".."])).map(lambda t: f"{t[0]}@{t[1]}{t[2]}")


@settings(deadline=None, max_examples=400)
@given(st.one_of(emails, domains, st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)))
def test_disposable_answers_equal_the_frozenset(value):
    got = IDENT._kernel.describe(CODE["email"], value)
    off = OFF.describe(CODE["email"], value)
    assert same(got, off), (value, got, off)
    if got is not None:
        want = IDENT._email(value)
        assert same(got, want), (value, got, want)


def test_known_domains_and_parents():
    for value, disposable in (("a@mailinator.com", 1.0), ("a@sub.mailinator.com", 1.0), ("a@x.y.z.disposable.io", 1.0),
                              ("a@w.x.y.z.disposable.io", 1.0), ("a@y.z.disposable.io", 0.0), ("a@q", 1.0),
                              ("a@Q", 1.0), ("a@a.b.example", 1.0), ("a@example", 0.0), ("a@gmail.com", 0.0)):
        got = IDENT._kernel.describe(CODE["email"], value)
        assert got is not None and same(got, IDENT._email(value)), value
        assert same(got, OFF.describe(CODE["email"], value)), value
        assert got[1][1] == disposable, (value, got)


def test_members_that_are_not_str_leave_the_table_off():
    k = core.Kernel(KEYS.pseudonym, PERSONS, frozenset({"mailinator.com", 3}))
    assert k.describe(CODE["email"], "a@mailinator.com")[1][1] == 1.0
    assert k.describe(CODE["email"], "a@other.com")[1][1] == 0.0
