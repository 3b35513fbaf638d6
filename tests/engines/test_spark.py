"""Profiles of Spark DataFrames (sketch/_engines.py), run on a real local Spark (``local[2]``,
pyspark from PyPI, a Java runtime from the system): each partition is sketched by
``mapInArrow`` and the partial profiles merge into the in-memory profile of the same rows."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from otel_ml import ConfigurationError
from otel_ml.sketch import CategoricalSketch, Profile
from otel_ml.sketch._engines import engine_of

Same = Callable[[Profile, Profile], None]

# pyspark 4 warns of pandas 3 on every Arrow exchange (the tests pass with it)
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    """One small local session for the module: two cores, no UI, loopback only; the
    Python workers run this interpreter (PYSPARK_PYTHON, read when the session starts)."""
    before = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("otel-ml-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "512m")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    if before is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = before


SCHEMA = T.StructType(
    [
        T.StructField("x", T.DoubleType()),
        T.StructField("n", T.LongType()),
        T.StructField("small", T.IntegerType()),
        T.StructField("ratio", T.FloatType()),
        T.StructField("plan", T.StringType()),
        T.StructField("flag", T.BooleanType()),
        T.StructField("amount", T.DecimalType(12, 2)),
        T.StructField("day", T.DateType()),
        T.StructField("at", T.TimestampType()),
        T.StructField("wall", T.TimestampNTZType()),
    ]
)


def _rows(n: int = 3000) -> list[tuple[Any, ...]]:
    rng = np.random.default_rng(3)
    rows = []
    start = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    for k in range(n):
        x: float | None = float(rng.normal(10, 3))
        if k % 101 == 0:
            x = None  # Spark null
        elif k % 103 == 0:
            x = math.nan  # a double's NaN: missing too, as in memory
        elif k == 7:
            x = math.inf
        rows.append(
            (
                x,
                int(rng.integers(-1000, 10**9)) if k % 7 else None,
                int(rng.integers(0, 5)),
                float(np.float32(rng.random())),
                str(rng.choice(["basic", "pro", "gold"])) if k % 11 else None,
                bool(k % 3) if k % 13 else None,
                decimal.Decimal(int(rng.integers(0, 10**6))) / 100 if k % 17 else None,
                dt.date(2023, 1, 1) + dt.timedelta(days=k % 500) if k % 19 else None,
                start + dt.timedelta(seconds=37 * k, microseconds=k),
                dt.datetime(2024, 1, 1) + dt.timedelta(seconds=1.25 * k),
            )
        )
    return rows


def _in_memory(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """The same rows as a pandas DataFrame of Python values (None for null)."""
    names = [f.name for f in SCHEMA.fields]
    cols: dict[str, Any] = {
        n: pd.Series([r[i] for r in rows], dtype=object) for i, n in enumerate(names)
    }
    cols["x"] = pd.Series([np.nan if r[0] is None else r[0] for r in rows], dtype="float64")
    cols["ratio"] = pd.Series([r[3] for r in rows], dtype="float32")
    return pd.DataFrame(cols)


@pytest.mark.parametrize("datetimes", ["skip", "epoch_seconds"])
def test_a_spark_profile_equals_the_in_memory_profile_of_the_same_rows(
    spark: SparkSession, same_profile: Same, datetimes: str
) -> None:
    rows = _rows()
    sdf = spark.createDataFrame(rows, SCHEMA).repartition(3)
    assert engine_of(sdf) == "spark"
    on_spark = Profile.from_data(sdf, model="m", version="1", datetimes=datetimes)
    in_memory = Profile.from_data(_in_memory(rows), datetimes=datetimes)
    same_profile(on_spark, in_memory)
    kinds = {name: f.kind.value for name, f in on_spark.features.items()}
    numeric = ["x", "n", "small", "ratio", "amount"]
    assert [k for k, v in kinds.items() if v == "numeric"] == numeric + (
        ["day", "at", "wall"] if datetimes == "epoch_seconds" else []
    )
    assert kinds["plan"] == kinds["flag"] == "categorical"
    x = on_spark.features["x"].sketch
    assert (x.nan_count, x.posinf_count) == (30 + 29, 1)  # type: ignore[union-attr]  # nulls + NaN
    if datetimes == "skip":
        assert sorted(on_spark.skipped) == ["at", "day", "wall"]
    else:  # a date is its midnight UTC; a timestamp without time zone is read as UTC
        assert on_spark.features["day"].min == dt.datetime(2023, 1, 1, tzinfo=dt.UTC).timestamp()
        assert on_spark.features["wall"].min == dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp()


def test_beyond_max_categories_spark_keeps_the_totals_and_lower_bounds(
    spark: SparkSession,
) -> None:
    # Two partitions of 10 rows. The first keeps a, b, c (its one d goes to overflow);
    # the second holds d×6 e×4. Merged, d keeps 6 of its 7 rows.
    values = ["a"] * 4 + ["b"] * 3 + ["c"] * 2 + ["d"] + ["d"] * 6 + ["e"] * 4
    rdd = spark.sparkContext.parallelize([(v,) for v in values], 2)
    sdf = spark.createDataFrame(rdd, "v string")
    assert sdf.rdd.getNumPartitions() == 2
    merged = Profile.from_data(sdf, max_categories=3).features["v"].sketch
    exact = Profile.from_data({"v": values}, max_categories=3).features["v"].sketch
    assert isinstance(merged, CategoricalSketch) and isinstance(exact, CategoricalSketch)
    assert exact.counts == {"d": 7, "a": 4, "e": 4} and exact.overflow == 5
    assert merged.counts == {"d": 6, "a": 4, "e": 4} and merged.overflow == 6
    assert (merged.total, merged.count) == (exact.total, exact.count)


def test_feature_types_empty_tables_and_one_line_errors(
    spark: SparkSession, same_profile: Same
) -> None:
    rows = _rows(200)
    sdf = spark.createDataFrame(rows, SCHEMA).repartition(2)
    types = {"small": "categorical"}
    same_profile(
        Profile.from_data(sdf, feature_types=types),
        Profile.from_data(_in_memory(rows), feature_types=types),
    )
    # no rows: the schema still says what each column is
    empty = Profile.from_data(sdf.where("small > 100"))
    assert empty.n_rows == 0 and sorted(empty.skipped) == ["at", "day", "wall"]
    kinds = {name: f.kind.value for name, f in empty.features.items()}
    assert kinds == {
        "x": "numeric",
        "n": "numeric",
        "small": "numeric",
        "ratio": "numeric",
        "plan": "categorical",
        "flag": "categorical",
        "amount": "numeric",
    }
    assert all(f.total == 0 for f in empty.features.values())
    with pytest.raises(ConfigurationError, match=r"feature_types\['day'\]: a Spark date column"):
        Profile.from_data(sdf, feature_types={"day": "numeric"})
    with pytest.raises(ConfigurationError, match="predictions: not taken with a Spark"):
        Profile.from_data(sdf, predictions=np.zeros(200))


def test_a_spark_string_column_of_free_text_is_text(
    spark: SparkSession, same_profile: Same
) -> None:
    """The schema says string; the values say free text: the sketch of its lengths, as in
    memory, and no text in the profile."""
    rows = [
        (f"order {k}: the parcel arrived late and the box was damaged", ["ab", "cd"][k % 2])
        for k in range(400)
    ]
    sdf = spark.createDataFrame(rows, "comment string, code string").repartition(2)
    on_spark = Profile.from_data(sdf)
    in_memory = Profile.from_data(pd.DataFrame(rows, columns=["comment", "code"]))
    same_profile(on_spark, in_memory)
    kinds = {name: f.kind.value for name, f in on_spark.features.items()}
    assert kinds == {"comment": "text", "code": "categorical"}
    assert "parcel" not in json.dumps(on_spark.to_dict())
