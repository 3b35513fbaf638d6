"""Never break the model, gradient-boosting edition: instrumented calls behave exactly as the
originals on bad inputs (the inputs of ``test_sklearn_fail_open``: NaN, ±inf, strings,
missing / extra columns, empty batches, 1-D and 3-D arrays, ragged lists, None,
generators), for each framework's prediction methods (XGBoost, LightGBM, CatBoost), and for an
XGBoost ``DMatrix`` built from them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_sklearn_fail_open import NUMERIC, TRAIN, Y, _outcome, _same, bad_inputs
from test_sklearn_fail_open import _message as _sklearn_message

from otel_ml.instrumentation import flush


def _xgboost() -> list[tuple[str, Any, str]]:
    import xgboost as xgb

    clf = xgb.XGBClassifier(n_estimators=3, max_depth=2, n_jobs=1).fit(TRAIN[NUMERIC], Y)
    reg = xgb.XGBRegressor(n_estimators=3, max_depth=2, n_jobs=1).fit(
        TRAIN[NUMERIC].to_numpy(), TRAIN["income"].to_numpy())
    booster = clf.get_booster()
    return [("xgb_clf", clf, "predict"), ("xgb_clf", clf, "predict_proba"),
            ("xgb_reg", reg, "predict"), ("booster", booster, "inplace_predict"),
            ("booster", booster, "dmatrix")]


def _lightgbm() -> list[tuple[str, Any, str]]:
    import lightgbm as lgb

    clf = lgb.LGBMClassifier(n_estimators=3, num_leaves=4, n_jobs=1, verbose=-1).fit(
        TRAIN[NUMERIC], Y)
    reg = lgb.LGBMRegressor(n_estimators=3, num_leaves=4, n_jobs=1, verbose=-1).fit(
        TRAIN[NUMERIC].to_numpy(), TRAIN["income"].to_numpy())
    return [("lgb_clf", clf, "predict"), ("lgb_clf", clf, "predict_proba"),
            ("lgb_reg", reg, "predict"), ("lgb_booster", clf.booster_, "predict")]


def _catboost() -> list[tuple[str, Any, str]]:
    import catboost as cb

    quiet = {"iterations": 3, "depth": 2, "thread_count": 1, "verbose": 0,
             "allow_writing_files": False}
    clf = cb.CatBoostClassifier(**quiet).fit(TRAIN[NUMERIC], Y)
    reg = cb.CatBoostRegressor(**quiet).fit(TRAIN[NUMERIC].to_numpy(), TRAIN["income"])
    return [("cb_clf", clf, "predict"), ("cb_clf", clf, "predict_proba"),
            ("cb_reg", reg, "predict")]


CASES: list[tuple[str, Any, str]] = [*_xgboost(), *_lightgbm(), *_catboost()]


def _instrumentors() -> list[type]:
    from otel_ml.instrumentation.catboost import CatBoostInstrumentor
    from otel_ml.instrumentation.lightgbm import LightGBMInstrumentor
    from otel_ml.instrumentation.xgboost import XGBoostInstrumentor

    return [XGBoostInstrumentor, LightGBMInstrumentor, CatBoostInstrumentor]


def _message(exc: BaseException) -> str:
    """The exception text, addresses and XGBoost's log timestamps (``[15:33:48]``) masked."""
    return re.sub(r"\[\d\d:\d\d:\d\d\]", "[hh:mm:ss]", _sklearn_message(exc))


def _original(model: Any, method: str) -> Callable[..., Any]:
    """The framework's own method, bound to ``model`` (bypassing our wrapper)."""
    for owner in type(model).__mro__:
        if method in vars(owner):
            raw = vars(owner)[method]
            return getattr(raw, "__wrapped__", raw).__get__(model, type(model))
    raise AttributeError(method)


def _call(model: Any, method: str, make: Callable[[], Any], original: bool) -> Any:
    if method == "dmatrix":
        import xgboost as xgb

        dm = xgb.DMatrix(make())  # may raise: then both sides raise the same
        return (_original(model, "predict") if original else model.predict)(dm)
    return (_original(model, method) if original else getattr(model, method))(make())


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentors = [cls() for cls in _instrumentors()]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=provider, logger_provider=LoggerProvider(),
                                meter_provider=meter_provider)
    yield exporter
    flush()
    for instrumentor in instrumentors:
        instrumentor.uninstrument()
    meter_provider.shutdown()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(make=bad_inputs(), case=st.integers(0, len(CASES) - 1))
def test_instrumented_call_behaves_exactly_like_the_original(
    spans: InMemorySpanExporter, make: Callable[[], Any], case: int
) -> None:
    name, model, method = CASES[case]
    # XGBoost reads a str as the URI of a data file, and crashes the process on some:
    # xgboost.DMatrix("") segfaults in _from_uri (xgboost 3.2, without otel_ml too).
    assume(not (name.startswith(("xgb", "booster")) and isinstance(make(), str)))
    with suppress_instrumentation():  # what the original calls inside runs plain too
        want_kind, want = _outcome(lambda: _call(model, method, make, original=True))
    spans.clear()
    got_kind, got = _outcome(lambda: _call(model, method, make, original=False))
    assert got_kind == want_kind, (want, got)
    if got_kind == "raised":
        assert type(got) is type(want)
        assert _message(got) == _message(want)
    else:
        assert _same(got, want)
        assert len(spans.get_finished_spans()) == 1  # it was monitored, once
    flush()  # the background worker absorbs whatever it was given, without raising


def test_nan_and_inf_rows_are_read_not_rejected(spans: InMemorySpanExporter) -> None:
    row = np.array([[np.nan, np.inf]])
    for _, model, method in CASES:
        if method == "dmatrix":
            continue
        with suppress_instrumentation():
            want = _original(model, method)(row)
        spans.clear()
        got = getattr(model, method)(row)
        assert np.array_equal(got, want, equal_nan=True)
        assert len(spans.get_finished_spans()) == 1
