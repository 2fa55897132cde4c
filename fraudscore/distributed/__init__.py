"""Point-in-time replay of links, velocity and scoring on a Dask cluster (extra ``dask``).

:func:`score_dask` rescores a partitioned Parquet dataset (or a DataFrame) on a
``dask.distributed`` cluster and writes one Parquet file per input partition; the
decisions are those of one :meth:`~fraudscore.scorer.Scorer.score_batch` call over
the whole history, bit for bit. :func:`features_dask` computes the point-in-time
feature matrix the same way, for :func:`fraudscore.train` (``client=``).

How (see ``docs/scaling.md``): rows keep their global input row number; each
stateful step is a hash shuffle by the key its state is kept under -- device
links by *hardware family* (every candidate block of a fingerprint lies in its
family), label-delayed features by application id, each velocity key group by
its entity key -- and every bucket is replayed in the order one process would
see its rows (event time, then input row; or input row in arrival order), then
joined back by row. Rules, model and policy are row-wise and run where each
input partition lives. Every stage of an input partition runs on the worker that
read it, and each bucket's replay on a worker chosen by the rows it holds
(:class:`_Place`): only shuffle pieces travel.

Examples
--------
>>> import fraudscore.distributed as fd
>>> sorted(n for n in fd.__all__ if not n.startswith("_"))
['connect', 'features_dask', 'score_dask']
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._compat import optional_import, require_pandas
from ..errors import FraudscoreError, InputError
from ..keys import Keys
from . import tasks as T
from .partition import assign, bucket_of, split

__all__ = ["score_dask", "features_dask", "connect"]

log = logging.getLogger("fraudscore")


def _distributed() -> Any:
    return optional_import("distributed", extra="dask")


def connect(address: str, *, timeout: float = 30.0) -> tuple[Any, Any]:
    """A ``distributed.Client`` for ``address``, and the cluster it started (``None`` unless ``local:N``).

    ``address`` is a scheduler address (``tcp://host:8786``, ``tls://...``) or
    ``local:N``: a local cluster of ``N`` worker processes with one thread each,
    closed with the client (``client.close(); cluster.close()``).

    Examples
    --------
    >>> connect("local:0")
    Traceback (most recent call last):
    ...
    fraudscore.errors.FraudscoreError: --dask local:N needs N >= 1 worker processes, got 'local:0'
    """
    if address.startswith("local:"):
        n = address[6:]
        if not n.isdigit() or int(n) < 1:
            raise FraudscoreError(f"--dask local:N needs N >= 1 worker processes, got {address!r}")
        distributed = _distributed()
        import dask

        # No dashboard, so nothing would read the workers' statistical profiler: it samples every
        # thread's stack every 10 ms, about a fifth of an idle worker's CPU (measured 0.045 -> 0.035 s/s).
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            cluster = distributed.LocalCluster(n_workers=int(n), processes=True, threads_per_worker=1,
                                               dashboard_address=None)
        return distributed.Client(cluster), cluster
    distributed = _distributed()
    try:
        return distributed.Client(address, timeout=timeout), None
    except (OSError, TimeoutError) as exc:
        raise FraudscoreError(f"cannot reach the Dask scheduler at {address}: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else 'no answer'}") from None


# -- inputs ---------------------------------------------------------------------------------------
def _bundle_files(bundle: Any, keys: Keys) -> dict[str, bytes]:
    """The bundle's files exactly as stored (a directory or zip), or as a Bundle object writes them (signed)."""
    from ..bundle import Bundle
    from ..bundle_files import open_reader

    if isinstance(bundle, (str, Path)):
        Bundle.load(bundle, key=keys)  # verify here first: a bad bundle is one clear error, not a task failure
        reader = open_reader(Path(bundle))
        try:
            return {name: reader.read(name) or b"" for name in sorted(reader.names())}
        finally:
            reader.close()
    if isinstance(bundle, Bundle):
        return bundle.to_files(keys)
    raise FraudscoreError(f"expected a Scorer, a Bundle or a bundle path, got {type(bundle).__name__}")


def _job(place: _Place, bundle: Any, key: Any, buckets: int | None, by_time: bool, **settings: Any
         ) -> tuple[T.Job, Any]:
    from ..scorer import Scorer

    if isinstance(bundle, Scorer):
        keys = bundle.keys
        files = _bundle_files(bundle.bundle, keys)
    else:
        keys = Keys.resolve(key)
        files = _bundle_files(bundle, keys)
    h = hashlib.sha256(keys.key_id.encode())
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    if buckets is not None and (isinstance(buckets, bool) or not isinstance(buckets, int) or buckets < 1):
        raise FraudscoreError(f"buckets must be an integer >= 1, got {buckets!r}")
    job = T.Job(files, keys, h.hexdigest()[:24], buckets or 1, by_time, **settings)
    job.link_buckets = buckets or 1
    return job, T.scorer_of(job)  # verifies the bundle and the key here, before anything is sent


#: Rows a velocity, admission or label bucket holds at most by default (about 1 GB of pieces).
BUCKET_ROWS = 2_000_000


def _set_buckets(job: T.Job, place: _Place, buckets: int | None) -> None:
    """The shuffles' bucket counts, once the input's size is known (``buckets`` overrides both).

    Velocity, admission and labels: 16 buckets per cluster thread, more when a bucket
    would hold over :data:`BUCKET_ROWS` rows (a velocity bucket's replay costs a fixed
    ~0.5 ms per key group, and more than its rows where a busy entity's windows are
    full: finer buckets keep such a bucket a small part of a worker's share). Links: 32
    per thread, because hardware families are few and lumpy (the largest holds several
    percent of the rows) and a link bucket costs little besides its rows.
    """
    if buckets is not None:
        job.buckets = job.link_buckets = buckets
        return
    t = max(place.threads_total, 1)
    job.buckets = max(16 * t, math.ceil(place.total_rows / BUCKET_ROWS))
    job.link_buckets = 32 * t


def _partitions(client: Any, source: Any, scorer: Any, npartitions: int | None, place: _Place
                ) -> list[tuple[Any, int]]:
    """(partition, first input row) for each input partition: Parquet files (or row groups), or slices.

    Also places each partition on a worker (:meth:`_Place.set_owners`, by rows);
    in-memory slices are scattered straight to their worker.
    """
    if isinstance(source, (str, Path)):
        from ..tables import TableFile

        table = TableFile(source, scorer.schema)  # checks the files and the required columns
        if table.kind == "csv":
            raise InputError(f"{source}: distributed scoring reads Parquet (a file or a folder of files); convert "
                             "the CSV file first, e.g. with pandas' to_parquet")
        import pyarrow.parquet as pq

        parts: list[tuple[Any, int]] = []
        sizes: list[int] = []
        offset = 0
        files = table.files
        for f in files:
            meta = pq.ParquetFile(f).metadata
            if len(files) == 1 and meta.num_row_groups > 1:
                for g in range(meta.num_row_groups):
                    parts.append((("parquet", str(f), (g,)), offset))
                    sizes.append(meta.row_group(g).num_rows)
                    offset += sizes[-1]
            else:
                parts.append((("parquet", str(f), None), offset))
                sizes.append(meta.num_rows)
                offset += sizes[-1]
        place.set_owners(sizes)
        return parts
    pd = require_pandas()
    if hasattr(source, "column_names") and hasattr(source, "slice"):
        n = source.num_rows
        take = source.slice
    else:
        if not type(source).__module__.startswith("pandas"):
            source = pd.DataFrame(source) if isinstance(source, Mapping) else pd.DataFrame(list(source))
        source = source.reset_index(drop=True)
        n = len(source)

        def take(a: int, m: int) -> Any:
            return source.iloc[a : a + m]
    k = npartitions or max(2 * place.threads_total, 1)
    size = max(math.ceil(n / k), 1)
    chunks = [(take(a, size), a) for a in range(0, n, size)] or [(take(0, 0), 0)]
    place.set_owners([len(c) for c, _ in chunks])
    futs: list[Any] = [None] * len(chunks)
    for w in sorted(set(place.owner)):
        mine = [i for i, o in enumerate(place.owner) if o == w]
        for i, f in zip(mine, client.scatter([chunks[i][0] for i in mine], workers=[w], hash=False)):
            futs[i] = f
    return [(f, a) for f, (_, a) in zip(futs, chunks)]


class _Place:
    """Where each task runs: an input partition's stages on one worker, each bucket's replay on one worker.

    Everything a partition holds between stages (its rows, records, static
    features: megabytes of Python objects) stays where it was read; only the
    shuffle pieces travel. Partitions go to workers by rows and buckets by the rows
    each holds (:func:`~fraudscore.distributed.partition.assign`), so the busiest
    worker carries its share and no more. Left to itself the scheduler moves a
    partition to wherever its small shuffle results are, and its work stealing moves
    more (a partition is pickled and sent each time).
    """

    def __init__(self, client: Any) -> None:
        nt = client.nthreads()
        self.client = client
        self.workers = sorted(nt)
        self.threads = [max(int(nt[w]), 1) for w in self.workers]
        self.threads_total = sum(self.threads)
        self.owner: list[str] = []
        self.total_rows = 0

    def at(self, worker: str) -> dict[str, Any]:
        """Keyword arguments of ``submit`` that keep a task on ``worker``."""
        return {"workers": [worker], "allow_other_workers": False}

    def set_owners(self, rows: list[int]) -> None:
        self.owner = self.spread(rows)
        self.total_rows = int(sum(rows))

    def spread(self, weights: Any) -> list[str]:
        """A worker for each item, by weight (rows), in proportion to the workers' threads."""
        if not self.workers:
            raise FraudscoreError("the Dask cluster has no workers")
        return [self.workers[b] for b in assign(weights, self.threads).tolist()]

    def bucket_owner(self, buckets: int) -> list[str]:
        """Buckets in turn over the workers' threads (shuffles too cheap to weigh first)."""
        return self.spread(np.ones(buckets))

    def scatter_buckets(self, data: list[Any]) -> list[Any]:
        """Scatter one item per bucket to the bucket's worker (:meth:`bucket_owner`)."""
        bw = self.bucket_owner(len(data))
        out: list[Any] = [None] * len(data)
        for w in sorted(set(bw)):
            mine = [b for b, o in enumerate(bw) if o == w]
            for b, f in zip(mine, self.client.scatter([data[b] for b in mine], workers=[w], hash=False)):
                out[b] = f
        return out

    def submit(self, worker: str, fn: Any, *args: Any) -> Any:
        return self.client.submit(fn, *args, pure=False, **self.at(worker))

    def gather(self, futures: list[Any]) -> list[Any]:
        """``client.gather``, failing clearly when a worker the run placed work on leaves (its tasks may
        run nowhere else, so the run would otherwise wait for ever)."""
        if not type(self.client).__module__.startswith("distributed"):
            return self.client.gather(futures)
        distributed = _distributed()
        while True:
            try:
                distributed.wait(futures, timeout=2.0)
                return self.client.gather(futures)
            except (TimeoutError, distributed.TimeoutError):
                gone = set(self.workers) - set(self.client.nthreads())
                if gone:
                    self.client.cancel(futures)
                    raise FraudscoreError(f"Dask worker {min(gone)} left during the run; its tasks are "
                                          "bound to it (partitions stay where they are read): run again") from None


# -- the graph ----------------------------------------------------------------------------------
def _shuffle(place: _Place, pieces: list[Any], reducer: Any, args: tuple[Any, ...], buckets: int,
             extra: list[Any] | None = None, weigh: bool = False) -> list[list[Any]]:
    """All-to-all: ``pieces[i]`` (a list of ``buckets`` pieces) -> ``reducer(*args, [extra[b]], *pieces_b)``
    per bucket, whose results for input partition ``i`` come back as ``out[i]`` (lists of per-bucket
    results, one list per worker: pass them to the join through :func:`~tasks.call_flat`).

    Piece ``i`` and its results live on partition ``i``'s worker. Buckets go to
    workers by the rows they hold when ``weigh`` (a round trip to count them: for the
    replays that cost), else in turn (:meth:`_Place.bucket_owner`, where ``extra``
    was scattered). One message per (partition, worker) pair each way carries all
    the buckets that worker replays: a task per (partition, bucket) pair would cost
    the scheduler and the workers' event loops more than the replays of small buckets.
    """
    n, sub, owner = len(pieces), place.submit, place.owner
    if weigh:
        counts = place.gather([sub(owner[i], T.bucket_rows, pieces[i]) for i in range(n)])
        bw = place.spread(np.sum(counts, axis=0) if counts else np.zeros(buckets))
    else:
        bw = place.bucket_owner(buckets)
    mine = {w: [b for b in range(buckets) if bw[b] == w] for w in sorted(set(bw))}
    red: dict[int, Any] = {}
    for w, bs in mine.items():
        sent = [sub(owner[i], T.take_buckets, pieces[i], bs) for i in range(n)]
        for b in bs:
            head = (*args, extra[b]) if extra is not None else args
            red[b] = sub(w, T.reduce_bucket, reducer, len(head), b, *head, *sent)
    return [[sub(w, T.collect, i, *[red[b] for b in bs]) for w, bs in mine.items()] for i in range(n)]


def _replay_graph(place: _Place, job: T.Job, job_f: Any, scorer: Any, parts: list[tuple[Any, int]],
                  labels: Any) -> list[Any]:
    """Futures of the partitions with their features (admitted, linked, labelled, replayed); see the module."""
    sub, owner = place.submit, place.owner
    P, n = job.buckets, len(parts)
    prep = [sub(owner[i], T.prepare, job_f, src, i, off) for i, (src, off) in enumerate(parts)]
    if job.by_time:
        prep, dups = _admit_by_time(place, job, job_f, scorer, prep, [off for _, off in parts])
    else:
        prep, dups = _admit(place, job, job_f, scorer, prep)
    if scorer.pipeline.has_device:
        pieces = [sub(owner[i], T.link_pieces, job_f, p) for i, p in enumerate(prep)]
        back = _shuffle(place, pieces, T.link_bucket, (job_f, n), job.link_buckets, weigh=True)
        prep = [sub(owner[i], T.call_flat, T.join_links, 2, job_f, prep[i], *back[i]) for i in range(n)]
    if labels is not None and scorer.feature_set.has_labels:
        index = labels if hasattr(labels, "pos") else scorer.label_index(labels)
        ids = np.array(list(index.pos.keys()) + [None], dtype=object)[:-1]
        j = np.fromiter(index.pos.values(), dtype=np.int64, count=len(ids))
        lab = {"id": ids, "is_fraud": index.fraud[j], "label_ts": index.lts[j]}
        lab_f = place.scatter_buckets(split(lab, bucket_of([ids], P), P))
        pieces = [sub(owner[i], T.id_pieces, job_f, p, scorer.schema.id_field) for i, p in enumerate(prep)]
        back = _shuffle(place, pieces, T.label_bucket, (n,), P, extra=lab_f)
        prep = [sub(owner[i], T.call_flat, T.join_labels, 1, prep[i], *back[i]) for i in range(n)]
    pieces = [sub(owner[i], T.velocity_pieces, job_f, p) for i, p in enumerate(prep)]
    back = _shuffle(place, pieces, T.velocity_bucket, (job_f, n), P, weigh=True)
    done = [sub(owner[i], T.call_flat, T.assemble, 2, job_f, prep[i], *back[i]) for i in range(n)]
    if dups:  # duplicates copy the features of the applied rows they repeat, wherever those are
        for i, needs in dups.items():
            extracts = [sub(owner[j], T.extract, job_f, done[j], rows) for j, rows in needs.items()]
            done[i] = sub(owner[i], T.fill_duplicates, job_f, done[i], *extracts)
    return done


def _admit_by_time(place: _Place, job: T.Job, job_f: Any, scorer: Any, prep: list[Any], offsets: list[int]
                   ) -> tuple[list[Any], dict[int, dict[int, np.ndarray]]]:
    """The admission rule in event-time order: a shuffle by application id (see :func:`_admit`)."""
    n, limit, sub, owner = len(prep), scorer.clock_limit(), place.submit, place.owner
    pieces = [sub(owner[i], T.admission_pieces, job_f, p, limit) for i, p in enumerate(prep)]
    back = _shuffle(place, pieces, T.admission_bucket, (job_f, n), job.buckets)
    out = [sub(owner[i], T.call_flat, T.admit_by_time, 3, job_f, prep[i], limit, *back[i]) for i in range(n)]
    srcs = place.gather([sub(owner[i], T.duplicate_sources, p) for i, p in enumerate(out)])
    starts = np.asarray(offsets, dtype=np.int64)
    dups = {}
    for i, rows in enumerate(srcs):
        if rows.size:
            owner_of = np.searchsorted(starts, rows, side="right") - 1
            dups[i] = {int(j): rows[owner_of == j] for j in np.unique(owner_of)}
    return out, dups


def _admit(place: _Place, job: T.Job, job_f: Any, scorer: Any, prep: list[Any]
           ) -> tuple[list[Any], dict[int, dict[int, np.ndarray]]]:
    """The admission rule over all rows in processing order (future, late, duplicate application ids).

    In arrival order the verdicts depend on every earlier row (the watermark, earlier
    ids), so they are judged here, on the client, from three small columns per row
    (in event-time order :func:`_admit_by_time` shuffles by id instead); the partitions
    then drop the refused rows and mark the duplicates. Returns the partitions and,
    per partition with duplicates, the input rows to copy from each other partition.
    """
    from .partition import processing_order
    from ..velocity.admission import APPLY, DUPLICATE

    cols = place.gather([place.submit(place.owner[i], T.admission_columns, job_f, p) for i, p in enumerate(prep)])
    sizes = [len(c["row"]) for c in cols]
    rows = np.concatenate([c["row"] for c in cols]) if cols else np.zeros(0, np.int64)
    if rows.size == 0:
        return prep, {}
    ts = np.concatenate([c["ts"] for c in cols])
    ids = np.concatenate([c["id"] for c in cols])
    owner = np.repeat(np.arange(len(cols)), sizes)
    order = processing_order(ts, rows, job.by_time)
    verdict_o, src_o = scorer.admission().judge(ts[order], ids[order], scorer.clock_limit())
    if (verdict_o == APPLY).all():
        return prep, {}
    verdict = np.empty_like(verdict_o)
    verdict[order] = verdict_o
    src_row = np.full(rows.size, -1, dtype=np.int64)
    src_pos = np.full(rows.size, -1, dtype=np.int64)
    has = src_o >= 0
    src_pos[order[has]] = order[src_o[has]]
    src_row[src_pos >= 0] = rows[src_pos[src_pos >= 0]]
    out, dups = [], {}
    start = 0
    for i, (p, m) in enumerate(zip(prep, sizes)):
        sl = slice(start, start + m)
        start += m
        out.append(place.submit(place.owner[i], T.admit, job_f, p, verdict[sl], src_row[sl]))
        d = np.flatnonzero(verdict[sl] == DUPLICATE)
        if d.size:
            srcs = src_pos[sl][d]
            dups[i] = {int(j): np.unique(rows[srcs[owner[srcs] == j]]) for j in np.unique(owner[srcs])}
    return out, dups


def _labels_arg(labels: Any, scorer: Any) -> Any:
    if labels is None:
        return None
    from ..rescore import _label_index

    return _label_index(labels, scorer)


def score_dask(client: Any, bundle: Any, source: Any, out: str | Path | None = None, *, key: Any = None,
               labels: Any = None, sort_by_time: bool = True, buckets: int | None = None,
               npartitions: int | None = None, with_features: bool = False, explain: bool | str | None = None,
               errors_out: str | Path | None = None) -> Any:
    """Rescore a history on a Dask cluster; the decisions of one ``score_batch`` call, bit for bit.

    Parameters
    ----------
    client : distributed.Client
        A connected client. Workers must read ``source`` and write ``out`` at the
        same paths (a shared or network file system, or one machine).
    bundle : Scorer, Bundle or path
        What to score with (a path or Bundle is loaded with ``key``). The bundle's
        files and the key are sent to every worker (use a ``tls://`` scheduler
        address off one machine: the key is a secret).
    source : path, DataFrame, Arrow Table or mapping of columns
        A Parquet file or a folder of Parquet files (one partition per file, in
        name order; a single file by row group), or an in-memory table cut into
        ``npartitions`` slices. Row numbers count over the whole input.
    out : path, optional
        Output folder: ``part-<i>.parquet`` holds input partition ``i``'s scored
        rows in input order (``row`` = input row number, then the columns of
        :meth:`DecisionBatch.to_pandas`). Earlier ``part-*.parquet`` files there
        are removed. Without it the results come back in ``summary.results``.
    labels : mapping, DataFrame or path, optional
        Known labels, joined by application id (label-delayed features).
    sort_by_time : bool, default True
        Replay in event-time order (then input row), as ``fraudscore score``
        does; ``False``: input order is arrival order, late rows are rejected.
    buckets : int, optional
        Hash buckets per shuffle (default: 32 per cluster thread for the link pass, so that
        the lumpy hardware families, each replayed whole by one task, balance out; 16 per
        thread, or one per :data:`BUCKET_ROWS` rows, for the others). Buckets are placed on
        workers by the rows they hold.
    npartitions : int, optional
        Slices of an in-memory ``source`` (default: twice the cluster's threads).
    with_features, explain :
        As in :func:`fraudscore.rescore.rescore` and :meth:`Scorer.score_batch`
        (``explain`` as a row mask is not supported here).
    errors_out : path, optional
        Side CSV of rejected rows (``row``, ``field``, ``error``), written only
        when a row is rejected.

    Returns
    -------
    fraudscore.rescore.RescoreSummary
        ``chunks`` counts the input partitions.
    """
    _distributed()
    from ..rescore import RescoreSummary, _ErrorSink

    t0 = time.perf_counter()
    place = _Place(client)
    job, scorer = _job(place, bundle, key, buckets, sort_by_time, with_features=with_features, explain=explain)
    if explain is not None and not isinstance(explain, (bool, str)):
        raise FraudscoreError("score_dask: explain must be True, False or 'auto' (a row mask is not supported)")
    job.has_labels = labels is not None
    lab = _labels_arg(labels, scorer)
    parts = _partitions(client, source, scorer, npartitions, place)
    _set_buckets(job, place, buckets)
    out_dir = None
    if out is not None:
        out_dir = Path(out)
        if out_dir.suffix.lower() in (".csv", ".parquet", ".pq"):
            raise FraudscoreError(f"{out}: distributed scoring writes a folder of Parquet files; give a folder name")
        out_dir.mkdir(parents=True, exist_ok=True)
        for old in out_dir.glob("part-*.parquet"):
            old.unlink()
    job_f = client.scatter(job, broadcast=True)
    parts_f = _replay_graph(place, job, job_f, scorer, parts, lab)
    done = [place.submit(place.owner[i], T.finish, job_f, p, None if out_dir is None else str(out_dir))
            for i, p in enumerate(parts_f)]
    summaries = place.gather(done)
    summary = RescoreSummary(out=None if out_dir is None else str(out_dir), errors_out=None)
    summary.chunks = len(parts)
    errs = _ErrorSink(errors_out, summary)
    table = sorted((e for s in summaries for e in s["errors"]), key=lambda e: e["row"] or 0)
    if table:
        errs.add([_Err(e) for e in table])  # type: ignore[misc]
    errs.close()
    for s in summaries:
        summary.rows_in += s["rows_in"]
        summary.rows_scored += s["rows_scored"]
        for a, c in s["actions"].items():
            summary.actions[a] = summary.actions.get(a, 0) + c
    summary.rows_rejected = len(table)
    if out_dir is None:
        pd = require_pandas()
        summary.results = pd.concat([s["frame"] for s in summaries], ignore_index=True)
    summary.seconds = time.perf_counter() - t0
    summary.peak_rss_mib = _peak_rss_mib()
    summary.rows_per_s = summary.rows_in / summary.seconds if summary.seconds > 0 else math.inf
    if summary.rows_rejected:
        log.info("%d of %d rows rejected", summary.rows_rejected, summary.rows_in)
    return summary


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # this process (the client), KiB on Linux


class _Err:
    """A rejected row as the error sink reads it (``row``, ``field``, text)."""

    def __init__(self, e: Mapping[str, Any]) -> None:
        self.row, self.field, self._text = e["row"], e["field"], e["error"]

    def __str__(self) -> str:
        return self._text


def features_dask(client: Any, bundle: Any, source: Any, *, key: Any = None, labels: Any = None,
                  sort_by_time: bool = True, buckets: int | None = None, npartitions: int | None = None,
                  keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """The point-in-time feature matrix of a history, computed on a Dask cluster.

    Equal, row by row, to :meth:`Scorer.features_batch` over the whole history
    (in event-time order when ``sort_by_time``). Returns ``rows`` (input row
    numbers), ``ts``, ``X`` and the record ``columns`` named in ``keep`` (plus the
    schema's id and time fields), in processing order, and ``errors`` (the
    rejected rows) and ``n_input``. Parameters as in :func:`score_dask`.
    """
    _distributed()
    place = _Place(client)
    job, scorer = _job(place, bundle, key, buckets, sort_by_time)
    job.has_labels = labels is not None
    lab = _labels_arg(labels, scorer)
    parts = _partitions(client, source, scorer, npartitions, place)
    _set_buckets(job, place, buckets)
    job_f = client.scatter(job, broadcast=True)
    parts_f = _replay_graph(place, job, job_f, scorer, parts, lab)
    names = tuple(dict.fromkeys((scorer.schema.id_field, scorer.schema.time_field, *keep)))
    got = place.gather([place.submit(place.owner[i], T.feature_rows, job_f, p, names)
                        for i, p in enumerate(parts_f)])
    rows = np.concatenate([g["rows"] for g in got])
    ts = np.concatenate([g["ts"] for g in got])
    order = np.lexsort((rows, ts)) if sort_by_time else np.argsort(rows, kind="stable")
    X = np.concatenate([g["X"] for g in got])[order] if rows.size else np.empty((0, len(scorer.pipeline.feature_names)))
    columns = {k: np.concatenate([g["columns"][k] for g in got])[order] for k in names if k in got[0]["columns"]}
    errors = sorted((e for g in got for e in g["errors"]), key=lambda e: e.row or 0)
    return {"rows": rows[order], "ts": ts[order], "X": X, "columns": columns, "errors": errors,
            "n_input": sum(g["n_input"] for g in got), "feature_names": scorer.pipeline.feature_names}
