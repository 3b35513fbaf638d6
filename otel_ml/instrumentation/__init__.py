"""The instrumentation SDK: ``@monitor``, ``ModelMonitor``, ``configure`` and the export bridge.

Usage
-----
::

    import otel_ml

    otel_ml.configure(service_name="scoring-api")        # optional

    @otel_ml.monitor(model="credit_risk", version="3",
                     reference="credit_risk-3.profile.json", id_column="application_id")
    def predict(df):
        return model.predict_proba(df)[:, 1]

    scores = predict(df)                       # the model's result, untouched
    ids = otel_ml.last_prediction_ids()        # the ids of that call's rows
    ...
    otel_ml.record_outcome(model="credit_risk", ids=ids, actuals=labels)

Every call emits a span, counters, a duration histogram, per-feature sketches
(exported as real histogram metrics by the bridge), prediction-distribution
and class counts, data-quality counts against the reference, and one
``ml.prediction`` event. See ``docs/semantic-conventions.md`` for every signal.
"""

from typing import TYPE_CHECKING, Any

from otel_ml.instrumentation._aggregator import Aggregator, Consumer, Delta, default_aggregator
from otel_ml.instrumentation._clock import use_clock
from otel_ml.instrumentation._configure import Configuration, configure
from otel_ml.instrumentation._decorator import monitor
from otel_ml.instrumentation._ids import PredictionIds, last_prediction_ids
from otel_ml.instrumentation._internal_errors import InternalErrors
from otel_ml.instrumentation._monitor import (
    ModelMonitor,
    flush,
    internal_errors,
    monitoring_active,
)
from otel_ml.instrumentation._options import MonitorOptions, OneDimensionalInput, Task
from otel_ml.instrumentation._otlp_bridge import SketchMetricExporter
from otel_ml.instrumentation._outcome import record_outcome
from otel_ml.instrumentation._runtime import Runtime, default_runtime
from otel_ml.instrumentation._window import DURATION_BOUNDS, ModelKey, ModelWindow

if TYPE_CHECKING:
    from otel_ml.instrumentation._prometheus import SketchCollector


def __getattr__(name: str) -> Any:
    # SketchCollector loads prometheus_client (and http.server): only when asked for.
    if name == "SketchCollector":
        from otel_ml.instrumentation._prometheus import SketchCollector

        return SketchCollector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "DURATION_BOUNDS",
    "Aggregator",
    "Configuration",
    "Consumer",
    "Delta",
    "InternalErrors",
    "ModelKey",
    "ModelMonitor",
    "ModelWindow",
    "MonitorOptions",
    "OneDimensionalInput",
    "PredictionIds",
    "Runtime",
    "SketchCollector",
    "SketchMetricExporter",
    "Task",
    "configure",
    "default_aggregator",
    "default_runtime",
    "flush",
    "internal_errors",
    "last_prediction_ids",
    "monitor",
    "monitoring_active",
    "record_outcome",
    "use_clock",
]
