"""``opentelemetry-instrument python app.py`` on PyTorch and ONNX Runtime apps that never import
OpenTelemetry: outputs bitwise equal to plain runs, the spans and sketches arrive over OTLP.

The apps run as subprocesses with the real OTLP/HTTP exporters (configured by
opentelemetry-distro) pointed at a receiver on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import onnxruntime  # noqa: F401  (a dev dependency: missing fails, never skips)
import pytest
import skl2onnx  # noqa: F401  (a dev dependency: missing fails, never skips)
import torch  # noqa: F401  (a dev dependency: missing fails, never skips)
from otlp_loopback import OtlpReceiver, Received, attributes, run_app
from sdk_support import prediction_calls

from otel_ml import semconv

# The app prints the bytes of every output (hex), so any change of a value shows.
APP = """
import hashlib
import numpy as np
import onnxruntime as ort
import torch
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression

def digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()

torch.manual_seed(0)
net = torch.nn.Sequential(
    torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3), torch.nn.Softmax(dim=1)
).eval()
x = torch.from_numpy(np.random.default_rng(0).normal(size=(64, 5)).astype("f4"))
with torch.no_grad():
    outs = [net(x[i:i + 16]) for i in range(0, 64, 16)]
    single = net(x[:1])
print("torch", digest(*[o.numpy() for o in outs], single.numpy()))

X = np.random.default_rng(1).normal(size=(300, 4)).astype(np.float32)
clf = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
onnx_bytes = to_onnx(clf, X[:1], options={"zipmap": False}).SerializeToString()
with open("credit.onnx", "wb") as f:
    f.write(onnx_bytes)
session = ort.InferenceSession("credit.onnx", providers=["CPUExecutionProvider"])
runs = [session.run(None, {"X": X[i:i + 50]}) for i in range(0, 200, 50)]
print("onnx", digest(*[a for run in runs for a in run]))
"""

N_TORCH_CALLS = 5
N_ONNX_CALLS = 4


def _run(tmp_path: Path, endpoint: str | None, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {"OTEL_SERVICE_NAME": "neural-app", "OTEL_ML_PYTORCH_MODELS": "Sequential=classifier:4"}
    return run_app(tmp_path, APP, endpoint, **{**env, **extra})


def _spans(received: Received, framework: str) -> list[object]:
    return [
        span
        for _, span in received.spans()
        if attributes(span.attributes).get(semconv.ML_MODEL_FRAMEWORK) == framework
    ]


@pytest.fixture(scope="module")
def plain_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    done = _run(tmp_path_factory.mktemp("plain"), None)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_unmodified_app_outputs_are_bitwise_equal_and_monitored(tmp_path, plain_output):
    with OtlpReceiver() as receiver:
        done = _run(tmp_path, receiver.endpoint)
        assert done.returncode == 0, done.stderr
        received = receiver.received
        received.wait_for(
            lambda r: len(_spans(r, "pytorch")) >= N_TORCH_CALLS
            and len(_spans(r, "onnxruntime")) >= N_ONNX_CALLS,
            timeout=10,
        )

    assert done.stdout == plain_output  # every output byte as without instrumentation

    torch_spans = _spans(received, "pytorch")
    assert [s.name for s in torch_spans] == ["forward classifier"] * N_TORCH_CALLS  # no layers
    assert attributes(torch_spans[0].attributes)[semconv.ML_MODEL_VERSION] == "4"
    onnx_spans = _spans(received, "onnxruntime")
    assert [s.name for s in onnx_spans] == ["run credit"] * N_ONNX_CALLS

    by_model: dict[tuple[str, str], int] = {}
    for _, metric in received.metrics(semconv.METRIC_FEATURE_VALUES):
        if metric.WhichOneof("data") != "exponential_histogram":
            continue
        for point in metric.exponential_histogram.data_points:
            attrs = attributes(point.attributes)
            key = (str(attrs[semconv.ML_MODEL_NAME]), str(attrs[semconv.ML_FEATURE_NAME]))
            by_model[key] = by_model.get(key, 0) + point.count
    assert by_model[("classifier", "f4")] == 64 + 1
    assert by_model[("credit", "f3")] == 200

    calls = prediction_calls(
        (
            attributes(rec.attributes),
            int.from_bytes(rec.trace_id, "big"),
            int.from_bytes(rec.span_id, "big"),
        )
        for _, rec in received.logs()
        if rec.event_name == semconv.EVENT_PREDICTION
    )
    per_call: dict[tuple[str, int, int], int] = {}  # a call's rows may span several records
    for c in calls:
        key = (str(c[semconv.ML_MODEL_NAME]), c["trace_id"], c["span_id"])
        per_call[key] = per_call.get(key, 0) + len(c[semconv.ML_PREDICTION_IDS])
    rows = sorted((model, n) for (model, _, _), n in per_call.items())
    assert rows == [("classifier", 1)] + [("classifier", 16)] * 4 + [("credit", 50)] * 4


def test_disabled_by_otel_python_disabled_instrumentations(tmp_path, plain_output):
    with OtlpReceiver() as receiver:
        done = _run(
            tmp_path,
            receiver.endpoint,
            OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="pytorch,onnxruntime",
        )
        assert done.returncode == 0, done.stderr
        received = receiver.received
    assert done.stdout == plain_output
    assert _spans(received, "pytorch") == [] and _spans(received, "onnxruntime") == []


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("script", "span_name", "env"),
    [
        (
            "pytorch_scoring.py",
            "forward churn_torch",
            {"OTEL_ML_PYTORCH_MODELS": "ChurnNet=churn_torch:1"},
        ),
        ("onnxruntime_scoring.py", "run churn", {"OTEL_ML_ONNXRUNTIME_VERSION": "1"}),
    ],
)
def test_examples_under_opentelemetry_instrument(tmp_path, script, span_name, env):
    """examples/*_scoring.py: training makes no spans, each scored batch makes one."""
    with OtlpReceiver() as receiver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | env
        env.update(
            OTEL_SERVICE_NAME="example",
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_METRICS_EXPORTER="none",
            OTEL_LOGS_EXPORTER="none",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_BSP_SCHEDULE_DELAY="100",
        )
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "opentelemetry-instrument"),
                sys.executable,
                str(EXAMPLES / script),
                "--batches",
                "3",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        receiver.received.wait_for(lambda r: len(r.spans()) >= 3, timeout=10)
        received = receiver.received
    assert "scored 300 customers" in done.stdout
    assert [span.name for _, span in received.spans()] == [span_name] * 3
