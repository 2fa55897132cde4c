"""Batch fingerprinting and signals equal the scalar functions, device by device."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fraudscore.fingerprint import DEVICE_FEATURES, Fingerprinter, device_signal_matrix, device_signals
from fraudscore.keys import Keys
from tests.fingerprint.test_canonical import devices

FPR = Fingerprinter(Keys(b"test-secret-for-fingerprints-0002"))
TYPICAL = st.fixed_dictionaries({}, optional={
    "source": st.sampled_from(["app", "web", "tv"]), "os": st.sampled_from(["android", "ios", "iPhoneOS", "linux"]),
    "platform": st.sampled_from(["Win32", "iPhone", "Linux armv8l", "Linux x86_64", "MacIntel"]),
    "model": st.sampled_from(["iPhone15,2", "SM-G991B", "sdk_gphone_x86", "X"]),
    "manufacturer": st.sampled_from(["Apple", "samsung", "Google"]),
    "screen": st.sampled_from(["1080x2400", "390x844", "1920x1080", "800x600", "0x0", "big"]),
    "timezone": st.sampled_from(["Asia/Shanghai", "America/New_York", "Mars/Base"]),
    "touch_support": st.sampled_from([0, 5, "yes"]), "emulator": st.booleans(), "rooted": st.sampled_from([1, "no"]),
    "user_agent": st.sampled_from(["Mozilla/5.0 (Windows NT 10.0) Chrome/120.0", "HeadlessChrome/1", "x"]),
    "fonts_hash": st.text("0123456789abcdef", max_size=6), "webdriver": st.sampled_from([True, "0"]),
})
COUNTRY = st.one_of(st.none(), st.just(float("nan")), st.just(""), st.sampled_from(["CN", " us ", "cn", "FR", 3]))


@given(st.lists(st.one_of(devices(), TYPICAL, st.none(), st.just({})), max_size=12), st.data())
def test_fingerprint_many_and_signal_matrix_equal_scalar(devs, data):
    got = FPR.fingerprint_many(devs)
    assert got == [FPR.fingerprint(d) for d in devs]
    fps = [fp for fp in got if fp is not None]
    n = data.draw(st.integers(0, 20))
    codes = np.array([data.draw(st.integers(-1, len(fps) - 1)) for _ in range(n)], dtype=np.int64)
    country = np.empty(n, dtype=object)
    country[:] = [data.draw(COUNTRY) for _ in range(n)]
    for ipc in (None, country):
        X = device_signal_matrix(fps, codes, ipc)
        assert X.shape == (n, len(DEVICE_FEATURES))
        for i, c in enumerate(codes.tolist()):
            ev = {} if ipc is None else {"ip_country": ipc[i]}
            exp = device_signals(fps[c] if c >= 0 else None, ev)
            np.testing.assert_array_equal(X[i], [exp[f] for f in DEVICE_FEATURES])
