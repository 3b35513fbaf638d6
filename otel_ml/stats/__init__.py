"""Statistics core: sketches, reference profiles, drift, data quality and performance metrics.

Pure functions and small classes; no OpenTelemetry imports.
"""

from otel_ml.stats._categorical_sketch import DEFAULT_MAX_CATEGORIES, CategoricalSketch
from otel_ml.stats._columns import FeatureKind
from otel_ml.stats._numeric_sketch import (
    DEFAULT_MAX_SIZE,
    MAX_SCALE,
    MIN_SCALE,
    ExponentialBuckets,
    NumericSketch,
)
from otel_ml.stats._profile import (
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
