"""Consistency and spoof signals."""

from __future__ import annotations

import math

from fraudscore.fingerprint import DEVICE_FEATURES, Fingerprinter, device_signals
from fraudscore.keys import Keys

FPR = Fingerprinter(Keys(b"test-secret-for-fingerprints-0001"))
IPHONE = {"source": "app", "os": "ios", "os_version": "17.2", "model": "iPhone15,2", "manufacturer": "Apple",
          "screen": "1179x2556", "timezone": "Asia/Shanghai", "languages": ["zh-CN"], "emulator": False,
          "rooted": False, "app_version": "5.2.1", "idfv": "E621E1F8-C36C-495A-93FC-0C247A3E6E5F"}
WIN = {"user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/120.0.0.0 Safari/537.36", "platform": "Win32", "screen": "1920x1080", "touch_support": 0,
       "webgl_renderer": "ANGLE (Intel, Intel(R) UHD Graphics 620)", "timezone": "Asia/Shanghai"}


def test_exact_keys_and_clean_devices():
    for dev in (IPHONE, WIN):
        s = device_signals(FPR.fingerprint(dev), {"ip_country": "CN"})
        assert tuple(s) == DEVICE_FEATURES and all(isinstance(v, float) for v in s.values())
        for name in ("device__missing", "device__emulator_hint", "device__headless", "device__os_mismatch",
                     "device__screen_impossible", "device__tz_ip_mismatch"):
            assert s[name] == 0.0, (name, dev)
    assert math.isnan(device_signals(FPR.fingerprint(WIN), {})["device__tz_ip_mismatch"])
    assert math.isnan(device_signals(FPR.fingerprint(WIN), {})["device__emulator"])


def test_missing_device():
    s = device_signals(None, {})
    assert s["device__missing"] == 1.0 and all(math.isnan(v) for k, v in s.items() if k != "device__missing")


def test_spoofs_are_flagged():
    emu = {**IPHONE, "os": "android", "model": "SM-G977N", "manufacturer": "samsung", "screen": "900x1600",
           "emulator": True}
    s = device_signals(FPR.fingerprint(emu), {"ip_country": "US"})
    assert s["device__screen_impossible"] == 1.0 and s["device__emulator"] == 1.0 and s["device__tz_ip_mismatch"] == 1.0
    ios_on_samsung = {**IPHONE, "manufacturer": "samsung"}
    assert device_signals(FPR.fingerprint(ios_on_samsung))["device__os_mismatch"] == 1.0
    vm = {**WIN, "webgl_renderer": "Google SwiftShader", "platform": "Linux armv8l", "user_agent": WIN["user_agent"]
          .replace("Chrome/", "HeadlessChrome/")}
    s = device_signals(FPR.fingerprint(vm))
    assert s["device__emulator_hint"] == 1.0 and s["device__headless"] == 1.0 and s["device__os_mismatch"] == 1.0
    phone_no_touch = {**WIN, "platform": "iPhone", "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X)",
                      "screen": "390x844"}
    s = device_signals(phone_no_touch)
    assert s["device__touch_mismatch"] == 1.0 and s["device__screen_impossible"] == 0.0


def test_signals_accept_raw_and_canonical_forms():
    fp = FPR.fingerprint({**IPHONE, "webdriver": True, "x_extra": 1})
    a = device_signals(fp)
    b = device_signals(fp.canonical)
    c = device_signals({**IPHONE, "webdriver": True, "x_extra": 1})
    assert a == b == c
    assert a["device__unknown_attrs"] == 2.0 and a["device__headless"] == 1.0
    assert device_signals(FPR.fingerprint(IPHONE))["device__unknown_attrs"] == 0.0  # cache keyed by extras too
