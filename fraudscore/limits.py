"""Size limits: one table of every bound on what enters the library from outside.

Events, label tables and bundles come from outside the process; each part of
them has a documented upper bound, checked before the value is kept, hashed,
cached or parsed, so memory use is bounded whatever the input. Caches are
bounded in bytes, not only in entries. A value over a limit is refused with the
library's own error (:class:`~fraudscore.errors.EventError` for events and
labels, :class:`~fraudscore.errors.BundleError` for bundles), naming the field
or file and the limit, never the value.

The table in ``docs/reliability.md`` is :func:`limits_table` verbatim (a test
keeps the two equal).

Examples
--------
>>> MAX_STR_LEN, MAX_DEVICE_CHARS
(512, 16384)
>>> LIMITS["MAX_EVENT_FIELDS"].value
128
>>> print(limits_table().splitlines()[0])
| limit | value | applies to |
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

__all__ = [
    "Limit", "LIMITS", "limits_table",
    "MAX_EVENT_FIELDS", "MAX_NAME_LEN", "MAX_STR_LEN", "MAX_DEVICE_ATTRIBUTES", "MAX_ATTR_STR_LEN",
    "MAX_LIST_LEN", "MAX_LIST_ITEM_LEN", "MAX_DEVICE_CHARS", "MAX_EVENT_CHARS", "MAX_ABS_NUMBER",
    "FINGERPRINT_CACHE_BYTES", "FINGERPRINT_MEMO_BYTES", "CANONICAL_MEMO_BYTES",
    "DEVICE_SIGNALS_CACHE_BYTES", "IDENTITY_CACHE_ENTRIES", "IDENTITY_ENTRY_BYTES",
    "MAX_BUNDLE_BYTES", "MAX_BUNDLE_FILE_BYTES", "MAX_BUNDLE_ENTRIES", "MAX_COMPRESSION_RATIO",
    "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "MAX_RULES_BYTES", "MAX_SIGNATURE_BYTES", "MAX_MODEL_TREES",
    "MAX_TREE_LEAVES", "MAX_MODEL_FEATURES",
]

# -- events ------------------------------------------------------------------------------
MAX_EVENT_FIELDS = 128
"""Keys in one event mapping (declared fields, extra fields and missing ones alike)."""
MAX_NAME_LEN = 64
"""Characters in an extra field name or a device attribute name."""
MAX_STR_LEN = 512
"""Characters in a string field or a string extra field (after stripping)."""
MAX_DEVICE_ATTRIBUTES = 64
"""Attributes in the ``device`` mapping (any mapping field)."""
MAX_ATTR_STR_LEN = 2048
"""Characters in one string device attribute."""
MAX_LIST_LEN = 256
"""Items in one list-valued device attribute."""
MAX_LIST_ITEM_LEN = 256
"""Characters in one string item of a list-valued device attribute."""
MAX_DEVICE_CHARS = 16_384
"""Characters of a whole device mapping: attribute names, string values and string list items."""
MAX_EVENT_CHARS = MAX_EVENT_FIELDS * (MAX_NAME_LEN + MAX_STR_LEN) + MAX_DEVICE_CHARS
"""The resulting bound on the text of one event (derived from the limits above)."""
MAX_ABS_NUMBER = sys.float_info.max
"""Numbers anywhere in an event must be finite float64 values (an ``int`` beyond it is refused)."""

# -- caches ------------------------------------------------------------------------------
FINGERPRINT_CACHE_BYTES = 32 * 2**20
"""Bytes (estimated from the text held) of one :class:`~fraudscore.fingerprint.Fingerprinter`'s LRU cache."""
FINGERPRINT_MEMO_BYTES = 16 * 2**20
"""Bytes (estimated) of one Fingerprinter's memos of section and attribute hashes."""
CANONICAL_MEMO_BYTES = 16 * 2**20
"""Bytes (estimated) of the module-level memos of device canonicalisation, all together."""
DEVICE_SIGNALS_CACHE_BYTES = 16 * 2**20
"""Bytes (estimated) of the module-level cache of device-signal templates."""
IDENTITY_CACHE_ENTRIES = 65_536
"""Entries of one :class:`~fraudscore.identity.Identity` result cache (fixed-size entries)."""
IDENTITY_ENTRY_BYTES = 1_024
"""Upper bound of one identity cache entry: a 16-byte key, two pseudonyms and a few floats."""

