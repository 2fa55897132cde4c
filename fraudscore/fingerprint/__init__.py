"""Device fingerprints: canonical attributes, sectioned keyed ids, drift-tolerant linking, spoof signals.

Examples
--------
>>> from fraudscore.keys import Keys
>>> fpr = Fingerprinter(Keys(b"0123456789abcdef-demo-secret"))
>>> linker = DeviceLinker(MemoryLinkState(max_devices=1000))
>>> fp = fpr.fingerprint({"user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0 Safari/537.36",
...                       "platform": "Win32", "screen": "1920x1080", "fonts_hash": "a1b2c3"})
>>> res = linker.link(fp, 1_795_946_400_000)
>>> res.new, fp.scheme == SCHEME_VERSION
(True, True)
>>> sig = device_signals(fp, {"ip_country": "CN"})
>>> sorted(sig) == sorted(DEVICE_FEATURES)
True
"""

from .canonical import CanonicalDevice, canonicalize, parse_user_agent, parse_version
from .linker import MIN_LINK_CONFIDENCE, DeviceLinker, LinkResult
from .linkmodel import LinkModel, default_link_model
from .linknet import NetworkScope
from .linkstate import LinkState, MemoryLinkState, RedisLinkState
from .sections import SCHEME_VERSION, Fingerprint, Fingerprinter, compare_ids, parse_id
from .signals import DEVICE_FEATURES, device_signal_matrix, device_signal_values, device_signals

__all__ = [
    "CanonicalDevice", "canonicalize", "parse_user_agent", "parse_version",
    "Fingerprint", "Fingerprinter", "SCHEME_VERSION", "compare_ids", "parse_id",
    "DeviceLinker", "LinkResult", "MIN_LINK_CONFIDENCE", "LinkModel", "default_link_model",
    "NetworkScope",
    "LinkState", "MemoryLinkState", "RedisLinkState",
    "DEVICE_FEATURES", "device_signals", "device_signal_values", "device_signal_matrix",
]
