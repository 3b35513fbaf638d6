"""Names, units and attributes of every signal otel_ml emits or reads.

Defined once here, documented in ``docs/semantic-conventions.md``. Metric names
follow the OpenTelemetry naming rules (lower case, dot-separated namespaces,
UCUM units, no unit in the name); model-facing signals live under ``ml.``,
otel_ml's own health under ``otel_ml.``. A Prometheus exporter turns
``ml.predict.duration`` (unit ``s``) into ``ml_predict_duration_seconds`` and
counters into ``*_total``.
"""

from __future__ import annotations

from typing import Final

# --- instrumentation scope -------------------------------------------------------------
SCOPE_NAME: Final = "otel_ml"
EVALUATOR_SCOPE_NAME: Final = "otel_ml.evaluator"

# --- resource / model attributes -------------------------------------------------------
ML_MODEL_NAME: Final = "ml.model.name"
ML_MODEL_VERSION: Final = "ml.model.version"
ML_MODEL_FRAMEWORK: Final = "ml.model.framework"
ML_MODEL_TASK: Final = "ml.model.task"
ML_OPERATION: Final = "ml.operation.name"  # predict, predict_proba, ... (was ml.operation)
ML_BATCH_SIZE: Final = "ml.batch.size"
ERROR_TYPE: Final = "error.type"  # the OTel general attribute
SERVICE_NAME: Final = "service.name"  # resource attribute (OTel semconv)
SERVICE_INSTANCE_ID: Final = "service.instance.id"  # resource attribute (OTel semconv)
EVENT_NAME: Final = "event.name"  # pre-1.5 OTLP: a log event's name as an attribute

# --- features and predictions ----------------------------------------------------------
ML_FEATURE_NAME: Final = "ml.feature.name"
ML_FEATURE_TYPE: Final = "ml.feature.type"  # numeric | categorical
ML_FEATURE_VALUE: Final = "ml.feature.value"  # a category (top-K, or OVERFLOW_CATEGORY)
ML_PREDICTION_OUTPUT: Final = "ml.prediction.output"  # which output column: "0", "1", "score"
PREDICTION_OUTPUT_SCORE: Final = "score"  # ml.prediction.output of a 1-D output
# ml.prediction.output of a 1-D decision_function output; "decision:<class>" per column
PREDICTION_OUTPUT_DECISION: Final = "decision"
# ml.prediction.output "argmax:<class>" of a multiclass probability output: 1 - the
# class's probability on the rows where it is the predicted class (the largest column),
# what estimated performance (CBPE) needs; never compared as a prediction-drift output
PREDICTION_OUTPUT_ARGMAX_PREFIX: Final = "argmax:"
ML_PREDICTION_CLASS: Final = "ml.prediction.class"
ML_DATA_QUALITY_ISSUE: Final = "ml.data_quality.issue"  # one of QUALITY_* below

QUALITY_MISSING: Final = "missing"  # None / NaN
QUALITY_NON_FINITE: Final = "non_finite"  # +inf / -inf
QUALITY_OUT_OF_RANGE: Final = "out_of_range"  # outside the reference [min, max]
QUALITY_UNSEEN_CATEGORY: Final = "unseen_category"  # a category the reference never saw
QUALITY_SCHEMA_MISMATCH: Final = "schema_mismatch"  # missing/extra column, wrong type
QUALITY_ISSUES: Final = (
    QUALITY_MISSING,
    QUALITY_NON_FINITE,
    QUALITY_OUT_OF_RANGE,
    QUALITY_UNSEEN_CATEGORY,
    QUALITY_SCHEMA_MISMATCH,
)

OVERFLOW_CATEGORY: Final = "__other__"  # the categorical sketch's overflow bucket
UNKNOWN_VERSION: Final = "unknown"  # ml.model.version of a model given no version
TEXT_LENGTH_FEATURE: Final = "text.length"  # ml.feature.name of a batch of documents' lengths
SPARSE_NONZERO_FEATURE: Final = "sparse.nonzero"  # ml.feature.name: non-zeros per row (wide)
#: ml.feature.name of the rows' PCA reconstruction errors (multivariate drift), exported by
#: the SDK when the monitor's reference profile has a "multivariate" section
MULTIVARIATE_ERROR_FEATURE: Final = "multivariate.reconstruction_error"
# A rank-3+ tensor input (images, sequences) is described per sample by these statistics,
# ml.feature.name "<input>.<statistic>": "input.mean" for a PyTorch module's argument,
# "<graph input>.mean" for an ONNX Runtime feed.
TENSOR_INPUT_FEATURE: Final = "input"
TENSOR_SUMMARY_STATISTICS: Final = ("mean", "std", "min", "max")

