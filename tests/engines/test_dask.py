"""Profiles of Dask DataFrames (sketch/_engines.py): built per partition with the local
scheduler, merged, and equal to the in-memory profile of the same rows."""

from __future__ import annotations

import json
from collections.abc import Callable

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from otel_ml import ConfigurationError, ProfileError
from otel_ml.sketch import CategoricalSketch, Profile
from otel_ml.sketch._engines import engine_of

Same = Callable[[Profile, Profile], None]


def _table(n: int = 4000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    x = rng.normal(50.0, 20.0, n)
    x[::97] = np.nan
    x[5], x[6] = np.inf, -np.inf
    income = rng.lognormal(10, 1, n)
    return pd.DataFrame(
        {
            "x": x,
            "count": rng.integers(-5, 500, n),
            "nullable": pd.array([None if k % 9 == 0 else k for k in range(n)], dtype="Int64"),
            "income": income,
            "plan": pd.Series(rng.choice(["basic", "pro", "gold"], n)).where(
                np.arange(n) % 13 != 0, None
            ),
            "flag": rng.random(n) > 0.3,
            "grade": pd.Series(rng.choice(["A", "B", "C"], n), dtype="category"),
            "seen": pd.date_range("2024-01-01", periods=n, freq="17min"),
            "seen_tz": pd.date_range("2024-01-01", periods=n, freq="h", tz="Europe/Paris"),
        }
    )


@pytest.mark.parametrize("datetimes", ["skip", "epoch_seconds"])
def test_a_dask_profile_equals_the_in_memory_profile_of_the_same_rows(
    same_profile: Same, datetimes: str
) -> None:
    ddf = dd.from_pandas(_table(), npartitions=5)
    assert engine_of(ddf) == "dask"
    on_dask = Profile.from_data(ddf, model="m", version="2", datetimes=datetimes)
    in_memory = Profile.from_data(ddf.compute(), datetimes=datetimes)
    same_profile(on_dask, in_memory)
    assert (on_dask.model, on_dask.version) == ("m", "2")
    assert on_dask.features["x"].sketch.nan_count == 42  # type: ignore[union-attr]
    assert on_dask.features["x"].non_finite_rate == 2 / 4000
    if datetimes == "skip":
        assert sorted(on_dask.skipped) == ["seen", "seen_tz"]
    else:
        assert on_dask.features["seen_tz"].kind.value == "numeric"


def test_object_columns_are_judged_on_their_values_across_partitions(same_profile: Same) -> None:
    n = 300
    pdf = pd.DataFrame(
        {
            # numbers in some partitions, only missing values in others: numeric
            "num": pd.Series([None] * 150 + [float(k) for k in range(150)], dtype=object),
            # numbers in the first partitions, text in the last: mixed, so categorical
            "mixed": pd.Series([1.5] * 200 + ["x"] * 100, dtype=object),
            # missing everywhere: categorical, as in memory
            "empty": pd.Series([None] * n, dtype=object),
        }
    )
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = dd.from_pandas(pdf, npartitions=3, sort=False)
        on_dask = Profile.from_data(ddf)
    same_profile(on_dask, Profile.from_data(pdf))
    kinds = {name: f.kind.value for name, f in on_dask.features.items()}
    assert kinds == {"num": "numeric", "mixed": "categorical", "empty": "categorical"}


def test_free_text_in_any_partition_makes_a_text_feature(same_profile: Same) -> None:
    n = 300
    notes = [f"order {k}: the parcel arrived late and the box was damaged" for k in range(n)]
    pdf = pd.DataFrame({"comment": notes, "mostly_ok": ["ok"] * 200 + notes[200:]})
    ddf = dd.from_pandas(pdf, npartitions=3, sort=False)
    only_text = Profile.from_data(ddf[["comment"]])
    same_profile(only_text, Profile.from_data(pdf[["comment"]]))
    on_dask = Profile.from_data(ddf)
    # "mostly_ok" is text in the last partition only: text, its values never categories
    # (in memory its sample is two thirds "ok", so categorical there).
    assert {name: f.kind.value for name, f in on_dask.features.items()} == {
        "comment": "text",
        "mostly_ok": "text",
    }
    assert on_dask.features["mostly_ok"].sketch.count == n  # every row's length
    assert "parcel" not in json.dumps(on_dask.to_dict())


def test_empty_partitions_and_an_empty_table(same_profile: Same) -> None:
    pdf = _table(50)
    ddf = dd.from_pandas(pdf, npartitions=4)
    filtered = ddf[ddf["count"] > 400]  # some partitions end up empty
    same_profile(Profile.from_data(filtered), Profile.from_data(filtered.compute()))
    nothing = ddf[ddf["count"] > 10_000]
    empty = Profile.from_data(nothing)
    same_profile(empty, Profile.from_data(nothing.compute()))
    assert empty.n_rows == 0


def test_feature_types_apply_and_wrong_options_fail_in_one_line(same_profile: Same) -> None:
    pdf = _table(200)
    ddf = dd.from_pandas(pdf, npartitions=2)
    types = {"count": "categorical"}
    same_profile(
        Profile.from_data(ddf, feature_types=types), Profile.from_data(pdf, feature_types=types)
    )
    with pytest.raises(ConfigurationError, match="feature_types: no column named 'nope'"):
        Profile.from_data(ddf, feature_types={"nope": "numeric"})
    with pytest.raises(ConfigurationError, match="labels: not taken with a Dask DataFrame"):
        Profile.from_data(ddf, labels=np.zeros(200))
    with pytest.raises(ConfigurationError, match="datetimes"):
        Profile.from_data(ddf, datetimes="unix")


def test_beyond_max_categories_the_totals_hold_and_kept_counts_are_lower_bounds() -> None:
    # Partition 1: a×5 b×4 c×3 d×2 -- with max_categories=3 its partial drops d (2 rows
    # to overflow). Partition 2: d×5 e×1. Merged: d keeps only 5 of its 7 rows.
    values = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2 + ["d"] * 5 + ["e"]
    pdf = pd.DataFrame({"v": values})
    ddf = dd.from_pandas(pdf, chunksize=14, sort=False)
    assert ddf.npartitions == 2
    merged = Profile.from_data(ddf, max_categories=3).features["v"].sketch
    exact = Profile.from_data(pdf, max_categories=3).features["v"].sketch
    assert isinstance(merged, CategoricalSketch) and isinstance(exact, CategoricalSketch)
    assert exact.counts == {"d": 7, "a": 5, "b": 4} and exact.overflow == 4
    assert merged.counts == {"a": 5, "d": 5, "b": 4} and merged.overflow == 6
    # what holds: the totals, and every kept count is at most the true one
    assert (merged.total, merged.count, merged.missing_count) == (
        exact.total,
        exact.count,
        exact.missing_count,
    )
    truth = pdf["v"].value_counts().to_dict()
    assert all(n <= truth[k] for k, n in merged.counts.items())
    # within the bound the two are equal
    wide = Profile.from_data(ddf, max_categories=5).features["v"].sketch
    assert isinstance(wide, CategoricalSketch) and wide.counts == truth and wide.overflow == 0


def test_profiles_merge_only_when_they_describe_the_same_features() -> None:
    a = Profile.from_data({"x": np.array([1.0, 2.0])})
    b = Profile.from_data({"x": np.array(["p", "q"], dtype=object)})
    with pytest.raises(ProfileError, match="'x' is numeric in one and categorical"):
        a.merge(b)
    with pytest.raises(ProfileError, match="different features"):
        a.merge(Profile.from_data({"y": np.array([1.0])}))
    with pytest.raises(ProfileError, match="max_categories"):
        c = Profile.from_data({"c": ["a"]}, max_categories=2)
        c.merge(Profile.from_data({"c": ["b"]}, max_categories=3))
    merged = a.merge(a)
    assert merged.n_rows == 4 and merged.features["x"].sketch.count == 4  # type: ignore[union-attr]
    assert a.features["x"].sketch.count == 2  # type: ignore[union-attr]  # inputs untouched
