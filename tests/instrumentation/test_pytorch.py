"""PyTorchInstrumentor on real PyTorch (CPU) modules, read back via SDK in-memory exporters."""

from __future__ import annotations

import io

import numpy as np
import pytest
import sklearn_support
import torch
from neural_support import window, windows
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import StatusCode
from sklearn_support import instrument_fixture_for, only_span

from otel_ml import monitor, semconv
from otel_ml.instrumentation.pytorch import (
    PyTorchInstrumentor,
    default_name,
    name_model,
)

telemetry = pytest.fixture(name="telemetry")(sklearn_support.telemetry_fixture)
instrument = pytest.fixture(name="instrument")(instrument_fixture_for(PyTorchInstrumentor))


class Classifier(torch.nn.Module):
    """Four features -> three class probabilities (sub-modules: a backbone and a head)."""

    def __init__(self, seed: int = 0, probabilities: bool = True) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.backbone = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU())
        self.head = torch.nn.Linear(8, 3)
        self.probabilities = probabilities

    def forward(self, x):
        logits = self.head(self.backbone(x))
        return torch.softmax(logits, dim=1) if self.probabilities else logits


def _x(n: int = 20, width: int = 4, seed: int = 1):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, width)).astype("f4"))


def test_outermost_module_is_one_call_and_result_is_untouched(telemetry, instrument):
    model = name_model(Classifier().eval(), "iris_net")
    x = _x()
    with torch.no_grad():
        expected = model(x)
    seen = []
    instrument(response_hook=lambda span, module, op, result: seen.append(result))

    with torch.no_grad():
        result = model(x)

    assert torch.equal(result, expected)
    assert seen and seen[0] is result  # the module's own output object
    span = only_span(telemetry)  # not one per layer
    assert span.name == "forward iris_net"
    attrs = dict(span.attributes or {})
    assert attrs[semconv.ML_MODEL_FRAMEWORK] == "pytorch"
    assert attrs[semconv.ML_OPERATION] == "forward"
    assert attrs[semconv.ML_BATCH_SIZE] == 20
    w = window(telemetry, "iris_net")
    assert w.calls == 1 and w.rows == 20
    # 2-D input: one feature per column, named by position.
    assert sorted(w.numeric) == ["f0", "f1", "f2", "f3"]
    assert w.numeric["f2"].count == 20
    assert w.numeric["f2"].min == pytest.approx(float(x[:, 2].min()))
    # Softmax output: class probabilities, one stream per class, the argmax class.
    # (and per class that won a row, its argmax:<class> stream: multiclass CBPE's input)
    assert sorted(n for n in w.predictions if not n.startswith("argmax:")) == ["0", "1", "2"]
    won = {f"argmax:{int(i)}" for i in result.argmax(1)}
    assert {n for n in w.predictions if n.startswith("argmax:")} == won
    (event,) = telemetry.events()
    assert event[semconv.ML_PREDICTION_LABELS] == [str(int(i)) for i in result.argmax(1)]


def test_logits_get_their_own_streams(telemetry, instrument):
    model = name_model(Classifier(probabilities=False).eval(), "raw")
    instrument()
    with torch.inference_mode():
        logits = model(_x(30))
    w = window(telemetry, "raw")
    assert sorted(w.predictions) == ["decision:0", "decision:1", "decision:2"]
    assert w.predictions["decision:1"].max == pytest.approx(float(logits[:, 1].max()))
    (event,) = telemetry.events()
    assert semconv.ML_PREDICTION_VALUES not in event  # raw scores are not probabilities
    assert event[semconv.ML_PREDICTION_LABELS] == [str(int(i)) for i in logits.argmax(1)]


def test_regression_tuple_and_dict_outputs(telemetry, instrument):
    class Multi(torch.nn.Module):
        def __init__(self, kind: str) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 1)
            self.kind = kind

        def forward(self, x):
            y = self.linear(x)
            if self.kind == "tuple":
                return y, x.sum()
            if self.kind == "dict":
                return {"hidden": x, "logits": torch.cat([y, -y], dim=1)}
            return y

    value, pair, mapping = (
        name_model(Multi(k).eval(), k) for k in ("value", "tuple", "dict")
    )
    instrument()
    x = _x(10)
    with torch.no_grad():
        y = value(x)
        first, _ = pair(x)
        out = mapping(x)
    events = {e[semconv.ML_MODEL_NAME]: e for e in telemetry.events()}
    # (n, 1) float output: a regression value, in the event.
    assert events["value"][semconv.ML_PREDICTION_VALUES] == pytest.approx(y[:, 0].tolist())
    assert window(telemetry, "value").predictions.keys() == {"score"}
    # Tuple: its first tensor is the prediction.
    assert events["tuple"][semconv.ML_PREDICTION_VALUES] == pytest.approx(first[:, 0].tolist())
    # Dict (a Hugging Face ModelOutput): its logits.
    assert events["dict"][semconv.ML_PREDICTION_LABELS] == [
        str(int(i)) for i in out["logits"].argmax(1)
    ]


