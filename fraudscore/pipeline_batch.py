"""The batch steps of :class:`~fraudscore.pipeline.FeaturePipeline`: record columns and feature matrices for
validated batches (each stateless step once per distinct value, the linker over every row with a device in
input order, the velocity replay), exactly what :meth:`FeaturePipeline.online
<fraudscore.pipeline.FeaturePipeline.online>` gives row by row.

:class:`BatchSteps` is a mixin of ``FeaturePipeline``: it reads the attributes the pipeline's constructor
sets (schema, identity, fingerprinter, feature set and the static layout).

Examples
--------
>>> from fraudscore.pipeline import FeaturePipeline
>>> issubclass(FeaturePipeline, BatchSteps)
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .batch import ColumnBatch
from .categories import Categories
from .devicecolumns import DeferredLinks, _distinct_objects, device_columns, device_columns_deferred, link_rows
from .errors import EventError
from .eventchecks import has_device_attribute, unusable_device_error
from .fingerprint import DeviceLinker
from .velocity import late_mask
from .velocity.admission import APPLY, DUPLICATE
from .velocity.chunks import chunk_context, concat_columns, replay_with_context

if TYPE_CHECKING:
    from .batchoverlap import ModelOverlap

_NAN = float("nan")

__all__ = ["BatchSteps"]


class BatchSteps:
    """The batch half of :class:`~fraudscore.pipeline.FeaturePipeline` (a mixin; see the module docstring)."""

    def batch(
        self,
        cb: ColumnBatch,
        labels: Mapping[str, np.ndarray] | None = None,
        linker: DeviceLinker | None = None,
        *,
        context: Mapping[str, Any] | None = None,
        overlap: ModelOverlap | None = None,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Record columns and the feature matrix for a validated batch, replayed from empty state.

        The stateless steps run once per distinct value (identifier values, device
        mappings) and the linker sees every row with a device in input order, so the
        result is exactly that of :meth:`online` called row by row.

        Parameters
        ----------
        cb : ColumnBatch
            Validated rows (late rows must already be removed: see :meth:`late_rows`).
        labels : mapping, optional
            ``is_fraud`` (float, NaN unknown) and ``label_ts`` (int64 ms) aligned
            with the rows, for label-delayed features.
        linker : DeviceLinker, optional
            Link state to use; a fresh in-memory one by default.
        context : mapping, optional
            Earlier rows (from :meth:`context_of`): their velocity columns and
            labels are replayed before ``cb`` so windows reach back across chunk
            boundaries; only ``cb``'s rows are returned.
        overlap : ModelOverlap, optional
            Hand the finished rows to the model on a worker thread while the link
            loop goes on (:mod:`fraudscore.batchoverlap`): the same record columns
            and matrix; the model's results wait in ``overlap``.
        """
        linker = linker or self.new_linker()
        X = np.empty((cb.n, len(self.feature_names)), dtype=np.float64)  # both parts written in place: no copies
        k = self._n_static
        if overlap is not None and overlap.wants(cb.n):
            return self._batch_overlapped(cb, labels, linker, context, X, overlap)
        rec_cols, _ = self.batch_static(cb, linker, out=X[:, :k])
        self.replay_rows(rec_cols, cb.n, labels, context, out=X[:, k:])
        return rec_cols, X

    def _batch_overlapped(self, cb: ColumnBatch, labels: Mapping[str, np.ndarray] | None, linker: DeviceLinker,
                          context: Mapping[str, Any] | None, X: np.ndarray,
                          overlap: ModelOverlap) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """:meth:`batch` in row ranges: link a range, replay the velocity of the rows up to its end, hand the
        range's finished rows to the model (a worker thread), link the next range meanwhile.

        A row's velocity depends only on the rows before it (the online path scores rows in arrival order), so
        replaying the prefix ``[0, b)`` gives rows ``[a, b)`` the values one replay of every row gives them; the
        link loop runs range after range with one linker, the same calls in the same order.
        """
        n, k = cb.n, self._n_static
        rec_cols, _, links = self._batch_static(cb, linker, X[:, :k], defer_link=True)
        bounds = overlap.bounds(n) if links is not None else [0, n]
        if len(bounds) == 2:  # one range: the sequential steps, the model handed over at the end
            if links is not None:
                links.link(0, n)
            self.replay_rows(rec_cols, n, labels, context, out=X[:, k:])
            overlap.submit(X, 0, n, last=True)
            return rec_cols, X
        # round 17 (`batchkern`): the features that read no linked column (``device_id``) are final before any row
        # is linked: replayed once over every row here, only the others once per range over its prefix
        split = self._link_split()
        free_fs, free_at, linked_fs, linked_at = split if split is not None else (None, None, self.feature_set, None)
        try:
            if free_fs is not None:
                X[:, k + free_at] = self.replay_rows(rec_cols, n, labels, context, feature_set=free_fs)
        except EventError:  # raise the whole's error (the sequential path's), as below
            links.link(0, n)
            self.replay_rows(rec_cols, n, labels, context, out=X[:, k:])
            raise
        names = [f for f in ("ts", *linked_fs.fields) if f in rec_cols]
        scratch = np.empty((n, len(linked_fs.names)), dtype=np.float64)
        for a, b in zip(bounds[:-1], bounds[1:]):
            assert links is not None
            links.link(a, b)
            cols = {f: rec_cols[f][:b] for f in names}
            lab = None if labels is None else {f: np.asarray(v)[:b] for f, v in labels.items()}
            try:
                self.replay_rows(cols, b, lab, context, out=scratch[:b], feature_set=linked_fs)
            except EventError:  # a prefix may meet another of the replay's checks first: raise the whole's error
                links.link(b, n)
                self.replay_rows(rec_cols, n, labels, context, out=X[:, k:])
                raise
            if linked_at is None:
                X[a:b, k:] = scratch[a:b]
            else:
                X[a:b, k + linked_at] = scratch[a:b]
            overlap.submit(X, a, b, last=b == n)
        return rec_cols, X

    _LINKED_FIELDS = frozenset({"device_id"})  # the record columns the link loop fills

    def _link_split(self) -> tuple[Any, np.ndarray, Any, np.ndarray] | None:
        """``(free, free_at, linked, linked_at)``: the velocity features that read no linked column and those that
        do, each as a :class:`~fraudscore.velocity.FeatureSet` with their positions among the velocity columns;
        ``None`` when one of the two is empty (one replay per range, as before). Built once per pipeline."""
        fs = self.feature_set
        got = getattr(self, "_link_split_memo", None)
        if got is not None and got[0] is fs:
            return got[1]
        linked = [i for i, spec in enumerate(fs.specs) if spec.fields & self._LINKED_FIELDS]
        free = [i for i, spec in enumerate(fs.specs) if not spec.fields & self._LINKED_FIELDS]
        split = None
        if linked and free:
            def sub(idx: list[int]) -> Any:
                return type(fs)([fs.specs[i] for i in idx], allowed_lateness=fs.allowed_lateness)

            split = (sub(free), np.array(free, dtype=np.intp), sub(linked), np.array(linked, dtype=np.intp))
        self._link_split_memo = (fs, split)
        return split

    def batch_admitted(
        self,
        cb: ColumnBatch,
        verdict: np.ndarray,
        src: np.ndarray,
        labels: Mapping[str, np.ndarray] | None = None,
        linker: DeviceLinker | None = None,
        *,
        context: Mapping[str, Any] | None = None,
        earlier: Callable[[Any], tuple[np.ndarray, Any, float]] | None = None,
        state: Any = None,
        overlap: ModelOverlap | None = None,
    ) -> tuple[ColumnBatch, dict[str, np.ndarray], np.ndarray]:
        """:meth:`batch` over admitted rows: applied rows are replayed, duplicates copy what they repeat.

        ``verdict`` and ``src`` come from :meth:`Admission.judge
        <fraudscore.velocity.admission.Admission.judge>` over ``cb``'s rows; refused
        rows (future, late) are dropped. A duplicate gets its own stateless features
        and the velocity features and device link of the applied row it repeats (row
        ``src`` of this batch, or, for one applied before this batch, what
        ``earlier(application_id)`` returns: ``(velocity features, device id, link
        confidence)``), exactly as the online stores return a recorded outcome. With a
        ``state`` (:class:`~fraudscore.warmstart.ScoringState`) the applied rows go
        through it (:meth:`batch_through`). Returns the kept rows (with
        ``ColumnBatch.duplicate`` set), their record columns and feature matrix.
        With an ``overlap`` (:class:`~fraudscore.batchoverlap.ModelOverlap`) the applied
        rows' model runs on a worker thread (:meth:`batch`) and ``overlap`` learns
        where each kept row comes from.
        """
        linker = linker or self.new_linker()
        main = np.flatnonzero(verdict == APPLY)
        dup = np.flatnonzero(verdict == DUPLICATE)

        def rows_of(lab: Mapping[str, np.ndarray] | None, idx: np.ndarray) -> dict[str, np.ndarray] | None:
            return None if lab is None else {k: np.asarray(v)[idx] for k, v in lab.items()}

        cb_main = cb.take(main)
        if state is not None:
            rec, X = self.batch_through(cb_main, state)
        else:
            rec, X = self.batch(cb_main, rows_of(labels, main), linker, context=context, overlap=overlap)
        if dup.size == 0:
            cb_main.duplicate = np.zeros(cb_main.n, dtype=bool)
            return cb_main, rec, X
        cb_dup = cb.take(dup)
        rec_d, static_d = self.batch_static(cb_dup, self.new_linker())  # stateless parts; links replaced below
        k = self._n_static
        X_d = np.empty((dup.size, X.shape[1]), dtype=np.float64)
        X_d[:, :k] = static_d
        dev = rec_d.get("device_id") if self.has_device else None
        for r, (i, s) in enumerate(zip(dup.tolist(), src[dup].tolist())):
            if s >= 0:
                j = int(np.searchsorted(main, s))
                vel, did, conf = X[j, k:], (rec["device_id"][j] if self.has_device else None), X[j, k - 1]
            else:  # applied before this batch (an earlier chunk, or an earlier run of a warm-start state)
                assert earlier is not None
                vel, did, conf = earlier(cb.columns[self.schema.id_field][i])
            X_d[r, k:] = vel
            if self.has_device:
                X_d[r, k - 1] = conf
                dev[r] = did  # type: ignore[index]
        order = np.concatenate([main, dup])
        perm = np.argsort(order, kind="stable")
        names = list(dict.fromkeys([*rec, *rec_d]))
        cat = concat_columns
        rec_all = {name: cat(rec.get(name), rec_d.get(name), dup.size)[perm] if name in rec else
                   cat(np.full(main.size, None, dtype=object), rec_d[name], dup.size)[perm] for name in names}
        X_all = np.vstack([X, X_d])[perm]
        kept = cb.take(order[perm])
        kept.duplicate = np.concatenate([np.zeros(main.size, dtype=bool), np.ones(dup.size, dtype=bool)])[perm]
        if overlap is not None:
            overlap.kept_rows(perm, main.size)
        return kept, rec_all, X_all

    def batch_through(self, cb: ColumnBatch, state: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Record columns and features of a validated batch that continues a :class:`~fraudscore.warmstart.ScoringState`.

        The stateless steps run vectorised; links and velocity go through the
        state's linker and store row by row in input order (the online path),
        leaving the state where the batch ends.
        """
        rec_cols, static = self.batch_static(cb, state.linker)
        X = np.empty((cb.n, len(self.feature_names)), dtype=np.float64)
        X[:, : self._n_static] = static
        links = None
        if self.has_device:  # recorded with each application, for a later run's duplicates
            links = list(zip(rec_cols["device_id"].tolist(), static[:, self._n_static - 1].tolist()))
        X[:, self._n_static :] = state.velocity_rows(rec_cols, cb.n, links)
        return rec_cols, X

    def batch_static(self, cb: ColumnBatch, linker: DeviceLinker | None, *,
                     out: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Record columns and the stateless + link features (no velocity) of a validated batch.

        With ``out`` (a float64 (n, number of static features) array, e.g. a view of the feature matrix) the
        features are written there and ``out`` is returned as the matrix.

        With ``linker=None`` no row is linked: ``device_id`` is all ``None``, the link
        confidence NaN, and the record columns carry ``device_fingerprint`` (the
        :class:`~fraudscore.fingerprint.Fingerprint` of each row, ``None`` without a
        device) for a later link pass (:mod:`fraudscore.distributed`).
        """
        rec_cols, static, _ = self._batch_static(cb, linker, out)
        return rec_cols, static

    def _batch_static(self, cb: ColumnBatch, linker: DeviceLinker | None, out: np.ndarray | None = None, *,
                      defer_link: bool = False) -> tuple[dict[str, np.ndarray], np.ndarray, DeferredLinks | None]:
        """:meth:`batch_static`; with ``defer_link`` (and a linker and a device field) no row is linked yet:
        the returned :class:`~fraudscore.devicecolumns.DeferredLinks` links them (``device_id`` and the link
        confidence fill in place), else ``None``."""
        n = cb.n
        columns = cb.columns
        tf = self.schema.time_field
        ts = np.asarray(columns[tf], dtype=np.int64)
        static = np.empty((n, self._n_static), dtype=np.float64) if out is None else out
        j = 0
        for name in self.numeric_fields:
            static[:, j] = _float_column(columns.get(name), n)
            j += 1
        for name in self.time_fields:
            col = columns.get(name)
            static[:, j] = np.nan if col is None else (ts - np.asarray(col, dtype=np.float64)) / 1000.0
            j += 1
        k = len(self.category_fields)
        static[:, j: j + k] = self.category_codes(columns, n)
        j += k
        pseudo_cols, j = self._identity_batch(columns, ts, n, static, j)
        links = None
        if self.has_device and defer_link and linker is not None:
            dev_cols, links = device_columns_deferred(self.fingerprinter, columns, ts, n, static, j, linker,
                                                      pseudo_cols.get("ip_prefix"))
        else:
            dev_cols = device_columns(self.fingerprinter, columns, ts, n, static, j, linker,
                                      pseudo_cols.get("ip_prefix")) if self.has_device else {}
        rec_cols: dict[str, np.ndarray] = {k: col for k, col in columns.items() if k != "device"}
        rec_cols.update(pseudo_cols)
        rec_cols.update(dev_cols)
        if self.device_id_field is not None:
            rec_cols["device_id"] = pseudo_cols[self.device_id_field]
        for alias, name in self._aliases:
            rec_cols[alias] = ts if name == tf else columns[name]
        return rec_cols, static, links

    def category_codes(self, columns: Mapping[str, np.ndarray], n: int,
                       categories: Categories | None = None) -> np.ndarray:
        """The ``<field>__category`` columns (n, k) of normalised record columns, with ``categories``
        (default: the pipeline's own), exactly as the online path encodes them."""
        cats = self.categories if categories is None else categories
        out = np.full((n, len(self.category_fields)), np.nan)
        for j, name in enumerate(self.category_fields):
            vocab = cats.get(name)
            col = columns.get(name)
            if vocab is not None and col is not None:
                out[:, j] = vocab.encode(col)
        return out

    def screen(self, cb: ColumnBatch) -> ColumnBatch:
        """Remove the rows the online path would refuse after validation: device mappings without a known attribute.

        Their errors join ``cb.errors`` (in row order); the returned batch holds the rest.
        """
        if not self.has_device or not cb.n or "device" not in cb.columns:
            return cb
        codes, firsts = _distinct_objects(cb.columns["device"].tolist())  # each mapping object checked once
        unusable = np.fromiter((bool(d) and (type(d) is dict or isinstance(d, Mapping)) and not has_device_attribute(d)
                                for d in firsts), dtype=bool, count=len(firsts))
        if not unusable.any():
            return cb
        bad = np.zeros(cb.n, dtype=bool)
        has = codes >= 0
        bad[has] = unusable[codes[has]]
        errors = cb.errors + [unusable_device_error(int(r)) for r in cb.rows[bad]]
        out = cb.take(np.flatnonzero(~bad))
        out.errors = sorted(errors, key=lambda e: e.row or 0)
        return out

    def _identity_batch(self, columns: Mapping[str, np.ndarray], ts: np.ndarray, n: int, static: np.ndarray,
                        j: int) -> tuple[dict[str, np.ndarray], int]:
        """Pseudonyms and identity features, column-wise (:meth:`Identity.process_columns`).

        Equal, row by row, to :meth:`Identity.process`: each distinct value is described
        once (vectorised for the common forms, by the scalar describer otherwise).
        """
        pseudo_cols, feats = self.identity.process_columns(columns, ts, n)
        k = len(self.identity.feature_names)
        static[:, j : j + k] = feats
        return pseudo_cols, j + k

    @staticmethod
    def link_rows(fps: np.ndarray, ts: np.ndarray, rows: np.ndarray, ip_prefix: np.ndarray | None,
                  linker: DeviceLinker, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Link ``fps`` seen at ``rows`` through ``linker`` (:func:`~fraudscore.devicecolumns.link_rows`)."""
        return link_rows(fps, ts, rows, ip_prefix, linker, n)

    # -- velocity across chunks --------------------------------------------------------
    def replay_rows(self, rec_cols: Mapping[str, np.ndarray], n: int, labels: Mapping[str, np.ndarray] | None,
                    context: Mapping[str, Any] | None = None, *, out: np.ndarray | None = None,
                    feature_set: Any = None) -> np.ndarray:
        """Velocity features of ``n`` rows after the ``context`` rows (into ``out`` when given).

        ``feature_set``: a part of the pipeline's (default: all of it). See
        :func:`~fraudscore.velocity.chunks.replay_with_context`.
        """
        fs = self.feature_set if feature_set is None else feature_set
        if out is None:
            return replay_with_context(fs, rec_cols, n, labels, context)
        return replay_with_context(fs, rec_cols, n, labels, context, out=out)

    def context_of(self, rec_cols: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray] | None,
                   previous: Mapping[str, Any] | None = None, *, newest_ts: int | None = None) -> dict[str, Any]:
        """The rows later chunks still need (:func:`~fraudscore.velocity.chunks.chunk_context`)."""
        return chunk_context(self.feature_set, rec_cols, labels, previous, newest_ts=newest_ts)

    def late_rows(self, ts: np.ndarray) -> np.ndarray:
        """Boolean mask of rows later than the allowed lateness (rejected in both paths)."""
        return late_mask(self.feature_set, np.asarray(ts, dtype=np.int64))


def _float_column(col: np.ndarray | None, n: int) -> np.ndarray:
    """A numeric record column as float64 (NaN = missing), as the online path reads it."""
    if col is None:
        return np.full(n, np.nan)
    if col.dtype.kind == "f":
        return col.astype(np.float64, copy=False)
    return np.array([_NAN if (v is None or (isinstance(v, float) and math.isnan(v))) else float(v)
                     for v in col.tolist()], dtype=np.float64)
