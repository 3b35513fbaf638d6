"""The sketch layer: what the model service and the evaluator share.

Mergeable distribution sketches (:class:`NumericSketch`, a base-2 exponential
histogram in the OTLP layout; :class:`CategoricalSketch`, top-K exact counts),
reference :class:`Profile` objects built from them, and the one rule that decides
whether a column is numeric or categorical. numpy only: no scipy, no
OpenTelemetry SDK, so a model service pays for nothing it does not use.
"""

from otel_ml.sketch._categorical import DEFAULT_MAX_CATEGORIES, CategoricalSketch
from otel_ml.sketch._columns import FeatureKind
from otel_ml.sketch._numeric import (
    DEFAULT_MAX_SIZE,
    MAX_SCALE,
    MIN_SCALE,
    ExponentialBuckets,
    NumericSketch,
)
from otel_ml.sketch._profile import (
    PROFILE_FORMAT_VERSION,
    PROFILE_MAX_CATEGORIES,
    FeatureProfile,
    Profile,
)

__all__ = [
    "DEFAULT_MAX_CATEGORIES",
    "DEFAULT_MAX_SIZE",
    "MAX_SCALE",
    "MIN_SCALE",
    "PROFILE_FORMAT_VERSION",
    "PROFILE_MAX_CATEGORIES",
    "CategoricalSketch",
    "ExponentialBuckets",
    "FeatureKind",
    "FeatureProfile",
    "NumericSketch",
    "Profile",
]
