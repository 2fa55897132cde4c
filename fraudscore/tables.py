"""Event tables on disk: a CSV file, a Parquet file or a folder of Parquet files, read as one table.

Shared by the command line (:mod:`fraudscore.cli`) and chunked rescoring
(:mod:`fraudscore.rescore`), so both read files the same way:

* **Text stays text.** Columns of the schema's text fields (identifiers, ids)
  and ``device.*`` columns are read as strings, so ``+86...`` phone numbers and
  leading zeros survive.
* **One bad cell rejects one row.** A number or time column with a bad cell
  (``amount = "lots"``, ``ts = "yesterday"``) is converted cell by cell: good
  cells become numbers, the bad one stays text and the schema rejects only
  its row (naming the field).
* **Rows with the wrong number of fields** (CSV) are rejected with their row
  and line number; every other row is read.
* **Required columns** the file lacks (a renamed ``ts``) are an
  :class:`~fraudscore.errors.InputError` before anything is scored.
* **Time order.** With ``sort_by_time=True`` the rows come out in event-time
  order (a stable sort: ties keep file order). A file already in time order is
  streamed chunk by chunk in bounded memory; an unsorted one is read whole
  (logged). Every chunk carries the input row numbers of its rows, so results
  and errors always name the row of the file.

Row numbers count data records from 0 (the header and blank lines are not
rows). Wrong-field-count messages also give the file's line number.

Examples
--------
>>> import pathlib, tempfile
>>> from fraudscore.schema import DEFAULT_SCHEMA
>>> p = pathlib.Path(tempfile.mkdtemp()) / "apps.csv"
>>> _ = p.write_text("application_id,ts,amount\\nA2,2026-01-02,5\\nA1,2026-01-01,lots\\nA3,2026-01-03,7,9\\n")
>>> t = TableFile(p, DEFAULT_SCHEMA, sort_by_time=True)
>>> frame, rows = t.read()
>>> list(frame["application_id"]), rows.tolist()
(['A1', 'A2'], [1, 0])
>>> [str(e) for e in t.read_errors]
["row 2: field '<row>': has 4 fields but the header has 3 (file line 4)"]
"""

from __future__ import annotations

import gzip
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ._compat import require_pandas, require_pyarrow
from .errors import EventError, InputError

__all__ = ["TableFile", "read_table", "times_ms", "CSV_SUFFIXES", "PARQUET_SUFFIXES"]

log = logging.getLogger("fraudscore")

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
ROW_FIELD = "<row>"
_BLOCK = 1 << 24  # bytes per block of the CSV field-count scan


def _kind(p: Path) -> str:
    if p.is_dir():
        return "parquet-folder"
    name = p.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise InputError(f"{p}: unknown file type {p.suffix!r}; use .csv, .csv.gz, .parquet or a folder of .parquet files")


def _parquet_files(p: Path) -> list[Path]:
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in PARQUET_SUFFIXES
                   and not any(part.startswith((".", "_")) for part in f.relative_to(p).parts))
    if not files:
        raise InputError(f"{p}: the folder holds no .parquet files")
    return files


def _open_bytes(p: Path) -> Any:
    return gzip.open(p, "rb") if p.name.lower().endswith(".gz") else open(p, "rb")


