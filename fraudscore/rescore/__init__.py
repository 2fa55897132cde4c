"""Rescoring a history in chunks, with bounded memory, and comparing two bundles on it.

:func:`rescore` scores a history (a CSV or Parquet path, a DataFrame or an
Arrow Table) chunk by chunk with one scorer, exactly as one
:meth:`~fraudscore.scorer.Scorer.score_batch` call over the whole history would:

* one :class:`~fraudscore.fingerprint.DeviceLinker` serves the whole run;
* the rows later windows can still reach (the last ``FeatureSet.horizon_ms`` plus
  the allowed lateness of event time; everything for all-time windows) are kept
  as a *context tail* and replayed before the next chunk, whose outputs alone are kept;
* admission (events too far ahead of the scorer's clock, late events, repeated
  application ids) is judged as one ``score_batch`` call would, with the watermark
  and the recently applied application ids carried from chunk to chunk.

Results are written incrementally (Parquet with ``pyarrow.parquet.ParquetWriter``,
CSV by appending); rejected rows go to a side CSV with their input row number,
field and message (never the value). :func:`diff_bundles` rescores the same
history with two bundles and reports how many decisions change, which way and why.

Examples
--------
>>> from fraudscore.synth import generate
>>> from fraudscore.train import train
>>> data = generate(n_days=2, per_day=150, seed=1)
>>> scorer = Scorer(train(data.columns, data.labels, key=b"doc-rescore-secret-01",
...                       config={"model": {"num_boost_round": 20, "gap": "1h"}}).bundle, b"doc-rescore-secret-01")
>>> summary = rescore(data.columns, scorer, chunk_rows=100)
>>> summary.rows_scored + summary.rows_rejected == len(data), summary.chunks
(True, 3)
>>> whole = scorer.score_batch(data.columns)
>>> bool((summary.results["score"].to_numpy() == whole.score).all())
True
"""

from __future__ import annotations

import logging
import math
import resource
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._compat import progress as _progress
from .._compat import require_pandas, require_pyarrow
from ..batch import ColumnBatch, to_columns
from ..decision import ACTIONS, DecisionBatch
from ..errors import EventError, FraudscoreError
from ..keys import Keys
from ..pipeline import late_event_error, paused_gc
from ..scorer import LabelIndex, Scorer, load
from ..tables import TableFile, read_table, times_ms
from ..velocity.admission import FUTURE, LATE
from ..warmstart import ScoringState

__all__ = ["rescore", "diff_bundles", "ChunkedScorer", "RescoreSummary", "DiffReport", "iter_chunks",
           "add_command"]

log = logging.getLogger("fraudscore")



# -- input ----------------------------------------------------------------------------------
def _frame_slices(source: Any, chunk_rows: int) -> Iterator[Any]:
    mod = type(source).__module__
    if mod.startswith("pandas") and hasattr(source, "iloc"):
        for a in range(0, len(source), chunk_rows):
            yield source.iloc[a : a + chunk_rows]
    elif mod.startswith("pyarrow") and hasattr(source, "slice"):
        for a in range(0, source.num_rows, chunk_rows):
            yield source.slice(a, chunk_rows)
    elif isinstance(source, Mapping):
        n = len(next(iter(source.values()))) if source else 0
        for a in range(0, n, chunk_rows):
            yield {k: v[a : a + chunk_rows] for k, v in source.items()}
    else:
        rows = source if isinstance(source, list) else list(source)
        for a in range(0, len(rows), chunk_rows):
            yield rows[a : a + chunk_rows]


def iter_chunks(source: Any, chunk_rows: int, schema: Any = None) -> Iterator[Any]:
    """Yield consecutive chunks of at most ``chunk_rows`` rows of ``source``.

    ``source`` is a ``.csv`` / ``.parquet`` path or a folder of Parquet files (read
    lazily: memory stays bounded, see :class:`fraudscore.tables.TableFile`), a
    DataFrame, an Arrow Table, a mapping of columns or a list of events. CSV text
    fields (and ``device.*`` columns) are read as text, so every chunk types them alike.
    """
    if chunk_rows < 1:
        raise FraudscoreError(f"chunk_rows must be >= 1, got {chunk_rows}")
    if isinstance(source, (str, Path)):
        for chunk, _ in TableFile(source, schema).chunks(chunk_rows):
            yield chunk
        return
    yield from _frame_slices(source, chunk_rows)


