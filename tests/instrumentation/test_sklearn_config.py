"""SklearnInstrumentor configuration: names, environment, references, ids, entry point, bridge."""

from __future__ import annotations

import pytest
import sklearn_support
from opentelemetry.sdk.metrics import MeterProvider
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn_support import FEATURES, only_span

from otel_ml import semconv
from otel_ml._errors import ConfigurationError
from otel_ml.instrumentation._options import MonitorOptions
from otel_ml.instrumentation._window import ModelKey
from otel_ml.instrumentation.sklearn import ENV_MODELS, SklearnInstrumentor, name_model

telemetry = pytest.fixture(name="telemetry")(sklearn_support.telemetry_fixture)
instrument = pytest.fixture(name="instrument")(sklearn_support.instrument_fixture)
data = pytest.fixture(name="data", scope="module")(sklearn_support.data_fixture)


def test_model_names_from_name_model_mapping_and_class(telemetry, instrument, data):
    X, y = data
    named = name_model(LogisticRegression().fit(X, y), "credit_risk", version="3")
    mapped = Ridge().fit(X, y)
    plain = LogisticRegression(C=0.5).fit(X, y)
    instrument(models={"Ridge": "prices:7"})

    named.predict(X.iloc[:2])
    mapped.predict(X.iloc[:2])
    plain.predict(X.iloc[:2])

    got = [
        (dict(s.attributes)[semconv.ML_MODEL_NAME], dict(s.attributes)[semconv.ML_MODEL_VERSION])
        for s in telemetry.finished()
    ]
    assert got == [("credit_risk", "3"), ("prices", "7"), ("LogisticRegression", "unknown")]


def test_models_from_environment(telemetry, instrument, data, monkeypatch):
    X, y = data
    monkeypatch.setenv(ENV_MODELS, "LogisticRegression=churn:2")
    model = LogisticRegression().fit(X, y)
    instrument()
    model.predict(X.iloc[:2])
    attrs = dict(only_span(telemetry).attributes or {})
    assert (attrs[semconv.ML_MODEL_NAME], attrs[semconv.ML_MODEL_VERSION]) == ("churn", "2")


def test_bad_configuration_raises_at_instrument_time(instrument, monkeypatch):
    with pytest.raises(ConfigurationError, match="instrument.modles: unknown key; did you mean"):
        instrument(modles={})
    monkeypatch.setenv(ENV_MODELS, "LogisticRegression")
    with pytest.raises(ConfigurationError, match=ENV_MODELS):
        instrument()
    monkeypatch.delenv(ENV_MODELS)
    with pytest.raises(ConfigurationError, match="feature_sample_rate"):
        instrument(feature_sample_rate=2)
    with pytest.raises(ConfigurationError, match="MonitorOptions"):
        name_model(LogisticRegression(), MonitorOptions(model="m"), version="1")


def test_entry_point_and_dependency_check():
    from importlib.metadata import distribution, entry_points

    from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts

    (ep,) = entry_points(group="opentelemetry_instrumentor", name="sklearn")
    assert ep.load() is SklearnInstrumentor
    assert get_dist_dependency_conflicts(distribution("otel-ml")) is None
    assert tuple(SklearnInstrumentor().instrumentation_dependencies()) == ("scikit-learn >= 1.3",)


def test_ids_from_a_column_the_pipeline_drops(telemetry, instrument, data, monkeypatch):
    from sklearn.compose import ColumnTransformer

    from otel_ml.instrumentation import last_prediction_ids
    from otel_ml.instrumentation.sklearn import ENV_ID_COLUMN

    X, y = data
    frame = X.assign(case_id=[f"case-{i}" for i in range(len(X))])
    pipe = Pipeline(
        [
            ("cols", ColumnTransformer([("num", StandardScaler(), FEATURES)])),
            ("clf", LogisticRegression()),
        ]
    ).fit(frame, y)
    monkeypatch.setenv(ENV_ID_COLUMN, "case_id")
    instrument()

    pipe.predict_proba(frame.iloc[10:30])

    expected = [f"case-{i}" for i in range(10, 30)]
    assert list(last_prediction_ids()) == expected
    (event,) = telemetry.events()
    assert event[semconv.ML_PREDICTION_IDS] == expected
    window = telemetry.consumer.collect().windows[ModelKey("Pipeline", "unknown")]
    assert set(window.numeric) | set(window.categorical) == set(FEATURES)  # not case_id


