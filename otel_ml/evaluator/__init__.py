"""The otel_ml evaluator: receives OTLP from applications (or a Collector), keeps windows
of feature sketches and pending predictions, and computes drift, data quality and accuracy.

Ingest interface: the OTLP receivers (:class:`OtlpHttpServer`, and
``otel_ml.evaluator._otlp_grpc.OtlpGrpcServer``, kept out of this namespace so that
importing the package does not load gRPC) decode requests into :class:`IngestBatch`
records and deliver them to an :class:`IngestSink`; wrap the sink in a
:class:`DeltaSink` to receive cumulative streams as deltas.
"""

from otel_ml.evaluator._auth import BearerAuth, Secret, TlsOptions, load_secret
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
from otel_ml.evaluator._temporality import CumulativeToDelta, DeltaSink

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "AttributeValue",
    "Attributes",
    "BearerAuth",
    "CounterPoint",
    "CumulativeToDelta",
    "DeltaSink",
    "ExplicitBuckets",
    "ExportResult",
    "HistogramPoint",
    "IngestBatch",
    "IngestSink",
    "OtlpHttpServer",
    "Outcome",
    "OutcomeEvent",
    "PredictionEvent",
    "Receiver",
    "Rejection",
    "ResourceIdentity",
    "Secret",
    "Signal",
    "SubmitResult",
    "Temporality",
    "TlsOptions",
    "attribute",
    "load_secret",
]
