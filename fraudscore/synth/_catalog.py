"""Catalogues of real-world device models, OS / app versions, browsers and locales (private)."""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------- catalogues
# (manufacturer, model, screen, IMEI type allocation code, popularity)
_ANDROID = [
    ("Xiaomi", "2211133C", "1080x2400", "86754306", 8), ("Xiaomi", "23049RAD8C", "1220x2712", "86926506", 9),
    ("Xiaomi", "22101316C", "1080x2400", "86233506", 8), ("Xiaomi", "M2012K11AC", "1080x2400", "86240105", 5),
    ("HUAWEI", "NOH-AN00", "1344x2772", "86815905", 7), ("HUAWEI", "ELS-AN00", "1200x2640", "86711504", 4),
    ("HONOR", "ANY-AN00", "1080x2388", "86305106", 6), ("OPPO", "PGBM10", "1080x2412", "86452006", 6),
    ("OPPO", "PEEM00", "1440x3216", "86611405", 3), ("vivo", "V2141A", "1080x2400", "86873205", 7),
    ("vivo", "V2218A", "1260x2800", "86044106", 4), ("samsung", "SM-S9180", "1440x3088", "35384711", 3),
    ("samsung", "SM-G9910", "1080x2400", "35268311", 2), ("OnePlus", "PHB110", "1440x3216", "86118806", 3),
]
# models that Android emulators (LDPlayer, Nox, MuMu...) report by default
_EMULATOR = [
    ("samsung", "SM-G977N", "900x1600", "35329011", 5), ("asus", "ASUS_Z01QD", "1080x1920", "35847609", 3),
    ("vivo", "V1916A", "720x1280", "86201904", 2), ("Google", "Pixel 4", "1080x2280", "35392110", 1),
]
_ANDROID_OS = ["10", "11", "12", "13", "14"]
_ANDROID_OS_P = [0.08, 0.14, 0.26, 0.32, 0.20]
# (model, screen, minimum iOS index, popularity)
_IOS = [
    ("iPhone12,1", "828x1792", 0, 5), ("iPhone13,2", "1170x2532", 0, 7), ("iPhone14,5", "1170x2532", 0, 9),
    ("iPhone14,2", "1170x2532", 0, 6), ("iPhone14,7", "1170x2532", 2, 7), ("iPhone15,2", "1179x2556", 2, 6),
    ("iPhone15,3", "1290x2796", 2, 5), ("iPhone15,4", "1179x2556", 4, 6), ("iPhone16,1", "1179x2556", 4, 5),
    ("iPhone16,2", "1290x2796", 4, 4),
]
_IOS_OS = ["15.7", "16.1", "16.6", "16.7", "17.0", "17.1", "17.2", "17.3", "17.4"]
_APP_VERSIONS = ["5.0.0", "5.0.3", "5.1.0", "5.1.2", "5.2.0", "5.2.1", "5.3.0", "5.3.4", "5.4.0", "5.4.1"]
_APP_P = np.array([1, 1, 2, 2, 4, 5, 7, 9, 10, 6], dtype=float)
_SIM = ["46000", "46002", "46007", "46001", "46006", "46003", "46011", "46015"]
_SIM_P = np.array([30, 10, 8, 14, 6, 12, 16, 4], dtype=float)
_TZ = ["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Urumqi", "Asia/Singapore", "Asia/Tokyo", "America/Los_Angeles"]
_TZ_P = np.array([0.93, 0.02, 0.02, 0.01, 0.01, 0.01])
_LANGS = [("zh-CN",), ("zh-CN", "zh"), ("zh-CN", "zh", "en"), ("zh-CN", "en-US"), ("zh-TW", "zh"), ("en-US", "en")]
_LANGS_P = np.array([0.35, 0.30, 0.12, 0.15, 0.03, 0.05])
# (os family, platform, screen, webgl vendor, webgl renderer, cores, memory GB, touch points, colour depth, popularity)
_WEB = [
    ("win", "Win32", "1920x1080", "Google Inc. (Intel)",
     "ANGLE (Intel, Intel(R) UHD Graphics 620 Direct3D11 vs_5_0 ps_5_0, D3D11)", 8, 8, 0, 24, 10),
    ("win", "Win32", "1366x768", "Google Inc. (Intel)",
     "ANGLE (Intel, Intel(R) HD Graphics 520 Direct3D11 vs_5_0 ps_5_0, D3D11)", 4, 4, 0, 24, 5),
    ("win", "Win32", "1536x864", "Google Inc. (Intel)",
     "ANGLE (Intel, Intel(R) Iris(R) Xe Graphics Direct3D11 vs_5_0 ps_5_0, D3D11)", 8, 8, 0, 24, 8),
    ("win", "Win32", "2560x1440", "Google Inc. (NVIDIA)",
     "ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 Direct3D11 vs_5_0 ps_5_0, D3D11)", 16, 8, 0, 24, 4),
    ("win", "Win32", "1920x1080", "Google Inc. (AMD)",
     "ANGLE (AMD, AMD Radeon(TM) Graphics Direct3D11 vs_5_0 ps_5_0, D3D11)", 12, 8, 0, 24, 5),
    ("mac", "MacIntel", "1440x900", "Apple Inc.", "Apple M1", 8, 8, 0, 30, 4),
    ("mac", "MacIntel", "1512x982", "Apple Inc.", "Apple M2 Pro", 12, 8, 0, 30, 3),
    ("android", "Linux armv8l", "393x873", "Qualcomm", "Adreno (TM) 660", 8, 8, 5, 24, 8),
    ("android", "Linux aarch64", "412x915", "ARM", "Mali-G78 MC24", 8, 8, 5, 24, 5),
    ("android", "Linux armv8l", "360x800", "Qualcomm", "Adreno (TM) 642L", 8, 4, 5, 24, 6),
    ("iphone", "iPhone", "390x844", "Apple Inc.", "Apple GPU", 4, None, 5, 24, 9),
    ("iphone", "iPhone", "393x852", "Apple Inc.", "Apple GPU", 4, None, 5, 24, 6),
    ("iphone", "iPhone", "428x926", "Apple Inc.", "Apple GPU", 4, None, 5, 24, 4),
]
_BROWSERS = {"win": (("chrome", "edge", "firefox"), (0.6, 0.3, 0.1)),
             "mac": (("chrome", "safari", "firefox"), (0.5, 0.45, 0.05)),
             "android": (("chrome", "wechat"), (0.5, 0.5)),
             "iphone": (("safari", "wechat"), (0.6, 0.4))}
