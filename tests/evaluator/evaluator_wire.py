"""Real OTLP bodies and a real evaluator subprocess, for the evaluator's process-level tests.

Bodies are built from OTel SDK data objects with the SDK's own OTLP encoder (what
``OTLPMetricExporter`` sends). :class:`EvaluatorProcess` runs
``python -m otel_ml.evaluator._cli`` and reads its endpoints from stdout.
"""

from __future__ import annotations

import http.client
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_ml import semconv as sc
from otel_ml.sketch import NumericSketch, exponential_data_point

DELTA = AggregationTemporality.DELTA
SCOPE = InstrumentationScope("otel_ml", "0")


def model_attrs(model: str, version: str = "1", **extra: str) -> dict[str, str]:
    return {sc.ML_MODEL_NAME: model, sc.ML_MODEL_VERSION: version, **extra}


def exp_point(
    values: Sequence[float] | np.ndarray, attrs: dict[str, str], t_ns: int
) -> ExponentialHistogramDataPoint:
    s = NumericSketch()
    s.update(np.asarray(values, dtype=float))
    return exponential_data_point(s, attrs, t_ns - 10**9, t_ns)


def metrics_body(
    sums: Sequence[tuple[str, float, dict[str, str]]],
    histograms: Sequence[tuple[str, ExponentialHistogramDataPoint]] = (),
    *,
    t_ns: int,
    service: str = "svc",
) -> bytes:
    """A serialized ``ExportMetricsServiceRequest`` (delta sums and exponential histograms)."""
    metrics = [
        Metric(name, "", "1", Sum([NumberDataPoint(attrs, t_ns - 10**9, t_ns, value)], DELTA, True))
        for name, value, attrs in sums
    ]
    by_name: dict[str, list[ExponentialHistogramDataPoint]] = {}
    for name, p in histograms:
        by_name.setdefault(name, []).append(p)
    metrics += [Metric(n, "", "1", ExponentialHistogram(ps, DELTA)) for n, ps in by_name.items()]
    data = MetricsData(
        [
            ResourceMetrics(
                Resource.create({"service.name": service}), [ScopeMetrics(SCOPE, metrics, "")], ""
            )
        ]
    )
    return bytes(encode_metrics(data).SerializeToString())


def post(
    url: str,
    path: str,
    body: bytes,
    *,
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str]]:
    """POST a protobuf body; returns (status, headers). Raises OSError when the peer is gone."""
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": "application/x-protobuf", **(headers or {})},
        )
        resp = conn.getresponse()
        resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


class EvaluatorProcess:
    """``python -m otel_ml.evaluator._cli --config FILE`` as a subprocess."""

    def __init__(
        self,
        config: Path,
        *,
        log: Path,
        extra_env: dict[str, str] | None = None,
        max_open_files: int | None = None,
    ) -> None:
        """``max_open_files``: the subprocess's RLIMIT_NOFILE (soft and hard)."""
        self._log = open(log, "ab")
        env = {**os.environ, **(extra_env or {})}

        def limit_files() -> None:
            if max_open_files is not None:
                import resource

                resource.setrlimit(resource.RLIMIT_NOFILE, (max_open_files, max_open_files))

        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "otel_ml.evaluator._cli",
                "--config",
                str(config),
                "--tick-interval",
                "0.5",
            ],
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            preexec_fn=limit_files if max_open_files is not None else None,
        )
        self.endpoints: dict[str, str] = {}
        try:
            self._wait_ready(log)
        except BaseException:
            self.proc.kill()  # never leave a half-started evaluator behind
            self.proc.wait(30)
            self._log.close()
            raise

    def _wait_ready(self, log: Path) -> None:
        """Read the endpoint lines up to ``ready``, for at most 60 s (a silent, hung
        process must not block ``readline`` forever)."""
        assert self.proc.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = self.proc.stdout

        def pump() -> None:  # also keeps draining stdout after start-up
            for raw in iter(stdout.readline, b""):
                lines.put(raw)
            lines.put(b"")

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + 60
        while (left := deadline - time.monotonic()) > 0:
            try:
                raw = lines.get(timeout=left)
            except queue.Empty:
                break
            if not raw:
                self.proc.wait(30)
                raise RuntimeError(f"evaluator exited with {self.proc.returncode}; see {log}")
            line = raw.decode().strip()
            if line == "ready":
                return
            name, _, url = line.partition(" ")
            self.endpoints[name] = url
        raise RuntimeError(f"evaluator did not become ready in 60 s; see {log}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(30)
        self._log.close()

    def stop(self) -> int:
        self.proc.terminate()
        try:
            code = self.proc.wait(60)
        finally:
            self._log.close()
        return code
