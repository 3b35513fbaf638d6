"""Monitor PyTorch models without changing the application: ``PyTorchInstrumentor``.

Calling an ``nn.Module`` for inference -- ``model(x)`` -- becomes one
monitored call: a span (``forward <model>``), the call / row / error counters
and the duration histogram, per-feature distributions, the prediction
distribution and class counts, data-quality counts against a reference
profile, and one ``ml.prediction`` event carrying the prediction ids, exactly
as for scikit-learn (``docs/semantic-conventions.md``). The module's result
comes back untouched (the same object) and its exceptions propagate unchanged.

Usage
-----
::

    pip install 'otel-ml[pytorch]' opentelemetry-distro
    export OTEL_ML_PYTORCH_MODELS="ChurnNet=churn:3"
    export OTEL_ML_PYTORCH_REFERENCES="churn=churn-3.profile.json"
    opentelemetry-instrument python app.py

The entry point is ``pytorch``: ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=pytorch``
turns it off; without PyTorch installed it does nothing. In code::

    from otel_ml.instrumentation.pytorch import PyTorchInstrumentor, name_model

    PyTorchInstrumentor().instrument()
    name_model(model, "churn", version="3")
    model.eval()
    with torch.inference_mode():
        model(x)                          # one monitored call

What counts as one call
-----------------------
Only the outermost module: the sub-modules a model calls (its layers, a
backbone, a head) are part of its call, and so is anything a monitored
scikit-learn, XGBoost... call runs (a scikit-learn wrapper around a module).
``Module.__call__`` is wrapped once, on ``torch.nn.Module``; a module whose
class overrides ``__call__`` is not covered (decorate its caller with
``@otel_ml.monitor``).

Training is not prediction. By default a forward is monitored only when the
module is in eval mode (``model.eval()``) *and* autograd is not recording
(``torch.no_grad()`` / ``torch.inference_mode()``), as inference code runs it.
A forward in training mode, or one that autograd records (a training step,
also with the module in eval mode), is not monitored, and neither are the
forwards it runs inside. ``record_training=True``
(``OTEL_ML_PYTORCH_RECORD_TRAINING=true``) monitors every outermost forward:
for inference code that does not turn autograd off, or to watch training.
Inside ``opentelemetry.instrumentation.utils.suppress_instrumentation()``
nothing is monitored.

What is read
------------
The input is the first tensor argument (else the first tensor keyword
argument, else the first tensor inside a dict, list or tuple first argument,
as ``model(batch)``); other arguments (masks, lengths) are not described.

- a 2-D tensor is one row per sample and one feature per column, named by
  position (``f0``, ``f1``...) unless ``feature_names`` (or the reference
  profile) name them; a 1-D tensor is one sample;
- a tensor of rank 3 or more (images, sequences, embeddings) is one row per
  sample, described by four per-sample statistics of its values,
  ``input.mean``, ``input.std``, ``input.min`` and ``input.max``: bounded (four
  features whatever the shape) and cheap (four vectorized passes);
- ``bfloat16`` is read through a ``float32`` copy; complex, sparse and
  quantized tensors are counted (rows) but not described.

The output: a tensor, the first tensor of a tuple or list, or from a dict (a
Hugging Face ``ModelOutput``) the ``logits``, ``probabilities``, ``probs`` or
``scores`` entry, else its first tensor. A 2-D float output whose rows lie in
``[0, 1]`` and sum to 1 is class probabilities (per-class streams, the
predicted class, the positive-class probability in the event); any other 2-D
float output is logits: raw scores are not probabilities, so they go to their
own ``decision:<class>`` streams, the predicted class is their largest column
and the event carries the class only. A 1-D (or ``(n, 1)``) float output is a
score / regression value; an integer 1-D output is the predicted class. Class
names: ``MonitorOptions(class_names=...)`` through ``name_model``, else the
column numbers.

``instrument()`` does not import PyTorch: ``torch.nn.Module`` is patched when
the application imports ``torch`` (at once if it already has), so a process that
has PyTorch installed but does not use it pays nothing at start-up.

Accelerators: tensors on a GPU (or any device but the CPU) are never read on
the calling thread -- reading them would wait for the device (a
synchronisation) in the middle of the user's inference. For them the call,
its rows (from the shape), duration, errors, span and prediction ids are
recorded; features and outputs are not (no sketches). The duration is the
time to return, as the caller sees it (kernels may still run). Move the
tensors to the CPU yourself (``.cpu()``, where the code needs them anyway) and
decorate that step with ``@otel_ml.monitor`` to get distributions too.

Configuration
-------------
As for scikit-learn (``otel_ml.instrumentation.sklearn``), with the
``OTEL_ML_PYTORCH_`` prefix: ``name_model(model, "churn", version="3")`` for
one instance (the naming is an attribute of the module: ``torch.save(model)``
keeps it, a ``state_dict`` does not); ``models={"ChurnNet": "churn:3"}`` /
``OTEL_ML_PYTORCH_MODELS`` by class name; ``references`` /
``OTEL_ML_PYTORCH_REFERENCES``; ``version``, ``capture_features``,
``feature_sample_rate``, ``prediction_events``, ``record_training``. A module
named neither way is named ``<Class>-<8 hex digits>`` from its architecture
(the classes of its sub-modules) and its parameters' names, shapes, dtypes and
first and last 64 bytes: the
same model gets the same name in every process, two different models of one
class get different names (parameters on an accelerator contribute their
names and shapes only). Hooks: ``request_hook(span, module, "forward",
input)`` and ``response_hook(span, module, "forward", output)``.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

import numpy as np

from otel_ml.instrumentation._framework import (
    FrameworkCalls,
    FrameworkInstrumentor,
    Patcher,
    Read,
)
from otel_ml.instrumentation._naming import name_model
from otel_ml.instrumentation._options import MonitorOptions, OneDimensionalInput
from otel_ml.instrumentation._outputs import Outputs
from otel_ml.instrumentation._tensors import feature_input, read_outputs
from otel_ml.instrumentation._when_imported import patch_when_imported

if TYPE_CHECKING:
    from otel_ml.instrumentation._sklearn_config import SklearnConfig

__all__ = ["FRAMEWORK", "OPERATION", "name_model", "PyTorchInstrumentor"]

FRAMEWORK: Final = "pytorch"
"""``ml.model.framework`` of PyTorch modules, and the ``OTEL_ML_PYTORCH_*`` prefix."""

OPERATION: Final = "forward"
"""``ml.operation`` of a module's call."""