_FAMILIES = ("win", "mac", "android", "iphone")
_BROWSER_IDS = {"chrome": 1, "edge": 2, "firefox": 3, "safari": 4, "wechat": 5}
_SAFARI = ["16.6", "17.1", "17.2", "17.3", "17.4"]
_MOBILE = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko)"
_UA = {
    ("win", "chrome"): "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/{v}.0.0.0 Safari/537.36",
    ("win", "edge"): "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
    ("win", "firefox"): "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    ("mac", "chrome"): "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/{v}.0.0.0 Safari/537.36",
    ("mac", "firefox"): "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    ("mac", "safari"): "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                       "Version/{s} Safari/605.1.15",
    ("android", "chrome"): _MOBILE + " Chrome/{v}.0.0.0 Mobile Safari/537.36",
    ("android", "wechat"): _MOBILE + " Version/4.0 Chrome/{v}.0.6099.193 Mobile Safari/537.36 XWEB/1160065 "
                           "MicroMessenger/8.0.{w}.2540(0x28002F35) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN",
    ("iphone", "safari"): "Mozilla/5.0 (iPhone; CPU iPhone OS {u} like Mac OS X) AppleWebKit/605.1.15 "
                          "(KHTML, like Gecko) Version/{s} Mobile/15E148 Safari/604.1",
    ("iphone", "wechat"): "Mozilla/5.0 (iPhone; CPU iPhone OS {u} like Mac OS X) AppleWebKit/605.1.15 "
                          "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.{w}(0x18002f2c) NetType/WIFI "
                          "Language/zh_CN",
}

_ALL_ANDROID = _ANDROID + _EMULATOR
_ALL_ANDROID_TAC = np.array([m[3] for m in _ALL_ANDROID])
_WEB_FAMILY = np.array([_FAMILIES.index(w[0]) for w in _WEB])
_BROWSER_NAMES = np.array([list(_BROWSERS[f][0]) + [_BROWSERS[f][0][-1]] * (3 - len(_BROWSERS[f][0]))
                           for f in _FAMILIES], dtype=object)
_BROWSER_CUM = np.array([np.concatenate([np.cumsum(_BROWSERS[f][1])[:-1], [2.0] * (4 - len(_BROWSERS[f][1]))])
                         for f in _FAMILIES])