class _Source:
    """A history to score in chunks: the chunks with their input row numbers, and rows lost while reading."""

    def __init__(self, source: Any, chunk_rows: int, schema: Any, sort_by_time: bool) -> None:
        if chunk_rows < 1:
            raise FraudscoreError(f"chunk_rows must be >= 1, got {chunk_rows}")
        self.chunk_rows = chunk_rows
        self.read_errors: list[EventError] = []
        self.table: TableFile | None = None
        self.source = source
        self.order: np.ndarray | None = None
        if isinstance(source, (str, Path)):
            self.table = TableFile(source, schema, sort_by_time=sort_by_time)
            self.read_errors = list(self.table.read_errors)
            self.n_rows: int | None = self.table.n_rows
            return
        self.n_rows = _n_rows(source)
        if sort_by_time:
            if not isinstance(source, (Mapping, list)) and not hasattr(source, "column_names") \
                    and not type(source).__module__.startswith("pandas"):
                source = self.source = list(source)
            t = times_ms(_time_values(source, schema.time_field))
            ok = ~np.isnan(t)
            if not np.all(np.diff(t[ok]) >= 0):
                idx = np.where(ok, np.arange(t.size), 0)
                np.maximum.accumulate(idx, out=idx)
                filled = t[idx]
                filled[np.isnan(filled)] = -np.inf
                self.order = np.argsort(filled, kind="stable")

    def chunks(self) -> Iterator[tuple[Any, np.ndarray | None]]:
        if self.table is not None:
            yield from self.table.chunks(self.chunk_rows)
            return
        if self.order is None:
            for chunk in _frame_slices(self.source, self.chunk_rows):
                yield chunk, None
            return
        order = self.order
        for a in range(0, len(order), self.chunk_rows):
            idx = order[a : a + self.chunk_rows]
            yield _take(self.source, idx), idx


def _time_values(source: Any, tf: str) -> Any:
    if type(source).__module__.startswith("pandas"):
        return source[tf].to_numpy() if tf in source.columns else np.full(len(source), None, dtype=object)
    if hasattr(source, "column_names"):
        if tf not in source.column_names:
            return np.full(source.num_rows, None, dtype=object)
        col = source.column(tf)
        return np.array(col.to_pylist() + [None], dtype=object)[:-1]
    if isinstance(source, Mapping):
        v = source.get(tf)
        n = len(next(iter(source.values()))) if source else 0
        return np.full(n, None, dtype=object) if v is None else np.asarray(v) if isinstance(v, np.ndarray) \
            else np.array(list(v) + [None], dtype=object)[:-1]
    return np.array([r.get(tf) if isinstance(r, Mapping) else None for r in source] + [None], dtype=object)[:-1]


def _take(source: Any, idx: np.ndarray) -> Any:
    if type(source).__module__.startswith("pandas"):
        return source.iloc[idx]
    if hasattr(source, "take") and hasattr(source, "column_names"):
        return source.take(idx)
    if isinstance(source, Mapping):
        return {k: (v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx.tolist()]) for k, v in source.items()}
    return [source[i] for i in idx.tolist()]


def _n_rows(source: Any) -> int | None:
    if isinstance(source, (str, Path)):
        return TableFile(source).n_rows
    if hasattr(source, "num_rows"):
        return int(source.num_rows)
    if isinstance(source, Mapping):
        return len(next(iter(source.values()))) if source else 0
    try:
        return len(source)
    except TypeError:
        return None


def _label_index(labels: Any, scorer: Scorer | None = None) -> LabelIndex:
    """A :class:`~fraudscore.scorer.LabelIndex` from a table, a mapping or a CSV/Parquet path."""
    if isinstance(labels, LabelIndex):
        return labels
    id_field = "application_id" if scorer is None else scorer.schema.id_field
    if isinstance(labels, (str, Path)):
        labels = read_table(labels, text_columns=(id_field, "application_id"))
    if scorer is None:
        return LabelIndex(labels)
    return scorer.label_index(labels)


