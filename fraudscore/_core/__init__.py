"""The compiled core: C versions of hot steps, beside their Python reference.

One extension module per step it accelerates, named like the Python module it mirrors:

============================  =============================================
``_core.velocity_store``      ``velocity/memory.py`` + ``memory_layout.py``
``_core.pseudonym``           keyed BLAKE2b pseudonyms of ``identity/``
``_core.fingerprint``         keyed xxh3 sections and components of ``fingerprint/sections.py``
``_core.linking``             the device linker's candidate walk, filter, selection and pair
                              features (``fingerprint/linkfeatures.py``, ``linkstate.py``)
``_core.identity``            identifier normalisation + pseudonym in one call (``identity/normalize.py``
                              and the describers of ``identity/__init__.py``), printable-ASCII fast path
``_core.schema``              the fast path of ``Schema.validate`` (``schema.py``, ``_checkers.py``)
``_core.rules``               rule conditions from the rule IR, one call per event (``rules/scalar.py``)
``_core.linkstate``           ``MemoryLinkState``'s write / touch and the linker's exact and
                              class-record paths (``fingerprint/linkstate.py``, ``linker.py``)
``_core.linker``              the Python glue around those kernels: ``best_candidate`` and
                              ``new_device_id`` (``fingerprint/linker.py``) and the batch link loop
                              (``devicecolumns.link_rows``)
``_core.pipeline``            the record and the feature vector written in place
                              (``FeaturePipeline._record_and_static`` and ``online``, ``pipeline.py``)
``_core.redis_calls``         the Redis event call's request packed as RESP, its count arguments, and
                              its records read back (``_redis.py``, ``velocity/redis_calls.py``,
                              ``velocity/redis_wire.py``)
``_core.columns``             column kernels of the batch path: ``factorize`` (the replay's and the
                              identity stage's ``_factorize``, ``velocity/replay.py``,
                              ``identity/columns.py``) and ``distinct_objects``
                              (``devicecolumns._distinct_objects``)
============================  =============================================

The Python modules stay the readable reference and the fallback. :func:`load` returns
a compiled module, or ``None`` when

* the environment variable ``FRAUDSCORE_PURE_PYTHON`` is set to ``1`` (forces the
  reference everywhere: for debugging, and so the pure-Python path stays tested), or
* the extension is missing or fails to import (an install without a C compiler, or
  ``FRAUDSCORE_BUILD_EXT=0``): a note is logged once on the ``fraudscore`` logger and
  the Python reference is used.

Examples
--------
>>> mod = load("velocity_store")
>>> mod is None or hasattr(mod, "Store")
True
>>> load("no_such_step") is None
True
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

__all__ = ["load", "available", "pure_python", "PURE_PYTHON_ENV"]

PURE_PYTHON_ENV = "FRAUDSCORE_PURE_PYTHON"
_log = logging.getLogger("fraudscore")
_cache: dict[str, ModuleType | None] = {}
_KNOWN = ("velocity_store", "pseudonym", "fingerprint", "linking", "identity", "schema", "rules",
          "linkstate", "pipeline", "linker", "redis_calls", "columns")


def pure_python() -> bool:
    """Whether ``FRAUDSCORE_PURE_PYTHON=1`` forces the Python reference implementations."""
    return os.environ.get(PURE_PYTHON_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def load(name: str) -> ModuleType | None:
    """The compiled module ``fraudscore._core.<name>``, or ``None`` (use the Python reference).

    Parameters
    ----------
    name : str
        The step, e.g. ``"velocity_store"``.
    """
    if pure_python():
        return None
    if name in _cache:
        return _cache[name]
    mod: ModuleType | None = None
    if name in _KNOWN:
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ImportError as exc:
            _log.warning("fraudscore: the compiled %s is not available (%s); using the pure-Python reference, "
                         "which is slower. Reinstall with a C compiler (pip install fraudscore) to build it.",
                         name, exc)
    _cache[name] = mod
    return mod


def available() -> dict[str, bool]:
    """Which compiled modules are in use (``False`` where the Python reference runs).

    Examples
    --------
    >>> sorted(available())
    ['columns', 'fingerprint', 'identity', 'linker', 'linking', 'linkstate', 'pipeline', 'pseudonym', 'redis_calls', 'rules', 'schema', 'velocity_store']
    """
    return {name: load(name) is not None for name in _KNOWN}
