"""Reading Parquet files for the command line (pyarrow, the ``arrow`` extra).

Integer, float and decimal columns are numeric (nulls become NaN), string,
dictionary and boolean columns are text (``None`` for nulls), timestamp and date
columns ``datetime64[us]`` in UTC (nulls become NaT), other types are skipped and
listed in :attr:`~otel_ml.cli._data_files.Table.skipped`. Columns named in
``categorical`` are text whatever their type.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_ml.cli._data_files import (
    _CHUNK_ROWS,
    Column,
    DataFileError,
    Progress,
    Table,
    _integral,
)

__all__ = ["read_parquet"]


def read_parquet(
    path: Path,
    *,
    columns: Collection[str] | None,
    categorical: Collection[str],
    progress: Progress | None,
) -> Table:
    source = str(path)
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DataFileError(
            f"{source}: reading Parquet needs pyarrow (pip install 'otel-ml[arrow]')"
        ) from exc
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataFileError(f"{source}: not a readable Parquet file ({exc})") from exc
    schema = pf.schema_arrow
    total = pf.metadata.num_rows
    kinds: dict[str, str] = {}
    numeric_type: dict[str, bool] = {}
    skipped: list[tuple[str, str]] = []
    for f in schema:
        if columns is not None and f.name not in columns:
            continue
        t = f.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        numeric_type[f.name] = numeric
        is_time = pa.types.is_timestamp(t) or pa.types.is_date(t)
        if numeric and f.name not in categorical:
            kinds[f.name] = "numeric"
        elif is_time and f.name not in categorical:
            kinds[f.name] = "datetime"
        elif (
            numeric
            or is_time
            or pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or pa.types.is_boolean(t)
        ):
            kinds[f.name] = "text"
        else:
            skipped.append((f.name, f"type {f.type} is neither numeric nor text"))
    parts: dict[str, list[npt.NDArray[Any]]] = {n: [] for n in kinds}
    done = 0
    try:
        for batch in pf.iter_batches(batch_size=_CHUNK_ROWS, columns=list(kinds)):
            for name in kinds:
                col = batch.column(name)
                if pa.types.is_dictionary(col.type):
                    col = col.dictionary_decode()
                if kinds[name] == "numeric":
                    arr = pc.fill_null(pc.cast(col, pa.float64()), float("nan"))
                    parts[name].append(np.asarray(arr.to_numpy(zero_copy_only=False)))
                elif kinds[name] == "datetime":  # UTC instants; nulls become NaT
                    stamps = pc.cast(col, pa.timestamp("us", tz=getattr(col.type, "tz", None)))
                    us = stamps.to_numpy(zero_copy_only=False).astype("datetime64[us]")
                    parts[name].append(np.asarray(us))
                else:
                    out = np.empty(len(col), dtype=object)
                    texts = [None if v is None else str(v) for v in col.to_pylist()]
                    out[:] = [_integral(t) for t in texts] if numeric_type[name] else texts
                    parts[name].append(out)
            done += batch.num_rows
            if progress is not None:
                progress(done, total)
    except (pa.ArrowException, OSError) as exc:
        raise DataFileError(f"{source}: cannot read Parquet data ({exc})") from exc
    cols = []
    for name, kind in kinds.items():
        dtype: Any = {"numeric": np.float64, "datetime": "datetime64[us]"}.get(kind, object)
        values = np.concatenate(parts[name]) if parts[name] else np.zeros(0, dtype=dtype)
        cols.append(Column(name, values, kind == "numeric"))
    return Table(source, tuple(cols), done, tuple(skipped), tuple(schema.names))
