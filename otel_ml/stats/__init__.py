"""Statistics core: sketches, reference profiles, drift, data quality and performance metrics.

Pure functions and small classes; no OpenTelemetry imports.
"""

from otel_ml.stats._categorical_sketch import DEFAULT_MAX_CATEGORIES, CategoricalSketch
from otel_ml.stats._numeric_sketch import (
    DEFAULT_MAX_SIZE,
    MAX_SCALE,
    MIN_SCALE,
    ExponentialBuckets,
    NumericSketch,
)

__all__ = [
    "DEFAULT_MAX_CATEGORIES",
    "DEFAULT_MAX_SIZE",
    "MAX_SCALE",
    "MIN_SCALE",
    "CategoricalSketch",
    "ExponentialBuckets",
    "NumericSketch",
]
