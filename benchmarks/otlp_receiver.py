"""OTLP receiver throughput: decoding cost and end-to-end points per second.

A request holds ``--models`` x ``--features`` exponential-histogram points (one per
feature, built from 1,000 normal values by ``NumericSketch``, as the SDK bridge emits
them) plus one counter per model. Measured in the same run:

- decode: ``ParseFromString`` alone (baseline: the protobuf floor) vs
  ``decode_body`` (parse + our records) for protobuf and for OTLP/JSON, and the
  cumulative->delta conversion of the same points;
- end to end, through the SDK's real ``OTLPMetricExporter`` (HTTP and gRPC) on
  loopback: our receivers with a sink that accepts everything vs a bare server that
  reads the body and answers 200 / an empty response (baseline: transport floor).

Run: ``python benchmarks/otlp_receiver.py`` (about 30 s). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import threading
import time
from collections.abc import Callable
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpExporter,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogram,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_ml import semconv
from otel_ml.evaluator._decode import decode_body
from otel_ml.evaluator._otlp_grpc import SERVICE_NAMES, OtlpGrpcServer
from otel_ml.evaluator._otlp_http import OtlpHttpServer
from otel_ml.evaluator._records import IngestBatch, Signal, SubmitResult, Temporality
from otel_ml.evaluator._temporality import CumulativeToDelta
from otel_ml.sketch import NumericSketch, exponential_data_point


class _NullSink:
    def submit(self, batch: IngestBatch) -> SubmitResult:
        return SubmitResult.ok()


def _request(models: int, features: int) -> MetricsData:
    rng = np.random.default_rng(0)
    hist_points, counters = [], []
    for m in range(models):
        model = {semconv.ML_MODEL_NAME: f"model-{m}", semconv.ML_MODEL_VERSION: "1"}
        for f in range(features):
            s = NumericSketch()
            s.update(rng.normal(f, 1 + f % 5, 1000))
            attrs = {**model, semconv.ML_FEATURE_NAME: f"f{f}"}
            hist_points.append(exponential_data_point(s, attrs, 1, 2))
        counters.append(NumberDataPoint(model, 1, 2, 1000))
    delta = AggregationTemporality.DELTA
    metrics = [
        Metric(semconv.METRIC_FEATURE_VALUES, "", "1", ExponentialHistogram(hist_points, delta)),
        Metric(semconv.METRIC_PREDICT_ROWS, "", "{row}", Sum(counters, delta, True)),
    ]
    scope = ScopeMetrics(InstrumentationScope("otel_ml"), metrics, "")
    return MetricsData([ResourceMetrics(Resource({"service.name": "bench"}), [scope], "")])


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


class _BareHttp(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _end_to_end(export: Callable[[], MetricExportResult], seconds: float) -> float:
    """Exports per second during ``seconds`` (one exporter, sequential requests)."""
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        assert export() is MetricExportResult.SUCCESS
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    data = _request(args.models, args.features)
    message = encode_metrics(data)
    body = message.SerializeToString()
    json_body = json.dumps(json_format.MessageToDict(message, use_integers_for_enums=True))
    n_points = args.models * (args.features + 1)
    rows: list[tuple[str, float, float]] = []

    parse = _best(lambda: ExportMetricsServiceRequest.FromString(body), 7)
    rows.append(("protobuf ParseFromString (baseline)", n_points / parse, 1.0))
    dec = _best(lambda: decode_body(Signal.METRICS, body, json=False), 7)
    rows.append(("decode_body protobuf", n_points / dec, dec / parse))
    dec_json = _best(lambda: decode_body(Signal.METRICS, json_body.encode(), json=True), 3)
    rows.append(("decode_body OTLP/JSON", n_points / dec_json, dec_json / parse))
    batch = decode_body(Signal.METRICS, body, json=False)
    cumulative = [
        dataclasses.replace(p, temporality=Temporality.CUMULATIVE) for p in batch.histograms
    ]

    def convert() -> None:
        conv = CumulativeToDelta(started_at_unix_nano=0)
        _, updates = conv.convert(cumulative)
        conv.commit(updates)
        later = [dataclasses.replace(p, time_unix_nano=3) for p in cumulative]
        conv.convert(later)

    conv_t = _best(convert, 3) / 2  # two conversions per run
    rows.append(("cumulative->delta (per point)", len(cumulative) / conv_t, conv_t / parse))

    # end to end over HTTP
    bare = ThreadingHTTPServer(("127.0.0.1", 0), _BareHttp)
    threading.Thread(target=bare.serve_forever, daemon=True).start()
    bare_exp = HttpExporter(endpoint=f"http://127.0.0.1:{bare.server_address[1]}/v1/metrics")
    base_rate = _end_to_end(lambda: bare_exp.export(data), args.seconds)
    with OtlpHttpServer(_NullSink(), "127.0.0.1", 0) as srv:
        exp = HttpExporter(endpoint=f"{srv.url}/v1/metrics")
        rate = _end_to_end(lambda: exp.export(data), args.seconds)
    bare.shutdown()
    rows.append(("HTTP bare server (baseline)", base_rate * n_points, 1.0))
    rows.append(("HTTP OtlpHttpServer", rate * n_points, base_rate / rate))

    # end to end over gRPC
    g = grpc.server(futures.ThreadPoolExecutor(4), options=[("grpc.so_reuseport", 0)])
    g.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                SERVICE_NAMES[Signal.METRICS],
                {"Export": grpc.unary_unary_rpc_method_handler(lambda req, ctx: b"")},
            )
        ]
    )
    gport = g.add_insecure_port("127.0.0.1:0")
    g.start()
    gexp = GrpcExporter(endpoint=f"127.0.0.1:{gport}", insecure=True)
    gbase = _end_to_end(lambda: gexp.export(data), args.seconds)
    g.stop(None)
    with OtlpGrpcServer(_NullSink(), "127.0.0.1", 0) as gsrv:
        gexp2 = GrpcExporter(endpoint=f"127.0.0.1:{gsrv.port}", insecure=True)
        grate = _end_to_end(lambda: gexp2.export(data), args.seconds)
    rows.append(("gRPC bare server (baseline)", gbase * n_points, 1.0))
    rows.append(("gRPC OtlpGrpcServer", grate * n_points, gbase / grate))

    print(
        f"request: {n_points} points ({args.models} models x {args.features} features "
        f"+ counters), {len(body) / 1024:.0f} KiB protobuf, {len(json_body) / 1024:.0f} KiB JSON"
    )
    print()
    print("| stage | points/s | time vs baseline |")
    print("|---|---:|---:|")
    for name, pps, ratio in rows:
        print(f"| {name} | {pps:,.0f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