#: Keys of a dict output (a Hugging Face ``ModelOutput``) read as the predictions, in order.
_OUTPUT_KEYS: Final = ("logits", "probabilities", "probs", "scores")

#: Bytes of each parameter's memory that go into the default name (its first and last).
_NAME_BYTES: Final = 64


def _is_tensor(value: object) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def _first_tensor(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    for value in args:
        if _is_tensor(value):
            return value
    for value in kwargs.values():
        if _is_tensor(value):
            return value
    if args and isinstance(args[0], (Mapping, list, tuple)):
        inner = args[0].values() if isinstance(args[0], Mapping) else args[0]
        for value in inner:
            if _is_tensor(value):
                return value
    return None


def to_numpy(tensor: Any) -> np.ndarray[Any, Any] | None:
    """A CPU tensor's values as numpy (a view, no copy); ``None`` when not readable here.

    Never reads a tensor on another device (that would synchronise it).
    """
    import torch

    t = tensor.detach()
    if t.device.type != "cpu" or t.layout is not torch.strided or t.is_quantized:
        return None
    if t.is_complex():
        return None
    if t.dtype is torch.bfloat16:
        t = t.to(torch.float32)
    if t.is_conj() or t.is_neg():
        t = t.resolve_conj().resolve_neg()
    array: np.ndarray[Any, Any] = t.numpy()
    return array


def _rows_only(tensor: Any) -> np.ndarray[Any, Any]:
    """A zero-width matrix with the tensor's rows: the call and rows are counted, no features."""
    n = int(tensor.shape[0]) if tensor.dim() >= 2 else 1
    return np.empty((n, 0))


def tensor_input(tensor: Any) -> object:
    """What the monitor describes of a module's input tensor (see the module docstring)."""
    if tensor is None:
        return None
    array = to_numpy(tensor)
    if array is None:
        return _rows_only(tensor)
    return feature_input(array)


def _output_tensors(result: object) -> list[Any]:
    if _is_tensor(result):
        return [result]
    if isinstance(result, Mapping):
        for key in _OUTPUT_KEYS:
            if key in result and _is_tensor(result[key]):
                return [result[key]]
        values = list(result.values())
    elif isinstance(result, (list, tuple)):
        values = list(result)
    else:
        return []
    return [v for v in values[:1] if _is_tensor(v)]


def read_output(result: object, options: MonitorOptions) -> Outputs | np.ndarray[Any, Any]:
    """The predictions in a module's output (see the module docstring)."""
    arrays = [a for a in map(to_numpy, _output_tensors(result)) if a is not None]
    return read_outputs(arrays, options.class_names, options.task)


def _sample_bytes(tensor: Any) -> bytes:
    """The first and last bytes of a contiguous CPU tensor's memory, read without a torch
    operation (so nothing is traced, synchronised or warned about); empty otherwise."""
    import torch

    if (
        tensor.device.type != "cpu"
        or tensor.layout is not torch.strided
        or tensor.is_quantized
        or not tensor.is_contiguous()
        or tensor.numel() == 0
    ):
        return b""
    size = tensor.numel() * tensor.element_size()
    k = min(size, _NAME_BYTES)
    start = tensor.data_ptr()
    return ctypes.string_at(start, k) + ctypes.string_at(start + size - k, k)


def default_name(module: Any) -> str:
    """``<Class>-<8 hex digits>`` from the module's architecture and a bounded sample of its
    parameters (see the module docstring).

    Under ``torch.jit.trace`` (the first call of a model may be the one traced) the
    tracer is paused meanwhile: shapes read while tracing are traced values, and
    the name must not depend on whether the model was traced.
    """
    import torch

    state = torch._C._get_tracing_state()
    if state is not None:
        torch._C._set_tracing_state(None)  # type: ignore[attr-defined]
    try:
        return _default_name(module)
    finally:
        if state is not None:
            torch._C._set_tracing_state(state)  # type: ignore[attr-defined]


def _default_name(module: Any) -> str:
    digest = hashlib.sha256()
    for name, sub in module.named_modules():
        digest.update(f"{name}:{type(sub).__qualname__};".encode())
    for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype};".encode())
        digest.update(_sample_bytes(tensor))
    return f"{type(module).__name__}-{digest.hexdigest()[:8]}"


