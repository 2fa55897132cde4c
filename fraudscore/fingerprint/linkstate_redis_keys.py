"""The linker's keys of a new fingerprint, made by the compiled kernel before a Redis-path link decision.

Over a :class:`~fraudscore.fingerprint.MemoryLinkState`, :meth:`DeviceLinker.link
<fraudscore.fingerprint.DeviceLinker.link>` runs in one compiled call that also computes the keys of a
fingerprint it has not seen (ids, block keys, count keys, class key and id, popularity keys, walk keys:
``fraudscore._core.linkstate.keys``, parity-tested against ``DeviceLinker._keys`` in
``tests/fingerprint/test_linkstate_compiled.py``). Over the Redis store's
:class:`~fraudscore.fingerprint.linkstate_redis.OptimisticLinkState` the link runs the Python read ->
decide -> write, whose first ``_keys`` of a new fingerprint computed them in Python (~15 µs; most devices of
the benchmark stream are new). :func:`prime_keys` puts the compiled keys in the linker's memo first, as the
compiled entry does (an entry for the fingerprint's id, the memo cleared when full), so ``_keys`` finds them.

Nothing is primed without the compiled core, for a subclass of ``DeviceLinker`` (its keys may differ), or
when the memo already holds an entry for the id (another variant of it is the Python ``_keys``' business).

Examples
--------
>>> from fraudscore.keys import Keys
>>> from fraudscore.fingerprint import DeviceLinker, Fingerprinter
>>> fp = Fingerprinter(Keys(b"0123456789abcdef-demo-secret")).fingerprint({"os": "android", "model": "X1"})
>>> linker = DeviceLinker()
>>> prime_keys(linker, fp)
>>> linker._keys(fp) == DeviceLinker()._keys(fp)
True
"""

from __future__ import annotations

from typing import Any

from .._core import load as load_core

__all__ = ["prime_keys"]

_BOOK = load_core("linkstate")
_KEYS: Any = getattr(_BOOK, "keys", None)
#: entries of the linker's key memo before it is cleared (DeviceLinker._keys' and the compiled entry's bound)
_MEMO_MAX = 65_536


def prime_keys(linker: Any, fp: Any) -> None:
    """Put ``fp``'s keys, made by ``fraudscore._core.linkstate.keys``, in ``linker``'s memo when it has none for
    its id (see the module doc); nothing otherwise."""
    # (_link_entry is set only on a DeviceLinker itself, with the compiled link state kernel configured for it)
    if _KEYS is None or getattr(linker, "_link_entry", None) is None:
        return
    memo = linker._key_memo
    fid = fp.id
    if fid in memo:
        return
    keys = _KEYS(fp)
    if keys is None:
        return
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[fid] = keys
