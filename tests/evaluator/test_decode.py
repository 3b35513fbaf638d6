"""OTLP protobuf / JSON bodies produced by the real OTel SDK encoders -> ingest records."""

from __future__ import annotations

import gzip
import json
import math
import zlib

import numpy as np
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2
from otlp_samples import (
    CUMULATIVE,
    MODEL,
    exp_metric,
    explicit_metric,
    logs_request,
    metrics_data,
    metrics_request,
    sdk_exponential_metrics,
    sketch_point,
    sum_metric,
    to_otlp_json,
)

from otel_ml import semconv
from otel_ml.evaluator._decode import (
    BodyTooLargeError,
    OtlpDecodeError,
    decode_body,
    decompress,
    parse_request,
)
from otel_ml.evaluator._records import ExplicitBuckets, ResourceIdentity, Signal, Temporality
from otel_ml.sketch import ExponentialBuckets, NumericSketch


def _decode_both(signal: Signal, message: object):  # type: ignore[no-untyped-def]
    """Decode the same request from protobuf and from OTLP/JSON; both must agree."""
    proto = message.SerializeToString()  # type: ignore[attr-defined]
    body_json = json.dumps(to_otlp_json(message)).encode()
    a = decode_body(signal, proto, json=False, received_time_unix_nano=7)
    b = decode_body(signal, body_json, json=True, received_time_unix_nano=7)
    assert a.histograms == b.histograms and a.counters == b.counters
    assert a.predictions == b.predictions and a.outcomes == b.outcomes
    assert (a.rejected, a.ignored) == (b.rejected, b.ignored)
    return a


def test_sdk_exponential_histogram_rebuilds_the_values_distribution() -> None:
    rng = np.random.default_rng(1)
    values = rng.lognormal(3.0, 1.0, 2000)
    batch = _decode_both(Signal.METRICS, metrics_request(sdk_exponential_metrics(values)))
    (point,) = batch.histograms
    assert (point.metric, point.model, point.version, point.feature) == (
        semconv.METRIC_FEATURE_VALUES, "churn", "3", "age"
    )
    assert point.resource == ResourceIdentity("scoring-api", "pod-1")
    assert point.temporality is Temporality.DELTA
    assert dict(point.attributes)[semconv.ML_FEATURE_NAME] == "age"
    assert isinstance(point.buckets, ExponentialBuckets)
    sketch = NumericSketch.from_exponential(point.buckets)
    assert sketch.count == 2000
    assert sketch.sum == pytest.approx(values.sum())
    assert (sketch.min, sketch.max) == (values.min(), values.max())
    for q in (0.1, 0.5, 0.9):
        assert sketch.quantile(q) == pytest.approx(np.quantile(values, q), rel=0.05)


def test_sketch_point_with_negative_values_round_trips_exactly() -> None:
    rng = np.random.default_rng(2)
    values = np.concatenate([rng.normal(0, 5, 500), np.zeros(7)])
    expected = NumericSketch(max_size=160)
    expected.update(values)
    request = metrics_request(metrics_data([exp_metric([sketch_point(values, "income")])]))
    (point,) = _decode_both(Signal.METRICS, request).histograms
    assert point.buckets == expected.to_exponential()
    assert point.feature == "income"
    assert (point.start_time_unix_nano, point.time_unix_nano) == (1_000, 2_000)


def test_counters_explicit_histograms_and_what_is_not_ours() -> None:
    no_model = sum_metric(5, attributes={"other": "x"})
    other_name = sum_metric(5, name="http.server.requests")
    gauge_like = sum_metric(5, name=semconv.METRIC_PREDICT_ROWS, monotonic=False)
    request = metrics_request(
        metrics_data(
            [
                sum_metric(12, temporality=CUMULATIVE),
                explicit_metric([1, 3, 0, 2], [0.01, 0.1, 1.0], total=4.5),
                no_model,
                other_name,
                gauge_like,
            ]
        )
    )
    batch = _decode_both(Signal.METRICS, request)
    (counter,) = batch.counters
    assert (counter.metric, counter.value, counter.temporality) == (
        semconv.METRIC_PREDICT_CALLS, 12.0, Temporality.CUMULATIVE
    )
    (hist,) = batch.histograms
    assert hist.buckets == ExplicitBuckets((0.01, 0.1, 1.0), (1, 3, 0, 2), 6, 4.5, 0.001, 9.0)
    assert batch.ignored == 3 and batch.n_rejected == 0


