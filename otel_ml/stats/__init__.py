"""Statistics over sketches: drift, data quality and performance metrics; sequential
change detectors for the error stream; estimated performance (CBPE, from scores without
labels).

Pure functions and small classes on top of :mod:`otel_ml.sketch`; scipy lives here
(the evaluator and the CLI use it, the SDK never imports it). No OpenTelemetry imports.
"""

from otel_ml.stats._compare import (
    DriftReport,
    FeatureDrift,
    compare,
    compare_feature,
    compare_features,
)
from otel_ml.stats._detectors import (
    ADWIN,
    Change,
    ChangeDetector,
    PageHinkley,
    detector_from_dict,
)
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
    NumericReference,
    NumericStatistics,
    categorical_statistics,
    numeric_statistics,
)
from otel_ml.stats._estimation import (
    ESTIMATED_METRICS,
    EstimatedMetric,
    EstimatedPerformance,
    estimate_binary,
    estimate_multiclass,
    estimate_performance,
)
from otel_ml.stats._multivariate import MultivariateDrift, multivariate_drift
from otel_ml.stats._numeric_many import numeric_statistics_many
from otel_ml.stats._performance import (
    ClassificationMetrics,
    ConfusionCounts,
    RegressionAccumulator,
    RegressionMetrics,
    class_order,
    classification_metrics,
    regression_metrics,
)
from otel_ml.stats._policy import Correction, DriftPolicy, Grade
from otel_ml.stats._quality import (
    FeatureQuality,
    QualityReport,
    SchemaIssue,
    SchemaProblem,
    out_of_range_count,
    quality_report,
    unseen_count,
)

__all__ = [
    "ADWIN",
    "Change",
    "ChangeDetector",
    "PageHinkley",
    "ESTIMATED_METRICS",
    "class_order",
    "CategoricalStatistics",
    "ClassificationMetrics",
    "ConfusionCounts",
    "ContingencyTest",
    "Correction",
    "DriftPolicy",
    "DriftReport",
    "EstimatedMetric",
    "EstimatedPerformance",
    "FeatureDrift",
    "FeatureQuality",
    "Grade",
    "MultivariateDrift",
    "NumericReference",
    "NumericStatistics",
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
    "compare_features",
    "detector_from_dict",
    "estimate_binary",
    "estimate_multiclass",
    "estimate_performance",
    "g_test",
    "hellinger_distance",
    "jensen_shannon_distance",
    "multivariate_drift",
    "numeric_statistics",
    "numeric_statistics_many",
    "out_of_range_count",
    "population_stability_index",
    "quality_report",
    "regression_metrics",
    "total_variation_distance",
    "unseen_count",
]