def _field_counts(p: Path, sep: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Fields per non-blank record of a CSV file (quotes respected), and each record's first line (1-based).

    Vectorised over blocks of bytes: a separator or newline counts only outside
    double quotes (quote parity; an escaped ``""`` keeps the parity), so it
    agrees with the CSV parser on quoted separators and line breaks.
    """
    counts: list[np.ndarray] = []
    lines: list[np.ndarray] = []
    parity = 0  # open quote carried over from the previous block
    pending = 0  # separators of the record still open at the end of the previous block
    pending_len = 0  # bytes (other than \r) of that record so far
    line_no = 1  # line number at the start of the current block
    rec_line = 1  # first line of the open record
    with _open_bytes(p) as fh:
        while True:
            block = fh.read(_BLOCK)
            if not block:
                break
            a = np.frombuffer(block, dtype=np.uint8)
            q = a == 34
            inside = (np.cumsum(q, dtype=np.uint8) - q + parity) & 1  # odd quotes before this byte
            parity = int((int(q.sum()) + parity) & 1)
            nl_all = a == 10
            nl = np.flatnonzero(nl_all & (inside == 0))
            sep_pos = np.flatnonzero((a == sep[0]) & (inside == 0))
            content = (a != 13) & ~nl_all
            csum = np.concatenate([[0], np.cumsum(content, dtype=np.int64)])
            starts = np.concatenate([[0], nl + 1])
            ends = np.concatenate([nl, [a.size]])
            nsep = np.searchsorted(sep_pos, ends) - np.searchsorted(sep_pos, starts)
            nbytes = csum[ends] - csum[starts]
            all_nl = np.flatnonzero(nl_all)
            line_at = line_no + np.searchsorted(all_nl, starts)  # line of each record start
            nsep[0] += pending
            nbytes[0] += pending_len
            line_at[0] = rec_line
            done = len(nl)  # records closed in this block (the last one stays open)
            keep = nbytes[:done] > 0
            counts.append((nsep[:done] + 1)[keep])
            lines.append(line_at[:done][keep])
            pending, pending_len, rec_line = int(nsep[done]), int(nbytes[done]), int(line_at[done])
            line_no += int(all_nl.size)
    if pending_len > 0:
        counts.append(np.array([pending + 1]))
        lines.append(np.array([rec_line]))
    c = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
    ln = np.concatenate(lines) if lines else np.zeros(0, dtype=np.int64)
    return c.astype(np.int64), ln.astype(np.int64)


def times_ms(values: Any) -> np.ndarray:
    """Event times as float64 epoch milliseconds, ``NaN`` where a value is missing or not a valid time.

    The same conversion rules as the schema (:func:`fraudscore.timeutil.to_epoch_ms`),
    used here only to put rows in time order; bad rows are rejected later by the schema.

    Examples
    --------
    >>> times_ms(np.array(["2026-01-01", "yesterday", None, 1767225600], dtype=object)).tolist()
    [1767225600000.0, nan, nan, 1767225600000.0]
    """
    from .timeutil import epoch_ms_array, to_epoch_ms

    arr = np.asarray(values)
    if arr.dtype.kind in "iufM":
        ms, bad = epoch_ms_array(arr)
        missing = np.isnat(arr) if arr.dtype.kind == "M" else (np.isnan(arr) if arr.dtype.kind == "f" else False)
        return np.where(bad | missing, np.nan, ms.astype(np.float64))
    out = np.full(arr.shape[0], np.nan)
    memo: dict[Any, float] = {}
    for i, v in enumerate(arr.tolist()):
        if v is None or (isinstance(v, float) and v != v):
            continue
        try:
            hit = memo.get(v)
        except TypeError:
            hit = None
        if hit is None:
            if isinstance(v, str):
                s = v.strip()
                try:
                    v2: Any = float(s) if s and (s[0].isdigit() or s[0] in "+-.") and ":" not in s \
                        and s.count("-") <= 1 else s
                except ValueError:
                    v2 = s
            else:
                v2 = v
            try:
                hit = float(to_epoch_ms(v2))
            except (TypeError, ValueError, OverflowError, OSError):
                hit = np.nan
            try:
                memo[v] = hit
            except TypeError:
                pass
        out[i] = hit
    return out


def _text_columns(schema: Any, columns: list[str]) -> set[str]:
    if schema is None:
        return set()
    text = {f.name for f in schema.fields if f.type not in ("float", "int", "bool", "timestamp", "mapping")}
    return {c for c in columns if c in text or str(c).startswith("device.")}


def _number_columns(schema: Any, columns: list[str]) -> set[str]:
    if schema is None:
        return set()
    num = {f.name for f in schema.fields if f.type in ("float", "int", "timestamp")}
    return {c for c in columns if c in num}


def _coerce_numbers(frame: Any, names: set[str]) -> Any:
    """Number and time columns with a few bad cells: convert the good cells, leave the bad ones as text."""
    pd = require_pandas()
    for c in names:
        col = frame[c]
        if col.dtype.kind in "iufMb":
            continue
        num = pd.to_numeric(col, errors="coerce")
        bad = num.isna() & col.notna()
        if not bad.any():
            frame[c] = num
        elif bad.all() or num.notna().sum() == 0:
            continue  # all text (ISO times, or simply the wrong column): the schema judges each cell
        else:
            mixed = num.astype(object)
            mixed[bad] = col[bad]
            frame[c] = mixed
    return frame


class TableFile:
    """One table on disk: a CSV file (``.csv``, ``.csv.gz``), a Parquet file or a folder of Parquet files.

    Parameters
    ----------
    path : str or Path
        The file or folder. A folder's ``*.parquet`` files (recursively, in
        name order, hidden and ``_``-prefixed ones skipped) form one table.
    schema : Schema, optional
        Says which columns are text, numbers and times, and which are required.
        Without one (a labels table, say) column types are inferred and no
        column is required.
    sort_by_time : bool, default False
        Deliver rows in event-time order (stable sort), as offline scoring and
        training need. Rows whose time cannot be read keep their place among
        the others and are rejected by the schema later.
    text_columns : tuple of str
        More columns to read as text (e.g. the id column of a labels table).

    Attributes
    ----------
    columns : list of str
        The table's column names.
    n_rows : int
        Data rows in the file (including rows rejected while reading).
    read_errors : list of EventError
        Rows rejected while reading (wrong number of fields), with ``.row`` set.
    in_time_order : bool or None
        Whether the file was already in time order (``None`` when not checked).
    """

    def __init__(self, path: str | Path, schema: Any = None, *, sort_by_time: bool = False,
                 text_columns: tuple[str, ...] = ()) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file or folder")
        self.schema = schema
        self.text_columns = tuple(text_columns)
        if sort_by_time and schema is None:
            raise InputError("sorting a table by time needs a schema (its time field)")
        self.kind = _kind(self.path)
        self.read_errors: list[EventError] = []
        self.in_time_order: bool | None = None
        self._order: np.ndarray | None = None
        self._df_rows: np.ndarray | None = None  # CSV: record index of each row the parser returns
        self._df_keep: np.ndarray | None = None  # CSV: which of those rows have the right field count
        self._counts: np.ndarray | None = None  # CSV: fields per data record
        if self.kind == "csv":
            self._open_csv()
        else:
            self._open_parquet()
        self.check_columns()
        if sort_by_time:
            self._plan_order()

    # -- opening ------------------------------------------------------------------------
    def _open_csv(self) -> None:
        pd = require_pandas()
        self.sep = "\t" if self.path.name.lower().removesuffix(".gz").endswith(".tsv") else ","
        try:
            header = pd.read_csv(self.path, nrows=0, sep=self.sep)
        except pd.errors.EmptyDataError:
            raise InputError(f"{self.path}: the file is empty (no header line)") from None
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"{self.path}: not readable as CSV: {_first_line(exc)}") from None
        self.columns = [str(c) for c in header.columns]
        dup = sorted({c for c in self.columns if c.rsplit(".", 1)[-1].isdigit() and c.rsplit(".", 1)[0] in self.columns})
        if dup:
            raise InputError(f"{self.path}: the header repeats column {dup[0].rsplit('.', 1)[0]!r}; "
                             "give every column its own name")
        counts, lines = _field_counts(self.path, self.sep.encode())
        counts, lines = counts[1:], lines[1:]  # the first non-blank record is the header
        m = len(self.columns)
        self.n_rows = int(counts.size)
        self._counts = counts
        parsed = counts <= m  # the parser skips longer rows; shorter ones come back padded with missing values
        self._df_rows = np.flatnonzero(parsed).astype(np.int64)
        self._df_keep = counts[parsed] == m
        for r in np.flatnonzero(counts != m).tolist():
            self.read_errors.append(EventError(
                ROW_FIELD, f"has {int(counts[r])} fields but the header has {m} (file line {int(lines[r])})", row=r))

    def _open_parquet(self) -> None:
        require_pyarrow()
        import pyarrow.parquet as pq

        self.files = _parquet_files(self.path) if self.kind == "parquet-folder" else [self.path]
        try:
            metas = [pq.ParquetFile(f) for f in self.files]
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for unreadable files
            raise InputError(f"{self.path}: not readable as Parquet: {_first_line(exc)}") from None
        self.columns = [str(c) for c in metas[0].schema_arrow.names]
        for f, m in zip(self.files[1:], metas[1:]):
            if [str(c) for c in m.schema_arrow.names] != self.columns:
                raise InputError(f"{f}: its columns differ from those of {self.files[0]}; the files of a folder "
                                 "must share one set of columns")
        self.n_rows = int(sum(m.metadata.num_rows for m in metas))

    # -- columns ------------------------------------------------------------------------
    def check_columns(self) -> None:
        """Raise :class:`InputError` when a required schema field has no column; log the other mismatches."""
        if self.schema is None:
            return
        cols = set(self.columns)
        has_device = any(c.startswith("device.") for c in cols)
        for f in self.schema.fields:
            if f.required and f.name not in cols:
                role = (" (the schema's time field)" if f.name == self.schema.time_field else
                        " (the schema's id field)" if f.name == self.schema.id_field else "")
                shown = ", ".join(self.columns[:12]) + (", ..." if len(self.columns) > 12 else "")
                raise InputError(f"{self.path}: no column {f.name!r}{role}; the file has: {shown}. Rename "
                                 f"that column to {f.name!r}, or describe the file with a schema that names it")
        absent = [f.name for f in self.schema.fields if f.name not in cols
                  and not (f.name == "device" and has_device)]
        if absent:
            log.info("%s: schema fields without a column (read as missing): %s", self.path, ", ".join(absent))

    # -- time order ---------------------------------------------------------------------
    def _time_column(self) -> np.ndarray:
        tf = self.schema.time_field
        if self.kind == "csv":
            pd = require_pandas()
            assert self._df_keep is not None and self._counts is not None
            col = self._read_csv(usecols=[tf])[tf]
            if len(col) == self.n_rows:  # with usecols the parser keeps over-long rows too
                keep = self._counts == len(self.columns)
            elif len(col) == len(self._df_keep):
                keep = self._df_keep
            else:  # pragma: no cover - another parser behaviour: read the time column the slow way
                col, keep = self._read_csv()[tf], self._df_keep
            col = _coerce_numbers(pd.DataFrame({tf: col}), {tf})[tf]
            return col.to_numpy()[keep]
        import pyarrow.parquet as pq

        parts = [pq.read_table(f, columns=[tf]).column(tf) for f in self.files]
        out = []
        for c in parts:
            kind = str(c.type)
            if kind.startswith(("int", "uint", "double", "float", "timestamp")):
                arr = c.to_numpy()
                if kind.startswith("timestamp"):
                    arr = np.asarray(arr).astype("datetime64[ms]")
                out.append(arr)
            else:
                out.append(np.array(c.to_pylist() + [None], dtype=object)[:-1])
        return np.concatenate(out) if out else np.zeros(0)

    def _plan_order(self) -> None:
        t = times_ms(self._time_column())
        ok = ~np.isnan(t)
        self.in_time_order = bool(np.all(np.diff(t[ok]) >= 0))
        if not self.in_time_order:
            # invalid times keep their place relative to their neighbours: give them the previous valid time
            filled = t.copy()
            if ok.any():
                idx = np.where(ok, np.arange(t.size), 0)
                np.maximum.accumulate(idx, out=idx)
                filled = t[idx]
                filled[np.isnan(filled)] = -np.inf
            self._order = np.argsort(filled, kind="stable")
            log.info("%s is not in time order: sorting %d rows by %r in memory (a file in time order is "
                     "streamed in bounded memory)", self.path, int(t.size), self.schema.time_field)

    # -- reading ------------------------------------------------------------------------
    def _read_csv(self, **kw: Any) -> Any:
        pd = require_pandas()
        text = _text_columns(self.schema, self.columns) | {c for c in self.text_columns if c in self.columns}
        usecols = kw.get("usecols")
        dtypes = {c: object for c in text if usecols is None or c in usecols}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return pd.read_csv(self.path, sep=self.sep, dtype=dtypes, on_bad_lines="skip", index_col=False,
                                   low_memory=False, **kw)
            except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
                raise InputError(f"{self.path}: not readable as CSV: {_first_line(exc)}") from None

    def _csv_frames(self, chunk_rows: int | None) -> Iterator[tuple[Any, np.ndarray]]:
        """Frames as the parser returns them, with the row numbers of their good rows (bad ones dropped)."""
        assert self._df_rows is not None and self._df_keep is not None
        nums = _number_columns(self.schema, self.columns)
        if chunk_rows is None:
            frames: Any = [self._read_csv()]
        else:
            frames = self._read_csv(chunksize=chunk_rows)
        pos = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for frame in frames:
                n = len(frame)
                keep = self._df_keep[pos : pos + n]
                rows = self._df_rows[pos : pos + n]
                pos += n
                if not keep.all():
                    frame, rows = frame.iloc[np.flatnonzero(keep)], rows[keep]
                yield _coerce_numbers(frame.reset_index(drop=True), nums), rows

    def _parquet_frames(self, chunk_rows: int | None) -> Iterator[tuple[Any, np.ndarray]]:
        pa = require_pyarrow()
        import pyarrow.parquet as pq

        start = 0
        for f in self.files:
            pf = pq.ParquetFile(f)
            if chunk_rows is None:
                t = pf.read()
                yield t, np.arange(start, start + t.num_rows, dtype=np.int64)
                start += t.num_rows
                continue
            for rb in pf.iter_batches(batch_size=chunk_rows):
                yield pa.Table.from_batches([rb]), np.arange(start, start + rb.num_rows, dtype=np.int64)
                start += rb.num_rows

    def _frames(self, chunk_rows: int | None) -> Iterator[tuple[Any, np.ndarray]]:
        return self._csv_frames(chunk_rows) if self.kind == "csv" else self._parquet_frames(chunk_rows)

    def read(self) -> tuple[Any, np.ndarray]:
        """The whole table (a DataFrame; in time order when asked) and the input row number of each row."""
        pd = require_pandas()
        parts = list(self._frames(None))
        if self.kind != "csv":
            frame = pd.concat([t.to_pandas() for t, _ in parts], ignore_index=True) if len(parts) > 1 \
                else parts[0][0].to_pandas()
        else:
            frame = parts[0][0]
        rows = np.concatenate([r for _, r in parts]) if parts else np.zeros(0, dtype=np.int64)
        if self._order is not None:
            frame = frame.iloc[self._order].reset_index(drop=True)
            rows = rows[self._order]
        return frame, rows

    def chunks(self, chunk_rows: int) -> Iterator[tuple[Any, np.ndarray]]:
        """Consecutive chunks of at most ``chunk_rows`` rows, each with the input row numbers of its rows.

        A file in time order (or when no order was asked) is streamed; an unsorted
        one is read whole, sorted, and cut into chunks.
        """
        if chunk_rows < 1:
            raise InputError(f"chunk_rows must be >= 1, got {chunk_rows}")
        if self._order is None:
            yield from self._frames(chunk_rows)
            return
        frame, rows = self.read()
        for a in range(0, len(frame), chunk_rows):
            yield frame.iloc[a : a + chunk_rows], rows[a : a + chunk_rows]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def read_table(path: str | Path, schema: Any = None, *, sort_by_time: bool = False,
               text_columns: tuple[str, ...] = ()) -> Any:
    """Read a whole table file into a ``pandas.DataFrame`` (see :class:`TableFile`).

    Rows rejected while reading (wrong field count) are left out and logged.
    For their row numbers, use :class:`TableFile` directly.
    """
    t = TableFile(path, schema, sort_by_time=sort_by_time, text_columns=text_columns)
    frame, _ = t.read()
    if t.read_errors:
        log.warning("%s: %d row(s) rejected while reading, first: %s", t.path, len(t.read_errors), t.read_errors[0])
    return frame
