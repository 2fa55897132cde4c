"""Catalogues of the drift simulator: hardware, OS-image font lists, locales (private to ``simulate``).

The models, GPUs and screens are plausible, popularity-weighted examples (a
modelling assumption, see :mod:`fraudscore.fingerprint.simparams`); font names are
synthetic (``"Win 001"``...): the linker only ever sees keyed hashes of them.

Examples
--------
>>> len(_OS_FONTS["win10"]), _fonts("Mac", 2)
(130, ('Mac 000', 'Mac 001'))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xxhash

# ------------------------------------------------------------------ catalogues (assumptions: plausible models)
# Windows desktops: (gpu vendor, gpu model, pci id, cores, memory GB, screens, popularity)
_WIN_HW = [
    ("Intel", "Intel(R) UHD Graphics 620", "0x00005917", 8, 8, ("1920x1080", "1366x768"), 10),
    ("Intel", "Intel(R) Iris(R) Xe Graphics", "0x00009A49", 8, 16, ("1920x1080", "2560x1440"), 9),
    ("Intel", "Intel(R) UHD Graphics 730", "0x00004692", 12, 16, ("1920x1080",), 5),
    ("Intel", "Intel(R) HD Graphics 520", "0x00001916", 4, 8, ("1366x768", "1920x1080"), 4),
    ("NVIDIA", "NVIDIA GeForce RTX 3060", "0x00002503", 16, 16, ("2560x1440", "1920x1080"), 4),
    ("NVIDIA", "NVIDIA GeForce GTX 1650", "0x00001F82", 8, 16, ("1920x1080",), 4),
    ("AMD", "AMD Radeon(TM) Graphics", "0x00001638", 12, 16, ("1920x1080", "2560x1440"), 5),
]
# Macs: (renderer, cores, screens, popularity)
_MAC_HW = [("Apple M1", 8, ("1440x900", "1680x1050"), 5), ("Apple M2", 8, ("1470x956", "1710x1112"), 4),
           ("Apple M3 Pro", 12, ("1512x982", "1728x1117"), 2)]
# Android phones on the web: (manufacturer ROM, css screen, gpu renderer, gpu vendor, cores, memory, popularity)
_AND_WEB = [
    ("xiaomi", "393x873", "Adreno (TM) 730", "Qualcomm", 8, 8, 9), ("xiaomi", "393x851", "Adreno (TM) 642L",
                                                                   "Qualcomm", 8, 8, 7),
    ("huawei", "360x780", "Maleoon 910", "Huawei", 8, 8, 7), ("oppo", "412x915", "Mali-G610 MC6", "ARM", 8, 8, 6),
    ("vivo", "393x873", "Adreno (TM) 740", "Qualcomm", 8, 8, 6), ("honor", "384x854", "Mali-G78 MP24", "ARM", 8, 8,
                                                                  5),
    ("samsung", "384x832", "Adreno (TM) 740", "Qualcomm", 8, 8, 3),
]
# iPhones on the web: (css screen, popularity, first iOS major it shipped with)
_IOS_WEB = [("390x844", 10, 15), ("393x852", 9, 16), ("430x932", 5, 16), ("428x926", 4, 15), ("375x812", 3, 14),
            ("414x896", 3, 13), ("375x667", 2, 13)]
# Android phones in the app: (manufacturer, model, physical screen, popularity)
_AND_APP = [("Xiaomi", "2211133C", "1080x2400", 8), ("Xiaomi", "23049RAD8C", "1220x2712", 9),
            ("HUAWEI", "NOH-AN00", "1344x2772", 7), ("HONOR", "ANY-AN00", "1080x2388", 6),
            ("OPPO", "PGBM10", "1080x2412", 6), ("vivo", "V2141A", "1080x2400", 7), ("samsung", "SM-S9180",
                                                                                      "1440x3088", 3)]
_IOS_APP = [("iPhone14,5", "1170x2532", 9), ("iPhone15,2", "1179x2556", 6), ("iPhone15,4", "1179x2556", 6),
            ("iPhone16,1", "1179x2556", 5), ("iPhone14,7", "1170x2532", 7), ("iPhone13,2", "1170x2532", 6)]
_TZ_HOME = "Asia/Shanghai"
_TZ_TRAVEL = ("Asia/Tokyo", "Asia/Singapore", "Asia/Hong_Kong", "Asia/Bangkok", "Europe/London",
              "America/Los_Angeles")
_LANGS = (("zh-CN",), ("zh-CN", "zh"), ("zh-CN", "zh", "en"), ("zh-CN", "en-US"), ("en-US", "en"), ("zh-TW", "zh"))
_LANGS_P = np.array([0.40, 0.28, 0.12, 0.12, 0.05, 0.03])
_SIM = ("46000", "46001", "46002", "46007", "46011", "46003")
_SIM_P = np.array([0.38, 0.18, 0.12, 0.10, 0.14, 0.08])


def _fonts(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix} {i:03d}" for i in range(n))


# OS-image font lists (what a font-enumeration script finds with nothing installed)
_OS_FONTS = {
    "win10": _fonts("Win", 130), "win11": _fonts("Win", 120) + _fonts("Win11", 18),
    "mac13": _fonts("Mac", 210), "mac14": _fonts("Mac", 200) + _fonts("Mac14", 15),
    "ios": _fonts("iOS", 60), "android": _fonts("Droid", 35),
}
_FONT_PACKS = {"office": _fonts("Office", 35), "wps": _fonts("WPS", 22), "adobe": _fonts("Adobe", 40),
               "cjk": _fonts("CJK", 12)}
_FONT_PACK_P = {"office": 0.45, "wps": 0.5, "adobe": 0.12, "cjk": 0.25}
_RARE_FONTS = 3000  # pool of individually installed fonts


def _h(*parts: Any) -> str:
    return xxhash.xxh64_hexdigest("\x1f".join(map(str, parts)).encode())


def _pick(rng: np.random.Generator, items: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    w = np.array([it[-1] for it in items], dtype=float)
    return items[int(rng.choice(len(items), p=w / w.sum()))]