# --- SDK metrics ------------------------------------------------------------------------
METRIC_PREDICT_CALLS: Final = "ml.predict.calls"  # Counter {call}
METRIC_PREDICT_ROWS: Final = "ml.predict.rows"  # Counter {row}
METRIC_PREDICT_DURATION: Final = "ml.predict.duration"  # Histogram s
METRIC_PREDICT_ERRORS: Final = "ml.predict.errors"  # Counter {error}, attr error.type
METRIC_FEATURE_VALUES: Final = "ml.feature.values"  # (Exponential)Histogram of a numeric feature
METRIC_FEATURE_CATEGORIES: Final = "ml.feature.categories"  # Counter {row} per category
METRIC_PREDICTION_VALUES: Final = "ml.prediction.values"  # (Exponential)Histogram of scores
METRIC_PREDICTION_CLASSES: Final = "ml.prediction.classes"  # Counter {row} per class
METRIC_DATA_QUALITY_ISSUES: Final = "ml.data_quality.issues"  # Counter {value}
METRIC_INTERNAL_ERRORS: Final = "otel_ml.internal.errors"  # Counter {error}, attrs stage, type
INTERNAL_STAGE: Final = "otel_ml.stage"
METRIC_INTERNAL_QUEUE: Final = "otel_ml.queue.size"  # Gauge {call}: calls buffered for the worker
#: Counter {row}, attrs ml.model.name, ml.model.version: prediction rows whose ids and values
#: were not sent because the event byte budget was spent (reported in ml.prediction.dropped)
METRIC_PREDICTIONS_DROPPED: Final = "otel_ml.predictions.dropped"
#: Gauge By: bytes of ml.prediction records waiting in the worker or recently handed to the SDK
METRIC_EVENTS_BUFFERED: Final = "otel_ml.events.buffered"

UNIT_SECONDS: Final = "s"
UNIT_CALLS: Final = "{call}"
UNIT_ROWS: Final = "{row}"
UNIT_ERRORS: Final = "{error}"
UNIT_VALUES: Final = "{value}"
UNIT_ONE: Final = "1"
UNIT_BYTES: Final = "By"
UNIT_NONE: Final = ""  # a feature's own (unknown) unit: no "_ratio" suffix in Prometheus

# --- log events -------------------------------------------------------------------------
EVENT_PREDICTION: Final = "ml.prediction"
EVENT_OUTCOME: Final = "ml.outcome"
EVENT_ALERT: Final = "ml.alert"
ML_PREDICTION_IDS: Final = "ml.prediction.ids"  # list[str]
ML_PREDICTION_VALUES: Final = "ml.prediction.values"  # list[float] scores / values
ML_PREDICTION_LABELS: Final = "ml.prediction.labels"  # list[str] predicted classes
ML_OUTCOME_VALUES: Final = "ml.outcome.values"  # list[float|str] ground truth
ML_FEATURE_VALUES_CAPTURED: Final = "ml.feature.captured"  # opt-in raw rows (JSON)
# A batched ml.prediction record holds the rows of many calls; per call (one entry each):
ML_PREDICTION_CALL_OFFSETS: Final = "ml.prediction.call.offsets"  # list[int] first row
ML_PREDICTION_CALL_TRACE_IDS: Final = "ml.prediction.call.trace_ids"  # list[str] 32 hex
ML_PREDICTION_CALL_SPAN_IDS: Final = "ml.prediction.call.span_ids"  # list[str] 16 hex
ML_PREDICTION_CALL_TIMES: Final = "ml.prediction.call.times"  # list[int] unix ns
# What the SDK did not send (the event byte budget was spent):
EVENT_PREDICTION_DROPPED: Final = "ml.prediction.dropped"
ML_DROPPED_ROWS: Final = "ml.prediction.dropped.rows"  # int: rows dropped in all
ML_DROPPED_ID_PREFIXES: Final = "ml.prediction.dropped.id_prefixes"  # list[str]
ML_DROPPED_ID_FIRST: Final = "ml.prediction.dropped.id_first"  # list[int] (inclusive)
ML_DROPPED_ID_LAST: Final = "ml.prediction.dropped.id_last"  # list[int] (inclusive)

