"""Round 17 (#13, ``fprules``): the compiled attribute loop reads an exact ``int`` value's canonical form from its
attribute's own memo (``canonical._INT_VALUES``, keyed by the int: no ``(name, int, v)`` tuple per value). The values,
extras and fingerprint stay those of the pure-Python reference, bit for bit, with the memos cold or warm; a bool (equal
to 0 / 1, and hashing like them) never reads an int's entry."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore.fingerprint import Fingerprinter, canonical

from .test_build_compiled import KEYS, devices, reference, reference_fingerprinter, same
from tests.helpers import compiled_core

core = compiled_core("fingerprint", "the compiled fingerprint module")

ints = st.one_of(st.integers(-3, 40), st.integers(-(2**70), 2**70), st.booleans(), st.sampled_from([0, 1, True, False]))
int_devices = st.fixed_dictionaries({}, optional={
    name: ints for name in ("color_depth", "hardware_concurrency", "device_memory", "touch_support", "emulator",
                            "rooted", "webdriver", "screen", "os_version", "timezone", "fonts_hash", "imei")})


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(int_devices, devices), min_size=1, max_size=4), st.booleans())
def test_int_values_equal_the_reference_cold_and_warm(monkeypatch, ds, cold):
    if cold:
        canonical._BUDGET.clear()
    fast = Fingerprinter(KEYS, cache_size=0)
    slow = reference_fingerprinter(monkeypatch)
    for _twice in range(2):  # the second pass reads the memos the first one filled
        for d in ds:
            want = reference(slow, d)
            got = fast._build1(d) if d else None
            if got is not None:
                same(got, want)
            vals, unknown = core.canon_values(d, *canonical.compiled_args())
            real = canonical._CORE
            try:
                canonical._CORE = None
                extra: dict[str, str] = {}
                assert vals == canonical._attribute_values(d, extra)
            finally:
                canonical._CORE = real


def test_bool_and_int_keep_apart():
    """``True == 1`` and they hash alike: the int memo holds exact ints only, so a bool never reads an int's entry."""
    canonical._BUDGET.clear()
    args = canonical.compiled_args()
    for v in (1, True, 0, False, 1, True):
        vals, _ = core.canon_values({"emulator": v, "color_depth": v}, *args)
        want = [canonical._norm(canonical.ATTRIBUTES[n], v) for n in ("emulator", "color_depth")]
        got = [vals[canonical.ATTRIBUTE_INDEX[n]] for n in ("emulator", "color_depth")]
        assert got == want and all(type(a) is type(b) for a, b in zip(got, want))
    assert all(type(k) is int for memo in canonical._INT_VALUES for k in memo)


def test_the_int_memos_are_in_the_byte_budget():
    canonical._BUDGET.clear()
    core.canon_values({"color_depth": 24}, *canonical.compiled_args())
    assert any(canonical._INT_VALUES)
    canonical._BUDGET.clear()
    assert not any(canonical._INT_VALUES)