# -- bundles -----------------------------------------------------------------------------
MAX_BUNDLE_BYTES = 512 * 2**20
"""Bytes of a whole bundle: the zip file, and the sum of its files once read."""
MAX_BUNDLE_FILE_BYTES = 256 * 2**20
"""Bytes of one file of a bundle (declared size and bytes actually read)."""
MAX_BUNDLE_ENTRIES = 4_096
"""Entries of a bundle zip archive."""
MAX_COMPRESSION_RATIO = 100
"""Uncompressed / compressed size of a zip entry over 1 MiB."""
MAX_JSON_BYTES = 16 * 2**20
"""Bytes of ``manifest.json``, ``model.json`` or ``calibration.json``."""
MAX_JSON_DEPTH = 64
"""Nesting of arrays and objects in a bundle's JSON files."""
MAX_RULES_BYTES = 64 * 2**20
"""Bytes of ``rules.toml`` (lists of pseudonyms are inline)."""
MAX_SIGNATURE_BYTES = 4_096
"""Bytes of ``signature.json``."""
MAX_MODEL_TREES = 100_000
"""Trees in ``model.txt``."""
MAX_TREE_LEAVES = 131_072
"""Leaves of one tree in ``model.txt`` (LightGBM's own maximum)."""
MAX_MODEL_FEATURES = 100_000
"""Features of the model (``max_feature_idx + 1``)."""


@dataclass(frozen=True)
class Limit:
    """One row of the limits table."""

    name: str
    value: int | float
    applies_to: str


def _fmt(v: int | float) -> str:
    if isinstance(v, float):
        return "finite float64"
    if v >= 2**20 and v % 2**20 == 0:
        return f"{v // 2**20} MiB"
    return f"{v:,}"


_ROWS = (
    ("MAX_EVENT_FIELDS", "keys in one event"),
    ("MAX_NAME_LEN", "characters in an extra field or device attribute name"),
    ("MAX_STR_LEN", "characters in a string field or string extra field"),
    ("MAX_DEVICE_ATTRIBUTES", "attributes in the device mapping"),
    ("MAX_ATTR_STR_LEN", "characters in one string device attribute"),
    ("MAX_LIST_LEN", "items in one list device attribute"),
    ("MAX_LIST_ITEM_LEN", "characters in one string list item"),
    ("MAX_DEVICE_CHARS", "characters in a whole device mapping (names, strings, list items)"),
    ("MAX_EVENT_CHARS", "characters in a whole event (derived from the rows above)"),
    ("MAX_ABS_NUMBER", "every number in an event (ints beyond it are refused)"),
    ("FINGERPRINT_CACHE_BYTES", "fingerprint LRU cache of one Fingerprinter"),
    ("FINGERPRINT_MEMO_BYTES", "section and attribute hash memos of one Fingerprinter"),
    ("CANONICAL_MEMO_BYTES", "device canonicalisation memos (all together)"),
    ("DEVICE_SIGNALS_CACHE_BYTES", "device-signal template cache"),
    ("IDENTITY_CACHE_ENTRIES", "identity result cache entries (fixed-size entries)"),
    ("IDENTITY_ENTRY_BYTES", "bytes of one identity cache entry (upper bound)"),
    ("MAX_BUNDLE_BYTES", "a whole bundle (zip file; sum of its files)"),
    ("MAX_BUNDLE_FILE_BYTES", "one bundle file (declared and actually read)"),
    ("MAX_BUNDLE_ENTRIES", "entries of a bundle zip"),
    ("MAX_COMPRESSION_RATIO", "uncompressed/compressed ratio of a zip entry over 1 MiB"),
    ("MAX_JSON_BYTES", "manifest.json, model.json, calibration.json"),
    ("MAX_JSON_DEPTH", "nesting of a bundle's JSON"),
    ("MAX_RULES_BYTES", "rules.toml"),
    ("MAX_SIGNATURE_BYTES", "signature.json"),
    ("MAX_MODEL_TREES", "trees in model.txt"),
    ("MAX_TREE_LEAVES", "leaves of one tree in model.txt"),
    ("MAX_MODEL_FEATURES", "features of the model"),
)

LIMITS: dict[str, Limit] = {name: Limit(name, globals()[name], what) for name, what in _ROWS}
"""Every limit by name."""


def limits_table() -> str:
    """The limits as a Markdown table (the one in ``docs/reliability.md``)."""
    lines = ["| limit | value | applies to |", "|---|---|---|"]
    lines += [f"| `{lim.name}` | {_fmt(lim.value)} | {lim.applies_to} |" for lim in LIMITS.values()]
    return "\n".join(lines)
