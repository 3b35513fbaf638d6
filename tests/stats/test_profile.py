"""Reference profiles: inputs, type inference, JSON round trip, errors that name the file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from otel_ml import ConfigurationError, FeatureKind, Profile, ProfileError
from otel_ml.sketch import PROFILE_FORMAT_VERSION, CategoricalSketch, NumericSketch


def _table(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n)
    age[:5] = np.nan
    return pd.DataFrame(
        {
            "age": age,
            "ratio": rng.choice([0.0, 0.5, 1.0], n),  # low-cardinality float: stays numeric
            "children": rng.poisson(1.5, n),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "member": rng.choice([True, False], n),
            "grade": pd.Categorical(rng.choice([1, 2, 3], n)),  # pandas category: categorical
        }
    )


def test_from_dataframe_infers_kinds_by_dtype_not_cardinality() -> None:
    p = Profile.from_data(_table(), model="m", version="1")
    kinds = {name: f.kind for name, f in p.features.items()}
    assert kinds == {
        "age": FeatureKind.NUMERIC,
        "ratio": FeatureKind.NUMERIC,
        "children": FeatureKind.NUMERIC,
        "city": FeatureKind.CATEGORICAL,
        "member": FeatureKind.CATEGORICAL,
        "grade": FeatureKind.CATEGORICAL,
    }
    age = p.features["age"]
    assert age.missing_rate == pytest.approx(5 / 500)
    df = _table()
    assert age.min == pytest.approx(np.nanmin(df["age"]))
    assert age.max == pytest.approx(np.nanmax(df["age"]))
    assert p.features["city"].categories == frozenset({"paris", "lyon", "nice"})
    assert p.features["member"].categories == frozenset({"True", "False"})
    assert p.features["grade"].categories == frozenset({"1", "2", "3"})
    assert p.n_rows == 500 and p.model == "m" and p.version == "1"
    assert p.created.tzinfo is not None


def test_numpy_and_list_of_dicts_give_the_same_profile() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2))
    a = Profile.from_data(x, feature_names=["u", "v"])
    rows = [{"u": float(r[0]), "v": float(r[1])} for r in x]
    b = Profile.from_data(rows)
    assert list(a.features) == list(b.features) == ["u", "v"]
    for name in ("u", "v"):
        assert a.features[name].sketch == b.features[name].sketch
    plain = Profile.from_data(x)
    assert list(plain.features) == ["0", "1"]


def test_list_of_dicts_with_missing_keys_and_none() -> None:
    rows = [{"a": 1, "b": "x"}, {"a": None}, {"a": 3.5, "b": None, "c": 2}]
    p = Profile.from_data(rows)
    assert p.features["a"].kind is FeatureKind.NUMERIC
    assert p.features["a"].missing_rate == pytest.approx(1 / 3)
    assert p.features["b"].kind is FeatureKind.CATEGORICAL
    assert p.features["b"].missing_rate == pytest.approx(2 / 3)
    assert p.features["c"].kind is FeatureKind.NUMERIC


def test_feature_types_override() -> None:
    df = pd.DataFrame({"zip": [75001, 69002, 75001, 6000], "x": ["1", "2", "3", "4"]})
    p = Profile.from_data(df, feature_types={"zip": "categorical", "x": FeatureKind.NUMERIC})
    assert p.features["zip"].kind is FeatureKind.CATEGORICAL
    assert p.features["zip"].categories == frozenset({"75001", "69002", "6000"})
    assert p.features["x"].kind is FeatureKind.NUMERIC
    assert p.features["x"].max == 4.0


def test_bad_overrides_name_the_column() -> None:
    df = pd.DataFrame({"city": ["a", "b"]})
    with pytest.raises(ConfigurationError, match="'city'.*not a number"):
        Profile.from_data(df, feature_types={"city": "numeric"})
    with pytest.raises(ConfigurationError, match="no column named 'nope'"):
        Profile.from_data(df, feature_types={"nope": "numeric"})
    with pytest.raises(ConfigurationError, match="feature_types\\['city'\\]"):
        Profile.from_data(df, feature_types={"city": "ordinal"})


def test_predictions_and_labels() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 3))
    proba = rng.uniform(size=(100, 2))
    p = Profile.from_data(x, predictions=proba[:, 1], labels=rng.choice(["no", "yes"], 100))
    assert list(p.predictions) == ["score"]
    assert p.predictions["score"].kind is FeatureKind.NUMERIC
    assert p.labels is not None and p.labels.categories == frozenset({"no", "yes"})
    p2 = Profile.from_data(x, predictions=proba)
    assert list(p2.predictions) == ["0", "1"]


def test_save_load_round_trip(tmp_path: Path) -> None:
    p = Profile.from_data(_table(), model="credit", version="3", predictions=np.arange(500.0),
                          labels=np.arange(500) % 2)
    path = tmp_path / "p.json"
    p.save(path)
    q = Profile.load(path)
    assert q == p
    raw = json.loads(path.read_text())
    assert raw["format_version"] == PROFILE_FORMAT_VERSION
    assert raw["model"] == "credit" and raw["version"] == "3"
    assert isinstance(q.features["age"].sketch, NumericSketch)
    assert isinstance(q.features["city"].sketch, CategoricalSketch)


def test_profile_keeps_1000_categories_exactly() -> None:
    values = np.repeat(np.arange(1000), 3).astype(str)
    p = Profile.from_data({"c": values})
    sketch = p.features["c"].sketch
    assert isinstance(sketch, CategoricalSketch)
    assert sketch.overflow == 0 and len(p.features["c"].categories) == 1000


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON \\(line 1"),
        ('{"format": "something"}', "not an otel_ml profile"),
        ('[1, 2]', "not an otel_ml profile"),
        ('{"format": "otel_ml.profile", "format_version": 99}', "newer than this otel_ml reads"),
        ('{"format": "otel_ml.profile", "format_version": "x"}', "bad format_version"),
        ('{"format": "otel_ml.profile", "format_version": 1, "created": "2026-01-01"}',
         "corrupt profile.*features"),
    ],
)
def test_bad_files_name_file_and_problem(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ProfileError, match=f"bad.json: .*{problem}"):
        Profile.load(path)


def test_corrupt_sketch_and_missing_file(tmp_path: Path) -> None:
    p = Profile.from_data({"x": np.arange(10.0)})
    path = tmp_path / "p.json"
    p.save(path)
    d = json.loads(path.read_text())
    d["features"][0]["sketch"]["count"] = 999  # buckets no longer add up
    path.write_text(json.dumps(d))
    with pytest.raises(ProfileError, match="p.json: corrupt profile.*add up"):
        Profile.load(path)
    with pytest.raises(ProfileError, match="nowhere.json: cannot read profile"):
        Profile.load(tmp_path / "nowhere.json")
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ProfileError, match="bin.json"):
        Profile.load(binary)


def test_empty_and_all_missing_columns() -> None:
    p = Profile.from_data({"x": np.array([np.nan, np.nan]), "c": [None, None]})
    assert p.features["x"].missing_rate == 1.0
    assert math.isnan(p.features["x"].min)
    assert p.features["c"].missing_rate == 1.0


def test_save_into_a_missing_directory_names_the_file(tmp_path: Path) -> None:
    p = Profile.from_data({"x": np.arange(3.0)})
    with pytest.raises(ProfileError, match="nowhere/p.json: cannot write profile"):
        p.save(tmp_path / "nowhere" / "p.json")


@pytest.mark.parametrize("text_dtype", [object, "str"])
def test_profiling_and_comparing_a_dataframe_read_it_column_by_column(text_dtype: object) -> None:
    """No whole-table step: each column is read (and let go) on its own, and pandas counts
    its text columns itself, so no Python string is made per row (issue 14 item 8)."""
    import tracemalloc

    from otel_ml.stats import compare

    n = 50_000
    rng = np.random.default_rng(2)
    words = np.array([f"value-{i}" for i in range(1000)], dtype=object)
    frame = pd.DataFrame(
        {
            **{f"x{j}": rng.normal(size=n) for j in range(10)},
            **{f"c{j}": pd.Series(words[rng.integers(0, 1000, n)], dtype=text_dtype)
               for j in range(4)},  # fmt: skip
        }
    )
    Profile.from_data(frame.iloc[:10])  # first-use imports and caches are not the point
    tracemalloc.start()
    try:
        profile = Profile.from_data(frame)
        report = compare(profile, frame)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(report.features) == 14 and not report.drifted
    # The table itself is 4 MB of floats and 200,000 text cells (~13 MB as Python strings);
    # one column's work is under 2 MB.
    assert peak < 3 * 2**20, peak