def test_reference_profile_by_model_name(telemetry, instrument, data, tmp_path):
    from otel_ml import ProfileError
    from otel_ml.sketch import Profile

    X, y = data
    path = tmp_path / "ref.profile.json"
    Profile.from_data(X, model="Pipeline").save(path)
    with pytest.raises(ProfileError, match="missing.profile.json"):
        instrument(references={"Pipeline": tmp_path / "missing.profile.json"})
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    instrument(references={"Pipeline": str(path)})

    shifted = X.iloc[:20].assign(age=X["age"].max() + 1.0)  # above the reference range
    pipe.predict(shifted)

    window = telemetry.consumer.collect().windows[ModelKey("Pipeline", "unknown")]
    assert window.quality[("age", semconv.QUALITY_OUT_OF_RANGE)] == 20
    assert window.quality[("income", semconv.QUALITY_OUT_OF_RANGE)] == 0


def test_importing_the_instrumentor_does_not_import_sklearn():
    """``import otel_ml`` (which exports SklearnInstrumentor) works without scikit-learn."""
    import subprocess
    import sys

    code = (
        "import sys, otel_ml\n"
        "assert otel_ml.SklearnInstrumentor.__module__ == 'otel_ml.instrumentation.sklearn'\n"
        "print(sorted(m for m in sys.modules if m == 'sklearn' or m.startswith('sklearn.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"


def test_periodic_reader_is_bridged_for_feature_histograms(telemetry, data):
    from opentelemetry.sdk.metrics.export import (
        ExponentialHistogram,
        MetricExporter,
        MetricExportResult,
        PeriodicExportingMetricReader,
    )

    class Capture(MetricExporter):
        def __init__(self) -> None:
            super().__init__()
            self.metrics: list = []

        def export(self, metrics_data, timeout_millis=10_000, **kwargs):
            for rm in metrics_data.resource_metrics:
                for sm in rm.scope_metrics:
                    self.metrics.extend(sm.metrics)
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis=10_000):
            return True

        def shutdown(self, timeout_millis=30_000, **kwargs):
            pass

    X, y = data
    model = LogisticRegression().fit(X, y)
    exporter = Capture()
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentor = SklearnInstrumentor()
    instrumentor.instrument(
        tracer_provider=telemetry.tracer_provider,
        logger_provider=telemetry.logger_provider,
        meter_provider=meter_provider,
        models={"LogisticRegression": "bridged:1"},
    )
    try:
        model.predict(X.iloc[:50])
        meter_provider.force_flush()
    finally:
        instrumentor.uninstrument()
        meter_provider.shutdown()

    features = {
        dict(point.attributes)[semconv.ML_FEATURE_NAME]: point.count
        for metric in exporter.metrics
        if metric.name == semconv.METRIC_FEATURE_VALUES
        and isinstance(metric.data, ExponentialHistogram)
        for point in metric.data.data_points
        if dict(point.attributes)[semconv.ML_MODEL_NAME] == "bridged"
    }
    assert features == {name: 50 for name in FEATURES}


def test_reference_path_inside_monitor_options_is_loaded(telemetry, instrument, data, tmp_path):
    from otel_ml.sketch import Profile

    X, y = data
    path = tmp_path / "ref.profile.json"
    Profile.from_data(X).save(path)
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    instrument(models={"Pipeline": MonitorOptions(model="p", reference=str(path))})  # type: ignore[arg-type]

    pipe.predict(X.iloc[:10].assign(income=X["income"].min() - 1.0))

    window = telemetry.consumer.collect().windows[ModelKey("p", "unknown")]
    assert window.quality[("income", semconv.QUALITY_OUT_OF_RANGE)] == 10


def _pipeline_with_ids(X, y):
    from sklearn.compose import ColumnTransformer

    frame = X.assign(case_id=[f"case-{i}" for i in range(len(X))])
    pipe = Pipeline(
        [
            ("cols", ColumnTransformer([("num", StandardScaler(), FEATURES)])),
            ("clf", LogisticRegression()),
        ]
    ).fit(frame, y)
    return frame, pipe


