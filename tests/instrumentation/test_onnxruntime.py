"""ONNXRuntimeInstrumentor on real ONNX Runtime sessions of models converted by skl2onnx."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import skl2onnx
import sklearn_support
from neural_support import window
from onnxruntime.capi.onnxruntime_inference_collection import Session
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import StatusCode
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn_support import instrument_fixture_for, only_span

from otel_ml import monitor, semconv
from otel_ml.instrumentation.onnxruntime import (
    ONNXRuntimeInstrumentor,
    default_name,
    name_model,
)

telemetry = pytest.fixture(name="telemetry")(sklearn_support.telemetry_fixture)
instrument = pytest.fixture(name="instrument")(instrument_fixture_for(ONNXRuntimeInstrumentor))

CPU = ["CPUExecutionProvider"]
rng = np.random.default_rng(5)
X = rng.normal(size=(200, 3)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)


def _save(model: object, path: Path, **options: object) -> Path:
    onx = skl2onnx.to_onnx(model, X[:1], options=options or None)
    path.write_bytes(onx.SerializeToString())
    return path


@pytest.fixture(scope="module")
def classifier_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save(LogisticRegression().fit(X, Y), tmp_path_factory.mktemp("onnx") / "churn.onnx")


def test_run_is_one_call_with_untouched_outputs(telemetry, instrument, classifier_file):
    session = ort.InferenceSession(str(classifier_file), providers=CPU)
    expected = session.run(None, {"X": X[:40]})
    seen = []
    instrument(response_hook=lambda span, sess, op, result: seen.append(result))

    result = session.run(None, {"X": X[:40]})

    assert np.array_equal(result[0], expected[0]) and result[1] == expected[1]
    assert seen and seen[0] is result  # the session's own list
    span = only_span(telemetry)
    assert span.name == "run churn"  # named after the model file
    attrs = dict(span.attributes or {})
    assert attrs[semconv.ML_MODEL_FRAMEWORK] == "onnxruntime"
    assert attrs[semconv.ML_BATCH_SIZE] == 40
    w = window(telemetry, "churn")
    assert w.calls == 1 and w.rows == 40
    assert sorted(w.numeric) == ["f0", "f1", "f2"]
    assert w.numeric["f0"].min == pytest.approx(float(X[:40, 0].min()))
    # ZipMap probabilities: one stream per class (the dict keys), the label output.
    assert sorted(w.predictions) == ["0", "1"]
    (event,) = telemetry.events()
    assert event[semconv.ML_PREDICTION_LABELS] == [str(v) for v in result[0]]
    p1 = [row[1] for row in result[1]]
    assert event[semconv.ML_PREDICTION_VALUES] == pytest.approx(p1)


def test_probability_matrix_regression_and_small_calls(telemetry, instrument, tmp_path):
    matrix = _save(LogisticRegression().fit(X, Y), tmp_path / "plain.onnx", zipmap=False)
    target = X @ np.array([1.0, -2.0, 0.5], dtype=np.float32)
    reg = _save(LinearRegression().fit(X, target), tmp_path / "prices.onnx")
    clf = ort.InferenceSession(str(matrix), providers=CPU)
    regressor = ort.InferenceSession(str(reg), providers=CPU)
    instrument()
    labels, probabilities = clf.run(None, {"X": X[:5]})  # a small call: read off-thread
    (values,) = regressor.run(["variable"], {"X": X[:30]})
    events = {e[semconv.ML_MODEL_NAME]: e for e in telemetry.events()}
    assert events["plain"][semconv.ML_PREDICTION_VALUES] == pytest.approx(
        probabilities[:, 1].tolist()
    )
    assert events["prices"][semconv.ML_PREDICTION_VALUES] == pytest.approx(values[:, 0].tolist())


def test_several_inputs_are_named_by_the_graph(telemetry, instrument, tmp_path):
    session = ort.InferenceSession(_concat_graph(tmp_path / "two.onnx"), providers=CPU)
    instrument()
    session.run(None, {"age": X[:20, :1], "income": X[:20, 1:]})
    w = window(telemetry, "two")
    assert sorted(w.numeric) == ["age", "income[0]", "income[1]"]
    assert w.numeric["income[1]"].max == pytest.approx(float(X[:20, 2].max()))


def _concat_graph(path: Path) -> str:
    """An ONNX graph with two inputs, ``age`` (n, 1) and ``income`` (n, 2), summing them."""
    from onnx import TensorProto, helper

    age = helper.make_tensor_value_info("age", TensorProto.FLOAT, [None, 1])
    income = helper.make_tensor_value_info("income", TensorProto.FLOAT, [None, 2])
    out = helper.make_tensor_value_info("total", TensorProto.FLOAT, [None, 1])
    nodes = [
        helper.make_node("Concat", ["age", "income"], ["all"], axis=1),
        helper.make_node("ReduceSum", ["all", "axes"], ["total"], keepdims=1),
    ]
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    graph = helper.make_graph(nodes, "two", [age, income], [out], initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return str(path)


def test_images_are_summarised_per_sample(telemetry, instrument, tmp_path):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [None, 2, 4, 4])
    y = helper.make_tensor_value_info("mean", TensorProto.FLOAT, [None, 1])
    node = helper.make_node("ReduceMean", ["pixels", "axes"], ["flat"], keepdims=0)
    reshape = helper.make_node("Reshape", ["flat", "shape"], ["mean"])
    axes = helper.make_tensor("axes", TensorProto.INT64, [3], [1, 2, 3])
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 1])
    graph = helper.make_graph([node, reshape], "img", [x], [y], initializer=[axes, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=CPU)
    images = rng.random((7, 2, 4, 4)).astype(np.float32)
    instrument()
    (means,) = session.run(None, {"pixels": images})
    name = default_name(session)
    assert name.startswith("InferenceSession-")  # loaded from bytes: named by their hash
    w = window(telemetry, name)
    assert sorted(w.numeric) == ["input.max", "input.mean", "input.min", "input.std"]
    assert w.numeric["input.mean"].max == pytest.approx(float(means.max()), rel=1e-5)


def test_run_with_ort_values(telemetry, instrument, classifier_file):
    session = ort.InferenceSession(str(classifier_file), providers=CPU)
    name_model(session, "ort_values", version="2")
    instrument()
    feed = {"X": ort.OrtValue.ortvalue_from_numpy(X[:25])}
    outputs = session.run_with_ort_values(["output_label"], feed)
    assert outputs[0].numpy().shape == (25,)
    attrs = dict(only_span(telemetry).attributes or {})
    assert attrs[semconv.ML_MODEL_NAME] == "ort_values"
    assert attrs[semconv.ML_MODEL_VERSION] == "2"
    w = window(telemetry, "ort_values")
    assert w.rows == 25 and w.numeric["f1"].count == 25
    assert sum(w.classes.values()) == 25


def test_exceptions_propagate_unchanged(telemetry, instrument, classifier_file):
    session = ort.InferenceSession(str(classifier_file), providers=CPU)
    with pytest.raises(Exception) as plain:
        session.run(None, {"wrong": X[:2]})
    instrument()
    with pytest.raises(Exception) as wrapped:
        session.run(None, {"wrong": X[:2]})
    assert type(wrapped.value) is type(plain.value)
    assert str(wrapped.value) == str(plain.value)
    assert only_span(telemetry).status.status_code is StatusCode.ERROR


def test_model_version_is_read_from_the_graph(telemetry, instrument, tmp_path):
    import onnx

    onx = skl2onnx.to_onnx(LogisticRegression().fit(X, Y), X[:1])
    onx.model_version = 12
    path = tmp_path / "versioned.onnx"
    onnx.save(onx, str(path))
    session = ort.InferenceSession(str(path), providers=CPU)
    instrument()
    session.run(None, {"X": X[:3]})
    assert dict(only_span(telemetry).attributes or {})[semconv.ML_MODEL_VERSION] == "12"


def test_nested_suppressed_and_uninstrumented(telemetry, instrument, classifier_file):
    original = Session.__dict__["run"]
    original_ort_values = Session.__dict__["run_with_ort_values"]
    session = ort.InferenceSession(str(classifier_file), providers=CPU)
    instrumentor = instrument()

    @monitor("scoring", tracer_provider=telemetry.tracer_provider)
    def score(rows):
        return session.run(None, {"X": rows})[0]

    score(X[:4])
    assert [s.name for s in telemetry.finished()] == ["predict scoring"]
    telemetry.spans.clear()
    with suppress_instrumentation():
        session.run(None, {"X": X[:4]})
    assert telemetry.finished() == []
    instrumentor.uninstrument()
    assert Session.__dict__["run"] is original
    assert Session.__dict__["run_with_ort_values"] is original_ort_values
    session.run(None, {"X": X[:4]})
    assert telemetry.finished() == []


def test_not_installed_is_skipped(monkeypatch, telemetry):
    """Without ONNX Runtime (None in sys.modules: not importable), instrument() does nothing."""
    import sys

    original = Session.__dict__["run"]
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    instrumentor = ONNXRuntimeInstrumentor()
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider)
    try:
        assert Session.__dict__["run"] is original
    finally:
        instrumentor.uninstrument()
