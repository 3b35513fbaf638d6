"""Reading the tables the command line works on: CSV (stdlib ``csv`` + numpy) and Parquet.

:func:`read_table` returns a :class:`Table` of named 1-D columns: ``float64``
for numeric columns (missing cells are NaN), an object array of ``str`` /
``None`` for the others. A column is numeric when every non-missing cell parses
as a number (``1``, ``-2.5e3``, ``inf``, ``nan``); cells that are empty or one of
:data:`MISSING_TOKENS` (case-insensitive) are missing. Columns named in
``categorical`` are kept as text whatever they hold (zip codes, ids: ``00501``
stays ``00501``). In text columns an integral decimal such as ``3.0`` is spelled
``3``, the way :class:`~otel_ml.stats.CategoricalSketch` spells the float 3.0.
A column whose every non-missing cell is an ISO 8601 date or date and time
(``2020-01-31``, ``2020-01-31T08:15:00``, ``... 08:15:00+02:00``, ``...Z``) is a
``datetime64[us]`` column in UTC (naive times read as UTC): the sketch layer's
rule then skips it, or compares it as seconds since the epoch (``--datetimes``).

CSV: UTF-8 (a BOM is fine) or the ``encoding`` given, the delimiter guessed among
``, ; tab |`` (tab for ``.tsv``), standard quoting, a header line, ``.gz`` decompressed on the fly.
Parquet needs ``pyarrow`` (the ``arrow`` extra); integer, float and decimal columns
are numeric, strings and booleans text, timestamps and dates ``datetime64[us]``
(UTC), other types are skipped and listed in :attr:`Table.skipped`.

Every problem -- a missing file, a ragged line, a duplicated column name, bytes
that are not text -- raises :class:`DataFileError` with a one-line message naming
the file and, where it helps, the line.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
>>> _ = path.write_text("age;city\\n31;Paris\\nNA;Oslo\\n40.5;\\n")
>>> t = read_table(path)
>>> t.n_rows, t.column("age").numeric, t.column("age").values.tolist()
(3, True, [31.0, nan, 40.5])
>>> t.column("city").values.tolist()
['Paris', 'Oslo', None]
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import itertools
import os
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from otel_ml._errors import OtelMlError

__all__ = ["MISSING_TOKENS", "Column", "DataFileError", "Table", "read_table"]

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", "?"})
_CHUNK_ROWS = 50_000
_INTEGRAL = re.compile(r"^\s*([+-]?\d+)\.0*\s*$")
_SNIFF_BYTES = 64 * 1024
_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)
_NAT = np.datetime64("NaT", "us")

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while reading (bytes or rows)."""


class DataFileError(OtelMlError):
    """A data file that cannot be read; the message names the file (and line)."""


@dataclass(frozen=True)
class Column:
    """One column of a :class:`Table`.

    ``first_non_numeric`` is ``(line, text)`` of the first cell that is not a
    number (CSV line numbers count the header as line 1; Parquet gives the row),
    ``None`` when every cell is a number or missing.
    """

    name: str
    values: npt.NDArray[Any]
    numeric: bool
    first_non_numeric: tuple[int, str] | None = None


@dataclass(frozen=True)
class Table:
    """Named columns read from ``source`` (in file order)."""

    source: str
    columns: tuple[Column, ...]
    n_rows: int
    skipped: tuple[tuple[str, str], ...] = field(default=())
    available: tuple[str, ...] = field(default=())
    """Every column name in the file, read or not."""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def as_mapping(self) -> dict[str, npt.NDArray[Any]]:
        """``{name: values}``, the shape :meth:`otel_ml.Profile.from_data` reads."""
        return {c.name: c.values for c in self.columns}


