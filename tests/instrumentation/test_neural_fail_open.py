"""Never break the model, PyTorch and ONNX Runtime edition: instrumented calls behave exactly
as the originals.

Hypothesis feeds odd inputs -- tensors of every rank (0-D to 4-D, empty batches), dtype
(float16/32/64, bfloat16, integers, bool, complex), NaN and ±inf, tensors that require
grad, non-contiguous views, and non-tensor arguments -- to modules whose outputs take
every shape (tensors, tuples, dicts, None, Python numbers, ragged lists), and wrong feeds
(names, dtypes, shapes, not a dict) to an ONNX Runtime session. Each call's result and
exception are compared with the original called on the same input, and each call must
have been monitored once (or deliberately not, for a module in training mode).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import skl2onnx
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnxruntime.capi.onnxruntime_inference_collection import Session
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sklearn.linear_model import LogisticRegression

from otel_ml.instrumentation import flush
from otel_ml.instrumentation.onnxruntime import ONNXRuntimeInstrumentor
from otel_ml.instrumentation.pytorch import PyTorchInstrumentor

DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int8", "bool", "complex64"]
OUTPUTS = ["same", "softmax", "tuple", "dict", "none", "number", "ragged", "raise", "column"]
SPECIALS = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0, -1e30, 1e-30])


class Echo(torch.nn.Module):
    """A module whose output takes the shape asked for (and a sub-module, for nesting)."""

    def __init__(self, output: str) -> None:
        super().__init__()
        self.output = output
        self.inner = torch.nn.Identity()

    def forward(self, x: Any, *rest: Any) -> Any:
        x = self.inner(x)
        if self.output == "same":
            return x
        if self.output == "softmax":
            return torch.softmax(x.reshape(x.shape[0], -1).float(), dim=1)
        if self.output == "column":
            return x.reshape(-1, 1)
        if self.output == "tuple":
            return (x, rest)
        if self.output == "dict":
            return {"logits": x, "other": [x]}
        if self.output == "none":
            return None
        if self.output == "number":
            return float(x.float().sum())
        if self.output == "ragged":
            return [[1.0], [2.0, 3.0]]
        raise ValueError(f"bad input of shape {tuple(x.shape)}")


@st.composite
def tensors(draw: st.DrawFn) -> Callable[[], Any]:
    """A factory of equal fresh inputs (a module may modify its input in place)."""
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=4)))
    dtype = draw(st.sampled_from(DTYPES))
    size = int(np.prod(shape)) if shape else 1
    values = np.array(
        draw(st.lists(st.one_of(st.floats(-1e6, 1e6), SPECIALS), min_size=size, max_size=size)),
        dtype=np.float64,
    ).reshape(shape)
    grad = draw(st.booleans()) and dtype in ("float32", "float64")
    transpose = draw(st.booleans()) and len(shape) == 2

    def make() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            finite = np.nan_to_num(values) if dtype.startswith(("int", "bool")) else values
            t = torch.from_numpy(np.array(finite)).to(getattr(torch, dtype))
        if transpose:
            t = t.T
        if grad:
            t.requires_grad_(True)
        return t

    kind = draw(st.sampled_from(["tensor", "tensor", "tensor", "list", "none", "dict"]))
    if kind == "list":
        return lambda: values.tolist()
    if kind == "none":
        return lambda: None
    if kind == "dict":
        return lambda: {"x": make()}
    return make


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return "returned", call()
        except Exception as exc:  # noqa: BLE001 - the outcome under comparison
            return "raised", exc


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        x, y = a.detach().contiguous(), b.detach().contiguous()
        if x.dtype is torch.bfloat16:  # numpy has no bfloat16: compare the bits
            x, y = x.view(torch.int16), y.view(torch.int16)
        if x.is_complex():
            x, y = torch.view_as_real(x), torch.view_as_real(y)
        return bool(np.array_equal(x.numpy(), y.numpy(), equal_nan=x.is_floating_point()))
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float) and a != a:
        return b != b
    return bool(a == b)


def _message(exc: BaseException) -> str:
    return re.sub(r"0x[0-9a-fA-F]+", "0x?", str(exc))


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentors = [PyTorchInstrumentor(), ONNXRuntimeInstrumentor()]
    for instrumentor in instrumentors:
        instrumentor.instrument(
            tracer_provider=provider,
            logger_provider=LoggerProvider(),
            meter_provider=meter_provider,
        )
    yield exporter
    flush()
    for instrumentor in instrumentors:
        instrumentor.uninstrument()
    meter_provider.shutdown()


def _plain_module_call(module: Any, *args: Any) -> Any:
    """The module called as PyTorch defines it (our wrapper's ``__wrapped__``)."""
    call = vars(torch.nn.Module)["__call__"]
    return getattr(call, "__wrapped__", call)(module, *args)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(make=tensors(), output=st.sampled_from(OUTPUTS), second=st.booleans())
def test_module_call_behaves_exactly_like_the_original(
    spans: InMemorySpanExporter, make: Callable[[], Any], output: str, second: bool
) -> None:
    module = Echo(output).eval()
    extra = (torch.ones(2),) if second else ()
    plain_input, input_ = make(), make()
    with torch.no_grad():
        want_kind, want = _outcome(lambda: _plain_module_call(module, plain_input, *extra))
        spans.clear()
        got_kind, got = _outcome(lambda: module(input_, *extra))
    assert len(spans.get_finished_spans()) == 1  # monitored, once (not the Identity inside)
    assert got_kind == want_kind, (want, got)
    if got_kind == "raised":
        assert type(got) is type(want) and _message(got) == _message(want)
    else:
        assert _same(got, want), (got, want)
    flush()  # the background worker absorbs whatever it was given, without raising


X = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
_ONNX = skl2onnx.to_onnx(
    LogisticRegression().fit(X, (X[:, 0] > 0).astype(int)), X[:1]
).SerializeToString()


@st.composite
def feeds(draw: st.DrawFn) -> Callable[[], Any]:
    kind = draw(st.sampled_from(["good", "good", "name", "dtype", "width", "rank", "extra",
                                 "list", "none", "scalar"]))  # fmt: skip
    n = draw(st.integers(0, 30))
    values = np.array(
        draw(st.lists(st.one_of(st.floats(-1e6, 1e6), SPECIALS), min_size=3 * n, max_size=3 * n)),
        dtype=np.float32,
    ).reshape(n, 3)
    if kind == "good":
        return lambda: {"X": values.copy()}
    if kind == "name":
        return lambda: {"features": values.copy()}
    if kind == "dtype":
        return lambda: {"X": values.astype(np.float64)}
    if kind == "width":
        return lambda: {"X": np.ones((n, 5), dtype=np.float32)}
    if kind == "rank":
        return lambda: {"X": values.reshape(n, 3, 1)}
    if kind == "extra":
        return lambda: {"X": values.copy(), "Y": values.copy()}
    if kind == "list":
        return lambda: [values.copy()]
    if kind == "none":
        return lambda: None
    return lambda: {"X": np.float32(1.0)}


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(make=feeds(), names=st.sampled_from([None, ["output_label"], ["nope"], []]))
def test_session_run_behaves_exactly_like_the_original(
    spans: InMemorySpanExporter, make: Callable[[], Any], names: list[str] | None
) -> None:
    session = ort.InferenceSession(_ONNX, providers=["CPUExecutionProvider"])
    run = vars(Session)["run"]
    plain = getattr(run, "__wrapped__", run)
    want_kind, want = _outcome(lambda: plain(session, names, make()))
    spans.clear()
    got_kind, got = _outcome(lambda: session.run(names, make()))
    assert len(spans.get_finished_spans()) == 1
    assert got_kind == want_kind, (want, got)
    if got_kind == "raised":
        assert type(got) is type(want) and _message(got) == _message(want)
    else:
        assert _same(got, want), (got, want)
    flush()
