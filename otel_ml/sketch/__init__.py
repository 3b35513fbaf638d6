"""The sketch layer: what the model service and the evaluator share.

Mergeable distribution sketches (:class:`NumericSketch`, a base-2 exponential
histogram in the OTLP layout; :class:`CategoricalSketch`, top-K exact counts),
reference :class:`Profile` objects built from them, the one rule that decides
whether a column is numeric or categorical, and the OTLP encoding and decoding of
sketches (:func:`exponential_data_point` / :func:`exponential_buckets`,
:func:`category_counts` / :func:`categorical_sketch`). numpy only: no scipy; the
OpenTelemetry SDK's point classes are imported only when a point is encoded, so a
model service pays for nothing it does not use.
"""

from otel_ml.sketch._bulk_merge import merge_points
from otel_ml.sketch._calibration import ScoreCalibration, argmax_sketches
from otel_ml.sketch._categorical import DEFAULT_MAX_CATEGORIES, CategoricalSketch
from otel_ml.sketch._columns import DATETIMES, FeatureKind
from otel_ml.sketch._numeric import (
    DEFAULT_MAX_SIZE,
    MAX_SCALE,
    MIN_SCALE,
    ExponentialBuckets,
    NumericSketch,
)
from otel_ml.sketch._otlp import (
    MAX_POINT_BUCKETS,
    R_COUNTS,
    R_NON_FINITE,
    R_SCALE,
    R_TOO_MANY,
    InvalidPoint,
    categorical_sketch,
    category_counts,
    exponential_buckets,
    exponential_data_point,
    exponential_extremes,
)
from otel_ml.sketch._profile import (
    PROFILE_FORMAT_VERSION,
    PROFILE_MAX_CATEGORIES,
    FeatureProfile,
    Profile,
)

__all__ = [
    "DATETIMES",
    "DEFAULT_MAX_CATEGORIES",
    "DEFAULT_MAX_SIZE",
    "MAX_POINT_BUCKETS",
    "MAX_SCALE",
    "MIN_SCALE",
    "PROFILE_FORMAT_VERSION",
    "PROFILE_MAX_CATEGORIES",
    "R_COUNTS",
    "R_NON_FINITE",
    "R_SCALE",
    "R_TOO_MANY",
    "CategoricalSketch",
    "ExponentialBuckets",
    "FeatureKind",
    "FeatureProfile",
    "InvalidPoint",
    "NumericSketch",
    "Profile",
    "ScoreCalibration",
    "argmax_sketches",
    "categorical_sketch",
    "category_counts",
    "exponential_buckets",
    "exponential_data_point",
    "exponential_extremes",
    "merge_points",
]