def test_model_name_on_the_resource_is_enough() -> None:
    from opentelemetry.sdk.resources import Resource

    resource = Resource({"service.name": "svc", **MODEL})  # no auto service.instance.id
    request = metrics_request(metrics_data([sum_metric(3, attributes={})], resource))
    (counter,) = decode_body(Signal.METRICS, request.SerializeToString(), json=False).counters
    assert (counter.model, counter.version, counter.feature) == ("churn", "3", None)
    assert counter.resource == ResourceIdentity("svc", "")


def _one_point_request(mutate) -> bytes:  # type: ignore[no-untyped-def]
    request = metrics_request(metrics_data([exp_metric([sketch_point([1.0, 2.0, 3.0], "f")])]))
    mutate(request.resource_metrics[0].scope_metrics[0].metrics[0])
    return request.SerializeToString()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: setattr(m.exponential_histogram.data_points[0], "count", 99), "do not add up"),
        (lambda m: setattr(m.exponential_histogram.data_points[0], "scale", 21), "scale"),
        (lambda m: setattr(m.exponential_histogram, "aggregation_temporality", 0), "temporality"),
        (lambda m: setattr(m.exponential_histogram.data_points[0], "time_unix_nano", 0), "time"),
        (lambda m: setattr(m.exponential_histogram.data_points[0], "sum", math.nan), "non-finite"),
    ],
)
def test_inconsistent_points_are_rejected_with_a_reason(mutate, reason) -> None:  # type: ignore[no-untyped-def]
    batch = decode_body(Signal.METRICS, _one_point_request(mutate), json=False)
    assert batch.histograms == () and batch.n_rejected == 1
    assert reason in batch.rejected[0].reason


def test_no_recorded_value_points_are_ignored_and_missing_min_max_are_estimated() -> None:
    def stale(m):  # type: ignore[no-untyped-def]
        m.exponential_histogram.data_points[0].flags = 1

    assert decode_body(Signal.METRICS, _one_point_request(stale), json=False).ignored == 1

    def no_min_max(m):  # type: ignore[no-untyped-def]
        m.exponential_histogram.data_points[0].ClearField("min")
        m.exponential_histogram.data_points[0].ClearField("max")
        m.exponential_histogram.data_points[0].ClearField("sum")

    (p,) = decode_body(Signal.METRICS, _one_point_request(no_min_max), json=False).histograms
    assert isinstance(p.buckets, ExponentialBuckets)
    assert 0.9 <= p.buckets.min <= 1.0 and 3.0 <= p.buckets.max <= 3.1
    assert p.buckets.sum == pytest.approx(6.0, rel=0.02)


def test_explicit_histogram_with_wrong_bucket_count_is_rejected() -> None:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add()
    metric.name = semconv.METRIC_PREDICT_DURATION
    metric.histogram.aggregation_temporality = 1
    for bounds, counts in (([1.0, 2.0], [1, 1]), ([2.0, 1.0], [1, 1, 1])):
        p = metric.histogram.data_points.add(time_unix_nano=5, count=sum(counts), sum=1.0)
        p.explicit_bounds.extend(bounds)
        p.bucket_counts.extend(counts)
        p.attributes.add(key=semconv.ML_MODEL_NAME).value.string_value = "m"
    batch = decode_body(Signal.METRICS, request.SerializeToString(), json=False)
    assert batch.n_rejected == 2 and batch.histograms == ()


PREDICTION = {
    **MODEL,
    semconv.ML_PREDICTION_IDS: ["r1", "r2"],
    semconv.ML_PREDICTION_VALUES: [0.25, 0.75],
    semconv.ML_PREDICTION_LABELS: ["no", "yes"],
}


