"""Never break the model, scikit-learn edition: instrumented calls behave exactly as the originals.

Hypothesis feeds bad inputs (NaN, ±inf, strings in numeric columns, unseen
categories, missing / extra / renamed columns, empty batches, 1-D and 3-D
arrays, ragged lists, None, generators) to instrumented estimators and compares
result and exception with the original method called on the same input.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from otel_ml.instrumentation import flush
from otel_ml.instrumentation.sklearn import SklearnInstrumentor

NUMERIC = ["age", "income"]
rng = np.random.default_rng(3)
TRAIN = pd.DataFrame(
    {
        "age": rng.normal(40, 10, 200),
        "income": rng.lognormal(10, 0.5, 200),
        "city": rng.choice(["paris", "lyon", "nice"], 200),
    }
)
Y = (TRAIN["age"] > 40).astype(int).to_numpy()

scalars = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**40), 2**40),
    st.text(max_size=8),
    st.just("x" * 100_000),
)


def _models() -> list[tuple[str, Any]]:
    columns = ColumnTransformer(
        [
            ("num", StandardScaler(), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ]
    )
    return [
        ("pipeline", Pipeline([("c", columns), ("lr", LogisticRegression())]).fit(TRAIN, Y)),
        ("logistic", LogisticRegression().fit(TRAIN[NUMERIC].to_numpy(), Y)),
        ("ridge", Ridge().fit(TRAIN[NUMERIC].to_numpy(), TRAIN["income"].to_numpy())),
        ("forest", RandomForestClassifier(n_estimators=3, random_state=0).fit(TRAIN[NUMERIC], Y)),
    ]


MODELS = _models()
METHODS = ["predict", "predict_proba", "decision_function", "predict_log_proba"]


@st.composite
def bad_inputs(draw: st.DrawFn) -> Callable[[], Any]:
    """A factory of equal fresh inputs (generators cannot be replayed)."""
    kind = draw(
        st.sampled_from(
            ["frame", "frame_cols", "array", "ragged", "none", "generator", "scalar", "empty"]
        )
    )
    n = draw(st.integers(0, 40))
    if kind == "frame":
        values = {
            "age": draw(st.lists(scalars, min_size=n, max_size=n)),
            "income": draw(st.lists(st.floats(allow_nan=True, allow_infinity=True),
                                    min_size=n, max_size=n)),  # fmt: skip
            "city": draw(st.lists(st.sampled_from(["paris", "tokyo", "", None]),
                                  min_size=n, max_size=n)),  # fmt: skip
        }
        return lambda: pd.DataFrame({k: list(v) for k, v in values.items()})
    if kind == "frame_cols":
        cols = draw(st.lists(st.sampled_from(["age", "income", "city", "extra", "AGE"]),
                             unique=True, max_size=5))  # fmt: skip
        frame = pd.DataFrame({c: TRAIN[c].head(n).tolist() if c in TRAIN else [1.0] * n
                              for c in cols})  # fmt: skip
        return frame.copy
    if kind == "array":
        shape = draw(st.sampled_from([(n,), (n, 2), (n, 3), (2, 2, 2), ()]))
        size = int(np.prod(shape)) if shape else 1
        vals = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True),
                             min_size=size, max_size=size))  # fmt: skip
        array = np.array(vals, dtype=float).reshape(shape)
        return array.copy
    if kind == "ragged":
        rows = draw(st.lists(st.lists(scalars, max_size=3), min_size=1, max_size=5))
        return lambda: [list(r) for r in rows]
    if kind == "none":
        return lambda: None
    if kind == "generator":
        return lambda: ([float(i), float(i)] for i in range(n))
    if kind == "scalar":
        value = draw(scalars)
        return lambda: value
    return list


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return "returned", call()
        except Exception as exc:  # noqa: BLE001 - the outcome under comparison
            return "raised", exc


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.dtype.kind == "f" and b.dtype.kind == "f":
            return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)
    return bool(a == b)


def _message(exc: BaseException) -> str:
    """The exception text, with object addresses (a generator's repr) masked."""
    return re.sub(r"0x[0-9a-fA-F]+", "0x?", str(exc))


def _original(estimator: Any, method: str) -> Callable[..., Any]:
    """The method as scikit-learn defines it, bound to ``estimator`` (bypassing our wrapper)."""
    for owner in type(estimator).__mro__:
        if method in vars(owner):
            raw = vars(owner)[method]
            return getattr(raw, "__wrapped__", raw).__get__(estimator, type(estimator))
    raise AttributeError(method)


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = SklearnInstrumentor()
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentor.instrument(
        tracer_provider=provider, logger_provider=LoggerProvider(), meter_provider=meter_provider
    )
    yield exporter
    flush()
    instrumentor.uninstrument()
    meter_provider.shutdown()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    make=bad_inputs(),
    model_index=st.integers(0, len(MODELS) - 1),
    method=st.sampled_from(METHODS),
)
def test_instrumented_call_behaves_exactly_like_the_original(
    spans: InMemorySpanExporter, make: Callable[[], Any], model_index: int, method: str
) -> None:
    _, estimator = MODELS[model_index]
    if not hasattr(estimator, method):
        return
    with suppress_instrumentation():  # nested estimators (a Pipeline's) run plain too
        want_kind, want = _outcome(lambda: _original(estimator, method)(make()))
    spans.clear()
    got_kind, got = _outcome(lambda: getattr(estimator, method)(make()))
    assert len(spans.get_finished_spans()) == 1  # it was monitored, once
    assert got_kind == want_kind, (want, got)
    if got_kind == "raised":
        assert type(got) is type(want)
        assert _message(got) == _message(want)
    else:
        assert _same(got, want)
    flush()  # the background worker absorbs whatever it was given, without raising
