"""The otel_ml evaluator: receives OTLP from applications (or a Collector), keeps windows
of feature sketches and pending predictions, and computes drift, data quality and accuracy.

Evaluation (``otel-ml evaluator``, built by ``otel_ml.evaluator._app.EvaluatorApp``):
:class:`EvaluatorConfig` from YAML, a :class:`Store` (SQLite) of windows and pending
predictions, the pure :func:`evaluate` giving a :class:`ModelReport` per window, the
:class:`EvaluatorService` that wires ingest, windows, :class:`DerivedMetrics` and alerts.
See ``docs/evaluator.md``.

Ingest interface: the OTLP receivers (:class:`OtlpHttpServer`, and
``otel_ml.evaluator._otlp_grpc.OtlpGrpcServer``, kept out of this namespace so that
importing the package does not load gRPC) decode requests into :class:`IngestBatch`
records and deliver them to an :class:`IngestSink`; wrap the sink in a
:class:`DeltaSink` to receive cumulative streams as deltas.
"""

from otel_ml.evaluator._auth import BearerAuth, Secret, TlsOptions, load_secret
from otel_ml.evaluator._config import load_config, parse_config
from otel_ml.evaluator._config_options import EvaluatorConfig
from otel_ml.evaluator._evaluate import Reference, evaluate
from otel_ml.evaluator._http_serving import ConnectionLimits
from otel_ml.evaluator._metrics_export import DerivedMetrics, HealthSnapshot
from otel_ml.evaluator._otlp_http import OtlpHttpServer
from otel_ml.evaluator._receiver import DEFAULT_MAX_BODY_BYTES, ExportResult, Outcome, Receiver
from otel_ml.evaluator._records import (
    Attributes,
    AttributeValue,
    CounterPoint,
    ExplicitBuckets,
    HistogramPoint,
    IngestBatch,
    IngestSink,
    OutcomeEvent,
    PredictionEvent,
    Rejection,
    ResourceIdentity,
    Signal,
    SubmitResult,
    Temporality,
    attribute,
)
from otel_ml.evaluator._references import ReferenceSet
from otel_ml.evaluator._report import (
    FeatureReport,
    ModelReport,
    OperationsReport,
    PerformanceReport,
    QualityRate,
)
from otel_ml.evaluator._service import EvaluatorService
from otel_ml.evaluator._store import Store
from otel_ml.evaluator._temporality import CumulativeToDelta, DeltaSink
from otel_ml.evaluator._windows import LabelledRows, WindowData, Windowing, WindowKey

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "AttributeValue",
    "Attributes",
    "BearerAuth",
    "ConnectionLimits",
    "CounterPoint",
    "CumulativeToDelta",
    "DeltaSink",
    "DerivedMetrics",
    "EvaluatorConfig",
    "EvaluatorService",
    "ExplicitBuckets",
    "ExportResult",
    "FeatureReport",
    "HealthSnapshot",
    "HistogramPoint",
    "IngestBatch",
    "IngestSink",
    "LabelledRows",
    "ModelReport",
    "OperationsReport",
    "OtlpHttpServer",
    "Outcome",
    "OutcomeEvent",
    "PerformanceReport",
    "PredictionEvent",
    "QualityRate",
    "Receiver",
    "Reference",
    "ReferenceSet",
    "Rejection",
    "ResourceIdentity",
    "Secret",
    "Signal",
    "Store",
    "SubmitResult",
    "Temporality",
    "TlsOptions",
    "WindowData",
    "WindowKey",
    "Windowing",
    "attribute",
    "evaluate",
    "load_config",
    "load_secret",
    "parse_config",
]