def test_sdk_prediction_and_outcome_events() -> None:
    events = [
        (semconv.EVENT_PREDICTION, PREDICTION),
        (semconv.EVENT_OUTCOME, {semconv.ML_MODEL_NAME: "churn",
                                 semconv.ML_PREDICTION_IDS: ["r1", "r2"],
                                 semconv.ML_OUTCOME_VALUES: ["yes", "yes"]}),
        (semconv.EVENT_OUTCOME, {**MODEL, semconv.ML_PREDICTION_IDS: ["r3"],
                                 semconv.ML_OUTCOME_VALUES: [4.5]}),
        ("some.other.event", {**MODEL}),
        (semconv.EVENT_PREDICTION, {semconv.ML_PREDICTION_IDS: ["x"]}),  # no model
        (semconv.EVENT_PREDICTION, {**MODEL, semconv.ML_PREDICTION_IDS: ["x"],
                                    semconv.ML_PREDICTION_VALUES: [0.1, 0.2]}),  # length
    ]
    request, span_ids = logs_request(events)
    batch = _decode_both(Signal.LOGS, request)
    (pred,) = batch.predictions
    assert (pred.model, pred.version, pred.ids) == ("churn", "3", ("r1", "r2"))
    assert pred.values == (0.25, 0.75) and pred.labels == ("no", "yes")
    assert (pred.trace_id, pred.span_id) == span_ids[0]
    assert pred.time_unix_nano > 0 and pred.resource.service_name == "scoring-api"
    o1, o2 = batch.outcomes
    assert (o1.version, o1.ids, o1.actuals) == (None, ("r1", "r2"), ("yes", "yes"))
    assert (o2.version, o2.actuals) == ("3", (4.5,))
    assert batch.ignored == 1
    assert batch.rejection_counts() == {
        "event without ml.model.name": 1,
        "values, labels or outcomes do not have one entry per id": 1,
    }


def test_hand_written_otlp_json_per_the_spec() -> None:
    """Field names in lowerCamelCase, hex ids, int64 as strings, integer enums."""
    trace_id, span_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
    body = {
        "resourceLogs": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "api"}}]},
            "scopeLogs": [{"scope": {"name": "otel_ml"}, "logRecords": [{
                "timeUnixNano": "1544712660300000000",
                "observedTimeUnixNano": "1544712660300000001",
                "severityNumber": 9,
                "traceId": trace_id, "spanId": span_id,
                "unknownFutureField": {"x": 1},
                "attributes": [
                    {"key": "event.name", "value": {"stringValue": "ml.prediction"}},
                    {"key": "ml.model.name", "value": {"stringValue": "churn"}},
                    {"key": "ml.prediction.ids",
                     "value": {"arrayValue": {"values": [{"intValue": "17"}]}}},
                    {"key": "ml.prediction.values",
                     "value": {"arrayValue": {"values": [{"doubleValue": 0.5}]}}},
                ]}]}]}]}
    batch = decode_body(Signal.LOGS, json.dumps(body).encode(), json=True)
    (pred,) = batch.predictions
    assert (pred.trace_id, pred.span_id, pred.ids, pred.values) == (
        trace_id, span_id, ("17",), (0.5,)
    )
    assert pred.time_unix_nano == 1544712660300000000
    metrics = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [{
        "name": "ml.predict.calls",
        "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": [{
            "startTimeUnixNano": "1", "timeUnixNano": "18446744073709551615",
            "asInt": "9007199254740993",
            "attributes": [{"key": "ml.model.name", "value": {"stringValue": "m"}}]}]}}]}]}]}
    (c,) = decode_body(Signal.METRICS, json.dumps(metrics).encode(), json=True).counters
    assert c.time_unix_nano == 2**64 - 1 and c.value == float(9007199254740993)
    assert c.temporality is Temporality.CUMULATIVE


@pytest.mark.parametrize(
    "body",
    [b"[1, 2]", b"{", b'{"resourceLogs": 5}', b'{"resourceLogs": [{"scopeLogs": '
     b'[{"logRecords": [{"traceId": "zz"}]}]}]}', b"\xff\xfe", b'"x"'],
)
def test_bad_json_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(OtlpDecodeError):
        parse_request(Signal.LOGS, body, json=True)


