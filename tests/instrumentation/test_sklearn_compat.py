"""scikit-learn's own estimator checks give the same verdicts with the instrumentor on.

``check_estimator`` fits, predicts, pickles, clones, checks ``available_if``
methods, sample weights, input validation and error messages; every check must
end the same way (passed, failed, skipped) instrumented as not. Failures that
scikit-learn itself reports for these estimators are failures in both runs.
"""

from __future__ import annotations

import warnings

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from otel_ml.instrumentation import flush
from otel_ml.instrumentation.sklearn import SklearnInstrumentor


def _verdicts(estimator: object) -> list[tuple[str, str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, on_fail=None)
    return sorted((r["check_name"], r["status"]) for r in results)


@pytest.mark.parametrize(
    "make",
    [LogisticRegression, lambda: make_pipeline(StandardScaler(), LogisticRegression())],
    ids=["LogisticRegression", "Pipeline"],
)
def test_check_estimator_verdicts_unchanged(make):
    plain = _verdicts(make())
    instrumentor = SklearnInstrumentor()
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentor.instrument(
        tracer_provider=TracerProvider(),
        logger_provider=LoggerProvider(),
        meter_provider=meter_provider,
    )
    try:
        instrumented = _verdicts(make())
        flush()
    finally:
        instrumentor.uninstrument()
        meter_provider.shutdown()
    assert len(plain) > 40
    assert instrumented == plain
