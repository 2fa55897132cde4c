"""Reading event tables from disk (``fraudscore.tables``): field counts, bad cells, folders, time order."""

from __future__ import annotations

import csv
import gzip
import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fraudscore.tables as tables
from fraudscore.errors import InputError
from fraudscore.schema import DEFAULT_SCHEMA
from fraudscore.tables import TableFile, times_ms

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

_cell = st.text(alphabet=st.sampled_from(list('ab,"\n x1')), max_size=6)  # CRLF line ends: the crlf flag


@given(rows=st.lists(st.lists(_cell, min_size=1, max_size=4), min_size=1, max_size=12),
       block=st.integers(1, 40), crlf=st.booleans())
def test_field_counts_agree_with_the_csv_module(tmp_path_factory, rows, block, crlf):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n" if crlf else "\n").writerows(rows)
    text = buf.getvalue()
    p = tmp_path_factory.mktemp("fc") / "t.csv"
    p.write_bytes(text.encode())
    ref = [len(r) for r in csv.reader(io.StringIO(text, newline="")) if r]
    old = tables._BLOCK
    tables._BLOCK = block  # records that straddle block boundaries
    try:
        counts, lines = tables._field_counts(p, b",")
    finally:
        tables._BLOCK = old
    assert counts.tolist() == ref
    assert (np.diff(lines) > 0).all() if len(lines) > 1 else True


def test_gzip_and_tab_separated(tmp_path):
    text = "application_id\tts\tamount\nA1\t2026-01-01\t5\nA2\t2026-01-02\t6\t7\n"
    p = tmp_path / "t.tsv.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(text)
    t = TableFile(p, DEFAULT_SCHEMA)
    frame, rows = t.read()
    assert frame["application_id"].tolist() == ["A1"] and rows.tolist() == [0]
    assert [e.row for e in t.read_errors] == [1] and "file line 3" in str(t.read_errors[0])


def test_bad_cells_stay_text_good_cells_become_numbers(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("application_id,ts,amount,phone\n007,1767225600,5,+8613800138000\n008,yesterday,lots,0138\n")
    frame, _ = TableFile(p, DEFAULT_SCHEMA).read()
    assert frame["application_id"].tolist() == ["007", "008"]  # text fields keep leading zeros
    assert frame["phone"].tolist() == ["+8613800138000", "0138"]
    assert frame["amount"].tolist() == [5.0, "lots"] and frame["ts"].tolist()[1] == "yesterday"


def test_missing_required_column_and_schema_free_reading(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("application_id,timestamp\nA,2026-01-01\n")
    with pytest.raises(InputError, match="no column 'ts'.*timestamp"):
        TableFile(p, DEFAULT_SCHEMA)
    frame, _ = TableFile(p).read()  # no schema: nothing is required
    assert list(frame.columns) == ["application_id", "timestamp"]
    with pytest.raises(InputError, match="needs a schema"):
        TableFile(p, sort_by_time=True)


def test_unknown_type_missing_file_empty_folder(tmp_path):
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(InputError, match="unknown file type"):
        TableFile(tmp_path / "t.xlsx")
    with pytest.raises(InputError, match="no such file"):
        TableFile(tmp_path / "nope.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .parquet files"):
        TableFile(tmp_path / "empty")


def test_parquet_folder_is_one_table_in_name_order(tmp_path):
    folder = tmp_path / "parts"
    (folder / "sub").mkdir(parents=True)
    pd.DataFrame({"application_id": ["C"], "ts": [3_000_000_000_000]}).to_parquet(folder / "sub" / "b.parquet")
    pd.DataFrame({"application_id": ["A", "B"], "ts": [1_000_000_000_000, 2_000_000_000_000]}).to_parquet(
        folder / "a.parquet")
    pd.DataFrame({"x": [1]}).to_parquet(folder / "_ignored.parquet")
    t = TableFile(folder, DEFAULT_SCHEMA)
    assert t.n_rows == 3
    got = [(list(c.column("application_id").to_pylist()), r.tolist()) for c, r in t.chunks(2)]
    assert got == [(["A", "B"], [0, 1]), (["C"], [2])]
    pd.DataFrame({"application_id": ["D"], "other": [1]}).to_parquet(folder / "c.parquet")
    with pytest.raises(InputError, match="columns differ"):
        TableFile(folder, DEFAULT_SCHEMA)


def test_time_order_is_a_stable_sort_and_sorted_files_stream(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("application_id,ts\nA,2026-01-02\nB,2026-01-01\nC,2026-01-02\nD,bad\nE,2026-01-01T00:00:00Z\n")
    t = TableFile(p, DEFAULT_SCHEMA, sort_by_time=True)
    frame, rows = t.read()
    assert t.in_time_order is False
    assert frame["application_id"].tolist() == ["B", "E", "A", "C", "D"] and rows.tolist() == [1, 4, 0, 2, 3]
    q = tmp_path / "s.csv"
    q.write_text("application_id,ts\nA,2026-01-01\nB,bad\nC,2026-01-02\n")
    s = TableFile(q, DEFAULT_SCHEMA, sort_by_time=True)
    assert s.in_time_order is True and s._order is None  # bad times do not force a sort


def test_times_ms_follows_the_schema_rules():
    vals = np.array(["2026-01-01", "2026-01-01T08:00:00+08:00", "1767225600", 1767225600000, None, "x"],
                    dtype=object)
    got = times_ms(vals)
    assert got[:4].tolist() == [1767225600000.0] * 4 and np.isnan(got[4:]).all()
