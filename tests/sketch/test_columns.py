"""Reading columns (sketch/_columns.py): pandas category columns stay categorical text."""

from __future__ import annotations

import pandas as pd

from otel_ml.sketch import FeatureKind, Profile
from otel_ml.sketch._columns import columns_of, infer_kind


def test_a_pandas_category_column_is_text_per_row_with_missing_as_none() -> None:
    df = pd.DataFrame(
        {
            "grade": pd.Series([2.0, None, 1.5, 2.0], dtype="category"),
            "city": pd.Series(["b", "a", None, "b"], dtype="category"),
        }
    )
    cols = columns_of(df)
    assert cols["grade"].tolist() == ["2.0", None, "1.5", "2.0"]
    assert cols["city"].tolist() == ["b", "a", None, "b"]
    assert {infer_kind(c) for c in cols.values()} == {FeatureKind.CATEGORICAL}
    grade = Profile.from_data(df).features["grade"]
    assert grade.sketch.counts == {"2.0": 2, "1.5": 1} and grade.missing_rate == 0.25  # type: ignore[union-attr]


def test_a_column_of_decimals_is_numeric() -> None:
    import decimal

    col = pd.Series([decimal.Decimal("1.25"), None, decimal.Decimal("3")], dtype=object)
    f = Profile.from_data(pd.DataFrame({"amount": col})).features["amount"]
    assert f.kind is FeatureKind.NUMERIC and (f.min, f.max, f.missing_rate) == (1.25, 3.0, 1 / 3)