# -- chunked scoring ------------------------------------------------------------------------
class ChunkedScorer:
    """Score consecutive chunks of one history as a single :meth:`Scorer.score_batch` call would.

    Parameters
    ----------
    scorer : Scorer
        Supplies schema, pipeline, rules, model and policy (its live state is not used).
    labels : mapping, DataFrame or path, optional
        Known labels (the schema's id field, ``is_fraud``, ``label_time`` or ``label_ts``).
    state : ScoringState, optional
        Continue from this state (warm start) and leave it updated; velocity then
        goes through its store row by row (:mod:`fraudscore.warmstart`).
    """

    def __init__(self, scorer: Scorer, labels: Any = None, state: ScoringState | None = None) -> None:
        self.scorer = scorer
        self.pipeline = scorer.pipeline
        self.labels = None if labels is None else _label_index(labels, scorer)
        self.state = state
        self.context: dict[str, Any] | None = None
        self.offset = 0
        self.admission = scorer.admission(state)
        self.limit = scorer.clock_limit()  # the clock is read once per run, as score_batch reads it once per call
        if state is None:
            self.linker = self.pipeline.new_linker()
        else:
            state.check(scorer)
            self.linker = state.linker
            if self.labels is not None:
                state.record_labels(self.labels)

    def features(self, chunk: Any, rows: np.ndarray | None = None) -> tuple[ColumnBatch, dict[str, np.ndarray],
                                                                         np.ndarray]:
        """Validate and compute the features of the next chunk.

        Row numbers count from the run's start, or are ``rows`` (the input row
        number of each row of the chunk) when given.
        """
        schema = self.scorer.schema
        cb = to_columns(chunk, schema)
        if rows is None:
            cb.rows = cb.rows + self.offset
            errors = [e.at_row(int(e.row or 0) + self.offset) for e in cb.errors]
        else:
            rows = np.asarray(rows, dtype=np.int64)
            cb.rows = rows[cb.rows]
            errors = [e.at_row(int(rows[int(e.row or 0)])) for e in cb.errors]
        cb.errors = errors
        cb = self.pipeline.screen(cb)
        errors = cb.errors
        cb.index = None
        self.offset += cb.n_input
        tf, idf = schema.time_field, schema.id_field
        verdict, src = (self.admission.judge(cb.columns[tf], cb.columns[idf], self.limit, keep=self.state is None)
                        if cb.n else (np.zeros(0, np.int8), np.zeros(0, np.int64)))
        refused = (verdict == FUTURE) | (verdict == LATE)
        if refused.any():
            for i in np.flatnonzero(refused).tolist():
                row = int(cb.rows[i])
                errors.append(self.scorer._future_error(row) if verdict[i] == FUTURE else
                              late_event_error(tf, self.scorer.feature_set.allowed_lateness_ms, row))
        errors.sort(key=lambda e: e.row or 0)
        lab = self.labels.align(cb.columns[idf]) if (self.labels is not None and cb.n) else None
        kept, rec, X = self.pipeline.batch_admitted(cb, verdict, src, lab, self.linker, context=self.context,
                                                    earlier=self._earlier, state=self.state)
        kept.errors = errors
        if self.state is not None:  # the store records each application: later duplicates find it there
            return kept, rec, X
        applied = np.flatnonzero(~kept.duplicate) if kept.duplicate is not None else np.arange(kept.n)
        if applied.size:
            ids = kept.columns[idf]
            dev = rec.get("device_id")
            for j in applied.tolist():  # what a later chunk's duplicate of this row copies
                self.admission.remember(ids[j], (X, dev, j))
            rec_a = {k: v[applied] for k, v in rec.items()}
            lab_a = None if lab is None else self.labels.align(ids[applied])  # type: ignore[union-attr]
            self.context = self.pipeline.context_of(rec_a, lab_a, self.context, newest_ts=self.admission.watermark)
        return kept, rec, X

    def _earlier(self, app: Any) -> tuple[np.ndarray, Any, float]:
        """What a duplicate of an application applied in an earlier chunk (or run) copies."""
        key = str(app)
        if key in self.admission.found:  # recorded by a warm-start state's store
            rec = self.admission.found[key]
            link = rec.link or (None, float("nan"))
            return rec.features, link[0], link[1]
        X, dev, j = self.admission.recent[key][1]
        k = self.pipeline._n_static
        return X[j, k:], (None if dev is None else dev[j]), X[j, k - 1]

    def score(self, chunk: Any, *, return_features: bool = False, explain: bool | str | None = None,
              rows: np.ndarray | None = None) -> DecisionBatch:
        """Score the next chunk (``rows``: its input row numbers, see :meth:`features`)."""
        with paused_gc():
            cb, rec, X = self.features(chunk, rows)
            return self.scorer.decide_batch(cb, rec, X, return_features=return_features, explain=explain)


def _as_scorer(s: Any, key: Any) -> Scorer:
    if isinstance(s, Scorer):
        return s
    if isinstance(s, (str, Path)):
        return load(str(s), key=key)
    from ..bundle import Bundle

    if isinstance(s, Bundle):
        return Scorer(s, key)
    raise FraudscoreError(f"expected a Scorer, a Bundle or a bundle path, got {type(s).__name__}")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


