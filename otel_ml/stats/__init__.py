"""Statistics core: sketches, reference profiles, drift, data quality and performance metrics.

Pure functions and small classes; no OpenTelemetry imports.
"""

from otel_ml.stats._categorical_sketch import DEFAULT_MAX_CATEGORIES, CategoricalSketch
from otel_ml.stats._columns import FeatureKind
from otel_ml.stats._compare import DriftReport, FeatureDrift, compare, compare_feature
from otel_ml.stats._divergence import (
    ContingencyTest,
    chi_square_test,
    g_test,
    hellinger_distance,
    jensen_shannon_distance,
    population_stability_index,
    total_variation_distance,
)
from otel_ml.stats._drift import (
    CategoricalStatistics,
    NumericStatistics,
    categorical_statistics,
    numeric_statistics,
)
from otel_ml.stats._numeric_sketch import (
    DEFAULT_MAX_SIZE,
    MAX_SCALE,
    MIN_SCALE,
    ExponentialBuckets,
    NumericSketch,
)
from otel_ml.stats._performance import (
    ClassificationMetrics,
    ConfusionCounts,
    RegressionAccumulator,
    RegressionMetrics,
    class_order,
    classification_metrics,
    regression_metrics,
)
from otel_ml.stats._policy import Correction, DriftPolicy
from otel_ml.stats._profile import (
    PROFILE_FORMAT_VERSION,
    PROFILE_MAX_CATEGORIES,
    FeatureProfile,
    Profile,
)
from otel_ml.stats._quality import (
    FeatureQuality,
    QualityReport,
    SchemaIssue,
    SchemaProblem,
    quality_report,
)

__all__ = [
    "class_order",
    "DEFAULT_MAX_CATEGORIES",
    "DEFAULT_MAX_SIZE",
    "MAX_SCALE",
    "MIN_SCALE",
    "PROFILE_FORMAT_VERSION",
    "PROFILE_MAX_CATEGORIES",
    "CategoricalSketch",
    "CategoricalStatistics",
    "ClassificationMetrics",
    "ConfusionCounts",
    "ContingencyTest",
    "Correction",
    "DriftPolicy",
    "DriftReport",
    "ExponentialBuckets",
    "FeatureDrift",
    "FeatureKind",
    "FeatureProfile",
    "FeatureQuality",
    "NumericSketch",
    "NumericStatistics",
    "Profile",
    "QualityReport",
    "RegressionAccumulator",
    "RegressionMetrics",
    "SchemaIssue",
    "SchemaProblem",
    "categorical_statistics",
    "chi_square_test",
    "classification_metrics",
    "compare",
    "compare_feature",
    "g_test",
    "hellinger_distance",
    "jensen_shannon_distance",
    "numeric_statistics",
    "population_stability_index",
    "quality_report",
    "regression_metrics",
    "total_variation_distance",
]