# --- evaluator derived metrics ----------------------------------------------------------
ML_DRIFT_METHOD: Final = "ml.drift.method"  # psi, js, hellinger, wasserstein, ks, chi2, policy
METRIC_DRIFT_SCORE: Final = "ml.drift.score"  # Gauge, attrs model, feature, method
METRIC_DRIFT_DETECTED: Final = "ml.drift.detected"  # Gauge 0/1 (policy verdict per feature)
METRIC_DRIFT_P_VALUE: Final = "ml.drift.p_value"  # Gauge
#: Gauges 1 of the multivariate check (PCA reconstruction error) per model and window:
#: the verdict (0/1, ml.drift.method "pca_reconstruction_error"), its effect size
#: (ml.drift.method the effect, "wasserstein_normalised") and the mean error of the window
METRIC_DRIFT_MULTIVARIATE_DETECTED: Final = "ml.drift.multivariate.detected"
METRIC_DRIFT_MULTIVARIATE_SCORE: Final = "ml.drift.multivariate.score"
METRIC_DRIFT_MULTIVARIATE_ERROR: Final = "ml.drift.multivariate.error"
METRIC_DRIFT_GRADE: Final = "ml.drift.grade"  # Gauge 2 drift / 1 minor / 0 none (graded verdict)
METRIC_DATA_QUALITY_RATE: Final = "ml.data_quality.rate"  # Gauge 1, attrs issue, feature
ML_PERFORMANCE_METRIC: Final = "ml.performance.metric"  # accuracy, f1, roc_auc, rmse, ...
METRIC_PERFORMANCE: Final = "ml.performance.value"  # Gauge 1
# Counter {change}: changes the detectors found on the per-prediction error stream
METRIC_PERFORMANCE_CHANGES: Final = "ml.performance.changes"
ML_CHANGE_DETECTOR: Final = "ml.change.detector"  # page_hinkley | adwin
ML_CHANGE_DIRECTION: Final = "ml.change.direction"  # up (more error) | down
#: Performance estimated from the scores without labels (CBPE), its band's bounds apart.
METRIC_ESTIMATED_PERFORMANCE: Final = "ml.estimated_performance.value"  # Gauge 1
METRIC_ESTIMATED_PERFORMANCE_LOWER: Final = "ml.estimated_performance.lower"  # Gauge 1
METRIC_ESTIMATED_PERFORMANCE_UPPER: Final = "ml.estimated_performance.upper"  # Gauge 1
METRIC_LABEL_COVERAGE: Final = "ml.label.coverage"  # Gauge 1 (labelled / predicted)
METRIC_LABEL_DELAY: Final = "ml.label.delay"  # Gauge s (median delay in the window)
METRIC_WINDOW_ROWS: Final = "ml.window.rows"  # Gauge {row}
#: Quantiles of the call duration per window (evaluator), one series per ``ml.quantile``;
#: was ``ml.predict.latency.p95``, which named an aggregation in the metric name.
METRIC_PREDICT_DURATION_QUANTILE: Final = "ml.predict.duration.quantile"  # Gauge s
ML_QUANTILE: Final = "ml.quantile"  # "0.95": which quantile a quantile gauge holds
METRIC_ERROR_RATE: Final = "ml.predict.error_rate"  # Gauge 1, failed / calls per window

# --- alerts -----------------------------------------------------------------------------
ML_ALERT_RULE: Final = "ml.alert.rule"
ML_ALERT_SEVERITY: Final = "ml.alert.severity"
ML_ALERT_STATE: Final = "ml.alert.state"  # firing | resolved
ML_ALERT_ID: Final = "ml.alert.id"
ML_ALERT_VALUE: Final = "ml.alert.value"
ML_ALERT_THRESHOLD: Final = "ml.alert.threshold"
ML_ALERT_WINDOW_START: Final = "ml.alert.window.start"
ML_ALERT_WINDOW_END: Final = "ml.alert.window.end"
ML_ALERT_TRACE_IDS: Final = "ml.alert.trace_ids"
ML_ALERT_SUMMARY: Final = "ml.alert.summary"
ML_ALERT_KIND: Final = "ml.alert.kind"  # the observation kind the rule reads (performance, ...)
ML_ALERT_METRIC: Final = "ml.alert.metric"  # performance metric, drift method or quality issue
ML_ALERT_COMPARISON: Final = "ml.alert.comparison"  # above | below
ML_ALERT_REFERENCE: Final = "ml.alert.reference"  # the reference profile used
ML_ALERT_REPEAT: Final = "ml.alert.repeat"  # bool: a reminder of a still-firing alert
ML_ALERT_STARTS_AT: Final = "ml.alert.starts_at"  # start of the first breaching window
ML_ALERT_LINKS: Final = "ml.alert.links"  # list[str]: Jaeger links of the example traces
ALERT_STATE_FIRING: Final = "firing"
ALERT_STATE_RESOLVED: Final = "resolved"
METRIC_ALERTS_FIRING: Final = "ml.alerts.firing"  # Gauge, attrs model, rule, severity

