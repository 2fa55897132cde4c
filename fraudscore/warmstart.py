"""Warm starts: carry velocity and device-link state from one batch run to the next.

A :class:`ScoringState` is the live state a scorer accumulates: the velocity
store (a :class:`~fraudscore.velocity.MemoryStore`, with the fraud labels it
knows) and the device-link state (a
:class:`~fraudscore.fingerprint.MemoryLinkState`). Batch scoring with a state
(``Scorer.score_batch(..., state=...)``, ``rescore(..., state_in=..., state_out=...)``,
``fraudscore score --state-in/--state-out``) starts from it and leaves it where
the run stopped, so scoring month 2 from the state saved after month 1 gives
exactly the decisions of scoring months 1 and 2 in one run (tested), without
re-sending month 1. The same state can start an online scorer
(``Scorer(bundle, key, state=state)``).

With a state, velocity features are computed through the store one row at a
time (the online path, in input order) instead of the vectorised replay; the
stateless stages stay vectorised. Labels given to such a run are all recorded
in the store (by application id, with their label time), so labels that arrive
later for earlier applications count from their label time on.

A saved state is a folder: ``velocity.snap`` (the store's own snapshot
format), ``links.snap`` (the link state, same checksummed format) and
``state.json`` (format version, library version, key id and the feature set's
fingerprint, checked on load). Nothing in it is a raw identifier: the store
holds keyed pseudonyms only.

Examples
--------
>>> import tempfile
>>> from fraudscore.scorer import Scorer
>>> from fraudscore.synth import generate
>>> from fraudscore.train import train
>>> key = b"doc-warmstart-secret-01"
>>> data = generate(n_days=4, per_day=150, seed=2)
>>> scorer = Scorer(train(data.columns, data.labels, key=key,
...                       config={"model": {"num_boost_round": 10, "gap": "1h"}}).bundle, key)
>>> half = len(data) // 2
>>> state = ScoringState.new(scorer)
>>> first = scorer.score_batch(data.slice(0, half).columns, state=state)
>>> path = state.save(tempfile.mkdtemp() + "/state")
>>> second = scorer.score_batch(data.slice(half, len(data)).columns, state=ScoringState.load(path, scorer))
>>> whole = scorer.score_batch(data.columns)
>>> bool((np.concatenate([first.score, second.score]) == whole.score).all())
True
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .errors import StoreError
from .fingerprint import DeviceLinker, MemoryLinkState
from .velocity import MemoryStore, OnlineVelocity
from .velocity.snapshot import read_snapshot, write_snapshot

__all__ = ["ScoringState"]

log = logging.getLogger("fraudscore")

_FORMAT = "fraudscore.state"
_FORMAT_VERSION = 1
_META, _VELOCITY, _LINKS = "state.json", "velocity.snap", "links.snap"
_NAN = float("nan")


class ScoringState:
    """Velocity store and device-link state of one scorer, for warm starts (see the module docstring).

    Parameters
    ----------
    scorer : Scorer
        The scorer whose feature set, key and fingerprint scheme the state belongs to.
    store : MemoryStore, optional
        Velocity state (a new one by default).
    link_state : MemoryLinkState, optional
        Device-link state (a new one by default).

    Attributes
    ----------
    rows : int
        Rows scored into this state so far (over all runs).
    """

    def __init__(self, scorer: Any, store: MemoryStore | None = None,
                 link_state: MemoryLinkState | None = None) -> None:
        self.store = store if store is not None else MemoryStore()
        self.velocity = OnlineVelocity(scorer.feature_set, self.store)
        self.link_state = link_state if link_state is not None else MemoryLinkState()
        self.linker = DeviceLinker(self.link_state, model=scorer.bundle.link_model)
        self.key_id = scorer.keys.key_id
        self.features = self.velocity.plan.fingerprint
        self.scheme = (scorer.bundle.fingerprint or {}).get("scheme_version")
        self.rows = 0

    @classmethod
    def new(cls, scorer: Any) -> ScoringState:
        """An empty state for ``scorer``."""
        return cls(scorer)

    @property
    def newest(self) -> int | None:
        """The newest event time in the state (epoch ms), or ``None`` when empty."""
        return self.store.latest_time()

    def check(self, scorer: Any) -> None:
        """Raise :class:`StoreError` unless this state belongs to ``scorer`` (key, features, fingerprint scheme)."""
        if scorer.keys.key_id != self.key_id:
            raise StoreError("the scoring state was built with another key: its pseudonyms and device ids would "
                             "not match (use the key of the run that saved it)")
        if OnlineVelocity(scorer.feature_set).plan.fingerprint != self.features:
            raise StoreError("the scoring state was built for another feature set (a bundle with other velocity "
                             "features); start from an empty state or from one saved with this bundle")
        scheme = (scorer.bundle.fingerprint or {}).get("scheme_version")
        if scheme != self.scheme:
            raise StoreError(f"the scoring state uses device-fingerprint scheme {self.scheme}, the bundle {scheme}")

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the state into folder ``path`` (created; existing state files are replaced atomically)."""
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        self.store.snapshot(str(p / _VELOCITY))
        write_snapshot(p / _LINKS, {"format": "fraudscore.linkstate", "format_version": 2,
                                    "state": self.link_state.to_dict()})
        meta = {"format": _FORMAT, "format_version": _FORMAT_VERSION, "library_version": __version__,
                "key_id": self.key_id, "features": self.features, "fingerprint_scheme": self.scheme,
                "rows": self.rows, "newest_ms": self.newest,
                "saved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        tmp = p / (_META + ".tmp")
        tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        tmp.replace(p / _META)
        log.info("scoring state saved to %s (%d rows, newest event %s)", p, self.rows, self.newest)
        return p

    @classmethod
    def load(cls, path: str | Path, scorer: Any) -> ScoringState:
        """Read a state saved by :meth:`save` and check that it belongs to ``scorer``.

        Raises
        ------
        StoreError
            For a missing, altered or foreign state (another key, feature set or scheme).
        """
        p = Path(path)
        try:
            meta = json.loads((p / _META).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(f"{p} is not a saved scoring state (no {_META})") from None
        except (OSError, ValueError) as exc:
            raise StoreError(f"{p / _META} is unreadable: {exc}") from None
        if not isinstance(meta, Mapping) or meta.get("format") != _FORMAT \
                or meta.get("format_version") != _FORMAT_VERSION:
            raise StoreError(f"{p} is not a scoring state of format version {_FORMAT_VERSION}")
        state = cls(scorer)
        state.key_id, state.features = meta.get("key_id"), meta.get("features")
        state.scheme = meta.get("fingerprint_scheme")
        state.check(scorer)
        state.store.restore(str(p / _VELOCITY))
        links = read_snapshot(p / _LINKS)
        if links.get("format") != "fraudscore.linkstate" or links.get("format_version") != 2 or not isinstance(
                links.get("state"), Mapping):  # version 1: the 0.1 linker's state
            raise StoreError(f"{p / _LINKS} is not a device-link state")
        state.link_state.restore_dict(links["state"])
        state.rows = int(meta.get("rows") or 0)
        log.info("scoring state loaded from %s (%d rows, newest event %s)", p, state.rows, state.newest)
        return state

    # -- scoring ---------------------------------------------------------------------------
    def record_labels(self, index: Any) -> int:
        """Record every confirmed fraud of a :class:`~fraudscore.scorer.LabelIndex` in the store; returns how many."""
        n = 0
        fraud, lts = index.fraud, index.lts
        for app, i in index.pos.items():
            if fraud[i] == 1.0:
                self.velocity.record_label(app, True, int(lts[i]))
                n += 1
        return n

    def velocity_rows(self, rec_cols: Mapping[str, np.ndarray], n: int,
                      links: list[tuple[Any, float]] | None = None) -> np.ndarray:
        """Velocity features of ``n`` batch rows (record columns, in input order) through the store, updating it.

        ``links`` (``(device_id, link_confidence)`` per row) are recorded with each
        application, so a later run's duplicate of it gets the same device link.
        """
        fs = self.velocity.fs
        out = np.empty((n, len(fs.names)), dtype=np.float64)
        if not n:
            return out
        names = ("ts", "application_id", *sorted(fs.fields))
        cols = []
        for name in names:
            col = rec_cols.get(name)
            if col is None:
                cols.append([None] * n)
            elif col.dtype.kind == "f":
                cols.append([None if v != v else v for v in col.tolist()])
            else:
                cols.append(col.tolist())
        ts = [int(t) for t in cols[0]]
        cols[0] = ts
        apply = self.velocity.apply
        for i, values in enumerate(zip(*cols)):
            out[i] = apply(dict(zip(names, values)), None if links is None else links[i]).features
        self.rows += n
        return out