class _PyTorch:
    """What otel_ml knows of PyTorch modules (the ``Framework`` of the shared core)."""

    name = FRAMEWORK

    def complete(self, options: MonitorOptions, instance: Any) -> MonitorOptions:
        # A 1-D tensor is one sample (nn.Linear takes one); skip_nested: an outer
        # @monitor call makes the module's call part of it.
        return dataclasses.replace(
            options,
            framework=FRAMEWORK,
            skip_nested=True,
            one_dimensional_input=OneDimensionalInput.ROW,
        )

    def default_name(self, instance: Any) -> str:
        return default_name(instance)


class PyTorchInstrumentor(FrameworkInstrumentor):
    """An OpenTelemetry instrumentor for PyTorch modules called for inference (module docs)."""

    framework: ClassVar[str] = FRAMEWORK
    module: ClassVar[str] = "torch"
    instruments_any: ClassVar[tuple[str, ...]] = ("torch >= 2.1",)

    def _framework(self) -> _PyTorch:
        return _PyTorch()

    def _install(self, patcher: Patcher, calls: FrameworkCalls, config: SklearnConfig) -> None:
        # Not at start-up: importing torch costs seconds; patched when the app imports it.
        patch_when_imported(
            "torch", lambda torch: _patch(torch, patcher, calls, config), lambda: calls.active
        )


def _patch(torch: Any, patcher: Patcher, calls: FrameworkCalls, config: SklearnConfig) -> None:
    record_all = config.record_training
    is_tracing = torch.jit.is_tracing
    is_compiling = torch.compiler.is_compiling

    def read(
        module: Any, options: MonitorOptions, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Read | None:
        if not record_all and (module.training or torch.is_grad_enabled()):
            return None  # training: unmonitored, and so is every forward inside it
        if is_tracing() or is_compiling():
            return None  # torch.jit.trace / torch.compile tracing the model: not a call
        return Read(
            tensor_input(_first_tensor(args, kwargs)),
            OPERATION,
            lambda result: read_output(result, options),
        )

    patcher.wrap(torch.nn.Module, "__call__", calls.wrapper(OPERATION, read))
