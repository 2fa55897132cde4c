"""The compiled kernels of :mod:`fraudscore.fingerprint.linker`, checked against its constants and configured
with its reference objects: ``_core.linking`` (candidate selection and pick), ``_core.linkstate`` (the link
state's bookkeeping and the whole ``DeviceLinker.link`` in one call) and ``_core.linker`` (the glue around them
and the batch link loop). Each function returns None where the module is not built, not in use
(``FRAUDSCORE_PURE_PYTHON=1``) or was built with other constants: the linker then runs its Python reference.

Examples
--------
>>> from fraudscore.fingerprint.linker_kernels import _kernel
>>> _kernel() is None or hasattr(_kernel(), "select")
True
"""

from __future__ import annotations

from typing import Any

from .._core import load as load_core


def _kernel() -> Any:
    """``fraudscore._core.linking`` when built, in use and laid out like this module's constants, else None."""
    from .linkkeys import _ID_TAGS
    from .linkfeatures import LAYOUT

    core = load_core("linking")
    if core is None or core.LAYOUT != LAYOUT or tuple(p for p, _ in _ID_TAGS) != LAYOUT[6]:
        return None
    return core


def _book_kernel() -> Any:
    """``fraudscore._core.linkstate`` when built, in use and built with this module's constants, else None."""
    from . import linkfeatures
    from .linker import _CLASS_POPULARITY, COMMON_POPULARITY, MIN_LINK_CONFIDENCE, DeviceLinker, LinkResult, new_device_id
    from .linkkeys import _CLASS_POS, _CLASS_POS_MOBILE, _ID_TAGS, _POP_POS, _POP_POS_MOBILE, _RENDERER_SLOT, FONT_PROBES
    from .linkstate import MemoryLinkState
    from .sections import VOLATILE_ATTRS, Fingerprint

    core = load_core("linkstate")
    if core is None or core.CONSTANTS != (len(VOLATILE_ATTRS), _RENDERER_SLOT, tuple(p for p, _ in _ID_TAGS),
                                          MIN_LINK_CONFIDENCE, COMMON_POPULARITY, _CLASS_POPULARITY, FONT_PROBES):
        return None
    core.configure(tuple(VOLATILE_ATTRS), linkfeatures._shared_list, linkfeatures._LISTS)
    glue = _glue_kernel(core)
    # the entry calls back best_candidate and new_device_id: their C glue where built (the same calls, parity-tested)
    core.configure_entry(DeviceLinker, Fingerprint, MemoryLinkState, LinkResult,
                         glue.best_candidate if glue is not None else DeviceLinker.best_candidate,
                         glue.new_device_id if glue is not None else new_device_id,
                         _CLASS_POS, _CLASS_POS_MOBILE, _POP_POS, _POP_POS_MOBILE, _ID_TAGS)
    return core


def _glue_kernel(book: Any = None) -> Any:
    """``fraudscore._core.linker`` (the C glue of :meth:`DeviceLinker.best_candidate`, :func:`new_device_id` and
    the batch link loop, ``devicecolumns.link_rows``) when built and in use, configured with this module's
    reference objects; else None. ``book``: the compiled link state (loaded when omitted)."""
    from ..model.compiled import CompiledForest
    from .linker import DeviceLinker, new_device_id
    from .linkfeatures import PAIR_FEATURES
    from .linkmodel import LinkModel
    from .sections import Fingerprint

    glue = load_core("linker")
    book = book if book is not None else load_core("linkstate")
    kern = _kernel()
    if glue is None or book is None or kern is None:
        return None
    glue.configure(DeviceLinker, Fingerprint, LinkModel, CompiledForest, kern.select, kern.pick,
                   DeviceLinker.best_candidate, new_device_id, LinkModel.best_rows, CompiledForest.predict_best_buffer,
                   book.entry, DeviceLinker.link, len(PAIR_FEATURES))
    return glue