def test_images_are_described_by_per_sample_summaries(telemetry, instrument):
    conv = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(4, 2), torch.nn.Softmax(dim=1),
    )
    name_model(conv.eval(), "vision")
    images = torch.rand(6, 3, 16, 16)
    instrument()
    with torch.no_grad():
        conv(images)
    w = window(telemetry, "vision")
    assert sorted(w.numeric) == ["input.max", "input.mean", "input.min", "input.std"]
    flat = images.reshape(6, -1).double()
    assert w.numeric["input.mean"].count == 6
    assert w.numeric["input.mean"].min == pytest.approx(float(flat.mean(1).min()))
    assert w.numeric["input.max"].max == pytest.approx(float(flat.max()))
    assert w.numeric["input.std"].min == pytest.approx(float(flat.std(1, correction=0).min()))


def test_one_dimensional_tensor_is_one_sample(telemetry, instrument):
    model = name_model(torch.nn.Linear(4, 1).eval(), "single")
    instrument()
    with torch.no_grad():
        model(torch.ones(4))
    w = window(telemetry, "single")
    assert w.rows == 1 and sorted(w.numeric) == ["f0", "f1", "f2", "f3"]


def test_training_is_not_prediction_by_default(telemetry, instrument):
    model = name_model(Classifier(), "trained")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    instrument()
    x, y = _x(32), torch.randint(0, 3, (32,))
    for _ in range(3):  # a training loop: train mode, autograd on
        optimizer.zero_grad()
        torch.nn.functional.nll_loss(torch.log(model(x)), y).backward()
        optimizer.step()
    model.eval()
    model(x)  # eval mode, but autograd still records: not inference code
    assert telemetry.finished() == []
    with torch.no_grad():
        model.train()
        model(x)  # training mode (dropout, batch statistics): not inference either
        model.eval()
        model(x)  # eval mode under no_grad: inference
    assert [s.name for s in telemetry.finished()] == ["forward trained"]


def test_record_training_monitors_every_outermost_forward(telemetry, instrument):
    model = name_model(Classifier(), "all_forwards")
    instrument(record_training=True)
    model(_x(8)).sum().backward()
    assert [s.name for s in telemetry.finished()] == ["forward all_forwards"]


def test_exceptions_propagate_unchanged(telemetry, instrument):
    model = name_model(Classifier().eval(), "broken")
    bad = torch.ones(3, 7)
    with pytest.raises(RuntimeError) as plain, torch.no_grad():
        model(bad)
    instrument()
    with pytest.raises(RuntimeError) as wrapped, torch.no_grad():
        model(bad)
    assert type(wrapped.value) is type(plain.value)
    assert str(wrapped.value) == str(plain.value)
    span = only_span(telemetry)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[semconv.ERROR_TYPE] == "RuntimeError"


def test_default_names_tell_models_apart_and_are_stable():
    a, b, a_again = Classifier(seed=0), Classifier(seed=1), Classifier(seed=0)
    assert default_name(a) == default_name(a_again)  # same architecture and weights
    assert default_name(a) != default_name(b)  # same class, other weights
    assert default_name(a).startswith("Classifier-")


def test_unnamed_modules_of_one_class_are_two_models(telemetry, instrument):
    first, second = Classifier(seed=0).eval(), Classifier(seed=1).eval()
    instrument()
    with torch.no_grad():
        first(_x(3))
        second(_x(3))
    names = {dict(s.attributes or {})[semconv.ML_MODEL_NAME] for s in telemetry.finished()}
    assert names == {default_name(first), default_name(second)}