@pytest.mark.parametrize("with_reference", [False, True])
def test_name_model_takes_the_id_column_and_settings_of_instrument(
    telemetry, instrument, data, with_reference
):
    from otel_ml.instrumentation import last_prediction_ids
    from otel_ml.sketch import Profile

    X, y = data
    frame, pipe = _pipeline_with_ids(X, y)
    reference = Profile.from_data(X) if with_reference else None
    instrument(id_column="case_id", version="9", feature_sample_rate=1.0)
    name_model(pipe, "credit_risk", reference=reference)

    pipe.predict_proba(frame.iloc[10:30])  # a bigger call, sketched on this thread
    pipe.predict_proba(frame.iloc[40:42])  # a small one, sketched by the worker

    expected = [f"case-{i}" for i in range(10, 30)]
    events = telemetry.events()
    assert [e[semconv.ML_PREDICTION_IDS] for e in events] == [expected, ["case-40", "case-41"]]
    assert list(last_prediction_ids()) == ["case-40", "case-41"]
    window = telemetry.consumer.collect().windows[ModelKey("credit_risk", "9")]
    # The ids are not sketched; a reference's multivariate model adds its reserved feature.
    expected_features = set(FEATURES)
    if with_reference:
        expected_features.add(semconv.MULTIVARIATE_ERROR_FEATURE)
    assert set(window.numeric) | set(window.categorical) == expected_features
    assert window.numeric["age"].count == 22
    assert not [k for k, c in window.quality.items() if c], window.quality  # no schema_mismatch


def test_name_model_with_monitor_options_is_used_as_given(telemetry, instrument, data):
    X, y = data
    frame, pipe = _pipeline_with_ids(X, y)
    instrument(id_column="other", prediction_events=False)
    name_model(pipe, MonitorOptions(model="m", version="2", id_column="case_id"))

    pipe.predict(frame.iloc[:20])

    (event,) = telemetry.events()
    assert event[semconv.ML_PREDICTION_IDS] == [f"case-{i}" for i in range(20)]
    window = telemetry.consumer.collect().windows[ModelKey("m", "2")]
    assert set(window.numeric) == set(FEATURES)


@pytest.mark.parametrize("how", ["pickle", "joblib"])
def test_the_name_survives_pickling(telemetry, instrument, data, tmp_path, how):
    import pickle

    import joblib

    from otel_ml.sketch import Profile

    X, y = data
    model = name_model(
        LogisticRegression().fit(X, y),
        "credit_risk",
        version="3",
        reference=Profile.from_data(X),
    )
    path = tmp_path / "model.bin"
    if how == "pickle":
        path.write_bytes(pickle.dumps(model))
        loaded = pickle.loads(path.read_bytes())
    else:
        joblib.dump(model, path)
        loaded = joblib.load(path)
    del model
    instrument()

    loaded.predict(X.iloc[:5].assign(age=X["age"].max() + 1.0))

    attrs = dict(only_span(telemetry).attributes or {})
    assert (attrs[semconv.ML_MODEL_NAME], attrs[semconv.ML_MODEL_VERSION]) == ("credit_risk", "3")
    window = telemetry.consumer.collect().windows[ModelKey("credit_risk", "3")]
    assert window.quality[("age", semconv.QUALITY_OUT_OF_RANGE)] == 5  # the reference came too


def test_a_named_model_loads_without_otel_ml(data, tmp_path):
    """The naming is plain data: the pickle needs scikit-learn, not otel_ml."""
    import pickle
    import subprocess
    import sys

    X, y = data
    model = name_model(Ridge().fit(X, y), MonitorOptions(model="prices", task="regression"))
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    code = (
        "import pickle, sys\n"
        "sys.modules['otel_ml'] = None  # importing otel_ml now fails\n"
        f"m = pickle.loads(open({str(path)!r}, 'rb').read())\n"
        "print(m._otel_ml_naming['options']['model'], type(m).__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["prices", "Ridge"]


def test_naming_again_after_a_call_takes_effect(telemetry, instrument, data):
    X, y = data
    model = LogisticRegression().fit(X, y)
    instrument()
    model.predict(X.iloc[:2])
    name_model(model, "renamed")
    model.predict(X.iloc[:2])

    names = [dict(s.attributes)[semconv.ML_MODEL_NAME] for s in telemetry.finished()]
    assert names == ["LogisticRegression", "renamed"]
