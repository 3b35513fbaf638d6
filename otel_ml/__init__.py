"""otel_ml: OpenTelemetry-native monitoring for production ML models.

Decorate a predict function with :func:`monitor` (or instrument scikit-learn
with ``SklearnInstrumentor``) and every call emits OTel spans, metrics and log
events; the ``otel-ml evaluator`` compares them with a reference
:class:`Profile` built from training data and joins delayed labels.

The public names load on first use (PEP 562): ``import otel_ml`` costs nothing
beyond the error classes; ``otel_ml.monitor`` loads the SDK (the sketch layer,
numpy and the OpenTelemetry SDK), never scipy; ``otel_ml.compare`` and the other
statistics load scipy. So ``import otel_ml.evaluator`` does not load the SDK, and a
model service does not load the statistics.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from otel_ml._errors import (
    ConfigurationError,
    OtelMlError,
    OtelMlWarning,
    ProfileError,
    SketchError,
)
from otel_ml._version import __version__

if TYPE_CHECKING:
    from otel_ml.instrumentation import (
        Configuration,
        ModelMonitor,
        MonitorOptions,
        Task,
        configure,
        flush,
        last_prediction_ids,
        monitor,
        record_outcome,
    )
    from otel_ml.instrumentation.sklearn import SklearnInstrumentor
    from otel_ml.sketch import (
        CategoricalSketch,
        FeatureKind,
        FeatureProfile,
        NumericSketch,
        Profile,
    )
    from otel_ml.stats import (
        DriftPolicy,
        DriftReport,
        FeatureDrift,
        QualityReport,
        classification_metrics,
        compare,
        quality_report,
        regression_metrics,
    )

#: public name -> the module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        (
            "Configuration",
            "ModelMonitor",
            "MonitorOptions",
            "Task",
            "configure",
            "flush",
            "last_prediction_ids",
            "monitor",
            "record_outcome",
        ),
        "otel_ml.instrumentation",
    ),
    "SklearnInstrumentor": "otel_ml.instrumentation.sklearn",
    **dict.fromkeys(
        ("CategoricalSketch", "FeatureKind", "FeatureProfile", "NumericSketch", "Profile"),
        "otel_ml.sketch",
    ),
    **dict.fromkeys(
        (
            "DriftPolicy",
            "DriftReport",
            "FeatureDrift",
            "QualityReport",
            "classification_metrics",
            "compare",
            "quality_report",
            "regression_metrics",
        ),
        "otel_ml.stats",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_ml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute lookup
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "CategoricalSketch",
    "Configuration",
    "ConfigurationError",
    "DriftPolicy",
    "DriftReport",
    "FeatureDrift",
    "FeatureKind",
    "FeatureProfile",
    "ModelMonitor",
    "MonitorOptions",
    "NumericSketch",
    "OtelMlError",
    "OtelMlWarning",
    "Profile",
    "ProfileError",
    "QualityReport",
    "SketchError",
    "SklearnInstrumentor",
    "Task",
    "__version__",
    "configure",
    "flush",
    "last_prediction_ids",
    "monitor",
    "record_outcome",
    "classification_metrics",
    "compare",
    "quality_report",
    "regression_metrics",
]
