"""configure(): option and environment parsing (the end-to-end runs are in test_export_*)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from otel_ml import ConfigurationError
from otel_ml.instrumentation._configure import _exporter_kind, _protocol, _queue_args


def test_protocol_follows_arguments_then_signal_then_general_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", raising=False)
    assert _protocol("metrics", None) == "http/protobuf"  # the spec's default
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    assert _protocol("metrics", None) == "grpc"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf")
    assert _protocol("metrics", None) == "http/protobuf"
    assert _protocol("traces", None) == "grpc"
    assert _protocol("traces", "http/protobuf") == "http/protobuf"


def test_unsupported_protocols_and_exporters_fail_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(ConfigurationError, match="OTEL_EXPORTER_OTLP_PROTOCOL='http/json'"):
        _protocol("logs", None)
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "zipkin")
    with pytest.raises(ConfigurationError, match="OTEL_LOGS_EXPORTER"):
        _exporter_kind("logs")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "otlp,prometheus")
    assert _exporter_kind("metrics") == ["otlp", "prometheus"]
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert _exporter_kind("traces") == []


def test_sdk_disabled_installs_nothing() -> None:
    code = (
        "import otel_ml\n"
        "from opentelemetry import trace\n"
        "cfg = otel_ml.configure()\n"
        "assert cfg.tracer_provider is None and cfg.meter_provider is None\n"
        "assert type(trace.get_tracer_provider()).__name__.startswith('Proxy')\n"
        "print('ok')\n"
    )
    env = {"OTEL_SDK_DISABLED": "true", "PATH": ""}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_queue_sizes_give_way_to_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MAX_QUEUE_SIZE", "MAX_EXPORT_BATCH_SIZE", "SCHEDULE_DELAY"):
        monkeypatch.delenv(f"OTEL_BSP_{var}", raising=False)
    assert _queue_args("BSP") == {
        "max_queue_size": 65_536,
        "max_export_batch_size": 4_096,
        "schedule_delay_millis": 1_000,
    }
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
    assert "schedule_delay_millis" not in _queue_args("BSP")  # the SDK reads the variable
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "100")
    assert _queue_args("BSP") == {}  # a queue from the variable: the batch size too must fit