# --- evaluator health -------------------------------------------------------------------
METRIC_EVAL_POINTS_RECEIVED: Final = "otel_ml.evaluator.points.received"  # Counter {point}
METRIC_EVAL_POINTS_REJECTED: Final = "otel_ml.evaluator.points.rejected"  # Counter {point}
METRIC_EVAL_POINTS_IGNORED: Final = "otel_ml.evaluator.points.ignored"  # Counter {point}, not ours
METRIC_EVAL_REQUESTS: Final = "otel_ml.evaluator.requests"  # Counter {request}; signal, outcome
METRIC_EVAL_QUEUE_DEPTH: Final = "otel_ml.evaluator.queue.depth"  # Gauge {batch}
METRIC_EVAL_WINDOW_LAG: Final = "otel_ml.evaluator.window.lag"  # Gauge s
METRIC_EVAL_PENDING_PREDICTIONS: Final = "otel_ml.evaluator.pending_predictions"  # Gauge {row}
METRIC_EVAL_BATCHES: Final = "otel_ml.evaluator.batches"  # Counter {batch}, attr outcome
METRIC_EVAL_EVALUATION_DURATION: Final = "otel_ml.evaluator.evaluation.duration"  # Gauge s
# Counter {connection}: connections the evaluator's HTTP servers closed on their own
# (otel_ml.listener; otel_ml.reason: connections_full | idle_timeout | read_timeout)
METRIC_EVAL_CONNECTIONS_CLOSED: Final = "otel_ml.evaluator.connections.closed"
OTEL_ML_LISTENER: Final = "otel_ml.listener"  # otlp_http | api
#: Counter {row}: prediction rows SDKs reported dropped (ml.prediction.dropped: never sent)
METRIC_EVAL_PREDICTIONS_DROPPED: Final = "otel_ml.evaluator.predictions.dropped"
#: Counter {label}: labels whose prediction an SDK reported dropped (not waiting, not evicted)
METRIC_EVAL_LABELS_DROPPED: Final = "otel_ml.evaluator.labels.prediction_dropped"
METRIC_EVAL_WINDOWS_QUARANTINED: Final = "otel_ml.evaluator.windows.quarantined"  # Gauge {window}
#: Counter {poll}: MLflow alias checks of reference profiles that failed (server unreachable...)
METRIC_EVAL_REFERENCE_POLL_FAILURES: Final = "otel_ml.evaluator.references.poll_failures"
OTEL_ML_REASON: Final = "otel_ml.reason"  # why points were rejected (receiver's reason)
# the evaluator's window sinks (sinks.mlflow): windows by outcome (queued | delivered | retried
# | failed | dropped), metric values delivered, windows waiting; attr otel_ml.sink
METRIC_EVAL_SINK_WINDOWS: Final = "otel_ml.evaluator.sink.windows"  # Counter {window}
METRIC_EVAL_SINK_METRICS: Final = "otel_ml.evaluator.sink.metrics"  # Counter {metric}
METRIC_EVAL_SINK_BACKLOG: Final = "otel_ml.evaluator.sink.backlog"  # Gauge {window}
SINK: Final = "otel_ml.sink"  # mlflow
METRIC_NOTIFICATIONS: Final = "otel_ml.notifications"  # Counter, attrs notifier, outcome
OTLP_SIGNAL: Final = "otel_ml.signal"  # metrics | logs | traces
OUTCOME: Final = "otel_ml.outcome"  # accepted | rejected | throttled | delivered | failed | retried
NOTIFIER: Final = "otel_ml.notifier"
