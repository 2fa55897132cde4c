"""The work each Dask task does: plain functions of plain data, no Dask import.

A partitioned replay runs in stages (see ``docs/scaling.md``):

1. :func:`prepare` (per input partition): validate, screen, pseudonymise,
   fingerprint; the stateless features. No link, no velocity yet.
2. **admission** (:mod:`fraudscore.velocity.admission`): :func:`admission_pieces`
   and :func:`admission_bucket` judge repeated application ids per id bucket in
   event-time order (in arrival order the client judges, see the driver);
   :func:`admit` drops future and late rows and marks the duplicates.
3. the **link pass**: :func:`link_pieces` sends each applied row with a device to
   the bucket of its *hardware family* -- every candidate block, exact-index entry
   and value count a link decision reads is keyed under that family -- and
   :func:`link_bucket` replays each bucket in processing order through a fresh
   linker; :func:`join_links` puts the device ids back by row.
4. optional **labels** (label-delayed features): :func:`id_pieces` and
   :func:`label_bucket` join the labels table by application id.
5. the **velocity pass**, every key group in one shuffle: :func:`velocity_pieces`
   sends each applied row to the bucket of each group's entity key and
   :func:`velocity_bucket` replays the groups over the bucket in processing order;
   :func:`assemble` joins the values back by row.
6. duplicates: :func:`extract` and :func:`fill_duplicates` copy the features and
   device link of the applied rows they repeat.
7. :func:`finish` (per input partition): rules, model and policy (row-wise), and
   the partition's output.

Each shuffle sends one message per (partition, worker) pair each way
(:func:`take_buckets`, :func:`reduce_bucket`, :func:`collect`, :func:`call_flat`);
the driver binds every task to its worker (see :mod:`fraudscore.distributed`).

The functions rebuild the :class:`~fraudscore.scorer.Scorer` from the bundle's
files and the key once per worker process (:func:`scorer_of`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..batch import ColumnBatch, to_columns
from ..bundle import Bundle
from ..bundle_files import Reader
from ..keys import Keys
from ..pipeline import LINK_FEATURE, late_event_error, paused_gc
from ..velocity import FeatureSet, replay
from ..velocity.plan import Group, Plan
from .partition import bucket_of, concat_pieces, key_hashes, key_load, processing_order, split

__all__ = ["Job", "Part", "scorer_of", "prepare", "admission_columns", "admit", "admission_pieces",
           "admission_bucket", "admit_by_time", "duplicate_sources", "link_pieces", "link_bucket",
           "join_links", "id_pieces", "label_bucket", "join_labels", "velocity_pieces", "velocity_bucket",
           "assemble", "extract", "fill_duplicates", "finish", "feature_rows", "group_fields", "phase_cpu",
           "bucket_rows", "take_buckets", "reduce_bucket", "collect", "call_flat"]

_NEVER = np.iinfo(np.int64).max


@dataclass
class Job:
    """What every task needs: the bundle's files, the key, and the run's settings."""

    files: dict[str, bytes]
    keys: Keys
    token: str
    buckets: int
    by_time: bool = True
    with_features: bool = False
    explain: Any = None
    has_labels: bool = False
    link_buckets: int = 0  # buckets of the link pass (0: ``buckets``)


@dataclass
class Part:
    """One input partition while it moves through the stages (it stays on its worker)."""

    index: int
    cb: ColumnBatch
    rec: dict[str, np.ndarray]
    static: np.ndarray
    labels: dict[str, np.ndarray] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __sizeof__(self) -> int:
        """Bytes held, roughly (what Dask's memory accounting and placement read; object cells count 64)."""
        arrays = [*self.cb.columns.values(), self.cb.rows, *self.rec.values(), self.static,
                  *(self.labels or {}).values(), *(v for v in self.info.values() if isinstance(v, np.ndarray))]
        return 256 + sum(a.nbytes + (64 * a.size if a.dtype.kind == "O" else 0)
                         for a in arrays if isinstance(a, np.ndarray))


class _FilesReader(Reader):
    """The bundle's files as sent to the worker (the usual size limits and signature check apply)."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        super().__init__()
        self.files = files

    def names(self) -> set[str]:
        return set(self.files)

    def read(self, name: str, limit: int | None = None) -> bytes | None:
        from ..bundle_files import _too_big
        from ..limits import MAX_BUNDLE_FILE_BYTES

        data = self.files.get(name)
        if data is None:
            return None
        limit = MAX_BUNDLE_FILE_BYTES if limit is None else min(limit, MAX_BUNDLE_FILE_BYTES)
        if len(data) > limit:
            raise _too_big(name, limit)
        self._count(name, len(data))
        return data


#: CPU seconds (of the task's thread) and calls per task function in this process: ``{name: [cpu_s, calls]}``.
#: Read with ``client.run(fraudscore.distributed.tasks.phase_cpu)`` to see where a run's CPU goes
#: (a diagnostic: with several threads per worker an update can be lost).
PHASE_CPU: dict[str, list[float]] = {}


def phase_cpu(reset: bool = False) -> dict[str, list[float]]:
    """A copy of :data:`PHASE_CPU` (emptied after copying when ``reset``)."""
    out = {k: list(v) for k, v in PHASE_CPU.items()}
    if reset:
        PHASE_CPU.clear()
    return out


def _no_gc(fn: Any) -> Any:
    """Run a task with the cyclic collector paused (cycle-free bulk allocations, as in a single process),
    charging its CPU time to :data:`PHASE_CPU`."""
    import functools
    from time import thread_time

    name = fn.__name__

    @functools.wraps(fn)
    def run(*args: Any, **kw: Any) -> Any:
        c0 = thread_time()
        try:
            with paused_gc():
                return fn(*args, **kw)
        finally:
            acc = PHASE_CPU.setdefault(name, [0.0, 0])
            acc[0] += thread_time() - c0
            acc[1] += 1

    return run


def _pickle_by_fields(cls: Any) -> None:
    """Pickle instances of the frozen, slotted dataclass ``cls`` as ``cls(*fields)``.

    Such a dataclass pickles through Python-level ``__getstate__`` / ``__setstate__``
    that call :func:`dataclasses.fields` per object; a fingerprint with its canonical
    attributes took about 30 us to pickle and unpickle, most of what the link pass's
    pieces cost to ship between workers. ``(cls, attrgetter(...)(obj))`` is a C-level
    tuple and one constructor call: about 17 us, and nothing for pieces that stay on
    their worker. Registered with :mod:`copyreg` in the processes that import this
    module (the workers running these tasks); the objects that come back are equal,
    field by field, and pickles made without it still load.
    """
    import copyreg
    from dataclasses import fields
    from operator import attrgetter

    names = [f.name for f in fields(cls)]
    if not all(f.init for f in fields(cls)):  # pragma: no cover - every field is a constructor argument today
        return
    get = attrgetter(*names)
    copyreg.pickle(cls, lambda obj: (cls, get(obj)))


def _register_pickling() -> None:
    from ..fingerprint.canonical import CanonicalDevice
    from ..fingerprint.sections import Fingerprint

    _pickle_by_fields(Fingerprint)
    _pickle_by_fields(CanonicalDevice)


_register_pickling()

_SCORERS: dict[str, Any] = {}
_LOCK = threading.Lock()


def scorer_of(job: Job) -> Any:
    """The job's :class:`~fraudscore.scorer.Scorer`, built once per process (the bundle is verified)."""
    from ..scorer import Scorer

    with _LOCK:
        s = _SCORERS.get(job.token)
        if s is None:
            bundle = Bundle._from_reader(_FilesReader(job.files), job.keys, fast=True, allow_unsigned=False)
            s = _SCORERS[job.token] = Scorer(bundle, job.keys)
        return s


# -- 1. prepare ------------------------------------------------------------------------------------
def _read(source: Any) -> Any:
    """An input partition: ``("parquet", path, row groups or None)`` or an in-memory table."""
    if isinstance(source, tuple) and source and source[0] == "parquet":
        import pyarrow.parquet as pq

        _, path, groups = source
        pf = pq.ParquetFile(path)
        return pf.read() if groups is None else pf.read_row_groups(list(groups))
    return source


@_no_gc
def prepare(job: Job, source: Any, index: int, offset: int) -> Part:
    """Validate and screen one input partition and compute everything that needs no shared state.

    Row numbers are global: ``offset`` is the partition's first input row.
    """
    scorer = scorer_of(job)
    pipe = scorer.pipeline
    cb = to_columns(_read(source), scorer.schema)
    cb.rows = cb.rows + offset
    cb.errors = [e.at_row(int(e.row or 0) + offset) for e in cb.errors]
    cb.index = None
    cb = pipe.screen(cb)
    rec, static = pipe.batch_static(cb, None)
    return Part(index, cb, rec, static, info={"n_input": cb.n_input})


def _ts(part: Part) -> np.ndarray:
    return np.asarray(part.rec["ts"], dtype=np.int64)


@_no_gc
def admission_columns(job: Job, part: Part) -> dict[str, np.ndarray]:
    """What the admission rule reads of each valid row: input row, event time, application id."""
    scorer = scorer_of(job)
    return {"row": part.cb.rows, "ts": _ts(part), "id": np.asarray(part.cb.columns[scorer.schema.id_field],
                                                                    dtype=object)}


@_no_gc
def admission_pieces(job: Job, part: Part, limit: int | None) -> list[dict[str, np.ndarray]]:
    """Rows with an application id and not in the future, cut by the id's bucket (time-order replays)."""
    cols = admission_columns.__wrapped__(job, part)
    keys = np.array([None if a is None or (isinstance(a, float) and a != a) or str(a) == "" else str(a)
                     for a in cols["id"].tolist()] + [None], dtype=object)[:-1]
    bucket = bucket_of([keys], job.buckets)
    if limit is not None:
        bucket[cols["ts"] > limit] = -1
    piece = {"part": np.full(part.cb.n, part.index, dtype=np.int64), "idx": np.arange(part.cb.n),
             "row": cols["row"], "ts": cols["ts"], "id": keys}
    return split(piece, bucket, job.buckets)


@_no_gc
def admission_bucket(job: Job, n_parts: int, *pieces: Mapping[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Duplicate verdicts of one id bucket, in time order; results cut by partition.

    In event-time order the watermark before a row is never ahead of its own time,
    so whether a row repeats a live application depends on its id's rows alone.
    """
    rows = concat_pieces(pieces)
    if not rows or not len(rows["idx"]):
        return [{} for _ in range(n_parts)]
    order = processing_order(rows["ts"], rows["row"], True)
    rows = {k: v[order] for k, v in rows.items()}
    verdict, src = scorer_of(job).admission().judge(rows["ts"], rows["id"], None)
    src_row = np.where(src >= 0, rows["row"][np.maximum(src, 0)], -1)
    return split({"idx": rows["idx"], "verdict": verdict, "src_row": src_row}, rows["part"], n_parts)


@_no_gc
def admit_by_time(job: Job, part: Part, limit: int | None, *results: Mapping[str, np.ndarray]) -> Part:
    """:func:`admit` with the verdicts of the id buckets (time order) and the clock bound."""
    from ..velocity.admission import FUTURE

    verdict = np.zeros(part.cb.n, dtype=np.int8)
    src_row = np.full(part.cb.n, -1, dtype=np.int64)
    if limit is not None:
        verdict[_ts(part) > limit] = FUTURE
    for r in results:
        if r and len(r["idx"]):
            verdict[r["idx"]] = r["verdict"]
            src_row[r["idx"]] = r["src_row"]
    return admit.__wrapped__(job, part, verdict, src_row)


def duplicate_sources(part: Part) -> np.ndarray:
    """Input rows of the applied rows this partition's duplicates repeat."""
    src = part.info.get("src_row")
    return np.zeros(0, np.int64) if src is None else np.unique(src[src >= 0])


@_no_gc
def admit(job: Job, part: Part, verdict: np.ndarray, src_row: np.ndarray) -> Part:
    """Apply the admission verdicts of the partition's rows (see :mod:`fraudscore.velocity.admission`).

    Future and late rows are rejected (their errors join the partition's); a
    duplicate stays, takes no part in the link and velocity passes, and later
    copies the features of the applied row it repeats (input row ``src_row``).
    """
    from ..velocity.admission import APPLY, DUPLICATE, FUTURE

    scorer = scorer_of(job)
    refused = (verdict != APPLY) & (verdict != DUPLICATE)
    cb, rec, static = part.cb, part.rec, part.static
    errors = list(cb.errors)
    if refused.any():
        tf = scorer.schema.time_field
        for i in np.flatnonzero(refused).tolist():
            row = int(cb.rows[i])
            errors.append(scorer._future_error(row) if verdict[i] == FUTURE else
                          late_event_error(tf, scorer.feature_set.allowed_lateness_ms, row))
        keep = np.flatnonzero(~refused)
        cb = cb.take(keep)
        rec = {k: v[keep] for k, v in rec.items()}
        static = static[keep]
        verdict, src_row = verdict[keep], src_row[keep]
    errors.sort(key=lambda e: e.row or 0)
    cb.errors = errors
    dup = verdict == DUPLICATE
    cb.duplicate = dup
    info = {**part.info, "src_row": np.where(dup, src_row, -1)}
    if dup.any() and "device_fingerprint" in rec:
        fps = rec["device_fingerprint"].copy()
        fps[dup] = None  # a duplicate links nothing: it repeats an applied row's link
        rec = {**rec, "device_fingerprint": fps}
    return Part(part.index, cb, rec, static, part.labels, info)


#: Weight of a velocity bucket's squared rows per entity key against its rows, when buckets are
#: placed (a least-squares fit of replay CPU per bucket on 100,000 synthetic rows gave 0.04 to 0.06).
KEY_LOAD_WEIGHT = 0.05


def bucket_rows(pieces: Sequence[Any]) -> np.ndarray:
    """What placing buckets weighs, per bucket: its rows (every key group's, for a velocity piece), plus
    :data:`KEY_LOAD_WEIGHT` times the squared rows per entity key for a velocity piece."""
    def rows(p: Any) -> float:
        if not p:
            return 0.0
        if "idx" in p:
            return float(len(p["idx"]))
        return sum(len(g["idx"]) for k, g in p.items() if k != "load") + float(p.get("load", 0.0))

    return np.array([rows(p) for p in pieces], dtype=np.float64)


def take_buckets(pieces: Sequence[Any], buckets: Sequence[int]) -> dict[int, Any]:
    """The pieces of the buckets one worker replays (one message from this partition to that worker)."""
    return {b: pieces[b] for b in buckets}


def reduce_bucket(reducer: Any, n_head: int, bucket: int, *args: Any) -> Any:
    """``reducer(*head, *pieces)`` for one bucket: ``args`` is the head (``n_head`` items) and then each
    partition's :func:`take_buckets` result for this bucket's worker."""
    return reducer(*args[:n_head], *[sent[bucket] for sent in args[n_head:]])


def collect(index: int, *results: Sequence[Any]) -> list[Any]:
    """What one worker's buckets found for input partition ``index`` (one message back to it)."""
    return [r[index] for r in results]


def call_flat(fn: Any, n_head: int, *args: Any) -> Any:
    """``fn(*head, *results)`` where each argument after the head is a :func:`collect` list."""
    return fn(*args[:n_head], *[r for got in args[n_head:] for r in got])


def _applied(part: Part) -> np.ndarray:
    dup = part.cb.duplicate
    return np.ones(part.cb.n, dtype=bool) if dup is None else ~dup


# -- 2. links ------------------------------------------------------------------------------------
@_no_gc
def link_pieces(job: Job, part: Part) -> list[dict[str, np.ndarray]]:
    """Rows with a fingerprint, cut by the bucket of their hardware family."""
    fps = part.rec.get("device_fingerprint")
    nb = job.link_buckets or job.buckets
    if fps is None:
        return [{} for _ in range(nb)]
    has = np.flatnonzero(np.array([fp is not None for fp in fps.tolist()], dtype=bool))
    fam = np.array([fps[i].family for i in has.tolist()] + [None], dtype=object)[:-1]
    ip = part.rec.get("ip_prefix")
    piece = {"part": np.full(len(has), part.index, dtype=np.int64), "idx": has, "row": part.cb.rows[has],
             "ts": _ts(part)[has], "fp": fps[has],
             "ip": ip[has] if ip is not None else np.full(len(has), None, dtype=object)}
    return split(piece, bucket_of([fam], nb), nb)


@_no_gc
def link_bucket(job: Job, n_parts: int, *pieces: Mapping[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Link one bucket's fingerprints in processing order through a fresh linker; results cut by partition."""
    from ..pipeline import FeaturePipeline

    scorer = scorer_of(job)
    rows = concat_pieces(pieces)
    if not rows or not len(rows["idx"]):
        return [{} for _ in range(n_parts)]
    order = processing_order(rows["ts"], rows["row"], job.by_time)
    rows = {k: v[order] for k, v in rows.items()}
    m = len(order)
    device_id, conf = FeaturePipeline.link_rows(rows["fp"], rows["ts"], np.arange(m), rows["ip"],
                                                scorer.pipeline.new_linker(), m)
    out = {"part": rows["part"], "idx": rows["idx"], "device_id": device_id, "conf": conf}
    return split(out, rows["part"], n_parts)


@_no_gc
def join_links(job: Job, part: Part, *results: Mapping[str, np.ndarray]) -> Part:
    """Put the link results back into the partition's rows (``device_id`` and the link confidence)."""
    scorer = scorer_of(job)
    pipe = scorer.pipeline
    rec = dict(part.rec)
    fps = rec.pop("device_fingerprint", None)
    if fps is None:
        return Part(part.index, part.cb, rec, part.static, part.labels, part.info)
    static = part.static.copy()
    col = pipe.feature_names.index(LINK_FEATURE)
    device_id = np.full(part.cb.n, None, dtype=object)
    for r in results:
        if r:
            device_id[r["idx"]] = r["device_id"]
            static[r["idx"], col] = r["conf"]
    rec["device_id"] = device_id
    return Part(part.index, part.cb, rec, static, part.labels, part.info)


# -- 3. labels -----------------------------------------------------------------------------------
@_no_gc
def id_pieces(job: Job, part: Part, id_field: str) -> list[dict[str, np.ndarray]]:
    """Each row's application id (as text, as :class:`~fraudscore.scorer.LabelIndex` matches it) by id bucket."""
    ids = np.array([str(a) for a in part.cb.columns[id_field].tolist()] + [None], dtype=object)[:-1]
    piece = {"part": np.full(part.cb.n, part.index, dtype=np.int64), "idx": np.arange(part.cb.n), "id": ids}
    return split(piece, bucket_of([ids], job.buckets), job.buckets)


@_no_gc
def label_bucket(n_parts: int, labels: Mapping[str, np.ndarray], *pieces: Mapping[str, np.ndarray]
                 ) -> list[dict[str, np.ndarray]]:
    """Join one id bucket's rows with its labels (one label per id); results cut by partition."""
    rows = concat_pieces(pieces)
    if not rows:
        return [{} for _ in range(n_parts)]
    pos = {a: i for i, a in enumerate(labels["id"].tolist())} if labels else {}
    j = np.array([pos.get(a, -1) for a in rows["id"].tolist()], dtype=np.int64)
    ok = j >= 0
    fraud = np.full(len(j), np.nan)
    lts = np.full(len(j), _NEVER, dtype=np.int64)
    if labels:
        fraud[ok] = labels["is_fraud"][j[ok]]
        lts[ok] = labels["label_ts"][j[ok]]
    return split({"part": rows["part"], "idx": rows["idx"], "is_fraud": fraud, "label_ts": lts}, rows["part"],
                 n_parts)


@_no_gc
def join_labels(part: Part, *results: Mapping[str, np.ndarray]) -> Part:
    """The partition's rows with their labels (``is_fraud`` NaN and a label time that never comes when unknown)."""
    fraud = np.full(part.cb.n, np.nan)
    lts = np.full(part.cb.n, _NEVER, dtype=np.int64)
    for r in results:
        if r:
            fraud[r["idx"]] = r["is_fraud"]
            lts[r["idx"]] = r["label_ts"]
    return Part(part.index, part.cb, part.rec, part.static, {"is_fraud": fraud, "label_ts": lts}, part.info)


# -- 4. velocity ---------------------------------------------------------------------------------
def group_fields(g: Group) -> list[str]:
    """The record fields a key group's features read (its key, filters, values, distinct-of fields)."""
    names = list(g.key)
    for desc in g.slots:
        for f, _ in desc[-1]:
            names.append(f)
        if desc[0] in ("val", "valid", "opt", "dist"):
            names.append(desc[1])
    return list(dict.fromkeys(n for n in names if n != "ts"))


@_no_gc
def velocity_pieces(job: Job, part: Part) -> list[dict[int, dict[str, np.ndarray]]]:
    """For every key group, the partition's rows with a complete entity key, cut by the key's bucket.

    Returns one item per bucket: ``{group index: piece}`` and its ``"load"`` (:func:`bucket_rows`); one
    shuffle carries every group.
    """
    scorer = scorer_of(job)
    n = part.cb.n
    out: list[dict[int, dict[str, np.ndarray]]] = [{} for _ in range(job.buckets)]
    base = {"part": np.full(n, part.index, dtype=np.int64), "idx": np.arange(n), "row": part.cb.rows, "ts": _ts(part)}
    for g in Plan(scorer.feature_set).groups:
        cols = {f: part.rec[f] if f in part.rec else np.full(n, None, dtype=object) for f in group_fields(g)}
        piece = {**base, **{f"c:{f}": v for f, v in cols.items()}}
        if part.labels is not None and any(desc[0] == "app" for desc in g.slots):
            piece["l:is_fraud"] = part.labels["is_fraud"]
            piece["l:label_ts"] = part.labels["label_ts"]
        h, present = key_hashes([cols[k] for k in g.key])
        bucket = (h % np.uint64(job.buckets)).astype(np.int64)
        bucket[~present] = -1
        bucket[~_applied(part)] = -1  # duplicates change no state
        load = key_load(h, bucket, job.buckets) * KEY_LOAD_WEIGHT
        for b, p in enumerate(split(piece, bucket, job.buckets)):
            if len(p["idx"]):
                out[b][g.index] = p
                out[b]["load"] = out[b].get("load", 0.0) + float(load[b])  # type: ignore[assignment, operator]
    return out


@_no_gc
def velocity_bucket(job: Job, n_parts: int, *pieces: Mapping[int, Mapping[str, np.ndarray]]
                    ) -> list[dict[int, dict[str, np.ndarray]]]:
    """Replay every key group over one bucket in processing order; results cut by partition.

    Returns one item per input partition: ``{group index: {"idx", "values"}}``.
    """
    scorer = scorer_of(job)
    fs = scorer.feature_set
    out: list[dict[int, dict[str, np.ndarray]]] = [{} for _ in range(n_parts)]
    for g in Plan(fs).groups:
        rows = concat_pieces([p[g.index] for p in pieces if g.index in p])
        if not rows:
            continue
        sub = FeatureSet([fs.specs[q.out] for q in g.queries], allowed_lateness=fs.allowed_lateness)
        order = processing_order(rows["ts"], rows["row"], job.by_time)
        rows = {k: v[order] for k, v in rows.items()}
        cols: dict[str, np.ndarray] = {"ts": rows["ts"]}
        cols.update({k[2:]: v for k, v in rows.items() if k.startswith("c:")})
        labels = None
        if "l:is_fraud" in rows:
            labels = {"is_fraud": rows["l:is_fraud"], "label_ts": rows["l:label_ts"]}
        values = replay(sub, cols, labels=labels)
        for i, r in enumerate(split({"idx": rows["idx"], "values": values}, rows["part"], n_parts)):
            if len(r["idx"]):
                out[i][g.index] = r
    return out


# -- 5. finish -----------------------------------------------------------------------------------
def features_of(job: Job, part: Part, results: Sequence[Mapping[int, Mapping[str, np.ndarray]]]) -> np.ndarray:
    """The partition's feature matrix: its static part plus every group's velocity values, by row."""
    scorer = scorer_of(job)
    pipe = scorer.pipeline
    groups = Plan(scorer.feature_set).groups
    n_static = len(pipe.feature_names) - len(scorer.feature_set.names)
    X = np.full((part.cb.n, len(pipe.feature_names)), np.nan)
    X[:, :n_static] = part.static
    for res in results:
        for g_index, r in res.items():
            cols = n_static + np.array([q.out for q in groups[g_index].queries], dtype=np.int64)
            X[np.ix_(r["idx"], cols)] = r["values"]
    return X


@_no_gc
def assemble(job: Job, part: Part, *results: Mapping[int, Mapping[str, np.ndarray]]) -> Part:
    """The partition with its feature matrix (``info["X"]``): static part plus the velocity results, by row."""
    return Part(part.index, part.cb, part.rec, part.static, part.labels, {**part.info, "X": features_of(job, part, results)})


@_no_gc
def extract(job: Job, part: Part, rows: np.ndarray) -> dict[str, np.ndarray]:
    """What duplicates of the applied rows ``rows`` (input row numbers) copy: velocity features, device id,
    link confidence."""
    scorer = scorer_of(job)
    pipe = scorer.pipeline
    k = len(pipe.feature_names) - len(scorer.feature_set.names)
    pos = np.searchsorted(part.cb.rows, rows)
    X = part.info["X"]
    dev = part.rec.get("device_id")
    return {"row": np.asarray(rows, dtype=np.int64), "vel": X[pos, k:],
            "device_id": dev[pos] if dev is not None and pipe.has_device else np.full(len(pos), None, dtype=object),
            "conf": X[pos, k - 1]}


@_no_gc
def fill_duplicates(job: Job, part: Part, *extracts: Mapping[str, np.ndarray]) -> Part:
    """Give each duplicate the velocity features and device link of the applied row it repeats."""
    scorer = scorer_of(job)
    pipe = scorer.pipeline
    k = len(pipe.feature_names) - len(scorer.feature_set.names)
    got = {key: np.concatenate([e[key] for e in extracts]) for key in ("row", "vel", "device_id", "conf")}
    order = np.argsort(got["row"], kind="stable")
    got = {key: v[order] for key, v in got.items()}
    src = part.info["src_row"]
    dup = np.flatnonzero(src >= 0)
    j = np.searchsorted(got["row"], src[dup])
    X = part.info["X"].copy()
    X[dup, k:] = got["vel"][j]
    rec = part.rec
    if pipe.has_device:
        X[dup, k - 1] = got["conf"][j]
        dev = rec["device_id"].copy()
        dev[dup] = got["device_id"][j]
        rec = {**rec, "device_id": dev}
    return Part(part.index, part.cb, rec, part.static, part.labels, {**part.info, "X": X})


@_no_gc
def finish(job: Job, part: Part, out_dir: str | None) -> dict[str, Any]:
    """Rules, model and policy over the partition's rows; its output written to ``out_dir`` (Parquet).

    Returns the partition's summary (and the frame when no ``out_dir`` is given).
    """
    scorer = scorer_of(job)
    rec = {k: v for k, v in part.rec.items() if k != "device_fingerprint"}
    batch = scorer.decide_batch(part.cb, rec, part.info["X"], return_features=job.with_features,
                                explain=job.explain)
    df = batch.to_pandas(with_features=job.with_features).reset_index()
    summary: dict[str, Any] = {"part": part.index, "rows_in": part.info.get("n_input", 0), "rows_scored": len(batch),
                               "actions": batch.action_counts(),
                               "errors": [{"row": e.row, "field": e.field, "error": str(e)} for e in part.cb.errors]}
    if out_dir is None:
        summary["frame"] = df
        return summary
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(out_dir) / f"part-{part.index:05d}.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
    summary["path"] = str(path)
    return summary


@_no_gc
def feature_rows(job: Job, part: Part, keep: Sequence[str]) -> dict[str, Any]:
    """The partition's feature matrix and the record columns named in ``keep`` (for training)."""
    cols = {k: part.rec[k] if k in part.rec else part.cb.columns[k] for k in keep
            if k in part.rec or k in part.cb.columns}
    return {"rows": part.cb.rows, "ts": _ts(part), "X": part.info["X"], "columns": cols, "errors": part.cb.errors,
            "n_input": part.info.get("n_input", 0)}
