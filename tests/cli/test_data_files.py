"""Reading CSV and Parquet into typed columns; every bad file gives a one-line error."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_ml.cli import _data_files
from otel_ml.cli._data_files import DataFileError, read_table


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def test_numeric_detection_with_missing_tokens_and_non_finite(tmp_path: Path) -> None:
    p = _write(tmp_path, "d.csv", "a,b,c\n1,x,1e3\n NA ,y,inf\n2.5,,-INF\nnull,NaN,nan\n")
    t = read_table(p)
    assert t.n_rows == 4 and t.names == ("a", "b", "c")
    a, b, c = (t.column(n) for n in "abc")
    assert a.numeric and c.numeric and not b.numeric
    np.testing.assert_array_equal(a.values, [1.0, np.nan, 2.5, np.nan])
    np.testing.assert_array_equal(c.values, [1e3, np.inf, -np.inf, np.nan])
    assert b.values.tolist() == ["x", "y", None, None]
    assert b.first_non_numeric == (2, "x")  # the header is line 1


def test_delimiters_bom_quotes_and_blank_lines(tmp_path: Path) -> None:
    text = '\ufeffname;"note, with comma";v\n"Smith; J";"two\nlines";1\n\nDoe;plain;2\n'
    t = read_table(_write(tmp_path, "s.csv", text))
    assert t.names == ("name", "note, with comma", "v")
    assert t.column("name").values.tolist() == ["Smith; J", "Doe"]
    assert t.column("note, with comma").values.tolist() == ["two\nlines", "plain"]
    assert t.column("v").values.tolist() == [1.0, 2.0]
    tsv = read_table(_write(tmp_path, "t.tsv", "x\ty\n1\t2\n"))
    assert tsv.names == ("x", "y") and tsv.column("y").values.tolist() == [2.0]


def test_single_column_and_unnamed_columns(tmp_path: Path) -> None:
    t = read_table(_write(tmp_path, "one.csv", "score\n0.5\n0.25\n"))
    assert t.names == ("score",) and t.column("score").values.tolist() == [0.5, 0.25]
    t = read_table(_write(tmp_path, "idx.csv", ",x\n0,1\n1,2\n"))
    assert t.names == ("column_1", "x")


def test_gzip_csv(tmp_path: Path) -> None:
    p = tmp_path / "d.csv.gz"
    p.write_bytes(gzip.compress(b"x,y\n1,a\n2,b\n"))
    t = read_table(p)
    assert t.column("x").values.tolist() == [1.0, 2.0]
    assert t.column("y").values.tolist() == ["a", "b"]


def test_column_turning_to_text_after_the_first_chunk_keeps_earlier_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_data_files, "_CHUNK_ROWS", 3)
    p = _write(tmp_path, "m.csv", "code\n1\n2.5\n\n3\n4\nabc\n")
    seen: list[tuple[int, int]] = []
    t = read_table(p, progress=lambda done, total: seen.append((done, total)))
    col = t.column("code")
    assert not col.numeric and col.values.tolist() == ["1", "2.5", "3", "4", "abc"]
    assert col.first_non_numeric == (7, "abc")
    assert len(seen) == 2 and seen[-1][0] == seen[-1][1] == p.stat().st_size


def test_categorical_override_keeps_text_and_columns_filter(tmp_path: Path) -> None:
    p = _write(tmp_path, "z.csv", "zip,n,other\n00501,1,x\n10001,2,y\n")
    t = read_table(p, categorical=["zip"], columns=["zip", "n"])
    assert t.names == ("zip", "n") and t.available == ("zip", "n", "other")
    assert t.column("zip").values.tolist() == ["00501", "10001"]
    codes = read_table(
        _write(tmp_path, "c.csv", "k\n3.0\n-2.00\n3.5\n 7 \nNA\n"), categorical=["k"]
    )
    assert codes.column("k").values.tolist() == ["3", "-2", "3.5", " 7 ", None]
    # The same column read without the override (text because of "x") spells alike.
    mixed = read_table(_write(tmp_path, "m2.csv", "k\n3.0\n-2.00\nx\n"))
    assert mixed.column("k").values.tolist() == ["3", "-2", "x"]
    assert t.as_mapping()["n"].dtype == np.float64


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("ragged.csv", "a,b\n1,2\n3\n", r"ragged\.csv: line 3: 1 fields, but the header has 2"),
        ("dup.csv", "a,b,a\n1,2,3\n", r"dup\.csv: line 1: column name 'a' appears twice"),
        ("empty.csv", "", r"empty\.csv: empty file"),
    ],
)
def test_malformed_csv(tmp_path: Path, name: str, content: str, message: str) -> None:
    with pytest.raises(DataFileError, match=message):
        read_table(_write(tmp_path, name, content))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"nope\.csv: no such file"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataFileError, match="is a directory"):
        read_table(tmp_path)
    latin = _write(tmp_path, "latin.csv", "city\nZürich\n", encoding="latin-1")
    with pytest.raises(DataFileError, match=r"latin\.csv: not utf-8-sig text.*--encoding"):
        read_table(latin)
    assert read_table(latin, encoding="latin-1").column("city").values.tolist() == ["Zürich"]
    bad_gz = _write(tmp_path, "bad.csv.gz", "not gzip at all")
    with pytest.raises(DataFileError, match=r"bad\.csv\.gz"):
        read_table(bad_gz)


def test_parquet_types(tmp_path: Path) -> None:
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    tbl = pa.table(
        {
            "i": pa.array([1, None, 3], pa.int64()),
            "f": pa.array([0.5, 1.5, None], pa.float32()),
            "s": pa.array(["a", None, "b"]),
            "d": pa.array(["x", "y", "x"]).dictionary_encode(),
            "flag": pa.array([True, False, None]),
            "ts": pa.array([datetime.datetime(2024, 1, 1), None, datetime.datetime(2024, 1, 2)]),
            "day": pa.array([datetime.date(2024, 1, 1)] * 3, pa.date32()),
            "span": pa.array([datetime.timedelta(seconds=1)] * 3),
        }
    )
    p = tmp_path / "d.parquet"
    pq.write_table(tbl, p)
    t = read_table(p)
    assert t.n_rows == 3 and t.names == ("i", "f", "s", "d", "flag", "ts", "day")
    np.testing.assert_array_equal(t.column("i").values, [1.0, np.nan, 3.0])
    assert t.column("f").numeric and t.column("f").values.dtype == np.float64
    assert t.column("s").values.tolist() == ["a", None, "b"]
    assert t.column("d").values.tolist() == ["x", "y", "x"]
    assert t.column("flag").values.tolist() == ["True", "False", None]
    assert t.column("ts").values.tolist() == [
        datetime.datetime(2024, 1, 1), None, datetime.datetime(2024, 1, 2)
    ]
    assert t.column("day").values.dtype == np.dtype("datetime64[us]")
    assert [n for n, _ in t.skipped] == ["span"] and "span" in t.available
    t2 = read_table(p, categorical=["i", "f"], columns=["i", "f"])
    assert t2.column("i").values.tolist() == ["1", None, "3"]
    assert t2.column("f").values.tolist() == ["0.5", "1.5", None]
    floats = tmp_path / "f.parquet"
    pq.write_table(pa.table({"code": pa.array([3.0, 4.0, None])}), floats)
    assert read_table(floats, categorical=["code"]).column("code").values.tolist() == [
        "3",
        "4",
        None,
    ]


def test_corrupt_parquet(tmp_path: Path) -> None:
    p = _write(tmp_path, "bad.parquet", "PAR1 this is not parquet")
    with pytest.raises(DataFileError, match=r"bad\.parquet: not a readable Parquet file"):
        read_table(p)


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(
    floats=st.lists(st.floats(allow_nan=False, allow_infinity=True), min_size=1, max_size=40),
    texts=st.lists(_TEXT, min_size=1, max_size=40),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_csv_round_trip(
    tmp_path_factory: pytest.TempPathFactory,
    floats: list[float],
    texts: list[str],
    delimiter: str,
) -> None:
    """Whatever csv.writer writes, read_table reads back: numbers exactly, text as text
    (integral decimals spelled as integers)."""
    import csv

    n = min(len(floats), len(texts))
    floats, texts = floats[:n], texts[:n]
    p = tmp_path_factory.mktemp("rt") / "d.csv"
    with p.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(["num", "txt"])
        w.writerows([repr(x), t] for x, t in zip(floats, texts, strict=True))
    t = read_table(p)
    assert t.n_rows == n
    num = t.column("num")
    assert num.numeric and num.values.tolist() == floats
    txt = t.column("txt")
    if txt.numeric:  # every text happened to be a number or a missing token
        assert all(s.strip().lower() in _data_files.MISSING_TOKENS or _is_float(s) for s in texts)
    else:
        expected = [
            None if s.strip().lower() in _data_files.MISSING_TOKENS else _data_files._integral(s)
            for s in texts
        ]
        assert txt.values.tolist() == expected


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def test_parquet_without_pyarrow_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    p = _write(tmp_path, "d.parquet", "PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    with pytest.raises(DataFileError, match=r"d\.parquet: reading Parquet needs pyarrow.*arrow"):
        read_table(p)


def test_csv_iso_dates_are_a_datetime_column_until_a_cell_is_not_a_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_data_files, "_CHUNK_ROWS", 2)  # the text cell lands in a later chunk
    path = _write(
        tmp_path,
        "d.csv",
        "when,mixed\n2024-01-01,2024-01-01\n2024-01-01T10:30:00+02:00,2024-01-02\n"
        "NA,2024-01-03 08:00\n2024-01-02T00:00:00Z,soon\n",
    )
    t = read_table(path)
    when = t.column("when").values
    assert when.dtype == np.dtype("datetime64[us]") and not t.column("when").numeric
    assert [str(v) for v in when] == [
        "2024-01-01T00:00:00.000000",
        "2024-01-01T08:30:00.000000",
        "NaT",
        "2024-01-02T00:00:00.000000",
    ]
    mixed = t.column("mixed").values.tolist()
    assert mixed == ["2024-01-01", "2024-01-02", "2024-01-03 08:00", "soon"]