@dataclass
class RescoreSummary:
    """What :func:`rescore` did.

    ``results`` holds the decisions as a DataFrame when no ``out`` path was given;
    ``errors`` the rejected rows (``row``, ``field``, ``error``) when no
    ``errors_out`` path was given; ``errors_out`` is the side file actually
    written (``None`` when no row was rejected); ``first_error`` describes the
    first rejected row.
    """

    rows_in: int = 0
    rows_scored: int = 0
    rows_rejected: int = 0
    chunks: int = 0
    actions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))
    seconds: float = 0.0
    rows_per_s: float = 0.0
    peak_rss_mib: float = 0.0
    out: str | None = None
    errors_out: str | None = None
    first_error: str = ""
    results: Any = field(default=None, repr=False)
    errors: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form without the results table."""
        d = asdict(self)
        d.pop("results")
        d.pop("errors")
        return d

    def render(self) -> str:
        """A short human-readable summary."""
        return (f"scored {self.rows_scored:,} rows ({self.rows_rejected:,} rejected) in {self.chunks} chunks, "
                f"{self.seconds:.1f}s, {self.rows_per_s:,.0f} rows/s, peak RSS {self.peak_rss_mib:,.0f} MiB\n"
                "actions: " + ", ".join(f"{k} {v:,}" for k, v in self.actions.items()))


class _Sink:
    """Incremental CSV / Parquet writer (or an in-memory list of frames)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self.frames: list[Any] = []
        self.writer: Any = None
        self.first = True
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.suffix not in (".parquet", ".pq", ".csv"):
                raise FraudscoreError(f"{self.path}: unknown file type {self.path.suffix!r}; use .csv or .parquet")

    def write(self, df: Any) -> None:
        if self.path is None:
            self.frames.append(df)
        elif self.path.suffix == ".csv":
            df.to_csv(self.path, mode="w" if self.first else "a", header=self.first, index=False)
        else:
            pa = require_pyarrow()
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False)
            if self.writer is None:
                self.writer = pq.ParquetWriter(self.path, table.schema)
            self.writer.write_table(table.cast(self.writer.schema))
        self.first = False

    def close(self, empty: Any) -> Any:
        if self.writer is not None:
            self.writer.close()
        elif self.path is not None and self.first:
            self.write(empty)
            if self.writer is not None:
                self.writer.close()
        if self.path is None:
            pd = require_pandas()
            return pd.concat(self.frames, ignore_index=True) if self.frames else empty
        return None


def _frame(batch: DecisionBatch, with_features: bool) -> Any:
    return batch.to_pandas(with_features=with_features).reset_index()


