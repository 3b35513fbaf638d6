"""One column-kind rule (otel_ml/sketch/_columns.py) in the profile, the SDK's capture and
the CLI, datetime columns included (issue 10 §3, issue 16 item 15)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from otel_ml import semconv
from otel_ml._errors import ConfigurationError
from otel_ml.cli import main
from otel_ml.instrumentation._features import capture
from otel_ml.instrumentation._inputs import to_table
from otel_ml.instrumentation._options import MonitorOptions
from otel_ml.instrumentation._window import ModelWindow
from otel_ml.sketch import FeatureKind, Profile
from otel_ml.sketch._columns import KIND_SAMPLE
from otel_ml.stats import compare

MISMATCH = semconv.QUALITY_SCHEMA_MISMATCH


def _sdk(inputs: object, reference: Profile | None = None) -> ModelWindow:
    """What the SDK captures from one predict call's ``inputs`` (its real adapter + capture)."""
    table = to_table(inputs)
    assert table is not None
    return capture(table, MonitorOptions(model="m"), reference)


def _sdk_kind(w: ModelWindow, name: str) -> FeatureKind | None:
    if name in w.numeric:
        return FeatureKind.NUMERIC
    if name in w.categorical:
        return FeatureKind.CATEGORICAL
    return None


def _cli_profile(tmp_path: Path, csv_text: str, *args: str) -> dict[str, object]:
    data, out = tmp_path / "d.csv", tmp_path / "p.json"
    data.write_text(csv_text, encoding="utf-8")
    assert main(["profile", str(data), "-o", str(out), *args]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _cli_kinds(doc: dict[str, object]) -> dict[str, str]:
    features = doc["features"]
    assert isinstance(features, list)
    return {f["name"]: f["kind"] for f in features}


def test_a_mixed_column_has_the_same_kind_in_profile_sdk_capture_and_cli(tmp_path: Path) -> None:
    columns = {"mixed": [1.0, "x", None], "numbers": [1, 2.5, None], "text": ["a", "b", "a"]}
    profile = Profile.from_data(columns)
    assert {n: f.kind for n, f in profile.features.items()} == {
        "mixed": FeatureKind.CATEGORICAL,
        "numbers": FeatureKind.NUMERIC,
        "text": FeatureKind.CATEGORICAL,
    }
    w = _sdk(columns)  # no reference: the SDK infers by the same rule
    assert {n: _sdk_kind(w, n) for n in columns} == {n: f.kind for n, f in profile.features.items()}
    assert w.categorical["mixed"].counts == profile.features["mixed"].sketch.counts  # type: ignore[union-attr]
    assert (("mixed", MISMATCH) not in w.quality) and (("", MISMATCH) not in w.quality)
    doc = _cli_profile(tmp_path, "mixed,numbers,text\n1.0,1,a\nx,2.5,b\n,,a\n")
    assert _cli_kinds(doc) == {"mixed": "categorical", "numbers": "numeric", "text": "categorical"}


def test_an_object_column_is_judged_on_a_bounded_sample_and_strays_are_counted() -> None:
    n = 50 * KIND_SAMPLE
    values = np.array([float(i) for i in range(n)], dtype=object)
    values[KIND_SAMPLE + 7] = "n/a"  # not among the evenly spaced sample
    w = _sdk({"x": values})
    assert w.numeric["x"].count == n - 1
    assert w.quality[("x", MISMATCH)] == 1  # the one stray value, not the whole batch
    with pytest.raises(ConfigurationError, match=r"'n/a' \(row 1031\) is not a number"):
        Profile.from_data({"x": values})
    values[KIND_SAMPLE + 7] = 1.0
    assert Profile.from_data({"x": values}).features["x"].kind is FeatureKind.NUMERIC


def _dates(start: int, n: int, seed: int) -> list[dt.datetime]:
    rng = np.random.default_rng(seed)
    base = dt.datetime(start, 1, 1)
    return [base + dt.timedelta(days=float(d)) for d in rng.uniform(0, 365, n)]


def test_datetime_columns_are_skipped_by_default_and_never_categories(tmp_path: Path) -> None:
    days = _dates(2018, 500, 0)
    columns = {
        "python": days,
        "numpy": np.array(days, dtype="datetime64[us]"),
        "pandas_tz": pd.Series(pd.to_datetime(days)).dt.tz_localize("Europe/Paris"),
        "age": np.arange(500.0),
    }
    profile = Profile.from_data(pd.DataFrame(columns))
    assert list(profile.features) == ["age"]
    assert sorted(profile.skipped) == ["numpy", "pandas_tz", "python"]
    assert Profile.from_dict(json.loads(json.dumps(profile.to_dict()))).skipped == profile.skipped

    w = _sdk(pd.DataFrame(columns).head(20), profile)
    assert set(w.numeric) == {"age"} and not w.categorical
    assert not any(issue == MISMATCH for _, issue in w.quality)  # skipped, not unknown
    w = _sdk({"when": days[:20]})  # no reference
    assert not w.numeric and not w.categorical and not w.quality

    csv = "when,age\n" + "".join(f"{d.isoformat()},{i}\n" for i, d in enumerate(days))
    doc = _cli_profile(tmp_path, csv)
    assert _cli_kinds(doc) == {"age": "numeric"} and list(doc["skipped"]) == ["when"]  # type: ignore[call-overload]


def test_a_six_year_shift_of_dates_is_drift_when_they_are_compared_as_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, after = _dates(2014, 2_000, 1), _dates(2020, 2_000, 2)
    ref = Profile.from_data({"signup": before}, datetimes="epoch_seconds")
    cur = Profile.from_data({"signup": after}, datetimes="epoch_seconds")
    assert ref.features["signup"].kind is FeatureKind.NUMERIC
    start = dt.datetime(2014, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    assert ref.features["signup"].min == pytest.approx(start, abs=86_400)
    (drift,) = compare(ref, cur).features
    assert drift.drifted and drift.statistic > 0.9

    # The SDK captures the column as the reference does: seconds since the epoch.
    w = _sdk(pd.DataFrame({"signup": pd.to_datetime(after[:50]).tz_localize("UTC")}), ref)
    assert w.numeric["signup"].min >= dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc).timestamp()

    # The CLI: ISO 8601 text, --datetimes epoch_seconds, then a drift run on shifted dates.
    for name, dates in (("train.csv", before), ("now.csv", after)):
        (tmp_path / name).write_text(
            "signup\n" + "".join(f"{d.isoformat()}Z\n" for d in dates), encoding="utf-8"
        )
    prof = tmp_path / "p.json"
    args = ["profile", str(tmp_path / "train.csv"), "-o", str(prof)]
    assert main([*args, "--datetimes", "epoch_seconds"]) == 0
    capsys.readouterr()
    assert main(["drift", str(prof), str(tmp_path / "now.csv"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [f["feature"] for f in report["features"] if f["drifted"]] == ["signup"]


def test_the_statistics_on_raw_data_follow_the_reference_for_datetime_columns() -> None:
    from otel_ml.stats import quality_report

    days = _dates(2018, 300, 3)
    raw = {"when": np.array(days, dtype="datetime64[us]"), "age": np.arange(300.0)}
    skipping = Profile.from_data(raw)
    assert compare(skipping, raw).extra_features == ()  # skipped, not an unknown column
    converting = Profile.from_data(raw, datetimes="epoch_seconds")
    q = quality_report(converting, raw)
    assert not q.schema and all(f.schema_mismatch_rate == 0.0 for f in q.features)
    assert not any(f.drifted for f in compare(converting, raw).features)


def _comments(n: int, start: int = 0) -> list[str | None]:
    """Free text: long, mostly unique, with a few missing."""
    out: list[str | None] = [
        f"order {i}: private note sensitive{i:05d}, the parcel arrived late"
        for i in range(start, start + n)
    ]
    for i in range(0, n, 10):
        out[i] = None
    return out


@pytest.mark.parametrize("dtype", [object, "str"])
def test_a_free_text_column_is_text_in_profile_sdk_and_compare_and_never_categories(
    dtype: object,
) -> None:
    n = 3000
    rng = np.random.default_rng(4)
    df = pd.DataFrame(
        {
            "amount": rng.normal(size=n),
            "channel": pd.Series(rng.choice(["web", "app", "phone"], n), dtype=dtype),
            "comment": pd.Series(_comments(n), dtype=dtype),
            "zip": pd.Series([f"{z:05d}" for z in rng.integers(0, 99_999, n)], dtype=dtype),
        }
    )
    profile = Profile.from_data(df)
    kinds = {name: f.kind for name, f in profile.features.items()}
    assert kinds == {
        "amount": FeatureKind.NUMERIC,
        "channel": FeatureKind.CATEGORICAL,
        "comment": FeatureKind.TEXT,
        "zip": FeatureKind.CATEGORICAL,  # short codes stay categories, however many
    }
    text = profile.features["comment"]
    lengths = [len(c) for c in _comments(n) if c is not None]
    assert text.missing_rate == pytest.approx(0.1)
    assert (text.min, text.max) == (min(lengths), max(lengths))
    assert text.categories == frozenset()
    saved = json.dumps(profile.to_dict())
    assert "sensitive" not in saved and "private note" not in saved
    assert Profile.from_dict(json.loads(saved)).features["comment"].kind is FeatureKind.TEXT

    for reference in (None, profile):  # the SDK: by the rule, or by the reference's kind
        w = _sdk(df.iloc[:200], reference)
        assert "comment" in w.numeric and "comment" not in w.categorical
        assert w.numeric["comment"].count == 180
        assert w.quality[("comment", semconv.QUALITY_MISSING)] == 20
        assert not any("sensitive" in k for s in w.categorical.values() for k in s.counts)
    few = _sdk(df.iloc[1:4])  # three rows of one call: too few to see repetition, still text
    assert "comment" in few.numeric

    # A raw current table is read the reference's way: the lengths, compared as numbers,
    # reported as a text feature (the evaluator's kind too).
    same = {f.feature: f for f in compare(profile, df.sample(1000, random_state=1)).features}
    assert same["comment"].kind is FeatureKind.TEXT and not same["comment"].drifted
    longer = df.assign(comment=df["comment"].str.repeat(2))
    assert {f.feature: f for f in compare(profile, longer).features}["comment"].drifted


def test_declaring_a_text_column_categorical_is_the_opt_in_to_its_values() -> None:
    df = pd.DataFrame({"comment": _comments(300)})
    profile = Profile.from_data(df, feature_types={"comment": "categorical"})
    assert profile.features["comment"].kind is FeatureKind.CATEGORICAL
    w = _sdk(df.iloc[:50], profile)
    assert "comment" in w.categorical
    assert any("sensitive" in k for k in w.categorical["comment"].counts)
    assert Profile.from_data(df, feature_types={"comment": "text"}).features["comment"].kind is (
        FeatureKind.TEXT
    )


def test_a_pandas_category_column_is_categorical_however_long_its_values() -> None:
    df = pd.DataFrame({"c": pd.Categorical(_comments(100))})
    assert Profile.from_data(df).features["c"].kind is FeatureKind.CATEGORICAL