def test_decompress_gzip_deflate_and_limits() -> None:
    data = b"otlp" * 1000
    assert decompress(gzip.compress(data), "gzip", 4000) == data
    assert decompress(gzip.compress(data[:10]) + gzip.compress(data[10:]), "GZIP", 4000) == data
    assert decompress(zlib.compress(data), "deflate", 4000) == data
    assert decompress(data, "identity", 4000) == data
    with pytest.raises(BodyTooLargeError):
        decompress(gzip.compress(data), "gzip", 3999)
    with pytest.raises(BodyTooLargeError):
        decompress(data, "", 3999)
    bomb = gzip.compress(b"\0" * (50 << 20))  # 50 MiB of zeros in ~50 kB
    with pytest.raises(BodyTooLargeError):
        decompress(bomb, "gzip", 1 << 20)
    for bad in (gzip.compress(data)[:-9], b"not gzip at all", b""):
        with pytest.raises(OtlpDecodeError):
            decompress(bad, "gzip", 1 << 20)
    with pytest.raises(OtlpDecodeError, match="unsupported"):
        decompress(data, "br", 1 << 20)


def test_proto_enum_constants_used_by_the_decoder() -> None:
    assert metrics_pb2.AGGREGATION_TEMPORALITY_DELTA == 1
    assert metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE == 2
    assert metrics_pb2.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK == 1


def test_non_finite_outcome_is_rejected_naming_the_outcome_field() -> None:
    events = [
        (semconv.EVENT_OUTCOME, {**MODEL, semconv.ML_PREDICTION_IDS: ["a"],
                                 semconv.ML_OUTCOME_VALUES: [float("nan")]}),
        (semconv.EVENT_PREDICTION, {**MODEL, semconv.ML_PREDICTION_IDS: ["b"],
                                    semconv.ML_PREDICTION_VALUES: [float("inf")]}),
    ]
    request, _ = logs_request(events)
    assert decode_body(Signal.LOGS, request.SerializeToString(), json=False).rejection_counts() == {
        "ml.outcome.values must be finite numbers": 1,
        "ml.prediction.values must be finite numbers": 1,
    }


def _outcome_request(*values: object) -> bytes:
    """One ml.outcome record per value (an AnyValue builder or a list of them)."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
    )

    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    for i, set_value in enumerate(values):
        rec = records.add(event_name=semconv.EVENT_OUTCOME, time_unix_nano=5)
        rec.attributes.add(key=semconv.ML_MODEL_NAME).value.string_value = "m"
        rec.attributes.add(key=semconv.ML_PREDICTION_IDS).value.string_value = f"id{i}"
        set_value(rec.attributes.add(key=semconv.ML_OUTCOME_VALUES).value)  # type: ignore[operator]
    return request.SerializeToString()


def test_labels_of_other_types_and_beyond_the_metric_range_are_rejected() -> None:
    def kvlist(v):  # type: ignore[no-untyped-def]
        v.kvlist_value.values.add(key="a").value.int_value = 1

    def nested(v):  # type: ignore[no-untyped-def]
        v.array_value.values.add().array_value.values.add().int_value = 1

    body = _outcome_request(
        lambda v: setattr(v, "bool_value", True),
        lambda v: setattr(v, "bytes_value", b"\x00\x01"),
        kvlist,
        nested,
        lambda v: v.array_value.values.add(bool_value=False),
        lambda v: setattr(v, "double_value", 1e308),
        lambda v: setattr(v, "double_value", -1e101),
        lambda v: setattr(v, "double_value", 1e99),  # kept
        lambda v: setattr(v, "int_value", 3),  # kept
        lambda v: v.array_value.values.add(string_value="yes"),  # kept
    )
    batch = decode_body(Signal.LOGS, body, json=False)
    assert batch.rejection_counts() == {
        "ml.outcome.values must be strings or numbers (not booleans, bytes, maps or lists)": 5,
        "ml.outcome.values beyond +-1e100 (the range regression metrics carry)": 2,
    }
    assert [o.actuals for o in batch.outcomes] == [(1e99,), (3.0,), ("yes",)]
