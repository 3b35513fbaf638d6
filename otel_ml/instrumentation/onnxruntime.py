"""Monitor ONNX models served with ONNX Runtime, without changing the application.

``ONNXRuntimeInstrumentor`` makes each ``InferenceSession.run`` (and
``run_with_ort_values``) one monitored call: a span (``run <model>``), the
call / row / error counters and the duration histogram, per-feature
distributions, the prediction distribution and class counts, data-quality
counts against a reference profile, and one ``ml.prediction`` event carrying
the prediction ids, as for scikit-learn (``docs/semantic-conventions.md``).
The session's outputs come back untouched (the same list) and its exceptions
propagate unchanged.

Usage
-----
::

    pip install 'otel-ml[onnxruntime]' opentelemetry-distro
    export OTEL_ML_ONNXRUNTIME_REFERENCES="churn=churn.profile.json"
    opentelemetry-instrument python app.py

The entry point is ``onnxruntime``:
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=onnxruntime`` turns it off; without
ONNX Runtime installed it does nothing. In code::

    from otel_ml.instrumentation.onnxruntime import ONNXRuntimeInstrumentor

    ONNXRuntimeInstrumentor().instrument()
    session = onnxruntime.InferenceSession("churn.onnx")
    session.run(None, {"X": X})          # one monitored call, model "churn"

What counts as one call
-----------------------
One ``run`` (or ``run_with_ort_values``) of a session; a ``run`` made inside
another monitored call (a ``@otel_ml.monitor`` function, a monitored
scikit-learn call) is part of that call. ONNX Runtime does not train, so
every run is inference. ``run_async`` is not monitored. Inside
``opentelemetry.instrumentation.utils.suppress_instrumentation()`` nothing is
monitored. ``instrument()`` does not import ONNX Runtime: the session class is
patched when the application imports ``onnxruntime`` (at once if it already has).

What is read
------------
The feed (a dict of arrays, one per graph input). One input: a 2-D array is
one row per sample and one feature per column, named by position (``f0``,
``f1``... unless ``feature_names`` or the reference profile name them), a 1-D
array is one feature; several inputs (a model converted from a DataFrame has
one per column): features named after the graph inputs -- ``<input>`` for an
input of width one, ``<input>[j]`` per column of a wider one. An input of rank
3 or more (images, sequences) is described per sample by ``<input>.mean``,
``.std``, ``.min``, ``.max`` (``input.mean``... when it is the only input).
``run_with_ort_values`` reads CPU ``OrtValue`` inputs through a numpy copy;
values on another device are not read (only the call is counted).

The outputs (the list ``run`` returns): a 1-D integer or string output is the
predicted class (``label`` of a converted classifier); a probability matrix --
also as the list of dicts of a ``ZipMap`` output, whose keys name the classes
-- gives the per-class streams and the positive-class probability in the
event. A 2-D float output that is not probabilities (logits, margins) goes to
its own ``decision:<class>`` streams: raw scores are not probabilities. A
1-D or ``(n, 1)`` float output alone is a score / regression value. Outputs
left out with ``output_names`` are not read.

Configuration
-------------
As for scikit-learn (``otel_ml.instrumentation.sklearn``), with the
``OTEL_ML_ONNXRUNTIME_`` prefix (``MODELS`` by class name is of little use
here: every session is an ``InferenceSession``). The model name, in order:
``name_model(session, "churn", version="3")``; the stem of the model file the
session was loaded from (``churn`` for ``models/churn.onnx``); for a model
loaded from bytes, ``InferenceSession-<8 hex digits of the bytes>``. The
version, unless given: the ONNX ``model_version`` when it is set (not 0).
Hooks: ``request_hook(span, session, "run", feed)``,
``response_hook(span, session, "run", outputs)``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

import numpy as np

from otel_ml import semconv
from otel_ml.instrumentation._framework import (
    FrameworkCalls,
    FrameworkInstrumentor,
    Patcher,
    Read,
    content_name,
)
from otel_ml.instrumentation._naming import name_model
from otel_ml.instrumentation._options import MonitorOptions, OneDimensionalInput
from otel_ml.instrumentation._outputs import Outputs
from otel_ml.instrumentation._tensors import feed_input, read_outputs
from otel_ml.instrumentation._when_imported import patch_when_imported

if TYPE_CHECKING:
    from otel_ml.instrumentation._sklearn_config import SklearnConfig

__all__ = ["FRAMEWORK", "OPERATION", "name_model", "ONNXRuntimeInstrumentor"]

FRAMEWORK: Final = "onnxruntime"
"""``ml.model.framework`` of ONNX Runtime sessions, and the ``OTEL_ML_ONNXRUNTIME_*`` prefix."""

OPERATION: Final = "run"
"""``ml.operation`` of ``InferenceSession.run`` and ``run_with_ort_values``."""


def _feed(args: tuple[Any, ...], kwargs: Mapping[str, Any], name: str) -> object:
    return args[1] if len(args) > 1 else kwargs.get(name)


def _ort_numpy(value: Any) -> Any:
    """A CPU ``OrtValue``'s values as numpy (a copy); ``None`` for another device or kind."""
    try:
        if value.device_name().lower() != "cpu" or not value.is_tensor():
            return None
    except AttributeError:
        return None
    return value.numpy()