# ---- CSV ------------------------------------------------------------------------------
class _CountingReader(io.RawIOBase):
    """A raw binary stream that counts the bytes read from ``inner`` (for progress)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.bytes_read += n
        return n

    def close(self) -> None:
        self._inner.close()
        super().close()


def _integral(text: str | None) -> str | None:
    """``"3.0"`` -> ``"3"`` (how CategoricalSketch spells an integral float); others as is."""
    return None if text is None else _INTEGRAL.sub(r"\1", text)


def _number_text(v: float) -> str | None:
    """How a cell parsed as a number is spelled when its column turns out to be text."""
    if np.isnan(v):
        return None
    return str(int(v)) if v.is_integer() and abs(v) < 2**63 else repr(v)


def _iso_datetimes(cells: tuple[str, ...]) -> npt.NDArray[np.datetime64] | None:
    """``cells`` as UTC ``datetime64[us]`` (missing -> NaT), or ``None`` if one is not an
    ISO 8601 date or date and time."""
    out = np.empty(len(cells), dtype="datetime64[us]")
    for i, cell in enumerate(cells):
        text = cell.strip()
        if text.lower() in MISSING_TOKENS:
            out[i] = _NAT
            continue
        if not _ISO_DATETIME.match(text):
            return None
        try:
            value = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] == "Z" else text)
        except ValueError:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        out[i] = np.datetime64(value, "us")
    return out


class _ColumnBuilder:
    """Accumulates one column chunk by chunk: numeric until a cell says otherwise, then
    dates and times (when the first chunks were) until a cell says otherwise, then text."""

    def __init__(self, name: str, as_text: bool) -> None:
        self.name = name
        self.numeric = not as_text
        self.dating = False
        self.floats: list[npt.NDArray[np.float64]] = []
        self.dates: list[npt.NDArray[np.datetime64]] = []
        self.date_cells: list[tuple[str, ...]] = []
        self.texts: list[list[str | None]] = []
        self.first_bad: tuple[int, str] | None = None

    def add(self, cells: tuple[str, ...], lines: list[int]) -> None:
        if self.numeric:
            parsed = self._parse(cells, lines)
            if parsed is not None:
                self.floats.append(parsed)
                return
            # Not numbers: dates (if nothing was read as a number yet) or text.
            self.numeric = False
            self.dating = not self.floats
            self.texts = [[_number_text(v) for v in chunk.tolist()] for chunk in self.floats]
            self.floats = []
        if self.dating:
            parsed_dates = _iso_datetimes(cells)
            if parsed_dates is not None:
                self.dates.append(parsed_dates)
                self.date_cells.append(cells)
                return
            # Turned out to be text: keep the cells read as dates as they were written.
            self.dating = False
            self.texts = [self._text(chunk) for chunk in self.date_cells]
            self.dates, self.date_cells = [], []
        self.texts.append(self._text(cells))

    @staticmethod
    def _text(cells: tuple[str, ...]) -> list[str | None]:
        texts = [None if c.strip().lower() in MISSING_TOKENS else c for c in cells]
        # Spell "3.0" as "3", as CategoricalSketch spells the float 3.0 and as earlier
        # chunks are respelled, so a column reads the same whichever way it became text.
        return [_integral(t) for t in texts]

    def _parse(self, cells: tuple[str, ...], lines: list[int]) -> npt.NDArray[np.float64] | None:
        try:
            return np.array(cells, dtype=np.float64)
        except ValueError:
            pass
        cleaned = ["nan" if c.strip().lower() in MISSING_TOKENS else c for c in cells]
        try:
            return np.array(cleaned, dtype=np.float64)
        except ValueError:
            for cell, line in zip(cleaned, lines, strict=True):
                try:
                    float(cell)
                except ValueError:
                    self.first_bad = (line, cell)
                    break
            return None

    def build(self) -> Column:
        if self.dating:
            values: npt.NDArray[Any] = np.concatenate(self.dates)
            return Column(self.name, values, False, self.first_bad)
        if self.numeric:
            values = np.concatenate(self.floats) if self.floats else np.zeros(0, dtype=np.float64)
        else:
            values = np.empty(sum(len(t) for t in self.texts), dtype=object)
            values[:] = [v for chunk in self.texts for v in chunk]
        return Column(self.name, values, self.numeric, self.first_bad)


def _open_text(path: Path, encoding: str) -> tuple[IO[str], _CountingReader]:
    counter = _CountingReader(path.open("rb"))
    buffered = io.BufferedReader(counter)
    if path.suffix.lower() == ".gz":
        unzipped = gzip.GzipFile(fileobj=buffered, mode="rb")
        return io.TextIOWrapper(unzipped, encoding=encoding, newline=""), counter
    return io.TextIOWrapper(buffered, encoding=encoding, newline=""), counter


def _delimiter(head: list[str], path: Path) -> str:
    """The delimiter among ``, ; tab |`` that splits the first lines consistently.

    Only the delimiter is guessed (quoting stays the standard one): the candidate
    giving the same number (> 1) of fields on every sampled line wins, the most
    fields first; failing that, the one that splits the header most; else ``,``.
    """
    if path.name.lower().removesuffix(".gz").endswith(".tsv"):
        return "\t"
    sample = "".join(head[:100])
    best, best_key = ",", (False, 1)
    for d in ",;\t|":
        try:
            rows = [r for r in csv.reader(io.StringIO(sample), delimiter=d) if r]
        except csv.Error:
            continue
        if len(rows) > 2:
            rows = rows[:-1]  # the sample may end inside a quoted multi-line field
        if not rows:
            continue
        widths = {len(r) for r in rows}
        key = (len(widths) == 1, len(rows[0]))
        if key[1] > 1 and key > best_key:
            best, best_key = d, key
    return best


def _header(row: list[str], source: str) -> list[str]:
    names = [h.strip() or f"column_{i + 1}" for i, h in enumerate(row)]
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise DataFileError(f"{source}: line 1: column name {n!r} appears twice")
        seen.add(n)
    return names


def _read_csv(
    path: Path,
    *,
    columns: Collection[str] | None,
    categorical: Collection[str],
    encoding: str,
    progress: Progress | None,
) -> Table:
    source = str(path)
    total = path.stat().st_size
    text, counter = _open_text(path, encoding)
    with text:
        head: list[str] = []
        size = 0
        for line in text:  # the first lines, to sniff the delimiter
            head.append(line)
            size += len(line)
            if size >= _SNIFF_BYTES:
                break
        reader = csv.reader(itertools.chain(head, text), delimiter=_delimiter(head, path))
        first = next(reader, None)
        if first is None:
            raise DataFileError(f"{source}: empty file (expected a header line)")
        names = _header(first, source)
        wanted = [i for i, n in enumerate(names) if columns is None or n in columns]
        builders = [_ColumnBuilder(names[i], names[i] in categorical) for i in wanted]
        n_rows = 0
        while True:
            rows: list[list[str]] = []
            lines: list[int] = []
            for row in reader:
                if not row:
                    continue  # blank line
                if len(row) != len(names):
                    raise DataFileError(
                        f"{source}: line {reader.line_num}: {len(row)} fields, "
                        f"but the header has {len(names)}"
                    )
                rows.append(row)
                lines.append(reader.line_num)
                if len(rows) == _CHUNK_ROWS:
                    break
            if not rows:
                break
            n_rows += len(rows)
            by_column = list(zip(*rows, strict=True))
            for b, i in zip(builders, wanted, strict=True):
                b.add(by_column[i], lines)
            if progress is not None:
                progress(counter.bytes_read, total)
    return Table(source, tuple(b.build() for b in builders), n_rows, available=tuple(names))


def read_table(
    path: str | os.PathLike[str],
    *,
    columns: Collection[str] | None = None,
    categorical: Collection[str] = (),
    encoding: str = "utf-8-sig",
    progress: Progress | None = None,
) -> Table:
    """Read a CSV (``.csv``, ``.tsv``, ``.txt``, optionally ``.gz``) or Parquet file.

    Parameters
    ----------
    path
        The file; ``.parquet`` / ``.pq`` files are read as Parquet, others as CSV.
    columns
        Read only these columns (default: all). Names not in the file are ignored
        here; the caller compares :attr:`Table.names` with what it needs.
    categorical
        Columns kept as text even when every cell is a number.
    encoding
        Text encoding of a CSV file.
    progress
        Called with ``(done, total)`` after each chunk.

    Raises
    ------
    DataFileError
        One line naming the file and the problem.
    """
    p = Path(path)
    if not p.exists():
        raise DataFileError(f"{p}: no such file")
    if p.is_dir():
        raise DataFileError(f"{p}: is a directory, not a data file")
    cat = frozenset(categorical)
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            from otel_ml.cli._parquet_reader import read_parquet

            return read_parquet(p, columns=columns, categorical=cat, progress=progress)
        return _read_csv(p, columns=columns, categorical=cat, encoding=encoding, progress=progress)
    except UnicodeDecodeError as exc:
        raise DataFileError(
            f"{p}: not {encoding} text ({exc.reason}); give the file's --encoding, e.g. latin-1"
        ) from exc
    except LookupError as exc:
        raise DataFileError(f"{p}: unknown encoding {encoding!r}") from exc
    except csv.Error as exc:
        raise DataFileError(f"{p}: not readable as CSV ({exc})") from exc
    except (gzip.BadGzipFile, EOFError) as exc:
        raise DataFileError(f"{p}: corrupt gzip data ({exc})") from exc
    except OSError as exc:
        raise DataFileError(f"{p}: cannot read ({exc.strerror or exc})") from exc
