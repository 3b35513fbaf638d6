"""otel_ml: OpenTelemetry-native monitoring for production ML models.

Decorate a predict function with :func:`monitor` (or instrument scikit-learn
with ``SklearnInstrumentor``) and every call emits OTel spans, metrics and log
events; the ``otel-ml evaluator`` compares them with a reference
:class:`Profile` built from training data and joins delayed labels.
"""

from otel_ml._errors import (
    ConfigurationError,
    OtelMlError,
    OtelMlWarning,
    ProfileError,
    SketchError,
)
from otel_ml._version import __version__
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
from otel_ml.sketch import CategoricalSketch, FeatureKind, FeatureProfile, NumericSketch, Profile
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