def read_run_outputs(
    result: object, options: MonitorOptions
) -> Outputs | np.ndarray[Any, Any]:
    """The predictions in what ``run`` (or ``run_with_ort_values``) returned."""
    if not isinstance(result, Sequence):
        return Outputs()
    values = [v if isinstance(v, list) or hasattr(v, "ndim") else _ort_numpy(v) for v in result]
    return read_outputs([v for v in values if v is not None], options.class_names, options.task)


def default_name(session: Any) -> str:
    """The model file's stem, else ``InferenceSession-<hash of the model bytes>``."""
    path = getattr(session, "_model_path", None)
    if isinstance(path, (str, os.PathLike)) and str(path):
        stem = os.path.splitext(os.path.basename(os.fspath(path)))[0]
        if stem:
            return stem
    return content_name(session, lambda: bytes(session._model_bytes))


class _ONNXRuntime:
    """What otel_ml knows of ONNX Runtime sessions (the ``Framework`` of the shared core)."""

    name = FRAMEWORK

    def complete(self, options: MonitorOptions, instance: Any) -> MonitorOptions:
        version = options.version
        if version == semconv.UNKNOWN_VERSION:
            found = int(getattr(instance.get_modelmeta(), "version", 0) or 0)
            version = str(found) if found else version
        # ONNX inputs have their batch axis first: a 1-D input is a batch of one feature.
        return dataclasses.replace(
            options,
            version=version,
            framework=FRAMEWORK,
            skip_nested=True,
            one_dimensional_input=OneDimensionalInput.COLUMN,
        )

    def default_name(self, instance: Any) -> str:
        return default_name(instance)


class ONNXRuntimeInstrumentor(FrameworkInstrumentor):
    """An OpenTelemetry instrumentor for ONNX Runtime inference sessions (see the module docs)."""

    framework: ClassVar[str] = FRAMEWORK
    module: ClassVar[str] = "onnxruntime"
    instruments_any: ClassVar[tuple[str, ...]] = (
        "onnxruntime >= 1.16",
        "onnxruntime-gpu >= 1.16",
    )

    def _framework(self) -> _ONNXRuntime:
        return _ONNXRuntime()

    def _install(self, patcher: Patcher, calls: FrameworkCalls, config: SklearnConfig) -> None:
        # Patched when the application imports onnxruntime (at once if it already has).
        patch_when_imported("onnxruntime", lambda _: _patch(patcher, calls), lambda: calls.active)


def _patch(patcher: Patcher, calls: FrameworkCalls) -> None:
    from onnxruntime.capi.onnxruntime_inference_collection import Session

    def read_run(
        session: Any, options: MonitorOptions, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Read:
        feed = _feed(args, kwargs, "input_feed")
        return Read(
            feed_input(feed) if isinstance(feed, Mapping) else None,
            OPERATION,
            lambda result: read_run_outputs(result, options),
        )

    def read_ort_values(
        session: Any, options: MonitorOptions, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Read:
        feed = _feed(args, kwargs, "input_dict_ort_values")
        inputs = None
        if isinstance(feed, Mapping):
            arrays = {k: _ort_numpy(v) for k, v in feed.items()}
            if all(a is not None for a in arrays.values()):
                inputs = feed_input(arrays)
        return Read(inputs, OPERATION, lambda result: read_run_outputs(result, options))

    patcher.wrap(Session, "run", calls.wrapper(OPERATION, read_run))
    patcher.wrap(Session, "run_with_ort_values", calls.wrapper(OPERATION, read_ort_values))