def test_naming_survives_torch_save(telemetry, instrument):
    buffer = io.BytesIO()
    torch.save(name_model(Classifier().eval(), "saved", version="7"), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    instrument()
    with torch.no_grad():
        loaded(_x(2))
    attrs = dict(only_span(telemetry).attributes or {})
    assert attrs[semconv.ML_MODEL_NAME] == "saved" and attrs[semconv.ML_MODEL_VERSION] == "7"


def test_a_monitored_function_calling_the_module_is_one_call(telemetry, instrument):
    model = Classifier().eval()
    instrument()

    @monitor("scoring", tracer_provider=telemetry.tracer_provider)
    def score(rows):
        with torch.no_grad():
            return model(torch.as_tensor(rows, dtype=torch.float32)).numpy()

    score(np.ones((2, 4)))
    assert [s.name for s in telemetry.finished()] == ["predict scoring"]


def test_suppressed_and_uninstrumented_calls_are_plain(telemetry, instrument):
    original = torch.nn.Module.__dict__["__call__"]
    model = Classifier().eval()
    instrumentor = instrument()
    assert torch.nn.Module.__dict__["__call__"] is not original
    with suppress_instrumentation(), torch.no_grad():
        model(_x(2))
    assert telemetry.finished() == []
    instrumentor.uninstrument()
    assert torch.nn.Module.__dict__["__call__"] is original
    with torch.no_grad():
        model(_x(2))
    assert telemetry.finished() == []


def test_bfloat16_and_integer_inputs_are_read(telemetry, instrument):
    emb = torch.nn.Sequential(torch.nn.Embedding(10, 3), torch.nn.Flatten(), torch.nn.Linear(6, 1))
    half = name_model(torch.nn.Linear(2, 1).to(torch.bfloat16).eval(), "half")
    name_model(emb.eval(), "tokens")
    instrument()
    with torch.no_grad():
        half(torch.ones(5, 2, dtype=torch.bfloat16))
        emb(torch.tensor([[1, 2], [3, 4]]))
    found = windows(telemetry)
    assert found["half"].numeric["f1"].count == 5
    tokens = found["tokens"]
    assert tokens.numeric["f1"].max == 4.0  # token ids, one feature per position


def test_tensors_off_the_cpu_are_never_read(telemetry, instrument):
    """The accelerator path, on PyTorch's "meta" device (tensors without data): reading one
    would fail (on a GPU: synchronise the device); the call is counted with its rows."""
    model = name_model(Classifier().to("meta").eval(), "on_device")
    instrument()
    with torch.no_grad():
        out = model(torch.ones(5, 4, device="meta"))
    assert out.device.type == "meta"
    span = only_span(telemetry)
    assert dict(span.attributes or {})[semconv.ML_BATCH_SIZE] == 5
    assert span.status.status_code is not StatusCode.ERROR
    w = window(telemetry, "on_device")
    assert w.calls == 1 and w.rows == 5
    assert w.numeric == {} and w.predictions == {}  # nothing read from the device
    assert default_name(Classifier().to("meta")).startswith("Classifier-")


def test_a_module_inside_a_monitored_sklearn_pipeline_is_not_counted_twice(telemetry, instrument):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from otel_ml.instrumentation.sklearn import SklearnInstrumentor

    encoder = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh()).eval()

    def embed(X):
        with torch.no_grad():
            return encoder(torch.as_tensor(X, dtype=torch.float32)).numpy()

    X = _x(60).numpy()
    pipe = make_pipeline(FunctionTransformer(embed), LogisticRegression())
    pipe.fit(X, (X[:, 0] > 0).astype(int))
    instrument()
    sklearn = SklearnInstrumentor()
    sklearn.instrument(
        tracer_provider=telemetry.tracer_provider,
        logger_provider=telemetry.logger_provider,
        meter_provider=telemetry.meter_provider,
    )
    try:
        pipe.predict_proba(X[:10])
    finally:
        sklearn.uninstrument()
    assert [s.name for s in telemetry.finished()] == ["predict_proba Pipeline"]


def test_tracing_and_compiling_are_not_calls_and_leave_no_trace(telemetry, instrument):
    """torch.jit.trace and torch.compile run the model to trace it: not monitored, and
    nothing of ours gets into the trace (no TracerWarning: an error here); the traced,
    scripted and compiled models' own calls are monitored, once each."""
    import warnings

    net = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.Softmax(dim=1)).eval()
    instrument()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit's own
        warnings.simplefilter("error", torch.jit.TracerWarning)
        traced = torch.jit.trace(net, torch.ones(1, 4), check_trace=False)
        scripted = torch.jit.script(net)
        compiled = torch.compile(net, backend="eager")
        assert telemetry.finished() == []  # tracing made no call
        outs = [m(torch.ones(3, 4)) for m in (traced, scripted, compiled)]
    assert all(torch.equal(o, outs[0]) for o in outs)
    names = [s.name.split("-")[0] for s in telemetry.finished()]
    assert names == [
        "forward TopLevelTracedModule",
        "forward RecursiveScriptModule",
        "forward OptimizedModule",
    ]
