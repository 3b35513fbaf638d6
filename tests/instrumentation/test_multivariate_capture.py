"""The SDK's multivariate feature: each batch's PCA reconstruction errors, as a sketch."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sdk_support import Telemetry

import otel_ml
from otel_ml import semconv
from otel_ml.instrumentation import ModelKey, flush
from otel_ml.sketch import NumericSketch, Profile

MV = semconv.MULTIVARIATE_ERROR_FEATURE


def _frame(n: int, rho: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    return pd.DataFrame({
        "a": a,
        "b": rho * a + np.sqrt(1 - rho**2) * rng.normal(size=n),
        "c": rng.uniform(0, 10, n),
        "city": rng.choice(["x", "y"], n),
    })


@pytest.fixture(scope="module")
def reference() -> Profile:
    p = Profile.from_data(_frame(5_000, 0.8, 0), model="m", version="1")
    assert p.multivariate is not None
    return p


def _same(got: NumericSketch, want: NumericSketch) -> bool:
    """Equal sketches, the sum up to float rounding (rows are multiplied in other batches)."""
    g, w = got.to_dict(), want.to_dict()
    return g.pop("sum") == pytest.approx(w.pop("sum"), rel=1e-12) and g == w


def _window(telemetry: Telemetry) -> Any:
    flush()
    return telemetry.consumer.collect().windows[ModelKey("m", "1")]


def test_a_big_call_and_many_small_ones_export_the_rows_errors(
    telemetry: Telemetry, reference: Profile
) -> None:
    @otel_ml.monitor(model="m", version="1", reference=reference, **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(x))

    big = _frame(500, -0.8, 1)[["city", "c", "b", "a"]]  # any column order
    predict(big)
    w = _window(telemetry)
    expected = reference.multivariate.error_sketch({n: big[n].to_numpy() for n in "abc"})
    assert _same(w.numeric[MV], expected) and w.numeric[MV].count == 500
    assert {"a", "b", "c"} <= set(w.numeric) and "city" in w.categorical

    small = _frame(40, 0.8, 2)
    for i in range(40):
        predict(small.iloc[i : i + 1])
    w = _window(telemetry)
    want = reference.multivariate.error_sketch({n: small[n].to_numpy() for n in "abc"})
    assert _same(w.numeric[MV], want)


def test_numpy_rows_take_the_reference_order_and_dicts_their_names(
    telemetry: Telemetry, reference: Profile
) -> None:
    @otel_ml.monitor(model="m", version="1", reference=reference, **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: object) -> float:
        return 0.0

    rows = _frame(30, 0.8, 3)
    for r in rows.to_dict("records"):
        predict({"city": r["city"], "c": r["c"], "b": r["b"], "a": r["a"]})
    w = _window(telemetry)
    want = reference.multivariate.error_sketch({n: rows[n].to_numpy() for n in "abc"})
    assert _same(w.numeric[MV], want)


def test_no_multivariate_feature_without_the_model_or_a_feature_of_it(
    telemetry: Telemetry, reference: Profile
) -> None:
    plain = dataclasses.replace(reference, multivariate=None)

    @otel_ml.monitor(model="m", version="1", reference=plain, **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(x))

    @otel_ml.monitor(model="m", version="1", reference=reference, exclude_features=["c"],
                     **telemetry.kwargs())  # type: ignore[arg-type]
    def predict_without_c(x: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(x))

    predict(_frame(100, 0.8, 4))
    predict_without_c(_frame(100, 0.8, 5))
    predict_without_c(_frame(100, 0.8, 6).drop(columns=["a"]))
    w = _window(telemetry)
    assert MV not in w.numeric and w.numeric["a"].count == 200


def test_a_failure_is_counted_and_the_model_and_other_features_are_untouched(
    telemetry: Telemetry, reference: Profile
) -> None:
    model = reference.multivariate
    broken = dataclasses.replace(model, components=np.ones((1, 5)))  # wrong width: raises
    profile = dataclasses.replace(reference, multivariate=broken)
    out = np.arange(200.0)

    @otel_ml.monitor(model="m", version="1", reference=profile, **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: pd.DataFrame) -> np.ndarray:
        return out

    assert predict(_frame(200, 0.8, 7)) is out
    for r in _frame(20, 0.8, 8).to_dict("records"):
        assert predict(r) is out
    w = _window(telemetry)
    assert MV not in w.numeric
    assert w.numeric["a"].count == 220 and w.categorical["city"].total == 220
    counts = telemetry.runtime.errors.counts
    assert sum(n for (stage, _), n in counts.items() if stage == "features") == 2



def test_sparse_and_non_finite_rows_leave_the_model_alone(
    telemetry: Telemetry, reference: Profile
) -> None:
    """A scipy.sparse batch gets no multivariate feature and no failure; rows with NaN
    and ±inf get their errors with those values at the reference mean; the model's
    results are its own either way."""
    import scipy.sparse as sp

    out = np.arange(3.0)

    @otel_ml.monitor(model="m", version="1", reference=reference,
                     feature_names=["a", "b", "c"], **telemetry.kwargs())  # type: ignore[arg-type]
    def predict(x: object) -> np.ndarray:
        return out

    assert predict(sp.csr_matrix(np.eye(3))) is out
    w = _window(telemetry)
    assert MV not in w.numeric
    assert not any(n for (stage, _), n in telemetry.runtime.errors.counts.items())
    rows = np.array([[np.nan, 1.0, 2.0], [np.inf, -np.inf, 3.0], [0.5, 0.2, 5.0]])
    assert predict(rows) is out
    w = _window(telemetry)
    model = reference.multivariate
    want = model.error_sketch({"a": rows[:, 0], "b": rows[:, 1], "c": rows[:, 2]})
    imputed = model.errors({"a": [model.means[0], model.means[0], 0.5],
                            "b": [1.0, model.means[1], 0.2], "c": [2.0, 3.0, 5.0]})
    assert _same(w.numeric[MV], want) and np.isfinite(imputed).all()
    assert w.numeric[MV].sum == pytest.approx(imputed.sum())
