"""The otel_ml evaluator: receives OTLP from applications (or a Collector), keeps windows
of feature sketches and pending predictions, and computes drift, data quality and accuracy.

Ingest interface: the OTLP receivers decode requests into :class:`IngestBatch` records
and deliver them to an :class:`IngestSink`.
"""

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

__all__ = [
    "AttributeValue",
    "Attributes",
    "CounterPoint",
    "ExplicitBuckets",
    "HistogramPoint",
    "IngestBatch",
    "IngestSink",
    "OutcomeEvent",
    "PredictionEvent",
    "Rejection",
    "ResourceIdentity",
    "Signal",
    "SubmitResult",
    "Temporality",
    "attribute",
]
