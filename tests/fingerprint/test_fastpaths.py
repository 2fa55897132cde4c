"""The fast paths (caches, per-kind handlers, memoised hashes) equal the original slow paths."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.fingerprint import canonical
from fraudscore.fingerprint.canonical import ATTRIBUTES, canonicalize
from fraudscore.fingerprint.sections import _SEP, _VOL_IDX, SCHEMES, VOLATILE_ATTRS, Fingerprinter
from fraudscore.fingerprint.signals import _static, device_signals
from fraudscore.keys import Keys
from fraudscore.synth import generate

from . import canonical_reference as ref

KEYS = Keys(b"fastpath-test-secret-0123456789")
KNOWN = sorted(ATTRIBUTES)
_text = st.one_of(st.text(max_size=20), st.text(alphabet=" \t\n\x00\x7fAbZ,;=._-x×*0123456789Ａ", max_size=20),
                  st.sampled_from(["1080x2400", " 1920 X 1080 ", "13.0", "v17.0.1", "true", "off", "zh-CN;q=0.9, en",
                                   "Mozilla/5.0 (Linux; Android 13) Chrome/120.0.0.0 Mobile Safari/537.36"]))
_scalar = st.one_of(_text, st.integers(-(10**15), 10**15), st.floats(), st.booleans(), st.none())
_value = st.one_of(_scalar, st.lists(st.one_of(_text, st.integers(-100, 100), st.booleans()), max_size=4),
                   st.tuples(_text))
_names = st.lists(st.one_of(st.sampled_from(KNOWN), st.sampled_from([" User_Agent", "OS-Version", "TIMEZONE "]),
                            st.from_regex(r"x[a-z0-9 _-]{1,8}", fullmatch=True)), unique=True, max_size=14)


@st.composite
def devices(draw):
    return {n: draw(_value) for n in draw(_names)}


def _reference_fingerprint(fpr: Fingerprinter, dev):
    """The original ``from_canonical`` arithmetic over the reference canonical form."""
    c = ref.canonicalize(dev)
    vals = c.values
    secs = [f"{fpr._h(f'{fpr.scheme}{_SEP}{s}') & ((1 << 48) - 1):012x}" for s in SCHEMES[fpr.scheme](c)]
    comps = tuple(0 if vals[i] is None else (fpr._h(f"c{_SEP}{name}{_SEP}{vals[i]}") & ((1 << 48) - 1)) or 1
                  for name, i in zip(VOLATILE_ATTRS, _VOL_IDX))
    return c, "fp{}_{}_{}_{}".format(fpr.scheme, *secs), comps


def _check(dev, fpr):
    want_c, want_id, want_comps = _reference_fingerprint(fpr, dev)
    for _ in range(2):  # cold, then through every cache
        got = canonicalize(dev)
        assert (got.values, got.extra, got.source, got.os_family, got.os_version, got.browser_family,
                got.browser_version, got.app_version) == (
            want_c.values, want_c.extra, want_c.source, want_c.os_family, want_c.os_version, want_c.browser_family,
            want_c.browser_version, want_c.app_version)
        fp = fpr.fingerprint(dev)
        if fp is not None:
            assert fp.id == want_id and fp.components == want_comps
            assert repr(_static(fp.canonical)) == repr(_static(canonicalize(dev)))


@settings(max_examples=150)
@given(devices())
def test_canonicalize_and_ids_match_reference(dev):
    _check(dev, Fingerprinter(KEYS, cache_size=2))


def test_caches_clear_when_full_and_synth_devices_match(monkeypatch):
    monkeypatch.setattr(canonical, "_CACHE_MAX", 8)
    for memo in (canonical._VALUES, canonical._KEYS, canonical._UAS, canonical._VERSIONS, *canonical._STR_VALUES):
        memo.clear()  # caches of pure functions: emptying them is always safe
    fpr = Fingerprinter(KEYS, cache_size=4)
    recs = generate(n_days=1, per_day=150, seed=3).to_records()
    for r in recs:
        if r.get("device"):
            _check(r["device"], fpr)
            sig = device_signals(fpr.fingerprint(r["device"]), {"ip_country": "CN"})
            assert repr(sig) == repr(device_signals(dict(r["device"]), {"ip_country": "CN"}))
    assert len(canonical._VALUES) <= 8 and len(fpr._cache) <= 4
    assert all(len(d) <= 8 for d in canonical._STR_VALUES) and len(canonical._KEYS) <= 8
    assert len(canonical._UAS) <= 8 and len(canonical._VERSIONS) <= 8