def rescore(source: Any, scorer_or_bundle_path: Any, out: str | Path | None = None, *, chunk_rows: int = 100_000,
            labels: Any = None, with_features: bool = False, errors_out: str | Path | None = None,
            progress: bool = False, key: Keys | bytes | str | None = None, sort_by_time: bool = False,
            state_in: str | Path | ScoringState | None = None,
            state_out: str | Path | None = None) -> RescoreSummary:
    """Rescore a history chunk by chunk; the same decisions as one ``score_batch`` over all of it.

    Parameters
    ----------
    source : path, DataFrame, Arrow Table, mapping of columns or list of events
        The history in arrival order (``.csv`` / ``.parquet`` files and folders of
        Parquet files are read lazily, see :class:`fraudscore.tables.TableFile`).
    scorer_or_bundle_path : Scorer, Bundle or path
        What to score with (a path or Bundle is loaded with ``key``).
    out : path, optional
        ``.parquet`` or ``.csv`` results file, written incrementally; when omitted
        the results are returned in ``summary.results`` (a DataFrame).
    chunk_rows : int, default 100_000
        Rows per chunk: memory grows with it (plus the context tail, see ``docs/rescoring.md``).
    labels : mapping, DataFrame or path, optional
        Known labels for label-delayed features.
    with_features : bool, default False
        Add the feature columns to the results.
    errors_out : path, optional
        Side CSV of rejected rows (``row``, ``field``, ``error``), written only when
        a row is rejected (a stale file at that path is removed); in
        ``summary.errors`` when omitted.
    progress : bool, default False
        Show a progress bar (rows, rows/s, ETA).
    key : Keys, bytes or str, optional
        The secret, when a bundle has to be loaded (``FRAUDSCORE_KEY`` when omitted).
    sort_by_time : bool, default False
        Score the rows in event-time order (a stable sort), as an offline history
        should be: the online lateness rule then never rejects a row for its place
        in the file. Results are written in that order; their ``row`` column is the
        input row number.
    state_in : path or ScoringState, optional
        Continue from a saved scoring state (warm start, :mod:`fraudscore.warmstart`).
    state_out : path, optional
        Save the state where the run ends, for the next run's ``state_in``.

    Returns
    -------
    RescoreSummary
    """
    require_pandas()  # the extra this path needs, named in the error when missing
    scorer = _as_scorer(scorer_or_bundle_path, key)
    state = None
    if isinstance(state_in, ScoringState):
        state = state_in
    elif state_in is not None:
        state = ScoringState.load(state_in, scorer)
    elif state_out is not None:
        state = ScoringState.new(scorer)
    src = _Source(source, chunk_rows, scorer.schema, sort_by_time)
    chunked = ChunkedScorer(scorer, labels, state=state)
    summary = RescoreSummary(out=None if out is None else str(out), errors_out=None)
    sink = _Sink(out)
    errors = _ErrorSink(errors_out, summary)
    errors.add(src.read_errors)
    summary.rows_rejected += len(src.read_errors)
    empty = None
    t0 = time.perf_counter()
    with _progress(progress) as bar:
        task = bar.add_task("rescoring", total=src.n_rows)
        bar.advance(task, len(src.read_errors))
        for chunk, rows in src.chunks():
            batch = chunked.score(chunk, return_features=with_features, rows=rows)
            summary.chunks += 1
            summary.rows_scored += len(batch)
            summary.rows_rejected += len(batch.errors)
            for a, c in batch.action_counts().items():
                summary.actions[a] = summary.actions.get(a, 0) + c
            df = _frame(batch, with_features)
            if len(batch):
                sink.write(df)
            elif empty is None:
                empty = df
            errors.add(batch.errors)
            bar.advance(task, len(batch) + len(batch.errors))
    summary.rows_in = chunked.offset + len(src.read_errors)
    if empty is None:
        empty = _frame(chunked.scorer.decide_batch(*_empty_features(chunked), return_features=with_features),
                       with_features)
    summary.results = sink.close(empty.iloc[:0])
    errors.close()
    if summary.results is not None and type(source).__module__.startswith("pandas"):
        summary.results.index = source.index[summary.results["row"].to_numpy()]
    if state is not None and state_out is not None:
        state.save(state_out)
    summary.seconds = time.perf_counter() - t0
    summary.rows_per_s = summary.rows_in / summary.seconds if summary.seconds > 0 else math.inf
    summary.peak_rss_mib = _peak_rss_mib()
    if summary.rows_rejected:
        log.info("%d of %d rows rejected", summary.rows_rejected, summary.rows_in)
    return summary


class _ErrorSink:
    """Rejected rows: appended to a side CSV (created at the first one) or kept in the summary."""

    COLUMNS = ("row", "field", "error")

    def __init__(self, path: str | Path | None, summary: RescoreSummary) -> None:
        self.path = None if path is None else Path(path)
        self.summary = summary
        self.started = False
        if self.path is not None and self.path.is_file():
            self.path.unlink()  # a stale file from an earlier run must not be mistaken for this run's errors

    def add(self, errs: list[EventError]) -> None:
        if not errs:
            return
        table = [{"row": e.row, "field": e.field, "error": str(e)} for e in errs]
        if self.path is None:
            self.summary.errors.extend(table)
            return
        pd = require_pandas()
        if not self.started:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(table, columns=list(self.COLUMNS)).to_csv(self.path, mode="a" if self.started else "w",
                                                               header=not self.started, index=False)
        self.started = True
        self.summary.errors_out = str(self.path)
        if not self.summary.first_error:
            self.summary.first_error = str(errs[0])

    def close(self) -> None:
        if self.path is None and self.summary.errors and not self.summary.first_error:
            self.summary.first_error = str(self.summary.errors[0]["error"])


def _empty_features(chunked: ChunkedScorer) -> tuple[ColumnBatch, dict[str, np.ndarray], np.ndarray]:
    pipe = chunked.pipeline
    cb = to_columns([], chunked.scorer.schema)
    rec, static = pipe.batch_static(cb, pipe.new_linker())
    return cb, rec, np.empty((0, len(pipe.feature_names)))


from .diff import DiffReport, diff_bundles  # noqa: E402  (the diff mode builds on the above)
from .cli import add_command  # noqa: E402
